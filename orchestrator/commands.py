"""The verbs, one plain function each: ``status``, ``up``, ``rollback``, ``new``, ``dump``,
``verify``.  Each takes a :class:`Config`, prints what it does and returns an exit code;
failures are raised as :class:`OrchestratorError` for the CLI to map.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from . import console, database, embedded, schema
from .config import Config
from .database import Database
from .dburl import DatabaseURL
from .errors import MigrationFailed, UsageError
from .migrations import Migration, discover
from .plan import Plan, State, down_plan, up_plan


def target_url(config: Config) -> DatabaseURL:
    """The environment's URL, or the embedded dev server (announced in one line)."""
    env = config.environment
    if env.url is not None:
        return env.url
    url = embedded.dev_url(config.state_dir)
    console.note(
        f"Using the embedded PostgreSQL in {config.state_dir.name}/pgdata "
        f"(database {url.database}); set DATABASE_URL to use another server"
    )
    return url


@contextmanager
def open_database(config: Config, *, create: bool = False) -> Iterator[Database]:
    """Connect to the environment's database; ``create`` makes it if missing (as ``dbmate up``)."""
    url = target_url(config)
    if create and not database.database_exists(url):
        console.say(f"Creating: {url.database}")
        database.create_database(url)
    with Database(url, table=config.migrations_table) as db:
        yield db


def load_state(config: Config, db: Database) -> State:
    """Parse every migration file first, so a bad file stops the run before any SQL."""
    migrations = discover(config.migrations_dir)
    return State(tuple(migrations), tuple(db.applied_versions()))


# -- status ---------------------------------------------------------------------------


def status(config: Config, *, as_json: bool = False, exit_code: bool = False) -> int:
    """dbmate's status layout, plus applied versions whose file is missing."""
    with open_database(config) as db:
        state = load_state(config, db)
    pending = state.pending
    if as_json:
        console.write(json.dumps(status_document(config, state), indent=2) + "\n")
    else:
        applied = state.applied_set
        for m in state.migrations:
            console.say(f"[{'X' if m.version in applied else ' '}] {m.filename}")
        for version in state.missing:
            console.say(f"[X] {version} (applied, file missing)")
        console.say()
        console.say(f"Applied: {len(state.applied)}")
        console.say(f"Pending: {len(pending)}")
        if state.missing:
            console.say(f"Missing: {len(state.missing)}")
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
        "applied": len(state.applied),
        "pending": len(state.pending),
    }


# -- up / rollback --------------------------------------------------------------------


def up(config: Config, *, dry_run: bool = False) -> int:
    """Apply every pending migration, or print their SQL with ``--dry-run``."""
    if dry_run:
        with _read_only(config) as db:
            state = load_state(config, db) if db else State(tuple(discover(config.migrations_dir)), ())
        return _print_plan(up_plan(state))
    with open_database(config, create=True) as db:
        with db.lock(config.environment.lock_wait):
            run_plan(db, up_plan(load_state(config, db)))  # read under the lock
        _dump_if_configured(config, db)
    return 0


def rollback(config: Config, *, steps: int = 1, dry_run: bool = False) -> int:
    """Roll back the newest ``steps`` migrations, or print their down SQL."""
    with open_database(config) as db:
        plan = down_plan(load_state(config, db), steps)
        if dry_run:
            return _print_plan(plan)
        with db.lock(config.environment.lock_wait):  # read again under the lock
            plan = down_plan(load_state(config, db), steps)
            for m in plan.migrations:
                database.require_reversible(m)
            run_plan(db, plan)
        _dump_if_configured(config, db)
    return 0


@contextmanager
def _read_only(config: Config) -> Iterator[Database | None]:
    """A dry run never creates the database; with none there, everything is pending."""
    url = target_url(config)
    if not database.database_exists(url):
        console.say(f"Database {url.database} does not exist yet: every migration is pending")
        yield None
        return
    with Database(url, table=config.migrations_table) as db:
        yield db


def _print_plan(plan: Plan) -> int:
    verb = "apply" if plan.direction == "up" else "roll back"
    console.say(f"-- dry run: {len(plan.migrations)} migration(s) to {verb}; nothing is changed")
    console.write(plan.render())
    console.say(f"-- plan hash: {plan.hash}")
    return 0


def run_plan(db: Database, plan: Plan) -> list[tuple[str, float]]:
    """Run a plan's migrations one by one, printing dbmate's progress lines."""
    db.ensure_table()
    done: list[tuple[str, float]] = []
    verb, past = ("Applying", "Applied") if plan.direction == "up" else ("Rolling back", "Rolled back")
    if not plan.migrations:
        console.say("Nothing to do: no pending migrations" if plan.direction == "up" else "Nothing to roll back")
    for m in plan.migrations:
        console.say(f"{verb}: {m.filename}")
        seconds = db.run(m, plan.direction)
        console.say(f"{past}: {m.filename} in {_ms(seconds)}")
        done.append((m.version, seconds))
    return done


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}ms" if seconds < 1 else f"{seconds:.2f}s"


def _dump_if_configured(config: Config, db: Database) -> None:
    if config.environment.dump_schema:
        schema.write(config.schema_file, schema.dump(db))
        console.say(f"Writing: {_relative(config, config.schema_file)}")


def _relative(config: Config, path: Path) -> str:
    try:
        return str(path.relative_to(config.root))
    except ValueError:
        return str(path)


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
    console.say(f"Creating migration: {_relative(config, path)}")
    return 0


def dump(config: Config) -> int:
    """Write the schema file, byte-identical to ``dbmate dump``."""
    with open_database(config) as db:
        db.ensure_table()
        schema.write(config.schema_file, schema.dump(db))
    console.say(f"Writing: {_relative(config, config.schema_file)}")
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
    for m in migrations:
        database.require_reversible(m)
    timings: dict[tuple[str, str], float] = {}
    dumps: dict[str, str] = {}
    up_all = Plan("up", migrations, None, migrations[-1].version)
    with throwaway_database(config, server) as temp, Database(temp, table=config.migrations_table) as db:
        db.ensure_table()
        dumps["before"] = schema.dump(db)
        for title, plan, key in (
            ("1/3 apply each", up_all, "first"),
            ("2/3 roll back each", Plan("down", migrations[::-1], None, None), "rolled back"),
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
    shown = _relative(config, config.schema_file)
    stale = schema.diff(config.schema_file, dumps["final"])
    if stale:
        problems += 1
        console.say(f"FAIL {shown} is stale; run `orchestrator dump` and commit it:")
        console.write(stale)
    else:
        console.say(f"ok   {shown} matches the migrations")
    console.say(f"Timings (budget {config.budget:g}s per migration):")
    for m in migrations:
        up_s, down_s = timings[(m.version, "up")], timings[(m.version, "down")]
        slow = max(up_s, down_s) > config.budget
        problems += slow
        console.say(f"{'SLOW' if slow else 'ok  '} {m.filename}: up {_ms(up_s)}, down {_ms(down_s)}")
    console.say("verify: " + (f"FAILED ({problems} problem(s))" if problems else "passed"))
    return problems
