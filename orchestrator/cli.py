"""The command line: parse arguments, build the config, call one command.

It holds no logic of its own.  The single ``except OrchestratorError`` below is the one
place that maps errors to exit codes; any other exception is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from . import __version__, console, signals
from .errors import EXIT_FAILED, EXIT_USAGE, OrchestratorError

if TYPE_CHECKING:
    from .config import Config
    from .pipeline import Request


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as for every bad input
        console.fail(f"{message} (see `{self.prog} --help`)")
        sys.exit(EXIT_USAGE)


def _globals(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Global options, accepted before or after the command name."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    g = parser.add_argument_group("global options")
    g.add_argument("-e", "--environment", default=default("dev"), metavar="NAME",
                   help="environment from the config file (default: dev)")
    g.add_argument("--url", "-u", default=default(None), metavar="URL",
                   help="database URL (default: <ENV>_DATABASE_URL, then DATABASE_URL, also from the env files)")
    g.add_argument("--database", action="append", default=default(None), metavar="NAME",
                   help="in an environment with databases: (a fleet), run on this one only; repeatable "
                        "(default: all of them, see docs/fleets.md)")
    g.add_argument("--env-file", action="append", default=default(None), metavar="FILE",
                   help="read variables from FILE, as dbmate does; repeatable (default: .env)")
    g.add_argument("--migrations-dir", "-d", action="append", default=default(None), metavar="DIR",
                   help="migrations directory; repeatable, or DIR,DIR (default: DBMATE_MIGRATIONS_DIR, "
                        "then db/migrations)")
    g.add_argument("--schema-file", "-s", default=default(None), metavar="FILE",
                   help="schema file (default: DBMATE_SCHEMA_FILE, then db/schema.sql)")
    g.add_argument("--migrations-table", default=default(None), metavar="TABLE",
                   help="migrations table (default: DBMATE_MIGRATIONS_TABLE, then schema_migrations)")
    g.add_argument("--config", "-c", type=Path, default=default(None), metavar="FILE",
                   help="config file (default: db/orchestrator.yml)")
    g.add_argument("--no-dump-schema", action="store_true", default=default(False),
                   help="do not write the schema file after up/rollback (DBMATE_NO_DUMP_SCHEMA)")
    g.add_argument("--wait", action="store_true", default=default(False),
                   help="wait for the database to become available before the command (DBMATE_WAIT)")
    g.add_argument("--wait-timeout", default=default(None), metavar="DURATION",
                   help="how long --wait and `wait` wait, a Go duration such as 90s or 1m30s "
                        "(default: 1m; DBMATE_WAIT_TIMEOUT)")
    g.add_argument("--wait-interval", default=default(None), metavar="DURATION",
                   help="pause between --wait's attempts (default: 1s; DBMATE_WAIT_INTERVAL)")


def _positive(text: str) -> int:
    """A whole number of 1 or more, checked before anything connects."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {value}")
    return value


def _no_arguments(p: argparse.ArgumentParser) -> None:
    """A command that takes only the global options."""


@dataclass(frozen=True)
class Command:
    """One verb: its arguments, what it needs, and the library call it makes.

    ``needs_database``: the environment must name a database (``dev`` falls back to the
    embedded server); ``lint`` and ``new`` work without one.  ``url_is_server``: ``--url``
    names the server for the command's own throwaway database (``verify``), not the
    environment's database.
    """

    name: str
    help: str
    run: Callable[[Config, argparse.Namespace], int] = field(kw_only=True)
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
    aliases: tuple[str, ...] = ()
    needs_database: bool = True
    url_is_server: bool = False


def _status(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON document")
    p.add_argument("--exit-code", action="store_true", help="exit 1 while any migration is pending")
    p.add_argument("--quiet", action="store_true", help="print nothing; exit 1 while any migration is pending "
                   "(implies --exit-code)")


def _deploy(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="review only: print the SQL that would run; change nothing")
    p.add_argument("--expect-plan", metavar="HASH", help="refuse to run unless the plan hash is HASH (from the dry run)")
    p.add_argument("--skip-backup", action="store_true", help="no backup (refused where backup_required)")
    p.add_argument("--run-log", type=Path, metavar="PATH",
                   help="where to write the run log (default .orchestrator/runs/<run-id>.json)")


def _rollback(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", "-n", type=_positive, default=1, metavar="N", help="how many migrations (default 1)")
    p.add_argument("--allow-empty-down", action="store_true",
                   help="roll back past a migration whose down section is empty by removing its "
                        "schema_migrations row only, as dbmate does (its schema stays); in staging and "
                        "production only with --expect-plan from a dry run")
    _deploy(p)


def _request(action: str, args: argparse.Namespace) -> Request:
    from .pipeline import Request  # noqa: PLC0415  (the deploy pipeline only for up and rollback)

    return Request(action=action, dry_run=args.dry_run, steps=getattr(args, "steps", 1),
                   expect_plan=args.expect_plan, skip_backup=args.skip_backup, run_log=args.run_log,
                   allow_empty_down=getattr(args, "allow_empty_down", False))


def _new(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")


def _lint(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", type=Path, metavar="FILE")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")


def _backups(p: argparse.ArgumentParser) -> None:
    p.add_argument("backups_action", choices=["list"], metavar="list")


def _restore(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backup", "-b", required=True, metavar="KEY_OR_URL", help="backup key, s3:// URL or path")
    p.add_argument("--dry-run", action="store_true", help="print the archive's table of contents; change nothing")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation (required in CI)")
    p.add_argument("--allow-other-source", action="store_true",
                   help="restore a backup taken from another environment or database")


def _resolve(p: argparse.ArgumentParser) -> None:
    p.add_argument("version", metavar="VERSION")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--applied", action="store_true", help="its changes are all in the database")
    which.add_argument("--not-applied", action="store_true", help="none of its changes are in the database")


def _dump(p: argparse.ArgumentParser) -> None:
    p.add_argument("pg_dump_args", nargs="*", metavar="-- PG_DUMP_ARG",
                   help="passed on to pg_dump after --, as with dbmate dump -- ARGS")


def _verify(p: argparse.ArgumentParser) -> None:
    p.add_argument("--against-live", nargs="?", const="", default=None, metavar="VERSION",
                   help="compare the environment's database with the schema its applied migrations (or those up "
                        "to VERSION) make on a throwaway database on its server (or --url's); exit 1 if they differ")


def _baseline(p: argparse.ArgumentParser) -> None:
    p.add_argument("version", metavar="VERSION")
    p.add_argument("--dry-run", action="store_true", help="show what would be recorded; record nothing")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation (required in CI)")


def _history(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the run logs as JSON")


def _dev(p: argparse.ArgumentParser) -> None:
    p.add_argument("dev_action", choices=["status", "stop"], metavar="status|stop")


def _interactive() -> bool:
    return sys.stdin.isatty() and os.environ.get("CI") != "true"


def _commands() -> ModuleType:
    """The verbs' module, imported when a command runs, not when the parser is built.

    ``commands`` pulls in psycopg, the engine and more: ``--help``, a usage error and
    ``new`` must start without them (``tests/e2e/test_startup_imports.py``).
    """
    from . import commands  # noqa: PLC0415

    return commands


COMMANDS = (
    Command("status", "show applied and pending migrations", arguments=_status,
            run=lambda c, a: _commands().status(c, as_json=a.json, exit_code=a.exit_code, quiet=a.quiet)),
    Command("up", "review, back up, apply pending migrations, check health, roll back on failure",
            arguments=_deploy, aliases=("migrate",), run=lambda c, a: _commands().up(c, _request("up", a))),
    Command("rollback", "the same pipeline around the down migrations of the latest migration(s)",
            arguments=_rollback, aliases=("down",),
            run=lambda c, a: _commands().up(c, _request("rollback", a))),
    Command("new", "create a new migration file", arguments=_new, needs_database=False,
            run=lambda c, a: _commands().new(c, a.name)),
    Command("dump", "write the schema file (as dbmate dump)", arguments=_dump,
            run=lambda c, a: _commands().dump(c, a.pg_dump_args)),
    Command("load", "run the schema file in the database (as dbmate load)",
            run=lambda c, a: _commands().load(c)),
    Command("baseline", "adopt an existing database: record the migrations up to VERSION as applied, "
            "without running them", arguments=_baseline,
            run=lambda c, a: _commands().baseline(c, a.version, dry_run=a.dry_run, yes=a.yes,
                                               interactive=_interactive())),
    Command("wait", "wait for the database to become available (as dbmate wait; --wait-timeout)",
            run=lambda c, a: _commands().wait(c)),
    Command("create", "create the environment's database (as dbmate create)",
            run=lambda c, a: _commands().create(c)),
    Command("drop", "drop the environment's database if it exists (as dbmate drop; refused in staging "
            "and production)", run=lambda c, a: _commands().drop(c)),
    Command("lint", "parse and lint migration files (default: all in the migrations directory)",
            arguments=_lint, needs_database=False,
            run=lambda c, a: _commands().lint_files(c, a.files, as_json=a.json)),
    Command("verify", "apply, roll back and re-apply every migration on a throwaway database",
            arguments=_verify, url_is_server=True,
            run=lambda c, a: _commands().verify(c, url=a.url, against_live=a.against_live)),
    Command("backups", "list the environment's backups, newest first", arguments=_backups,
            needs_database=False, run=lambda c, a: _commands().backups_list(c)),
    Command("restore", "verify a backup's checksum and restore it into the environment's database",
            arguments=_restore,
            run=lambda c, a: _commands().restore(c, a.backup, dry_run=a.dry_run, yes=a.yes,
                                                 interactive=_interactive(),
                                                 allow_other_source=a.allow_other_source)),
    Command("resolve", "after an interrupted transaction:false migration: record whether it is applied",
            arguments=_resolve, run=lambda c, a: _commands().resolve(c, a.version, applied=a.applied)),
    Command("history", "past runs, from the run logs kept next to the backups", arguments=_history,
            needs_database=False, run=lambda c, a: _commands().history(c, as_json=a.json)),
    Command("dev", "the project's embedded PostgreSQL: is it running (status), stop it (stop)", arguments=_dev,
            needs_database=False, run=lambda c, a: _commands().dev(c, a.dev_action)),
)
BY_NAME = {name: c for c in COMMANDS for name in (c.name, *c.aliases)}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, from :data:`COMMANDS` (exposed for the README's reference and for tests)."""
    parser = _Parser(prog="orchestrator", description="Safe PostgreSQL migration deploys for dbmate-style SQL files.")
    parser.add_argument("--version", action="version", version=f"orchestrator {__version__}")
    _globals(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, required=True)
    for c in COMMANDS:
        p = sub.add_parser(c.name, help=c.help, description=c.help, aliases=list(c.aliases))
        _globals(p, suppress=True)
        p.set_defaults(command=c.name)
        c.arguments(p)
    return parser


def run(args: argparse.Namespace) -> int:
    """Build the config the command needs from the parsed arguments, and call it."""
    from . import config  # noqa: PLC0415  (after parsing: --help and usage errors read no config)

    command = BY_NAME[args.command]
    cfg = config.load(
        environment=args.environment,
        config_file=args.config,
        url=None if command.url_is_server else args.url,
        migrations_dir=args.migrations_dir,
        schema_file=args.schema_file,
        migrations_table=args.migrations_table,
        no_dump_schema=args.no_dump_schema,
        needs_database=command.needs_database,
        wait=args.wait,
        wait_timeout=args.wait_timeout,
        wait_interval=args.wait_interval,
        env_files=args.env_file,
        strict=getattr(args, "strict", False) or None,  # dbmate's up/migrate --strict, once a command has it
        databases=args.database,
    )
    if cfg.environment.is_fleet and command.needs_database:
        from . import fleet  # noqa: PLC0415  (only an environment of several databases needs it)

        return fleet.run(cfg, args)
    _commands().wait_before(cfg, needs_database=command.needs_database and not command.url_is_server)
    return command.run(cfg, args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``orchestrator`` command.

    SIGINT, SIGTERM and SIGHUP stop any command the same way; ``up`` and ``rollback``
    decide for themselves what that means for the database (see ``pipeline``), every
    other command changes nothing that a signal could leave half-done, and ends with 1.
    """
    args = build_parser().parse_args(argv)
    try:
        with signals.trapped():
            return run(args)
    except OrchestratorError as exc:
        console.fail(str(exc))
        return exc.exit_code
    except KeyboardInterrupt as exc:
        console.fail(f"{exc or 'interrupted'}; stopped")
        return EXIT_FAILED



def script() -> None:
    """The ``orchestrator`` command (and ``python -m orchestrator``): :func:`main`, then exit.

    Nothing is left to collect by then: freezing spares the interpreter's final garbage
    collection (a quarter of a second after a large run).  In-process callers of
    :func:`main` keep their collector.
    """
    code = main()
    gc.freeze()
    sys.exit(code)
