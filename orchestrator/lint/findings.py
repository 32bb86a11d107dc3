"""Findings, and what is done with them: formatting, summaries, per-environment severities
and what blocks a deploy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .registry import RULES, can_ignore, did_you_mean
from .rule import ERROR, LEVELS, OFF

ALL_RULES = "*"  # an override key that applies to every rule without its own entry


@dataclass(frozen=True)
class Finding:
    """One problem in one place.  ``line`` and ``column`` are 1-based, in the file."""

    rule: str
    severity: str
    file: Path
    line: int
    column: int
    message: str
    statement: str = ""  # an excerpt, whitespace collapsed, secrets masked
    section: str = "up"  # the section the finding is in: "up" or "down"
    suppressed: bool = False
    reason: str | None = None  # from the ignore comment, when suppressed

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    @property
    def annotation_level(self) -> str:
        """The GitHub annotation level: ``error``, ``warning`` or ``notice`` (suppressed)."""
        return "notice" if self.suppressed else self.severity

    @property
    def ignorable(self) -> bool:
        """Whether an ignore comment could suppress it, so whether to suggest one: not when
        the rule is sure to fail at run time (that only leads to a failed migration)."""
        return can_ignore(self.rule)

    def format(self) -> str:
        """``path:line:col: severity rule-id: message`` (``ignored`` for a suppressed one)."""
        if self.suppressed:
            return f"{self.location}: ignored {self.rule}: {self.message} (reason: {self.reason})"
        return f"{self.location}: {self.severity} {self.rule}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The run log's form (``findings[]``)."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "file": str(self.file),
            "line": self.line,
            "column": self.column,
            "section": self.section,
            "message": self.message,
            "statement": self.statement,
            "suppressed": self.suppressed,
            "reason": self.reason,
        }


def format_findings(findings: Iterable[Finding], *, show_suppressed: bool = True) -> str:
    """One line per finding, ``path:line:col: severity rule-id: message``."""
    return "\n".join(f.format() for f in findings if show_suppressed or not f.suppressed)


def summarize(findings: Sequence[Finding]) -> str:
    """``2 errors, 1 warning, 1 ignored`` (``no findings`` when empty)."""
    live = [f for f in findings if not f.suppressed]
    errors = sum(f.severity == ERROR for f in live)
    warnings = len(live) - errors
    ignored = len(findings) - len(live)
    parts = [f"{errors} error{'s' * (errors != 1)}", f"{warnings} warning{'s' * (warnings != 1)}"]
    if ignored:
        parts.append(f"{ignored} ignored")
    return ", ".join(parts) if findings else "no findings"


def effective(findings: Iterable[Finding], overrides: Mapping[str, str]) -> list[Finding]:
    """Apply an environment's severities: rule id (or ``*``) → ``error``/``warning``/``off``.

    ``off`` drops the rule's findings; the others set their severity.  A rule's own entry
    wins over ``*``.  Suppressed findings keep ``suppressed`` and their reason.
    """
    out = []
    for finding in findings:
        level = overrides.get(finding.rule, overrides.get(ALL_RULES))
        if level is None or level == finding.severity:
            out.append(finding)
        elif level != OFF:
            out.append(replace(finding, severity=level))
    return out


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that must stop a deploy: unsuppressed errors."""
    return [f for f in findings if f.severity == ERROR and not f.suppressed]


def validate_overrides(mapping: Any, source: str) -> dict[str, str]:
    """Check a config ``lint:`` mapping (rule id → error|warning|off) and return it.

    ``source`` names where it came from (``db/orchestrator.yml: environments.production.lint``)
    and starts every :class:`ConfigError`.  YAML reads a bare ``off`` as false; that is
    taken as ``off``.
    """
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise ConfigError(
            f"expected a mapping of rule id to {'|'.join(LEVELS)}, got {mapping!r}", source=source
        )
    out: dict[str, str] = {}
    for key, value in mapping.items():
        if key != ALL_RULES and key not in RULES:
            raise ConfigError(f"unknown lint rule {key!r}{did_you_mean(str(key))}", source=source)
        if value is False:
            value = OFF
        if not isinstance(value, str) or value.strip().lower() not in LEVELS:
            raise ConfigError(f"{key}: expected error, warning or off, got {value!r}", source=source)
        out[str(key)] = value.strip().lower()
    return out
