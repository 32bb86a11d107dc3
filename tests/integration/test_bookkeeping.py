"""orchestrator's bookkeeping lives in a schema of its own, never in the app's: the app's
schema, ``db/schema.sql`` and ``dump`` are what dbmate makes of the same migrations.  Also
``dump -- ARGS`` and ``load`` as dbmate has them, and adopting an existing database
(``baseline``, ``verify --against-live``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.postgres import fingerprint_all, sql, tables, versions
from support.project import Project, ok, status_marks

from orchestrator import database, schema
from orchestrator.database import BOOKKEEPING_SCHEMA, Database
from orchestrator.migrations import discover

CHECKSUMS = "select table_schema, table_name, version, checksum, file, state from orchestrator.checksums order by 1, 2, 3"


def add_three(project: Project) -> None:
    project.add("001", "create table customers (id bigint primary key, name text not null);\n"
                       "comment on table customers is 'who pays';",
                "drop table customers;", name="customers")
    project.add("002", "create table orders (id bigint primary key, customer_id bigint references customers);",
                "drop table orders;", name="orders")
    project.write("003_orders_customer.sql", "-- migrate:up transaction:false\n"
                  "create index concurrently orders_customer on orders (customer_id);\n"
                  "-- migrate:down transaction:false\ndrop index concurrently orders_customer;\n")


@pytest.fixture
def twin(pg_server, tmp_path: Path):
    """Another fresh database on the same server, for the real dbmate to apply the same files to."""
    url = pg_server.with_database(f"twin_{tmp_path.name[-20:].lower().replace('-', '_')}")
    database.drop_database(url)
    database.create_database(url)
    yield url
    database.drop_database(url)


def dbmate_on(project: Project, url, *args: str) -> None:
    """The real dbmate on ``url`` with the project's migrations; its schema file is db/twin.sql."""
    ok(project.dbmate("--url", url.dbmate_url(), "--schema-file", "db/twin.sql", *args))


def dumped(url) -> str:
    with Database(url) as db:
        return schema.dump(db)


def schemas(url) -> list[str]:
    return [r[0] for r in sql(url, "select nspname from pg_namespace where nspname not like 'pg\\_%' "
                                   "and nspname <> 'information_schema' order by 1")]


def test_up_and_full_rollback_leave_the_app_schema_as_dbmate_does(project: Project, twin):
    add_three(project)
    ok(project.run("up", "--skip-backup"))
    dbmate_on(project, twin, "up")
    assert schemas(project.url) == [BOOKKEEPING_SCHEMA, "public"] and schemas(twin) == ["public"]
    assert tables(project.url) == ["customers", "orders", "schema_migrations"]  # nothing of orchestrator's
    assert [r[:3] for r in sql(project.url, CHECKSUMS)] == [("public", "schema_migrations", v)
                                                          for v in ("001", "002", "003")]
    assert dumped(project.url) == dumped(twin)
    schema_file = project.root / "db" / "schema.sql"
    assert schema_file.read_bytes() == (project.root / "db" / "twin.sql").read_bytes()
    assert "orchestrator" not in schema_file.read_text()

    ok(project.run("rollback", "-n", "3", "--skip-backup"))
    for _ in range(3):
        dbmate_on(project, twin, "rollback")
    assert versions(project.url) == versions(twin) == []
    assert sql(project.url, CHECKSUMS) == []
    assert dumped(project.url) == dumped(twin)
    assert schema_file.read_bytes() == (project.root / "db" / "twin.sql").read_bytes()


def test_dump_is_dbmate_dump_byte_for_byte_and_creates_nothing(project: Project, twin):
    add_three(project)
    ok(project.run("up", "--skip-backup"))
    dbmate_on(project, twin, "up")
    ok(project.run("dump"))  # on the database orchestrator touched
    ours = (project.root / "db" / "schema.sql").read_bytes()
    dbmate_on(project, twin, "dump")  # on the one only dbmate touched
    assert ours == (project.root / "db" / "twin.sql").read_bytes()

    ok(project.run("--url", twin.dbmate_url(), "dump"))  # orchestrator dump where dbmate alone worked
    assert (project.root / "db" / "schema.sql").read_bytes() == ours
    assert schemas(twin) == ["public"]  # dump created nothing of orchestrator's


def test_dump_passes_arguments_after_double_dash_to_pg_dump_as_dbmate(project: Project, twin):
    add_three(project)
    dbmate_on(project, twin, "up")
    dbmate_on(project, twin, "dump", "--", "--no-comments", "--exclude-table=orders")
    ok(project.run("--url", twin.dbmate_url(), "dump", "--", "--no-comments", "--exclude-table=orders"))
    ours = (project.root / "db" / "schema.sql").read_text()
    assert ours == (project.root / "db" / "twin.sql").read_text()
    assert "who pays" not in ours and "CREATE TABLE public.orders" not in ours
    assert "CREATE TABLE public.customers" in ours


def test_old_layout_table_is_moved_with_its_rows_under_the_lock(project: Project):
    add_three(project)
    files = {m.version: m for m in discover(project.migrations)}
    sql(project.url, files["001"].up.sql + files["002"].up.sql)  # what orchestrator 0.1 applied
    sql(project.url, "create table schema_migrations (version varchar primary key); "
                     "insert into schema_migrations values ('001'), ('002')")
    sql(project.url, "create table schema_migrations_checksums (version varchar primary key, checksum text not null,"
                     " file text not null, applied_at timestamptz not null default now())")  # as orchestrator 0.1 made it
    sql(project.url, "insert into schema_migrations_checksums values (%s, %s, %s, '2024-05-01 12:00:00+00'), "
                     "('002', 'sha256-of-an-older-file', '002_orders.sql', '2024-05-02 12:00:00+00')",
        ["001", files["001"].checksum, files["001"].filename])

    status = ok(project.run("status"))  # no lock: read where it is, moved nothing
    assert "002_orders.sql (changed since applied)" in status.out and "001_customers.sql (" not in status.out
    assert "schema_migrations_checksums" in tables(project.url)

    r = ok(project.run("up", "--skip-backup"))  # dev: drift warns
    assert "002_orders.sql" in r.err
    assert tables(project.url) == ["customers", "orders", "schema_migrations"]  # hand-made app tables stay
    rows = sql(project.url, "select version, checksum, applied_at::text, state from orchestrator.checksums "
                            "where table_schema = 'public' and table_name = 'schema_migrations' order by 1")
    assert rows[:2] == [("001", files["001"].checksum, "2024-05-01 12:00:00+00", "applied"),
                        ("002", "sha256-of-an-older-file", "2024-05-02 12:00:00+00", "applied")]
    assert rows[2][:2] == ("003", files["003"].checksum)
    assert "(changed since applied)" in ok(project.run("status")).out  # drift still known after the move


def test_drift_interrupted_marks_and_resolve_work_from_orchestrator_schema(project: Project):
    add_three(project)
    ok(project.run("up", "--skip-backup"))
    project.write("002_orders.sql", "-- migrate:up\ncreate table orders (id int);\n-- migrate:down\ndrop table orders;\n")
    assert "002_orders.sql (changed since applied)" in ok(project.run("status")).out
    project.configure({"dev": {"drift": "error"}})  # as staging and production have it
    r = project.run("up", "--skip-backup")
    assert r.code == 2 and "changed since they were applied: 002_orders.sql" in r.err
    project.config_file.unlink()

    sql(project.url, "update orchestrator.checksums set state = 'reverting' where version = '003'")
    assert "INTERRUPTED while reverting" in ok(project.run("status")).out
    assert project.run("rollback", "--skip-backup").code == 2
    ok(project.run("resolve", "003", "--applied"))
    assert sql(project.url, "select state from orchestrator.checksums where version = '003'") == [("applied",)]
    assert "INTERRUPTED" not in ok(project.run("status")).out


def test_each_migrations_table_has_its_own_rows(project: Project):
    project.add("001", "create table a (id int);", "drop table a;")
    other = project.root / "db" / "other"
    other.mkdir()
    (other / "001_b.sql").write_text("-- migrate:up\ncreate table b (id int);\n-- migrate:down\ndrop table b;\n")
    ok(project.run("up", "--skip-backup"))
    ok(project.run("--migrations-table", "other_migrations", "-d", str(other), "up", "--skip-backup"))
    assert [r[:3] for r in sql(project.url, CHECKSUMS)] == [("public", "other_migrations", "001"),
                                                          ("public", "schema_migrations", "001")]
    (other / "001_b.sql").write_text("-- migrate:up\ncreate table b (id bigint);\n-- migrate:down\ndrop table b;\n")
    assert "(changed since applied)" not in ok(project.run("status")).out
    assert "(changed since applied)" in ok(project.run("--migrations-table", "other_migrations", "-d", str(other),
                                                       "status")).out
    ok(project.run("--migrations-table", "other_migrations", "-d", str(other), "rollback", "--skip-backup"))
    assert [r[:3] for r in sql(project.url, CHECKSUMS)] == [("public", "schema_migrations", "001")]


def test_the_bookkeeping_schema_is_never_the_apps(project: Project):
    project.add("001", "create table a (id int);", "drop table a;")
    r = project.run("--migrations-table", "orchestrator.schema_migrations", "up", "--skip-backup")
    assert r.code == 2 and "schema orchestrator holds orchestrator's own bookkeeping" in r.err
    assert schemas(project.url) == ["public"]


def test_restore_brings_back_the_bookkeeping_exactly(project: Project):
    add_three(project)
    third = project.migrations / "003_orders_customer.sql"
    text = third.read_text()
    third.unlink()
    ok(project.run("up", "--skip-backup"))
    third.write_text(text)
    before = fingerprint_all(project.url), dumped(project.url), sql(project.url, CHECKSUMS)
    assert "orchestrator.checksums" in before[0] and len(before[2]) == 2
    ok(project.run("up"))  # dev: a backup of the state before it in .orchestrator/backups
    backup = next((project.root / ".orchestrator" / "backups" / "dev").glob("*.dump"))
    ok(project.run("rollback", "-n", "3", "--skip-backup"))
    ok(project.run("up", "--skip-backup"))  # other checksum rows, other applied_at
    sql(project.url, "update orchestrator.checksums set state = 'applying' where version = '003'")

    ok(project.run("restore", "--backup", str(backup), "--yes"))
    assert (fingerprint_all(project.url), dumped(project.url), sql(project.url, CHECKSUMS)) == before
    assert versions(project.url) == ["001", "002"]
    assert "INTERRUPTED" not in ok(project.run("status")).out


# -- load -----------------------------------------------------------------------------


def test_load_runs_the_schema_file_as_dbmate_load(project: Project, twin):
    add_three(project)
    ok(project.run("up", "--skip-backup"))  # writes db/schema.sql
    shown = ok(project.run("--url", twin.dbmate_url(), "load"))
    assert "Reading: db/schema.sql" in shown.out
    assert dumped(twin) == dumped(project.url)
    assert versions(twin) == ["001", "002", "003"]

    again = project.run("--url", twin.dbmate_url(), "load")  # all or nothing: already there, nothing loaded
    assert again.code == 1 and "db/schema.sql:" in again.err and "already exists" in again.err
    assert versions(twin) == ["001", "002", "003"]


def test_load_of_a_missing_file_is_refused(project: Project):
    r = project.run("load")
    assert r.code == 2 and "db/schema.sql: no such file" in r.err


def test_load_matches_dbmate_load(project: Project, twin):
    add_three(project)
    ok(project.run("up", "--skip-backup"))  # writes db/schema.sql
    (project.root / "db" / "twin.sql").write_bytes((project.root / "db" / "schema.sql").read_bytes())
    dbmate_on(project, twin, "load")
    database.drop_database(project.url)
    database.create_database(project.url)
    ok(project.run("load"))
    assert dumped(project.url) == dumped(twin)
    assert schemas(project.url) == ["public"]  # load records no checksums: nothing of orchestrator's


# -- baseline and verify --against-live -----------------------------------------------


def existing_app(project: Project) -> None:
    """A database made before any migration tool: the schema of 001 and 002, by hand."""
    add_three(project)
    sql(project.url, "create table customers (id bigint primary key, name text not null); "
                     "comment on table customers is 'who pays'; "
                     "create table orders (id bigint primary key, customer_id bigint references customers)")


def test_baseline_records_without_running_and_up_goes_on_from_there(project: Project):
    existing_app(project)
    shown = ok(project.run("baseline", "002", "--dry-run"))
    assert "001_customers.sql" in shown.out and "002_orders.sql" in shown.out and "003" not in shown.out
    assert "dry run: nothing recorded" in shown.out
    assert "schema_migrations" not in tables(project.url)

    refused = project.run("baseline", "002")  # no terminal in tests: --yes is required
    assert refused.code == 2 and "--yes" in refused.err
    assert "schema_migrations" not in tables(project.url)

    ok(project.run("baseline", "002", "--yes"))
    assert versions(project.url) == ["001", "002"]
    files = {m.version: m for m in discover(project.migrations)}
    assert [r[2:4] for r in sql(project.url, CHECKSUMS)] == [(v, files[v].checksum) for v in ("001", "002")]
    assert status_marks(ok(project.run("status")).out) == ["[X] 001_customers.sql", "[X] 002_orders.sql",
                                                           "[ ] 003_orders_customer.sql"]
    r = ok(project.run("up", "--skip-backup"))
    assert "Applying: 003_orders_customer.sql" in r.out and "Applying: 001" not in r.out

    again = project.run("baseline", "002", "--yes")
    assert again.code == 2 and "already applied: 001, 002" in again.err


def test_baseline_of_no_migration_file_is_refused(project: Project):
    existing_app(project)
    r = project.run("baseline", "20240101000000", "--yes")
    assert r.code == 2 and "has version 20240101000000" in r.err
    assert "schema_migrations" not in tables(project.url)


def test_verify_against_live_compares_the_live_schema(project: Project):
    existing_app(project)
    before = ok(project.run("verify", "--against-live", "002"))  # before the baseline: name the version
    assert "matches the schema of 2 migration(s) up to 002" in before.out
    ok(project.run("baseline", "002", "--yes"))
    ok(project.run("verify", "--against-live"))  # what it records as applied

    sql(project.url, "alter table customers add column notes text; drop table orders")
    r = project.run("verify", "--against-live")
    assert r.code == 1, r.text
    assert "+    notes text" in r.out and "-CREATE TABLE public.orders" in r.out
    assert "verify: FAILED" in r.out


def test_verify_against_live_needs_a_version_when_nothing_is_recorded(project: Project):
    existing_app(project)
    r = project.run("verify", "--against-live")
    assert r.code == 2 and "verify --against-live VERSION" in r.err
