"""The CLI's commands in-process (``orchestrator.cli.main``) against a real PostgreSQL."""

from __future__ import annotations

import json
import time

from support.postgres import BOOKKEEPING, sql, tables, versions

from orchestrator.migrations import split_statements


def test_dry_run_prints_exact_sql_and_changes_nothing(shipped):
    r = shipped.run("up", "--dry-run")
    assert r.code == 0, r.text
    for name in ("0001_init.sql", "0002_add_user_preferences.sql", "0003_add_customer_tags.sql"):
        assert f"-- ==== {name} (up) ====" in r.out
    up = shipped.migrations / "0003_add_customer_tags.sql"
    for stmt in split_statements(up.read_text().split("-- migrate:down")[0]):  # each exactly as it is sent
        assert f"{stmt.text};\n" in r.out
    assert r.out.index("0001_init.sql") < r.out.index("0002_add") < r.out.index("0003_add")
    assert tables(shipped.url) == []


def test_rollback_dry_run_prints_down_sql(shipped):
    assert shipped.run("up").code == 0
    r = shipped.run("rollback", "--dry-run", "--steps", "2")
    assert r.code == 0, r.text
    assert r.out.index("0003_add_customer_tags.sql (down)") < r.out.index("0002_add_user_preferences.sql (down)")
    assert "DROP TABLE IF EXISTS customer_tags;" in r.out
    assert versions(shipped.url) == ["0001", "0002", "0003"]


def test_rollback_steps(shipped):
    assert shipped.run("up").code == 0
    r = shipped.run("rollback", "--steps", "3")
    assert r.code == 0, r.text
    assert versions(shipped.url) == []
    assert tables(shipped.url) == BOOKKEEPING


def test_rollback_steps_bad_values(shipped):
    assert shipped.run("up").code == 0
    for steps in ("0", "-1", "4"):
        r = shipped.run("rollback", "--steps", steps)
        assert r.code == 2, (steps, r.text)
        assert len(r.err.strip().splitlines()) == 1
    assert versions(shipped.url) == ["0001", "0002", "0003"]


def test_status_exit_code_and_json(shipped):
    r = shipped.run("status", "--exit-code")
    assert r.code == 1 and "Pending: 3" in r.out
    assert shipped.run("up").code == 0
    assert shipped.run("status", "--exit-code").code == 0
    doc = json.loads(shipped.run("status", "--json").out)
    assert doc["applied"] == 3 and doc["pending"] == 0
    assert [m["applied"] for m in doc["migrations"]] == [True, True, True]


def test_status_reports_applied_version_whose_file_is_missing(shipped):
    assert shipped.run("up").code == 0
    (shipped.migrations / "0003_add_customer_tags.sql").unlink()
    r = shipped.run("status")
    assert "[X] 0003 (applied, file missing)" in r.out
    assert json.loads(shipped.run("status", "--json").out)["missing_files"] == ["0003"]
    r = shipped.run("rollback")
    assert r.code == 2 and "0003" in r.err and "missing" in r.err
    assert versions(shipped.url) == ["0001", "0002", "0003"]


def test_failing_statement_leaves_no_trace_and_names_the_line(project):
    project.add("001", "create table a (id int);", "drop table a;")
    path = project.write(
        "002_bad.sql",
        "-- migrate:up\ncreate table b (id int);\ninsert into b values (1);\n"
        "insert into b values ('not a number');\n-- migrate:down\ndrop table b;\n",
    )
    r = project.run("up")
    assert r.code == 1, r.text
    assert f"{path.name}:4" in r.err
    assert "invalid input syntax" in r.err
    assert "rolled back 1 migration(s)" in r.err  # 001, applied by this run, is undone
    assert versions(project.url) == []
    assert tables(project.url) == BOOKKEEPING


def test_syntax_error_position_gives_the_exact_line(project):
    path = project.write(
        "001_bad.sql",
        "-- migrate:up\n-- a comment\ncreate table a (\n  id int,\n  name txt oops\n);\n-- migrate:down\ndrop table a;\n",
    )
    r = project.run("up")
    assert r.code == 2  # found by the parser in review, before anything runs
    assert f"{path.name}:5:12: error syntax-error" in r.out
    assert tables(project.url) == []


def test_transaction_false_runs_concurrent_index(project):
    project.add("001", "create table a (id int);", "drop table a;")
    project.write(
        "002_idx.sql",
        "-- migrate:up transaction:false\ncreate index concurrently a_id on a (id);\n"
        "-- migrate:down transaction:false\ndrop index concurrently a_id;\n",
    )
    r = project.run("up")
    assert r.code == 0, r.text
    assert sql(project.url, "select indexname from pg_indexes where tablename = 'a'") == [("a_id",)]
    assert project.run("rollback").code == 0
    assert sql(project.url, "select indexname from pg_indexes where tablename = 'a'") == []


def test_concurrent_index_in_transaction_gives_a_hint(project):
    project.add("001", "create table a (id int);\ncreate index concurrently a_id on a (id);", "drop table a;")
    r = project.run("up")
    assert r.code == 2  # the linter knows before anything runs
    assert ":3:1: error concurrently-in-transaction" in r.out and "transaction:false" in r.out
    project.configure({"dev": {"lint": {"concurrently-in-transaction": "off"}}})
    r = project.run("up")
    assert r.code == 1  # the server says so, and orchestrator says what to do
    assert "transaction:false" in r.err and ":3" in r.err
    assert tables(project.url) == BOOKKEEPING


def test_explicit_begin_commit_stay_inside_one_transaction(project):
    project.add("001", "create table a (id int primary key);", "drop table a;")
    assert project.run("up").code == 0
    project.add(
        "002",
        "BEGIN;\ninsert into a values (1);\nCOMMIT;\nBEGIN;\ninsert into a values (1);\nCOMMIT;",
        "delete from a;",
        name="data",
    )
    r = project.run("up")
    assert r.code == 1  # the duplicate key fails the migration
    assert sql(project.url, "select count(*) from a") == [(0,)]  # the first COMMIT did not commit
    assert versions(project.url) == ["001"]


def test_lock_wait_times_out_with_a_clear_error(project):
    project.add("001", "create table a (id int);", "drop table a;")
    project.configure({"dev": {"lock_wait": "1s"}})
    from orchestrator.database import Database

    with Database(project.url) as holder, holder.lock(5):
        started = time.monotonic()
        r = project.run("up")
        waited = time.monotonic() - started
    assert r.code == 2, r.text
    assert "another run holds the migration lock" in r.err
    assert waited < 30
    assert tables(project.url) == []


def test_new_creates_timestamped_file(project):
    r = project.run("new", "add_customer_tags")
    assert r.code == 0, r.text
    files = list(project.migrations.glob("*_add_customer_tags.sql"))
    assert len(files) == 1 and len(files[0].name.split("_")[0]) == 14
    assert files[0].read_text() == "-- migrate:up\n\n\n-- migrate:down\n\n"
    assert project.run("new", "").code == 2


def test_duplicate_versions_refused_before_anything_runs(project):
    project.add("001", "create table a (id int);", name="one")
    project.add("001", "create table b (id int);", name="two")
    r = project.run("up")
    assert r.code == 2
    assert "001_one.sql" in r.err and "001_two.sql" in r.err and "duplicate version" in r.err
    assert tables(project.url) == []


def test_malformed_later_file_stops_everything(project):
    project.add("001", "create table a (id int);")
    project.write("002_bad.sql", "create table b (id int);\n-- migrate:up\n-- migrate:down\n")
    r = project.run("up")
    assert r.code == 2
    assert "002_bad.sql:1" in r.err
    assert tables(project.url) == []


def test_empty_down_section_refuses_rollback(project):
    project.add("001", "create table a (id int);", "-- orchestrator:ignore empty-down kept forever")
    assert project.run("up").code == 0
    r = project.run("rollback")
    assert r.code == 2 and "down section is empty" in r.err
    assert versions(project.url) == ["001"]


def test_migrations_table_option(project):
    project.add("001", "create table a (id int);", "drop table a;")
    r = project.run("--migrations-table", "custom.migrations", "up")
    assert r.code == 0, r.text
    assert versions(project.url, "custom.migrations") == ["001"]
    assert "schema_migrations" not in tables(project.url)


def test_up_creates_missing_database(project, pg_server):
    project.add("001", "create table a (id int);", "drop table a;")
    url = pg_server.with_database("t_created_by_up")
    env = project.env(DATABASE_URL=url.dbmate_url())
    try:
        r = project.run("up", env=env)
        assert r.code == 0, r.text
        assert "Creating: t_created_by_up" in r.out
        assert versions(url) == ["001"]
    finally:
        from orchestrator import database

        database.drop_database(url)


def test_wrong_password_is_one_line_and_never_printed(project, password_role):
    url = project.url.dbmate_url().replace("postgres@", f"{password_role.user}:Wr0ng-Secret-99@")
    r = project.run("status", env=project.env(DATABASE_URL=url))
    assert r.code == 2, r.text
    assert "Wr0ng-Secret-99" not in r.text
    assert "password authentication failed" in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_right_password_works_and_is_never_printed(project, password_role):
    project.add("001", "create table a (id int);", "drop table a;")
    url = project.url.dbmate_url().replace("postgres@", f"{password_role.user}:{password_role.password}@")
    r = project.run("up", env=project.env(DATABASE_URL=url))
    assert r.code == 0, r.text
    assert password_role.password not in r.text
    assert versions(project.url) == ["001"]


def test_missing_extension_on_embedded_server_says_what_to_do(project):
    project.add("001", 'CREATE EXTENSION IF NOT EXISTS "uuid-ossp";\ncreate table a (id uuid default uuid_generate_v4());',
                "drop table a;")
    r = project.run("up", "--skip-backup")
    assert r.code == 1
    assert "001_m.sql:2" in r.err and "gen_random_uuid()" in r.err
    assert tables(project.url) == BOOKKEEPING
