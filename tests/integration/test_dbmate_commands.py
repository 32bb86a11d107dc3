"""``wait``, ``--wait``, ``create``, ``drop``, ``status`` (``--quiet``, malformed files) and
``rollback --allow-empty-down`` side by side with the real dbmate 2.37 on the same database:
exit status, output lines and effects."""

from __future__ import annotations

import time

import pytest
from support.postgres import sql, tables, versions
from support.project import Project, Result, ok
from support.project import status_marks as marks

from orchestrator import database

NO_LINT = {"dev": {"lint": {"*": "off"}}, "staging": {}, "production": {}}
DOWN = "http://localhost:1/x"  # nothing listens on port 1
UNREACHABLE = "postgres://u@localhost:1/x?sslmode=disable"


@pytest.fixture(autouse=True)
def _no_lint(project: Project) -> None:
    project.configure(NO_LINT)


def lines(result: Result) -> list[str]:
    return result.out.splitlines()


# -- wait ---------------------------------------------------------------------------


def test_wait_returns_at_once_and_silently_when_the_server_is_up(project: Project):
    ours, theirs = project.run("wait"), project.dbmate("wait")
    assert (ours.code, ours.out) == (theirs.code, theirs.out) == (0, "")


def test_wait_counts_a_missing_database_as_ready_as_dbmate(project: Project):
    gone = project.url.with_database("not_created_yet").dbmate_url()
    ours, theirs = project.run("--url", gone, "wait"), project.dbmate("--url", gone, "wait")
    assert (ours.code, ours.out) == (theirs.code, theirs.out) == (0, "")
    assert not database.database_exists(project.url.with_database("not_created_yet"))


def test_wait_times_out_with_dbmate_s_dots_and_exit_2(project: Project):
    started = time.monotonic()
    ours = project.run("--url", UNREACHABLE, "--wait-timeout", "2s", "wait")
    seconds = time.monotonic() - started
    theirs = project.dbmate("--url", UNREACHABLE, "--wait-timeout", "2s", "wait")
    assert ours.code == theirs.code == 2
    assert ours.out == theirs.out == "Waiting for database..\n"
    assert 1.5 < seconds < 10
    assert "connect" in ours.err and "2s" in ours.err and len(ours.err.strip().splitlines()) == 1


def test_global_wait_waits_before_the_command_and_fails_it_with_exit_2(project: Project):
    ours = project.run("--url", UNREACHABLE, "--wait", "--wait-timeout", "1s", "status")
    theirs = project.dbmate("--url", UNREACHABLE, "--wait", "--wait-timeout", "1s", "status")
    assert ours.code == theirs.code == 2
    assert ours.out == theirs.out == "Waiting for database.\n"


def test_wait_on_a_reachable_server_does_not_delay_the_command(project: Project):
    project.add("001", "create table a (i int);", "drop table a;")
    ours = ok(project.run("--wait", "status"))
    assert marks(ours.out) == ["[ ] 001_m.sql"]


def test_a_bad_wait_timeout_is_one_line_and_exit_2(project: Project):
    ours = project.run("--wait-timeout", "abc", "wait")
    theirs = project.dbmate("--wait-timeout", "abc", "wait")
    assert ours.code == theirs.code == 2
    assert ours.out == "" and len(ours.err.strip().splitlines()) == 1 and "abc" in ours.err


# -- create / drop ------------------------------------------------------------------


def test_create_and_drop_as_dbmate(project: Project):
    other = project.url.with_database(project.url.database + "_x")
    url = other.dbmate_url()
    try:
        ours = ok(project.run("--url", url, "create"))
        assert lines(ours) == [f"Creating: {other.database}"]
        assert database.database_exists(other)
        again, theirs = project.run("--url", url, "create"), project.dbmate("--url", url, "create")
        assert again.code == theirs.code == 2  # already exists: an error in both
        assert lines(again) == lines(theirs) == [f"Creating: {other.database}"]
        assert "already exists" in again.err and "already exists" in theirs.err

        dropped = ok(project.run("--url", url, "drop"))
        assert lines(dropped) == [f"Dropping: {other.database}"]
        assert not database.database_exists(other)
        absent, theirs = project.run("--url", url, "drop"), project.dbmate("--url", url, "drop")
        assert absent.code == theirs.code == 0  # "drop if it exists"
        assert lines(absent) == lines(theirs) == [f"Dropping: {other.database}"]

        ok(project.dbmate("--url", url, "create"))
        ok(project.run("--url", url, "drop"))
        assert not database.database_exists(other)
    finally:
        database.drop_database(other)


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_drop_is_refused_in_protected_environments(project: Project, environment: str):
    result = project.run("-e", environment, "drop")
    assert result.code == 2
    assert result.out == ""
    assert "refused" in result.err and environment in result.err and "nothing changed" in result.err
    assert database.database_exists(project.url)


# -- status -------------------------------------------------------------------------


def malformed_project(project: Project) -> None:
    project.add("001", "create table a (i int);", "drop table a;", name="a")
    project.write("002_bad.sql", "create table b (i int);\n")
    project.write("003_nodown.sql", "-- migrate:up\nselect 1;\n")


def test_status_lists_malformed_files_as_pending_as_dbmate(project: Project):
    malformed_project(project)
    ours, theirs = ok(project.run("status")), ok(project.dbmate("status"))
    assert [m.split(" (")[0] for m in marks(ours.out)] == marks(theirs.out) == [
        "[ ] 001_a.sql", "[ ] 002_bad.sql", "[ ] 003_nodown.sql"]
    assert marks(ours.out)[1] == "[ ] 002_bad.sql (malformed: line 1: no '-- migrate:up' marker)"
    assert marks(ours.out)[2].startswith("[ ] 003_nodown.sql (malformed: no '-- migrate:down' marker")
    assert "Applied: 0\nPending: 3\n" in ours.out and "Applied: 0\nPending: 3\n" in theirs.out
    assert "Malformed: 2" in ours.out


def test_status_marks_files_by_recorded_version_whatever_their_content(project: Project):
    malformed_project(project)
    (project.migrations / "002_bad.sql").unlink()
    (project.migrations / "003_nodown.sql").unlink()
    ok(project.run("--no-dump-schema", "up"))
    malformed_project(project)  # a malformed file appears after 001 was applied
    ours, theirs = ok(project.run("status")), ok(project.dbmate("status"))
    assert [m.split(" (")[0] for m in marks(ours.out)] == marks(theirs.out)
    assert "Applied: 1\nPending: 2\n" in ours.out and "Applied: 1\nPending: 2\n" in theirs.out


@pytest.mark.parametrize("flags", [(), ("--exit-code",), ("--quiet",), ("--exit-code", "--quiet")])
def test_status_exit_codes_and_quiet_as_dbmate(project: Project, flags: tuple[str, ...]):
    malformed_project(project)
    ours, theirs = project.run("status", *flags), project.dbmate("status", *flags)
    assert ours.code == theirs.code
    if "--quiet" in flags:
        assert ours.out == theirs.out == ""


def test_status_quiet_exits_0_when_nothing_is_pending(project: Project):
    project.add("001", "create table a (i int);", "drop table a;")
    ok(project.run("--no-dump-schema", "up"))
    ours, theirs = project.run("status", "--quiet"), project.dbmate("status", "--quiet")
    assert (ours.code, ours.out) == (theirs.code, theirs.out) == (0, "")


def test_status_json_names_the_malformed_files(project: Project):
    import json

    malformed_project(project)
    doc = json.loads(ok(project.run("status", "--json")).out)
    assert [m["file"] for m in doc["migrations"]] == ["001_a.sql", "002_bad.sql", "003_nodown.sql"]
    assert doc["malformed_files"] == ["002_bad.sql", "003_nodown.sql"]
    assert "error" not in doc["migrations"][0] and "migrate:up" in doc["migrations"][1]["error"]
    assert (doc["applied"], doc["pending"]) == (0, 3)


def test_up_still_refuses_a_malformed_file_before_any_change(project: Project):
    malformed_project(project)
    result = project.run("--no-dump-schema", "up")
    assert result.code == 2
    assert "002_bad.sql" in result.err
    assert "a" not in tables(project.url)


# -- rollback past an empty down section ---------------------------------------------


def empty_down_project(project: Project) -> None:
    project.add("001", "create table a (i int);", "drop table a;", name="a")
    project.add("002", "create table b (i int);", "", name="b")


def test_rollback_refuses_an_empty_down_section_without_the_flag(project: Project):
    empty_down_project(project)
    ok(project.run("--no-dump-schema", "up"))
    result = project.run("--no-dump-schema", "rollback")
    assert result.code == 2
    assert "--allow-empty-down" in result.err
    assert versions(project.url) == ["001", "002"]


def test_allow_empty_down_removes_the_row_only_as_dbmate(project: Project):
    empty_down_project(project)
    ok(project.run("--no-dump-schema", "up"))
    ours = ok(project.run("--no-dump-schema", "rollback", "--allow-empty-down"))
    assert versions(project.url) == ["001"]
    assert "b" in tables(project.url)  # the schema stays: only the row went
    assert "WARNING: empty down section" in ours.out
    progress = [x.split(" in ")[0] for x in lines(ours) if x.startswith("Roll")]

    sql(project.url, "drop table b")
    ok(project.dbmate("--no-dump-schema", "up"))
    theirs = ok(project.dbmate("--no-dump-schema", "rollback"))
    assert versions(project.url) == ["001"]
    assert "b" in tables(project.url)
    assert progress == [x.split(" in ")[0] for x in lines(theirs)] == [
        "Rolling back: 002_b.sql", "Rolled back: 002_b.sql"]


def test_allow_empty_down_changes_nothing_for_a_normal_rollback(project: Project):
    empty_down_project(project)
    ok(project.run("--no-dump-schema", "up"))
    (project.migrations / "002_b.sql").write_text("-- migrate:up\ncreate table b (i int);\n-- migrate:down\n"
                                                  "drop table b;\n")
    plain = ok(project.run("--no-dump-schema", "rollback", "--dry-run"))
    flagged = ok(project.run("--no-dump-schema", "rollback", "--dry-run", "--allow-empty-down"))
    hash_of = lambda r: next(x for x in r.out.splitlines() if x.startswith("Plan hash:"))
    assert hash_of(plain) == hash_of(flagged)


def test_allow_empty_down_in_production_needs_the_dry_run_s_plan_hash(project: Project, tmp_path):
    empty_down_project(project)
    ok(project.run("--no-dump-schema", "up"))
    project.configure({**NO_LINT, "production": {"backup": str(tmp_path / "backups"),
                                                  "lint": {"*": "off"}, "drift": "warn"}})
    refused = project.run("-e", "production", "rollback", "--allow-empty-down")
    assert refused.code == 2 and "--expect-plan" in refused.err
    assert versions(project.url) == ["001", "002"]
    dry = ok(project.run("-e", "production", "rollback", "--allow-empty-down", "--dry-run"))
    plan_hash = next(x for x in dry.out.splitlines() if x.startswith("Plan hash:")).split()[-1]
    assert versions(project.url) == ["001", "002"]
    ok(project.run("-e", "production", "rollback", "--allow-empty-down", "--expect-plan", plan_hash))
    assert versions(project.url) == ["001"]
