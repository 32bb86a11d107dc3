"""How a backup is compressed: the ``compression`` setting, and who applies it.

pg_dump's own compression runs in pg_dump's one thread, between reading rows from the
server and writing them out, so with zstd or lz4 orchestrator runs ``pg_dump
--format=custom --compress=0`` and compresses the stream itself, beside pg_dump (zstd on
every CPU: ``zstandard`` releases the GIL and uses its own threads); the stored object is
then the whole archive in one zstd or lz4 frame.  gzip is left to pg_dump
(``--compress=N``, which every pg_dump since 8.x reads as a gzip level): it is about twice
as fast there as zlib in this process, and the stored object is pg_dump's own compressed
archive, which plain ``pg_restore`` reads.  ``none`` stores the plain archive.  The
figures behind this are in ``benchmarks/backup_throughput.py``.

This module is pure (the codec libraries are imported only when a codec is made), so
:mod:`orchestrator.config` can check the setting without loading them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Protocol

METHODS = {"zstd": (1, 22, 3), "lz4": (0, 16, 0), "gzip": (1, 9, 6), "none": (0, 0, 0)}  # min, max, default
READ_SIZE = 1024 * 1024  # how much of pg_dump's output is compressed at a time
ZSTD_MIN_JOB_SIZE = 1024 * 1024  # the least one zstd worker compresses at a time
_INFLATE_READ = 256 * 1024  # compressed bytes decompressed at a time (bounds the output per step)


@dataclass(frozen=True)
class Compression:
    """A method and its level, as written in the config and the manifest (``zstd:3``)."""

    method: str
    level: int

    def __str__(self) -> str:
        return self.method if self.method == "none" else f"{self.method}:{self.level}"

    @property
    def wraps(self) -> bool:
        """Whether orchestrator wraps the archive in a frame (zstd, lz4), not pg_dump (gzip, none)."""
        return self.method in ("zstd", "lz4")

    @property
    def pg_dump_level(self) -> int:
        """pg_dump's ``--compress``: the gzip level pg_dump compresses with itself, else 0."""
        return self.level if self.method == "gzip" else 0


DEFAULT = Compression("zstd", 3)


def parse(text: str) -> Compression:
    """``zstd``, ``zstd:N``, ``lz4``, ``lz4:N``, ``gzip``, ``gzip:N`` or ``none``; ValueError otherwise."""
    method, colon, level_text = str(text).strip().lower().partition(":")
    if method not in METHODS:
        raise ValueError(f"expected zstd, zstd:N, lz4, gzip, gzip:N or none, got {text!r}")
    low, high, default = METHODS[method]
    if not colon:
        return Compression(method, default)
    if method == "none" or not level_text.isdigit() or not low <= int(level_text) <= high:
        levels = "no level" if method == "none" else f"a level from {low} to {high}"
        raise ValueError(f"{method} takes {levels}, got {text!r}")
    return Compression(method, int(level_text))


class Decoder(Protocol):
    """A decompressor of one frame; ``eof`` once the whole frame was read."""

    eof: bool
    unused_data: bytes

    def decompress(self, data: bytes) -> bytes: ...


def decoder(compression: Compression) -> Decoder:
    """A decompressor for one frame of ``compression`` (zstd or lz4)."""
    if compression.method == "zstd":
        import zstandard  # noqa: PLC0415

        return zstandard.ZstdDecompressor().decompressobj()
    import lz4.frame  # noqa: PLC0415

    return lz4.frame.LZ4FrameDecompressor()


class CompressedStream:
    """A readable stream of ``raw`` compressed with ``compression`` (zstd or lz4): what the backup stores.

    ``read(n)`` returns ``n`` bytes (fewer only at the end), so the parts handed to a store
    keep their sizes.  zstd writes each part straight into the bytes returned (its stream
    reader), so a part is never copied; ``fileno`` is the raw stream's, so its pipe can
    still be widened.
    """

    def __init__(self, raw: IO[bytes], compression: Compression) -> None:
        self.raw = raw
        reader = _zstd_reader if compression.method == "zstd" else _Lz4Reader
        self.read = reader(raw, compression.level).read

    def fileno(self) -> int:
        return self.raw.fileno()


def _zstd_reader(raw: IO[bytes], level: int) -> IO[bytes]:
    """zstd over ``raw``, on every CPU.

    threads=-1: one worker per CPU, so compression keeps up with pg_dump.  Jobs of half
    the level's window, at least 1 MiB (zstd's own size is 4 windows: 8 MiB at level 3),
    keep the workers' buffers to a few MiB for the same speed and size: with 2 MiB jobs at
    level 3 a backup into S3 peaked 4-6 MiB higher, at ~100 MiB; below half a window each
    job re-reads more overlap than it compresses (zstd:9 with 1 MiB jobs took 1.7x as long).
    See benchmarks/backup_throughput.py.
    """
    import zstandard  # noqa: PLC0415  (only a backup needs it)

    window_log = zstandard.ZstdCompressionParameters.from_level(level).window_log
    job_size = max(ZSTD_MIN_JOB_SIZE, 1 << (window_log - 1))
    params = zstandard.ZstdCompressionParameters.from_level(
        level, threads=-1, job_size=job_size, write_checksum=True
    )
    compressor = zstandard.ZstdCompressor(compression_params=params)
    return compressor.stream_reader(raw, read_size=READ_SIZE, closefd=False)  # type: ignore[return-value]


class _Lz4Reader:
    """lz4's frame over ``raw``; holds at most one part and the output of one :data:`READ_SIZE` step."""

    def __init__(self, raw: IO[bytes], level: int) -> None:
        import lz4.frame  # noqa: PLC0415

        self.raw = raw
        self.frame = lz4.frame.LZ4FrameCompressor(compression_level=level, content_checksum=True)
        self.buffer = bytearray(self.frame.begin())
        self.done = False

    def read(self, size: int) -> bytes:
        while len(self.buffer) < size and not self.done:
            chunk = self.raw.read(READ_SIZE)
            self.buffer += self.frame.compress(chunk) if chunk else self.frame.flush()
            self.done = not chunk
        with memoryview(self.buffer) as view:
            out = bytes(view[:size])  # one copy: a slice of the bytearray would be a second
        del self.buffer[:size]
        return out


def inflate(source: IO[bytes], target: IO[bytes], compression: Compression) -> None:
    """Copy ``source`` decompressed into ``target``; ValueError unless it is exactly one whole frame.

    A frame cut short, damaged, or followed by anything is refused: the archive behind it
    would be incomplete or not what was stored.
    """
    decoder_ = decoder(compression)
    damaged: tuple[type[Exception], ...] = (RuntimeError,)  # lz4's
    if compression.method == "zstd":
        import zstandard  # noqa: PLC0415

        damaged += (zstandard.ZstdError,)
    try:
        while chunk := source.read(_INFLATE_READ):
            if decoder_.eof:
                raise ValueError(f"data after the end of the {compression.method} frame")
            target.write(decoder_.decompress(chunk))
    except damaged as exc:
        raise ValueError(f"the {compression.method} frame is damaged ({exc})") from exc
    if not decoder_.eof:
        raise ValueError(f"the {compression.method} frame ends early: the dump is incomplete")
    if decoder_.unused_data:
        raise ValueError(f"data after the end of the {compression.method} frame")
