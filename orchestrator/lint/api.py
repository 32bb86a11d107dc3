"""The entry points: lint parsed migrations or files, and collect a migration's secrets."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from pglast.parser import ParseError

from ..migrations import Migration, migration_files, read_migration
from .findings import Finding
from .registry import DOWN_RULES_FOR_UP, RULES
from .statements import parse, secrets
from .walker import lint_section


def lint(
    migrations: Sequence[Migration],
    *,
    direction: str = "up",
    only: Collection[str] | None = None,
) -> list[Finding]:
    """Lint migrations, in order, for applying (``up``) or rolling back (``down``).

    ``up`` checks every rule on the up sections and, on the down sections, what would stop
    an automatic rollback (syntax, CONCURRENTLY in a transaction, empty) and secrets.
    ``down`` checks every rule on the down sections (the SQL a rollback runs).  ``only``
    restricts the rules checked (``{"syntax-error"}`` for a parse check).  Findings come
    with the rules' default severities; see :func:`effective`.
    """
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be 'up' or 'down', not {direction!r}")
    findings: list[Finding] = []
    for migration in migrations:
        findings += lint_migration(migration, direction=direction, only=only)
    return findings


def lint_migration(
    migration: Migration, *, direction: str = "up", only: Collection[str] | None = None
) -> list[Finding]:
    """The findings of one migration (see :func:`lint`), in file order."""
    wanted = set(RULES) if only is None else set(only)
    unknown = wanted - set(RULES)
    if unknown:
        raise ValueError(f"unknown lint rules: {', '.join(sorted(unknown))}")
    findings: list[Finding] = []
    if direction == "up":
        findings += lint_section(migration, "up", wanted)
        findings += lint_section(migration, "down", wanted & DOWN_RULES_FOR_UP)
    else:
        findings += lint_section(migration, "down", wanted)
    return sorted(findings, key=lambda f: (f.line, f.column, f.rule))


def parse_errors(migrations: Sequence[Migration]) -> list[Finding]:
    """Syntax errors of the up and down sections (``syntax-error`` findings); use
    :func:`blocking` on the result."""
    return lint(migrations, direction="up", only={"syntax-error"})


def load(path: Path) -> Migration:
    """Read one file for linting.  A migration file name is not required (a draft or an
    example may be linted); the file must still be in dbmate's format."""
    return read_migration(path, require_name=False)


def expand(paths: Sequence[Path], migrations_dirs: Path | Sequence[Path]) -> list[Path]:
    """The files ``orchestrator lint [FILES]`` reads: the named files (a directory means its
    migrations), or every migration of the migrations directories when none are named."""
    if not paths:
        return migration_files(migrations_dirs)
    files: list[Path] = []
    for path in paths:
        files += migration_files(path) if path.is_dir() else [path]
    return files


def lint_paths(paths: Sequence[Path], migrations_dir: Path | Sequence[Path], *, direction: str = "up") -> list[Finding]:
    """Lint the files :func:`expand` names.  A malformed file raises
    :class:`MigrationFileError` as everywhere else."""
    return lint([load(p) for p in expand(paths, migrations_dir)], direction=direction)


def secret_literals(migration: Migration) -> list[str]:
    """The secret string literals of a migration (both sections, DO blocks included), so
    that the caller can ``redaction.register_secret`` them before printing the plan or
    writing the run log."""
    out: list[str] = []
    for name in ("up", "down"):
        sql = migration.section(name).sql
        try:
            parse(sql)
        except ParseError:
            continue  # nothing runs from a section that does not parse
        out += [secret.value for secret in secrets(sql)]
    return out
