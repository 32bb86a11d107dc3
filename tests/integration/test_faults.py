"""The fault matrix, in-process: what orchestrator survives, on real PostgreSQL, S3 over HTTP
and a real health endpoint.  Each case checks the exit code, the database (versions and a
checksum of every table), the store and the run log.  (A process killed outright is in
``e2e/test_killed.py``.)"""

from __future__ import annotations

import shlex
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from support.postgres import fingerprint, in_pg_sleep, sql, start_embedded, tables, versions
from support.processes import wait_for
from support.project import Project
from support.runs import run_log

from orchestrator import database

# -- 4: PostgreSQL restarts while a migration runs ------------------------------------------------


@pytest.fixture
def own_server():
    """An embedded PostgreSQL of this test's own, so it can be crashed and started again."""
    server = start_embedded("orchestrator-crash-")
    yield server
    server.close()


def test_postgres_restart_during_a_migration(tmp_path, own_server, runner):
    url = own_server.url.with_database("crashy")
    database.create_database(url)
    project = Project(tmp_path, url, runner)
    project.migrations.mkdir(parents=True)
    project.add("001", "create table a (id int);", "drop table a;")
    assert project.run("up", "--skip-backup").code == 0
    project.add("002", "create table b (id int);", "drop table b;", name="b")
    project.add("003", "create table c (id int);\nselect pg_sleep(30);", "drop table c;", name="slow")

    def crash_in_the_slow_migration() -> None:
        wait_for(lambda: in_pg_sleep(url), what="the slow migration to start")
        own_server.crash()
        time.sleep(1.0)
        own_server.start()

    crasher = threading.Thread(target=crash_in_the_slow_migration, daemon=True)
    crasher.start()
    r = project.run("up", "--skip-backup")
    crasher.join(timeout=60)
    assert r.code == 1, r.text  # failed, and 002 (this run's) rolled back after reconnecting
    assert "connection lost" in r.err and "reconnecting" in r.err
    doc = run_log(project, r)
    assert doc["outcome"] == "rolled_back" and doc["rollback"]["reconnected"] is True
    assert versions(url) == ["001"] and tables(url) == ["a", "schema_migrations"]
    project.write("003_slow.sql", "-- migrate:up\ncreate table c (id int);\n-- migrate:down\ndrop table c;\n")
    r = project.run("up", "--skip-backup")
    assert r.code == 0, r.text
    assert versions(url) == ["001", "002", "003"]


# -- 5: S3 answers with errors for a while, or is unreachable --------------------------------------


class FlakyS3:
    """A loopback proxy in front of the moto server that answers 503 to the first ``failures``
    requests (or to all of them), then passes requests through: S3 having a bad minute."""

    def __init__(self, upstream: str, failures: int) -> None:
        self.failures = failures
        self.seen = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                proxy.seen += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy.seen <= proxy.failures:
                    payload = b"<Error><Code>ServiceUnavailable</Code><Message>slow down</Message></Error>"
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = httpx.request(self.command, upstream + self.path, headers=headers, content=body, timeout=60)
                self.send_response(answer.status_code)
                for k, v in answer.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(k, v)
                # a HEAD answer has no body but tells the object's size: pass that through
                length = answer.headers.get("content-length", "0") if self.command == "HEAD" else len(answer.content)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.content)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def s3_project(project, s3_bucket):
    project.configure({"staging": {"backup": f"s3://{s3_bucket.name}/app"}})
    project.add("001", "create table a (id int);", "drop table a;")
    project.bucket = s3_bucket
    return project


def test_s3_errors_for_a_while_are_retried(s3_project):
    flaky = FlakyS3(s3_project.bucket.endpoint, failures=2)
    try:
        r = s3_project.run("up", "-e", "staging", env=s3_project.env(AWS_ENDPOINT_URL=flaky.url))
    finally:
        flaky.close()
    assert r.code == 0, r.text
    assert flaky.seen > 2
    assert versions(s3_project.url) == ["001"]
    assert any(k.endswith(".dump") for k in s3_project.bucket.keys())


def test_s3_failing_throughout_fails_cleanly_before_anything_is_applied(s3_project):
    flaky = FlakyS3(s3_project.bucket.endpoint, failures=10**6)
    try:
        r = s3_project.run("up", "-e", "staging", env=s3_project.env(AWS_ENDPOINT_URL=flaky.url))
    finally:
        flaky.close()
    assert r.code == 1, r.text
    assert flaky.seen >= 3  # retried with backoff before giving up
    assert "Traceback" not in r.err and r.err.strip().splitlines()[-1].startswith("error: ")
    assert tables(s3_project.url) == []
    assert run_log(s3_project, r)["outcome"] == "failed"


# -- 6: the health endpoint flaps, fails for good, or hangs -----------------------------------------


@pytest.fixture
def healthy(project, health_app):
    project.add("001", "create table users (id int, email text, full_name text);", "drop table users;")
    assert project.run("up", "--skip-backup").code == 0
    project.configure({"dev": {"health_url": health_app.url,
                               "health": {"attempts": 4, "interval": "100ms", "timeout": "500ms"}}})
    project.add("002", "create table extra (id int);", "drop table extra;", name="extra")
    project.app = health_app
    return project


def flapping_app(project, failures: int) -> None:
    """The app fails its first ``failures`` checks once table ``extra`` (migration 002) exists."""
    sql(project.url, "create sequence flap")
    project.app.query = (
        "select case when exists (select 1 from pg_tables where tablename = 'extra') "
        f"then 1 / (nextval('flap') > {failures})::int else 1 end"
    )


def test_health_flapping_within_budget_is_success(healthy):
    flapping_app(healthy, failures=2)  # attempts: 4
    r = healthy.run("up", "--skip-backup")
    assert r.code == 0, r.text
    doc = run_log(healthy, r)
    http = [a["ok"] for a in doc["health"]["after"] if a["probe"] == "http"]
    assert http == [False, False, True]
    assert doc["rollback"] is None and versions(healthy.url) == ["001", "002"]


def test_health_failing_beyond_budget_rolls_back(healthy):
    flapping_app(healthy, failures=4)
    r = healthy.run("up", "--skip-backup")
    assert r.code == 1, r.text
    doc = run_log(healthy, r)
    assert [a["ok"] for a in doc["health"]["after"] if a["probe"] == "http"] == [False] * 4
    assert doc["outcome"] == "rolled_back" and all(a["ok"] for a in doc["health"]["after_rollback"])
    assert versions(healthy.url) == ["001"] and "extra" not in tables(healthy.url)


def test_hanging_health_endpoint_is_cut_off_and_rolled_back(healthy):
    started = time.monotonic()
    healthy.app.hang(5, after=1)  # the pre-deploy probe is answered; every later request hangs
    r = healthy.run("up", "--skip-backup")
    elapsed = time.monotonic() - started
    healthy.app.hang(0)
    assert r.code == 1, r.text
    doc = run_log(healthy, r)
    assert any("timed out after 0.5s" in a["detail"] for a in doc["health"]["after"])
    assert elapsed < 4 * 5  # every request was cut off long before the app answered
    assert versions(healthy.url) == ["001"]


# -- 8: a down section fails during the automatic rollback -----------------------------------------


def test_failing_down_during_rollback_needs_restore_and_the_restore_is_exact(project):
    project.configure({"staging": {"backup": str(project.root / "backups")}})
    project.add("001", "create table accounts (id int primary key, balance int);", "drop table accounts;")
    assert project.run("up", "-e", "staging").code == 0
    sql(project.url, "insert into accounts select g, g * 10 from generate_series(1, 500) g")
    before = fingerprint(project.url)
    project.add("002", "update accounts set balance = balance + 1 where id > 0;",
                "update accounts set balance = balance - 1 where no_such_column > 0;", name="bump")
    project.add("003", "select * from no_such_table;", "select 1;", name="broken")
    r = project.run("up", "-e", "staging")
    assert r.code == 3, r.text
    doc = run_log(project, r)
    assert doc["outcome"] == "needs_restore" and doc["rollback"]["result"] == "failed"
    assert doc["restore_command"] in r.err
    assert fingerprint(project.url) != before  # 002's update is still there
    restored = project.run(*shlex.split(doc["restore_command"])[1:])
    assert restored.code == 0, restored.text
    assert fingerprint(project.url) == before
    assert versions(project.url) == ["001"]


# -- 9: bad input: one line, exit 2, nothing changed ----------------------------------------------


BAD_INPUT = {
    "unknown environment": (["up", "-e", "prod"], None),
    "malformed YAML": (["up"], "environments: [dev\n"),
    "unknown config key": (["up"], "environments:\n  dev:\n    colour: red\n"),
    "unknown action": (["deploy"], None),
    "--steps 0": (["rollback", "--steps", "0"], None),
    "--steps -1": (["rollback", "--steps", "-1"], None),
    "--steps not a number": (["rollback", "--steps", "two"], None),
    "backup that does not exist": (["restore", "--backup", "dev/20250101T000000Z-nope.dump", "--yes"], None),
}


@pytest.mark.parametrize(("args", "config"), list(BAD_INPUT.values()), ids=list(BAD_INPUT))
def test_bad_input(project, args, config):
    project.add("001", "create table a (id int);", "drop table a;")
    assert project.run("up", "--skip-backup").code == 0
    before = fingerprint(project.url)
    project.add("002", "create table b (id int);", "drop table b;", name="b")
    if config is not None:
        (project.root / "db" / "orchestrator.yml").write_text(config)
    r = project.run(*args)
    assert r.code == 2, r.text
    errors = [line for line in r.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in r.err
    assert fingerprint(project.url) == before


def test_unreadable_migration_file(project):
    project.add("001", "create table a (id int);", "drop table a;")
    (project.migrations / "002_gone.sql").symlink_to(project.root / "nowhere.sql")
    r = project.run("up", "--skip-backup")
    assert r.code == 2 and "002_gone.sql" in r.err and "cannot read" in r.err
    assert tables(project.url) == []


def test_non_utf8_migration_file(project):
    (project.migrations / "001_latin1.sql").write_bytes(
        b"-- migrate:up\ncreate table caf\xe9 (id int);\n-- migrate:down\ndrop table caf\xe9;\n")
    r = project.run("up", "--skip-backup")
    assert r.code == 2 and "001_latin1.sql:2" in r.err and "UTF-8" in r.err
    assert tables(project.url) == []


def test_wrong_password_is_not_printed(project, password_role):
    url = project.url.dbmate_url().replace("postgres@", f"{password_role.user}:Not-The-Pass-77@")
    r = project.run("up", env=project.env(DATABASE_URL=url))
    assert r.code == 2 and "Not-The-Pass-77" not in r.text
    assert len([line for line in r.err.splitlines() if line.startswith("error:")]) == 1
