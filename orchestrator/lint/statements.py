"""A section's SQL as statements: parsed once by PostgreSQL's parser, located in the
section, their secrets found, and cut into the steps the rules look at."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from pglast import ast
from pglast.enums import AlterTableType
from pglast.parser import ParseError, parse_sql

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


@dataclass(frozen=True)
class Parsed:
    """A section's statements, and the comments inside its DO blocks' bodies."""

    statements: tuple[Statement, ...]
    comments: tuple[Comment, ...]


@functools.lru_cache(maxsize=1024)
def parse(sql: str) -> Parsed:
    """The statements of a section (raises pglast's ParseError when it does not parse)."""
    src = source(sql)
    statements: list[Statement] = []
    comments: list[Comment] = []
    for raw in parse_sql(sql):
        stmt = _statement(raw, src, len(statements))
        statements.append(stmt)
        if isinstance(stmt.node, ast.DoStmt):
            inner, notes = plpgsql.expand(stmt.node, stmt.start, stmt.end, src)
            statements += [_embedded(e, stmt, len(statements) + i) for i, e in enumerate(inner)]
            comments += notes
    return Parsed(tuple(statements), tuple(comments))


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


def _statement(raw: ast.RawStmt, src: Source, index: int) -> Statement:
    sql = src.sql
    start = raw.stmt_location or 0
    end = start + raw.stmt_len if raw.stmt_len else len(sql)
    skip = _NOISE.match(sql, start)
    if skip:
        start = min(skip.end(), end)
    while end > start and sql[end - 1] in " \t\r\n;":
        end -= 1
    found = credentials.find(raw.stmt, src.tokens_within(start, end), sql)
    secrets = tuple(replace(s, start=s.start - start, end=s.end - start) for s in found)
    return Statement(raw.stmt, sql[start:end], start, index, secrets)


def _embedded(e: plpgsql.Embedded, do: Statement, index: int) -> Statement:
    secrets = credentials.find(e.node, tokens(e.text), e.text)
    return Statement(e.node, e.text, e.start, index, tuple(secrets), do, e.exact)
