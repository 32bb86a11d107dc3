"""Ignore comments: ``-- orchestrator:ignore <rule> <reason>`` suppresses that rule's
finding on the statement it stands above (or at the end of the first line of).

Read after the rules have run: each candidate finding takes the first valid comment for
its rule attached to its statement (any in the section for a finding about the whole
section); a comment with a problem (no rule, an unknown one, one that cannot be ignored, no
reason) suppresses nothing and is a ``bad-ignore`` finding, one that suppresses nothing is
``unused-ignore``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from .registry import RULES, did_you_mean
from .source import Comment, Source
from .statements import Statement

IGNORE_DIRECTIVE = "orchestrator:ignore"
_IGNORE = re.compile(rf"^--\s*{re.escape(IGNORE_DIRECTIVE)}(?![\w-])(?P<rest>.*)$", re.DOTALL)


@dataclass(frozen=True)
class Candidate:
    """A finding before ignore comments are applied: rule, section offset, what is wrong."""

    rule: str
    offset: int
    what: str
    statement: Statement | None = None  # None for a finding about the whole section


@dataclass(frozen=True)
class Directive:
    """One ignore comment."""

    offset: int
    line: int  # 0-based line within the section
    rule: str | None
    reason: str
    problem: str | None  # why it suppresses nothing, or None


def directives(comments: Iterable[Comment], src: Source) -> list[Directive]:
    """The ignore comments among a section's comments, in order."""
    out = []
    for offset, text in sorted(comments):
        m = _IGNORE.match(text)
        if m:
            rule, _, reason = m["rest"].strip().partition(" ")
            reason = reason.strip()
            out.append(Directive(offset, src.line(offset), rule or None, reason, _problem(rule, reason)))
    return out


def resolve(
    candidates: Iterable[Candidate], found: list[Directive], src: Source, checked: Collection[str]
) -> list[tuple[Candidate, str | None]]:
    """Each candidate with the reason of the comment that suppresses it (None: not
    suppressed), then the findings about the comments themselves."""
    used: set[int] = set()
    out: list[tuple[Candidate, str | None]] = []
    for candidate in candidates:
        pool = attached(candidate.statement, found, src) if candidate.statement else found
        match = next((d for d in pool if d.problem is None and d.rule == candidate.rule), None)
        if match is not None:
            used.add(match.offset)
        out.append((candidate, match.reason if match else None))
    for d in found:
        if d.problem is not None:
            if "bad-ignore" in checked:
                out.append((Candidate("bad-ignore", d.offset, d.problem), None))
        elif d.offset not in used and d.rule in checked and "unused-ignore" in checked:
            what = f"`{IGNORE_DIRECTIVE} {d.rule}` suppresses nothing here"
            out.append((Candidate("unused-ignore", d.offset, what), None))
    return out


def attached(stmt: Statement, found: list[Directive], src: Source) -> list[Directive]:
    """The comments in the block of comment lines directly above ``stmt`` or at the end of
    its first line; for SQL inside a DO block, also those of the DO statement."""
    first = src.line(stmt.start)
    above = set()
    line = first - 1
    while line >= 0 and src.lines[line].strip().startswith("--"):
        above.add(line)
        line -= 1
    own = [d for d in found if d.line in above or (d.line == first and d.offset > stmt.start)]
    return own + (attached(stmt.do_block, found, src) if stmt.do_block else [])


def _problem(rule: str, reason: str) -> str | None:
    """Why an ignore comment naming ``rule`` with ``reason`` suppresses nothing, or None."""
    if not rule:
        return f"`{IGNORE_DIRECTIVE}` names no rule"
    if rule not in RULES:
        return f"`{IGNORE_DIRECTIVE}` names an unknown rule {rule!r}{did_you_mean(rule)}"
    if RULES[rule].sure_to_fail:
        return (
            f"{rule} cannot be ignored: it is sure to fail at run time, so ignoring it leads "
            "straight to a failed migration (fix it instead)"
        )
    if not RULES[rule].ignorable:
        return f"{rule} cannot be ignored"
    if not reason:
        return f"`{IGNORE_DIRECTIVE} {rule}` gives no reason, so it suppresses nothing"
    return None
