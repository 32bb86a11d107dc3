"""The verbs, one plain function each: ``status``, ``up``, ``rollback``, ``new``, ``dump``,
``verify``, ``backups``, ``restore``, ``history``.  Each takes a :class:`Config`, prints
what it does and returns an exit code; failures are raised as
:class:`OrchestratorError` for the CLI to map.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from . import backup, console, database, embedded, pipeline, schema
from .config import Config
from .database import Database
from .dburl import DatabaseURL
from .engine import annotate_findings, lint_severities, load_state, ms, open_database, open_existing, run_plan
from .errors import OrchestratorError, Refused, UsageError
from .migrations import Migration, discover
from .pipeline import Request
from .plan import Plan, State


# -- status ---------------------------------------------------------------------------


def status(config: Config, *, as_json: bool = False, exit_code: bool = False) -> int:
    """dbmate's status layout, plus applied versions whose file is missing; a database that
    does not exist yet has every migration pending."""
    with open_existing(config) as db:
        state = load_state(config, db)
    pending = state.pending
    if as_json:
        console.write(json.dumps(status_document(config, state), indent=2) + "\n")
    else:
        applied = state.applied_set
        notes = {m.version: " (changed since applied)" for m in state.changed}
        notes.update({v: f" (INTERRUPTED while {what}: may be half-done; see `orchestrator resolve`)"
                      for v, what in state.unfinished.items()})
        notes.update({m.version: f" (out of order: older than applied {state.current_version})"
                      for m in state.out_of_order})
        for m in state.migrations:
            console.say(f"[{'X' if m.version in applied else ' '}] {m.filename}{notes.get(m.version, '')}")
        for version in state.missing:
            console.say(f"[X] {version} (applied, file missing)")
        console.say()
        console.say(f"Applied: {len(state.applied)}")
        console.say(f"Pending: {len(pending)}")
        if state.missing:
            console.say(f"Missing: {len(state.missing)}")
        if state.changed:
            console.say(f"Changed: {len(state.changed)}")
    return 1 if exit_code and pending else 0


def status_document(config: Config, state: State) -> dict:
    """The ``status --json`` document."""
    applied = state.applied_set
    return {
        "environment": config.environment.name,
        "current_version": state.current_version,
        "migrations": [
            {"version": m.version, "file": m.filename, "applied": m.version in applied}
            for m in state.migrations
        ],
        "missing_files": state.missing,
        "changed_files": [m.filename for m in state.changed],
        "unfinished": state.unfinished,
        "out_of_order": [m.filename for m in state.out_of_order],
        "applied": len(state.applied),
        "pending": len(state.pending),
    }


# -- up / rollback (the deploy pipeline) --------------------------------------------


def up(config: Config, request: Request) -> int:
    """``up`` or ``rollback`` through the pipeline (review, backup, apply, health, record).

    In an environment with ``dump_schema`` (dev, by default) the schema file is written
    afterwards, as ``dbmate up`` does.  The exit code is the run's, as its run log says:
    a schema file that cannot be written is a warning.
    """
    code = pipeline.deploy(config, request)
    if not request.dry_run and config.environment.dump_schema:
        try:
            dump(config)
        except (OrchestratorError, KeyboardInterrupt) as exc:
            console.warn(f"{config.relative(config.schema_file)} was not written: {exc or 'interrupted'}; "
                         "run `orchestrator dump`")
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

    paths = lint.expand(files, config.migrations_dir)
    findings = lint.effective(lint.lint_paths(paths, config.migrations_dir), lint_severities(config))
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


def dump(config: Config) -> int:
    """Write the schema file, byte-identical to ``dbmate dump`` (which also creates the
    migrations table first, so a database with no migrations dumps the same)."""
    with open_database(config) as db:
        db.ensure_table()
        schema.write(config.schema_file, schema.dump(db))
    console.say(f"Writing: {config.relative(config.schema_file)}")
    return 0


# -- verify ---------------------------------------------------------------------------


@contextmanager
def throwaway_database(config: Config, url: DatabaseURL | None) -> Iterator[DatabaseURL]:
    """A temporary database on ``url``'s server (or the embedded one), dropped afterwards."""
    name = f"orchestrator_verify_{secrets.token_hex(4)}"
    base = url if url is not None else embedded.server_url(config.state_dir / "pgdata", "postgres")
    temp = base.with_database(name)
    database.create_database(temp)
    console.note(f"Throwaway database {name} on {base.display()}")
    try:
        yield temp
    finally:
        database.drop_database(temp)


def verify(config: Config, *, url: str | None = None) -> int:
    """The pull-request check: up one by one, down all, up all, schema and time budget.

    Beyond the committed schema file, it checks that rolling everything back leaves
    the schema as it was before, and that re-applying gives the same schema again:
    a down section that forgets an index fails here, not in production.
    """
    server = DatabaseURL.parse(url, source="--url") if url else None
    migrations = tuple(discover(config.migrations_dir))
    if not migrations:
        raise UsageError(f"{config.migrations_dir}: no migration files")
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
    if not env.backup:
        raise UsageError(
            f"environment {env.name} has no backup store: set environments.{env.name}.backup in the config"
        )
    return backup.open_store(env.backup, root=config.root, sse=env.sse, kms_key_id=env.kms_key_id)


def backups_list(config: Config) -> int:
    """The environment's backups, newest first."""
    store = _backup_store(config)
    found = backup.list_backups(store, config.environment.name)
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
    """
    env = config.environment
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


def _other_source(config: Config, info: backup.BackupInfo, database: str) -> str | None:
    """Why the backup is not of this environment's database (None when it is).

    Manifests written before the database name was recorded are checked by environment only.
    """
    env = config.environment.name
    if info.environment == env and (not info.database or info.database == database):
        return None
    source = f"environment {info.environment}" + (f" (database {info.database})" if info.database else "")
    return f"backup {info.url} was taken from {source}; the target is environment {env} (database {database})"


def history(config: Config, *, as_json: bool = False) -> int:
    """Past runs, from the run logs kept next to the backups."""
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
