"""The schema file: ``db/schema.sql`` exactly as ``dbmate dump`` writes it.

dbmate runs ``pg_dump --schema-only`` with fixed options, appends the
``schema_migrations`` rows, drops the leading comment lines (they hold version
numbers) and trims trailing white space from every line.  Doing the same, byte for
byte, lets a team switch between dbmate and orchestrator without schema diffs.
orchestrator's own schema (``database.BOOKKEEPING_SCHEMA``) is always left out, so the
file is the same whichever tool touched the database.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import pgtools

if TYPE_CHECKING:
    from .database import Database

PG_DUMP_OPTIONS = [
    "--format=plain",
    "--encoding=UTF8",
    "--schema-only",
    "--no-privileges",
    "--no-owner",
]


def _supports_restrict_key(version: tuple[int, int]) -> bool:
    """pg_dump releases from August 2025 on write ``\\restrict`` lines; dbmate fixes the key."""
    major, minor = version
    return (
        major > 17
        or (major == 17 and minor >= 6)
        or (major == 16 and minor >= 10)
        or (major == 15 and minor >= 14)
    )


# Go's unicode.IsSpace, which dbmate trims lines with: Python's str.isspace() also takes
# U+001C..U+001F (file/group/record/unit separators), Go does not.
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)


def trim_leading_comments(text: str) -> str:
    """dbmate's ``TrimLeadingSQLComments``: drop the header, rstrip every line."""
    out: list[str] = []
    preamble = True
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        line = line.removesuffix("\r")  # as Go's line scanner does
        if preamble and (line == "" or line.startswith("--")):
            continue
        preamble = False
        out.append(line.rstrip(GO_SPACE) + "\n")
    return "".join(out)


def dump(db: Database, extra_args: Sequence[str] = (), *, versions: bool = True) -> str:
    """The schema text for the database, as ``dbmate dump`` would write it.

    ``extra_args`` go to pg_dump where ``dbmate dump -- ARGS`` puts them (after the
    ``--schema`` options of the URL's search_path, before the database).  Without
    ``versions``, the migrations table and its rows are left out too: the app's schema
    alone, to compare a live database with what the migrations make.
    """
    from .database import BOOKKEEPING_SCHEMA  # noqa: PLC0415  (psycopg only once connected)

    pg_dump = pgtools.find_program("pg_dump", db.server_version()[0])
    args = [str(pg_dump), *PG_DUMP_OPTIONS]
    if _supports_restrict_key(pgtools.program_version(pg_dump)):
        args.append("--restrict-key=dbmate")
    for schema in db.url.search_path:
        args += ["--schema", schema]
    args.append(f"--exclude-schema={_pattern(BOOKKEEPING_SCHEMA)}")
    if not versions:
        args.append(f"--exclude-table={_pattern(db.table_schema)}.{_pattern(db.table_bare_name)}")
    args += extra_args
    args.append(db.url.conninfo(search_path=False))
    text = pgtools.run(args, env=db.url.env()).decode("utf-8")
    return trim_leading_comments(text + (db.migrations_dump() if versions else ""))


def _pattern(name: str) -> str:
    """A name as a pg_dump pattern that matches exactly it (quoted: no case folding, no wildcards)."""
    return '"' + name.replace('"', '""') + '"'


def strip_psql_meta_commands(text: str) -> str:
    """dbmate's ``StripPsqlMetaCommands`` before a schema file is sent to the server: a psql
    meta-command line (``\\restrict``…), which the server does not know, becomes an empty
    line (dbmate drops it), so an error's line number is the file's."""
    out = []
    for line in text.split("\n"):
        line = line.removesuffix("\r")  # as Go's line scanner does
        out.append("\n" if line.lstrip(GO_SPACE).startswith("\\") else line + "\n")
    if out and text.endswith("\n"):  # Go's scanner yields no empty last line
        out.pop()
    return "".join(out)


def write(path: Path, text: str) -> None:
    """Write the schema file, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def diff_text(old: str, new: str, old_name: str, new_name: str) -> str:
    """A unified diff between two schema texts ('' when equal)."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name
        )
    )


def diff(path: Path, text: str) -> str:
    """A unified diff from the committed schema file to ``text`` ('' when equal)."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    return diff_text(old, text, f"{path.name} (committed)", f"{path.name} (from migrations)")
