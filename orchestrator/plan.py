"""What a run would do, computed from the files and the recorded versions (pure).

A :class:`Plan` is the unit a reviewer approves: the migrations, in the order they
will run, the exact SQL of each, and a hash over versions and file contents so that
``--expect-plan`` can refuse a run whose SQL changed after review.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from .errors import UsageError
from .migrations import Migration


@dataclass(frozen=True)
class State:
    """Files on disk against versions recorded in ``schema_migrations``."""

    migrations: tuple[Migration, ...]
    applied: tuple[str, ...]
    checksums: dict[str, str] = field(default_factory=dict)  # version -> checksum when applied
    unfinished: dict[str, str] = field(default_factory=dict)  # version -> applying/reverting

    @property
    def applied_set(self) -> set[str]:
        return set(self.applied)

    @property
    def pending(self) -> list[Migration]:
        """Files not recorded as applied, in dbmate's order."""
        done = self.applied_set
        return [m for m in self.migrations if m.version not in done]

    @property
    def applied_migrations(self) -> list[Migration]:
        """Files recorded as applied, in dbmate's order."""
        done = self.applied_set
        return [m for m in self.migrations if m.version in done]

    @property
    def missing(self) -> list[str]:
        """Versions recorded as applied whose file is gone."""
        files = {m.version for m in self.migrations}
        return [v for v in self.applied if v not in files]

    @property
    def changed(self) -> list[Migration]:
        """Applied migrations whose file changed since it was applied (drift).

        Only migrations orchestrator applied have a recorded checksum; dbmate's have none.
        """
        return [m for m in self.applied_migrations if self.checksums.get(m.version, m.checksum) != m.checksum]

    @property
    def out_of_order(self) -> list[Migration]:
        """Pending migrations older than the newest applied one (a branch merged late)."""
        newest = self.current_version
        return [m for m in self.pending if newest is not None and m.version < newest]

    @property
    def current_version(self) -> str | None:
        """The highest recorded version, as dbmate and ``status`` show it."""
        return max(self.applied) if self.applied else None


@dataclass(frozen=True)
class Plan:
    """Migrations to run in one direction, in order."""

    direction: str  # "up" or "down"
    migrations: tuple[Migration, ...]
    from_version: str | None
    target_version: str | None

    @property
    def hash(self) -> str:
        """SHA-256 over direction, versions and file checksums: what a reviewer saw."""
        digest = hashlib.sha256(self.direction.encode())
        for m in self.migrations:
            digest.update(f"\n{m.version}:{m.checksum}".encode())
        return digest.hexdigest()

    def render(self) -> str:
        """The exact SQL that will run, each migration under a header naming its file."""
        if not self.migrations:
            return "-- nothing to run\n"
        parts = []
        for m in self.migrations:
            section = m.section(self.direction)
            mode = "" if section.transaction else ", transaction:false"
            parts.append(f"-- ==== {m.path.name} ({self.direction}{mode}) ====\n")
            body = section.sql if section.sql.endswith("\n") else section.sql + "\n"
            parts.append(body + "\n")
        return "".join(parts)


def up_plan(state: State) -> Plan:
    """Every pending migration, oldest first."""
    pending = tuple(state.pending)
    target = max([*state.applied, *(m.version for m in pending)], default=None)
    return Plan("up", pending, state.current_version, target)


def down_plan(state: State, steps: int) -> Plan:
    """The ``steps`` newest applied migrations, newest first.

    Refused when a newer applied version has no file: rolling back past it would
    leave the database claiming a version whose changes were never undone.
    """
    if steps < 1:
        raise UsageError(f"--steps must be 1 or more, got {steps}")
    applied = state.applied_migrations
    if not applied:
        raise UsageError("can't roll back: no migrations have been applied")
    if steps > len(applied):
        raise UsageError(f"can't roll back {steps} migrations: only {len(applied)} applied")
    chosen = tuple(reversed(applied[-steps:]))
    newer_missing = [v for v in state.missing if v > chosen[-1].version]
    if newer_missing:
        raise UsageError(
            f"can't roll back: version {newer_missing[-1]} is recorded as applied but its "
            "file is missing; restore the file first"
        )
    remaining = sorted(state.applied_set - {m.version for m in chosen})
    return Plan("down", chosen, state.current_version, remaining[-1] if remaining else None)
