"""The rule reference, generated from the registry: ``docs/lint-rules.md`` in full, and the
summary table README.md shows.  ``tests/unit/test_lint.py`` checks both are what this module
generates; after changing a rule, regenerate the reference with
``python -m orchestrator.lint > docs/lint-rules.md``."""

from __future__ import annotations

from types import ModuleType

from .registry import FAMILIES, RULES
from .rule import Rule

REFERENCE = "docs/lint-rules.md"  # the generated reference, from the repository's root

_INTRO = """\
# Lint rules

<!-- Generated from the rule registry (orchestrator/lint/rules/) by
`python -m orchestrator.lint > docs/lint-rules.md`; tests/unit/test_lint.py fails when this file
differs from what the registry generates. Change the rules, not this file. -->

Every rule of `orchestrator lint` (and of every review), by family: one module of
`orchestrator/lint/rules/` each. How findings are reported, ignored and given a severity
per environment: [Lint rules](../README.md#lint-rules) in the README. Statements inside
`DO` blocks are checked too, where their plpgsql body parses.

For each rule: its default severity; whether it is **sure to fail** at run time
(PostgreSQL refuses the statement, so the migration fails when it runs: such a finding
cannot be ignored, and it is the only kind that stops a rollback); whether an ignore
comment can suppress it; the squawk rules that cover the same hazard; what it catches and
the fix (a finding's message says what is wrong with the statement, then the fix); and a
bad and a good example (the up section, or the whole file where the down section matters).

| rule | family | default | sure to fail | can be ignored |
| --- | --- | --- | --- | --- |
"""


def rules_table_markdown() -> str:
    """The README's summary table: rule, default severity, what it catches, squawk's rules."""
    out = ["| rule | default | catches | squawk |", "| --- | --- | --- | --- |"]
    for rule in RULES.values():
        link = f"[`{rule.id}`]({REFERENCE}#{rule.id})"
        out.append(f"| {link} | {rule.severity} | {rule.title} | {_squawk(rule)} |")
    return "\n".join(out) + "\n"


def reference_markdown() -> str:
    """The whole of ``docs/lint-rules.md``."""
    index = [
        f"| [`{rule.id}`](#{rule.id}) | {_name(family)} | {rule.severity} | "
        f"{_yes(rule.sure_to_fail)} | {_yes(rule.ignorable)} |"
        for family in FAMILIES
        for rule in family.RULES
    ]
    return _INTRO + "\n".join(index) + "\n" + "".join(_family(family) for family in FAMILIES)


def shown_example(text: str) -> str:
    """An example as the reference shows it: the up section, or the whole file when its
    down section matters (empty, or with options such as ``transaction:false``)."""
    up, marker, down = text.partition("\n\n-- migrate:down")
    options, _, body = down.partition("\n")
    if not marker or options.strip() or not body.strip():
        return text.rstrip("\n")
    return up.rstrip("\n")


def _family(family: ModuleType) -> str:
    about = " ".join((family.__doc__ or "").split())
    return f"\n## {_name(family)}\n\n{about}\n" + "".join(_rule(rule) for rule in family.RULES)


def _rule(rule: Rule) -> str:
    note = f" {rule.squawk_note[0].upper()}{rule.squawk_note[1:]}." if rule.squawk_note else ""
    lines = [
        "",
        f"### `{rule.id}`",
        "",
        f"- Default severity: {rule.severity}",
        f"- Sure to fail at run time: {_yes(rule.sure_to_fail)}",
        f"- Can be ignored: {_ignorable(rule)}",
        f"- squawk: {_squawk(rule)}.{note}",
        "",
        f"{rule.title} Fix: {rule.fix}.",
        "",
        "```sql",
        "-- ✗ bad",
        shown_example(rule.bad),
        "",
        "-- ✓ good",
        shown_example(rule.good),
        "```",
    ]
    return "\n".join(lines) + "\n"


def _ignorable(rule: Rule) -> str:
    if rule.sure_to_fail:
        return "no: ignoring it would lead straight to a failed migration"
    if rule.about_ignores:
        return "no: it is about ignore comments themselves"
    return f"yes, with `-- orchestrator:ignore {rule.id} <reason>`"


def _name(family: ModuleType) -> str:
    return family.__name__.rsplit(".", 1)[-1]


def _squawk(rule: Rule) -> str:
    return ", ".join(f"`{s}`" for s in rule.squawk) if rule.squawk else "none"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
