"""Asynchronous commits within a run, on a server of the test's own that is crashed
(immediate shutdown: no checkpoint, WAL buffers not written) and started again.

Every migration commit of a run but the last is made with ``synchronous_commit = off``.
WAL is sequential, so whatever a crash loses is a tail: the database holds an exact
prefix of the plan, recorded as such, and a finished run (exit 0) lost nothing.
"""

from __future__ import annotations

import os
import random
import signal

import psycopg
import pytest
from support.postgres import sql, start_embedded, tables, versions
from support.processes import Background, wait_for
from support.project import Project
from support.runs import run_log

from orchestrator import database

COUNT = 60


@pytest.fixture
def own_server():
    """An embedded PostgreSQL of this test's own, so it can be crashed and started again."""
    server = start_embedded("orchestrator-durability-")
    yield server
    server.close()


@pytest.fixture
def crashy(tmp_path, own_server, runner) -> Project:
    url = own_server.url.with_database("crashy")
    database.create_database(url)
    project = Project(tmp_path, url, runner)
    project.migrations.mkdir(parents=True)
    for k in range(1, COUNT + 1):
        project.add(f"{k:03d}", f"create table t{k:03d} (id int);", f"drop table t{k:03d};", name=f"t{k:03d}")
    # the last one waits (unless the session says not to), so the run is always cut off mid-way
    project.add(f"{COUNT + 1:03d}", f"create table t{COUNT + 1:03d} (id int);\n{SLOW}", f"drop table t{COUNT + 1:03d};",
                name="slow")
    return project


SLOW = "select pg_sleep(120) where current_setting('test.slow', true) is distinct from 'off';"


def plan_versions() -> list[str]:
    return [f"{k:03d}" for k in range(1, COUNT + 2)]


def committed(url) -> int:
    """Versions committed so far (visible before their asynchronous commits reach the disk)."""
    try:
        return len(versions(url))
    except psycopg.errors.UndefinedTable:  # the run has not created schema_migrations yet
        return 0


def assert_exact_prefix(url) -> list[str]:
    """The recorded versions are the plan's first n, each with its table and checksum row,
    and no later migration's table exists; returns them."""
    held = versions(url)
    assert held == plan_versions()[: len(held)]
    assert [t for t in tables(url) if t != "schema_migrations"] == [f"t{v}" for v in held]
    checksummed = [r[0] for r in sql(url, "select version from orchestrator.checksums where state = 'applied' "
                                          "order by version")]
    assert checksummed == held
    return held


def test_a_crash_in_the_middle_of_a_run_leaves_an_exact_prefix(crashy, own_server):
    url = crashy.url
    cut = random.randint(2, COUNT)
    background = Background()
    try:
        proc = background.start(crashy, "up", "--skip-backup")
        wait_for(lambda: committed(url) >= cut, what=f"{cut} migrations to commit")
        os.kill(proc.pid, signal.SIGKILL)  # the runner's last resort, and the server dies with it
        own_server.crash()
    finally:
        background.close()
    own_server.start()
    held = assert_exact_prefix(url)
    r = crashy.run("up", "--skip-backup", env=quick(crashy))  # the database is the truth: the rest is applied
    assert r.code == 0, r.text
    assert assert_exact_prefix(url) == plan_versions()
    doc = run_log(crashy, r)
    (before,) = doc["unfinished_before"]
    def version(file: str) -> str:
        return file.removesuffix(".sql").partition("_")[0]
    # recorded as such: what the report calls completed is exactly what the database held,
    # and what the journal said had committed but the crash lost is listed apart, after it
    assert [version(f) for f in before["completed"]] == held
    assert [version(f) for f in before["lost"] + before["running"]] == plan_versions()[len(held):][
        : len(before["lost"]) + len(before["running"])]
    assert "the database holds what it completed of" in r.err
    applied_now = [m["version"] for m in doc["migrations"] if m["result"] == "applied"]
    assert applied_now == plan_versions()[len(held):]


def quick(project: Project) -> dict[str, str]:
    """The project's environment with the last migration's wait turned off."""
    return project.env(PGOPTIONS="-c test.slow=off")


def test_a_finished_run_survives_a_crash_right_after_it(crashy, own_server):
    r = crashy.run("up", "--skip-backup", env=quick(crashy))
    assert r.code == 0, r.text
    own_server.crash()
    own_server.start()
    assert assert_exact_prefix(crashy.url) == plan_versions()
