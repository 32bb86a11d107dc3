"""The migration engine shared by every command: which database, what state, run a plan.

``commands`` (the plain verbs) and ``pipeline`` (the guarded deploy) both stand on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from . import console, embedded
from .config import Config, Timeouts
from .dburl import DatabaseURL
from .migrations import Migration, discover
from .plan import Plan, Script, State

if TYPE_CHECKING:
    from .database import Database


def target_url(config: Config) -> DatabaseURL:
    """The environment's URL, or the embedded dev server (announced in one line)."""
    env = config.environment
    if env.url is not None:
        return env.url
    url = embedded.dev_url(config.state_dir)
    if url not in _ANNOUNCED:  # once per process, however many steps connect
        _ANNOUNCED.add(url)
        console.note(
            f"Using the embedded PostgreSQL in {config.state_dir.name}/pgdata "
            f"(database {url.database}); set DATABASE_URL to use another server"
        )
    return url


_ANNOUNCED: set[DatabaseURL] = set()


@contextmanager
def open_database(config: Config, *, create: bool = False) -> Iterator[Database]:
    """Connect to the environment's database; ``create`` makes it if missing (as ``dbmate up``)."""
    from . import database  # noqa: PLC0415  (psycopg only for commands that connect)

    url = target_url(config)
    if create and not database.database_exists(url):
        console.say(f"Creating: {url.database}")
        database.create_database(url)
    with database.Database(url, table=config.migrations_table) as db:
        yield db


@contextmanager
def open_existing(config: Config) -> Iterator[Database | None]:
    """The database if it exists, else None: a dry run or ``status`` must not create it."""
    from . import database  # noqa: PLC0415  (psycopg only for commands that connect)

    url = target_url(config)
    if not database.database_exists(url):
        console.note(f"Database {url.database} does not exist yet: every migration is pending")
        yield None
        return
    with database.Database(url, table=config.migrations_table) as db:
        yield db


def load_state(config: Config, db: Database | None, migrations: Iterable[Migration] | None = None) -> State:
    """The files against what the database records.  Without ``migrations``, every file is
    parsed first, so a bad file stops the run before any SQL (``status`` passes the files it
    could read)."""
    files = tuple(discover(config.migrations_dirs) if migrations is None else migrations)
    if db is None:
        return State(files, ())
    return State(files, tuple(db.applied_versions()), db.checksums_applied(), db.unfinished())


def run_plan(db: Database, plan: Plan) -> list[tuple[str, float]]:
    """Run a plan's scripts one by one; (version, seconds) of each.  Only the last commit
    waits for the disk: it makes the earlier ones durable too."""
    db.ensure_table()
    if not plan.migrations:
        console.say("Nothing to do: no pending migrations" if plan.direction == "up" else "Nothing to roll back")
    last = len(plan.scripts) - 1
    return [(s.version, run_one(db, s, durable=i == last)) for i, s in enumerate(plan.scripts)]


def run_one(db: Database, script: Script, timeouts: Timeouts = Timeouts(), *, out: Any = console,
            durable: bool = True) -> float:
    """Apply or revert one migration between dbmate's progress lines; seconds taken.

    ``durable=False`` for every script of a run but its last: their commits do not wait
    for the disk (:meth:`Database.run`)."""
    verb, past = ("Applying", "Applied") if script.direction == "up" else ("Rolling back", "Rolled back")
    name = script.migration.filename
    out.say(f"{verb}: {name}")
    seconds = db.run(script, timeouts, on_retry=out.warn, durable=durable)
    out.say(f"{past}: {name} in {ms(seconds)}")
    return seconds


def store_opener(config: Config) -> Callable[[], Any] | None:
    """What opens the environment's backup store (``backup.Store``), or None where it has none.

    A function, not the store: commands that never touch it do not import boto3.
    """
    env = config.environment
    if not env.backup or env.backup.startswith("rds-snapshot://"):  # snapshots are no store
        return None

    def open_store() -> Any:
        from . import backup  # noqa: PLC0415  (boto3 only where backups are used)

        return backup.open_store(env.backup, root=config.root, sse=env.sse, kms_key_id=env.kms_key_id)

    return open_store


def lint_severities(config: Config) -> dict[str, str]:
    """The environment's ``lint:`` settings, their rule ids checked against the rules (exit 2
    naming the setting for an unknown one, before anything changes).

    Without settings, each rule's own severity applies, except on dev: there findings
    warn (old migrations replayed on a fresh dev database must not be stuck), but for
    those sure to fail when they run.
    """
    from . import lint  # noqa: PLC0415  (pglast only where SQL is linted)

    env = config.environment
    if env.lint is None:
        return {"*": "warning", **dict.fromkeys(sorted(lint.RUNTIME_FAILURES), "error")} if env.name == "dev" else {}
    return lint.validate_overrides(env.lint, f"{config.relative(config.config_file)}: environments.{env.name}.lint")


def annotate_findings(config: Config, findings: Iterable[Any]) -> None:
    """GitHub annotations for lint findings (``lint.Finding``), on their file and line."""
    for f in findings:
        console.annotate(f.annotation_level, f"{f.rule}: {f.message}", file=config.relative(f.file),
                         line=f.line, title=f"lint {f.rule}")


def ms(seconds: float) -> str:
    """A duration as a person reads it."""
    return f"{seconds * 1000:.1f}ms" if seconds < 1 else f"{seconds:.2f}s"
