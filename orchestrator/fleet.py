"""Fleets: one environment, several databases (``databases:`` in ``db/orchestrator.yml``).

``up``, ``rollback`` and ``status`` on a fleet run one orchestrator process per database,
at most ``parallel`` at a time: the same command with ``--database NAME``.  A process per
database, not a thread, because a run is one process by design: the signal trap
(:mod:`orchestrator.signals`) is process-wide, and each database must get its own plan,
backup, health checks, run log, rollback and exit code exactly as a single database does.
The children read their URLs from the variables the config names (inherited environment),
never from argv.

The parent only schedules, relays and records:

* each child's output, each line prefixed with ``[NAME]`` (workflow commands, ``::…``,
  pass as they are: GitHub reads them only at the start of a line);
* SIGINT, SIGTERM and SIGHUP, each passed on to every running child (which rolls back
  within its own budget); no new child starts after one.  Children run in their own
  session, so a terminal's Ctrl-C reaches them once, through the parent;
* the fleet policy: ``continue`` (the others deploy whatever one does) or ``rollback``
  (after a failure no new database starts, and those this run applied are rolled back,
  each by its own ``rollback --steps N`` run);
* the fleet run log (JSON, one row per database) and its Markdown summary beside it.

The exit code is the worst of the databases' codes: 3 (needs restore) > 1 (failed, rolled
back) > 2 (refused, nothing changed) > 0.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from . import console, github, runlog, signals
from .config import Config, Member
from .errors import EXIT_FAILED, EXIT_OK, EXIT_RESTORE, EXIT_USAGE, RunFailed, UsageError
from .redaction import redact

COMMANDS = ("status", "up", "rollback")
RANK = {EXIT_OK: 0, EXIT_USAGE: 1, EXIT_FAILED: 2, EXIT_RESTORE: 3}
NESTED = "ORCHESTRATOR_FLEET"  # set in each child: a child never starts a fleet of its own
POLL = 0.05  # seconds between looks at the children and the signals


def worst(codes: Iterable[int]) -> int:
    """The fleet's exit code: 3 > 1 > 2 > 0.  Any other code (a child killed by a signal,
    a crash) leaves its database in a state nobody recorded, so it counts as 3."""
    return max((c if c in RANK else EXIT_RESTORE for c in codes), key=RANK.__getitem__, default=EXIT_OK)


@dataclass
class Child:
    """One database's orchestrator process: how it is started, its output, its exit code."""

    name: str
    argv: list[str]
    run_log: Path | None = None
    capture: bool = False  # keep stdout whole (status --json), instead of relaying it line by line
    proc: subprocess.Popen | None = None
    stdout: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)
    code: int | None = None

    def start(self, env: dict[str, str], lock: threading.Lock) -> None:
        """Start the process in its own session (signals reach it only through the parent)."""
        self.proc = subprocess.Popen([sys.executable, "-m", "orchestrator", *self.argv], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     encoding="utf-8", errors="replace", start_new_session=True)
        pipes = [(self.proc.stdout, "stdout"), (self.proc.stderr, "stderr")]
        self.readers = [threading.Thread(target=self._relay, args=(pipe, which, lock), daemon=True)
                        for pipe, which in pipes]
        for reader in self.readers:
            reader.start()

    def _relay(self, pipe: IO[str], which: str, lock: threading.Lock) -> None:
        """Each line of one of the child's pipes, prefixed with the database's name."""
        with pipe:
            self._lines(pipe, which, lock)

    def _lines(self, pipe: IO[str], which: str, lock: threading.Lock) -> None:
        for line in pipe:
            if self.capture and which == "stdout":
                self.stdout.append(line)
                continue
            shown = line if line.startswith("::") else f"[{self.name}] {line}"
            with lock:
                if which == "stdout":
                    console.write(shown)
                else:
                    console.note(shown.rstrip("\n"))

    def poll(self) -> bool:
        """True once the process has ended and all its output is relayed."""
        if self.proc is None or self.proc.poll() is None:
            return False
        for reader in self.readers:
            reader.join()
        self.code = self.proc.returncode
        return True

    def send(self, signame: str) -> None:
        """Pass a signal on, unless the process has already ended."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(getattr(signal, signame))


def run(config: Config, args: argparse.Namespace) -> int:
    """``status``, ``up`` or ``rollback`` on every selected database of a fleet environment."""
    env = config.environment
    if args.command not in COMMANDS:
        names = ", ".join(m.name for m in env.members)
        raise UsageError(f"{args.command} works on one database; environment {env.name!r} has "
                         f"{len(env.members)} ({names}): pick one with --database NAME")
    if os.environ.get(NESTED):
        raise UsageError(f"a fleet's child would start a fleet of its own ({NESTED} is set); pass one --database")
    fleet_id = runlog.new_run_id()
    if args.command == "status":
        return _status(config, args, fleet_id)
    return _deploy(config, args, fleet_id)


# -- the children's command lines --------------------------------------------------------


def global_args(args: argparse.Namespace) -> list[str]:
    """The global options as the parent got them (the children resolve the same config)."""
    out = ["-e", args.environment]
    for flag in ("config", "schema_file", "migrations_table", "wait_timeout", "wait_interval"):
        value = getattr(args, flag)
        if value is not None:
            out.append(f"--{flag.replace('_', '-')}={value}")
    for flag in ("env_file", "migrations_dir"):
        out += [f"--{flag.replace('_', '-')}={value}" for value in getattr(args, flag) or ()]
    if args.wait:
        out.append("--wait")
    # One schema file, several databases writing it at once: a fleet never writes it.
    return [*out, "--no-dump-schema"]


def _deploy_args(command: str, args: argparse.Namespace, run_log: Path, steps: int | None = None) -> list[str]:
    """``up``/``rollback`` with the parent's flags (``steps``: a fleet rollback's own count)."""
    out = [command]
    if command == "rollback":
        out.append(f"--steps={steps if steps is not None else args.steps}")
        if steps is None and args.allow_empty_down:
            out.append("--allow-empty-down")
    if steps is None:
        out += [flag for flag, on in (("--dry-run", args.dry_run), ("--skip-backup", args.skip_backup)) if on]
        if args.expect_plan:
            out.append(f"--expect-plan={args.expect_plan}")
    return [*out, f"--run-log={run_log}"]


def _child_env(fleet_id: str) -> dict[str, str]:
    return {**os.environ, NESTED: fleet_id, "PYTHONUNBUFFERED": "1"}


# -- running them --------------------------------------------------------------------------


def run_children(children: list[Child], parallel: int, env: dict[str, str], *, stop_on_failure: bool) -> list[str]:
    """Run ``children``, at most ``parallel`` at a time; the signals the parent received.

    Signals are held (counted, not raised) while children run: each one is passed on to
    every running child, and no further child starts.  With ``stop_on_failure`` no further
    child starts once one has failed either.  A child never started keeps ``code`` None.
    """
    lock = threading.Lock()
    pending, running = deque(children), []
    with signals.trapped() as trap, trap.held():
        passed = 0
        while pending or running:
            for signame in trap.received[passed:]:
                for child in running:
                    child.send(signame)
            passed = len(trap.received)
            if trap.interrupted or (stop_on_failure and any(c.code not in (None, EXIT_OK) for c in children)):
                pending.clear()
            while pending and len(running) < parallel:
                child = pending.popleft()
                child.start(env, lock)
                running.append(child)
            running = [c for c in running if not c.poll()]
            time.sleep(POLL)
        return list(trap.received)


# -- status ----------------------------------------------------------------------------------


def _status(config: Config, args: argparse.Namespace, fleet_id: str) -> int:
    """Each database's ``status``, its output prefixed (``--json``: one document, by database)."""
    flags = [flag for flag, on in (("--json", args.json), ("--exit-code", args.exit_code),
                                   ("--quiet", args.quiet)) if on]
    children = [Child(m.name, [*global_args(args), "status", *flags, f"--database={m.name}"], capture=args.json)
                for m in config.environment.members]
    run_children(children, config.environment.parallel, _child_env(fleet_id), stop_on_failure=False)
    if args.json:
        docs = {c.name: _json_or_text("".join(c.stdout)) for c in children}
        console.write(json.dumps({"environment": config.environment.name, "databases": docs}, indent=2) + "\n")
    elif not args.quiet:
        console.table(["database", "exit code"], [[c.name, _code(c.code)] for c in children], right=[1])
    return worst(c.code for c in children if c.code is not None)


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {"output": text}


# -- up / rollback ----------------------------------------------------------------------------


def _deploy(config: Config, args: argparse.Namespace, fleet_id: str) -> int:
    """The pipeline on each database, the fleet policy, then the fleet run log."""
    env = config.environment
    path = args.run_log or config.state_dir / "runs" / f"{fleet_id}.fleet.json"
    path = path if path.is_absolute() else Path.cwd() / path
    log = FleetLog(path, {
        "schema": github.FLEET_SCHEMA, "fleet_id": fleet_id, "environment": env.name, "action": args.command,
        "dry_run": args.dry_run, "policy": env.fleet_policy, "parallel": env.parallel,
        "started_at": runlog.utc_now(), "outcome": "running", "databases": [],
    })
    children = [_deploy_child(m, args, _member_log(path, m.name)) for m in env.members]
    log.write()
    rollback = env.fleet_policy == "rollback" and args.command == "up" and not args.dry_run
    received = run_children(children, env.parallel, _child_env(fleet_id), stop_on_failure=rollback)
    rows = [_row(c) for c in children]
    if rollback and not received and any(r["exit_code"] not in (None, EXIT_OK) for r in rows):
        received = _roll_back_applied(args, env.parallel, fleet_id, path, rows)
    code = worst(r["exit_code"] for r in rows if r["exit_code"] is not None)
    outcome = "dry_run" if args.dry_run and code == EXIT_OK else github.OUTCOME_BY_CODE[code]
    failed = [r["database"] for r in rows if r["exit_code"] not in (None, EXIT_OK)]
    error = (f"{len(failed)} of {len(rows)} databases did not succeed ({', '.join(failed)}); fleet exit code {code}"
             if failed else None)
    log.finish(rows, received, outcome, code, error)
    _show(rows)
    console.say(f"Fleet run log: {path} (summary {path.with_suffix('.md').name}); outcome {outcome}")
    if error:
        raise RunFailed(error, exit_code=code, outcome=outcome)
    return EXIT_OK


def _member_log(path: Path, name: str, suffix: str = "") -> Path:
    """A database's own run log, beside the fleet's: ``<fleet>.<name>[suffix].json``."""
    return path.with_name(f"{path.stem}.{name}{suffix}.json")


def _deploy_child(member: Member, args: argparse.Namespace, run_log: Path) -> Child:
    argv = [*global_args(args), *_deploy_args(args.command, args, run_log), f"--database={member.name}"]
    return Child(member.name, argv, run_log)


def _row(child: Child) -> dict[str, Any]:
    """One database's row of the fleet run log, from its own run log."""
    doc: dict[str, Any] = {}
    if child.run_log is not None and child.run_log.is_file():
        try:
            doc = runlog.read(child.run_log)
        except (OSError, ValueError):
            doc = {}
    outputs = github.outputs_from_run_log(doc) if doc else {}
    if child.code is None:
        outcome = "not_started"
    else:
        outcome = doc.get("outcome") or github.OUTCOME_BY_CODE.get(child.code, "failed")
    return {
        "database": child.name,
        "outcome": outcome,
        "exit_code": child.code,
        "applied": [f for f in (outputs.get("applied") or "").split(",") if f],
        "plan_hash": outputs.get("plan-hash") or None,
        "backup": outputs.get("backup-url") or None,
        "error": doc.get("error"),
        "run_log": str(child.run_log) if child.code is not None else None,
    }


def _roll_back_applied(args: argparse.Namespace, parallel: int, fleet_id: str, path: Path,
                       rows: list[dict[str, Any]]) -> list[str]:
    """Policy ``rollback``: undo, with a ``rollback --steps N`` run each, what this run
    applied to the databases that succeeded; their rows say how that ended."""
    done = {r["database"]: r for r in rows if r["exit_code"] == EXIT_OK and r["applied"]}
    children = []
    for name, row in done.items():
        log = _member_log(path, name, ".rollback")
        deploy = _deploy_args("rollback", args, log, steps=len(row["applied"]))
        children.append(Child(name, [*global_args(args), *deploy, f"--database={name}"], log))
    received = run_children(children, parallel, _child_env(fleet_id), stop_on_failure=False)
    for child in children:
        row = done[child.name]
        row["rollback_run_log"] = str(child.run_log)
        if child.code == EXIT_OK:
            row.update(outcome="rolled_back", exit_code=EXIT_FAILED, applied=[],
                       error="rolled back by the fleet (fleet_policy: rollback) after another database failed")
        elif child.code == EXIT_RESTORE or child.code not in RANK:
            row.update(outcome="needs_restore", exit_code=EXIT_RESTORE,
                       error=f"the fleet's rollback failed: see {child.run_log}")
        else:
            row.update(outcome="rollback_failed", exit_code=EXIT_FAILED,
                       error=f"the fleet's rollback did not run; the migrations stay applied: see {child.run_log}")
    return received


def _show(rows: list[dict[str, Any]]) -> None:
    console.say()
    console.table(["database", "outcome", "exit code", "applied", "backup"],
                  [[r["database"], r["outcome"], _code(r["exit_code"]), ",".join(r["applied"]) or "-",
                    r["backup"] or "-"] for r in rows], right=[2])


def _code(code: int | None) -> str:
    return "-" if code is None else str(code)


class FleetLog:
    """The fleet run log: written when the fleet starts and when it ends, with a Markdown
    summary beside it (``.md``), both redacted.  A log that cannot be written is a warning."""

    def __init__(self, path: Path, doc: dict[str, Any]) -> None:
        self.path = path
        self.doc = doc

    def finish(self, rows: list[dict[str, Any]], received: list[str], outcome: str, code: int,
               error: str | None) -> None:
        self.doc.update(databases=rows, signals=received, outcome=outcome, exit_code=code, error=error,
                        ended_at=runlog.utc_now())
        self.write()

    def write(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            runlog.write_atomic(self.path, redact(json.dumps(self.doc, indent=2)) + "\n")
            runlog.write_atomic(self.path.with_suffix(".md"), redact(github.fleet_markdown(self.doc)))
        except OSError as exc:
            console.warn(f"the fleet run log could not be written to {self.path}: {exc}")
