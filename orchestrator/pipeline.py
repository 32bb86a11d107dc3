"""The deploy pipeline, in the guide's order: review, backup, apply, health, rollback, record.

:func:`deploy` reads top to bottom as that sequence.  Each step is a function of the
:class:`Run` that returns what it found and records it in the run log; the edges (SQL,
pg_dump, S3, HTTP) live in their own modules and reach the pipeline through
:class:`Parts`, which tests replace.

One place decides how a run ends, :func:`conclude`.  Before the first change, a run
ends refused (exit 2), failed or cancelled (exit 1): the database is untouched.  From
the first change on, whatever stops the run (a failing statement, an unhealthy app, an
exception anywhere, SIGINT/SIGTERM/SIGHUP, a lost connection) ends in exactly one of
two ways: what this run changed, as the database itself records it, is undone newest
first (exit 1, ``rolled_back``), or, where that is impossible or a second signal or the
deadline cuts it short, the run stops and prints the restore command for its backup
(exit 3, ``needs_restore``).  The run log is written as the run goes and always ends
with the outcome and exit code the process ends with.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import backup, console, health, lint, runlog
from . import review as checks
from .backup import rds
from .config import Config, Timeouts
from .database import Database
from .engine import (
    annotate_findings,
    lint_severities,
    load_state,
    open_database,
    open_existing,
    run_one,
    store_opener,
)
from .errors import EXIT_FAILED, EXIT_OK, EXIT_RESTORE, MigrationFailed, OrchestratorError, Refused, RunFailed
from .plan import Plan, Script, State, down_plan, up_plan
from .redaction import redact, register_secret
from .runlog import RunLog, Step
from .signals import Trap, trapped

RECONNECT_WAIT = 60.0  # seconds to wait for a restarting server before giving up on the rollback
# After the first signal, how long a rollback may take.  GitHub sends SIGTERM 7.5 s after
# SIGINT and kills the process tree 2.5 s later: the rollback must be done, and the run
# log written, before then.
SIGNAL_BUDGET = 6.0
MIN_STEP = 0.5  # seconds a rollback step needs at least to be worth starting


@dataclass(frozen=True)
class Request:
    """What the user asked for."""

    action: str  # "up" or "rollback"
    dry_run: bool = False
    steps: int = 1
    expect_plan: str | None = None
    skip_backup: bool = False
    run_log: Path | None = None
    allow_empty_down: bool = False  # rollback: past an empty down section by removing its row only


Probe = Callable[[Database | None, "str | None", str], health.HealthResult]


@dataclass(frozen=True)
class Parts:
    """The edges the pipeline talks to: its backup store, its health probe, its output.

    :meth:`of` builds them from the config; tests hand in their own.
    """

    store: Callable[[], backup.Store] | None  # opens the backup store; None where none is configured
    probe: Probe  # (database, expected version, phase) -> verdict
    out: Any = console  # say / write / warn / note / group / annotate, as :mod:`console` has them

    @classmethod
    def of(cls, config: Config, out: Any = console) -> Parts:
        env = config.environment

        def probe(db: Database | None, expected: str | None, phase: str) -> health.HealthResult:
            db_probe = health.database_probe(db, expected, table=config.migrations_table) if db else None
            return health.check(env.health.url, db_probe, env.health,
                                on_attempt=lambda a: out.say(f"health: {a.describe()}"))

        return cls(store_opener(config), probe, out)


@dataclass(frozen=True)
class Outcome:
    """How a run ended: the run log's ``outcome`` and the process's exit code."""

    name: str  # success, dry_run, refused, failed, cancelled, rolled_back, needs_restore
    code: int
    message: str | None = None
    cause: BaseException | None = None

    def raise_if_failed(self) -> None:
        """Hand a failure to the CLI, which prints it and exits with :attr:`code`."""
        if self.code != EXIT_OK:
            raise RunFailed(self.message or self.name, exit_code=self.code, outcome=self.name) from (
                self.cause if isinstance(self.cause, Exception) else None)


@dataclass
class Run:
    """One run: what was asked, the parts it uses, and what the steps found so far."""

    config: Config
    request: Request
    log: RunLog
    parts: Parts
    trap: Trap = field(default_factory=Trap)
    db: Database | None = None
    state: State | None = None
    plan: Plan | None = None
    store: backup.Store | None = None
    backup: backup.BackupInfo | rds.Snapshot | None = None
    changing: bool = False  # from the first change on, a failure means rolling back
    unhealthy_before: bool = False

    @property
    def env(self):  # noqa: ANN201  (config.Environment)
        return self.config.environment

    @property
    def out(self) -> Any:
        return self.parts.out


class _Unhealthy(Exception):
    """Health did not recover within its retries (handled inside the pipeline)."""


def deploy(config: Config, request: Request, parts: Parts | None = None) -> int:
    """Run the pipeline; the run log is written whatever happens, and says what the exit code says."""
    parts = parts or Parts.of(config)
    env = config.environment
    log = RunLog(env.name, request.action, request.dry_run, env.database, on_error=parts.out.warn)
    run = Run(config, request, log, parts)
    with trapped() as run.trap:
        log.open(request.run_log or config.state_dir / "runs" / f"{log.run_id}.json")
        stack = ExitStack()
        try:
            try:
                outcome = _steps(run, stack)
            except BaseException as exc:  # noqa: BLE001  (every way a run can stop ends here)
                outcome = conclude(run, exc)
        finally:
            with run.trap.held():
                _close(run, stack)
        with run.trap.held():  # the outcome is decided; a late signal only gets it recorded
            record(run, outcome)
        run.trap.settle()  # and the process ends with the code recorded, whatever comes now
    outcome.raise_if_failed()
    return EXIT_OK


def _steps(run: Run, stack: ExitStack) -> Outcome:
    """The sequence itself; :func:`conclude` takes over wherever it stops."""
    plan = review(run, stack)
    if run.request.dry_run or not plan.migrations:
        return Outcome("dry_run" if run.request.dry_run else "success", EXIT_OK)
    run.backup = take_backup(run)
    run.changing = True
    apply(run)
    check_health(run)
    return Outcome("success", EXIT_OK)


def conclude(run: Run, exc: BaseException) -> Outcome:
    """The one place that decides how a stopped run ends (see the module's docstring)."""
    if not run.changing:
        return _unchanged(run, exc)
    return roll_back(run, exc)


def _unchanged(run: Run, exc: BaseException) -> Outcome:
    """Stopped before the first change: the database is as it was."""
    if isinstance(exc, OrchestratorError):
        return Outcome(exc.outcome, exc.exit_code, str(exc), exc)
    if isinstance(exc, KeyboardInterrupt):
        return Outcome("cancelled", EXIT_FAILED,
                       f"{exc or 'interrupted'} before anything changed; the database is as it was", exc)
    return Outcome("failed", EXIT_FAILED, f"{_crash(run, exc)}; nothing was changed", exc)


def _crash(run: Run, exc: BaseException) -> str:
    """A bug: its traceback goes to the run log and stderr, its one line into the outcome."""
    text = "".join(traceback.format_exception(exc))
    run.log.traceback = redact(text)
    run.out.note(text.rstrip())
    return f"crashed: {type(exc).__name__}: {exc}"


def _close(run: Run, stack: ExitStack) -> None:
    """Release the lock and the connection; a failure to do so changes no outcome."""
    try:
        stack.close()
    except Exception as exc:  # noqa: BLE001  (the server frees the lock with the connection anyway)
        run.out.warn(f"closing the database connection failed: {exc}")


# -- 1. review --------------------------------------------------------------------------


def review(run: Run, stack: ExitStack) -> Plan:
    """Compute and print the plan; refuse before anything changes if it cannot go on.

    Everything that can be judged is judged here (:mod:`review`): the files parse, each
    migration's script (what apply will execute) can run, drift, order, lint, the
    expected plan hash; then the app's health before.
    """
    step = run.log.step("review")
    env, request, out = run.env, run.request, run.out
    with out.group(f"Review: {request.action} on {env.name}"):
        checks.check_request(env, skip_backup=request.skip_backup, allow_empty_down=request.allow_empty_down,
                             reviewed=request.dry_run or bool(request.expect_plan))
        if request.dry_run:
            run.db = stack.enter_context(open_existing(run.config))
        else:
            run.db = stack.enter_context(open_database(run.config, create=request.action == "up"))
            stack.enter_context(run.db.lock(env.lock_wait))  # held until the last step is done
        run.state = state = load_state(run.config, run.db)
        _report_unfinished_runs(run, state.applied_set if run.db is not None else None)
        checks.check_state(state)
        run.plan = plan = (up_plan(state) if request.action == "up"
                           else down_plan(state, request.steps, allow_empty_down=request.allow_empty_down))
        for m in plan.migrations:  # before anything prints or records the SQL
            for secret in lint.secret_literals(m):
                register_secret(secret)
        findings = lint.effective(lint.lint(plan.migrations, direction=plan.direction), lint_severities(run.config))
        verdict = checks.judge(env, state, plan, findings, expect_plan=request.expect_plan)
        run.log.plan = plan_document(plan, run.config)
        run.log.findings.extend([*(n.to_dict() for n in verdict.notes), *(f.to_dict() for f in verdict.findings)])
        run.log.save()
        _show(run, verdict)
        verdict.raise_refusal()
        if plan.migrations and run.db is not None and env.health.url:
            _health_before(run, plan, step)
    step.end("ok", pending=len(plan.migrations), plan_hash=plan.hash)
    return plan


def _show(run: Run, verdict: checks.Review) -> None:
    """The notes, the plan and its lint findings, as the terminal and GitHub show them."""
    out = run.out
    for note in verdict.notes:
        line = f"{note.migration.filename}: {note.rule}: {note.message}"
        out.warn(line) if note.severity == "warning" else out.say(line)
        out.annotate(note.severity, note.message, file=run.config.relative(note.migration.path), line=1,
                     title=note.rule)
    _print_plan(run, verdict.plan)
    if verdict.findings:
        out.say(f"Lint: {lint.summarize(verdict.findings)}")
        out.write(lint.format_findings(verdict.findings) + "\n")
    annotate_findings(run.config, verdict.findings)


def _health_before(run: Run, plan: Plan, step: Step) -> None:
    """An app already unhealthy stops a deploy; a rollback goes ahead (it is the remedy)."""
    result = _health_check(run, plan.from_version, "before")
    if result.healthy:
        return
    if plan.direction == "down":
        run.unhealthy_before = True
        run.out.warn(f"the app is unhealthy before the rollback ({result.summary()}); rolling back anyway, "
                     "health is judged after it")
        return
    step.end("failed", healthy_before=False)
    raise Refused(
        f"the app is unhealthy before anything changed ({result.summary()}); "
        "nothing was applied, since a later rollback could not be judged"
    )


def _report_unfinished_runs(run: Run, applied: set[str] | None) -> None:
    """Earlier runs whose process died mid-way (kill -9, a runner's last resort): say what they left.

    The database is the truth: a run's journal may say a migration committed whose commit a
    server crash then lost (every commit of a run but its last is asynchronous), so each
    one's result is checked against ``applied`` (the versions recorded now; None when the
    database does not exist yet) and reported as what the database holds."""
    folders = {run.config.state_dir / "runs"}
    if run.log.path is not None:
        folders.add(run.log.path.parent)
    for folder in folders:
        for doc in runlog.unfinished_runs(folder, run.env.name, run.env.database):
            entries = doc.get("migrations", [])
            done = [m for m in entries if m.get("result") in ("applied", "reverted")]
            kept = [m["file"] for m in done if _held(m, applied)]
            lost = [m["file"] for m in done if not _held(m, applied)]
            running = [m["file"] for m in entries if m.get("result") == "running"]
            step = next((s["name"] for s in doc.get("steps", []) if s.get("status") == "running"), "an unknown step")
            run.out.warn(
                f"run {doc.get('run_id')} (started {doc.get('started_at')}) never finished: its process died "
                f"during {step}; the database holds what it completed of {', '.join(kept) or 'no migration'}"
                + (f"; no longer in the database (a server crash lost commits not yet on disk, or they were "
                   f"undone since): {', '.join(lost)}" if lost else "")
                + (f"; it was running {', '.join(running)} (rolled back by the server)" if running else "")
            )
            run.log.unfinished_before.append({"run_id": doc.get("run_id"), "started_at": doc.get("started_at"),
                                              "step": step, "completed": kept, "lost": lost, "running": running})


def _held(entry: dict, applied: set[str] | None) -> bool:
    """Whether the database still shows what a journal entry says a migration did."""
    if applied is None:
        return False
    return (entry.get("version") in applied) == (entry.get("result") == "applied")


def plan_document(plan: Plan, config: Config) -> dict:
    """The plan as the run log records it: each migration's exact statements, up to a bound."""
    budget = runlog.SqlBudget()
    return {
        "direction": plan.direction,
        "hash": plan.hash,
        "from_version": plan.from_version,
        "target_version": plan.target_version,
        "migrations": [
            {
                "version": s.version,
                "file": config.relative(s.migration.path),
                "checksum": s.migration.checksum,
                "transaction": s.transaction,
                **budget.take(s.paragraphs()),
                "reversible": s.version not in plan.irreversible,
            }
            for s in plan.scripts
        ],
    }


def _print_plan(run: Run, plan: Plan) -> None:
    verb = "apply" if plan.direction == "up" else "roll back"
    tail = "; dry run, nothing is changed" if run.request.dry_run else ""
    run.out.say(f"Plan: {len(plan.migrations)} migration(s) to {verb}, "
                f"from version {plan.from_version or '(none)'} to {plan.target_version or '(none)'}{tail}")
    if plan.migrations:
        run.out.write(plan.render())
    run.out.say(f"Plan hash: {plan.hash}")


# -- 2. backup --------------------------------------------------------------------------


def take_backup(run: Run) -> backup.BackupInfo | rds.Snapshot | None:
    """pg_dump streamed into the store and verified; if it fails, nothing is applied."""
    step = run.log.step("backup")
    env = run.env
    if rds.is_snapshot(env.backup) and not run.request.skip_backup:
        return take_snapshot(run, step)
    if run.request.skip_backup or run.parts.store is None:
        why = "--skip-backup" if run.request.skip_backup else "no backup store configured"
        run.out.warn(f"no backup taken ({why})")
        step.end("skipped", reason=why)
        return None
    assert run.db is not None and run.plan is not None
    with run.out.group(f"Backup to {env.backup}"):
        run.store = run.parts.store()
        info = backup.create_backup(
            run.db.url,
            run.store,
            environment=env.name,
            run_id=run.log.run_id,
            schema_version=run.plan.from_version,
            progress=lambda size, seconds: run.out.say(_progress(size, seconds)),
            compression=env.compression,
            member=env.database or "",
        )
        run.log.backup = asdict(info)
        run.out.say(f"Backup verified: {info.url} ({info.size} bytes, sha256 {info.sha256[:12]}…, "
                    f"{info.seconds:.1f}s)")
    step.end("ok", url=info.url, size=info.size)
    return info


def take_snapshot(run: Run, step: Step) -> rds.Snapshot:
    """An RDS snapshot of the environment's instance or cluster, tagged, waited for until
    available; if it fails or is interrupted it is deleted and nothing is applied."""
    assert run.db is not None and run.plan is not None
    env = run.env
    snapshots = rds.RdsSnapshots(env.backup, f"environments.{env.name}.backup")
    with run.out.group(f"Backup: RDS snapshot of {snapshots.source}"):
        snap = snapshots.take(environment=env.name, database=run.db.url.database, run_id=run.log.run_id,
                              plan_hash=run.plan.hash, schema_version=run.plan.from_version,
                              tick=lambda status, seconds: run.out.say(f"snapshot: {status} after {seconds:.0f}s"))
        run.log.backup = snap.record()
        run.out.say(f"Backup verified: snapshot {snap.arn} is {snap.status} ({snap.seconds:.1f}s)")
    step.end("ok", url=snap.url, arn=snap.arn)
    return snap


def _progress(size: int, seconds: float) -> str:
    rate = size / seconds / 2**20 if seconds > 0 else 0.0
    return f"backup: {size / 2**20:.1f} MiB in {seconds:.0f}s ({rate:.1f} MiB/s)"


# -- 3. apply ---------------------------------------------------------------------------


def apply(run: Run) -> None:
    """The plan's scripts, one by one, each with the environment's timeouts; only the last
    commit waits for the disk, which makes the earlier ones durable too."""
    step = run.log.step("apply")
    assert run.db is not None and run.plan is not None
    plan = run.plan
    with run.out.group(f"Apply: {len(plan.migrations)} migration(s) {plan.direction}"):
        run.db.ensure_table()
        try:
            for script in plan.scripts:
                _run_script(run, script, run.env.timeouts, durable=script is plan.scripts[-1])
        except MigrationFailed as exc:
            step.end("failed", error=str(exc))
            run.out.annotate("error", exc.detail, file=run.config.relative(exc.path), line=exc.line,
                             title=f"migration {exc.direction} failed")
            raise
    step.end("ok", count=len(plan.migrations))


def _run_script(run: Run, script: Script, timeouts: Timeouts, *, durable: bool) -> None:
    assert run.db is not None
    m = script.migration
    run.log.migration_started(m.version, m.filename, script.direction)
    try:
        seconds = run_one(run.db, script, timeouts, out=run.out, durable=durable)
    except BaseException as exc:
        run.log.migration(m.version, m.filename, script.direction, None, "failed", str(exc) or type(exc).__name__)
        raise
    run.log.migration(m.version, m.filename, script.direction, seconds,
                      "applied" if script.direction == "up" else "reverted")


# -- 4. health --------------------------------------------------------------------------


def check_health(run: Run) -> None:
    """The database probe and the app's /health/db; unhealthy starts the rollback.

    After a rollback that went ahead with the app unhealthy before it, an app still
    unhealthy is reported, not undone: the database is where it was asked to be.
    """
    step = run.log.step("health")
    assert run.plan is not None
    result = _health_check(run, run.plan.target_version, "after")
    if result.healthy:
        step.end("ok", summary=result.summary())
    elif run.unhealthy_before:
        step.end("failed", summary=result.summary(), unhealthy_before=True)
        run.out.warn(f"the app is still unhealthy after the rollback, as it was before it: {result.summary()}")
    else:
        step.end("failed", summary=result.summary())
        raise _Unhealthy(f"health check failed after the migrations: {result.summary()}")


def _health_check(run: Run, expected: str | None, phase: str) -> health.HealthResult:
    with run.out.group(f"Health ({phase.replace('_', ' ')})"):
        result = run.parts.probe(run.db, expected, phase)
    run.log.health[phase] = [a.to_dict() for a in result.attempts]
    return result


# -- 5. rollback ------------------------------------------------------------------------


class _CannotUndo(Exception):
    """Why this run's changes cannot be undone automatically (a restore is needed)."""


def roll_back(run: Run, cause: BaseException) -> Outcome:
    """Undo what this run changed, newest first; where that is impossible, say how to restore.

    What to undo is read from the database, not from what the run believes it did: a
    signal can land between a commit and the line that would have noted it.  After a
    signal the rollback has :data:`SIGNAL_BUDGET` seconds from that signal; a second
    signal, or the budget running out, stops it with the restore command.
    """
    reason = _reason(run, cause)
    step = run.log.step("rollback")
    run.log.rollback = {"reason": reason, "migrations": [], "result": "running"}
    run.log.save()
    try:
        undone = _undo(run, cause)
    except _CannotUndo as why:
        return _needs_restore(run, step, f"{reason}; {why}")
    except KeyboardInterrupt as again:
        return _needs_restore(run, step, f"{reason}; {again or 'interrupted'} during the rollback")
    except MigrationFailed as exc:
        return _needs_restore(run, step, f"{reason}; rolling back failed: {exc}")
    except Exception as exc:  # noqa: BLE001  (a bug in the rollback: the database needs the restore)
        return _needs_restore(run, step, f"{reason}; rolling back failed: {_crash(run, exc)}")
    run.log.rollback["result"] = "ok"
    step.end("ok", migrations=run.log.rollback["migrations"])
    if undone and not run.trap.interrupted:
        try:
            after = _health_check(run, run.plan.from_version if run.plan else None, "after_rollback")
            run.log.rollback["healthy_after"] = after.healthy
        except BaseException as exc:  # noqa: BLE001  (the database is already as before: report only)
            run.out.warn(f"health after the rollback was not checked: {exc or type(exc).__name__}")
    return Outcome("rolled_back", EXIT_FAILED,
                   f"{reason}; rolled back {len(undone)} migration(s): the database is as before the run", cause)


def _reason(run: Run, cause: BaseException) -> str:
    if isinstance(cause, (OrchestratorError, _Unhealthy, KeyboardInterrupt)):
        return str(cause) or "interrupted"
    return _crash(run, cause)


def _undo(run: Run, cause: BaseException) -> list[Script]:
    """Run the reverse scripts of what the database says this run changed; what was undone."""
    assert run.db is not None and run.plan is not None and run.state is not None
    db, plan = run.db, run.plan
    if (isinstance(cause, MigrationFailed) and cause.partial) or db.half_done is not None:
        raise _CannotUndo("a transaction:false migration stopped half-way")
    if not run.env.auto_rollback:
        raise _CannotUndo("automatic rollback is off (auto_rollback: false)")
    if db.lost:
        run.out.warn("the database connection was lost; reconnecting to roll back")
        left = run.trap.remaining(SIGNAL_BUDGET)
        try:
            db.reconnect(RECONNECT_WAIT if left is None else max(left, 0.0))
        except OrchestratorError as exc:
            raise _CannotUndo(f"the database stayed unreachable ({exc}), so nothing could be rolled back: "
                              "check its state when it is back") from exc
        run.log.rollback["reconnected"] = True
    undo = _changed_by_run(run.state, plan, set(db.applied_versions()))
    run.log.rollback["migrations"] = [s.migration.filename for s in undo]
    scripts = []
    for changed in undo:
        back = plan.reverse[changed.version]
        if isinstance(back, str):
            raise _CannotUndo(back)
        scripts.append(back)
    with run.out.group(f"Rollback: {len(scripts)} migration(s)"):
        for script in scripts:
            _run_script(run, script, _rollback_timeouts(run), durable=script is scripts[-1])
    return scripts


def _changed_by_run(before: State, plan: Plan, applied_now: set[str]) -> list[Script]:
    """The plan's scripts the database shows as done, newest first."""
    applied_before = before.applied_set
    if plan.direction == "up":
        done = [s for s in plan.scripts if s.version in applied_now - applied_before]
    else:
        done = [s for s in plan.scripts if s.version in applied_before - applied_now]
    return done[::-1]


def _rollback_timeouts(run: Run) -> Timeouts:
    """The environment's timeouts; after a signal, cut to what is left of the budget."""
    left = run.trap.remaining(SIGNAL_BUDGET)
    if left is None:
        return run.env.timeouts
    if left < MIN_STEP:
        raise _CannotUndo(f"no time left to roll back within {SIGNAL_BUDGET:g}s of the signal")
    return Timeouts(lock=min(left, run.env.lock_timeout or left), statement=left)


def _needs_restore(run: Run, step: Step, why: str) -> Outcome:
    run.log.rollback = {**(run.log.rollback or {}), "result": "failed"}
    step.end("failed", error=why)
    if isinstance(run.backup, rds.Snapshot):
        steps = rds.restore_steps(run.backup)
        run.log.restore_command = next(line for line in steps.splitlines() if not line.startswith("#"))
        return Outcome("needs_restore", EXIT_RESTORE,
                       f"{why}. The database needs a restore from this run's RDS snapshot:\n{steps}")
    if run.backup is not None:
        member = f" --database {run.env.database}" if run.env.database else ""  # one database of a fleet
        command = f"orchestrator restore -e {run.env.name}{member} --backup {run.backup.url} --yes"
        run.log.restore_command = command
        return Outcome("needs_restore", EXIT_RESTORE,
                       f"{why}. The database needs a restore from this run's backup:\n  {command}")
    return Outcome("needs_restore", EXIT_RESTORE,
                   f"{why}. No backup was taken by this run: restore from your own backups")


# -- 6. record --------------------------------------------------------------------------


def record(run: Run, outcome: Outcome) -> None:
    """Write the run log and its summary, then keep a copy next to the backup.

    The local copy comes first: a runner may kill the process while the copy is stored.
    Neither failing changes the outcome.
    """
    log = run.log
    step = log.step("record")
    log.signals = list(run.trap.received)
    copy = _copy_target(run)
    step.end("ok", path=str(log.path), stored=copy[1] if copy else None)
    log.finish(outcome.name, outcome.code, outcome.message)
    if log.write():
        run.out.say(f"Run log: {log.path} (summary {log.path.with_suffix('.md').name}); outcome {outcome.name}")
    if copy is None or run.store is None:
        return
    try:
        run.store.put_text(copy[0], log.to_json())
    except Exception as exc:  # noqa: BLE001  (a warning: the outcome is already decided)
        step.end("failed", stored=None, error=f"the run log could not be stored: {exc}")
        run.out.warn(f"the run log could not be stored next to the backup: {exc}")
        log.write()


def _copy_target(run: Run) -> tuple[str, str] | None:
    """Where the copy of the run log goes in the backup store (name, URL), or None for no copy."""
    log = run.log
    if run.request.dry_run or run.parts.store is None or log.steps["backup"].status in ("running", "failed"):
        return None  # a store that just failed is not tried again
    try:
        run.store = run.store or run.parts.store()
    except OrchestratorError as exc:
        run.out.warn(f"the run log cannot be stored next to the backups: {exc}")
        return None
    name = backup.sibling(run.backup.key, ".run.json") if run.backup else f"{run.env.name}/{log.run_id}.run.json"
    return name, run.store.url_for(name)


def history_documents(store: backup.Store, environment: str) -> list[dict]:
    """Past runs' logs from the store, newest first."""
    docs = []
    for name in store.list_texts(".run.json", under=environment):
        try:
            docs.append(json.loads(store.get_text(name)))
        except (OrchestratorError, ValueError):
            console.warn(f"unreadable run log {name}")
    return sorted(docs, key=lambda d: d.get("started_at") or "", reverse=True)
