"""The run log: one JSON document per run, plus a Markdown summary beside it.

The log is written as the run goes, so even a process killed outright (``kill -9``, a
runner's last resort) leaves a log of what it did up to then: a snapshot of the whole
document when the run starts, after its review and when it ends, and between them one
line per event (a step or a migration starting or ending) appended to a journal beside
it (``<run>.journal``).  :func:`read` puts the two together; the next run finds a log
whose process is gone (:func:`unfinished_runs`), reports it and closes it as
``interrupted``.  A log that cannot be written is a warning, never a different outcome.
Everything written passes through :func:`redaction.redact`.  The JSON layout is
versioned (``schema``) and documented in docs/run-log.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .redaction import redact

SCHEMA = "orchestrator.run-log/1"
STEPS = ("review", "backup", "apply", "health", "rollback", "record")


SQL_LIMIT = 256 * 1024  # bytes of one migration's SQL the run log keeps
SQL_TOTAL_LIMIT = 512 * 1024  # bytes of SQL it keeps for the whole plan (its Markdown stays well under 1 MiB)
WHOLE_SQL = "the whole SQL is in the migration file and in the dry run's output"


class SqlBudget:
    """How much of each migration's SQL the run log keeps: its statements, whole, up to
    ``per_migration`` bytes and while the plan's ``total`` lasts.

    A 20 MB seed file would make a 20 MB run log and a summary GitHub cuts off.  Past the
    bound the entry says so (``sql_cut``) and keeps the size and SHA-256 of the whole SQL;
    the plan hash still covers every statement.  Whole statements only: a secret literal
    is never cut in two, so redaction still recognises it.
    """

    def __init__(self, per_migration: int = SQL_LIMIT, total: int = SQL_TOTAL_LIMIT) -> None:
        self.per_migration = per_migration
        self.left = total

    def take(self, paragraphs: Iterable[str]) -> dict[str, Any]:
        """The run log's ``sql``, ``sql_size``, ``sql_sha256`` and ``sql_cut`` of one
        migration's statements (as the dry run prints them)."""
        digest, size, kept, room, fits = hashlib.sha256(), 0, [], min(self.per_migration, self.left), True
        for text in paragraphs:
            data = text.encode("utf-8")
            digest.update(data)
            size += len(data)
            fits = fits and len(data) <= room
            if fits:
                kept.append(text)
                room -= len(data)
        sql = "".join(kept)
        kept_size = len(sql.encode("utf-8"))
        self.left -= kept_size
        entry = {"sql": sql, "sql_size": size, "sql_sha256": digest.hexdigest(), "sql_cut": kept_size < size}
        if entry["sql_cut"]:
            entry["sql"] += (f"-- [orchestrator] cut here: the run log keeps {kept_size} of {size} bytes of this "
                             f"migration's SQL (sha256 of the whole: {entry['sql_sha256']}); {WHOLE_SQL}\n")
        return entry


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


def _process() -> dict[str, Any]:
    """Which process writes the log, so a later run can tell a finished log from an orphan."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


@dataclass
class Step:
    """One pipeline step: its status (ok, failed, skipped) and what it found."""

    name: str
    status: str = "pending"
    started_at: str | None = None
    seconds: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    _t0: float = 0.0
    _journal: Callable[[dict[str, Any]], None] | None = field(default=None, repr=False)

    def start(self) -> Step:
        self.started_at = utc_now()
        self._t0 = time.monotonic()
        self.status = "running"
        self._note()
        return self

    def end(self, status: str, **details: Any) -> None:
        self.status = status
        self.seconds = round(time.monotonic() - self._t0, 3) if self.started_at else None
        self.details.update(details)
        self._note()

    def _note(self) -> None:
        if self._journal is not None:
            self._journal({"event": "step", **self.to_dict()})

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
    database: str | None = None  # the fleet member this run is on (``--database``); None outside a fleet
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
    traceback: str | None = None  # only when orchestrator itself crashed (a bug)
    signals: list[str] = field(default_factory=list)
    unfinished_before: list[dict[str, Any]] = field(default_factory=list)  # earlier runs found cut off
    context: dict[str, str | None] = field(default_factory=github_context)
    process: dict[str, Any] = field(default_factory=_process)
    path: Path | None = None
    on_error: Callable[[str], None] = lambda message: None  # the pipeline passes its output's warn
    _seq: int = 0
    _failed: bool = False  # the last write failed: events wait for the final write
    _warned: bool = False

    def __post_init__(self) -> None:
        for step in self.steps.values():
            step._journal = self._event

    # -- as the run goes ---------------------------------------------------------------

    def open(self, path: Path) -> None:
        """Start writing the log at ``path``: the first snapshot and an empty journal, then
        events as they come.  The journal lives until the log is finished, so a later run
        finds the logs that never finished by their journals alone."""
        self.path = path
        self._guard(lambda: path.parent.mkdir(parents=True, exist_ok=True))
        self.save()
        self._guard(lambda: journal_path(path).touch())

    def save(self) -> None:
        """Write the whole document (atomically: a reader never sees half of it)."""
        if self.path is not None:
            self._guard(lambda: write_atomic(self.path, self.to_json()))

    def _event(self, event: dict[str, Any]) -> None:
        if self.path is None or self._failed:
            return
        self._seq += 1
        line = redact(json.dumps({"seq": self._seq, **event}, default=str)) + "\n"

        def append() -> None:
            with journal_path(self.path).open("a", encoding="utf-8") as f:
                f.write(line)

        self._guard(append)

    def _guard(self, write: Callable[[], object]) -> None:
        """A log that cannot be written is a warning (once), never a different outcome."""
        try:
            write()
        except OSError as exc:
            self._failed = True
            if not self._warned:
                self._warned = True
                self.on_error(f"the run log cannot be written to {self.path}: {exc.strerror or exc}; "
                              "the run goes on without it")

    def step(self, name: str) -> Step:
        """The named step, started now."""
        return self.steps[name].start()

    def migration_started(self, version: str, filename: str, direction: str) -> None:
        """A migration is about to run (journaled only: if the process dies now, the log says so)."""
        self._event({"event": "migration", "version": version, "file": filename, "direction": direction,
                     "seconds": None, "result": "running", "error": None})

    def migration(self, version: str, filename: str, direction: str, seconds: float | None,
                  result: str, error: str | None = None) -> None:
        """Record one migration run."""
        entry = {
            "version": version, "file": filename, "direction": direction,
            "seconds": None if seconds is None else round(seconds, 4),
            "result": result, "error": error,
        }
        self.migrations.append(entry)
        self._event({"event": "migration", **entry})

    def finish(self, outcome: str, exit_code: int | None, error: str | None = None) -> None:
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
            "database": self.database,
            "action": self.action,
            "dry_run": self.dry_run,
            **self.context,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "error": self.error,
            "traceback": self.traceback,
            "signals": self.signals,
            "process": self.process,
            "journal_seq": self._seq,
            "unfinished_before": self.unfinished_before,
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

    def write(self) -> bool:
        """The final document and its Markdown summary (``.md``) beside it; the journal,
        now folded into the document, goes.  False if they could not be written."""
        if self.path is None:
            return False
        path = self.path
        self._failed = False  # the disk may have come back: try once more
        self.save()
        self._guard(lambda: write_atomic(path.with_suffix(".md"), self.to_markdown()))
        if not self._failed:
            journal_path(path).unlink(missing_ok=True)
        return not self._failed


def journal_path(path: Path) -> Path:
    """Where the events of the run log at ``path`` are appended while it runs."""
    return path.with_suffix(".journal")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` so that a reader (the next run, the action's publish step) never sees half of it."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


# -- reading ----------------------------------------------------------------------------


def read(path: Path) -> dict[str, Any]:
    """A run log as written, with the events of its journal applied if it never finished."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    journal = journal_path(path)
    if doc.get("outcome") != "running" or not journal.exists():
        return doc
    steps = {s["name"]: s for s in doc.get("steps", [])}
    for line in journal.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except ValueError:  # the last line of a killed writer may be cut short
            continue
        if event.get("seq", 0) <= doc.get("journal_seq", 0):
            continue
        kind = event.pop("event", None)
        event.pop("seq", None)
        if kind == "step" and event.get("name") in steps:
            steps[event["name"]].update(event)
        elif kind == "migration":
            doc["migrations"] = [m for m in doc.get("migrations", []) if not _same_migration(m, event)]
            doc["migrations"].append(event)
    return doc


def _same_migration(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("result") == "running" and (a.get("version"), a.get("direction")) == (b.get("version"), b.get("direction"))


def _alive(process: dict[str, Any]) -> bool:
    """Whether the process that wrote a log still runs (on another host: assume it does)."""
    if process.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(process.get("pid", 0)), 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError):
        return True
    return True


def unfinished_runs(directory: Path, environment: str, database: str | None = None) -> list[dict[str, Any]]:
    """Run logs in ``directory`` of ``environment`` (and of the fleet member ``database``:
    another member's cut-off run is that member's to report) whose process died before they finished.

    Only logs with a journal beside them can be unfinished (a finished log has none), so
    the history of finished runs is never read.  Each is closed as ``interrupted`` (its
    journal folded in, a summary written) so it is reported once, and returned, oldest first.
    """
    found = []
    for journal in directory.glob("*.journal"):
        path = journal.with_suffix(".json")
        try:
            doc = read(path)
        except (OSError, ValueError):
            continue
        if (doc.get("outcome") != "running" or (doc.get("environment"), doc.get("database")) != (environment, database)
                or _alive(doc.get("process") or {})):
            continue
        doc.update(outcome="interrupted", exit_code=None, ended_at=doc.get("ended_at") or utc_now(),
                   error="the process ended before the run finished (killed, or its machine stopped); "
                         "schema_migrations says which of the migrations it recorded are in the database")
        try:
            write_atomic(path, redact(json.dumps(doc, indent=2, default=str)) + "\n")
            write_atomic(path.with_suffix(".md"), redact(render_markdown(doc)))
            journal_path(path).unlink(missing_ok=True)
        except OSError:
            pass
        found.append(doc)
    return sorted(found, key=lambda doc: doc.get("started_at") or "")


# -- Markdown ---------------------------------------------------------------------------

_ICON = {"ok": "✅", "failed": "❌", "skipped": "⏭️", "refused": "⛔", "warning": "⚠️"}
_COLOUR = {"ok": "#2da44e", "failed": "#cf222e", "skipped": "#8c959f", "refused": "#bf8700",
           "warning": "#bf8700", "pending": "#8c959f", "running": "#bf8700"}
_OUTCOME = {
    "success": "✅ success", "dry_run": "📝 dry run (nothing changed)",
    "rolled_back": "↩️ failed and rolled back: database as before the run",
    "needs_restore": "🚨 failed and NOT rolled back: restore needed", "refused": "⛔ refused: nothing changed",
    "failed": "❌ failed", "cancelled": "⏹️ cancelled before anything changed",
    "running": "⏳ did not finish", "interrupted": "⚠️ cut off: the process died before the run finished",
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


def _cut_note(migration: dict[str, Any]) -> list[str]:
    """The line above a cut migration's SQL: how big the whole is, its hash, where it is."""
    if not migration.get("sql_cut"):
        return []
    note = (f"_Only the first statements are shown: the SQL is {migration['sql_size']} bytes (sha256 "
            f"`{migration['sql_sha256']}`); {WHOLE_SQL}._")
    return [note, ""]


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
            out += [f"<details><summary><code>{m['file']}</code>{' (SQL cut)' if m.get('sql_cut') else ''}</summary>",
                    "", *_cut_note(m), "```sql",
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
