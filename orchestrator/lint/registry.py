"""The rule registry: every family's rules, in the order the reference lists them, and the
questions the rest of orchestrator asks about them."""

from __future__ import annotations

import difflib

from .rule import Rule
from .rules import comments, destructive, locking, privileges, rewrites, secrets, sections, validation

FAMILIES = (sections, locking, rewrites, validation, destructive, secrets, privileges, comments)
RULES: dict[str, Rule] = {rule.id: rule for family in FAMILIES for rule in family.RULES}

# The rules whose findings are sure to fail when the migration runs (PostgreSQL refuses the
# statement): they cannot be ignored, and only they stop a rollback.
RUNTIME_FAILURES = frozenset(rule.id for rule in RULES.values() if rule.sure_to_fail)

# The rules checked on a down section when linting for `up` (what would stop an automatic
# rollback, or leak); a `down` lint checks every rule on the down sections.
DOWN_RULES_FOR_UP = frozenset(
    rule.id for rule in RULES.values() if rule.sure_to_fail or rule.every_section or rule.about_ignores
)


def can_ignore(rule_id: str) -> bool:
    """Whether ``-- orchestrator:ignore <rule_id> <reason>`` may suppress the rule's findings
    (so whether to suggest it): not for an unknown rule, nor one sure to fail at run time."""
    rule = RULES.get(rule_id)
    return rule is not None and rule.ignorable


def did_you_mean(name: str) -> str:
    """A hint for an unknown rule id: the closest known one, or the list of them."""
    close = difflib.get_close_matches(name, list(RULES), n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (known: {', '.join(RULES)})"
