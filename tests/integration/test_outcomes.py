"""How a run ends, in-process: the pipeline on a real PostgreSQL with a local backup store,
a fake health probe and a recording output, so each case runs in milliseconds.

The invariant under test, whatever stops the run: exit 0 means the whole plan is
applied; 1 means the database is as before (versions and a fingerprint of every
table); 2 means nothing changed; 3 means the printed restore command brings the exact
fingerprint back; and the run log's outcome and exit code are the process's.
"""

from __future__ import annotations

import dataclasses
import os
import signal

import psycopg
import pytest
from support import runs
from support.postgres import fingerprint_all, sql, versions
from support.runs import last_log

from orchestrator import commands, config, health, pipeline, runlog
from orchestrator.database import Database

N = 3  # migrations in the plan, two statements each


def healthy(db, expected, phase) -> health.HealthResult:
    return health.HealthResult(True)


def unhealthy_after(db, expected, phase) -> health.HealthResult:
    return health.HealthResult(phase not in ("after",))


def configure(project, health_url: str | None = None) -> None:
    """staging: a local backup store, the health URL if any, a short lock timeout."""
    settings = {"backup": str(project.root / "backups"), "lock_timeout": "2s"}
    if health_url:
        settings["health_url"] = health_url
    project.configure({"staging": settings})


@pytest.fixture
def proj(project):
    """A project with N migrations, a table of data the run must never lose, and a local backup store."""
    configure(project, health_url="http://127.0.0.1:9/health/db")  # never asked: the tests hand in their probe
    sql(project.url, "create table keep (id int primary key, note text); "
                     "insert into keep select g, md5(g::text) from generate_series(1, 50) g")
    with Database(project.url) as db:
        db.ensure_table()  # the bookkeeping a first run creates is not what is under test
    for k in range(1, N + 1):
        project.add(f"000{k}", f"create table t{k} (id int);\ninsert into t{k} values ({k});",
                    f"drop table t{k};", name=f"t{k}")
    return project


def deploy(project, *, probe=healthy, **request) -> tuple[int, runs.Recorder]:
    """The pipeline in-process with a fake probe; the exit code the CLI would end with."""
    return runs.deploy(project, probe=probe, **request)


def state(project) -> tuple[list[str], dict]:
    """Recorded versions and the fingerprint of every table (orchestrator's bookkeeping included)."""
    tables = fingerprint_all(project.url)
    return versions(project.url), {k: v for k, v in tables.items() if k.startswith(("public.", "orchestrator."))}


def restore_as_printed(project, doc) -> None:
    """The restore command of the run log, run as the CLI would run it."""
    command = doc["restore_command"]
    assert command and command.startswith("orchestrator restore -e staging --backup ")
    key = command.split("--backup ")[1].split()[0]
    cfg = config.load(environment="staging", root=project.root, url=project.url.dbmate_url())
    assert commands.restore(cfg, key, yes=True) == 0


class Inject:
    """Make the n-th statement the database is sent fail, or deliver a signal just before it."""

    def __init__(self, monkeypatch, n: int, how: str, then: int | None = None) -> None:
        self.calls, self.n, self.how, self.then = 0, n, how, then
        real = Database._execute

        def execute(db, script, stmt, **kw):
            self.calls += 1
            if self.calls in (self.n, self.then):
                if self.how == "signal":
                    os.kill(os.getpid(), signal.SIGINT)
                else:  # the server fails this statement, in the middle of its pipeline
                    stmt = dataclasses.replace(stmt, text="select 1/0")
            return real(db, script, stmt, **kw)

        monkeypatch.setattr(Database, "_execute", execute)


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "round-trips"])
@pytest.mark.parametrize("how", ["failure", "signal"])
@pytest.mark.parametrize("boundary", range(1, 2 * N + 1))
def test_stopped_at_any_statement_the_database_is_as_before(proj, monkeypatch, how, boundary, pipelined):
    """Also where psycopg's libpq is too old for pipeline mode (before 14): one round trip each."""
    if not pipelined:
        monkeypatch.setattr(psycopg.Pipeline, "is_supported", staticmethod(lambda: False))
    before = state(proj)
    Inject(monkeypatch, boundary, how)
    code, out = deploy(proj)
    assert code == 1, out.text
    assert state(proj) == before
    doc = last_log(proj)
    assert (doc["outcome"], doc["exit_code"]) == ("rolled_back", 1)
    assert doc["signals"] == (["SIGINT"] if how == "signal" else [])
    assert "Traceback" not in out.text


@pytest.mark.parametrize("after", range(1, N + 1))
def test_signal_right_after_a_commit_is_undone_too(proj, monkeypatch, after):
    """A signal between a migration's commit and the line that notes it: the database says what to undo."""
    before = state(proj)
    real = Database.run
    done = []

    def run(db, script, *args, **kwargs):
        seconds = real(db, script, *args, **kwargs)
        done.append(script.version)
        if len(done) == after and script.direction == "up":
            os.kill(os.getpid(), signal.SIGTERM)
        return seconds

    monkeypatch.setattr(Database, "run", run)
    code, out = deploy(proj)
    assert code == 1, out.text
    assert state(proj) == before
    assert last_log(proj)["outcome"] == "rolled_back"


@pytest.mark.parametrize("how", ["failure", "signal"])
def test_a_second_stop_during_the_rollback_needs_the_restore_that_is_printed(proj, monkeypatch, how):
    before = state(proj)
    Inject(monkeypatch, 2 * N, how, then=2 * N + 1)  # the last statement, then the rollback's first
    code, out = deploy(proj)
    assert code == 3, out.text
    doc = last_log(proj)
    assert (doc["outcome"], doc["exit_code"]) == ("needs_restore", 3)
    assert doc["restore_command"] in doc["error"]
    monkeypatch.undo()
    restore_as_printed(proj, doc)
    assert state(proj) == before


def test_rollback_after_a_signal_is_cut_off_at_the_deadline(proj, monkeypatch):
    """A down section that takes too long once a signal came: restore, within the budget."""
    monkeypatch.setattr(pipeline, "SIGNAL_BUDGET", 1.5)
    proj.add(f"000{N}", f"create table t{N} (id int);\ninsert into t{N} values ({N});",
             f"select pg_sleep(30);\ndrop table t{N};", name=f"t{N}")
    proj.add(f"000{N + 1}", "create table late (id int);\nselect 1;", "drop table late;", name="late")
    Inject(monkeypatch, 2 * N + 2, "signal")
    code, out = deploy(proj)
    assert code == 3, out.text
    assert "canceling statement due to statement timeout" in last_log(proj)["error"]


def test_unhealthy_after_rolls_back_with_no_traceback(proj):
    before = state(proj)
    code, out = deploy(proj, probe=unhealthy_after)
    assert code == 1 and state(proj) == before
    assert last_log(proj)["outcome"] == "rolled_back"


def test_a_bug_after_the_first_change_rolls_back(proj, monkeypatch):
    """An exception that is nobody's error still ends in one of the two outcomes."""
    before = state(proj)

    def broken(*args):
        raise KeyError("a bug")

    monkeypatch.setattr(pipeline, "check_health", broken)
    code, out = deploy(proj)
    assert code == 1 and state(proj) == before
    doc = last_log(proj)
    assert doc["outcome"] == "rolled_back" and "KeyError" in doc["error"] and "KeyError" in doc["traceback"]


def test_manual_rollback_goes_ahead_while_the_app_is_unhealthy(proj):
    assert deploy(proj)[0] == 0
    code, out = deploy(proj, probe=lambda db, expected, phase: health.HealthResult(False), action="rollback")
    assert code == 0, out.text
    assert versions(proj.url) == ["0001", "0002"]
    assert "unhealthy before the rollback" in out.text and "still unhealthy after the rollback" in out.text


def test_manual_rollback_that_makes_a_healthy_app_unhealthy_is_undone(proj):
    assert deploy(proj)[0] == 0
    code, out = deploy(proj, probe=unhealthy_after, action="rollback")
    assert code == 1, out.text
    assert versions(proj.url) == ["0001", "0002", "0003"]


def test_a_statement_only_apply_would_refuse_is_refused_at_review(proj):
    """An explicit ROLLBACK in a later migration: the first is not applied and then refused."""
    proj.add("0002", "create table t2 (id int);\nROLLBACK;", "drop table t2;", name="t2")
    before = state(proj)
    code, out = deploy(proj)
    assert code == 2, out.text
    assert state(proj) == before
    assert "0002_t2.sql:3: ROLLBACK in a transactional migration" in last_log(proj)["error"]


def test_session_state_never_reaches_the_next_migration_or_the_rollback(proj):
    """A migration's SET search_path must not turn a later rollback's DROP TABLE onto another schema."""
    role = f"limited_{proj.url.database}"  # may record versions, may not create tables in public
    sql(proj.url, "create schema archive; create table archive.t3 (id int); insert into archive.t3 values (42); "
                  f"create role {role} nologin; grant all on schema_migrations to {role}; "
                  f"grant usage on schema orchestrator to {role}; grant all on orchestrator.checksums to {role}")
    proj.add("0001", f"set search_path to archive, public;\nset role {role};\n"
                     "create temp table scratch (id int);",
             "select 1;", name="t1")
    proj.add("0004", "select 1/0;", "select 1;", name="fails")
    before = state(proj)
    code, out = deploy(proj)
    assert code == 1, out.text
    assert "0004_fails.sql:2: up failed: division by zero" in last_log(proj)["error"]
    assert sql(proj.url, "select * from archive.t3") == [(42,)]
    assert state(proj) == before


def test_transaction_false_with_its_own_transaction_reports_the_statements_error(proj):
    proj.write("0002_t2.sql", "-- migrate:up transaction:false\nBEGIN;\ncreate table t2 (id int);\n"
                              "select 1/0;\nCOMMIT;\n-- migrate:down\ndrop table t2;\n")
    before = state(proj)
    code, out = deploy(proj)
    assert code == 1, out.text
    assert state(proj) == before
    doc = last_log(proj)
    assert doc["outcome"] == "rolled_back" and "division by zero" in doc["error"]
    assert "Traceback" not in out.text
    proj.write("0002_t2.sql", "-- migrate:up\ncreate table t2 (id int);\n-- migrate:down\ndrop table t2;\n")
    assert deploy(proj)[0] == 0  # no interrupted mark was left behind


@pytest.mark.parametrize("outcome", ["success", "needs_restore"])
def test_an_unwritable_run_log_is_a_warning_and_keeps_the_exit_code(proj, monkeypatch, outcome):
    blocker = proj.root / "blocker"
    blocker.write_text("a file, not a directory")
    probe = healthy
    if outcome == "needs_restore":
        proj.add(f"000{N}", "create table t3 (id int);", "-- orchestrator:ignore empty-down the test", name="t3")
        probe = unhealthy_after
    code, out = deploy(proj, probe=probe, run_log_path=blocker / "run.json")
    assert code == (0 if outcome == "success" else 3), out.text
    assert sum("the run log cannot be written" in line for line in out.lines) == 1


def test_a_run_killed_outright_is_reported_by_the_next(proj, tmp_path):
    """kill -9 leaves the log as it was written so far; the next run says what that run left."""
    cfg = config.load(environment="staging", root=proj.root, url=proj.url.dbmate_url())
    log = runlog.RunLog("staging", "up", False)
    log.process["pid"] = 2**22 + 12345  # no such process
    log.open(cfg.state_dir / "runs" / f"{log.run_id}.json")
    log.step("apply")
    log.migration_started("0001", "0001_t1.sql", "up")
    log.migration("0001", "0001_t1.sql", "up", 0.01, "applied")
    log.migration_started("0002", "0002_t2.sql", "up")
    code, out = deploy(proj)
    assert code == 0
    assert f"run {log.run_id}" in out.text and "never finished" in out.text and "0002_t2.sql" in out.text
    doc = runlog.read(log.path)
    assert doc["outcome"] == "interrupted" and [m["result"] for m in doc["migrations"]] == ["applied", "running"]
    assert last_log(proj)["unfinished_before"][0]["run_id"] == log.run_id
    assert "never finished" not in deploy(proj)[1].text  # reported once


def test_a_signal_before_the_first_change_cancels_with_nothing_changed(proj, monkeypatch):
    before = state(proj)
    real = pipeline._show

    def show_then_signal(run, verdict):
        real(run, verdict)
        os.kill(os.getpid(), signal.SIGHUP)

    monkeypatch.setattr(pipeline, "_show", show_then_signal)
    code, out = deploy(proj)
    assert code == 1, out.text
    assert state(proj) == before
    doc = last_log(proj)
    assert (doc["outcome"], doc["exit_code"], doc["signals"]) == ("cancelled", 1, ["SIGHUP"])
    assert doc["error"].startswith("interrupted by SIGHUP before anything changed")


def test_the_cli_keeps_its_exit_code_when_the_run_log_cannot_be_written(proj):
    configure(proj)  # no health URL: the database probe only
    (proj.root / "blocker").write_text("a file, not a directory")
    r = proj.run("up", "-e", "staging", "--run-log", "blocker/run.json")
    assert r.code == 0, r.text
    assert versions(proj.url) == ["0001", "0002", "0003"]
    assert "the run log cannot be written" in r.err and "Traceback" not in r.err


@pytest.mark.parametrize("how", ["failure", "signal"])
def test_a_stopped_rollback_reapplies_what_it_reverted(proj, monkeypatch, how):
    assert deploy(proj)[0] == 0
    checksums = "select version, checksum, file, state from orchestrator.checksums order by version"
    before, recorded = state(proj), sql(proj.url, checksums)
    Inject(monkeypatch, 2, how)  # the second down statement: 0003 is reverted, 0002 is not
    code, out = deploy(proj, action="rollback", steps=2)
    assert code == 1, out.text
    after = state(proj)
    for fingerprints in (before[1], after[1]):  # 0003 was applied again: only its applied_at is new
        fingerprints.pop("orchestrator.checksums")
    assert after == before and sql(proj.url, checksums) == recorded
    doc = last_log(proj)
    assert doc["outcome"] == "rolled_back" and doc["rollback"]["migrations"] == ["0003_t3.sql"]
