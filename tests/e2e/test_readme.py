"""The README's commands as a user runs them: each a real process, in a project directory.

``orchestrator up -e dev`` with no URL anywhere (the embedded PostgreSQL, which outlives
the process that started it), ``up``/``status``/``rollback`` on the shipped migrations,
``python -m orchestrator`` and the console script, and two deploys racing for the lock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.postgres import sql, tables, versions
from support.project import URL_VARIABLES


def test_up_status_rollback_on_shipped(shipped):
    r = shipped.run("up")
    assert r.code == 0, r.text
    assert versions(shipped.url) == ["0001", "0002", "0003"]
    r = shipped.run("status")
    assert "[X] 0003_add_customer_tags.sql" in r.out
    r = shipped.run("rollback")
    assert r.code == 0, r.text
    assert versions(shipped.url) == ["0001", "0002"]
    assert "customer_tags" not in tables(shipped.url)


@pytest.fixture
def embedded_project(project):
    """A project with no URL anywhere; stops its embedded server afterwards."""
    yield project
    pid_file = project.root / ".orchestrator" / "pgdata" / "postmaster.pid"
    if pid_file.exists():
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)


def test_dev_without_url_uses_embedded_postgres(embedded_project):
    project = embedded_project
    project.add("001", "create table a (id int);", "drop table a;")
    env = {k: v for k, v in project.env().items() if k not in URL_VARIABLES}
    r = project.run("up", "-e", "dev", env=env)
    assert r.code == 0, r.text
    assert "embedded PostgreSQL" in r.err
    assert (project.root / ".orchestrator" / "pgdata" / "PG_VERSION").exists()
    assert (project.root / "db" / "schema.sql").exists()  # dev dumps the schema, as dbmate does
    r = project.run("status", env=env)
    assert "[X] 001_m.sql" in r.out
    assert project.run("rollback", env=env).code == 0
    assert "[ ] 001_m.sql" in project.run("status", env=env).out
    assert tables(project.url) == []  # the test database was never touched


def test_concurrent_up_applies_each_migration_once(project, background):
    project.add("001", "create table log (n int);", "drop table log;")
    project.add("002", "select pg_sleep(1.5);\ninsert into log values (2);", "delete from log;", name="slow")
    project.add("003", "insert into log values (3);", "delete from log where n = 3;", name="after")
    procs = [background.start(project, "up") for _ in range(2)]
    results = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
    assert [code for _, _, code in results] == [0, 0], results
    assert versions(project.url) == ["001", "002", "003"]
    assert sql(project.url, "select n from log order by n") == [(2,), (3,)]
    outputs = "".join(out for out, _, _ in results)
    assert outputs.count("Applying: 002_slow.sql") == 1
    assert "Plan: 0 migration(s) to apply" in outputs




def test_python_dash_m_and_console_script_agree(project):
    r = project.run("--version")
    assert r.code == 0 and r.out.startswith("orchestrator ")
    script = Path(sys.executable).parent / "orchestrator"  # what `pip install` puts on PATH
    proc = subprocess.run([str(script), "--version"], cwd=project.root, env=project.env(),
                          capture_output=True, text=True, timeout=60, check=False)
    assert (proc.returncode, proc.stdout) == (0, r.out)
