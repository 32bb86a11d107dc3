"""The run log: one JSON document per run, plus a Markdown summary beside it.

The pipeline fills a :class:`RunLog` as it goes; :meth:`RunLog.write` is called in a
``finally`` so a crashed step still leaves a log that tells the truth.  Everything
written passes through :func:`redaction.redact`.  The JSON layout is versioned
(``schema``) and documented in the README.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .redaction import redact

SCHEMA = "orchestrator.run-log/1"
STEPS = ("review", "backup", "apply", "health", "rollback", "record")


def utc_now() -> str:
    """ISO 8601 UTC with seconds, the one time format of the run log."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_id() -> str:
    """Eight hex digits: unique enough per environment, short enough to type.

    Backup keys put a UTC timestamp in front of it, so they sort by time.
    """
    return secrets.token_hex(4)


def github_context() -> dict[str, str | None]:
    """Who and what triggered the run, when it runs in GitHub Actions."""
    env = os.environ
    run_url = None
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        run_url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return {
        "actor": env.get("GITHUB_ACTOR") or env.get("USER"),
        "git_sha": env.get("GITHUB_SHA"),
        "git_ref": env.get("GITHUB_REF"),
        "workflow_run_url": run_url,
    }


@dataclass
class Step:
    """One pipeline step: its status (ok, failed, skipped) and what it found."""

    name: str
    status: str = "pending"
    started_at: str | None = None
    seconds: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    _t0: float = 0.0

    def start(self) -> Step:
        self.started_at = utc_now()
        self._t0 = time.monotonic()
        self.status = "running"
        return self

    def end(self, status: str, **details: Any) -> None:
        self.status = status
        self.seconds = round(time.monotonic() - self._t0, 3) if self.started_at else None
        self.details.update(details)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "started_at": self.started_at,
            "seconds": self.seconds,
            "details": self.details,
        }


@dataclass
class RunLog:
    """Everything a run did, in the order it did it."""

    environment: str
    action: str
    dry_run: bool
    run_id: str = field(default_factory=new_run_id)
    started_at: str = field(default_factory=utc_now)
    ended_at: str | None = None
    plan: dict[str, Any] | None = None
    steps: dict[str, Step] = field(default_factory=lambda: {name: Step(name) for name in STEPS})
    migrations: list[dict[str, Any]] = field(default_factory=list)
    backup: dict[str, Any] | None = None
    health: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rollback: dict[str, Any] | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    restore_command: str | None = None
    outcome: str = "running"
    exit_code: int | None = None
    error: str | None = None
    context: dict[str, str | None] = field(default_factory=github_context)

    def step(self, name: str) -> Step:
        """The named step, started now."""
        return self.steps[name].start()

    def migration(self, version: str, filename: str, direction: str, seconds: float | None,
                  result: str, error: str | None = None) -> None:
        """Record one migration run."""
        self.migrations.append({
            "version": version, "file": filename, "direction": direction,
            "seconds": None if seconds is None else round(seconds, 4),
            "result": result, "error": error,
        })

    def finish(self, outcome: str, exit_code: int, error: str | None = None) -> None:
        """Close the log: the outcome, the exit code and the error, if any."""
        self.outcome = outcome
        self.exit_code = exit_code
        self.error = error
        self.ended_at = utc_now()
        for step in self.steps.values():
            if step.status == "pending":
                step.status = "skipped"
            elif step.status == "running":
                step.end("failed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "run_id": self.run_id,
            "environment": self.environment,
            "action": self.action,
            "dry_run": self.dry_run,
            **self.context,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "error": self.error,
            "plan": self.plan,
            "steps": [s.to_dict() for s in self.steps.values()],
            "migrations": self.migrations,
            "backup": self.backup,
            "health": self.health,
            "rollback": self.rollback,
            "findings": self.findings,
            "restore_command": self.restore_command,
        }

    def to_json(self) -> str:
        return redact(json.dumps(self.to_dict(), indent=2, default=str)) + "\n"

    def to_markdown(self) -> str:
        return redact(render_markdown(self.to_dict()))

    def write(self, path: Path) -> tuple[Path, Path]:
        """Write ``path`` (JSON) and the Markdown summary beside it (``.md``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")
        md = path.with_suffix(".md")
        md.write_text(self.to_markdown(), encoding="utf-8")
        return path, md


# -- Markdown ---------------------------------------------------------------------------

_ICON = {"ok": "✅", "failed": "❌", "skipped": "⏭️", "refused": "⛔", "warning": "⚠️"}
_COLOUR = {"ok": "#2da44e", "failed": "#cf222e", "skipped": "#8c959f", "refused": "#bf8700",
           "warning": "#bf8700", "pending": "#8c959f", "running": "#bf8700"}
_OUTCOME = {
    "success": "✅ success", "dry_run": "📝 dry run (nothing changed)",
    "rolled_back": "↩️ failed and rolled back: database as before the run",
    "needs_restore": "🚨 failed and NOT rolled back: restore needed", "refused": "⛔ refused: nothing changed",
    "failed": "❌ failed", "running": "⏳ did not finish",
}


def _mermaid(steps: list[dict[str, Any]]) -> str:
    """A small left-to-right chart of the pipeline, each step coloured by how it ended."""
    chart = ["```mermaid", "flowchart LR"]
    shown = [s for s in steps if s["name"] != "record"]
    for s in shown:
        chart.append(f'  {s["name"]}["{s["name"]}: {s["status"]}"]')
    chart.append("  " + " --> ".join(s["name"] for s in shown if s["name"] != "rollback"))
    chart.append("  health -. unhealthy .-> rollback")
    chart.append("  apply -. failed .-> rollback")
    for s in shown:
        chart.append(f'  style {s["name"]} fill:{_COLOUR.get(s["status"], "#8c959f")},color:#fff')
    chart.append("```")
    return "\n".join(chart)


def render_markdown(doc: dict[str, Any]) -> str:
    """The step summary: outcome first, then chart and table, plan, backup, health, rollback."""
    out = [
        f"## orchestrator {doc['action']} on {doc['environment']}: {_OUTCOME.get(doc['outcome'], doc['outcome'])}",
        "",
        f"Run `{doc['run_id']}` · started {doc['started_at']} · ended {doc['ended_at']}"
        + (f" · [workflow run]({doc['workflow_run_url']})" if doc.get("workflow_run_url") else ""),
        "",
    ]
    if doc.get("error"):
        out += [f"> **Error:** {doc['error']}", ""]
    if doc.get("restore_command"):
        out += ["**Restore needed.** Run:", "", "```bash", doc["restore_command"], "```", ""]
    out += [_mermaid(doc["steps"]), "", "| step | status | seconds |", "| --- | --- | --- |"]
    for s in doc["steps"]:
        secs = "" if s["seconds"] is None else f"{s['seconds']:.2f}"
        out.append(f"| {s['name']} | {_ICON.get(s['status'], '')} {s['status']} | {secs} |")
    out.append("")
    plan = doc.get("plan")
    if plan:
        out += [f"### Plan ({plan['direction']}, {len(plan['migrations'])} migration(s))", "",
                f"Plan hash: `{plan['hash']}` · from version `{plan['from_version'] or '(none)'}` "
                f"to `{plan['target_version'] or '(none)'}`", ""]
        for m in plan["migrations"]:
            out += [f"<details><summary><code>{m['file']}</code></summary>", "", "```sql",
                    m["sql"].rstrip("\n").replace("```", "`\u200b``"), "```", "", "</details>", ""]
    if doc.get("findings"):
        out += ["### Findings", "", "| severity | rule | where | message |", "| --- | --- | --- | --- |"]
        for f in doc["findings"]:
            severity = f"ignored ({f.get('reason')})" if f.get("suppressed") else f["severity"]
            out.append(f"| {severity} | {f['rule']} | {f['file']}:{f['line']} | {f['message']} |")
        out.append("")
    if doc.get("migrations"):
        out += ["### Migrations run", "", "| file | direction | result | seconds |", "| --- | --- | --- | --- |"]
        for m in doc["migrations"]:
            secs = "" if m["seconds"] is None else f"{m['seconds']:.3f}"
            out.append(f"| {m['file']} | {m['direction']} | {m['result']} | {secs} |")
        out.append("")
    if doc.get("backup"):
        b = doc["backup"]
        out += ["### Backup", "", f"- URL: `{b.get('url')}`", f"- size: {b.get('size')} bytes",
                f"- SHA-256: `{b.get('sha256')}`", f"- created: {b.get('created')} in {b.get('seconds')} s", ""]
    for phase, attempts in (doc.get("health") or {}).items():
        out += [f"### Health ({phase.replace('_', ' ')})", "", "| # | check | ok | detail | seconds |",
                "| --- | --- | --- | --- | --- |"]
        for a in attempts:
            probe = a.get("probe") or a.get("check", "")
            out.append(f"| {a.get('number', '')} | {probe} | {'✅' if a.get('ok') else '❌'} | "
                       f"{a.get('detail', '')} | {a.get('seconds', '')} |")
        out.append("")
    if doc.get("rollback"):
        r = doc["rollback"]
        out += ["### Rollback", "", f"- why: {r.get('reason')}", f"- result: {r.get('result')}",
                f"- migrations: {', '.join(r.get('migrations') or []) or 'none'}", ""]
    return "\n".join(out) + "\n"
