"""The health check against a real HTTP endpoint and a real database (no mocks).
(What it refuses before asking anything: ``unit/test_health.py``.)"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time

import pytest
from support.net import free_port
from support.postgres import sql
from support.processes import wait_for

from orchestrator import health
from orchestrator.config import Health
from orchestrator.database import Database
from orchestrator.dburl import DatabaseURL
from orchestrator.health import Attempt, check, probe_database, probe_http

FAST = Health(attempts=5, interval=0.05, timeout=3.0)


@pytest.fixture
def app_schema(db_url: DatabaseURL) -> DatabaseURL:
    """The app's table, so the app's query succeeds."""
    sql(db_url, "create table users (id bigint primary key, email text not null, full_name text)")
    return db_url


def record_versions(url: DatabaseURL, *versions: str) -> None:
    with Database(url) as db:
        db.ensure_table()
    for version in versions:
        sql(url, "insert into schema_migrations (version) values (%s)", [version])


# -- the HTTP probe --------------------------------------------------------------------


def test_healthy_app_is_healthy_at_the_first_attempt(app_schema, health_app):
    seen: list[Attempt] = []
    result = probe_http(health_app.url, FAST, on_attempt=seen.append)
    assert result.healthy
    assert len(result.attempts) == 1 and seen == result.attempts
    attempt = result.attempts[0]
    assert (attempt.number, attempt.ok, attempt.status_code, attempt.detail) == (1, True, 200, "HTTP 200")
    assert attempt.probe == "http"
    assert attempt.started.endswith("+00:00")
    assert health_app.requests == 1
    assert result.url == health_app.url
    assert result.summary().startswith("healthy after 1 check")


def test_app_whose_query_fails_is_unhealthy_after_every_attempt(app_schema, health_app):
    health_app.query = "select id, email, nickname from users limit 1"  # no such column
    seen: list[Attempt] = []
    result = probe_http(health_app.url, FAST, on_attempt=seen.append)
    assert not result.healthy
    assert [a.number for a in result.attempts] == [1, 2, 3, 4, 5]
    assert seen == result.attempts
    assert health_app.requests == 5
    for attempt in result.attempts:
        assert not attempt.ok and attempt.status_code == 503
        assert attempt.detail.startswith("HTTP 503: ")
        assert 'column "nickname" does not exist' in attempt.detail
        assert "\n" not in attempt.detail
        assert len(attempt.detail) <= len("HTTP 503: ") + health.BODY_CHARS + 3
    assert "unhealthy after 5 checks" in result.summary()
    assert "nickname" in result.summary()


def test_missing_table_makes_the_app_unhealthy(db_url, health_app):
    result = probe_http(health_app.url, Health(attempts=2, interval=0.01, timeout=3))
    assert not result.healthy and len(result.attempts) == 2
    assert 'relation "users" does not exist' in result.attempts[-1].detail


def test_flapping_app_becomes_healthy_on_the_third_attempt(app_schema, health_app):
    health_app.fail_next(2)
    result = probe_http(health_app.url, FAST)
    assert result.healthy
    assert [(a.number, a.ok, a.status_code) for a in result.attempts] == [
        (1, False, 503),
        (2, False, 503),
        (3, True, 200),
    ]
    assert health_app.requests == 3  # no retry once healthy


def test_interval_separates_attempts(app_schema, health_app):
    health_app.fail_next(2)
    start = time.monotonic()
    result = probe_http(health_app.url, Health(attempts=3, interval=0.15, timeout=3))
    assert result.healthy
    assert time.monotonic() - start >= 0.28  # two waits of 0.15 s


def test_hanging_endpoint_is_cut_off_by_the_request_timeout(app_schema, health_app):
    health_app.hang(2.0)
    policy = Health(attempts=3, interval=0.05, timeout=0.3)
    start = time.monotonic()
    result = probe_http(health_app.url, policy)
    elapsed = time.monotonic() - start
    assert not result.healthy and len(result.attempts) == 3
    for attempt in result.attempts:
        assert attempt.status_code is None
        assert attempt.detail == "timed out after 0.3s (overall deadline) waiting for the response"
        assert 0.2 <= attempt.seconds < 1.5
    assert elapsed < 2.0 * 3 / 2  # far below hang * attempts


# -- the overall deadline: a trickled answer, a signal ----------------------------------
#
# Timings are asserted with generous bounds only: each attempt must end within its
# timeout plus 0.5 s, whereas without the overall deadline a trickled answer (a byte every
# 0.1-0.2 s, each well within httpx's per-read timeout) would go on for minutes.

SLOW = 0.5  # the timeout in these tests, in seconds
GRACE = 0.5  # how late past it an attempt may end, on a noisy machine


def probe_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("health-probe") and t.is_alive()]


def assert_cut_off(result, attempts: int, elapsed: float) -> None:
    assert not result.healthy and len(result.attempts) == attempts
    for attempt in result.attempts:
        assert not attempt.ok
        assert attempt.detail.startswith(f"timed out after {SLOW:g}s (overall deadline) "), attempt.detail
        assert SLOW * 0.9 <= attempt.seconds < SLOW + GRACE, attempt.describe()
    assert elapsed < attempts * (SLOW + GRACE) + 1.0
    # The worker threads were cut off too (their sockets shut down), not left reading.
    wait_for(lambda: not probe_threads(), timeout=5, every=0.02, what="the probe threads to end")


def test_error_answer_with_a_trickled_body_is_cut_off_at_the_deadline(health_app):
    health_app.trickle("body", status=503, every=0.1)
    policy = Health(attempts=3, interval=0.05, timeout=SLOW)
    start = time.monotonic()
    result = probe_http(health_app.url, policy)
    assert_cut_off(result, 3, time.monotonic() - start)
    assert health_app.requests == 3
    for attempt in result.attempts:
        assert attempt.status_code == 503  # the answer's status is kept, with what came of its body
        # as much of the body as trickled in by then (a loaded machine gets fewer bytes)
        assert re.match(r"timed out after 0\.5s \(overall deadline\) reading the body of HTTP 503(: t\w*)?$",
                        attempt.detail), attempt.detail
    assert "timed out after 0.5s (overall deadline)" in result.summary()


@pytest.mark.parametrize("status", [200, 503])
def test_trickled_headers_are_cut_off_at_the_deadline(health_app, status):
    health_app.trickle("headers", status=status, every=0.1)
    policy = Health(attempts=2, interval=0.05, timeout=SLOW)
    start = time.monotonic()
    result = probe_http(health_app.url, policy)
    assert_cut_off(result, 2, time.monotonic() - start)
    for attempt in result.attempts:
        assert attempt.status_code is None
        assert attempt.detail == "timed out after 0.5s (overall deadline) waiting for the response"


def test_success_with_a_trickled_body_is_healthy_within_the_deadline(health_app):
    """A 2xx is the answer: its body is not waited for."""
    health_app.trickle("body", status=200, every=0.2)
    start = time.monotonic()
    result = probe_http(health_app.url, Health(attempts=3, interval=0.05, timeout=SLOW))
    assert time.monotonic() - start < SLOW + GRACE
    assert result.healthy and len(result.attempts) == 1
    assert (result.attempts[0].status_code, result.attempts[0].detail) == (200, "HTTP 200")
    wait_for(lambda: not probe_threads(), timeout=5, every=0.02, what="the probe thread to end")


def test_unanswered_connection_is_cut_off_even_with_a_long_timeout_elsewhere(health_app):
    """The deadline also holds when the whole attempt is one long wait for headers."""
    health_app.hang(30)
    start = time.monotonic()
    result = probe_http(health_app.url, Health(attempts=2, interval=0, timeout=SLOW))
    assert_cut_off(result, 2, time.monotonic() - start)
    assert [a.detail for a in result.attempts] == ["timed out after 0.5s (overall deadline) waiting for the response"] * 2


class Interrupt:
    """Send this process SIGINT from a timer thread after ``delay`` seconds, with Python's
    default handler (which raises KeyboardInterrupt in the main thread) in place."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.sent: float | None = None

    def _send(self) -> None:
        self.sent = time.monotonic()
        os.kill(os.getpid(), signal.SIGINT)

    def __enter__(self):
        assert threading.current_thread() is threading.main_thread()
        self._previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        self._timer = threading.Timer(self.delay, self._send)
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self._timer.join()
        signal.signal(signal.SIGINT, self._previous)


@pytest.mark.skipif(sys.platform == "win32", reason="os.kill(SIGINT) ends the process on Windows")
@pytest.mark.parametrize("mode", ["hang", "trickle"])
def test_a_signal_during_a_probe_interrupts_it_at_once(health_app, mode):
    if mode == "hang":
        health_app.hang(30)
    else:
        health_app.trickle("body", status=503, every=0.1)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt), Interrupt(0.4) as interrupt:
        probe_http(health_app.url, Health(attempts=3, interval=0, timeout=30))
    raised = time.monotonic()
    assert interrupt.sent is not None and health_app.requests == 1
    assert raised - interrupt.sent < 0.5, f"KeyboardInterrupt came {raised - interrupt.sent:.2f}s after SIGINT"
    assert raised - start < 5
    wait_for(lambda: not probe_threads(), timeout=5, every=0.02, what="the interrupted probe thread to end")


@pytest.mark.skipif(sys.platform == "win32", reason="os.kill(SIGINT) ends the process on Windows")
def test_a_signal_between_attempts_interrupts_the_wait_at_once():
    url = f"http://127.0.0.1:{free_port()}/health/db"
    seen: list[Attempt] = []
    with pytest.raises(KeyboardInterrupt), Interrupt(0.5) as interrupt:
        probe_http(url, Health(attempts=3, interval=30, timeout=2), on_attempt=seen.append)
    raised = time.monotonic()
    assert [a.detail for a in seen] == ["connection refused"]  # interrupted during the 30 s interval
    assert raised - interrupt.sent < 0.5, f"KeyboardInterrupt came {raised - interrupt.sent:.2f}s after SIGINT"


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")
def test_any_exception_a_signal_handler_raises_propagates(health_app):
    class Stop(Exception):
        pass

    def handler(signum, frame):
        raise Stop("stop probing")

    health_app.hang(30)
    previous = signal.signal(signal.SIGUSR1, handler)
    timer = threading.Timer(0.4, os.kill, args=(os.getpid(), signal.SIGUSR1))
    try:
        start = time.monotonic()
        timer.start()
        with pytest.raises(Stop):
            probe_http(health_app.url, Health(attempts=3, interval=0, timeout=30))
        assert time.monotonic() - start < 0.4 + 0.5
    finally:
        timer.cancel()
        timer.join()
        signal.signal(signal.SIGUSR1, previous)
    wait_for(lambda: not probe_threads(), timeout=5, every=0.02, what="the interrupted probe thread to end")


def test_closed_port_is_connection_refused():
    url = f"http://127.0.0.1:{free_port()}/health/db"
    result = probe_http(url, Health(attempts=2, interval=0.01, timeout=2))
    assert not result.healthy
    assert [a.detail for a in result.attempts] == ["connection refused", "connection refused"]
    assert all(a.status_code is None for a in result.attempts)
    assert "connection refused" in result.summary()


def test_redirect_is_not_followed(app_schema, health_app):
    health_app.redirect("http://elsewhere.invalid/health/db?token=abcdef123")
    result = probe_http(health_app.url, Health(attempts=2, interval=0.01, timeout=2))
    assert not result.healthy
    attempt = result.attempts[0]
    assert attempt.status_code == 302
    assert "redirect to http://elsewhere.invalid/health/db" in attempt.detail
    assert "abcdef123" not in attempt.detail


def test_credentials_in_the_url_are_never_shown(app_schema, health_app):
    password = "hunter2-secret-9f3a"
    url = f"http://probe:{password}@127.0.0.1:{health_app.port}/health/db?token=tok-77aa"
    health_app.query = f'select "{password}" from users'  # the app echoes it in its error
    result = probe_http(url, Health(attempts=2, interval=0.01, timeout=3))
    assert not result.healthy and result.attempts[0].status_code == 503
    assert health_app.headers[0]["Authorization"].startswith("Basic ")  # the credentials were sent
    shown = "\n".join(
        [repr(result), json.dumps(result.to_dict()), result.summary(), *(a.describe() for a in result.attempts)]
    )
    assert password not in shown and "secret" not in shown
    assert "tok-77aa" not in shown
    assert result.url == f"http://127.0.0.1:{health_app.port}/health/db?token={health.MASK}"
    assert "does not exist" in result.attempts[0].detail


# -- the database probe ----------------------------------------------------------------


def test_database_probe_ok_when_version_matches(db_url):
    record_versions(db_url, "20240101000000", "20240301000000", "20240201000000")
    attempt = probe_database(db_url, "20240301000000")
    assert attempt.ok, attempt.detail
    assert attempt.probe == "database" and attempt.status_code is None
    assert "20240301000000" in attempt.detail


def test_database_probe_on_an_open_database_leaves_it_open(db_url):
    record_versions(db_url, "20240101000000")
    with Database(db_url) as db:
        assert probe_database(db, "20240101000000").ok
        db.ping()  # still usable


def test_database_probe_reports_both_versions_on_mismatch(db_url):
    record_versions(db_url, "20240101000000", "20240201000000")
    attempt = probe_database(db_url, "20240301000000")
    assert not attempt.ok
    assert "20240201000000" in attempt.detail and "20240301000000" in attempt.detail
    assert "schema_migrations" in attempt.detail


def test_database_probe_without_migrations(db_url):
    assert probe_database(db_url, None).ok
    attempt = probe_database(db_url, "20240101000000")
    assert not attempt.ok and "(none)" in attempt.detail and "20240101000000" in attempt.detail


def test_unreachable_database_is_a_failed_probe_not_an_exception(pg_server):
    missing = pg_server.with_database("no_such_database_here")
    attempt = probe_database(missing, "20240101000000")
    assert not attempt.ok
    assert "no_such_database_here" in attempt.detail and "does not exist" in attempt.detail


# -- both ------------------------------------------------------------------------------


def test_check_passes_when_database_and_app_pass(app_schema, health_app):
    record_versions(app_schema, "20240101000000")
    seen: list[Attempt] = []
    result = check(health_app.url, health.database_probe(app_schema, "20240101000000"), FAST, seen.append)
    assert result.healthy
    assert [(a.probe, a.number) for a in result.attempts] == [("database", 1), ("http", 1)]
    assert seen == result.attempts
    record = json.loads(json.dumps(result.to_dict()))
    assert record["healthy"] is True and len(record["attempts"]) == 2
    assert set(record["attempts"][0]) == {"probe", "number", "started", "seconds", "ok", "status_code", "detail"}


def test_check_fails_when_the_app_fails(app_schema, health_app):
    record_versions(app_schema, "20240101000000")
    health_app.query = "select nope from users"
    policy = Health(attempts=3, interval=0.01, timeout=3)
    result = check(health_app.url, health.database_probe(app_schema, "20240101000000"), policy)
    assert not result.healthy
    assert [a.probe for a in result.attempts] == ["database", "http", "http", "http"]
    assert result.attempts[0].ok


def test_check_does_not_poll_the_app_when_the_database_probe_fails(app_schema, health_app):
    record_versions(app_schema, "20240101000000")
    result = check(health_app.url, health.database_probe(app_schema, "20249999000000"), FAST)
    assert not result.healthy
    assert [a.probe for a in result.attempts] == ["database"]
    assert health_app.requests == 0
    assert "20249999000000" in result.summary()


def test_check_without_health_url_runs_only_the_database_probe(db_url):
    record_versions(db_url, "20240101000000")
    result = check(None, health.database_probe(db_url, "20240101000000"), FAST)
    assert result.healthy and result.url is None
    assert [a.probe for a in result.attempts] == ["database"]
    result = check(None, health.database_probe(db_url.with_database("gone_db_x"), "20240101000000"), FAST)
    assert not result.healthy and "gone_db_x" in result.summary()


