"""GitHub Actions plumbing for the composite action (``action.yml``), standard library only.

The action calls it twice around ``orchestrator``:

``python -m orchestrator.github mask``
    prints ``::add-mask::`` for the password of every ``*DATABASE_URL`` variable (as
    written and percent-decoded), before anything else can print it.

``python -m orchestrator.github publish --action up --environment staging --exit-code N
[--run-log PATH] [--output-file PATH] [--plan-json PATH]``
    the one place that writes the step's outputs (``$GITHUB_OUTPUT``, each value in a
    heredoc with a random delimiter) and the whole step summary (``$GITHUB_STEP_SUMMARY``,
    kept under :data:`SUMMARY_LIMIT`): the run log's Markdown for ``up``/``rollback``
    (outcome, Mermaid chart and table, plan with SQL, backup, health, rollback, restore
    command; for a fleet's run log, one row per database: :func:`fleet_markdown`), or the
    command's text output for ``status``/``verify``/``restore``.

Nothing here imports a third-party package: it runs before and after the deploy, also
when the deploy's own dependencies are what failed.  (:mod:`orchestrator.runlog` and
:mod:`orchestrator.redaction`, which it uses, are standard library only too.)
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

from . import runlog
from .redaction import redact
from .runlog import render_markdown

SUMMARY_LIMIT = 900 * 1024  # bytes; GitHub refuses a step summary over 1 MiB
ANNOTATION_CAP = 10  # GitHub shows 10 errors, 10 warnings and 10 notices per step
# What the CLI itself may annotate per level in the action's run step: one fewer than GitHub
# shows, so that the annotation `publish` adds in the same step (how the run ended) is never
# the one GitHub drops.
CLI_ANNOTATION_CAP = ANNOTATION_CAP - 1
OUTPUT_NAMES = (
    "outcome",
    "exit-code",
    "plan-hash",
    "applied",
    "rolled-back",
    "backup-url",
    "run-log",
    "pending-count",
    "applied-count",
    "current-version",
    "target-version",
    "plan-json",
)
OUTCOME_BY_CODE = {0: "success", 1: "failed", 2: "refused", 3: "needs_restore"}
_HEADLINE = {
    "success": "✅ success",
    "dry_run": "📝 dry run (nothing changed)",
    "rolled_back": "↩️ failed and rolled back",
    "needs_restore": "🚨 failed and NOT rolled back: restore needed",
    "refused": "⛔ refused: nothing changed",
    "failed": "❌ failed",
    "cancelled": "⏹️ cancelled before anything changed",
    "interrupted": "⚠️ cut off: the process died before the run finished",
}


# -- workflow commands ------------------------------------------------------------------


def escape_data(value: str) -> str:
    """GitHub's escaping for a workflow command's message."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """GitHub's escaping for a workflow command's property (``file=``, ``title=``)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def add_mask(value: str, out: TextIO | None = None) -> None:
    """Tell the runner to replace ``value`` with ``***`` in every later log line."""
    if value:
        print(f"::add-mask::{escape_data(value)}", file=out or sys.stdout, flush=True)


class Annotations:
    """``::error``/``::warning``/``::notice`` lines, deduplicated and capped per level.

    GitHub shows only the first 10 of each level per step; the rest would vanish
    silently, so the cap is explicit and :attr:`dropped` counts what was left out
    (the run log and the summary keep the full list).
    """

    def __init__(self, cap: int = ANNOTATION_CAP, out: TextIO | None = None) -> None:
        self.cap = cap
        self.out = out
        self.counts: dict[str, int] = {}
        self.dropped: dict[str, int] = {}
        self._seen: set[tuple[str, str | None, int | None, str]] = set()

    def emit(
        self,
        level: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        title: str | None = None,
        out: TextIO | None = None,
    ) -> bool:
        """Print one annotation (on ``out``, default stdout); False if it was a duplicate or
        over the cap."""
        message = redact(message)
        key = (level, file, line, message)
        if key in self._seen:
            return False
        self._seen.add(key)
        if self.counts.get(level, 0) >= self.cap:
            self.dropped[level] = self.dropped.get(level, 0) + 1
            return False
        self.counts[level] = self.counts.get(level, 0) + 1
        props = []
        if file:
            props.append(f"file={escape_property(file)}")
        if line:
            props.append(f"line={int(line)}")
        if title:
            props.append(f"title={escape_property(redact(title))}")
        head = f"::{level} {','.join(props)}" if props else f"::{level}"
        print(f"{head}::{escape_data(message)}", file=out or self.out or sys.stdout, flush=True)
        return True


# -- secrets ----------------------------------------------------------------------------


def database_url_secrets(environ: Mapping[str, str]) -> list[str]:
    """Passwords found in the ``*DATABASE_URL`` variables (in the userinfo or a
    ``?password=``, as written and decoded) and in ``PGPASSWORD``."""
    found: list[str] = []
    candidates = [environ.get("PGPASSWORD")]
    for name in sorted(environ):
        if not name.endswith("DATABASE_URL") or not environ[name].strip():
            continue
        raw = environ[name].strip()
        try:
            password = urlsplit(raw).password
        except ValueError:
            password = None
        if password is None:  # not parseable as a URL: fall back to user:pass@ by hand
            match = re.search(r"://[^:/@\s]*:([^@\s]+)@", raw)
            password = match[1] if match else None
        candidates += [password, *re.findall(r"[?&]password=([^&#\s]*)", raw)]
    for password in candidates:
        for value in (password, unquote(password or "")):
            if value and value not in found:
                found.append(value)
    return found


def mask_database_urls(environ: Mapping[str, str], out: TextIO | None = None) -> int:
    """``::add-mask::`` each password of :func:`database_url_secrets`; how many."""
    secrets_found = database_url_secrets(environ)
    for value in secrets_found:
        add_mask(value, out)
    return len(secrets_found)


def scrub(text: str, secrets_found: Iterable[str]) -> str:
    """``text`` with URL passwords (and every value in ``secrets_found``) masked."""
    text = redact(text)
    for value in sorted(secrets_found, key=len, reverse=True):
        if value:
            text = text.replace(value, "***")
    return text


# -- environment files ------------------------------------------------------------------


def _delimiter(value: str) -> str:
    while True:
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
        if delimiter not in value:
            return delimiter


def write_outputs(values: Mapping[str, str], path: str | Path | None = None) -> None:
    """Append ``name<<DELIM`` / value / ``DELIM`` for each output to ``$GITHUB_OUTPUT``.

    The delimiter is random per value, so no value (a migration name, an error text)
    can end the heredoc early and set another output.
    """
    target = path or os.environ.get("GITHUB_OUTPUT")
    if not target:
        for name, value in values.items():
            print(f"output {name}={value}")
        return
    with open(target, "a", encoding="utf-8") as fh:
        for name, value in values.items():
            value = "" if value is None else str(value)
            delimiter = _delimiter(value)
            fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def fit(markdown: str, limit: int) -> str:
    """``markdown`` cut at a line boundary to at most ``limit`` bytes (UTF-8), with a note."""
    data = markdown.encode("utf-8")
    if len(data) <= limit:
        return markdown
    note = "\n\n_(summary cut to fit GitHub's limit; the full run log is in the workflow artifact)_\n"
    room = max(limit - len(note.encode("utf-8")), 0)
    cut = data[:room].decode("utf-8", errors="ignore")
    cut = cut[: cut.rfind("\n") + 1] if "\n" in cut else cut
    if cut.count("```") % 2:  # do not leave a code block open
        cut += "```\n"
    return cut + note


def write_summary(markdown: str, path: str | Path | None = None, limit: int = SUMMARY_LIMIT) -> int:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY`` within ``limit`` bytes in all; bytes written."""
    target = path or os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        sys.stdout.write(markdown)
        return len(markdown.encode("utf-8"))
    existing = Path(target).stat().st_size if Path(target).exists() else 0
    text = fit(markdown, max(limit - existing, 0))
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(text)
    return len(text.encode("utf-8"))


# -- what the run log says --------------------------------------------------------------


def outputs_from_run_log(doc: Mapping[str, Any], run_log: str = "") -> dict[str, str]:
    """The action's outputs from a run log document."""
    plan = doc.get("plan") or {}
    direction = plan.get("direction", "up")
    done = "applied" if direction == "up" else "reverted"
    rolled = doc.get("rollback") or {}
    undone = set(rolled.get("migrations") or []) if rolled.get("result") == "ok" else set()
    applied = [
        m["file"]
        for m in doc.get("migrations") or []
        if m.get("direction") == direction and m.get("result") == done and m["file"] not in undone
    ]
    has_plan = bool(doc.get("plan"))
    return {
        "outcome": str(doc.get("outcome") or ""),
        "exit-code": str(doc.get("exit_code") if doc.get("exit_code") is not None else ""),
        "plan-hash": str(plan.get("hash") or ""),
        "applied": ",".join(applied),
        "rolled-back": "true" if doc.get("outcome") == "rolled_back" else "false",
        "backup-url": str((doc.get("backup") or {}).get("url") or ""),
        "run-log": run_log,
        "pending-count": str(len(plan.get("migrations") or [])) if has_plan else "",
        "applied-count": str(len(applied)),
        "current-version": str(plan.get("from_version") or ""),
        "target-version": str(plan.get("target_version") or ""),
        "plan-json": "",
    }


def plan_document(doc: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The run log's plan as the ``plan-json`` file holds it (files relative to the repository)."""
    plan = doc.get("plan")
    if not plan:
        return None
    shown = copy.deepcopy(dict(plan))
    for m in shown.get("migrations") or []:
        if m.get("file"):
            m["file"] = repo_path(m["file"], environ)
    return {
        "action": doc.get("action"),
        "environment": doc.get("environment"),
        "outcome": doc.get("outcome"),
        "pending_count": len(shown.get("migrations") or []),
        **shown,
    }


def _shrunk(doc: Mapping[str, Any], sql_chars: int | None) -> dict[str, Any]:
    """A copy of ``doc`` with each migration's SQL cut to ``sql_chars`` (None: left out)."""
    small = copy.deepcopy(dict(doc))
    for m in (small.get("plan") or {}).get("migrations") or []:
        sql = m.get("sql") or ""
        cut = bool(m.get("sql_cut"))  # the run log has not got the whole SQL either
        if sql_chars is None:
            where = runlog.WHOLE_SQL if cut else "see the run log artifact"
            m["sql"] = f"-- (SQL left out of the summary to fit GitHub's limit; {where})"
        elif len(sql) > sql_chars:
            where = f"left out; {runlog.WHOLE_SQL}" if cut else "in the run log artifact"
            m["sql"] = sql[:sql_chars] + f"\n-- … ({len(sql) - sql_chars} more characters {where})"
    return small


def summary_from_run_log(doc: Mapping[str, Any], limit: int = SUMMARY_LIMIT) -> str:
    """The run log's Markdown, the SQL shortened step by step until it fits ``limit``."""
    for sql_chars in (-1, 4000, 500, None):
        text = render_markdown(dict(doc) if sql_chars == -1 else _shrunk(doc, sql_chars))
        if len(text.encode("utf-8")) <= limit:
            return text
    return fit(text, limit)


def _readable(output: str) -> str:
    """Console output with workflow commands turned back into plain lines."""
    lines = []
    for line in output.splitlines():
        if line.startswith(("::endgroup::", "::add-mask::")):
            continue
        if line.startswith("::group::"):
            lines.append(f"==> {line[len('::group::') :]}")
            continue
        match = re.match(r"^::(error|warning|notice)[^:]*::(.*)$", line)
        if match:
            lines.append(
                f"{match[1]}: {match[2].replace('%0A', chr(10)).replace('%0D', '').replace('%25', '%')}"
            )
            continue
        lines.append(line)
    return "\n".join(lines)


def summary_from_output(
    action: str, environment: str, exit_code: int, output: str, limit: int = SUMMARY_LIMIT
) -> str:
    """A summary for a command without a run log: outcome, exit code and its output."""
    outcome = OUTCOME_BY_CODE.get(exit_code, "failed")
    head = [
        f"## orchestrator {action} on {environment}: {_HEADLINE.get(outcome, outcome)}",
        "",
        f"Exit code `{exit_code}`.",
        "",
        "<details open><summary>Output</summary>",
        "",
        "```text",
    ]
    tail = ["```", "", "</details>", ""]
    body = _readable(output).rstrip("\n").replace("```", "`\u200b``")
    room = limit - len("\n".join(head + tail).encode("utf-8")) - 200
    data = body.encode("utf-8")
    if len(data) > room:  # the end of the output says how it ended: keep that
        body = "… (the beginning is left out; the full output is in the workflow artifact)\n" + data[
            len(data) - max(room, 0) :
        ].decode("utf-8", errors="ignore")
    return "\n".join(head + [body] + tail)


_MIGRATION_ERROR = re.compile(
    r"^(?P<path>\S+?\.sql):(?P<line>\d+): (?P<direction>up|down) failed: (?P<message>.*)$"
)


def repo_path(path: str, environ: Mapping[str, str]) -> str:
    """``path`` (absolute, or relative to the current directory: the action's
    working-directory) relative to the repository (``$GITHUB_WORKSPACE``), as annotations
    want it; unchanged when outside the repository or without ``$GITHUB_WORKSPACE``."""
    workspace = environ.get("GITHUB_WORKSPACE")
    if not workspace:
        return path
    full = Path(path) if Path(path).is_absolute() else Path.cwd() / path
    root = Path(workspace)
    try:
        return full.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path


# -- fleets -----------------------------------------------------------------------------

FLEET_SCHEMA = "orchestrator.fleet-log/1"  # orchestrator.fleet's run log: one row per database


def fleet_markdown(doc: Mapping[str, Any]) -> str:
    """A fleet run log as the step summary shows it: how the fleet ended, then one row per
    database (each database's own run log and summary are beside the fleet's)."""
    outcome = str(doc.get("outcome") or "")
    rows = doc.get("databases") or []
    lines = [
        (f"## orchestrator {doc.get('action')} on {doc.get('environment')}: {len(rows)} databases, "
         f"{_HEADLINE.get(outcome, outcome)}"),
        "",
        (f"Exit code `{doc.get('exit_code')}` (the worst of the databases': 3 > 1 > 2 > 0); fleet policy "
         f"`{doc.get('policy')}`, at most {doc.get('parallel')} at a time."
         + (f" Signals: {', '.join(doc['signals'])}." if doc.get("signals") else "")),
        "",
        "| database | outcome | exit code | applied | backup | run log |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        code = row.get("exit_code")
        cells = [
            str(row.get("database")),
            _HEADLINE.get(row.get("outcome") or "", str(row.get("outcome") or "")),
            "-" if code is None else str(code),
            ", ".join(f"`{Path(f).name}`" for f in row.get("applied") or []) or "-",
            str(row.get("backup") or "-"),
            Path(str(row.get("run_log"))).name if row.get("run_log") else "-",
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    errors = [(row.get("database"), row.get("error")) for row in rows if row.get("error")]
    if errors:
        lines += ["", *(f"- **{name}**: {error}" for name, error in errors)]
    return "\n".join(lines) + "\n"


def fleet_outputs(doc: Mapping[str, Any], run_log: str) -> dict[str, str]:
    """The action's outputs for a fleet: its outcome and code; ``applied`` as ``database:file``."""
    values = {name: "" for name in OUTPUT_NAMES}
    rows = doc.get("databases") or []
    values.update({
        "outcome": str(doc.get("outcome") or ""),
        "exit-code": str(doc.get("exit_code") if doc.get("exit_code") is not None else ""),
        "applied": ",".join(f"{r.get('database')}:{Path(f).name}" for r in rows for f in r.get("applied") or []),
        "rolled-back": "true" if any(r.get("outcome") == "rolled_back" for r in rows) else "false",
        "run-log": run_log,
        "applied-count": str(sum(len(r.get("applied") or []) for r in rows)),
    })
    return values


# -- publish ----------------------------------------------------------------------------


def publish(
    *,
    action: str,
    environment: str,
    exit_code: int,
    run_log: Path | None = None,
    output_file: Path | None = None,
    plan_json: Path | None = None,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> dict[str, str]:
    """Write the step's outputs (``plan_json``: where to write the plan file) and its whole
    summary; one annotation saying how it ended (the CLI left room for it: at most
    :data:`CLI_ANNOTATION_CAP` of its own per level)."""
    environ = os.environ if environ is None else environ
    secrets_found = database_url_secrets(environ)
    notes = Annotations(out=out)
    marked = False  # the failure is already annotated on its file and line
    output = ""
    if output_file and output_file.is_file():
        output = output_file.read_text(encoding="utf-8", errors="replace")
    doc = None
    if run_log and run_log.is_file():
        try:
            doc = runlog.read(run_log)  # a killed run's log still says what it did, from its journal
        except (OSError, ValueError):
            doc = None
    if doc is not None and doc.get("schema") == FLEET_SCHEMA:
        values = fleet_outputs(doc, str(run_log))
        values["exit-code"] = str(exit_code)
        summary = fit(fleet_markdown(doc), SUMMARY_LIMIT)
        error = doc.get("error")
    elif doc is not None:
        values = outputs_from_run_log(doc, str(run_log))
        values["exit-code"] = str(exit_code)  # the process's code is the truth
        shown = copy.deepcopy(doc)  # migration files as the repository names them
        for m in [*((shown.get("plan") or {}).get("migrations") or []), *(shown.get("findings") or [])]:
            if isinstance(m, dict) and m.get("file"):
                m["file"] = repo_path(m["file"], environ)
        planned = plan_document(doc, environ)
        if planned is not None and plan_json is not None:
            plan_json.parent.mkdir(parents=True, exist_ok=True)
            plan_json.write_text(json.dumps(planned, indent=2) + "\n", encoding="utf-8")
            values["plan-json"] = str(plan_json)
        summary = summary_from_run_log(shown)  # findings were annotated by the run itself, on their lines
        error = doc.get("error")
    else:
        values = {name: "" for name in OUTPUT_NAMES}
        values.update(
            {
                "outcome": OUTCOME_BY_CODE.get(exit_code, "failed"),
                "exit-code": str(exit_code),
                "rolled-back": "false",
            }
        )
        summary = summary_from_output(action, environment, exit_code, output)
        last = [line for line in output.splitlines() if line.startswith("error: ")]
        error = last[-1].removeprefix("error: ") if last else None
        # verify (and anything else without a run log) does not annotate a failing migration
        # itself: mark its line here, from the error line the CLI ended with.
        failed = _MIGRATION_ERROR.match(error or "")
        if failed and exit_code != 0:
            marked = notes.emit(
                "error",
                failed["message"],
                file=repo_path(failed["path"], environ),
                line=int(failed["line"]),
                title=f"migration {failed['direction']} failed",
            )
    if exit_code != 0 and not marked:
        notes.emit(
            "error",
            error or f"orchestrator {action} exited with code {exit_code}",
            title=f"orchestrator {action} on {environment}: {values['outcome']}",
        )
    elif values["outcome"] == "dry_run" and values["plan-hash"]:
        notes.emit(
            "notice",
            f"dry run of {action} on {environment}: plan hash {values['plan-hash']} "
            "(pass it as expect_plan to apply exactly this plan)",
            title="orchestrator plan reviewed",
        )
    write_outputs(
        {k: scrub(v, secrets_found) for k, v in values.items()}, environ.get("GITHUB_OUTPUT") or None
    )
    write_summary(scrub(summary, secrets_found), environ.get("GITHUB_STEP_SUMMARY") or None)
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator.github",
        description="GitHub Actions helpers for orchestrator's composite action.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("mask", help="::add-mask:: the password of every *DATABASE_URL variable")
    p = sub.add_parser("publish", help="write the step outputs and the step summary")
    p.add_argument("--action", required=True)
    p.add_argument("--environment", required=True)
    p.add_argument("--exit-code", type=int, required=True)
    p.add_argument("--run-log", type=Path)
    p.add_argument("--output-file", type=Path)
    p.add_argument("--plan-json", type=Path, help="where to write the plan as JSON (when there is one)")
    args = parser.parse_args(argv)
    if args.command == "mask":
        mask_database_urls(os.environ)
        return 0
    publish(
        action=args.action,
        environment=args.environment,
        exit_code=args.exit_code,
        run_log=args.run_log,
        output_file=args.output_file,
        plan_json=args.plan_json,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
