"""The S3 part schedule: how a dump of any size is cut into at most 10,000 parts (pure)."""

from __future__ import annotations

import pytest

from orchestrator.backup.store import (
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    GiB,
    MiB,
    PartSchedule,
)
from orchestrator.errors import BackupError

GB = 10**9
TB = 10**12


@pytest.mark.parametrize(
    ("total", "parts", "largest"),
    [
        (1 * GB, 120, 8 * MiB),  # the first 8 GiB stay at the chunk size
        (1 * TB, 6_879, 512 * MiB),
        (5 * TB, 9_167, 4 * GiB),
    ],
)
def test_the_default_schedule_fits_5_tb_in_s3s_limits(total, parts, largest):
    schedule = PartSchedule()
    sizes = schedule.plan(total)

    assert sum(sizes) == total
    assert len(sizes) == parts <= MAX_PARTS
    assert max(sizes) == largest <= MAX_PART_SIZE
    assert all(size >= MIN_PART_SIZE for size in sizes[:-1])  # only the last may be smaller
    # the sizes only grow, each a whole number of chunks: only one chunk is ever held in memory
    assert sizes[:-1] == sorted(sizes[:-1])
    assert all(size % schedule.chunk == 0 for size in sizes[:-1])


def test_parts_double_every_grow_every_parts_and_stop_below_5_gib():
    schedule = PartSchedule(chunk=5 * MiB, grow_every=2)

    assert [schedule.size(n) for n in range(1, 8)] == [5 * MiB, 5 * MiB, 10 * MiB, 10 * MiB, 20 * MiB,
                                                       20 * MiB, 40 * MiB]
    assert schedule.size(MAX_PARTS) == 5 * GiB  # 5 MiB x 1024: S3's largest part, never more
    assert PartSchedule().size(MAX_PARTS) == 4 * GiB  # 8 MiB x 512; x1024 would be 8 GiB


def test_a_dump_beyond_the_schedules_capacity_is_refused_up_front():
    schedule = PartSchedule(chunk=MIN_PART_SIZE, grow_every=1)
    small = PartSchedule(chunk=MIN_PART_SIZE, grow_every=10_000)

    assert PartSchedule().capacity > 7.8 * 2**40  # 10,000 parts of the default schedule
    assert schedule.plan(0) == []
    with pytest.raises(BackupError, match=r"more than 10000 parts .*raise the part size"):
        small.plan(small.capacity + 1)
