"""The pytest fixtures every layer shares (a plugin: ``tests/conftest.py`` loads it).

Real parts only: one embedded PostgreSQL for the session and a fresh database per test,
a moto S3 server (real HTTP) for the session and a fresh bucket per test, a real
``/health/db`` endpoint per test.  The staging project is deployed once per session into
a template database; each test that asks for ``staging`` gets its own copy of it (``CREATE
DATABASE ... TEMPLATE``), its own bucket holding what that deploy stored, and its own
health endpoint, instead of deploying again.

``runner`` says how ``project.run`` runs the CLI: a real process here (the default, for
end-to-end tests and for test files that have not chosen a layer); ``tests/integration``
overrides it to run ``orchestrator.cli.main`` in-process.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from orchestrator import database
from orchestrator.dburl import DatabaseURL

from . import s3
from .fleet import Fleet, drop_fleet, make_fleet
from .health_app import HealthApp
from .postgres import drop_database, embedded, fresh_database, sql
from .processes import Background
from .project import SEED, Project, Runner, run_in_process, run_process


@pytest.fixture(scope="session")
def pg_server() -> Iterator[DatabaseURL]:
    """One embedded PostgreSQL 18 for the whole session (deleted at the end): its admin URL."""
    with embedded("orchestrator-tests-pg-") as pg:
        yield pg.url


@pytest.fixture
def db_url(pg_server: DatabaseURL, request: pytest.FixtureRequest) -> Iterator[DatabaseURL]:
    """A fresh database for one test, dropped afterwards: empty, or, for a test that uses
    ``staging``, a copy of the staging template (so that ``project``, ``health_app`` and
    ``staging`` of one test all mean the same database)."""
    name = f"t_{secrets.token_hex(5)}"
    if "staging" in request.fixturenames:
        template: StagingTemplate = request.getfixturevalue("staging_template")
        url = fresh_database(pg_server, name, template=template.database)
    else:
        url = pg_server.with_database(name)
        database.create_database(url)
    yield url
    database.drop_database(url)


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


@pytest.fixture
def runner() -> Runner:
    """How ``project.run`` runs the CLI: a real process (tests/integration: in-process)."""
    return run_process


@pytest.fixture
def project(tmp_path: Path, db_url: DatabaseURL, runner: Runner) -> Project:
    """An empty project whose DATABASE_URL points at a fresh database."""
    (tmp_path / "db" / "migrations").mkdir(parents=True)
    return Project(tmp_path, db_url, runner)


@pytest.fixture
def shipped(project: Project) -> Project:
    """A project holding copies of the shipped Flowstate migrations and schema file."""
    return project.ship()


@pytest.fixture
def background() -> Iterator[Background]:
    """Start orchestrator processes in the background; whatever is left is killed at the end."""
    started = Background()
    try:
        yield started
    finally:
        started.close()


# -- S3 and the health endpoint ---------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on loopback for the whole session; its URL."""
    with s3.moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> s3.Bucket:
    """A new, empty bucket; boto3 in this process (and the environment ``project.env()``
    copies) points at the moto server."""
    for name in s3.UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in s3.variables(s3_endpoint).items():
        monkeypatch.setenv(name, value)
    return s3.new_bucket(s3_endpoint)


@pytest.fixture
def health_app(db_url: DatabaseURL) -> Iterator[HealthApp]:
    """The app's /health/db for this test's database, stopped at teardown."""
    app = HealthApp(db_url)
    try:
        yield app
    finally:
        app.close()


# -- staging: the shipped migrations deployed and seeded, once ---------------------------


def configure_staging(project: Project, bucket: str, health_url: str) -> None:
    project.configure({"staging": {
        "backup": f"s3://{bucket}/flowstate",
        "health_url": health_url,
        "health": {"attempts": 3, "interval": "100ms", "timeout": "2s"},
        "lock_timeout": "2s",
    }})


@dataclass(frozen=True)
class StagingTemplate:
    """The staging deploy, done once: its database (a template), and what it left behind."""

    database: str
    root: Path  # the project it was deployed from
    bucket: str
    objects: dict[str, bytes]  # what the deploy stored in its bucket (backup, manifest, run log), by key
    files: dict[Path, bytes]  # what it wrote under the project's .orchestrator (run logs), by relative path

    def copy_into(self, project: Project, bucket: s3.Bucket) -> None:
        """Put what the deploy left into ``project`` and ``bucket``, as if it had been made
        there: the database, bucket and directory names in the text files are theirs."""
        names = {self.database: project.url.database, self.bucket: bucket.name,
                 str(self.root): str(project.root)}

        def rename(path: str, body: bytes) -> bytes:
            if not path.endswith((".json", ".md")):
                return body  # the dump itself: byte for byte what its manifest's checksum says
            text = body.decode()
            for old, new in names.items():
                text = text.replace(old, new)
            return text.encode()

        for key, body in self.objects.items():
            bucket.write(key, rename(key, body))
        for relative, body in self.files.items():
            target = project.root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(rename(relative.name, body))


@pytest.fixture(scope="session")
def staging_template(pg_server: DatabaseURL, s3_endpoint: str,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[StagingTemplate]:
    """``orchestrator up -e staging`` of the shipped migrations (with its S3 backup and
    health checks), then the seed, in a database kept as a template; see :func:`staging`."""
    root = tmp_path_factory.mktemp("staging-template")
    name = f"staging_template_{secrets.token_hex(4)}"
    project = Project(root, fresh_database(pg_server, name), run_in_process).ship()
    bucket = s3.new_bucket(s3_endpoint, "template")
    app = HealthApp(project.url, query="select 1")  # the app before its tables exist
    try:
        configure_staging(project, bucket.name, app.url)
        r = project.run("up", "-e", "staging", env=s3.environment(project.env(), s3_endpoint))
        assert r.code == 0, r.text
    finally:
        app.close()
    sql(project.url, SEED)
    state = root / ".orchestrator"
    template = StagingTemplate(
        database=name,
        root=root,
        bucket=bucket.name,
        objects={key: bucket.read(key) for key in bucket.keys()},
        files={p.relative_to(root): p.read_bytes() for p in state.rglob("*") if p.is_file()},
    )
    # No one connects to a template while it is copied: closed to connections from here on.
    sql(pg_server, f'alter database "{name}" with is_template true allow_connections false')
    sql(pg_server, "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", [name])
    yield template
    sql(pg_server, f'alter database "{name}" with is_template false')
    drop_database(pg_server, name)


@pytest.fixture
def staging(shipped: Project, s3_bucket: s3.Bucket, health_app: HealthApp,
            staging_template: StagingTemplate) -> Project:
    """The shipped migrations applied and seeded (a copy of the template: ``db_url``); a
    staging config with its own S3 bucket, holding that deploy's backup and run log, and
    /health/db."""
    configure_staging(shipped, s3_bucket.name, health_app.url)
    staging_template.copy_into(shipped, s3_bucket)
    shipped.bucket = s3_bucket
    shipped.app = health_app
    return shipped


@pytest.fixture
def fleet(project: Project, pg_server: DatabaseURL, tmp_path: Path) -> Iterator[Fleet]:
    """``staging`` as a fleet of three fresh databases (see :mod:`.fleet`), dropped afterwards."""
    made = make_fleet(project, pg_server, tmp_path)
    try:
        yield made
    finally:
        drop_fleet(made, pg_server)
