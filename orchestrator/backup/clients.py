"""pg_dump, pg_restore and psql for the server at hand, their failures as :class:`BackupError`.

The client must match the server's major version (see :func:`pgtools.find_program`), so
the server is asked first, on a connection of its own (:func:`database.server_release`).
"""

from __future__ import annotations

from pathlib import Path

from .. import pgtools
from ..dburl import DatabaseURL
from ..errors import DatabaseUnavailable, ToolError
from .store import fail


def server(url: DatabaseURL, action: str) -> tuple[int, str]:
    """(major, version text) of the server, e.g. (18, "18.1"); ``action`` says what needed it."""
    from .. import database  # noqa: PLC0415  (psycopg only when a backup or restore runs)

    try:
        return database.server_release(url)
    except DatabaseUnavailable as exc:
        raise fail(f"cannot {action}: {exc}") from exc


def program(name: str, major: int) -> tuple[Path, str]:
    """The client program for a server major version, and its version ("18.1")."""
    try:
        path = pgtools.find_program(name, major)
        return path, ".".join(map(str, pgtools.program_version(path)))
    except ToolError as exc:
        raise fail(str(exc)) from exc


def one_line(exc: BaseException) -> str:
    """pg_dump/pg_restore say what failed over several lines: join them."""
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
