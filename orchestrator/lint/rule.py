"""What a lint rule is: its metadata, its documentation and its check, in one value.

A family module (``rules/locking.py``…) defines its rules as :class:`Rule` values and
lists them in ``RULES``; the registry collects the families.  Adding a rule touches only
its family module: the walker runs every check, the ignore-comment pass and the generated
reference (``docs/lint-rules.md``) read the rule's fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import Context
    from .statements import Step

ERROR, WARNING, OFF = "error", "warning", "off"
SEVERITIES = (ERROR, WARNING)
LEVELS = (ERROR, WARNING, OFF)


@dataclass(frozen=True)
class Hit:
    """One place a check found: what is wrong there, in words specific to the statement.

    ``at`` is the offset of the place to point at: in the statement's text for a statement
    check (0, its start, for most), in the section for a section check.  The finding's
    message is ``what`` followed by the rule's fix.
    """

    what: str
    at: int = 0


StatementCheck = Callable[["Step", "Context"], Iterable[Hit]]
SectionCheck = Callable[["Context"], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    """One lint rule: its id, default severity, what it catches, the fix and two examples.

    ``check`` runs on every step of a section (a statement, or one command of an ALTER
    TABLE) with the context of what came before; ``section_check`` runs once after the
    last statement (an empty section, a parse error).  A rule with neither is found by the
    ignore-comment pass (``bad-ignore``, ``unused-ignore``).

    ``bad`` and ``good`` are complete dbmate files; the bad one triggers this rule (plus
    the rules in ``also``) and the good one triggers nothing.  ``squawk`` names the
    squawk rules that cover the same hazard (empty where squawk has none), ``squawk_note``
    says where the two differ.

    ``sure_to_fail``: PostgreSQL refuses the statement, so the migration fails when it
    runs; such a finding cannot be ignored, it stops a rollback too, and it stays an error
    on dev.  ``every_section``: also checked on the down sections when linting for ``up``
    (rules sure to fail and rules about ignore comments always are).  ``about_ignores``:
    a rule about ignore comments themselves, which an ignore comment cannot silence.
    """

    id: str
    severity: str
    title: str
    fix: str
    bad: str
    good: str
    check: StatementCheck | None = None
    section_check: SectionCheck | None = None
    sure_to_fail: bool = False
    every_section: bool = False
    about_ignores: bool = False
    squawk: tuple[str, ...] = ()
    squawk_note: str = ""
    also: tuple[str, ...] = ()

    @property
    def ignorable(self) -> bool:
        """Whether ``-- orchestrator:ignore <rule> <reason>`` may suppress its findings: not
        for a rule sure to fail (ignoring it leads straight to a failed migration), nor for
        the rules about ignore comments."""
        return not (self.sure_to_fail or self.about_ignores)


def example(up: str, down: str, up_opts: str = "", down_opts: str = "") -> str:
    """A complete dbmate file for a rule's documentation, from its two sections."""
    up_marker = f"-- migrate:up {up_opts}".rstrip()
    down_marker = f"-- migrate:down {down_opts}".rstrip()
    down_part = f"{down_marker}\n{down.strip()}\n" if down.strip() else f"{down_marker}\n"
    return f"{up_marker}\n{up.strip()}\n\n{down_part}"
