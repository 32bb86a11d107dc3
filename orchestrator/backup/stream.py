"""pg_dump's output, compressed, in parts, into a store's sink, hashed on the way.

The dump is never held whole, in memory or on disk.  A reader thread pulls pg_dump's
stdout, compressing it, in parts (8 MiB by default), the next one as soon as the calling
thread has hashed the last (SHA-256 of the whole dump, for the manifest) and handed it to
the sink; so pg_dump and compression run while parts upload.  The sink may block (the
S3 sink uploads up to two parts at a time and takes a new one only when one of the two
is done).  At most three parts are alive at once (one being read, hashed or waiting for
an upload slot, two uploading): 24 MiB whatever the size of the database, peak RSS under
100 MiB with boto3 loaded and zstd on two CPUs (``benchmarks/backup_throughput.py``).
Parts are always read at the base size: a sink that wants larger parts gathers them (the
S3 sink's ``PartSchedule``).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Protocol

from .store import MiB, Sink, fail

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)

Progress = Callable[[int, float], None]  # (bytes so far, seconds so far)


class Readable(Protocol):
    """pg_dump's stdout, or a :class:`~orchestrator.compression.CompressedStream` over it."""

    def read(self, size: int, /) -> bytes: ...

    def fileno(self) -> int: ...


def pump(
    stream: Readable,
    sink: Sink,
    base_size: int,
    progress: Progress | None,
    interval: float,
    started: float,
) -> tuple[int, str]:
    """Move pg_dump's output into ``sink``; return (bytes, SHA-256 hex).

    ``progress`` is called from this thread at most every ``interval`` seconds, also
    while pg_dump is slow or waits for a lock; ``started`` is when the backup began
    (``time.monotonic()``).
    """
    _widen_pipe(stream)
    _unmap_large_buffers()
    reader = _Reader(stream, base_size)
    reader.start()
    whole = hashlib.sha256()
    size = 0
    number = 0
    last = started
    try:
        while True:
            data = reader.next_part(timeout=0.5)
            if data is None:
                break
            if data:
                whole.update(data)  # releases the GIL: the reader keeps reading meanwhile
                size += len(data)
                number += 1
                sink.write(number, data)
                reader.handed_over()
            del data
            now = time.monotonic()
            if progress and now - last >= interval:
                last = now
                progress(size, now - started)
    finally:
        reader.stop.set()
    reader.join(timeout=5)
    return size, whole.hexdigest()


class _Reader(threading.Thread):
    """Reads pg_dump's stdout in parts, on its own thread, so pg_dump runs while a part is uploaded.

    It reads the next part once the last one was handed to the sink (``room``), not
    sooner: while the sink is busy (two parts uploading) a part read ahead would be
    8 MiB more held for nothing, since the upload is then what the dump waits for; and
    while it is not, handing over (hashing a compressed part) takes milliseconds, so
    pg_dump hardly waits for it.
    """

    def __init__(self, stream: Readable, base_size: int) -> None:
        super().__init__(name="pg_dump-reader", daemon=True)
        self.stream = stream
        self.base = base_size
        self.parts: queue.Queue[bytes | BaseException | None] = queue.Queue()  # one at most (room)
        self.room = threading.Semaphore(1)
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while self._wait_for_room():
                data = self.stream.read(self.base)
                if not data:
                    break
                self.parts.put(data)
        except BaseException as exc:  # noqa: BLE001  (handed to the consumer)
            self.parts.put(exc)
            return
        self.parts.put(None)

    def next_part(self, timeout: float) -> bytes | None:
        """The next part; None at the end; ``b""`` if none came within ``timeout``."""
        try:
            item = self.parts.get(timeout=timeout)
        except queue.Empty as exc:
            if not self.is_alive() and self.parts.empty():
                raise fail("the pg_dump reader stopped unexpectedly") from exc
            return b""
        if isinstance(item, BaseException):
            raise item
        return item

    def handed_over(self) -> None:
        """The consumer handed the last part to the sink: the next one may be read."""
        self.room.release()

    def _wait_for_room(self) -> bool:
        """Wait until the last part was handed to the sink; False if told to stop first."""
        while not self.stop.is_set():
            if self.room.acquire(timeout=0.2):
                return True
        return False


def _widen_pipe(stream: Readable) -> None:
    """Let pg_dump run up to 1 MiB ahead while a part is handed over (Linux only)."""
    try:
        import fcntl  # noqa: PLC0415  (not on Windows)
    except ImportError:
        return
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(stream.fileno(), setsize, MiB)


def _unmap_large_buffers() -> None:
    """Have glibc map every buffer of 1 MiB or more on its own, and unmap it when freed (glibc only).

    By default glibc raises its mmap threshold to the size of the largest block freed so
    far (up to 32 MiB), so after the first part the 8 MiB parts come from the threads'
    heaps, where a freed part is often not given back: peak RSS then wanders 10-15 MiB
    above what is alive.  A fixed threshold turns that off; a part then costs one mmap and
    one munmap, nothing next to its upload.  Elsewhere (macOS, musl, Windows) this does
    nothing.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return
    mallopt(_M_MMAP_THRESHOLD, MiB)
