"""SQL inside DO blocks: the statements of a plpgsql body, located in the section.

The SQL parser sees a DO block's body as one string.  pglast also parses plpgsql (its
copy of PostgreSQL's plpgsql grammar, which checks the SQL it embeds); every expression
plpgsql hands to the SQL executor as a whole statement is parsed again as SQL, so the
rules see it like any other statement.  A body that does not parse, a language other than
plpgsql, or dynamic SQL (``EXECUTE '…'``) yields nothing: no finding is better than one
guessed from text the linter cannot read.

plpgsql numbers the body's lines from the one its opening quote stands on, which gives the
file line of each statement; its text is then searched for on that line for the column.
plpgsql rewrites some statements (it cuts ``INTO`` targets out): those point at the first
character of their line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pglast import ast, parse_plpgsql
from pglast.parser import ParseError, parse_sql

from .source import Comment, Source, tokens

_DOLLAR_QUOTE = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
_STATEMENT_MODE = 0  # RAW_PARSE_DEFAULT: plpgsql parses the expression as a whole statement


@dataclass(frozen=True)
class Embedded:
    """A statement of a DO block: its tree, its text as plpgsql runs it, and where it is in
    the section (``exact``: the text stands there verbatim; otherwise only the line is)."""

    node: ast.Node
    text: str
    start: int
    exact: bool


def expand(do: ast.DoStmt, start: int, end: int, source: Source) -> tuple[list[Embedded], list[Comment]]:
    """The statements of the DO block at ``start``…``end`` of the section (``do`` parsed from
    that text alone), in order, and the ``--`` comments of its body (for ignore comments);
    nothing when it cannot be parsed."""
    body = _body(do)
    if body is None:
        return [], []
    text, within = body
    try:
        tree = _parse(text)
    except ParseError:
        return [], []
    # the DO statement was parsed on its own: its body's offset is within its text; when
    # pglast did not say where the body is, point at the DO itself
    location = start if within is None else start + within
    first = source.line(location)  # the body's line 1
    out: list[Embedded] = []
    after = start  # where the next statement's text is searched from
    for lineno, query in sorted(_queries(tree), key=lambda q: q[0]):
        try:
            raws = parse_sql(query)
        except ParseError:
            continue
        if len(raws) == 1:
            at, exact = _locate(source, query, first + lineno - 1, (after, end))
            out.append(Embedded(raws[0].stmt, query, at, exact))
            after = at + len(query) if exact else after
    return out, _comments(text, location, source)


def _body(do: ast.DoStmt) -> tuple[str, int | None] | None:
    """The plpgsql body of a DO statement and the offset of its opening quote in the statement."""
    args = {arg.defname: arg for arg in do.args or ()}
    language = args.get("language")
    if language is not None and getattr(language.arg, "sval", "").lower() != "plpgsql":
        return None
    body = args.get("as")
    if body is None or not isinstance(body.arg, ast.String):
        return None
    location = body.arg_location
    return body.arg.sval, location if isinstance(location, int) and location >= 0 else None


@functools.lru_cache(maxsize=256)
def _parse(body: str) -> list[dict[str, Any]]:
    """plpgsql's tree of a DO body, parsed as the body of a function (as PostgreSQL runs it)."""
    tag = "$body$"
    while tag in body:
        tag = tag[:-1] + "_$"
    return parse_plpgsql(f"CREATE FUNCTION do_block() RETURNS void LANGUAGE plpgsql AS {tag}{body}{tag}")


def _queries(node: Any, lineno: int = 1) -> Iterator[tuple[int, str]]:
    """(line in the body, SQL) of every whole statement in a plpgsql tree."""
    if isinstance(node, dict):
        lineno = node.get("lineno", lineno)
        expr = node.get("PLpgSQL_expr")
        if isinstance(expr, dict) and expr.get("parseMode", _STATEMENT_MODE) == _STATEMENT_MODE:
            yield lineno, expr["query"]
        for value in node.values():
            yield from _queries(value, lineno)
    elif isinstance(node, list):
        for item in node:
            yield from _queries(item, lineno)


def _locate(source: Source, query: str, line: int, span: tuple[int, int]) -> tuple[int, bool]:
    """Where ``query`` is on section line ``line``, searched within ``span`` (after the
    statements found before it, within the DO statement): its offset and True, or the
    line's first non-blank character and False."""
    if not 0 <= line < len(source.lines):
        return span[0], False
    lo = source.line_starts[line]
    found = source.sql.find(query, max(lo, span[0]), span[1])
    if found >= 0 and source.line(found) == line:
        return found, True
    text = source.lines[line]
    return lo + len(text) - len(text.lstrip()), False


def _comments(body: str, location: int, source: Source) -> list[Comment]:
    """The ``--`` comments of a dollar-quoted body, with their offsets in the section (a
    body in single quotes is not the text of the section: its comments are left out)."""
    quote = _DOLLAR_QUOTE.match(source.sql, location)
    if quote is None or source.sql[quote.end() : quote.end() + len(body)] != body:
        return []
    base = quote.end()
    return [(base + t.start, body[t.start : t.end + 1]) for t in tokens(body) if t.name == "SQL_COMMENT"]
