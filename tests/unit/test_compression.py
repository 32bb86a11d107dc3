"""The ``compression`` setting and its codecs, on bytes in memory."""

from __future__ import annotations

import io
import os

import pytest

from orchestrator.compression import CompressedStream, Compression, inflate, parse

DATA = os.urandom(200_000) + b"COPY public.items (id, name) FROM stdin;\n" * 100_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("zstd", Compression("zstd", 3)),
        ("zstd:19", Compression("zstd", 19)),
        (" ZSTD:1 ", Compression("zstd", 1)),
        ("lz4", Compression("lz4", 0)),
        ("lz4:9", Compression("lz4", 9)),
        ("gzip", Compression("gzip", 6)),
        ("gzip:1", Compression("gzip", 1)),
        ("none", Compression("none", 0)),
    ],
)
def test_settings_read(text, expected):
    assert parse(text) == expected
    assert parse(str(expected)) == expected  # what the manifest records reads back the same


@pytest.mark.parametrize("text", ["brotli", "zstd:0", "zstd:23", "gzip:10", "gzip:x", "none:1", "zstd:", ""])
def test_bad_settings_are_refused(text):
    with pytest.raises(ValueError, match=repr(text)):
        parse(text)


def compress(data: bytes, compression: Compression, part: int = 65_536) -> tuple[bytes, list[int]]:
    stream = CompressedStream(io.BytesIO(data), compression)
    parts = list(iter(lambda: stream.read(part), b""))
    return b"".join(parts), [len(p) for p in parts]


@pytest.mark.parametrize(
    ("text", "wraps", "pg_dump_level"),
    [("zstd:3", True, 0), ("lz4", True, 0), ("gzip", False, 6), ("gzip:1", False, 1), ("none", False, 0)],
)
def test_orchestrator_wraps_zstd_and_lz4_and_pg_dump_compresses_gzip(text, wraps, pg_dump_level):
    assert parse(text).wraps is wraps
    assert parse(text).pg_dump_level == pg_dump_level


@pytest.mark.parametrize("text", ["zstd", "zstd:19", "lz4", "lz4:9"])
def test_a_stream_compresses_in_whole_parts_and_inflates_exactly(text):
    compression = parse(text)
    stored, sizes = compress(DATA, compression)
    assert len(stored) < len(DATA) // 2
    assert all(size == 65_536 for size in sizes[:-1]) and 0 < sizes[-1] <= 65_536
    out = io.BytesIO()
    inflate(io.BytesIO(stored), out, compression)
    assert out.getvalue() == DATA


@pytest.mark.parametrize("text", ["zstd", "lz4"])
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[:-7], "ends early"),
        (lambda b: b + b"more", "data after the end"),
        (lambda b: b[: len(b) // 2] + bytes(64) + b[len(b) // 2 + 64 :], "damaged"),
    ],
)
def test_a_damaged_frame_is_refused(text, damage, message):
    compression = parse(text)
    stored, _ = compress(DATA, compression)
    with pytest.raises(ValueError, match=message):
        inflate(io.BytesIO(damage(stored)), io.BytesIO(), compression)
