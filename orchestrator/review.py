"""Review: everything that can be judged before the first change, as one step (pure).

The pipeline gathers the facts — the request, the environment's settings, the files
against ``schema_migrations`` (:class:`State`), the :class:`Plan` and its lint findings —
and :func:`judge` turns them into a :class:`Review`: the findings to show, and the one
reason to refuse, if there is one.  No database, no network: it is unit-tested with
plain values, and the pipeline acts on its result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import lint
from .config import PROTECTED, Environment
from .errors import Refused
from .plan import Plan, State


@dataclass(frozen=True)
class Note:
    """A finding about the files against the database (drift, order), on line 1 of a file."""

    severity: str  # error or warning
    rule: str  # drift or out-of-order
    migration: Any  # migrations.Migration
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "rule": self.rule, "file": str(self.migration.path), "line": 1,
                "message": self.message}


@dataclass(frozen=True)
class Review:
    """What the review found: notes about drift and order, the lint findings that apply, and
    why the run must not go on (``None``: it may)."""

    plan: Plan
    notes: tuple[Note, ...]
    findings: tuple[Any, ...]  # lint.Finding
    refusal: str | None

    def raise_refusal(self) -> None:
        if self.refusal:
            raise Refused(self.refusal)


def check_request(env: Environment, *, skip_backup: bool, allow_empty_down: bool = False,
                  reviewed: bool = False) -> None:
    """What is refused before connecting at all: a backup policy the request or the config
    breaks, and ``--allow-empty-down`` in a protected environment without a reviewed plan
    (``reviewed``: a dry run, or ``--expect-plan`` with the hash of one, whose plan names
    each row that would go without its schema)."""
    if allow_empty_down and env.name in PROTECTED and not reviewed:
        raise Refused(f"--allow-empty-down in the protected environment {env.name} needs --expect-plan: "
                      "run `rollback --allow-empty-down --dry-run` first, read which rows would be removed "
                      "without undoing their schema, then pass its plan hash; nothing changed")
    if skip_backup and env.backup_required:
        raise Refused(f"--skip-backup is refused: environment {env.name} requires a backup (backup_required)")
    if env.backup_required and not env.backup:
        raise Refused(
            f"environment {env.name} requires a backup but has no backup store: set "
            f"environments.{env.name}.backup (s3://bucket/prefix or a directory) in the config"
        )


def check_state(state: State) -> None:
    """A ``transaction:false`` migration interrupted half-way stops everything until a person looked."""
    if state.unfinished:
        version, what = next(iter(state.unfinished.items()))
        raise Refused(
            f"migration {version} (transaction:false) was interrupted while {what} and may be half-done; "
            f"check the database, then record what you found with `orchestrator resolve {version} "
            "--applied` or `--not-applied`"
        )


def judge(env: Environment, state: State, plan: Plan, findings: Sequence[Any], *,
          expect_plan: str | None) -> Review:
    """The review of one run.

    ``findings`` are the lint findings of the plan's migrations with the environment's
    severities applied.  A rollback is often an emergency: of its down SQL only what is
    sure to fail at run time is shown and blocks it (forward-migration advice about a
    ``DROP TABLE`` in a down section helps nobody there).
    """
    notes = (*_drift(env, state), *_order(env, state))
    if plan.direction == "down":
        findings = [f for f in findings if f.rule in lint.RUNTIME_FAILURES]
    refusals = (_drift_refusal(env, state), _order_refusal(env, state, plan), _lint_refusal(findings),
                _expect_plan_refusal(plan, expect_plan))
    return Review(plan, notes, tuple(findings), next((r for r in refusals if r), None))


def _drift(env: Environment, state: State) -> list[Note]:
    severity = "error" if env.drift == "error" else "warning"
    return [Note(severity, "drift", m, "this migration changed since it was applied; restore the file and put "
                                       "the change in a new migration") for m in state.changed]


def _order(env: Environment, state: State) -> list[Note]:
    severity = "error" if env.strict else "warning"
    return [Note(severity, "out-of-order", m,
                 f"pending but older than the newest applied version {state.current_version} "
                 "(a branch merged late); give it a newer version or review its order") for m in state.out_of_order]


def _drift_refusal(env: Environment, state: State) -> str | None:
    if not (state.changed and env.drift == "error"):
        return None
    names = ", ".join(m.filename for m in state.changed)
    return (f"applied migrations changed since they were applied: {names}; "
            f"{env.name} refuses to deploy over drift (drift: error)")


def _order_refusal(env: Environment, state: State, plan: Plan) -> str | None:
    if not (state.out_of_order and env.strict and plan.direction == "up"):
        return None
    m = state.out_of_order[0]
    return (f"migration {m.version} is out of order with already applied migrations: the "
            f"version must be higher than the applied {state.current_version} (strict: true)")


def _lint_refusal(findings: Sequence[Any]) -> str | None:
    blocking = lint.blocking(findings)
    if not blocking:
        return None
    first = blocking[0]
    if first.ignorable:
        fix = f"fix it, or add `-- orchestrator:ignore {first.rule} <reason>` above the statement"
    elif first.rule in lint.RUNTIME_FAILURES:
        fix = "fix it: this statement cannot run as it is"
    else:  # bad-ignore: an ignore comment cannot silence a complaint about ignore comments
        fix = "fix the ignore comment"
    return f"{len(blocking)} lint error(s) block this run; first: {first.format()} ({fix})"


def _expect_plan_refusal(plan: Plan, expected: str | None) -> str | None:
    if not expected or expected == plan.hash:
        return None
    return (f"the plan changed since it was reviewed: expected {expected}, now {plan.hash}; "
            "review the new plan (--dry-run) and try again")
