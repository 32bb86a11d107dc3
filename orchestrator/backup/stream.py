"""pg_dump's output, in parts, into a store's sink, hashed on the way.

The dump is never held whole, in memory or on disk.  A reader thread pulls pg_dump's
stdout in parts (8 MiB by default) into a queue of one; the calling thread hashes each
part (SHA-256 of the whole dump, for the manifest) and hands it to the sink, which may
block (the S3 sink uploads up to two parts at a time and takes a new one only when one
of the two is done).  At most five parts are alive at once (one being read, one queued,
one being hashed or waiting for an upload slot, two uploading): 40 MiB whatever the
size of the database (peak RSS ~85 MiB with boto3 loaded), and pg_dump, hashing and
uploading overlap, so a backup takes about as long as ``pg_dump -Fc > /dev/null`` (see
``benchmarks/backup_throughput.py``).  Parts grow (x2 every 2,000 parts) so that S3's
limit of 10,000 parts still allows dumps of ~500 GB; below 16 GB they stay at the base
size.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
import time
from collections.abc import Callable
from typing import IO

from .store import MiB, Sink, fail

Progress = Callable[[int, float], None]  # (bytes so far, seconds so far)

_PARTS_PER_SIZE = 2_000  # the part size doubles after this many parts


def pump(
    stream: IO[bytes],
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
            del data
            now = time.monotonic()
            if progress and now - last >= interval:
                last = now
                progress(size, now - started)
    finally:
        reader.stop.set()
    reader.join(timeout=5)
    return size, whole.hexdigest()


def _part_size(base: int, number: int) -> int:
    """The size of part ``number`` (from 1): ``base``, doubled every 2,000 parts."""
    return base * 2 ** ((number - 1) // _PARTS_PER_SIZE)


class _Reader(threading.Thread):
    """Reads pg_dump's stdout in parts, into a queue of one, so reading never waits for hashing."""

    def __init__(self, stream: IO[bytes], base_size: int) -> None:
        super().__init__(name="pg_dump-reader", daemon=True)
        self.stream = stream
        self.base = base_size
        self.parts: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=1)
        self.stop = threading.Event()

    def run(self) -> None:
        number = 1
        try:
            while not self.stop.is_set():
                data = self.stream.read(_part_size(self.base, number))
                if not data:
                    break
                if not self._put(data):
                    return
                number += 1
        except BaseException as exc:  # noqa: BLE001  (handed to the consumer)
            self._put(exc)
            return
        self._put(None)

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

    def _put(self, item: bytes | BaseException | None) -> bool:
        """Queue ``item`` unless told to stop first; whether it was queued."""
        while not self.stop.is_set():
            try:
                self.parts.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False


def _widen_pipe(stream: IO[bytes]) -> None:
    """Let pg_dump run up to 1 MiB ahead while a part is handed over (Linux only)."""
    try:
        import fcntl  # noqa: PLC0415  (not on Windows)
    except ImportError:
        return
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(stream.fileno(), setsize, MiB)
