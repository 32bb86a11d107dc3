"""A section's text and what locating in it needs: lines, the lexer's tokens, comments."""

from __future__ import annotations

import bisect
import functools
import re
from typing import Any

from pglast.parser import ParseError, scan

COMMENT_TOKENS = ("SQL_COMMENT", "C_COMMENT")

# A ``--`` comment: its offset in the section and its text.
Comment = tuple[int, str]


class Source:
    """The SQL of one section, with offsets turned into lines and columns.

    The lines, their offsets and the tokens are worked out when first asked for: most
    sections of a big file have no finding, and the tokens of a whole section are needed
    only when it does not parse (each statement is scanned on its own otherwise).
    """

    def __init__(self, sql: str) -> None:
        self.sql = sql

    @functools.cached_property
    def lines(self) -> list[str]:
        """The section's lines, without their line feeds."""
        return self.sql.split("\n")

    @functools.cached_property
    def line_starts(self) -> list[int]:
        """The offset where each line starts."""
        return [0] + [m.end() for m in re.finditer("\n", self.sql)]

    @functools.cached_property
    def tokens(self) -> tuple[Any, ...]:
        """The lexer's tokens, or none when the lexer gives up (an unterminated string)."""
        return tokens(self.sql)

    def line(self, offset: int) -> int:
        """The 0-based line, within the section, of an offset."""
        return bisect.bisect_right(self.line_starts, offset) - 1

    def column(self, offset: int) -> int:
        """The 1-based column of an offset."""
        return offset - self.line_starts[self.line(offset)] + 1

    def comments(self) -> list[Comment]:
        """The ``--`` comments of a section that does not parse (one that does is scanned a
        statement at a time: :func:`.statements.comments`)."""
        if self.tokens:
            return [(t.start, self.sql[t.start : t.end + 1]) for t in self.tokens if t.name == "SQL_COMMENT"]
        # the lexer gave up (e.g. an unterminated string): fall back to line comments
        return [(m.start(), m.group()) for m in re.finditer(r"--[^\n]*", self.sql)]


@functools.lru_cache(maxsize=1024)
def source(sql: str) -> Source:
    """The :class:`Source` of a section's SQL (a review lints a section, then collects its
    secrets: each text is scanned once)."""
    return Source(sql)


def tokens(sql: str) -> tuple[Any, ...]:
    """The lexer's tokens of some SQL, or none when the lexer gives up."""
    try:
        return tuple(scan(sql))
    except ParseError:
        return ()


def strip_comments(text: str) -> str:
    """``text`` with each comment replaced by a space."""
    found = [t for t in tokens(text) if t.name in COMMENT_TOKENS]
    for t in sorted(found, key=lambda t: -t.start):
        text = text[: t.start] + " " + text[t.end + 1 :]
    return text
