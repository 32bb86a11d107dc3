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
from collections.abc import Sequence
from pathlib import Path

from . import __version__, commands, config, console, signals
from .errors import EXIT_FAILED, EXIT_USAGE, OrchestratorError
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
                   help="database URL (default: <ENV>_DATABASE_URL, then DATABASE_URL, then .env.dbmate/.env)")
    g.add_argument("--migrations-dir", "-d", default=default(None), metavar="DIR",
                   help="migrations directory (default: db/migrations)")
    g.add_argument("--schema-file", "-s", default=default(None), metavar="FILE",
                   help="schema file (default: db/schema.sql)")
    g.add_argument("--migrations-table", default=default(None), metavar="TABLE",
                   help="migrations table (default: schema_migrations)")
    g.add_argument("--config", "-c", type=Path, default=default(None), metavar="FILE",
                   help="config file (default: db/orchestrator.yml)")
    g.add_argument("--no-dump-schema", action="store_true", default=default(False),
                   help="do not write the schema file after up/rollback")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the README's reference and for tests)."""
    parser = _Parser(prog="orchestrator", description="Safe PostgreSQL migration deploys for dbmate-style SQL files.")
    parser.add_argument("--version", action="version", version=f"orchestrator {__version__}")
    _globals(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, required=True)

    def command(name: str, help_text: str, aliases: Sequence[str] = ()) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, aliases=list(aliases))
        _globals(p, suppress=True)
        p.set_defaults(command=name)
        return p

    p = command("status", "show applied and pending migrations")
    p.add_argument("--json", action="store_true", help="print a JSON document")
    p.add_argument("--exit-code", action="store_true", help="exit 1 while any migration is pending")

    p = command("up", "review, back up, apply pending migrations, check health, roll back on failure",
                aliases=["migrate"])
    _deploy_options(p)

    p = command("rollback", "the same pipeline around the down migrations of the latest migration(s)",
                aliases=["down"])
    p.add_argument("--steps", "-n", type=int, default=1, metavar="N", help="how many migrations (default 1)")
    _deploy_options(p)

    p = command("new", "create a new migration file")
    p.add_argument("name", metavar="NAME")

    command("dump", "write the schema file (as dbmate dump)")

    p = command("lint", "parse and lint migration files (default: all in the migrations directory)")
    p.add_argument("files", nargs="*", type=Path, metavar="FILE")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    command("verify", "apply, roll back and re-apply every migration on a throwaway database")

    p = command("backups", "list the environment's backups, newest first")
    p.add_argument("backups_action", choices=["list"], metavar="list")

    p = command("restore", "verify a backup's checksum and restore it into the environment's database")
    p.add_argument("--backup", "-b", required=True, metavar="KEY_OR_URL", help="backup key, s3:// URL or path")
    p.add_argument("--dry-run", action="store_true", help="print the archive's table of contents; change nothing")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation (required in CI)")
    p.add_argument("--allow-other-source", action="store_true",
                   help="restore a backup taken from another environment or database")

    p = command("resolve", "after an interrupted transaction:false migration: record whether it is applied")
    p.add_argument("version", metavar="VERSION")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--applied", action="store_true", help="its changes are all in the database")
    which.add_argument("--not-applied", action="store_true", help="none of its changes are in the database")

    p = command("history", "past runs, from the run logs kept next to the backups")
    p.add_argument("--json", action="store_true", help="print the run logs as JSON")
    return parser


def _deploy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="review only: print the SQL that would run; change nothing")
    p.add_argument("--expect-plan", metavar="HASH", help="refuse to run unless the plan hash is HASH (from the dry run)")
    p.add_argument("--skip-backup", action="store_true", help="no backup (refused where backup_required)")
    p.add_argument("--run-log", type=Path, metavar="PATH",
                   help="where to write the run log (default .orchestrator/runs/<run-id>.json)")


def run(args: argparse.Namespace) -> int:
    """Build the config from the parsed arguments and call the command."""
    cfg = config.load(
        environment=args.environment,
        config_file=args.config,
        url=None if args.command == "verify" else args.url,
        migrations_dir=args.migrations_dir,
        schema_file=args.schema_file,
        migrations_table=args.migrations_table,
        no_dump_schema=args.no_dump_schema,
        needs_database=args.command not in ("lint", "new"),
    )
    if args.command == "status":
        return commands.status(cfg, as_json=args.json, exit_code=args.exit_code)
    if args.command in ("up", "rollback"):
        request = Request(
            action=args.command,
            dry_run=args.dry_run,
            steps=getattr(args, "steps", 1),
            expect_plan=args.expect_plan,
            skip_backup=args.skip_backup,
            run_log=args.run_log,
        )
        return commands.up(cfg, request)
    if args.command == "new":
        return commands.new(cfg, args.name)
    if args.command == "dump":
        return commands.dump(cfg)
    if args.command == "backups":
        return commands.backups_list(cfg)
    if args.command == "restore":
        return commands.restore(cfg, args.backup, dry_run=args.dry_run, yes=args.yes,
                                interactive=sys.stdin.isatty() and os.environ.get("CI") != "true",
                                allow_other_source=args.allow_other_source)
    if args.command == "lint":
        return commands.lint_files(cfg, args.files, as_json=args.json)
    if args.command == "resolve":
        return commands.resolve(cfg, args.version, applied=args.applied)
    if args.command == "history":
        return commands.history(cfg, as_json=args.json)
    return commands.verify(cfg, url=args.url)


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
    finally:
        # Nothing is left to collect: spare the interpreter's final garbage collection
        # (a quarter of a second after a large run).
        gc.freeze()

