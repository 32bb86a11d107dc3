"""A section's SQL as statements: split once by PostgreSQL's parser (the split the plan
uses), each statement parsed on its own as the walker reaches it, located in the section,
its secrets found, and cut into the steps the rules look at."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from pglast import ast
from pglast.enums import AlterTableType
from pglast.parser import ParseError, parse_sql
from pglast.parser import split as pglast_split

from ..migrations import Statement as Piece
from ..migrations import split_statements
from ..redaction import redact
from . import credentials, plpgsql
from .credentials import Secret
from .source import COMMENT_TOKENS, Comment, Source, source, strip_comments, tokens
from .tree import TableKey, table_key

_NOISE = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)
_EXCERPT = 120


@dataclass(frozen=True, eq=False)
class Statement:
    """One statement of a section.

    ``text`` is the statement as written (comments and blanks before it and the semicolon
    left out); for SQL inside a DO block, as plpgsql runs it.  ``start`` is its offset in
    the section; ``exact`` says ``text`` stands verbatim there (plpgsql may have rewritten
    it: then only ``start``, its line, is known).  ``secrets`` have offsets in ``text``.
    """

    node: ast.Node
    text: str
    start: int
    index: int = 0  # position in the section: a DO block's statements come right after it
    secrets: tuple[Secret, ...] = ()
    do_block: Statement | None = None  # the DO statement this one is inside
    exact: bool = True

    @property
    def end(self) -> int:
        """The offset after its last character (exact statements)."""
        return self.start + len(self.text)

    def offset(self, at: int) -> int:
        """The section offset of position ``at`` of the text."""
        return self.start + at if self.exact else self.start


@dataclass(frozen=True)
class Step:
    """What a rule looks at: a statement, or one command of an ALTER TABLE (with its table)."""

    statement: Statement
    node: ast.Node
    table: TableKey | None = None

    def command(self, *subtypes: AlterTableType) -> ast.AlterTableCmd | None:
        """This step's ALTER TABLE command, when it is one of ``subtypes``."""
        if isinstance(self.node, ast.AlterTableCmd) and self.node.subtype in subtypes:
            return self.node
        return None

    def added_column(self) -> ast.ColumnDef | None:
        """The column this step adds (ALTER TABLE … ADD COLUMN), if any."""
        cmd = self.command(AlterTableType.AT_AddColumn)
        return cmd.def_ if cmd is not None and isinstance(cmd.def_, ast.ColumnDef) else None

    def added_constraint(self) -> ast.Constraint | None:
        """The constraint this step adds (ALTER TABLE … ADD CONSTRAINT), if any."""
        cmd = self.command(AlterTableType.AT_AddConstraint)
        return cmd.def_ if cmd is not None and isinstance(cmd.def_, ast.Constraint) else None


class Parsed:
    """A section's statements, made one at a time as the walker asks for them, and the
    comments inside its DO blocks' bodies, collected as they are met.

    Each statement is parsed on its own from the split the plan shares
    (:func:`~orchestrator.migrations.split_statements`) and its tree is dropped once the
    walker has moved on: a 20 MB seed file never holds 200,000 trees at once.
    """

    def __init__(self, sql: str, pieces: tuple[Piece, ...]) -> None:
        self.sql = sql
        self.pieces = pieces
        self.comments: list[Comment] = []

    def __iter__(self) -> Iterator[Statement]:
        src = source(self.sql)
        index = 0
        for piece in self.pieces:
            for node, text, start, found in _located(piece):
                stmt = Statement(node, text, start, index, found)
                yield stmt
                index += 1
                if isinstance(stmt.node, ast.DoStmt):
                    inner, notes = plpgsql.expand(stmt.node, stmt.start, stmt.end, src)
                    for e in inner:
                        yield _embedded(e, stmt, index)
                        index += 1
                    self.comments += notes


def parse(sql: str) -> Parsed:
    """The statements of a section; raises pglast's ParseError when it does not parse."""
    pieces = split_statements(sql)
    if any(p.whole for p in pieces):  # the split met a syntax error: raise it, with its position
        pglast_split(sql, with_parser=True, only_slices=True)
    return Parsed(sql, pieces)


def secrets(sql: str) -> list[Secret]:
    """The secret literals of a section that parses (DO blocks included), parsing only the
    statements whose text could hold one (:func:`credentials.may_hold`)."""
    pieces = tuple(p for p in split_statements(sql) if credentials.may_hold(p.text))
    return [secret for stmt in Parsed(sql, pieces) for secret in stmt.secrets]


def comments(sql: str) -> list[Comment]:
    """The ``--`` comments of a section that parses, scanned one statement at a time.

    The lexer starts afresh after each statement's last token, so each chunk (the gap
    before a statement and the statement) scans as it does within the whole section; only
    chunks holding ``--`` are scanned, and no token list of the whole section is built.
    """
    found: list[Comment] = []
    at = 0
    for piece in split_statements(sql):
        end = piece.offset + len(piece.text)
        found += _chunk_comments(sql, at, end)
        at = end
    return found + _chunk_comments(sql, at, len(sql))


def _chunk_comments(sql: str, start: int, end: int) -> list[Comment]:
    chunk = sql[start:end]
    if "--" not in chunk:
        return []
    return [(start + t.start, chunk[t.start : t.end + 1]) for t in tokens(chunk) if t.name == "SQL_COMMENT"]


def steps(stmt: Statement) -> Iterator[Step]:
    """The steps of a statement, in order: each command of an ALTER TABLE on its own
    (PostgreSQL applies them in turn: a VALIDATE may follow the ADD CONSTRAINT it
    validates), any other statement whole."""
    node = stmt.node
    if isinstance(node, ast.AlterTableStmt) and node.cmds:
        table = table_key(node.relation)
        for cmd in node.cmds:
            yield Step(stmt, cmd, table)
    else:
        yield Step(stmt, node)


def syntax_error(exc: ParseError, src: Source) -> tuple[str, int]:
    """The message of a parse error and its offset in the section ("at end of input":
    just after the last token)."""
    message = str(exc.args[0]) if exc.args else str(exc)
    location = exc.args[1] if len(exc.args) > 1 else None
    if location is None:
        code = [t for t in src.tokens if t.name not in COMMENT_TOKENS]
        location = code[-1].end + 1 if code else len(src.sql.rstrip())
    return message, min(location, len(src.sql))


def excerpt(stmt: Statement | None) -> str:
    """A statement as a finding shows it: one line, secrets masked, at most 120 characters."""
    if stmt is None:
        return ""
    text = stmt.text
    for secret in sorted(stmt.secrets, key=lambda s: -s.start):
        text = text[: secret.start] + f"'{credentials.mask(secret.value)}'" + text[secret.end :]
    text = redact(" ".join(strip_comments(text).split()))
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


def _located(piece: Piece) -> Iterator[tuple[ast.Node, str, int, tuple[Secret, ...]]]:
    """The statement of one piece of the split, parsed on its own: its tree, its text, its
    offset in the section and its secrets (the lexer runs only on text that may hold one)."""
    text = piece.text
    for raw in parse_sql(text):
        start = raw.stmt_location or 0
        end = start + raw.stmt_len if raw.stmt_len else len(text)
        skip = _NOISE.match(text, start)
        if skip:
            start = min(skip.end(), end)
        while end > start and text[end - 1] in " \t\r\n;":
            end -= 1
        body = text[start:end]
        found = credentials.find(raw.stmt, tokens(body), body) if credentials.may_hold(body) else []
        yield raw.stmt, body, piece.offset + start, tuple(found)


def _embedded(e: plpgsql.Embedded, do: Statement, index: int) -> Statement:
    secrets = credentials.find(e.node, tokens(e.text), e.text)
    return Statement(e.node, e.text, e.start, index, tuple(secrets), do, e.exact)
