"""Unit tests: pure.  No database, no network, no subprocess: files in a temporary directory,
pipes and inline strings at most, so that ``pytest tests/unit`` is the quick loop.

Checked, not just promised: a test here that asks for a fixture of the real parts is an
error, and one that starts a process, opens a network connection or connects to
PostgreSQL fails at that call.
"""

from __future__ import annotations

import socket
import subprocess

import psycopg
import pytest

REAL_PARTS = {
    "pg_server", "db_url", "password_role", "project", "shipped", "staging", "staging_template",
    "s3_endpoint", "s3_bucket", "health_app", "background",
}


class NotAUnitTest(AssertionError):
    """A unit test reached for a real part: it belongs in tests/integration or tests/e2e."""


@pytest.fixture(autouse=True)
def _pure(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    used = REAL_PARTS.intersection(request.fixturenames)
    if used:
        raise NotAUnitTest(f"{request.node.nodeid} uses {sorted(used)}: not a unit test")

    def refuse(what: str):
        def refused(*args: object, **kwargs: object) -> None:
            raise NotAUnitTest(f"a unit test {what}: move it to tests/integration or tests/e2e")

        return refused

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("starts a process"))
    monkeypatch.setattr(socket.socket, "connect", refuse("opens a network connection"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("opens a network connection"))
    monkeypatch.setattr(psycopg, "connect", refuse("connects to PostgreSQL"))
    monkeypatch.setattr(psycopg.Connection, "connect", refuse("connects to PostgreSQL"))
