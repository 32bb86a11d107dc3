"""The verbs, one plain function each: ``status``, ``up``, ``rollback``, ``new``, ``dump``,
``load``, ``baseline``, ``verify``, ``backups``, ``restore``, ``history``.  Each takes a :class:`Config`, prints
what it does and returns an exit code; failures are raised as
:class:`OrchestratorError` for the CLI to map.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from . import console, embedded, schema
from .config import PROTECTED, Config
from .dburl import DatabaseURL
from .engine import (
    annotate_findings,
    lint_severities,
    load_state,
    ms,
    open_database,
    open_existing,
    run_plan,
    store_opener,
    target_url,
)
from .errors import MigrationFileError, OrchestratorError, Refused, UsageError
from .migrations import FILENAME, Migration, candidate_files, discover, duplicate_version, read_migration
from .plan import Plan, State

if TYPE_CHECKING:
    from . import backup
    from .backup import rds
    from .database import Database
    from .pipeline import Request

# -- status ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusFile:
    """One migration file as ``status`` lists it: parsed, or the error that makes it unusable."""

    path: Path
    version: str
    migration: Migration | None
    error: MigrationFileError | None = None

    @property
    def problem(self) -> str:
        """The error, as status shows it beside the file."""
        if self.error is None:
            return ""
        return f"line {self.error.line}: {self.error.detail}" if self.error.line else self.error.detail


def status_files(directories: Sequence[Path]) -> list[StatusFile]:
    """Every migration file of the directories in dbmate's order, each parsed or with its error.

    :func:`discover` stops at the first bad file, since nothing may run past it; ``status``
    only shows, and lists every file as dbmate does.  Of two files with one version, the
    second carries the error.  A missing directory is still an error (dbmate's too).
    """
    seen: dict[str, Path] = {}
    out = []
    for path in candidate_files(directories):
        version = FILENAME.match(path.name)[1]  # type: ignore[index]
        duplicate = duplicate_version(path, seen, len(directories) > 1)
        if duplicate:
            out.append(StatusFile(path, version, None, duplicate))
            continue
        try:
            out.append(StatusFile(path, version, read_migration(path)))
        except MigrationFileError as exc:
            out.append(StatusFile(path, version, None, exc))
    return out


def status(config: Config, *, as_json: bool = False, exit_code: bool = False, quiet: bool = False) -> int:
    """dbmate's status layout, plus applied versions whose file is missing; a database that
    does not exist yet has every migration pending.

    Status never refuses to show: a malformed file is listed with its error beside it
    (``[ ]`` while its version is not recorded), as dbmate lists it.  ``quiet`` prints
    nothing and implies ``exit_code`` (exit 1 while any file is pending), as in dbmate.
    """
    files = status_files(config.migrations_dirs)
    migrations = tuple(f.migration for f in files if f.migration is not None)
    with open_existing(config) as db:
        state = load_state(config, db, migrations)
    applied = state.applied_set
    pending = [f for f in files if f.version not in applied]
    malformed = [f for f in files if f.error is not None]
    missing = [v for v in state.missing if v not in {f.version for f in files}]
    if quiet:
        return 1 if pending else 0
    if as_json:
        console.write(json.dumps(status_document(config, state, files), indent=2) + "\n")
        return 1 if exit_code and pending else 0
    notes = {m.version: " (changed since applied)" for m in state.changed}
    notes.update({v: f" (INTERRUPTED while {what}: may be half-done; see `orchestrator resolve`)"
                  for v, what in state.unfinished.items()})
    notes.update({m.version: f" (out of order: older than applied {state.current_version})"
                  for m in state.out_of_order})
    for f in files:
        note = f" (malformed: {f.problem})" if f.error is not None else notes.get(f.version, "")
        console.say(f"[{'X' if f.version in applied else ' '}] {f.path.name}{note}")
    for version in missing:
        console.say(f"[X] {version} (applied, file missing)")
    console.say()
    console.say(f"Applied: {len(files) - len(pending) + len(missing)}")
    console.say(f"Pending: {len(pending)}")
    if missing:
        console.say(f"Missing: {len(missing)}")
    if state.changed:
        console.say(f"Changed: {len(state.changed)}")
    if malformed:
        console.say(f"Malformed: {len(malformed)}")
    return 1 if exit_code and pending else 0


def status_document(config: Config, state: State, files: list[StatusFile] | None = None) -> dict:
    """The ``status --json`` document: every file (a malformed one with its ``error``)."""
    applied = state.applied_set
    if files is None:
        files = [StatusFile(m.path, m.version, m) for m in state.migrations]
    known = {f.version for f in files}
    missing = [v for v in state.missing if v not in known]
    return {
        "environment": config.environment.name,
        "current_version": state.current_version,
        "migrations": [
            {"version": f.version, "file": f.path.name, "applied": f.version in applied,
             **({"error": f.problem} if f.error is not None else {})}
            for f in files
        ],
        "missing_files": missing,
        "changed_files": [m.filename for m in state.changed],
        "malformed_files": [f.path.name for f in files if f.error is not None],
        "unfinished": state.unfinished,
        "out_of_order": [m.filename for m in state.out_of_order],
        "applied": len([f for f in files if f.version in applied]) + len(missing),
        "pending": len([f for f in files if f.version not in applied]),
    }


# -- wait / create / drop -------------------------------------------------------------

WAIT_TIMEOUT = 60.0  # seconds, dbmate's default --wait-timeout


def wait_settings(config: Config) -> tuple[bool, float]:
    """(``--wait``, ``--wait-timeout``) from the config; dbmate's defaults where it has none."""
    timeout = getattr(config, "wait_timeout", None)
    return bool(getattr(config, "wait", False)), float(timeout) if timeout else WAIT_TIMEOUT


def wait(config: Config, *, timeout: float | None = None) -> int:
    """Block until the database server accepts connections (``dbmate wait``): silent when
    it does at once, else ``Waiting for database`` and a dot per second; exit 2 (nothing
    changed) naming the last error when ``--wait-timeout`` passes."""
    from . import database  # noqa: PLC0415  (psycopg only for the commands that connect)

    seconds = timeout if timeout is not None else wait_settings(config)[1]
    url = target_url(config)
    dots: list[int] = []

    def tick(n: int) -> None:
        dots.append(n)
        console.write(("Waiting for database" if n == 1 else "") + ".")

    try:
        database.wait_until_ready(url, seconds, interval=getattr(config, "wait_interval", 0) or 1.0, on_retry=tick)
    finally:
        if dots:
            console.write("\n")
    return 0


def wait_before(config: Config, *, needs_database: bool) -> None:
    """``--wait``: before a command that connects, wait for the database as ``wait`` does."""
    if needs_database and wait_settings(config)[0]:
        wait(config)


def create(config: Config) -> int:
    """Create the environment's database, as ``dbmate create``: one that exists already is an
    error (exit 2, nothing changed), as dbmate's is."""
    from . import database  # noqa: PLC0415  (psycopg only for the commands that connect)

    url = target_url(config)
    console.say(f"Creating: {url.database}")
    if database.database_exists(url):
        raise UsageError(f"database {url.database} already exists on {url.display()}; nothing changed")
    database.create_database(url)
    return 0


def drop(config: Config) -> int:
    """Drop the environment's database if it exists, as ``dbmate drop``.

    Refused in the protected environments (staging, production): dropping one is never a
    migration step; a person who means it drops it with the server's own tools.
    """
    env = config.environment
    if env.name in PROTECTED:
        raise Refused(f"drop is refused in the protected environment {env.name}: it would destroy the "
                      "database; nothing changed")
    from . import database  # noqa: PLC0415  (psycopg only for the commands that connect)

    url = target_url(config)
    console.say(f"Dropping: {url.database}")
    database.drop_database(url)
    return 0


# -- up / rollback (the deploy pipeline) --------------------------------------------


def up(config: Config, request: Request) -> int:
    """``up`` or ``rollback`` through the pipeline (review, backup, apply, health, record).

    In an environment with ``dump_schema`` (dev, by default) the schema file is written
    afterwards, as ``dbmate up`` does.  The exit code is the run's, as its run log says:
    a schema file that cannot be written is a warning.
    """
    from . import pipeline  # noqa: PLC0415  (httpx, tenacity and pglast only for the deploy pipeline)

    code = pipeline.deploy(config, request)
    if not request.dry_run and config.environment.dump_schema:
        try:
            dump(config)
        except OrchestratorError as exc:  # (signals are settled by now: the run's code stands)
            console.warn(f"{config.relative(config.schema_file)} was not written: {exc}; run `orchestrator dump`")
    return code


def resolve(config: Config, version: str, *, applied: bool) -> int:
    """Record, after a person looked, whether an interrupted migration is applied or not."""
    with open_database(config) as db, db.lock(config.environment.lock_wait):
        state = load_state(config, db)
        if version not in state.unfinished:
            raise UsageError(f"migration {version} is not marked as interrupted; nothing to resolve")
        migration = next((m for m in state.migrations if m.version == version), None)
        if migration is None:
            raise UsageError(f"migration {version}: its file is missing")
        db.resolve(migration, applied)
    console.say(f"Recorded {migration.filename} as {'applied' if applied else 'not applied'}")
    return 0


def lint_files(config: Config, files: list[Path], *, as_json: bool = False) -> int:
    """Lint migration files (all of them by default); exit 1 when an error is not ignored."""
    from . import lint  # noqa: PLC0415  (pglast's AST only when linting)

    paths = lint.expand(files, config.migrations_dirs)
    findings = lint.effective(lint.lint_paths(paths, config.migrations_dirs), lint_severities(config))
    if as_json:
        console.write(json.dumps([f.to_dict() for f in findings], indent=2) + "\n")
    else:
        if findings:
            console.write(lint.format_findings(findings) + "\n")
        console.say(f"{len(paths)} file(s): {lint.summarize(findings) if findings else 'no findings'}")
    annotate_findings(config, findings)
    return 1 if lint.blocking(findings) else 0


# -- new / dump -----------------------------------------------------------------------

TEMPLATE = "-- migrate:up\n\n\n-- migrate:down\n\n"


def new(config: Config, name: str) -> int:
    """Create ``<UTC timestamp>_<name>.sql`` with empty sections, as ``dbmate new``."""
    if not name or not name.strip() or "/" in name or "\\" in name:
        raise UsageError(f"invalid migration name {name!r}: give a name such as add_customer_tags")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    path = config.migrations_dir / f"{stamp}_{name}.sql"
    if path.exists():
        raise UsageError(f"{path}: file already exists")
    config.migrations_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(TEMPLATE, encoding="utf-8")
    console.say(f"Creating migration: {config.relative(path)}")
    return 0


def dump(config: Config, pg_dump_args: Sequence[str] = ()) -> int:
    """Write the schema file, byte-identical to ``dbmate dump`` (which also creates the
    migrations table first, so a database with no migrations dumps the same).

    ``pg_dump_args`` reach pg_dump as with ``dbmate dump -- ARGS``.  orchestrator's own
    schema is never in the file, and a dump creates nothing of orchestrator's.
    """
    with open_database(config) as db:
        db.ensure_table(bookkeeping=False)
        schema.write(config.schema_file, schema.dump(db, pg_dump_args))
    console.say(f"Writing: {config.relative(config.schema_file)}")
    return 0


def load(config: Config) -> int:
    """Run the schema file in the database, as ``dbmate load``: psql meta-commands
    (``\\restrict``) left out, the rest sent at once (one implicit transaction: all or
    nothing), under the migration lock."""
    shown = config.relative(config.schema_file)
    if not config.schema_file.is_file():
        raise UsageError(f"{shown}: no such file (write it with `orchestrator dump`)")
    with open_database(config) as db, db.lock(config.environment.lock_wait):
        console.say(f"Reading: {shown}")
        db.load_schema(schema.strip_psql_meta_commands(config.schema_file.read_text(encoding="utf-8")), shown)
    return 0


# -- baseline -------------------------------------------------------------------------


def baseline(config: Config, version: str, *, dry_run: bool = False, yes: bool = False,
             interactive: bool = False) -> int:
    """Adopt an existing database: record the migrations up to ``version`` as applied
    without running them (their ``schema_migrations`` rows and checksums), under the
    migration lock.  Refused if ``version`` names no migration file or if any of those
    migrations is already recorded.  ``verify --against-live`` checks that the database
    really has their schema.
    """
    migrations = discover(config.migrations_dirs)
    chosen = _up_to(config, migrations, version)
    env = config.environment
    with open_database(config) as db:
        _refuse_recorded(db, chosen)
        console.say(f"Baseline of {env.name}: {len(chosen)} migration(s) to record as applied, without running them:")
        for m in chosen:
            console.say(f"  {m.filename}")
        if dry_run:
            console.say("-- dry run: nothing recorded")
            return 0
        if not yes:
            if not interactive:
                raise Refused("baseline records migrations as applied without running them: pass --yes "
                              "(required in CI and without a terminal)")
            answer = input(f"Record these {len(chosen)} migration(s) as applied in {env.name}? Type 'yes': ")
            if answer.strip().lower() != "yes":
                raise Refused("baseline not confirmed; nothing recorded")
        with db.lock(env.lock_wait):
            _refuse_recorded(db, chosen)  # again: another run may have recorded some meanwhile
            db.record_applied(chosen)
    console.say(f"Recorded {len(chosen)} migration(s) as applied: {env.name} is at version {version}")
    return 0


def _up_to(config: Config, migrations: list[Migration], version: str) -> list[Migration]:
    """The migrations up to and including ``version``, which must name a migration file."""
    index = next((i for i, m in enumerate(migrations) if m.version == version), None)
    if index is None:
        raise UsageError(f"no migration file in {config.migrations_shown} has version {version}")
    return migrations[: index + 1]


def _refuse_recorded(db: Database, chosen: list[Migration]) -> None:
    versions = {m.version for m in chosen}
    applied = [v for v in db.applied_versions() if v in versions]
    if applied:
        raise Refused(f"already applied: {', '.join(applied)}; baseline records only migrations not yet applied; "
                      "nothing recorded")
    unfinished = sorted(set(db.unfinished()) & versions)
    if unfinished:
        raise Refused(f"marked as interrupted: {', '.join(unfinished)}; settle them with `orchestrator resolve` "
                      "first; nothing recorded")


# -- verify ---------------------------------------------------------------------------


@contextmanager
def throwaway_database(config: Config, url: DatabaseURL | None) -> Iterator[DatabaseURL]:
    """A temporary database on ``url``'s server (or the embedded one), dropped afterwards."""
    from . import database  # noqa: PLC0415  (psycopg only for the commands that connect)

    name = f"orchestrator_verify_{secrets.token_hex(4)}"
    base = url if url is not None else embedded.server_url(config.state_dir / "pgdata", "postgres")
    temp = base.with_database(name)
    database.create_database(temp)
    console.note(f"Throwaway database {name} on {base.display()}")
    try:
        yield temp
    finally:
        database.drop_database(temp)


def verify(config: Config, *, url: str | None = None, against_live: str | None = None) -> int:
    """The pull-request check: up one by one, down all, up all, schema and time budget.

    Beyond the committed schema file, it checks that rolling everything back leaves
    the schema as it was before, and that re-applying gives the same schema again:
    a down section that forgets an index fails here, not in production.  With
    ``against_live`` it compares the live database instead (:func:`verify_live`).
    """
    from .database import Database  # noqa: PLC0415  (psycopg only for the commands that connect)

    if against_live is not None:
        return verify_live(config, url=url, version=against_live or None)
    server = DatabaseURL.parse(url, source="--url") if url else None
    migrations = tuple(discover(config.migrations_dirs))
    if not migrations:
        raise UsageError(f"{config.migrations_shown}: no migration files")
    up_all = Plan("up", migrations, None, migrations[-1].version)
    down_all = Plan("down", migrations[::-1], None, None)  # an empty down section refuses verify here
    timings: dict[tuple[str, str], float] = {}
    dumps: dict[str, str] = {}
    with throwaway_database(config, server) as temp, Database(temp, table=config.migrations_table) as db:
        db.ensure_table()
        dumps["before"] = schema.dump(db)
        for title, plan, key in (
            ("1/3 apply each", up_all, "first"),
            ("2/3 roll back each", down_all, "rolled back"),
            ("3/3 apply all again", up_all, "final"),
        ):
            console.say(f"== {title}")
            for version, seconds in run_plan(db, plan):
                timings.setdefault((version, plan.direction), seconds)
            dumps[key] = schema.dump(db)
            if key == "rolled back" and _schema_changed(dumps, "before", key, "rolling back every migration"):
                console.say("verify: FAILED (the down sections leave objects behind)")
                return 1
    return 1 if _verify_report(config, migrations, timings, dumps) else 0


def verify_live(config: Config, *, url: str | None = None, version: str | None = None) -> int:
    """Compare the live database's schema with what its migrations make; exit 1 when they differ.

    The migrations are those the live database records as applied (or, with ``version``,
    those up to it: before a ``baseline``).  They are applied to a throwaway database on
    the live database's server (or on ``url``'s), and both are dumped as ``dump`` does,
    without the migrations table and its rows: a unified diff shows what differs.
    """
    from .database import Database  # noqa: PLC0415  (psycopg only for the commands that connect)

    migrations = discover(config.migrations_dirs)
    with open_existing(config) as live:
        if live is None:
            raise UsageError(f"database {target_url(config).display()} does not exist: nothing to compare")
        if version is not None:
            chosen = _up_to(config, migrations, version)
        else:
            chosen = _recorded(config, live, migrations)
        live_text = schema.dump(live, versions=False)
        live_shown, live_major = live.url.display(), live.server_version()[0]
        server = DatabaseURL.parse(url, source="--url") if url else live.url
    target = chosen[-1].version
    with throwaway_database(config, server) as temp, Database(temp, table=config.migrations_table) as db:
        if db.server_version()[0] != live_major:
            console.warn(f"the throwaway database's server is PostgreSQL {db.server_version()[0]}, the live one "
                         f"{live_major}: the dumps may differ for that alone")
        run_plan(db, Plan("up", tuple(chosen), None, target))
        built = schema.dump(db, versions=False)
    what = f"{len(chosen)} migration(s) up to {target}"
    change = schema.diff_text(built, live_text, f"schema of {what}", f"live {live_shown}")
    if change:
        console.say(f"FAIL the live schema of {config.environment.name} differs from the schema of {what}:")
        console.write(change)
        console.say("verify: FAILED")
        return 1
    console.say(f"ok   the live schema of {config.environment.name} matches the schema of {what}")
    console.say("verify: passed")
    return 0


def _recorded(config: Config, live: Database, migrations: list[Migration]) -> list[Migration]:
    """The migrations the live database records as applied; each must have its file."""
    applied = live.applied_versions()
    if not applied:
        raise UsageError(f"{live.url.display()} records no applied migration: name the version to compare with "
                         "(verify --against-live VERSION)")
    by_version = {m.version: m for m in migrations}
    missing = [v for v in applied if v not in by_version]
    if missing:
        raise UsageError(f"applied, but no file in {config.migrations_shown}: {', '.join(missing)}")
    return [by_version[v] for v in applied]


def _schema_changed(dumps: dict[str, str], before: str, after: str, what: str) -> bool:
    change = schema.diff_text(dumps[before], dumps[after], before, after)
    if change:
        console.say(f"FAIL {what} changes the schema:")
        console.write(change)
    return bool(change)


def _verify_report(
    config: Config,
    migrations: tuple[Migration, ...],
    timings: dict[tuple[str, str], float],
    dumps: dict[str, str],
) -> int:
    problems = int(_schema_changed(dumps, "first", "final", "re-applying after the full rollback"))
    shown = config.relative(config.schema_file)
    stale = schema.diff(config.schema_file, dumps["final"])
    if stale:
        problems += 1
        console.say(f"FAIL {shown} is stale: apply the migrations with `orchestrator up` (it rewrites {shown}) "
                    "and commit it:")
        console.write(stale)
    else:
        console.say(f"ok   {shown} matches the migrations")
    console.say(f"Timings (budget {config.budget:g}s per migration):")
    for m in migrations:
        up_s, down_s = timings[(m.version, "up")], timings[(m.version, "down")]
        slow = max(up_s, down_s) > config.budget
        problems += slow
        console.say(f"{'SLOW' if slow else 'ok  '} {m.filename}: up {ms(up_s)}, down {ms(down_s)}")
    console.say("verify: " + (f"FAILED ({problems} problem(s))" if problems else "passed"))
    return problems


# -- backups / restore / history ------------------------------------------------------


def _backup_store(config: Config) -> backup.Store:
    env = config.environment
    if env.members and env.database is None:  # a fleet's databases share its store: say whose backups
        names = ", ".join(m.name for m in env.members)
        raise UsageError(f"environment {env.name!r} has {len(env.members)} databases ({names}): "
                         "pick one with --database NAME")
    opener = store_opener(config)
    if opener is None:
        name = config.environment.name
        raise UsageError(f"environment {name} has no backup store: set environments.{name}.backup in the config")
    return opener()


def _snapshots(config: Config) -> rds.RdsSnapshots | None:
    """The environment's RDS snapshots, where its backup is ``rds-snapshot://``."""
    from .backup import rds  # noqa: PLC0415  (the backup package only for the commands that use it)

    env = config.environment
    return rds.RdsSnapshots(env.backup, f"environments.{env.name}.backup") if rds.is_snapshot(env.backup) else None


def backups_list(config: Config) -> int:
    """The environment's backups, newest first."""
    snapshots = _snapshots(config)
    if snapshots is not None:
        found = snapshots.list(config.environment.name)
        if not found:
            console.say(f"No snapshots for {config.environment.name} of {snapshots.describe()}")
            return 0
        console.table(("created", "status", "version", "run id", "snapshot"),
                      [(s.created, s.status, s.schema_version or "-", s.run_id, s.arn) for s in found])
        return 0
    from . import backup  # noqa: PLC0415

    store = _backup_store(config)
    found = backup.list_backups(store, config.environment.name, config.environment.database or "")
    if not found:
        console.say(f"No backups for {config.environment.name} in {store.describe()}")
        return 0
    console.table(("created", "size", "version", "run id", "backup"),
                  [(info.created, str(info.size), info.schema_version or "-", info.run_id, info.url) for info in found],
                  right=(1,))
    return 0


def restore(config: Config, key_or_url: str, *, dry_run: bool = False, yes: bool = False,
            interactive: bool = False, allow_other_source: bool = False) -> int:
    """Verify a backup's checksum, then make the database exactly the backup, under the migration lock.

    A backup of another environment or database is refused unless ``allow_other_source``.
    An RDS snapshot cannot be restored in place: its steps are printed and nothing changes
    (exit 2, or 0 for ``--dry-run``).
    """
    from . import backup  # noqa: PLC0415

    env = config.environment
    snapshots = _snapshots(config)
    if snapshots is not None:
        return _snapshot_steps(snapshots.find(env.name, key_or_url), dry_run=dry_run)
    store, info = backup.locate(_backup_store(config) if env.backup else None, key_or_url)
    with open_database(config) as db:
        other = _other_source(config, info, db.url.database)
        if dry_run:
            if other:
                console.warn(f"{other}: a restore would be refused without --allow-other-source")
            console.write(backup.restore(db.url, store, info, dry_run=True))
            console.say(f"-- dry run: {info.url} would be restored into {env.name}; nothing changed")
            return 0
        if other and not allow_other_source:
            raise Refused(f"{other}: pass --allow-other-source to restore it anyway; nothing changed")
        if not yes:
            if not interactive:
                raise Refused("restore replaces the database's contents: pass --yes "
                              "(required in CI and without a terminal)")
            answer = input(f"Restore {info.url} (taken {info.created}) into {env.name}? "
                           "This replaces its contents. Type 'yes': ")
            if answer.strip().lower() != "yes":
                raise Refused("restore not confirmed; nothing changed")
        if other:
            console.warn(f"{other}: restoring it anyway (--allow-other-source)")
        with db.lock(env.lock_wait):
            console.say(f"Restoring {info.url} ({info.size} bytes, schema version {info.schema_version or '-'})")
            backup.restore(db.url, store, info)
            console.say(f"Restored: {env.name} is at version {max(db.applied_versions(), default='(none)')}")
    return 0


def _snapshot_steps(snap: rds.Snapshot, *, dry_run: bool) -> int:
    """Print how to restore an RDS snapshot; refuse (exit 2: nothing changed) unless a dry run,
    so no script mistakes the printed steps for a restore done."""
    from .backup import rds  # noqa: PLC0415

    console.write(rds.restore_steps(snap))
    if dry_run:
        console.say(f"-- dry run: the steps above would restore {snap.arn}; nothing changed")
        return 0
    raise Refused(f"{snap.arn} is an RDS snapshot: RDS restores it only into a new instance, so orchestrator "
                  "cannot restore it in place; run the steps above. Nothing changed")


def _other_source(config: Config, info: backup.BackupInfo, database: str) -> str | None:
    """Why the backup is not of this environment's database (None when it is).

    Manifests written before the database name was recorded are checked by environment only.
    """
    env, member = config.environment.name, config.environment.database or ""
    if info.environment == env and info.member == member and (not info.database or info.database == database):
        return None
    source = (f"environment {info.environment}" + (f", fleet member {info.member}" if info.member else "")
              + (f" (database {info.database})" if info.database else ""))
    target = f"environment {env}" + (f", fleet member {member}" if member else "")
    return f"backup {info.url} was taken from {source}; the target is {target} (database {database})"


def history(config: Config, *, as_json: bool = False) -> int:
    """Past runs, from the run logs kept next to the backups."""
    from . import pipeline  # noqa: PLC0415  (httpx, tenacity and pglast only for the deploy pipeline)

    if _snapshots(config) is not None:
        name = config.environment.name
        raise UsageError(f"environment {name} backs up to RDS snapshots, which hold no run logs: its runs are "
                         f"in {config.relative(config.state_dir / 'runs')} on the machine that ran them, and in "
                         "each workflow run's run-log artifact")
    docs = pipeline.history_documents(_backup_store(config), config.environment.name)
    if as_json:
        console.write(json.dumps(docs, indent=2) + "\n")
        return 0
    if not docs:
        console.say(f"No recorded runs for {config.environment.name}")
        return 0
    rows = []
    for d in docs:
        plan = d.get("plan") or {}
        versions = f"{plan.get('from_version') or '-'} -> {plan.get('target_version') or '-'}"
        rows.append((str(d.get("started_at")), str(d.get("action")), str(d.get("outcome")), versions,
                     str(d.get("actor") or "-"), str(d.get("run_id"))))
    console.table(("started", "action", "outcome", "versions", "actor", "run id"), rows)
    return 0


# -- dev ------------------------------------------------------------------------------


def dev(config: Config, action: str) -> int:
    """``dev status`` / ``dev stop``: the project's embedded PostgreSQL, without starting it."""
    pgdata = config.state_dir / "pgdata"
    shown = config.relative(pgdata)
    if action == "stop":
        pid = embedded.stop(pgdata)
        console.say(f"Stopped the embedded PostgreSQL in {shown} (pid {pid})" if pid
                    else f"The embedded PostgreSQL in {shown} is not running")
        return 0
    server = embedded.state(pgdata)
    if server.pid is not None:
        console.say(f"The embedded PostgreSQL in {shown} is running (pid {server.pid}, socket in "
                    f"{server.socket_dir}); database {embedded.DEV_DATABASE}. Stop it: orchestrator dev stop")
    elif server.exists:
        console.say(f"The embedded PostgreSQL in {shown} is not running; the next command that needs it starts it")
    else:
        console.say(f"No embedded PostgreSQL in {shown} yet; `orchestrator up` creates it when no URL is set")
    return 0
