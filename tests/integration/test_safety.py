"""Drift, order, the lock guard and lint before a deploy, on a real PostgreSQL (the CLI in-process)."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
from support.postgres import sql, tables, versions
from support.runs import run_log


@pytest.fixture
def applied(project):
    project.add("0010", "create table customers (id int primary key, name text);\n"
                        "insert into customers select g, 'c' || g from generate_series(1, 100) g;",
                "drop table customers;", name="customers")
    project.add("0020", "create table notes (id int);", "drop table notes;", name="notes")
    r = project.run("up", "--skip-backup")
    assert r.code == 0, r.text
    return project


def test_drift_is_reported_and_refused_where_configured(applied):
    (applied.migrations / "0020_notes.sql").write_text(
        "-- migrate:up\ncreate table notes (id int, body text);\n-- migrate:down\ndrop table notes;\n")
    status = applied.run("status")
    assert "[X] 0020_notes.sql (changed since applied)" in status.out
    applied.add("0030", "create table extra (id int);", "drop table extra;", name="extra")
    applied.configure({"dev": {"drift": "error"}})
    r = applied.run("up", "--skip-backup")
    assert r.code == 2 and "0020_notes.sql" in r.err and "drift" in r.err
    assert versions(applied.url) == ["0010", "0020"]
    applied.configure({"dev": {"drift": "warn"}})
    r = applied.run("up", "--skip-backup")
    assert r.code == 0, r.text
    assert "0020_notes.sql: drift" in r.err
    assert versions(applied.url) == ["0010", "0020", "0030"]


def test_drift_defaults_to_refusal_in_staging(applied):
    (applied.migrations / "0020_notes.sql").write_text(
        "-- migrate:up\ncreate table notes (id bigint);\n-- migrate:down\ndrop table notes;\n")
    applied.add("0030", "create table extra (id int);", "drop table extra;", name="extra")
    staging_config(applied)
    r = applied.run("up", "-e", "staging")
    assert r.code == 2 and "0020_notes.sql" in r.err
    assert "extra" not in tables(applied.url)


def test_pending_migration_older_than_applied_is_reported_and_refused_when_strict(applied):
    applied.add("0015", "create table late (id int);", "drop table late;", name="late_branch")
    status = applied.run("status")
    assert "[ ] 0015_late_branch.sql (out of order: older than applied 0020)" in status.out
    applied.configure({"dev": {"strict": True}})
    r = applied.run("up", "--skip-backup")
    assert r.code == 2 and "out of order" in r.err
    assert "late" not in tables(applied.url)
    applied.configure({"dev": {}})
    r = applied.run("up", "--skip-backup")
    assert r.code == 0 and "out-of-order" in r.err
    assert "late" in tables(applied.url)


class AppTraffic:
    """The app: a plain SELECT on customers every 50 ms, timing how long each one waits."""

    def __init__(self, url) -> None:
        self.url = url
        self.waits: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with psycopg.connect(self.url.conninfo(), autocommit=True) as conn:
            while not self._stop.is_set():
                start = time.monotonic()
                conn.execute("select count(*) from customers")
                self.waits.append(time.monotonic() - start)
                time.sleep(0.05)

    def __enter__(self) -> AppTraffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class Holder(threading.Thread):
    """A long transaction that has read customers (ACCESS SHARE) and stays open for ``seconds``,
    or until :meth:`release`."""

    def __init__(self, url, seconds: float) -> None:
        super().__init__(daemon=True)
        self.url, self.seconds = url, seconds
        self.ready, self._released = threading.Event(), threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url.conninfo()) as conn:
            conn.execute("select * from customers limit 1")
            self.ready.set()
            self._released.wait(self.seconds)
            conn.rollback()

    def release(self) -> None:
        self._released.set()
        self.join()


def hold_lock(url, seconds: float) -> Holder:
    """Start a :class:`Holder`; return once it holds its lock."""
    holder = Holder(url, seconds)
    holder.start()
    holder.ready.wait(10)
    return holder


def test_lock_guard_keeps_app_queries_flowing_and_fails_cleanly(applied):
    applied.configure({"dev": {"lock_timeout": "500ms", "lock_retries": 2, "lock_retry_delay": "200ms"}})
    path = applied.add("0030", "alter table customers add column tier text;",
                       "alter table customers drop column tier;", name="tier")
    holder = hold_lock(applied.url, 6)
    with AppTraffic(applied.url) as app:
        r = applied.run("up", "--skip-backup")  # gives up while the lock is still held
    holder.release()
    assert r.code == 1, r.text
    assert f"{path.name}:2" in r.err and "lock timeout" in r.err
    assert r.err.count("retry") >= 2
    assert versions(applied.url) == ["0010", "0020"]
    assert sql(applied.url, "select count(*) from information_schema.columns where column_name = 'tier'") == [(0,)]
    assert len(app.waits) > 10
    assert max(app.waits) < 1.5, app.waits  # never queued much longer than lock_timeout (0.5 s)


def test_lock_guard_retry_succeeds_once_the_lock_is_free(applied):
    applied.configure({"dev": {"lock_timeout": "300ms", "lock_retries": 6, "lock_retry_delay": "300ms"}})
    applied.add("0030", "alter table customers add column tier text;", "alter table customers drop column tier;",
                name="tier")
    holder = hold_lock(applied.url, 2.0)  # longer than the in-process CLI takes to its first try, on a loaded machine
    r = applied.run("up", "--skip-backup")
    holder.join()
    assert r.code == 0, r.text
    assert "retry 1 of 6" in r.err
    assert versions(applied.url)[-1] == "0030"


def test_default_lock_guard_waits_out_a_long_transaction_without_stalling_the_app(applied):
    """No lock settings: each attempt waits at most the default lock_timeout (100 ms), the
    pauses between attempts grow, and the migration applies once the 3 s transaction ends."""
    applied.add("0030", "alter table customers add column tier text;", "alter table customers drop column tier;",
                name="tier")
    holder = hold_lock(applied.url, 3.0)
    with AppTraffic(applied.url) as app:
        r = applied.run("up", "--skip-backup")
    holder.join()
    assert r.code == 0, r.text
    assert "lock not granted within lock_timeout 0.1s; retry 1 of 10" in r.err
    assert versions(applied.url)[-1] == "0030"
    assert len(app.waits) > 10
    assert max(app.waits) < 1.0, app.waits  # a query queues behind one attempt at most (0.1 s), never the 3 s


def test_without_the_guard_app_queries_queue_behind_the_migration(applied):
    """The control: a migration without lock_timeout makes the app wait for the whole long transaction."""
    holder = hold_lock(applied.url, 2.5)
    with AppTraffic(applied.url) as app:
        time.sleep(0.2)
        with psycopg.connect(applied.url.conninfo(), autocommit=True) as conn:
            conn.execute("alter table customers add column tier text")
    holder.join()
    assert max(app.waits) > 1.5


def test_interrupted_transaction_false_migration_blocks_until_resolved(applied):
    applied.write(
        "0030_idx.sql",
        "-- migrate:up transaction:false\ncreate index concurrently notes_id on notes (id);\n"
        "select 1 / 0;\n-- migrate:down transaction:false\ndrop index concurrently notes_id;\n",
    )
    r = applied.run("up", "--skip-backup")
    assert r.code == 3, r.text  # half-done and cannot be rolled back automatically
    assert "1 of 2 statements" in r.err
    status = applied.run("status")
    assert "0030_idx.sql (INTERRUPTED while applying" in status.out
    again = applied.run("up", "--skip-backup")
    assert again.code == 2 and "orchestrator resolve 0030" in again.err
    assert versions(applied.url) == ["0010", "0020"]
    sql(applied.url, "drop index notes_id")  # what a person would do after looking
    done = applied.run("resolve", "0030", "--not-applied")
    assert done.code == 0, done.text
    assert "INTERRUPTED" not in applied.run("status").out
    assert applied.run("resolve", "0030", "--applied").code == 2  # nothing left to resolve


def test_transaction_false_failing_first_statement_leaves_no_mark(applied):
    applied.write("0030_idx.sql", "-- migrate:up transaction:false\nselect 1 / 0;\n"
                                  "-- migrate:down transaction:false\nselect 1;\n")
    r = applied.run("up", "--skip-backup")
    assert r.code == 1, r.text
    assert "INTERRUPTED" not in applied.run("status").out
    assert applied.run("up", "--skip-backup").code == 1  # fails again the same way, not refused


def staging_config(project) -> None:
    project.configure({"staging": {"backup": str(project.root / "backups")}})


def test_lint_error_blocks_the_deploy_before_anything_changes(applied):
    staging_config(applied)
    path = applied.add("0030", "create index customers_name on customers (name);",
                       "drop index customers_name;", name="idx")
    r = applied.run("up", "-e", "staging")
    assert r.code == 2, r.text
    assert f"{path.name}:2:1: error index-not-concurrent" in r.out
    assert "lint error(s) block this run" in r.err
    assert versions(applied.url) == ["0010", "0020"]
    assert not (applied.root / "backups").exists() or not list((applied.root / "backups").rglob("*.dump"))


def test_ignore_comment_lets_it_through_and_keeps_the_reason(applied):
    staging_config(applied)
    applied.add("0030", "-- orchestrator:ignore index-not-concurrent 100 rows, takes milliseconds\n"
                        "create index customers_name on customers (name);", "drop index customers_name;", name="idx")
    r = applied.run("up", "-e", "staging")
    assert r.code == 0, r.text
    doc = run_log(applied, r)
    [finding] = [f for f in doc["findings"] if f["rule"] == "index-not-concurrent"]
    assert finding["suppressed"] and finding["reason"] == "100 rows, takes milliseconds"


def test_lint_severity_per_environment(applied):
    applied.configure({"dev": {"lint": {"*": "warning"}}})
    applied.add("0030", "create index customers_name on customers (name);", "drop index customers_name;", name="idx")
    r = applied.run("up", "--skip-backup")
    assert r.code == 0, r.text
    assert "warning index-not-concurrent" in r.out


def test_syntax_error_reported_with_line_and_column_before_anything_runs(applied):
    path = applied.add("0030", "create table ok (id int);\ncreate tabel broken (id int);", "drop table ok;", name="bad")
    r = applied.run("up", "--skip-backup")
    assert r.code == 2, r.text
    assert f"{path.name}:3:8: error syntax-error" in r.out
    assert "ok" not in tables(applied.url)


def test_rollback_is_not_blocked_by_a_drop_in_its_down_section(applied):
    staging_config(applied)
    r = applied.run("rollback", "-e", "staging")
    assert r.code == 0, r.text
    assert "drop-table" not in r.out  # forward-migration advice is not shown for a rollback's down SQL
    assert versions(applied.url) == ["0010"]


def test_lint_command(applied):
    path = applied.add("0030", "update customers set name = 'x';", "select 1;", name="bulk")
    r = applied.run("lint", str(path))
    assert r.code == 0 and "warning dml-without-where" in r.out
    bad = applied.add("0040", "alter table customers alter column name type varchar(10);",
                      "alter table customers alter column name type text;", name="type")
    r = applied.run("lint")
    assert r.code == 0 and f"{bad.name}:2:1: warning column-type-change" in r.out  # dev warns
    env = {k: v for k, v in applied.env().items() if k != "DATABASE_URL"}  # lint needs no database
    r = applied.run("lint", "-e", "production", env=env)
    assert r.code == 1 and f"{bad.name}:2:1: error column-type-change" in r.out
    data = json.loads(applied.run("lint", "--json", str(bad)).out)
    assert data[0]["rule"] == "column-type-change"
