"""What a newcomer meets at the command line: arguments checked before anything connects,
aligned tables with headers, advice that names the command that fixes it."""

from __future__ import annotations

import re

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
