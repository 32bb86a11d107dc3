"""Lint of migrations: every statement parsed by the real PostgreSQL parser, then checked
for the hazards that take a production database down or lose data.

Pure: :func:`lint` takes parsed :class:`~orchestrator.migrations.Migration` objects and
returns :class:`Finding` objects; only :func:`lint_paths` reads files.  The parser is
``pglast`` (libpg_query, PostgreSQL 18's own grammar), so a syntax error is found with
its exact line and column before anything runs, and the rules walk the syntax tree
instead of matching text.  SQL inside a ``DO`` block is checked too, where its plpgsql
body parses.

Rules know what earlier statements of the same section did (:mod:`.context`): an index, a
foreign key, ``SET NOT NULL`` or an ``UPDATE`` on a table created earlier in the section is
harmless (the table is empty and nobody else can see it until the migration commits), and
``SET NOT NULL`` after a validated ``CHECK (col IS NOT NULL)`` needs no scan.

A finding is suppressed by a comment naming the rule and giving a reason::

    -- orchestrator:ignore drop-column the app stopped reading it in v2.3 (#456)
    ALTER TABLE customers DROP COLUMN company;

The comment goes in the block of comment lines directly above the statement, or at the
end of the statement's first line.  Without a reason, or for a rule that is sure to fail
at run time, it suppresses nothing and is itself a finding (``bad-ignore``); one that
matches nothing is ``unused-ignore``.  The reason is kept in the finding (and so in the
run log).

Severities: each rule has a default (``error`` or ``warning``); :func:`effective` applies
per-environment overrides (``error``, ``warning`` or ``off``) and :func:`blocking` returns
what must stop a deploy.

The layout: :mod:`.rule` (what a rule is), one module per family of rules under
:mod:`.rules`, :mod:`.registry` (collects them), :mod:`.statements`, :mod:`.plpgsql`,
:mod:`.context` and :mod:`.walker` (run them), :mod:`.ignores` (ignore comments),
:mod:`.findings`, :mod:`.credentials` (secret detection) and :mod:`.docs` (the generated
reference, ``docs/lint-rules.md``).
"""

from __future__ import annotations

from .api import expand, lint, lint_migration, lint_paths, load, parse_errors, secret_literals
from .docs import reference_markdown, rules_table_markdown, shown_example
from .findings import (
    ALL_RULES,
    Finding,
    blocking,
    effective,
    format_findings,
    summarize,
    validate_overrides,
)
from .ignores import IGNORE_DIRECTIVE
from .registry import RULES, RUNTIME_FAILURES, can_ignore
from .rule import ERROR, LEVELS, OFF, SEVERITIES, WARNING, Rule

__all__ = [
    "ALL_RULES",
    "ERROR",
    "IGNORE_DIRECTIVE",
    "LEVELS",
    "OFF",
    "RULES",
    "RUNTIME_FAILURES",
    "SEVERITIES",
    "WARNING",
    "Finding",
    "Rule",
    "blocking",
    "can_ignore",
    "effective",
    "expand",
    "format_findings",
    "lint",
    "lint_migration",
    "lint_paths",
    "load",
    "parse_errors",
    "reference_markdown",
    "rules_table_markdown",
    "secret_literals",
    "shown_example",
    "summarize",
    "validate_overrides",
]
