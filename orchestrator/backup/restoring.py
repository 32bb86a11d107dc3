"""Restoring a backup: the database becomes exactly the backup, or stays exactly as it was.

How, is told at :func:`restore`; which backup and which store to read it from, at
:func:`locate`.  The SQL that empties the database (:data:`RESTORE_PREAMBLE`) is fed to
psql with the archive: it runs in the restore's own transaction, not through psycopg.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import IO

from .. import pgtools
from ..compression import Compression, inflate
from ..dburl import DatabaseURL
from ..errors import BackupNotFound, ToolError
from .catalog import find_backup
from .clients import one_line, program, server
from .local import LocalStore
from .manifest import BackupInfo
from .s3 import S3Store
from .store import Store, fail

# Run in the restore's transaction before the archive's SQL: empty the database down to
# what a new one has, so that the archive, which pg_dump wrote for an empty database, makes
# it exactly what was dumped.  Whatever the failed run created goes too, including objects
# that depend on restored ones (a foreign key to a restored table, a view over one), which
# ``pg_restore --clean`` cannot drop.  Everything a database holds outside its schemas is
# removed as well where pg_dump would bring it back (event triggers, extensions, foreign
# data wrappers, publications, casts, languages, access methods, large objects,
# database-wide default privileges); OIDs below 16384 are the system's own.  ``public``
# comes back as a new database has it (owner kept; USAGE for PUBLIC; the standard
# comment): pg_dump writes its comment and privileges as changes from that state.
RESTORE_PREAMBLE = r"""
SET client_min_messages = warning;
SET statement_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SELECT set_config('transaction_timeout', '0', false) WHERE current_setting('server_version_num')::int >= 170000;
BEGIN;
DO $orchestrator_restore$
DECLARE
    r record;
    what text;
    v15 constant boolean := current_setting('server_version_num')::int >= 150000;
    public_owner constant text := coalesce(
        (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public'),
        CASE WHEN v15 THEN 'pg_database_owner' ELSE (SELECT quote_ident(rolname) FROM pg_roles WHERE oid = 10) END);
BEGIN
    -- first, so that none fires while the database is emptied and filled
    FOR r IN SELECT e.evtname FROM pg_event_trigger e WHERE NOT EXISTS (
        SELECT FROM pg_depend d
        WHERE d.classid = 'pg_event_trigger'::regclass AND d.objid = e.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('DROP EVENT TRIGGER IF EXISTS %I', r.evtname);
    END LOOP;
    FOR r IN SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
    LOOP
        EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', r.nspname);
    END LOOP;
    FOR r IN SELECT extname FROM pg_extension WHERE oid >= 16384 LOOP
        EXECUTE format('DROP EXTENSION IF EXISTS %I CASCADE', r.extname);
    END LOOP;
    FOR r IN SELECT fdwname FROM pg_foreign_data_wrapper LOOP
        EXECUTE format('DROP FOREIGN DATA WRAPPER IF EXISTS %I CASCADE', r.fdwname);
    END LOOP;
    FOR r IN SELECT pubname FROM pg_publication LOOP
        EXECUTE format('DROP PUBLICATION IF EXISTS %I', r.pubname);
    END LOOP;
    FOR r IN SELECT format('%s AS %s', castsource::regtype, casttarget::regtype) AS pair
             FROM pg_cast WHERE oid >= 16384 LOOP
        EXECUTE format('DROP CAST IF EXISTS (%s) CASCADE', r.pair);
    END LOOP;
    FOR r IN SELECT lanname FROM pg_language WHERE oid >= 16384 LOOP
        EXECUTE format('DROP LANGUAGE IF EXISTS %I CASCADE', r.lanname);
    END LOOP;
    FOR r IN SELECT amname FROM pg_am WHERE oid >= 16384 LOOP
        EXECUTE format('DROP ACCESS METHOD IF EXISTS %I CASCADE', r.amname);
    END LOOP;
    PERFORM lo_unlink(oid) FROM pg_largeobject_metadata;
    FOR r IN
        SELECT d.defaclrole::regrole::text AS role, d.defaclobjtype AS kind,
               (SELECT string_agg(DISTINCT CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END, ', ')
                FROM aclexplode(d.defaclacl) a) AS grantees
        FROM pg_default_acl d WHERE d.defaclnamespace = 0
    LOOP
        what := CASE r.kind WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS'
                WHEN 'T' THEN 'TYPES' WHEN 'n' THEN 'SCHEMAS' WHEN 'L' THEN 'LARGE OBJECTS' END;
        CONTINUE WHEN what IS NULL;
        IF r.grantees IS NOT NULL THEN
            EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %s REVOKE ALL ON %s FROM %s', r.role, what, r.grantees);
        END IF;
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT ALL ON %s TO %s', r.role, what, r.role);
        IF r.kind IN ('f', 'T') THEN
            EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT ALL ON %s TO PUBLIC', r.role, what);
        END IF;
    END LOOP;
    EXECUTE format('CREATE SCHEMA public AUTHORIZATION %s', public_owner);
    IF v15 THEN
        GRANT USAGE ON SCHEMA public TO PUBLIC;
    ELSE
        GRANT ALL ON SCHEMA public TO PUBLIC;
    END IF;
    COMMENT ON SCHEMA public IS 'standard public schema';
END
$orchestrator_restore$;
"""


def restore(url: DatabaseURL, store: Store, info: BackupInfo, *, dry_run: bool = False) -> str:
    """Restore a backup into the database; return the archive's table of contents.

    The dump is downloaded (S3) and its size and SHA-256 checked against the manifest
    before anything else, so a damaged or tampered backup restores nothing.  Then one
    ``psql`` session runs, in one transaction, :data:`RESTORE_PREAMBLE` (which empties
    the database: every schema but the system's, and what else pg_dump dumps) and the
    archive as SQL, streamed from ``pg_restore --no-owner -f -``.  Afterwards the
    database holds exactly the schema and data of the backup, and nothing that was made
    after it.  ``COMMIT`` is sent only once pg_restore has written the whole archive and
    exited 0; any failure (an SQL error, pg_restore, the connection, Ctrl-C) ends the
    session without it, so the database is as it was before.  The password goes to psql
    in ``PGPASSWORD``.  The caller may hold the migration lock (an advisory lock, on
    another connection).  A dry run only runs ``pg_restore --list`` and does not connect
    to the database.  A backup in a frame orchestrator wrote (its manifest's
    ``"compressed_by": "orchestrator"``: zstd, lz4) is decompressed as a stream into
    pg_restore's stdin, a part at a time; one cut short or damaged fails the restore
    before ``COMMIT``.  pg_dump's own archive (gzip, none, or a backup from before the
    setting) is read by pg_restore from its file.
    """
    dump_major = int((info.pg_dump_version or "0").split(".")[0] or 0)
    major = dump_major if dry_run else max(server(url, "restore")[0], dump_major)
    pg_restore, _ = program("pg_restore", major)
    with store.fetch(info) as path:
        archive, feed = _archive(path, info.frame)
        try:
            listing = pgtools.run([str(pg_restore), "--list", *archive], env={}, feed=feed)
            toc = listing.decode("utf-8", "replace")
        except ToolError as exc:
            raise fail(f"cannot read {info.url}: {one_line(exc)}") from exc
        if dry_run:
            return toc
        source = [str(pg_restore), "--no-owner", "--file=-", *archive]
        sink = [
            str(_psql(pg_restore, major)),
            "--no-psqlrc",
            "--quiet",
            "--no-password",
            "--set=ON_ERROR_STOP=1",
            "--dbname",
            url.conninfo(search_path=False),
            "--file=-",
        ]
        env = {**url.env(), "PGAPPNAME": "orchestrator restore"}
        try:
            pgtools.pipe(source, sink, env=env, head=RESTORE_PREAMBLE.encode(), tail=b"COMMIT;\n", feed=feed)
        except ToolError as exc:
            raise fail(
                f"restore of {info.url} failed and was rolled back, the database is unchanged: "
                f"{_sql_error(exc)}"
            ) from exc
    return toc


def _archive(path: Path, frame: Compression | None) -> tuple[list[str], pgtools.Feed | None]:
    """pg_restore's arguments for the archive, and the feed of its stdin if it is compressed.

    A plain archive is read from its file; one inside a frame is decompressed into
    pg_restore's stdin (``--format=custom``: a stream cannot be sniffed twice).
    """
    if frame is None:
        return [str(path)], None

    def feed(stdin: IO[bytes]) -> None:
        with path.open("rb") as stored:
            inflate(stored, stdin, frame)

    return ["--format=custom"], feed


def _psql(pg_restore: Path, major: int) -> Path:
    """The psql of pg_restore's own release (it knows its ``\\restrict``), else one for the server."""
    psql = pg_restore.with_name("psql" + pg_restore.suffix)
    if psql.is_file() and os.access(psql, os.X_OK):
        return psql
    return program("psql", major)[0]


_PSQL_WHERE = re.compile(r"psql:<stdin>:\d+: ")
_KEPT_CONTEXT = re.compile(r'^(?:CONTEXT:\s+)?(COPY \S+, line \d+|SQL statement ".*")')


def _sql_error(exc: ToolError) -> str:
    """A failed restore in one line.

    From the server's first ERROR/FATAL on, if there is one (notices before it are
    noise), without psql's line numbers in the stream.  Of the CONTEXT lines only the
    table and line of a COPY and a statement of the preamble are kept: the others quote
    the data being loaded, which must not end up in a CI log.
    """
    lines = [line.strip() for line in _PSQL_WHERE.sub("", str(exc)).splitlines() if line.strip()]
    first = next((i for i, line in enumerate(lines) if "ERROR:" in line or "FATAL:" in line), 0)
    kept: list[str] = []
    in_context = False
    for line in lines[first:]:
        in_context = line.startswith("CONTEXT:") or (
            in_context and not line.startswith(("ERROR:", "FATAL:", "DETAIL:", "HINT:"))
        )
        if not in_context:
            kept.append(line)
        elif match := _KEPT_CONTEXT.match(line):
            kept.append(f"CONTEXT: {match[1]}")
    if first:
        kept[0] = f"psql: {kept[0]}"
    return "; ".join(kept)


def locate(store: Store | None, key_or_url: str) -> tuple[Store, BackupInfo]:
    """The backup a user named, and the store to read it from.

    An ``s3://`` URL is read from the bucket it names: the configured ``store`` if the
    URL is inside it, else the same endpoint, credentials and settings on the named
    bucket.  A path (absolute, or one that exists relative to the working directory) is
    read from that path.  Anything else is a name in ``store`` (``production/...``).
    Outside the store, the two folders above the dump are taken as ``<prefix>`` and
    ``<environment>/`` (the layout backups are written in), so the backup's ``key``
    looks as it would in its own store.  ``store`` may be None (no store configured):
    then only URLs and paths can be named.
    """
    text = key_or_url.strip()
    if not text:
        raise BackupNotFound("no backup named")
    if text.startswith("s3://"):
        return _locate_s3(store, text)
    if "://" in text:
        raise BackupNotFound(f"{text}: only s3:// URLs, paths and names in the backup store can be restored")
    path = Path(text).expanduser()
    if path.is_absolute() or path.exists():
        if isinstance(store, LocalStore) and path.resolve().is_relative_to(store.directory):
            return store, find_backup(store, str(path))
        path = path.parent.resolve() / path.name
        folder, name = _split_key(path.as_posix().lstrip("/"))
        other = LocalStore(Path("/") / folder)
        return other, find_backup(other, name)
    if store is None:
        raise BackupNotFound(
            f"{text!r} is not an s3:// URL or a path, and no backup store is configured to look it up in"
        )
    return store, find_backup(store, text)


def _locate_s3(store: Store | None, url: str) -> tuple[Store, BackupInfo]:
    """An ``s3://`` URL: in the configured bucket and prefix, or another bucket through its client."""
    bucket, _, key = url[len("s3://") :].partition("/")
    if (
        isinstance(store, S3Store)
        and bucket == store.bucket
        and (not store.prefix or key.startswith(store.prefix + "/"))
    ):
        return store, find_backup(store, url)
    if not bucket or not key.strip("/"):
        raise BackupNotFound(f"{url} names no backup (s3://BUCKET/KEY)")
    prefix, name = _split_key(key.strip("/"))
    other = store.elsewhere(bucket, prefix) if isinstance(store, S3Store) else S3Store(bucket, prefix)
    return other, find_backup(other, name)


def _split_key(key: str) -> tuple[str, str]:
    """``a/b/production/x.dump`` -> (``a/b``, ``production/x.dump``)."""
    parts = key.split("/")
    return "/".join(parts[:-2]), "/".join(parts[-2:])
