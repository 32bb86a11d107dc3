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
    """The SQL of one section, with offsets turned into lines and columns."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.lines = sql.split("\n")
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", sql)]

    @functools.cached_property
    def tokens(self) -> tuple[Any, ...]:
        """The lexer's tokens, or none when the lexer gives up (an unterminated string)."""
        return tokens(self.sql)

    def tokens_within(self, start: int, end: int) -> tuple[Any, ...]:
        """The tokens that start within ``start``…``end``."""
        return self.tokens[bisect.bisect_left(self._starts, start) : bisect.bisect_left(self._starts, end)]

    @functools.cached_property
    def _starts(self) -> list[int]:
        return [t.start for t in self.tokens]

    def line(self, offset: int) -> int:
        """The 0-based line, within the section, of an offset."""
        return bisect.bisect_right(self.line_starts, offset) - 1

    def column(self, offset: int) -> int:
        """The 1-based column of an offset."""
        return offset - self.line_starts[self.line(offset)] + 1

    def comments(self) -> list[Comment]:
        """The section's ``--`` comments (a DO block's body is one string token: its own
        comments come from :mod:`.plpgsql`)."""
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
