"""`verify`, the pull-request check, on throwaway databases (the CLI in-process)."""

from __future__ import annotations

import os
import signal

from support.postgres import databases, sql
from support.project import URL_VARIABLES


def test_shipped_migrations_pass_and_temp_database_is_dropped(shipped):
    before = databases(shipped.url)
    r = shipped.run("verify", "--url", shipped.url.dbmate_url())
    assert r.code == 0, r.text
    assert "verify: passed" in r.out
    assert "matches the migrations" in r.out
    assert r.out.count("Applying: 0001_init.sql") == 2 and "Rolling back: 0001_init.sql" in r.out
    assert databases(shipped.url) == before
    assert sql(shipped.url, "select count(*) from pg_tables where schemaname = 'public'") == [(0,)]


def test_stale_schema_file_fails_with_diff(shipped):
    shipped.add("0004", "alter table customers add column notes text;", "alter table customers drop column notes;", name="notes")
    r = shipped.run("verify", "--url", shipped.url.dbmate_url())
    assert r.code == 1
    assert "schema.sql is stale" in r.out
    assert "+    notes text" in r.out


def test_down_that_leaves_objects_behind_fails(project):
    project.add("001", "create table a (id int);\ncreate table a_extra (id int);", "drop table a;")
    r = project.run("verify", "--url", project.url.dbmate_url())
    assert r.code == 1
    assert "rolling back every migration changes the schema" in r.out
    assert "a_extra" in r.out


def test_failing_down_names_migration_direction_and_line(project):
    project.add("001", "create table a (id int);", "drop table a;")
    path = project.add("002", "create table b (id int);", "drop table nope;", name="bad_down")
    r = project.run("verify", "--url", project.url.dbmate_url())
    assert r.code == 1
    assert f"{path.name}:5: down failed" in r.err
    assert "nope" in r.err


def test_slow_migration_over_budget_fails(project):
    project.configure(verify={"budget": "200ms"})
    project.add("001", "select pg_sleep(0.5);\ncreate table a (id int);", "drop table a;", name="slow")
    project.run("dump")
    r = project.run("verify", "--url", project.url.dbmate_url())
    assert r.code == 1
    assert "SLOW 001_slow.sql" in r.out
    assert "budget 0.2s" in r.out


def test_irreversible_migration_is_refused(project):
    project.add("001", "create table a (id int);", "")
    r = project.run("verify", "--url", project.url.dbmate_url())
    assert r.code == 2
    assert "001_m.sql" in r.err and "down section is empty" in r.err


def test_default_is_the_embedded_server(shipped):
    env = {k: v for k, v in shipped.env().items() if k not in URL_VARIABLES}
    try:
        r = shipped.run("verify", env=env)
        assert r.code == 0, r.text
        assert ".orchestrator/pgdata" in r.err
    finally:
        pid_file = shipped.root / ".orchestrator" / "pgdata" / "postmaster.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
