"""The deploy pipeline, in the guide's order: review, backup, apply, health, rollback, record.

:func:`deploy` reads top to bottom as that sequence.  Each step is a function of the
:class:`Run` that records what it did in the run log; the edges (SQL, pg_dump, S3,
HTTP) live in their own modules.  A failure after anything changed ends in exactly one
of two ways: every migration this run changed is undone (exit 1, ``rolled_back``), or,
if that is impossible, the run stops and prints the restore command for its backup
(exit 3, ``needs_restore``).
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import backup, console, database, health, lint
from .config import Config
from .database import Database, Timeouts
from .engine import annotate_findings, load_state, open_database, open_existing, run_one
from .errors import MigrationFailed, NeedsRestore, OrchestratorError, Refused, RolledBack
from .migrations import Migration
from .plan import Plan, State, down_plan, up_plan
from .redaction import register_secret
from .runlog import RunLog, Step

OPPOSITE = {"up": "down", "down": "up"}
RECONNECT_WAIT = 60.0  # seconds to wait for a restarting server before giving up on the rollback


@dataclass(frozen=True)
class Request:
    """What the user asked for."""

    action: str  # "up" or "rollback"
    dry_run: bool = False
    steps: int = 1
    expect_plan: str | None = None
    skip_backup: bool = False
    run_log: Path | None = None


@dataclass
class Run:
    """One run's state as it moves through the steps."""

    config: Config
    request: Request
    log: RunLog
    db: Database | None = None
    plan: Plan | None = None
    store: backup.Store | None = None
    backup: backup.BackupInfo | None = None
    changed: list[Migration] = field(default_factory=list)  # in the order they ran

    @property
    def env(self):  # noqa: ANN201  (config.Environment)
        return self.config.environment

    @property
    def timeouts(self) -> Timeouts:
        return Timeouts(
            lock=_pg_ms(self.env.lock_timeout),
            statement=_pg_ms(self.env.statement_timeout),
            lock_retries=self.env.lock_retries,
            retry_delay=self.env.lock_retry_delay,
        )


class _Unhealthy(Exception):
    """Health did not recover within its retries (handled inside the pipeline)."""


def deploy(config: Config, request: Request) -> int:
    """Run the pipeline; the run log is written whatever happens."""
    run = Run(config, request, RunLog(config.environment.name, request.action, request.dry_run))
    outcome, code, error = "failed", 1, "crashed"
    try:
        with ExitStack() as stack:
            review(run, stack)
            if not request.dry_run and run.plan and run.plan.migrations:
                take_backup(run)
                try:
                    apply(run)
                    check_health(run)
                except (MigrationFailed, _Unhealthy) as exc:
                    roll_back(run, str(exc), partial=getattr(exc, "partial", False))
        outcome, code, error = ("dry_run" if request.dry_run else "success"), 0, None
    except OrchestratorError as exc:
        outcome, code, error = exc.outcome, exc.exit_code, str(exc)
        raise
    except BaseException as exc:
        error = f"crashed: {type(exc).__name__}: {exc}"
        raise
    finally:
        record(run, outcome, code, error)
    return 0


# -- 1. review --------------------------------------------------------------------------


def review(run: Run, stack: ExitStack) -> None:
    """Compute and print the plan; refuse before anything changes if it cannot go on."""
    step = run.log.step("review")
    env, request = run.env, run.request
    with console.group(f"Review: {request.action} on {env.name}"):
        _check_backup_policy(run)
        if request.dry_run:
            run.db = stack.enter_context(open_existing(run.config))
        else:
            run.db = stack.enter_context(open_database(run.config, create=request.action == "up"))
            stack.enter_context(run.db.lock(env.lock_wait))  # held until the last step is done
        state = load_state(run.config, run.db)
        _check_drift_and_order(run, state)
        plan = up_plan(state) if request.action == "up" else down_plan(state, request.steps)
        run.plan = plan
        for m in plan.migrations:  # before anything prints the SQL
            for secret in lint.secret_literals(m):
                register_secret(secret)
        run.log.plan = plan_document(plan, run.config)
        _print_plan(plan, request.dry_run)
        _lint_plan(run, plan)
        if request.expect_plan and request.expect_plan != plan.hash:
            raise Refused(
                f"the plan changed since it was reviewed: expected {request.expect_plan}, "
                f"now {plan.hash}; review the new plan (--dry-run) and try again"
            )
        if plan.direction == "down":
            for m in plan.migrations:
                database.require_reversible(m)
        if plan.migrations and run.db is not None and env.health.url:
            result = _health_check(run, plan.from_version, "before")
            if not result.healthy:
                step.end("failed", healthy_before=False)
                raise Refused(
                    f"the app is unhealthy before anything changed ({result.summary()}); "
                    "nothing was applied, since a later rollback could not be judged"
                )
    step.end("ok", pending=len(plan.migrations), plan_hash=plan.hash)


def _check_drift_and_order(run: Run, state: State) -> None:
    """Interrupted migrations, applied files edited since (drift), pending files older than applied ones."""
    env = run.env
    if state.unfinished:
        version, what = next(iter(state.unfinished.items()))
        raise Refused(
            f"migration {version} (transaction:false) was interrupted while {what} and may be half-done; "
            f"check the database, then record what you found with `orchestrator resolve {version} "
            "--applied` or `--not-applied`"
        )
    for m in state.changed:
        _finding(run, "error" if env.drift == "error" else "warning", "drift", m,
                 "this migration changed since it was applied; restore the file and put the change "
                 "in a new migration")
    for m in state.out_of_order:
        _finding(run, "error" if env.strict else "warning", "out-of-order", m,
                 f"pending but older than the newest applied version {state.current_version} "
                 "(a branch merged late); give it a newer version or review its order")
    if state.changed and env.drift == "error":
        names = ", ".join(m.filename for m in state.changed)
        raise Refused(f"applied migrations changed since they were applied: {names}; "
                      f"{env.name} refuses to deploy over drift (drift: error)")
    if state.out_of_order and env.strict and run.request.action == "up":
        m = state.out_of_order[0]
        raise Refused(f"migration {m.version} is out of order with already applied migrations: the "
                      f"version must be higher than the applied {state.current_version} (strict: true)")


def _finding(run: Run, severity: str, rule: str, m: Migration, message: str) -> None:
    run.log.findings.append({"severity": severity, "rule": rule, "file": str(m.path), "line": 1,
                             "message": message})
    level = "warning" if severity == "warning" else "error"
    (console.warn if level == "warning" else console.say)(f"{m.filename}: {rule}: {message}")
    console.annotate(level, message, file=run.config.relative(m.path), line=1, title=rule)


# A rollback is often an emergency: only what would make the down SQL fail stops it.
ROLLBACK_BLOCKERS = {"syntax-error", "concurrently-in-transaction"}


def _lint_plan(run: Run, plan: Plan) -> None:
    """Parse and lint every statement the plan would run; blocking findings refuse the run."""
    findings = lint.effective(lint.lint(plan.migrations, direction=plan.direction), run.env.lint)
    run.log.findings.extend(f.to_dict() for f in findings)
    if findings:
        console.say(f"Lint: {lint.summarize(findings)}")
        console.write(lint.format_findings(findings) + "\n")
    annotate_findings(run.config, findings)
    blocking = lint.blocking(findings)
    if plan.direction == "down":
        blocking = [f for f in blocking if f.rule in ROLLBACK_BLOCKERS]
    if blocking:
        first = blocking[0]
        raise Refused(f"{len(blocking)} lint error(s) block this run; first: {first.format()} "
                      f"(fix it, or add `-- orchestrator:ignore {first.rule} <reason>` above the statement)")


def _check_backup_policy(run: Run) -> None:
    env = run.env
    if run.request.skip_backup and env.backup_required:
        raise Refused(f"--skip-backup is refused: environment {env.name} requires a backup (backup_required)")
    if env.backup_required and not env.backup:
        raise Refused(
            f"environment {env.name} requires a backup but has no backup store: set "
            f"environments.{env.name}.backup (s3://bucket/prefix or a directory) in the config"
        )


def plan_document(plan: Plan, config: Config) -> dict:
    """The plan as the run log records it, SQL included; files relative to the project."""
    return {
        "direction": plan.direction,
        "hash": plan.hash,
        "from_version": plan.from_version,
        "target_version": plan.target_version,
        "migrations": [
            {
                "version": m.version,
                "file": config.relative(m.path),
                "checksum": m.checksum,
                "transaction": m.section(plan.direction).transaction,
                "sql": m.section(plan.direction).sql,
            }
            for m in plan.migrations
        ],
    }


def _print_plan(plan: Plan, dry_run: bool) -> None:
    verb = "apply" if plan.direction == "up" else "roll back"
    tail = "; dry run, nothing is changed" if dry_run else ""
    console.say(f"Plan: {len(plan.migrations)} migration(s) to {verb}, "
                f"from version {plan.from_version or '(none)'} to {plan.target_version or '(none)'}{tail}")
    if plan.migrations:
        console.write(plan.render())
    console.say(f"Plan hash: {plan.hash}")


# -- 2. backup --------------------------------------------------------------------------


def take_backup(run: Run) -> None:
    """pg_dump streamed into the store and verified; if it fails, nothing is applied."""
    step = run.log.step("backup")
    env = run.env
    if run.request.skip_backup or not env.backup:
        why = "--skip-backup" if run.request.skip_backup else "no backup store configured"
        console.warn(f"no backup taken ({why})")
        step.end("skipped", reason=why)
        return
    assert run.db is not None and run.plan is not None
    with console.group(f"Backup to {env.backup}"):
        run.store = _store(run)
        info = backup.create_backup(
            run.db.url,
            run.store,
            environment=env.name,
            run_id=run.log.run_id,
            schema_version=run.plan.from_version,
            progress=_progress,
        )
        run.backup = info
        run.log.backup = asdict(info)
        console.say(f"Backup verified: {info.url} ({info.size} bytes, sha256 {info.sha256[:12]}…, {info.seconds:.1f}s)")
    step.end("ok", url=info.url, size=info.size)


def _store(run: Run) -> backup.Store:
    env = run.env
    return backup.open_store(env.backup, root=run.config.root, sse=env.sse, kms_key_id=env.kms_key_id)


def _progress(size: int, seconds: float) -> None:
    rate = size / seconds / 2**20 if seconds > 0 else 0.0
    console.say(f"backup: {size / 2**20:.1f} MiB in {seconds:.0f}s ({rate:.1f} MiB/s)")


# -- 3. apply ---------------------------------------------------------------------------


def apply(run: Run) -> None:
    """The plan's migrations, one by one, each with the environment's timeouts."""
    step = run.log.step("apply")
    assert run.db is not None and run.plan is not None
    plan = run.plan
    with console.group(f"Apply: {len(plan.migrations)} migration(s) {plan.direction}"):
        run.db.ensure_table()
        try:
            for m in plan.migrations:
                _run_one(run, m, plan.direction)
        except MigrationFailed as exc:
            step.end("failed", error=str(exc))
            console.annotate("error", exc.detail, file=run.config.relative(exc.path), line=exc.line,
                             title=f"migration {exc.direction} failed")
            raise
    step.end("ok", count=len(plan.migrations))


def _run_one(run: Run, m: Migration, direction: str) -> None:
    assert run.db is not None
    try:
        seconds = run_one(run.db, m, direction, run.timeouts)
    except MigrationFailed as exc:
        run.log.migration(m.version, m.filename, direction, None, "failed", str(exc))
        raise
    run.log.migration(m.version, m.filename, direction, seconds, "applied" if direction == "up" else "reverted")
    run.changed.append(m)


# -- 4. health --------------------------------------------------------------------------


def check_health(run: Run) -> None:
    """The database probe and the app's /health/db; unhealthy starts the rollback."""
    step = run.log.step("health")
    assert run.plan is not None
    result = _health_check(run, run.plan.target_version, "after")
    if not result.healthy:
        step.end("failed", summary=result.summary())
        raise _Unhealthy(f"health check failed after the migrations: {result.summary()}")
    step.end("ok", summary=result.summary())


def _health_check(run: Run, expected: str | None, phase: str) -> health.HealthResult:
    assert run.db is not None
    env = run.env
    policy = health.HealthPolicy(attempts=env.health.attempts, interval=env.health.interval,
                                 timeout=env.health.timeout)
    with console.group(f"Health ({phase.replace('_', ' ')})"):
        result = health.check(
            env.health.url,
            health.database_probe(run.db, expected, table=run.config.migrations_table),
            policy,
            on_attempt=lambda a: console.say(f"health: {a.describe()}"),
        )
    run.log.health[phase] = [a.to_dict() for a in result.attempts]
    return result


# -- 5. rollback ------------------------------------------------------------------------


def roll_back(run: Run, reason: str, *, partial: bool = False) -> None:
    """Undo exactly what this run changed, newest first; otherwise, say how to restore."""
    step = run.log.step("rollback")
    undo = list(reversed(run.changed))
    direction = OPPOSITE[run.plan.direction] if run.plan else "down"
    names = [m.filename for m in undo]
    run.log.rollback = {"reason": reason, "migrations": names, "result": "running"}
    if partial:
        _needs_restore(run, step, f"{reason}; a transaction:false migration stopped half-way")
    if not run.env.auto_rollback:
        _needs_restore(run, step, f"{reason}; automatic rollback is off (auto_rollback: false)")
    if run.db is not None and run.db.lost:
        console.warn("the database connection was lost; reconnecting to roll back")
        try:
            run.db.reconnect(RECONNECT_WAIT)
        except OrchestratorError as exc:
            _needs_restore(run, step, f"{reason}; the database stayed unreachable ({exc}), so nothing "
                                      "could be rolled back: check its state when it is back")
        run.log.rollback["reconnected"] = True
    with console.group(f"Rollback: {len(undo)} migration(s), because {reason}"):
        for m in undo:
            if direction == "down" and m.down.is_empty:
                _needs_restore(run, step, f"{reason}; {m.filename} has no down section")
            try:
                _run_one(run, m, direction)
            except MigrationFailed as exc:
                _needs_restore(run, step, f"{reason}; rolling back failed: {exc}")
    run.log.rollback["result"] = "ok"
    step.end("ok", migrations=names)
    if undo:
        after = _health_check(run, run.plan.from_version if run.plan else None, "after_rollback")
        run.log.rollback["healthy_after"] = after.healthy
    raise RolledBack(f"{reason}; rolled back {len(undo)} migration(s): the database is as before the run")


def _needs_restore(run: Run, step: Step, why: str) -> None:
    run.log.rollback = {**(run.log.rollback or {}), "result": "failed"}
    step.end("failed", error=why)
    if run.backup is not None:
        command = f"orchestrator restore -e {run.env.name} --backup {run.backup.url} --yes"
        run.log.restore_command = command
        raise NeedsRestore(f"{why}. The database needs a restore from this run's backup:\n  {command}")
    raise NeedsRestore(f"{why}. No backup was taken by this run: restore from your own backups")


# -- 6. record --------------------------------------------------------------------------


def record(run: Run, outcome: str, code: int, error: str | None) -> None:
    """Write the run log and its summary, and keep a copy next to the backup."""
    step = run.log.step("record")
    log = run.log
    path = run.request.run_log or run.config.state_dir / "runs" / f"{log.run_id}.json"
    step.end("ok", path=str(path))
    log.finish(outcome, code, error)
    store_failed = log.steps["backup"].status == "failed"  # no point trying the same store again
    if store_failed:
        step.details["stored"] = None
    elif not run.request.dry_run and run.env.backup:
        try:
            store = run.store or _store(run)
            name = (backup.sibling(run.backup.key, ".run.json") if run.backup
                    else f"{run.env.name}/{log.run_id}.run.json")
            step.details["stored"] = store.url_for(name)
            store.put_text(name, log.to_json())
        except OrchestratorError as exc:
            step.details.pop("stored", None)
            step.end("failed", error=f"the run log could not be stored: {exc}")
            console.warn(f"the run log could not be stored next to the backup: {exc}")
    json_path, md_path = log.write(path)
    console.say(f"Run log: {json_path} (summary {md_path.name}); outcome {outcome}")


def _pg_ms(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms"


def history_documents(store: backup.Store, environment: str) -> list[dict]:
    """Past runs' logs from the store, newest first."""
    docs = []
    for name in store.list_texts(".run.json", under=environment):
        try:
            docs.append(json.loads(store.get_text(name)))
        except (OrchestratorError, ValueError):
            console.warn(f"unreadable run log {name}")
    return sorted(docs, key=lambda d: d.get("started_at") or "", reverse=True)
