"""dbmate migration files: discovery and parsing.

The rules are dbmate's (v2.37), checked against the real binary in the tests: a file
is a migration when its name is ``<digits>...sql``; ``-- migrate:up`` and
``-- migrate:down`` markers split it; only comments and blank lines may precede the
up marker.  Orchestrator is stricter where dbmate silently does something surprising:
unknown options, a second up/down pair and duplicate versions are errors.

Parsing is pure (:func:`parse_migration` takes text); only :func:`discover` reads the disk.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import MigrationFileError

# dbmate's regular expressions are Go's (RE2): \d is [0-9], \s is [\t\n\f\r ] (no Unicode
# spaces, no \v), and $ without (?m) is the end of the text.
_S, _NS = r"[\t\n\f\r ]", r"[^\t\n\f\r ]"
FILENAME = re.compile(r"^([0-9]+).*\.sql\Z")
UP_MARKER = re.compile(rf"^--{_S}*migrate:up(?:{_S}*$|{_S}+{_NS}+)", re.M)
DOWN_MARKER = re.compile(rf"^--{_S}*migrate:down(?:{_S}*$|{_S}+{_NS}+)", re.M)
_DIRECTIVE = re.compile(rf"^--{_S}*migrate:(?:up|down)")
_COMMENT_OR_BLANK = re.compile(rf"^{_S}*(--.*)?$")
_LEADING_NOISE = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S)
_TX_CONTROL = re.compile(
    r"^(?:begin|start\s+transaction|commit|end)(?:\s+(?:work|transaction))?\b(?!\s+prepared\b)", re.I
)
_TX_ABORT = re.compile(r"^(?:rollback|abort)\b(?!\s+(?:to|prepared)\b)", re.I)
OPTIONS = {"transaction": ("true", "false")}


@dataclass(frozen=True, slots=True)  # slots: a 20 MB seed file has 200,000 of them
class Statement:
    """One SQL statement of a section; ``offset`` is its character offset in the section."""

    text: str
    offset: int
    whole: bool = False  # the section did not parse and is sent as it is


@dataclass(frozen=True)
class Section:
    """An up or down section: the exact text dbmate would run, from its marker on."""

    sql: str
    line: int  # 1-based line of the marker in the file
    transaction: bool = True
    options: dict[str, str] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """True when the section holds nothing but comments and blank lines."""
        return not split_statements(self.sql)

    def line_of(self, offset: int) -> int:
        """The file line of a character offset within this section."""
        return self.line + self.sql.count("\n", 0, offset)


@dataclass(frozen=True)
class Migration:
    """A migration file: version, name, both sections and a checksum of its bytes."""

    version: str
    filename: str
    path: Path
    up: Section
    down: Section
    checksum: str

    def section(self, direction: str) -> Section:
        """The up or the down section."""
        return self.up if direction == "up" else self.down


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _parse_options(text: str, marker_offset: int, filename: str) -> dict[str, str]:
    line = text[marker_offset:].split("\n", 1)[0]
    rest = _DIRECTIVE.sub("", line, count=1).strip()
    options: dict[str, str] = {}
    for pair in rest.split():
        key, sep, value = pair.partition(":")
        allowed = OPTIONS.get(key)
        if not sep or allowed is None or value not in allowed:
            known = ", ".join(f"{k}:{'|'.join(v)}" for k, v in OPTIONS.items())
            raise MigrationFileError(
                filename,
                f"unknown migration option {pair!r} (known: {known})",
                line=_line_at(text, marker_offset),
            )
        options[key] = value
    return options


def parse_migration(text: str, filename: str) -> tuple[Section, Section]:
    """Split a migration file's text into its up and down sections.

    ``filename`` is only used in errors, which carry the line at fault.
    """
    ups = [m.start() for m in UP_MARKER.finditer(text)]
    downs = [m.start() for m in DOWN_MARKER.finditer(text)]
    if not ups:
        raise MigrationFileError(filename, "no '-- migrate:up' marker", line=1)
    first_up = ups[0]
    for number, line in enumerate(text[:first_up].split("\n"), start=1):
        if not _COMMENT_OR_BLANK.match(line):
            raise MigrationFileError(
                filename, "statements before the '-- migrate:up' marker", line=number
            )
    if len(ups) > 1:
        raise MigrationFileError(
            filename,
            "a second '-- migrate:up' marker: orchestrator takes one up/down pair per file; "
            "split it into two migrations",
            line=_line_at(text, ups[1]),
        )
    if not downs:
        raise MigrationFileError(
            filename, "no '-- migrate:down' marker (dbmate requires one, even if empty)"
        )
    if len(downs) > 1:
        raise MigrationFileError(
            filename, "a second '-- migrate:down' marker", line=_line_at(text, downs[1])
        )
    down = downs[0]
    if down < first_up:
        raise MigrationFileError(
            filename, "'-- migrate:down' comes before '-- migrate:up'", line=_line_at(text, down)
        )
    return (
        _section(text, first_up, down, filename),
        _section(text, down, len(text), filename),
    )


def _section(text: str, start: int, end: int, filename: str) -> Section:
    options = _parse_options(text, start, filename)
    sql = text[start:end]
    return Section(
        sql=sql,
        line=_line_at(text, start),
        transaction=options.get("transaction", "true") != "false",
        options=options,
    )


@functools.lru_cache(maxsize=1024)  # lint, review and apply all ask for the same sections
def split_statements(sql: str) -> tuple[Statement, ...]:
    """Split SQL into statements with the PostgreSQL parser (pglast / libpg_query).

    Text the parser rejects comes back whole, as one statement marked ``whole``: the
    server parses a multi-statement query completely before running any of it, so it
    fails at the syntax error, with the error's position, and runs nothing.
    """
    import pglast  # noqa: PLC0415  (the parser only where SQL is split: `status` and `new` start without it)

    try:
        slices = _parser_slices(sql, pglast.split, pglast.parser.ParseError)
    except pglast.parser.ParseError:
        skip = _LEADING_NOISE.match(sql)
        start = skip.end() if skip else 0
        text = sql[start:].rstrip()
        return (Statement(text=text, offset=start, whole=True),) if text else ()
    statements = []
    for piece in slices:
        start = piece.start
        skip = _LEADING_NOISE.match(sql, start)
        if skip:
            start = max(start, min(skip.end(), piece.stop))
        text = sql[start : piece.stop].strip()
        if text:
            statements.append(Statement(text=text, offset=start))
    return tuple(statements)


_CHUNK = 1 << 20  # characters the parser splits at a time


def _parser_slices(sql: str, split: Callable[..., tuple[slice, ...]], error: type[Exception]) -> list[slice]:
    """The parser's split of ``sql`` (pglast's ``split``), about a megabyte at a time.

    libpg_query keeps the tree of everything one call parses until it returns: a 20 MB
    seed file would hold some 170 MB of it.  So the text is cut where the scanner starts a
    statement, and each chunk is split by the parser.  A cut inside a statement (the
    scanner ends statements at every top-level ``;``, also inside ``BEGIN ATOMIC … END``)
    leaves a chunk that ends in an incomplete statement, which does not parse: that chunk
    grows to a later cut and is split again.  A real syntax error grows it to the end of
    the text, where the parser raises it as for the whole.
    """
    if len(sql) <= _CHUNK:
        return list(split(sql, with_parser=True, only_slices=True))
    starts = [piece.start for piece in split(sql, with_parser=False, only_slices=True)][1:] + [len(sql)]
    out: list[slice] = []
    at, want = 0, _CHUNK
    while at < len(sql):
        cut = starts[min(bisect.bisect_left(starts, at + want), len(starts) - 1)]
        try:
            pieces = split(sql[at:cut], with_parser=True, only_slices=True)
        except error:
            if cut == len(sql):
                raise
            want *= 2
            continue
        out += [slice(at + p.start, at + p.stop) for p in pieces]
        at, want = cut, _CHUNK
    return out


def executable_statements(section: Section, filename: str) -> list[Statement]:
    """The statements orchestrator sends for a section.

    In a transactional section the migration already runs in a transaction of
    orchestrator's own, together with its ``schema_migrations`` row.  An explicit
    ``BEGIN``/``COMMIT`` (the guide recommends writing them) would commit half a
    migration, so they are left out; an explicit ``ROLLBACK`` is refused.
    """
    statements = list(split_statements(section.sql))
    if not section.transaction:
        return statements
    kept = []
    for stmt in statements:
        if stmt.whole:
            kept.append(stmt)
            continue
        if _TX_CONTROL.match(stmt.text):
            continue
        if _TX_ABORT.match(stmt.text):
            raise MigrationFileError(
                filename,
                "ROLLBACK in a transactional migration would undo part of it; "
                "remove it, or mark the section transaction:false",
                line=section.line_of(stmt.offset),
            )
        kept.append(stmt)
    return kept


def read_migration(path: Path, *, require_name: bool = True) -> Migration:
    """Read and parse one migration file.

    ``require_name=False`` accepts any file name (a draft to lint); its version is then ''.
    """
    match = FILENAME.match(path.name)
    if not match and require_name:
        raise MigrationFileError(path, "not a migration file name (<version>_<name>.sql)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MigrationFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MigrationFileError(path, "not valid UTF-8 text", line=line) from exc
    up, down = parse_migration(text, str(path))
    return Migration(
        version=match[1] if match else "",
        filename=path.name,
        path=path,
        up=up,
        down=down,
        checksum=hashlib.sha256(data).hexdigest(),
    )


def _directories(directories: Path | Sequence[Path]) -> tuple[Path, ...]:
    return (directories,) if isinstance(directories, Path) else tuple(directories)


def candidate_files(directories: Path | Sequence[Path]) -> list[Path]:
    """Every file of one or more directories whose name makes it a migration, in dbmate's
    order: sorted by file name (not by directory).  A missing directory, or one given
    twice, is an error."""
    dirs = _directories(directories)
    files: list[Path] = []
    seen_dirs: set[Path] = set()
    for directory in dirs:
        if not directory.is_dir():
            raise MigrationFileError(directory, "migrations directory not found")
        if directory.resolve() in seen_dirs:
            raise MigrationFileError(directory, "migrations directory given twice")
        seen_dirs.add(directory.resolve())
        files.extend(p for p in directory.iterdir() if FILENAME.match(p.name) and not p.is_dir())
    files.sort(key=lambda p: (p.name, dirs.index(p.parent)))
    return files


def duplicate_version(path: Path, seen: dict[str, Path], several_dirs: bool) -> MigrationFileError | None:
    """The error for a second file with a version already ``seen`` (which it then joins)."""
    version = FILENAME.match(path.name)[1]  # type: ignore[index]
    if version not in seen:
        seen[version] = path
        return None
    other = str(seen[version]) if several_dirs else seen[version].name
    return MigrationFileError(path, f"duplicate version {version}: {other} has it too")


def migration_files(directories: Path | Sequence[Path]) -> list[Path]:
    """:func:`candidate_files`, refusing two files with one version (in one directory or
    two): dbmate would record the version once and silently skip the second file (or fail
    half-way through a run)."""
    files = candidate_files(directories)
    seen: dict[str, Path] = {}
    for path in files:
        error = duplicate_version(path, seen, len(_directories(directories)) > 1)
        if error:
            raise error
    return files


def discover(directories: Path | Sequence[Path]) -> list[Migration]:
    """Read and parse every migration in one or more directories (:func:`migration_files`);
    any bad file stops everything."""
    return [read_migration(path) for path in migration_files(directories)]
