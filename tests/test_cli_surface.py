"""What a newcomer meets at the command line: arguments checked before anything connects,
aligned tables with headers, advice that names the command that fixes it, and a way to
see and stop the embedded PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest



def test_arguments_are_checked_before_anything_connects(project):
    env = project.env(DATABASE_URL="postgres://nobody@127.0.0.1:1/none")  # connecting would fail differently
    for args in (["rollback", "--steps", "0"], ["rollback", "-n", "two"], ["down", "--steps", "-1"]):
        r = project.run(*args, env=env)
        assert r.code == 2, r.text
        assert r.err.count("\n") == 1 and "expected a whole number of 1 or more" in r.err
    assert not (project.root / ".orchestrator").exists()  # no run log, no embedded server


@pytest.mark.parametrize("command", ["backups list", "history"])
def test_tables_have_a_header_and_aligned_columns(project, tmp_path, command):
    (project.root / "db" / "orchestrator.yml").write_text(
        f"environments:\n  dev:\n    backup: {tmp_path / 'backups'}\n")
    project.add("001", "create table a (id int);", "drop table a;")
    for _ in range(2):
        assert project.run("up").code == 0
        assert project.run("rollback").code == 0
    r = project.run(*command.split())
    assert r.code == 0, r.text
    header, *rows = r.out.splitlines()
    assert header.split()[0] in ("created", "started") and len(rows) >= 2
    for column in re.finditer(r"(?<=  )\S+(?: \S+)?", header):  # every column under its heading
        for row in rows:
            assert row[column.start() - 1] == " " and row[column.start():column.end()].strip(), r.out


def test_verify_names_the_command_that_fixes_a_stale_schema(shipped):
    (shipped.root / "db" / "schema.sql").write_text("-- stale\n")
    r = shipped.run("verify")
    assert r.code == 1, r.text
    assert "apply the migrations with `orchestrator up` (it rewrites db/schema.sql) and commit it" in r.out


def test_dev_status_and_stop(tmp_path):
    """The embedded server of a project: seen, stopped (its own pg_ctl refuses root), started again."""
    (tmp_path / "db" / "migrations").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}

    def orchestrator(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)

    assert "No embedded PostgreSQL" in orchestrator("dev", "status").stdout
    assert orchestrator("up").returncode == 0  # starts it
    running = orchestrator("dev", "status").stdout
    pid = int(re.search(r"running \(pid (\d+)", running)[1])
    stopped = orchestrator("dev", "stop")
    assert stopped.returncode == 0 and f"Stopped the embedded PostgreSQL in .orchestrator/pgdata (pid {pid})" in stopped.stdout
    assert "is not running" in orchestrator("dev", "status").stdout
    assert "is not running" in orchestrator("dev", "stop").stdout
    assert orchestrator("status").returncode == 0  # the next command starts it again
    orchestrator("dev", "stop")
