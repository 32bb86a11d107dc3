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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import BackupError, BackupNotFound
from ..redaction import redact
from .manifest import BackupInfo

MiB = 1024 * 1024
GiB = 1024 * MiB
DEFAULT_PART_SIZE = 8 * MiB
MIN_PART_SIZE = 5 * MiB  # S3's minimum for every part but the last
MAX_PART_SIZE = 5 * GiB  # S3's maximum for any part
MAX_PARTS = 10_000  # S3's maximum number of parts
DEFAULT_GROW_EVERY = 1_000  # parts of one size before the size doubles


@dataclass(frozen=True)
class PartSchedule:
    """The size of each part of a multipart upload, known before the dump's size is.

    pg_dump's output is read in chunks of ``chunk`` bytes (the only dump bytes held in
    memory); part ``n`` is ``chunk`` doubled every ``grow_every`` parts, capped at the
    largest power-of-two multiple of ``chunk`` that S3 accepts.  With the defaults (8 MiB,
    x2 every 1,000 parts, up to 4 GiB) the first 8 GiB go in 8 MiB parts, 1 TB takes 6,879
    parts and 5 TB 9,167; 10,000 parts hold 7.8 TiB.  Doubling keeps every
    part a whole number of chunks, so a part is exactly the chunks that make it up.
    """

    chunk: int = DEFAULT_PART_SIZE
    grow_every: int = DEFAULT_GROW_EVERY

    def size(self, number: int) -> int:
        """The size of part ``number`` (from 1); the last part of a dump may be shorter."""
        doublings = (number - 1) // self.grow_every
        return self.chunk * 2 ** min(doublings, self.max_doublings)

    @property
    def max_doublings(self) -> int:
        """How often the part size may double before it would pass S3's 5 GiB."""
        return max(0, (MAX_PART_SIZE // self.chunk).bit_length() - 1)

    @property
    def capacity(self) -> int:
        """The largest dump that fits in :data:`MAX_PARTS` parts."""
        return sum(self.size(n) for n in range(1, MAX_PARTS + 1))

    def plan(self, total: int) -> list[int]:
        """The part sizes a dump of ``total`` bytes is uploaded in (pure; for tests and docs).

        :class:`BackupError` if it would need more than :data:`MAX_PARTS` parts.
        """
        sizes: list[int] = []
        left = total
        while left > 0:
            if len(sizes) == MAX_PARTS:
                raise fail(
                    f"a dump of {total} bytes needs more than {MAX_PARTS} parts of this schedule "
                    f"(it holds {self.capacity} bytes); raise the part size"
                )
            size = min(self.size(len(sizes) + 1), left)
            sizes.append(size)
            left -= size
        return sizes


def fail(message: str) -> BackupError:
    """A :class:`BackupError` whose text went through :func:`redact`, as every backup error's does."""
    return BackupError(redact(message))


class Sink(ABC):
    """Where the parts of one dump go while pg_dump runs (see :meth:`Store.sink`)."""

    @abstractmethod
    def write(self, number: int, data: bytes) -> None:
        """Take chunk ``number`` (from 1) of the dump, in order; may block to keep memory bounded.

        How chunks make parts (objects, files) is the sink's business: see :class:`PartSchedule`.
        """

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

    part_size: int = DEFAULT_PART_SIZE  # the chunk: how much of pg_dump's output is handed over at once

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
