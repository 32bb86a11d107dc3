"""Restore on real parts: whatever a failed run left, the restore makes the database exactly
the backup (schema text with owners and privileges, and every row of every table), or,
if it fails, leaves the database exactly as it was.  Embedded PostgreSQL 18, the real
pg_restore and psql, S3 over HTTP (moto), and the CLI as a real process."""

from __future__ import annotations

import hashlib
import json
import secrets
import shlex
from pathlib import Path

import psycopg
import pytest
from support.postgres import fill_sample as fill
from support.postgres import fingerprint_all as every_table
from support.postgres import schema_text, sql, versions
from support.runs import run_log

from orchestrator import database, pgtools, schema
from orchestrator.backup import RESTORE_PREAMBLE, S3Store, create_backup, find_backup, open_store, restore
from orchestrator.compression import parse
from orchestrator.database import Database
from orchestrator.dburl import DatabaseURL
from orchestrator.errors import BackupError, ToolError


def dbmate_schema(url: DatabaseURL) -> str:
    """The schema file text (``orchestrator dump``, as dbmate writes it)."""
    with Database(url) as db:
        return schema.dump(db)


def state(url: DatabaseURL) -> tuple[str, str, dict]:
    return schema_text(url), dbmate_schema(url), every_table(url)


def one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def reader(pg_server: DatabaseURL):
    """A role that exists in the cluster, for privileges the backup holds."""
    name = f"restore_reader_{secrets.token_hex(3)}"
    sql(pg_server, f"create role {name}")
    yield name
    sql(pg_server, f"drop role {name}")  # the test databases, and their grants, are gone by now


def base(url: DatabaseURL, reader: str) -> None:
    """The database as it was before the failed run: a bit of everything pg_dump carries."""
    fill(url)  # items, events (a foreign key to items), an index, a view, schema_migrations
    sql(url, f"""
        create extension citext;
        create table tags (name citext primary key, item_id int references items on delete cascade);
        insert into tags select 'Tag ' || g, g from generate_series(1, 20) g;
        create type colour as enum ('red', 'green');
        alter table items add column colour colour;
        create schema archive;
        create table archive.old_items (like items);
        insert into archive.old_items select * from items where id <= 10;
        create function item_count() returns bigint language sql as 'select count(*) from items';
        comment on schema public is 'the app';
        comment on table items is 'what we sell';
        grant select on items to {reader};
        grant usage on schema public to {reader};
        alter default privileges grant select on tables to {reader};
    """)


# What a failed run may have left; each is undone by the restore.
FAILED_RUN = {
    "new table with a foreign key to a restored table": """
        create table orders (id int primary key, item_id int not null references items(id));
        insert into orders select g, g from generate_series(1, 50) g;
        update items set price = 0 where id <= 50;
    """,
    "new view over a restored table": "create view pricey as select id, name from items where price > 100",
    "new schema that depends on restored objects": """
        create schema reporting;
        create table reporting.daily (item_id int references public.items, tag citext references public.tags);
        create view reporting.items as select * from public.items;
        create function reporting.double(colour) returns colour language sql as 'select $1';
    """,
    "new function and trigger on a restored table": """
        create function shout() returns trigger language plpgsql as $$
        begin new.name := upper(new.name); return new; end $$;
        create trigger items_shout before update on items for each row execute function shout();
        update items set name = name where id < 10;
    """,
    "new column, index and changed rows": """
        alter table items add column sku text;
        create index items_sku on items (sku);
        update items set sku = 'x' || id;
        delete from events where id % 7 = 0;
        insert into schema_migrations values ('20240301000000');
    """,
    "dropped table, view and schema": """
        drop view cheap;
        drop table events;
        drop schema archive cascade;
        drop function item_count();
    """,
    "extensions, types, privileges and comments": """
        create extension hstore;
        alter table items add column attrs hstore;
        alter type colour add value 'blue';
        drop extension citext cascade;
        comment on schema public is null;
        comment on table items is 'changed';
        grant create on schema public to public;
        revoke usage on schema public from {reader};
        grant insert, update on items to {reader};
        alter default privileges revoke select on tables from {reader};
        alter default privileges grant usage on sequences to {reader};
    """,
    "objects outside any schema": """
        select lo_from_bytea(0, 'a large object');
        create function no_ddl() returns event_trigger language plpgsql as $$ begin end $$;
        create event trigger no_ddl on ddl_command_start execute function no_ddl();
        create publication everything for table items;
        create foreign data wrapper dummy;
        create server elsewhere foreign data wrapper dummy;
    """,
}


@pytest.mark.parametrize("change", FAILED_RUN.values(), ids=list(FAILED_RUN))
def test_restore_gives_exactly_the_backup_whatever_the_failed_run_left(db_url, tmp_path, reader, change):
    base(db_url, reader)
    store = open_store("backups", root=tmp_path)
    info = create_backup(db_url, store, environment="staging", run_id="r1", schema_version="20240201000000")
    before = state(db_url)

    sql(db_url, change.replace("{reader}", reader))
    assert state(db_url) != before

    restore(db_url, store, info)

    after = state(db_url)
    assert after[0] == before[0]  # pg_dump --schema-only: owners, privileges, comments included
    assert after[1] == before[1]  # the schema file
    assert after[2] == before[2]  # every row of every table
    assert sql(db_url, "select count(*) from pg_largeobject_metadata") == [(0,)]
    assert sql(db_url, "select count(*) from pg_event_trigger") == [(0,)]
    assert sql(db_url, "select extname from pg_extension order by 1") == [("citext",), ("plpgsql",)]
    # a restored database takes the next change as the original did
    sql(db_url, "insert into items (name, price) values ('after', 1)")
    assert sql(db_url, "select max(id) from items") == [(501,)]


def test_a_backup_with_an_extension_restores_into_a_database_without_it(db_url, tmp_path):
    sql(db_url, "create extension citext; create table people (email citext primary key);"
                "insert into people values ('Ada@Example.com');"
                "create table schema_migrations (version varchar primary key)")
    store = open_store("backups", root=tmp_path)
    info = create_backup(db_url, store, environment="dev", run_id="r1", schema_version=None)
    before = state(db_url)
    sql(db_url, "drop extension citext cascade; drop table people")

    restore(db_url, store, info)

    assert state(db_url) == before
    assert sql(db_url, "select count(*) from people where email = 'ada@example.com'") == [(1,)]


# -- all or nothing -------------------------------------------------------------------------------


def staging_project(project, tmp_path: Path, extra: str = "") -> Path:
    """The project with a staging environment whose backups are in a local directory."""
    store_dir = tmp_path / "backups"
    (project.root / "db" / "orchestrator.yml").write_text(
        f"environments:\n  staging:\n    backup: {store_dir}\n{extra}")
    return store_dir


def test_a_restore_that_fails_half_way_leaves_the_database_as_it_was(project, tmp_path, pg_server):
    url = project.url
    role = f"gone_{secrets.token_hex(3)}"
    sql(pg_server, f"create role {role}")
    fill(url)
    sql(url, f"grant select on items to {role}")
    store = open_store(str(staging_project(project, tmp_path)), root=tmp_path)
    info = create_backup(url, store, environment="staging", run_id="r1", schema_version="20240201000000")
    backup_state = state(url)
    # the failed run, and then the role the backup grants to is dropped
    sql(url, "create table orders (id int primary key, item_id int references items(id));"
             "insert into orders select g, g from generate_series(1, 10) g; update items set price = 1;"
             f"revoke select on items from {role}")
    sql(pg_server, f"drop role {role}")
    failed_state = state(url)

    # the GRANT comes last in the archive: by then every table was dropped and made again
    r = project.run("restore", "-e", "staging", "--backup", info.url, "--yes")

    assert r.code == 1, r.text
    line = one_error_line(r.err)
    assert "failed and was rolled back, the database is unchanged" in line
    assert f'role "{role}" does not exist' in line
    assert state(url) == failed_state
    assert versions(url) == ["20240101000000", "20240201000000"]

    sql(pg_server, f"create role {role}")
    try:
        r = project.run("restore", "-e", "staging", "--backup", info.url, "--yes")
        assert r.code == 0, r.text
        assert state(url) == backup_state
    finally:
        sql(url, f"revoke all on items from {role}")
        sql(pg_server, f"drop role {role}")


def test_a_lock_the_restore_cannot_get_changes_nothing(project, tmp_path):
    url = project.url
    fill(url)
    store = open_store(str(staging_project(project, tmp_path)), root=tmp_path)
    info = create_backup(url, store, environment="staging", run_id="r1", schema_version=None)
    backup_state = state(url)
    sql(url, "create view pricey as select * from items where price > 100; update items set price = 2")
    failed_state = state(url)
    env = project.env(PGOPTIONS="-c lock_timeout=300ms")

    with psycopg.connect(url.conninfo()) as app:  # an app transaction that has read a table
        app.execute("select count(*) from events").fetchall()
        r = project.run("restore", "-e", "staging", "--backup", info.url, "--yes", env=env)
        assert r.code == 1, r.text
        assert "lock timeout" in one_error_line(r.err)
        assert state(url) == failed_state
    r = project.run("restore", "-e", "staging", "--backup", info.url, "--yes", env=env)
    assert r.code == 0, r.text
    assert state(url) == backup_state


def test_a_damaged_archive_restores_nothing(db_url, tmp_path):
    # a dump cut short whose manifest was rewritten to match: it passes the checksum, and
    # pg_restore fails part-way through the data, after the preamble dropped everything
    # (a plain archive: a compressed one cut short is refused by its frame, test_backup_compression.py)
    fill(db_url)
    store = open_store("backups", root=tmp_path)
    info = create_backup(db_url, store, environment="dev", run_id="r1", schema_version=None,
                         compression=parse("none"))
    sql(db_url, "create table orders (id int primary key, item_id int references items(id))")
    failed_state = state(db_url)
    dump = Path(info.url)
    data = dump.read_bytes()[: info.size * 2 // 3]
    dump.write_bytes(data)
    manifest = Path(info.url + ".json")
    doc = json.loads(manifest.read_text())
    doc.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    manifest.write_text(json.dumps(doc))

    with pytest.raises(BackupError, match="failed and was rolled back") as caught:
        restore(db_url, store, find_backup(store, info.key))

    message = str(caught.value)
    # pg_restore stops at the cut (-Z0 archive), or psql at the COPY it left open
    assert "\n" not in message and ("COPY events, line" in message or "could not read from input file" in message)
    assert '"n"' not in message  # the row being loaded is not quoted
    assert state(db_url) == failed_state


def test_a_stream_that_ends_early_is_never_committed(db_url, tmp_path):
    # the source fails after complete statements: psql reaches the end of its input in the
    # open transaction, without the COMMIT, and exits 0; the preamble's drops are undone
    fill(db_url)
    failed_state = state(db_url)
    partial = tmp_path / "partial.sql"
    partial.write_text("SET search_path = '';\nCREATE TABLE public.items (id int);\n"
                       "INSERT INTO public.items VALUES (1);\n")
    source = ["sh", "-c", 'cat "$0"; echo "pg_restore: error: could not read input file" >&2; exit 1',
              str(partial)]
    sink = [str(pgtools.find_program("psql", 18)), "-X", "-q", "-w", "-v", "ON_ERROR_STOP=1",
            "-d", db_url.conninfo(), "-f", "-"]

    with pytest.raises(ToolError, match="could not read input file"):
        pgtools.pipe(source, sink, env={}, head=RESTORE_PREAMBLE.encode(), tail=b"COMMIT;\n")

    assert state(db_url) == failed_state
    # and the same stream with its COMMIT does replace everything
    pgtools.pipe(["cat", str(partial)], sink, env={}, head=RESTORE_PREAMBLE.encode(), tail=b"COMMIT;\n")
    assert list(every_table(db_url)) == ["public.items"] and sql(db_url, "select * from items") == [(1,)]


def test_restore_runs_while_the_migration_lock_is_held(db_url, tmp_path):
    fill(db_url)
    store = open_store("backups", root=tmp_path)
    info = create_backup(db_url, store, environment="dev", run_id="r1", schema_version=None)
    before = state(db_url)
    sql(db_url, "create table orders (id int primary key, item_id int references items(id))")
    with Database(db_url) as db, db.lock(5):
        restore(db.url, store, info)
        assert db.applied_versions() == ["20240101000000", "20240201000000"]
    assert state(db_url) == before


def test_the_password_goes_to_psql_in_the_environment(db_url, tmp_path, monkeypatch):
    fill(db_url)
    store = open_store("backups", root=tmp_path)
    info = create_backup(db_url, store, environment="dev", run_id="r1", schema_version=None)
    seen: list[tuple[list[str], list[str], dict[str, str]]] = []
    real = pgtools.pipe

    def pipe(source, sink, *, env, head, tail, feed):
        seen.append((list(source), list(sink), env))
        return real(source, sink, env=env, head=head, tail=tail, feed=feed)

    monkeypatch.setattr(pgtools, "pipe", pipe)
    url = DatabaseURL(db_url.user, "trusted-anyway-pw", db_url.host, db_url.port, db_url.database, db_url.query)
    restore(url, store, info)

    (source, sink, env), = seen
    assert env["PGPASSWORD"] == "trusted-anyway-pw"
    assert not any("trusted-anyway-pw" in arg for arg in source + sink)
    assert Path(sink[0]).name == "psql" and Path(source[0]).name == "pg_restore"
    assert pgtools.program_version(Path(sink[0]))[0] == 18  # the server's major version


# -- where the backup comes from -----------------------------------------------------------------


def test_a_backup_of_another_environment_or_database_is_refused(project, tmp_path, pg_server):
    url = project.url
    store_dir = staging_project(project, tmp_path, f"  production:\n    backup: {tmp_path / 'backups'}\n")
    store = open_store(str(store_dir), root=tmp_path)
    fill(url)
    staging_backup = create_backup(url, store, environment="staging", run_id="s1", schema_version=None)
    sql(url, "update items set price = 3")
    changed = state(url)

    r = project.run("restore", "-e", "production", "--backup", staging_backup.url, "--yes")

    assert r.code == 2, r.text
    line = one_error_line(r.err)
    assert "environment staging" in line and "environment production" in line and "--allow-other-source" in line
    assert state(url) == changed

    dry = project.run("restore", "-e", "production", "--backup", staging_backup.url, "--dry-run")
    assert dry.code == 0, dry.text
    assert "would be refused without --allow-other-source" in dry.err
    assert state(url) == changed

    r = project.run("restore", "-e", "production", "--backup", staging_backup.url, "--yes", "--allow-other-source")
    assert r.code == 0, r.text
    assert "restoring it anyway" in r.err
    assert every_table(url) != changed[2]

    # the same environment, another database
    other = pg_server.with_database(f"t_{secrets.token_hex(5)}")
    database.create_database(other)
    try:
        fill(other)
        other_backup = create_backup(other, store, environment="production", run_id="p1", schema_version=None)
    finally:
        database.drop_database(other)
    sql(url, "update items set price = 4")
    changed = state(url)
    r = project.run("restore", "-e", "production", "--backup", other_backup.url, "--yes")
    assert r.code == 2, r.text
    line = one_error_line(r.err)
    assert f"database {other.database}" in line and f"database {url.database}" in line
    assert state(url) == changed

    # a manifest written before the database name was recorded: checked by environment only
    manifest = Path(other_backup.url + ".json")
    data = json.loads(manifest.read_text())
    del data["database"]
    manifest.write_text(json.dumps(data))
    r = project.run("restore", "-e", "production", "--backup", other_backup.url, "--yes")
    assert r.code == 0, r.text
    assert every_table(url) != changed[2]


def test_an_s3_url_is_read_from_the_bucket_it_names(project, tmp_path, s3_bucket):
    url = project.url
    (project.root / "db" / "orchestrator.yml").write_text(
        f"environments:\n  staging:\n    backup: {s3_bucket.url}/flowstate\n")
    configured = open_store(f"{s3_bucket.url}/flowstate", root=tmp_path)
    other_bucket = f"other-{secrets.token_hex(4)}"
    s3_bucket.client.create_bucket(Bucket=other_bucket)
    elsewhere = S3Store(other_bucket, "team/db")

    fill(url)
    wanted = state(url)
    theirs = create_backup(url, elsewhere, environment="staging", run_id="r1", schema_version=None)
    sql(url, "update items set price = 5")
    # the configured bucket holds another backup under the very same key
    ours = create_backup(url, configured, environment="staging", run_id="r2", schema_version=None)
    for suffix in ("", ".json"):
        s3_bucket.client.copy_object(Bucket=s3_bucket.name, Key=f"flowstate/{theirs.key}{suffix}",
                                     CopySource={"Bucket": s3_bucket.name, "Key": f"flowstate/{ours.key}{suffix}"})
    sql(url, "create table orders (id int primary key, item_id int references items(id))")

    assert theirs.url == f"s3://{other_bucket}/team/db/{theirs.key}"
    r = project.run("restore", "-e", "staging", "--backup", theirs.url, "--yes")

    assert r.code == 0, r.text
    assert f"Restoring {theirs.url} " in r.out
    assert state(url) == wanted

    # a dump that is not there is not looked for in the configured bucket
    missing = f"s3://{other_bucket}/team/db/staging/20990101T000000Z-nope.dump"
    r = project.run("restore", "-e", "staging", "--backup", missing, "--yes")
    assert r.code == 2 and other_bucket in one_error_line(r.err)


def test_a_path_is_read_from_that_path(project, tmp_path, s3_bucket):
    url = project.url
    (project.root / "db" / "orchestrator.yml").write_text(
        f"environments:\n  staging:\n    backup: {s3_bucket.url}/flowstate\n")
    fill(url)
    wanted = state(url)
    info = create_backup(url, open_store(str(tmp_path / "copied"), root=tmp_path), environment="staging",
                         run_id="r1", schema_version=None)
    sql(url, "drop table events; create table orders (id int primary key, item_id int references items(id))")

    r = project.run("restore", "-e", "staging", "--backup", info.url, "--yes")

    assert r.code == 0, r.text
    assert state(url) == wanted
    assert s3_bucket.keys() == []  # the configured bucket was not read from, nor written to


def backups_listed(result) -> list[str]:
    """The backup column of every row of ``backups list``."""
    assert result.code == 0, result.text
    header, *rows = result.out.splitlines()
    assert header.split()[-1] == "backup"
    return [row.split(maxsplit=4)[-1] for row in rows]


def test_every_backup_listed_can_be_named_to_restore(staging):
    staging.add("0004", "create table a (id int);", "drop table a;", name="a")
    assert staging.run("up", "-e", "staging").code == 0
    names = backups_listed(staging.run("backups", "list", "-e", "staging"))
    assert len(names) == 2
    for name in names:
        dry = staging.run("restore", "-e", "staging", "--dry-run", "--backup", name)
        assert dry.code == 0, dry.text
        assert f"-- dry run: {name} would be restored into staging" in dry.out
        assert "; Archive created at" in dry.out
    assert "TABLE public customers" in staging.run("restore", "-e", "staging", "--dry-run", "--backup", names[0]).out
    assert versions(staging.url)[-1] == "0004"


def test_every_local_backup_listed_can_be_named_to_restore(project, tmp_path):
    staging_project(project, tmp_path)
    project.add("001", "create table a (id int);", "drop table a;")
    assert project.run("up", "-e", "staging").code == 0
    project.add("002", "create table b (id int);", "drop table b;", name="b")
    assert project.run("up", "-e", "staging").code == 0
    names = backups_listed(project.run("backups", "list", "-e", "staging"))
    assert names and all(Path(n).is_absolute() for n in names)
    for name in names:
        dry = project.run("restore", "-e", "staging", "--dry-run", "--backup", name)
        assert dry.code == 0, dry.text
        assert f"-- dry run: {name} would be restored" in dry.out


# -- end to end: a failed deploy, then the restore command it printed ------------------------------


def test_the_printed_restore_command_undoes_a_failed_deploy_exactly(staging):
    before = state(staging.url)
    staging.add("0004", """
create table invoices (
    id serial primary key,
    customer_id uuid not null references customers(id),
    amount numeric(10, 2) not null
);
insert into invoices (customer_id, amount) select id, 100 from customers;
create index invoices_customer_id on invoices (customer_id);
create view customer_totals as
    select c.id, c.name, sum(i.amount) as total from customers c join invoices i on i.customer_id = c.id
    group by c.id, c.name;
create schema billing;
create table billing.ledger (invoice_id int references public.invoices(id), customer_id uuid references public.customers(id));
create function billing.total(uuid) returns numeric language sql as 'select sum(amount) from public.invoices where customer_id = $1';
alter table customers add column credit_limit integer;
create function invoices_check() returns trigger language plpgsql as $$ begin return new; end $$;
create trigger invoices_check before insert on invoices for each row execute function invoices_check();
update customers set name = 'changed' where true;
-- orchestrator:ignore rename-column the app reads both names (it does not: the test)
alter table users rename column full_name to display_name;""",
                "-- orchestrator:ignore empty-down this run is undone by restoring its backup", name="invoices")

    r = staging.run("up", "-e", "staging")

    assert r.code == 3, r.text
    doc = run_log(staging, r)
    assert doc["outcome"] == "needs_restore"
    command = doc["restore_command"]
    assert command in r.err
    assert "invoices" in sql(staging.url, "select string_agg(tablename, ',') from pg_tables")[0][0]
    args = shlex.split(command)
    assert args[:2] == ["orchestrator", "restore"]

    restored = staging.run(*args[1:])

    assert restored.code == 0, restored.text
    assert "warning" not in restored.err
    after = state(staging.url)
    assert after[0] == before[0]
    assert after[1] == before[1]
    assert after[2] == before[2]
    assert versions(staging.url) == ["0001", "0002", "0003"]
    assert staging.run("status", "-e", "staging").code == 0
