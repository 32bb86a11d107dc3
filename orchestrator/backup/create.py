"""Making a backup: pg_dump streamed into a store, compressed, verified, and its manifest written last.

The store and the server are checked before pg_dump starts, so a missing bucket or an
unreachable endpoint fails in a second with nothing uploaded.  The dump goes to the
store's sink while pg_dump runs (:mod:`.stream`): a multipart upload on S3, no temporary
file; ``<name>.dump.partial`` renamed to ``<name>.dump`` in a directory.  The manifest,
which makes the backup complete, is written once the store has verified the dump.
Whatever fails (pg_dump, the network, the caller's progress callback, Ctrl-C) the sink is
aborted, so no partial object is ever left behind as a backup.

With zstd or lz4, pg_dump writes its archive uncompressed (``--compress=0``) and
orchestrator compresses the stream beside it (:mod:`orchestrator.compression`), in less
time than pg_dump's own gzip takes in pg_dump's one thread; gzip is pg_dump's own
(``--compress=N``).  The manifest says which and by whom (``"compression": "zstd:3",
"compressed_by": "orchestrator"``), so a restore knows what to undo.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from .. import pgtools
from ..compression import DEFAULT, CompressedStream, Compression
from ..dburl import DatabaseURL
from ..errors import BackupError, ToolError
from .clients import one_line, program, server
from .manifest import DUMP_SUFFIX, MANIFEST_FORMAT, MANIFEST_SUFFIX, BackupInfo, check_name, sibling, stamp
from .store import Store, fail
from .stream import Progress, pump


def create_backup(
    url: DatabaseURL,
    store: Store,
    *,
    environment: str,
    run_id: str,
    schema_version: str | None,
    progress: Progress | None = None,
    progress_interval: float = 2.0,
    compression: Compression = DEFAULT,
    member: str = "",
) -> BackupInfo:
    """Dump the database into ``store`` while pg_dump runs, verify it, write its manifest.

    Checks the store (``head_bucket``) and the server before pg_dump starts.  ``member``
    names the fleet member the database is (recorded, so that listing and restoring tell
    shards apart even where they share a database name).
    ``progress(bytes_so_far, seconds)`` is called from this thread at most every
    ``progress_interval`` seconds and once at the end.  Any failure raises
    :class:`BackupError` and leaves nothing in the store.
    """
    check_name(environment, "environment")
    check_name(run_id, "run id")
    store.check()
    major, server_version = server(url, "back up")
    pg_dump, pg_dump_version = program("pg_dump", major)

    now = datetime.now(timezone.utc)
    key = f"{environment}/{stamp(now)}-{run_id}{DUMP_SUFFIX}"
    created = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    compressed_by = "orchestrator" if compression.wraps else "pg_dump"
    metadata = {
        "orchestrator-format": str(MANIFEST_FORMAT),
        "environment": environment,
        "run-id": run_id,
        "schema-version": schema_version or "",
        "pg-dump-version": pg_dump_version,
        "server-version": server_version,
        "database": url.database,
        "member": member,
        "created": created,
        "compression": str(compression),
        "compressed-by": compressed_by,
    }
    metadata = {k: v.encode("ascii", "replace").decode() for k, v in metadata.items()}  # S3 wants ASCII
    args = [str(pg_dump), "--format=custom", f"--compress={compression.pg_dump_level}", "--no-password"]
    args += ["--dbname", url.conninfo(search_path=False)]

    started = time.monotonic()
    sink = store.sink(key, metadata)
    try:
        try:
            with pgtools.stream(args, env=url.env()) as proc:
                assert proc.stdout is not None
                stored = CompressedStream(proc.stdout, compression) if compression.wraps else proc.stdout
                size, digest = pump(stored, sink, store.part_size, progress, progress_interval, started)
        except ToolError as exc:
            raise fail(f"backup failed: {one_line(exc)}") from exc
        verified = sink.finish(size)
        seconds = round(time.monotonic() - started, 3)
        info = BackupInfo(
            url=store.url_for(key),
            key=key,
            size=size,
            sha256=digest,
            created=created,
            environment=environment,
            run_id=run_id,
            schema_version=schema_version,
            pg_dump_version=pg_dump_version,
            server_version=server_version,
            seconds=seconds,
            database=url.database,
            member=member,
            compression=str(compression),
            compressed_by=compressed_by,
        )
        store.put_text(sibling(key, MANIFEST_SUFFIX), info.to_manifest(verified))
    except BaseException as exc:
        note = sink.abort()
        if note and isinstance(exc, BackupError):
            raise fail(f"{exc}; also {note}") from exc
        raise
    if progress:
        progress(size, seconds)
    return info
