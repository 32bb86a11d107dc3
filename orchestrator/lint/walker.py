"""The walker: run the rules over one section, step by step, with the context of what
came before, then apply the ignore comments."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from pglast.parser import ParseError

from ..migrations import Migration
from . import ignores
from .context import Context
from .findings import Finding
from .ignores import Candidate
from .registry import RULES
from .rule import Rule
from .source import Source, source
from .statements import Statement, excerpt, parse, steps, syntax_error
from .statements import comments as statement_comments


def lint_section(migration: Migration, which: str, checked: Collection[str]) -> list[Finding]:
    """The findings of the rules in ``checked`` on one section (``up`` or ``down``)."""
    section = migration.section(which)
    src = source(section.sql)
    rules = [rule for rule in RULES.values() if rule.id in checked]
    ctx = Context(which, section.transaction)
    candidates: dict[tuple[str, Statement | int], Candidate] = {}
    try:
        parsed = parse(section.sql)
    except ParseError as exc:
        ctx.parse_error = syntax_error(exc, src)
        comments = src.comments()
    else:
        _walk(parsed, rules, ctx, candidates)
        comments = statement_comments(section.sql) + parsed.comments
    for rule in rules:
        for hit in rule.section_check(ctx) if rule.section_check else ():
            candidates.setdefault((rule.id, hit.at), Candidate(rule.id, hit.at, hit.what))
    resolved = ignores.resolve(candidates.values(), ignores.directives(comments, src), src, checked)
    return [_finding(migration, which, src, candidate, reason) for candidate, reason in resolved]


def _walk(
    statements: Iterable[Statement],
    rules: Sequence[Rule],
    ctx: Context,
    candidates: dict[tuple[str, Statement | int], Candidate],
) -> None:
    """Run the statement checks, in order; the first hit of a rule on a statement counts.
    Only the statements a rule hit are kept (in ``candidates``)."""
    for stmt in statements:
        ctx.enter(stmt)
        for step in steps(stmt):
            for rule in rules:
                for hit in rule.check(step, ctx) if rule.check else ():
                    candidates.setdefault(
                        (rule.id, stmt), Candidate(rule.id, stmt.offset(hit.at), hit.what, stmt)
                    )
            ctx.learn(step)


def _finding(
    migration: Migration, which: str, src: Source, candidate: Candidate, reason: str | None
) -> Finding:
    rule = RULES[candidate.rule]
    return Finding(
        rule=rule.id,
        severity=rule.severity,
        file=migration.path,
        line=migration.section(which).line + src.line(candidate.offset),
        column=src.column(candidate.offset),
        message=f"{candidate.what}; {rule.fix}",
        statement=excerpt(candidate.statement),
        section=which,
        suppressed=reason is not None,
        reason=reason,
    )
