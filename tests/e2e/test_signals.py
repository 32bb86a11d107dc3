"""Real signals to a real orchestrator process, as a terminal or a cancelled GitHub Actions
step sends them (SIGINT or SIGHUP, SIGTERM 7.5 s later, SIGKILL 2.5 s after that).

Each case checks the outcome contract: exit 1 means the database is as before, exit 3
means the restore command printed on stderr brings the exact data back, and the run
log says the same as the exit code.  No traceback, ever.
"""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.postgres import fingerprint, in_pg_sleep, sql, versions
from support.processes import wait_for

from orchestrator import runlog

SLEEP_UP, SLEEP_DOWN = 41, 43  # distinct, so pg_stat_activity tells which one runs


@pytest.fixture
def proj(project, tmp_path):
    project.configure({"staging": {"backup": str(tmp_path / "backups"), "lock_timeout": "2s"}})
    sql(project.url, "create table keep (id int primary key); insert into keep select generate_series(1, 20)")
    project.add("0001", "create table one (id int);\ninsert into one values (1);",
                f"select pg_sleep({SLEEP_DOWN});\ndrop table one;", name="one")
    project.add("0002", f"create table two (id int);\nselect pg_sleep({SLEEP_UP});", "drop table two;", name="two")
    return project


def start(background, project) -> subprocess.Popen:
    return background.start(project, "up", "-e", "staging")


def wait_for_sleep(project, seconds: int) -> None:
    """Until the orchestrator session runs ``pg_sleep(seconds)``."""
    wait_for(lambda: in_pg_sleep(project.url, seconds), timeout=60, what=f"pg_sleep({seconds}) to start")


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def log_of(out: str) -> dict:
    path = re.search(r"Run log: (\S+\.json)", out)
    assert path, out
    return runlog.read(Path(path[1]))


def state(project):
    return versions(project.url), fingerprint(project.url)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_a_migration_rolls_the_run_back(proj, background, signum):
    proj.add("0001", "create table one (id int);\ninsert into one values (1);", "drop table one;", name="one")
    sql(proj.url, "select 1")  # the database exists; schema_migrations comes with the run
    proc = start(background, proj)
    wait_for_sleep(proj, SLEEP_UP)
    proc.send_signal(signum)
    code, out, err = finish(proc)
    assert code == 1, out + err
    assert versions(proj.url) == [] and "keep" in fingerprint(proj.url) and "one" not in fingerprint(proj.url)
    doc = log_of(out)
    assert (doc["outcome"], doc["exit_code"]) == ("rolled_back", 1)
    assert doc["signals"] == [signal.Signals(signum).name]
    assert "Traceback" not in err and f"interrupted by {signal.Signals(signum).name}" in err


def github_cancel(proc: subprocess.Popen, first=signal.SIGINT) -> float:
    """What a runner does to a cancelled step; seconds until the process ended."""
    started = time.monotonic()
    proc.send_signal(first)
    for at, then in ((7.5, signal.SIGTERM), (10.0, signal.SIGKILL)):
        try:
            proc.wait(timeout=max(0.0, started + at - time.monotonic()))
            break
        except subprocess.TimeoutExpired:
            proc.send_signal(then)
    proc.wait()
    return time.monotonic() - started


def test_a_second_signal_during_the_rollback_prints_a_restore_that_works(proj, background):
    before = fingerprint(proj.url)
    proc = start(background, proj)
    wait_for_sleep(proj, SLEEP_UP)
    proc.send_signal(signal.SIGINT)
    wait_for_sleep(proj, SLEEP_DOWN)  # the rollback of 0001 is running
    proc.send_signal(signal.SIGTERM)
    code, out, err = finish(proc)
    assert code == 3, out + err
    doc = log_of(out)
    assert (doc["outcome"], doc["exit_code"], doc["signals"]) == ("needs_restore", 3, ["SIGINT", "SIGTERM"])
    assert "Traceback" not in err
    command = re.search(r"^\s+(orchestrator restore .*)$", err, re.MULTILINE)[1]
    assert command == doc["restore_command"]
    restored = subprocess.run([sys.executable, "-m", *shlex.split(command)], cwd=proj.root, env=proj.env(),
                              capture_output=True, text=True, timeout=120)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert fingerprint(proj.url) == before  # the backup's state exactly: no table of the run's, not even schema_migrations


def test_a_cancelled_github_step_ends_within_its_budget_with_the_truth(proj, background):
    """SIGINT only: the rollback's slow down section is cut at the deadline, before the runner's SIGTERM."""
    sql(proj.url, "select 1")
    proc = start(background, proj)
    wait_for_sleep(proj, SLEEP_UP)
    seconds = github_cancel(proc)
    out, err = proc.communicate()
    assert proc.returncode == 3, out + err  # never killed: it ended on its own
    assert seconds < 10
    doc = log_of(out)
    assert (doc["outcome"], doc["exit_code"], doc["signals"]) == ("needs_restore", 3, ["SIGINT"])
    assert "statement timeout" in doc["error"] and "Traceback" not in err


def test_a_run_killed_outright_leaves_its_log_and_the_next_run_reports_it(proj, background):
    sql(proj.url, "select 1")
    proc = start(background, proj)
    wait_for_sleep(proj, SLEEP_UP)
    proc.kill()
    proc.communicate()
    logs = list((proj.root / ".orchestrator" / "runs").glob("*.json"))
    assert len(logs) == 1
    killed = runlog.read(logs[0])
    assert killed["outcome"] == "running"
    assert [(m["file"], m["result"]) for m in killed["migrations"]] == [("0001_one.sql", "applied"),
                                                                       ("0002_two.sql", "running")]
    assert versions(proj.url) == ["0001"]  # what the killed run committed stays, recorded
    proj.add("0002", "create table two (id int);", "drop table two;", name="two")
    r = proj.run("up", "-e", "staging")
    assert r.code == 0, r.text
    assert f"run {killed['run_id']}" in r.err and "never finished" in r.err and "0001_one.sql" in r.err
    assert runlog.read(logs[0])["outcome"] == "interrupted"
