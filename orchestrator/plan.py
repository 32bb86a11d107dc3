"""What a run would do, computed from the files and the recorded versions (pure).

A :class:`Plan` is the unit a reviewer approves: the migrations, in the order they
will run, and for each the :class:`Script` of statements it executes (after the
``BEGIN``/``COMMIT`` lines orchestrator leaves out) and the script that would reverse it.
The dry run prints those scripts, the plan hash covers them, and apply executes them:
nothing between review and apply re-reads or re-splits the SQL, so nothing can be
refused after the first change that the review did not judge.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from .errors import MigrationFileError, UsageError
from .migrations import Migration, Statement, executable_statements

OPPOSITE = {"up": "down", "down": "up"}


@dataclass(frozen=True)
class Script:
    """The exact statements one migration executes in one direction."""

    migration: Migration
    direction: str
    statements: tuple[Statement, ...]

    @property
    def transaction(self) -> bool:
        return self.migration.section(self.direction).transaction

    @property
    def version(self) -> str:
        return self.migration.version

    def render(self) -> str:
        """The statements as the server receives them, one per paragraph."""
        return "".join(self.paragraphs())

    def paragraphs(self) -> Iterator[str]:
        """Each statement of :meth:`render`, so that a reader may keep only some (the run log
        keeps whole statements up to a bound, so no secret literal is cut in two)."""
        for s in self.statements:
            yield f"{s.text}{'' if s.whole or s.text.endswith(';') else ';'}\n\n"

    def line_of(self, statement: Statement) -> int:
        """The file line where a statement starts."""
        return self.migration.section(self.direction).line_of(statement.offset)


def script(migration: Migration, direction: str, *, allow_empty_down: bool = False) -> Script:
    """A migration's script in one direction; one that cannot run raises :class:`MigrationFileError`.

    An empty down section is refused: dbmate would delete the version row and leave the
    schema as it is, so the database would claim a state it is not in.  A person may ask
    for exactly that (``rollback --allow-empty-down``): the script then has no statements,
    and running it only removes the version's row.
    """
    section = migration.section(direction)
    if direction == "down" and section.is_empty and not allow_empty_down:
        raise MigrationFileError(
            migration.path, "the down section is empty, so this migration cannot be rolled back; "
            "write its down SQL, restore from a backup, or remove only its schema_migrations row "
            "with `rollback --allow-empty-down`", line=section.line)
    return Script(migration, direction, tuple(executable_statements(section, str(migration.path))))


def reverse_script(migration: Migration, direction: str) -> Script | str:
    """What undoes ``migration`` run in ``direction``, or why nothing can (a sentence)."""
    back = OPPOSITE[direction]
    if back == "down" and migration.down.is_empty:
        return f"{migration.filename} has no down section"
    try:
        return script(migration, back)
    except MigrationFileError as exc:
        return f"its {back} section cannot run: {exc}"


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
    allow_empty_down: bool = False  # a down plan may remove the rows of empty down sections only

    scripts: tuple[Script, ...] = field(init=False, repr=False, compare=False)
    reverse: dict[str, Script | str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Judge the plan once: what each migration executes (a file that cannot run raises
        :class:`MigrationFileError` here, at review, before anything changes), and per
        version the script that undoes it if the run must be rolled back, or why none can."""
        object.__setattr__(self, "scripts", tuple(script(m, self.direction, allow_empty_down=self.allow_empty_down)
                                                  for m in self.migrations))
        object.__setattr__(self, "reverse", {m.version: reverse_script(m, self.direction) for m in self.migrations})

    @cached_property  # asked once per migration by the plan's rendering and its run-log document
    def irreversible(self) -> dict[str, str]:
        """Versions a failed run could not undo, and why."""
        return {v: why for v, why in self.reverse.items() if isinstance(why, str)}

    @property
    def rows_only(self) -> tuple[Migration, ...]:
        """Migrations this down plan rolls back by removing their row only (empty down section)."""
        if self.direction != "down":
            return ()
        return tuple(m for m in self.migrations if m.down.is_empty)

    @cached_property
    def hash(self) -> str:
        """SHA-256 over what a reviewer saw: direction, versions, checksums, and every
        statement the plan executes (and would execute to undo itself)."""
        digest = hashlib.sha256(self.direction.encode())
        if self.rows_only:  # what the reviewer approved: these rows go, the schema stays
            digest.update(("\nrows only:" + ",".join(m.version for m in self.rows_only)).encode())
        for s in self.scripts:
            back = self.reverse[s.version]
            digest.update(f"\n{s.version}:{s.migration.checksum}:{s.transaction}\n".encode())
            digest.update(s.render().encode())
            digest.update(b"\0" + (back.render() if isinstance(back, Script) else "").encode())
        return digest.hexdigest()

    def render(self) -> str:
        """The exact statements that will run, each migration under a header naming its file."""
        if not self.migrations:
            return "-- nothing to run\n"
        parts = []
        for s in self.scripts:
            mode = "" if s.transaction else ", transaction:false"
            parts.append(f"-- ==== {s.migration.path.name} ({self.direction}{mode}) ====\n")
            if s.migration in self.rows_only:
                parts.append("-- WARNING: empty down section: only its schema_migrations row is removed; whatever "
                             "its up section created stays (--allow-empty-down)\n")
            why = self.irreversible.get(s.version)
            if why:
                parts.append(f"-- cannot be undone automatically ({why}): a failure after it needs a restore\n")
            parts.append(s.render() or "-- (no statements)\n\n")
        return "".join(parts)


def up_plan(state: State) -> Plan:
    """Every pending migration, oldest first."""
    pending = tuple(state.pending)
    target = max([*state.applied, *(m.version for m in pending)], default=None)
    return Plan("up", pending, state.current_version, target)


def down_plan(state: State, steps: int, *, allow_empty_down: bool = False) -> Plan:
    """The ``steps`` newest applied migrations, newest first.

    Refused when a newer applied version has no file: rolling back past it would
    leave the database claiming a version whose changes were never undone.  A migration
    whose down section is empty is refused too, unless ``allow_empty_down``: then only its
    row is removed, as dbmate does (see :func:`script`).
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
    return Plan("down", chosen, state.current_version, remaining[-1] if remaining else None,
                allow_empty_down=allow_empty_down)
