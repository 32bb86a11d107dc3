"""A directory as the backup store: the default for dev (``.orchestrator/backups`` of the project).

Every file is written beside its place as ``<name>.partial``, synced, and renamed into
place, so a crash or a failed pg_dump never leaves a file that looks complete.  Files are
0600 in 0700 directories: a dump holds every row of the database.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import BackupNotFound
from .manifest import MANIFEST_SUFFIX, BackupInfo, dump_names
from .store import DEFAULT_PART_SIZE, Sink, Store, fail, hash_stream, newest_first, safe_name

DEFAULT_LOCAL = ".orchestrator/backups"
_PARTIAL = ".partial"


class LocalStore(Store):
    """A directory; names in the store are paths relative to it."""

    def __init__(self, directory: Path, *, part_size: int = DEFAULT_PART_SIZE) -> None:
        self.directory = directory.resolve()
        self.part_size = part_size

    def describe(self) -> str:
        return str(self.directory)

    def check(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise fail(f"cannot create the backup directory {self.directory}: {exc.strerror}") from exc
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise fail(f"the backup directory {self.directory} is not writable")

    def url_for(self, key: str) -> str:
        return str(self.directory / key)

    def put_text(self, name: str, text: str) -> str:
        path = self._path(name)
        try:
            with _partial(path, exclusive=False) as f:
                f.write(text.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(_partial_path(path), path)
        except OSError as exc:
            raise fail(f"cannot write {path}: {exc.strerror}") from exc
        return str(path)

    def list_texts(self, suffix: str, under: str = "") -> list[str]:
        base = self._path(under) if under else self.directory
        if not base.is_dir():
            return []
        return newest_first(
            p.relative_to(self.directory).as_posix()
            for p in base.rglob(f"*{suffix}")
            if p.is_file() and not p.name.endswith(_PARTIAL)
        )

    def sink(self, key: str, metadata: dict[str, str]) -> Sink:
        """A file sink; the metadata is in the manifest only (a file has nowhere else to keep it)."""
        return _FileSink(self._path(key))

    def complete_dumps(self, under: str) -> list[str]:
        dumps = (name.removesuffix(".json") for name in self.list_texts(MANIFEST_SUFFIX, under))
        return [key for key in dumps if self.exists(key)]

    def read(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise fail(f"cannot read {self.url_for(name)}: {exc.strerror}") from exc

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def resolve(self, key_or_url: str) -> list[str]:
        """A name in the store, or a path (absolute, or relative to the working directory) inside it."""
        path = Path(key_or_url).expanduser()
        if path.is_absolute() or path.exists():
            try:
                key_or_url = path.resolve().relative_to(self.directory).as_posix()
            except ValueError as exc:
                raise BackupNotFound(
                    f"{key_or_url} is not inside the backup directory {self.directory}"
                ) from exc
        return dump_names(key_or_url)

    @contextlib.contextmanager
    def fetch(self, info: BackupInfo) -> Iterator[Path]:
        """The dump itself, read once to check it (nothing is copied)."""
        path = self._path(info.key)
        try:
            with path.open("rb") as f:
                size, digest = hash_stream(f)
        except FileNotFoundError as exc:
            raise BackupNotFound(f"{path} does not exist") from exc
        except OSError as exc:
            raise fail(f"cannot read {path}: {exc.strerror}") from exc
        info.check_download(size, digest)
        yield path

    def _path(self, name: str) -> Path:
        return self.directory / safe_name(name)


class _FileSink(Sink):
    """``<name>.dump.partial``, renamed to ``<name>.dump`` once complete and synced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = _partial_path(path)
        try:
            self.file: IO[bytes] = _partial(path, exclusive=True)
        except OSError as exc:
            raise fail(f"cannot create {self.partial}: {exc.strerror}") from exc

    def write(self, number: int, data: bytes) -> None:
        try:
            self.file.write(data)
        except OSError as exc:
            raise fail(f"cannot write {self.partial}: {exc.strerror}") from exc

    def finish(self, size: int) -> dict[str, Any]:
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            stored = os.fstat(self.file.fileno()).st_size
            self.file.close()
            if stored != size:
                raise fail(f"{self.partial} holds {stored} bytes, but pg_dump wrote {size}")
            os.replace(self.partial, self.path)
        except OSError as exc:
            raise fail(f"cannot complete {self.path}: {exc.strerror}") from exc
        return {"verified": "size"}

    def abort(self) -> str | None:
        with contextlib.suppress(OSError):
            self.file.close()
        for path in (self.partial, self.path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return None


def _partial_path(path: Path) -> Path:
    return path.with_name(path.name + _PARTIAL)


def _partial(path: Path, *, exclusive: bool) -> IO[bytes]:
    """``<path>.partial`` opened for writing (0600, its folders 0700); ``exclusive``: it must be new."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    return os.fdopen(os.open(_partial_path(path), flags, 0o600), "wb")
