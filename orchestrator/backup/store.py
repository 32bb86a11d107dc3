"""The interface every backup store implements, and what its implementations share.

A store is an S3 bucket and prefix (:mod:`.s3`) or a directory (:mod:`.local`).  It holds
dumps, their manifests and run logs under names relative to it
(``production/20250101T000000Z-abc.run.json``).  The rest of the package uses a store
only through :class:`Store`, so another kind of store, or a fake one in a test, needs
nothing else.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any

from ..errors import BackupError, BackupNotFound
from ..redaction import redact
from .manifest import BackupInfo

MiB = 1024 * 1024
DEFAULT_PART_SIZE = 8 * MiB


def fail(message: str) -> BackupError:
    """A :class:`BackupError` whose text went through :func:`redact`, as every backup error's does."""
    return BackupError(redact(message))


class Sink(ABC):
    """Where the parts of one dump go while pg_dump runs (see :meth:`Store.sink`)."""

    @abstractmethod
    def write(self, number: int, data: bytes) -> None:
        """Take part ``number`` (from 1); may block to keep memory bounded."""

    @abstractmethod
    def finish(self, size: int) -> dict[str, Any]:
        """Make the dump durable and verify it; return what was verified, for the manifest."""

    @abstractmethod
    def abort(self) -> str | None:
        """Remove every trace of the dump; return a note if that failed (never raises)."""


class Store(ABC):
    """A place for backups and run logs: an S3 bucket and prefix, or a local directory.

    Names given to and returned by a store are relative to it.  Errors are the project's
    own: :class:`BackupNotFound` for what is not there, :class:`BackupError` for the rest.
    """

    part_size: int = DEFAULT_PART_SIZE  # how much of pg_dump's output is handed over at once

    @abstractmethod
    def describe(self) -> str:
        """Where the store is, for people (``s3://bucket/prefix (SSE AES256)``)."""

    @abstractmethod
    def check(self) -> None:
        """Fail with :class:`BackupError` unless the store can be written now (cheap)."""

    @abstractmethod
    def url_for(self, key: str) -> str:
        """The full location of a name in the store."""

    @abstractmethod
    def put_text(self, name: str, text: str) -> str:
        """Store a small text object (a run log, a manifest); return its URL."""

    def get_text(self, name: str) -> str:
        """Read a text object; :class:`BackupNotFound` if there is none."""
        data = self.read(name)
        if data is None:
            raise BackupNotFound(f"{self.url_for(name)} does not exist")
        return data.decode("utf-8")

    @abstractmethod
    def list_texts(self, suffix: str, under: str = "") -> list[str]:
        """Names ending with ``suffix`` (below folder ``under``), newest name first."""

    @abstractmethod
    def sink(self, key: str, metadata: dict[str, str]) -> Sink:
        """Start writing the dump ``key``; ``metadata`` is stored with it where the store can."""

    @abstractmethod
    def complete_dumps(self, under: str) -> list[str]:
        """Names of the dumps below folder ``under`` that have both a dump and a manifest."""

    @abstractmethod
    def read(self, name: str) -> bytes | None:
        """A small object's bytes, or None if it does not exist."""

    @abstractmethod
    def exists(self, name: str) -> bool:
        """Whether the object ``name`` exists."""

    @abstractmethod
    def resolve(self, key_or_url: str) -> list[str]:
        """The names in the store that what a user typed may mean, most likely first.

        :class:`BackupNotFound` if it names a place outside the store.
        """

    @abstractmethod
    def fetch(self, info: BackupInfo) -> AbstractContextManager[Path]:
        """A local file holding the dump while the context lasts, checked against the manifest.

        A dump whose size or SHA-256 differs from ``info`` raises :class:`BackupError`
        before the caller sees it, so a damaged or tampered backup restores nothing.
        """


def safe_name(name: str) -> str:
    """``name`` with ``/`` separators, if it stays inside the store; else :class:`BackupNotFound`."""
    parts = name.replace("\\", "/").split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise BackupNotFound(f"{name!r} is not a valid name in the backup store")
    return "/".join(parts)


def newest_first(names: Iterable[str]) -> list[str]:
    """Names sorted by their file name (which starts with the UTC stamp), then the folder, newest first."""

    def order(name: str) -> tuple[str, str]:
        folder, _, base = name.rpartition("/")
        return base, folder

    return sorted(names, key=order, reverse=True)


def hash_stream(src: Any, dst: IO[bytes] | None = None) -> tuple[int, str]:
    """(size, SHA-256 hex) of what ``src`` holds, read a MiB at a time and copied to ``dst`` if given."""
    digest = hashlib.sha256()
    size = 0
    while chunk := src.read(MiB):
        digest.update(chunk)
        size += len(chunk)
        if dst is not None:
            dst.write(chunk)
    return size, digest.hexdigest()
