"""The database: the only module that speaks SQL (through psycopg).

One :class:`Database` per connection.  It holds the session-level advisory lock that
keeps two runs apart, reads and writes dbmate's ``schema_migrations`` table (same
DDL, same rows), and applies or reverts one migration at a time, each in its own
transaction together with its ``schema_migrations`` row.

orchestrator's own bookkeeping (each applied file's checksum, and the marks of
interrupted ``transaction:false`` migrations) lives in a schema of its own,
:data:`BOOKKEEPING_SCHEMA`, never in the app's schemas: ``db/schema.sql`` dumped without
it is what dbmate writes.  One table holds the rows of every migrations table of the
database, keyed by that table's schema and name.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress

import psycopg
from psycopg import sql

from .config import Timeouts
from .dburl import DatabaseURL
from .errors import ConfigError, DatabaseUnavailable, LockTimeout, MigrationFailed, OrchestratorError
from .migrations import Migration, Statement
from .plan import Script
from .redaction import redact

DEFAULT_TABLE = "schema_migrations"
BOOKKEEPING_SCHEMA = "orchestrator"  # orchestrator's own schema: never the app's, left out of every dump
BOOKKEEPING_TABLE = "checksums"  # in it: per migrations table, each applied file's checksum and state


LOCK_NOT_AVAILABLE = "55P03"


def _pg_ms(seconds: float) -> str:
    """Seconds as a PostgreSQL duration setting ('0ms' = no limit)."""
    return f"{int(seconds * 1000)}ms"


def _message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return redact(text[0] if text else type(exc).__name__)


def connect(url: DatabaseURL, *, dbname: str | None = None, timeout: int = 10) -> psycopg.Connection:
    """Open an autocommit connection; failures become one clear, redacted line."""
    target = url if dbname is None else url.with_database(dbname)
    try:
        return psycopg.connect(
            target.conninfo(),
            password=url.password,
            autocommit=True,
            connect_timeout=timeout,
            application_name="orchestrator",
        )
    except psycopg.Error as exc:
        raise DatabaseUnavailable(
            f"cannot connect to {target.display()}: {_message(exc)}"
        ) from exc


def database_exists(url: DatabaseURL) -> bool:
    """Whether the URL's database exists (asked of the server's ``postgres`` database)."""
    with connect(url, dbname="postgres") as conn:
        row = conn.execute("select 1 from pg_database where datname = %s", [url.database]).fetchone()
    return row is not None


def create_database(url: DatabaseURL) -> None:
    """``CREATE DATABASE`` for the URL's database, as ``dbmate create`` does."""
    _on_server(url, sql.SQL("create database {}").format(sql.Identifier(url.database)), "create")


def drop_database(url: DatabaseURL) -> None:
    """Drop the URL's database, ending its other sessions first (throwaway databases)."""
    _on_server(url, sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(url.database)), "drop")


def _on_server(url: DatabaseURL, statement: sql.Composed, verb: str) -> None:
    """One statement on the server's ``postgres`` database; refusals become one clear line."""
    with connect(url, dbname="postgres") as conn:
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            raise DatabaseUnavailable(f"cannot {verb} database {url.database}: {_message(exc)}") from exc


class Database:
    """A connection to the target database and the migration bookkeeping on it."""

    def __init__(self, url: DatabaseURL, *, table: str = DEFAULT_TABLE) -> None:
        self.url = url
        self.conn = self._open()
        self._lock_wait: float | None = None  # set while the migration lock is held
        self.half_done: Script | None = None  # a transaction:false script stopped after a commit
        self._unflushed = False  # a commit made with synchronous_commit off may not be on disk yet
        self._schema, self._table = self._table_parts(table)
        if BOOKKEEPING_SCHEMA in (self._schema, *url.search_path):
            self.conn.close()
            raise ConfigError(f"schema {BOOKKEEPING_SCHEMA} holds orchestrator's own bookkeeping: the migrations "
                              "table and the URL's search_path must name another schema")
        self.table = sql.Identifier(self._schema, self._table)
        self.checksums = sql.Identifier(BOOKKEEPING_SCHEMA, BOOKKEEPING_TABLE)
        self._key = [self._schema, self._table]  # this migrations table's rows in the bookkeeping table
        self._legacy = sql.Identifier(self._schema, f"{self._table}_checksums")  # orchestrator 0.1's place
        self.table_name = table

    def _open(self) -> psycopg.Connection:
        conn = connect(self.url)
        if conn.info.server_version >= 140000:
            # If orchestrator dies mid-statement, the server notices within a second, rolls
            # the migration back and frees the lock, instead of finishing a long statement first.
            conn.execute("set client_connection_check_interval = '1s'")
        return conn

    def close(self) -> None:
        """Close the connection (which also frees the advisory lock), after making every
        commit of this connection durable (:meth:`flush`)."""
        self._flush_unless_lost()
        self.conn.close()

    @property
    def lost(self) -> bool:
        """The connection is gone (server restarted, network cut)."""
        return self.conn.closed or self.conn.broken

    def reconnect(self, wait_seconds: float) -> None:
        """Connect again after the connection was lost, and take the lock again if it was held.

        The server rolled back whatever transaction was open when the connection died, so
        what is committed is exactly what :meth:`applied_versions` says.
        """
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                self.conn = self._open()
                break
            except DatabaseUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        if self._lock_wait is not None:
            self._acquire(self._lock_wait)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- facts about the server ------------------------------------------------------

    def server_version(self) -> tuple[int, int]:
        """(major, minor) of the server."""
        num = self.conn.info.server_version
        return num // 10000, num % 10000

    def ping(self) -> None:
        """``SELECT 1``; raises :class:`DatabaseUnavailable` if the server does not answer."""
        try:
            self.conn.execute("select 1")
        except psycopg.Error as exc:
            raise DatabaseUnavailable(f"database probe failed: {_message(exc)}") from exc

    # -- the migrations table --------------------------------------------------------

    def _table_parts(self, table: str) -> tuple[str, str]:
        """Schema and name of the migrations table, resolved as dbmate resolves them."""
        schema, dot, name = table.partition(".")
        if dot:
            return schema, name
        if self.url.search_path:
            return self.url.search_path[0], table
        current = self.conn.execute("select current_schema()").fetchone()
        return (current[0] if current and current[0] else "public"), table

    @property
    def table_schema(self) -> str:
        """The schema of the migrations table, resolved."""
        return self._schema

    @property
    def table_bare_name(self) -> str:
        """The migrations table's name without its schema."""
        return self._table

    def table_exists(self) -> bool:
        """Whether ``schema_migrations`` exists yet."""
        row = self.conn.execute(
            "select 1 from information_schema.tables where table_schema = %s and table_name = %s",
            [self._schema, self._table],
        ).fetchone()
        return row is not None

    def ensure_table(self, *, bookkeeping: bool = True) -> None:
        """Create ``schema_migrations`` with dbmate's exact DDL if it is missing, and (with
        ``bookkeeping``) orchestrator's own table in its own schema (:meth:`ensure_bookkeeping`)."""
        self.conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(self._schema)))
        self.conn.execute(
            sql.SQL("create table if not exists {} (version varchar primary key)").format(self.table)
        )
        if bookkeeping:
            self.ensure_bookkeeping()

    def ensure_bookkeeping(self) -> None:
        """Create :data:`BOOKKEEPING_SCHEMA` and its checksum table if missing (dbmate never sees them)."""
        self.conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(BOOKKEEPING_SCHEMA)))
        self.conn.execute(
            sql.SQL(
                "create table if not exists {} (table_schema text not null, table_name text not null, "
                "version varchar not null, checksum text not null, file text not null, "
                "applied_at timestamptz not null default now(), state text not null default 'applied', "
                "primary key (table_schema, table_name, version))"
            ).format(self.checksums)
        )

    def _legacy_exists(self) -> bool:
        """orchestrator 0.1 kept ``<table>_checksums`` beside the migrations table, in the app's schema."""
        return self._exists(self._schema, f"{self._table}_checksums")

    def _exists(self, schema: str, table: str) -> bool:
        row = self.conn.execute("select to_regclass(format('%%I.%%I', %s::text, %s::text))", [schema, table]).fetchone()
        return row is not None and row[0] is not None

    def move_legacy_bookkeeping(self) -> bool:
        """Move orchestrator 0.1's ``<table>_checksums`` out of the app's schema into
        :data:`BOOKKEEPING_SCHEMA`, rows and all, in one transaction; True if there was one.

        Run under the migration lock (:meth:`lock` calls it).  Its rows win over rows
        already in the bookkeeping table for the same versions.
        """
        if not self._legacy_exists():
            return False
        try:
            with self.conn.transaction():
                self.ensure_bookkeeping()
                for column in ("applied_at timestamptz not null default now()",  # as 0.1 made it, or older
                               "state text not null default 'applied'"):
                    self.conn.execute(sql.SQL("alter table {} add column if not exists " + column).format(self._legacy))
                self.conn.execute(
                    sql.SQL(
                        "insert into {} (table_schema, table_name, version, checksum, file, applied_at, state) "
                        "select %s, %s, version, checksum, file, applied_at, state from {} "
                        "on conflict (table_schema, table_name, version) do update set checksum = excluded.checksum, "
                        "file = excluded.file, applied_at = excluded.applied_at, state = excluded.state"
                    ).format(self.checksums, self._legacy),
                    self._key,
                )
                self.conn.execute(sql.SQL("drop table {}").format(self._legacy))
        except psycopg.Error as exc:
            raise OrchestratorError(
                f"cannot move {self._schema}.{self._table}_checksums into schema {BOOKKEEPING_SCHEMA}: "
                f"{_message(exc)}; nothing changed"
            ) from exc
        return True

    def applied_versions(self) -> list[str]:
        """Versions recorded as applied, in ascending order (dbmate's ``order by version``)."""
        try:
            if not self.table_exists():
                return []
            rows = self.conn.execute(
                sql.SQL("select version from {} order by version asc").format(self.table)
            ).fetchall()
        except psycopg.Error as exc:
            raise DatabaseUnavailable(f"cannot read {self.table_name}: {_message(exc)}") from exc
        return [r[0] for r in rows]

    def migrations_dump(self) -> str:
        """The ``INSERT`` block dbmate appends to ``schema.sql``."""
        quoted = self.conn.execute(
            sql.SQL("select quote_literal(version) from {} order by version asc").format(self.table)
        ).fetchall()
        table = self.conn.execute(
            "select quote_ident(%s) || '.' || quote_ident(%s)", [self._schema, self._table]
        ).fetchone()[0]
        out = "\n--\n-- Dbmate schema migrations\n--\n\n"
        if quoted:
            values = "),\n    (".join(q[0] for q in quoted)
            out += f"INSERT INTO {table} (version) VALUES\n    ({values});\n"
        return out

    # -- the lock --------------------------------------------------------------------

    def _lock_key(self) -> int:
        digest = hashlib.sha256(f"orchestrator:{self._schema}.{self._table}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    @contextmanager
    def lock(self, wait_seconds: float) -> Iterator[None]:
        """Hold the session-level advisory lock for this database's migrations.

        A second run waits up to ``wait_seconds`` (PostgreSQL's ``lock_timeout``
        bounds the wait) and then fails with :class:`LockTimeout`.
        """
        self._acquire(wait_seconds)
        self._lock_wait = wait_seconds
        try:
            self.move_legacy_bookkeeping()
            yield
        finally:
            self._lock_wait = None
            if not self.lost:
                self.conn.execute("select pg_advisory_unlock(%s)", [self._lock_key()])

    def _acquire(self, wait_seconds: float) -> None:
        key = self._lock_key()
        self.conn.execute("select set_config('lock_timeout', %s, false)", [f"{int(wait_seconds * 1000)}ms"])
        try:
            self.conn.execute("select pg_advisory_lock(%s)", [key])
        except psycopg.errors.LockNotAvailable as exc:
            holder = self._lock_holder(key)
            raise LockTimeout(
                f"another run holds the migration lock on {self.url.display()} "
                f"({holder}); waited {wait_seconds:g}s. If no run is active, end that "
                f"session with: select pg_terminate_backend(pid) from pg_locks "
                f"where locktype = 'advisory' and objid = {key & 0xFFFFFFFF}"
            ) from exc
        finally:
            self.conn.execute("select set_config('lock_timeout', '0', false)")

    def _lock_holder(self, key: int) -> str:
        row = self.conn.execute(
            "select a.pid, a.application_name, a.backend_start from pg_locks l "
            "join pg_stat_activity a using (pid) where l.locktype = 'advisory' "
            "and l.objid = %s and l.granted limit 1",
            [key & 0xFFFFFFFF],
        ).fetchone()
        if not row:
            return "holder unknown"
        return f"pid {row[0]}, {row[1] or 'unnamed client'}, connected since {row[2]:%Y-%m-%d %H:%M:%S}"

    # -- applying ----------------------------------------------------------------------

    def reset_session(self) -> None:
        """Back to the connection's default session state, keeping the migration lock.

        A migration may ``SET search_path``, ``SET ROLE`` or another setting without
        ``LOCAL``; that must not reach the next migration or a rollback (whose ``DROP
        TABLE`` would then hit a same-named table in another schema).  This is
        ``DISCARD ALL`` without its ``pg_advisory_unlock_all()`` and without the
        ``DEALLOCATE ALL`` that would pull psycopg's prepared statements away.
        """
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.conn.execute("rollback")
        self.conn.execute("; ".join(self._reset_commands))

    @property
    def _reset_commands(self) -> list[str]:
        reset = ["set session authorization default", "reset all", "close all", "unlisten *", "discard temp",
                 "discard sequences", "discard plans"]
        if self.conn.info.server_version >= 140000:
            reset.append("set client_connection_check_interval = '1s'")
        return reset

    def flush(self) -> None:
        """Wait until every commit of this connection is on disk (and, under the user's
        ``synchronous_commit``, on the synchronous standbys).

        A transaction that has a transaction id commits synchronously, and its commit
        record comes after those of the earlier asynchronous commits in the sequential
        WAL: once it is flushed, they are too.
        """
        if self._unflushed:
            self.conn.execute("select txid_current()")
            self._unflushed = False

    def run(
        self,
        script: Script,
        timeouts: Timeouts = Timeouts(),
        on_retry: Callable[[str], None] | None = None,
        *,
        durable: bool = True,
    ) -> float:
        """Apply or revert one migration by running its reviewed script; seconds taken.

        The session is reset first (:meth:`reset_session`).  A transactional script, its
        ``schema_migrations`` row and its checksum commit together or not at all.  A
        ``transaction:false`` script runs statement by statement, as PostgreSQL requires
        for ``CREATE INDEX CONCURRENTLY``; while one of its statements has committed and
        the script has not finished, :attr:`half_done` names it.

        The lock guard: each statement waits at most ``timeouts.lock`` for its locks, so
        the app's queries never queue behind a waiting migration for longer than that.
        When the lock is not granted in time the migration is retried (from the start
        of its transaction, or from the last committed statement of a
        ``transaction:false`` script) up to ``timeouts.lock_retries`` times with
        doubling pauses, which let the app's queued queries through.

        A transactional script goes to the server in one round trip (:meth:`_run_pipelined`).
        Without ``durable`` its commit is asynchronous (``synchronous_commit = off``): the
        run's last commit, or :meth:`flush`, makes it durable, as it makes every earlier one.
        """
        start = time.monotonic()
        resume = 0
        # pipeline mode needs libpq 14+ (psycopg[binary] bundles one; a psycopg built on an older
        # system libpq sends the same commands one round trip each)
        pipelined = (script.transaction and not any(s.whole for s in script.statements)
                     and psycopg.Pipeline.is_supported())
        for attempt in range(timeouts.lock_retries + 1):
            try:
                if pipelined:
                    self._run_pipelined(script, timeouts, durable)
                else:
                    self.reset_session()
                    self._run_once(script, timeouts, resume, durable)
                return time.monotonic() - start
            except MigrationFailed as failure:
                self._clear_mark(script, failure)
                self._flush_unless_lost()
                raise
            except (KeyboardInterrupt, SystemExit):  # a signal: the mark stays if a statement committed
                if not script.transaction and self.half_done is not script and not self.lost:
                    self.clear_mark(script)
                raise
            except _LockBusy as busy:
                if attempt == timeouts.lock_retries:
                    self._clear_mark(script, busy.failure)
                    self._flush_unless_lost()
                    raise busy.failure from busy.__cause__
                resume = busy.resume
                pause = timeouts.pause(attempt)
                if on_retry is not None:
                    on_retry(f"{script.migration.filename}: lock not granted within lock_timeout {timeouts.lock:g}s; "
                             f"retry {attempt + 1} of {timeouts.lock_retries} in {pause:.1f}s")
                time.sleep(pause)
        raise AssertionError("unreachable")

    def _flush_unless_lost(self) -> None:
        """Before a failure is reported or the connection closes, the migrations committed
        so far are made durable (:meth:`flush`)."""
        if not self.lost:
            with suppress(psycopg.Error):  # the server's WAL writer flushes them within a second anyway
                self.flush()

    def _run_pipelined(self, script: Script, timeouts: Timeouts, durable: bool) -> None:
        """A transactional script in one round trip: BEGIN, the session reset, the
        timeouts, each statement, the version and checksum rows and COMMIT, sent in
        pipeline mode with one Sync at the end.

        The server runs them in order and skips everything after the first error up to
        the Sync, so the first command without a result is the one that failed: its own
        error, attributed to it.  Commands whose results have come back are dropped
        while the rest are still being sent, so a script of 200,000 statements holds
        only those in flight.
        """
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.conn.execute("rollback")
        sent: deque[tuple[psycopg.Cursor, Statement | str]] = deque()
        error: psycopg.Error | None = None
        self._unflushed = self._unflushed or not durable  # a signal may stop it after the COMMIT is queued
        try:
            with self.conn.pipeline():
                error = self._send_script(script, timeouts, durable, sent)
        except psycopg.Error as exc:  # the first error, if the block sent everything
            error = error or exc
        finally:  # after an error or a signal, the transaction is rolled back here
            self._end_failed_transaction()
        if error is not None:
            raise self._pipelined_failure(script, error, sent) from error
        self._unflushed = not durable

    def _send_script(self, script: Script, timeouts: Timeouts, durable: bool,
                     sent: deque[tuple[psycopg.Cursor, Statement | str]]) -> psycopg.Error | None:
        """Queue the script's commands; an error that comes back meanwhile is returned, not
        raised, so that the pipeline still ends with its Sync (and psycopg logs nothing)."""
        try:
            self._send(sent, "begin", "begin")
            for command in self._reset_commands:
                self._send(sent, "reset", command)
            self._send(sent, "set", *self._settings(timeouts, local=True, durable=durable))
            for stmt in script.statements:
                self._execute(script, stmt, sent=sent)
            self._send(sent, "record", *self._record_query(script.migration, script.direction))
            self._send(sent, "commit", "commit")
        except psycopg.Error as exc:
            return exc
        return None

    def _pipelined_failure(self, script: Script, exc: psycopg.Error,
                           sent: deque[tuple[psycopg.Cursor, Statement | str]]) -> MigrationFailed | _LockBusy:
        """The error of the first command without a result: the server skipped all after it."""
        culprit = next((what for cursor, what in sent if cursor.pgresult is None), "commit")
        if isinstance(culprit, Statement):
            return self._failure(script, culprit, exc, 0, 0)
        what = {"record": f"recording the version in {self.table_name} failed",
                "commit": "the commit failed"}.get(culprit, f"preparing the session ({culprit}) failed")
        return MigrationFailed(script.migration.path, script.direction,
                               f"{'connection lost' if self.lost else what}: {_message(exc)}")

    def _send(self, sent: deque[tuple[psycopg.Cursor, Statement | str]], what: Statement | str,
              query: str | sql.Composed, params: list[object] | None = None) -> None:
        """Queue one command of a pipelined script, forgetting those that have succeeded."""
        cursor = self.conn.cursor()
        sent.append((cursor, what))
        cursor.execute(query, params, prepare=False)
        while sent and sent[0][0].pgresult is not None:
            sent.popleft()

    def _end_failed_transaction(self) -> None:
        """Roll back a pipelined script's transaction if it is still open after an error or a
        signal, so the connection is usable (for the rollback) and the lock stays held."""
        if not self.lost and self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with suppress(psycopg.Error):  # the connection went with the statement: the caller sees `lost`
                self.conn.execute("rollback")

    def _run_once(self, script: Script, timeouts: Timeouts, resume: int, durable: bool) -> None:
        statements = script.statements
        try:
            if script.transaction:
                with self.conn.transaction():
                    self._set_timeouts(timeouts, local=True, durable=durable)
                    for stmt in statements:
                        self._execute(script, stmt)
                    self._record(script.migration, script.direction)
                self._unflushed = not durable
            else:
                self._set_timeouts(timeouts, local=False)
                self._mark_unfinished(script.migration, script.direction)
                try:
                    committed = resume
                    for index in range(resume, len(statements)):
                        self._execute(script, statements[index], committed=committed, total=len(statements))
                        if self.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                            committed = index + 1  # outside a BEGIN of the script's own: it stays
                            self.half_done = script
                    with self.conn.transaction():
                        self._record(script.migration, script.direction)
                    self.half_done = None
                finally:
                    self._end_script_transaction()
        except psycopg.Error as exc:  # bookkeeping or the connection, not a statement
            lost = self.lost
            what = "connection lost" if lost else f"recording the version in {self.table_name} failed"
            raise MigrationFailed(
                script.migration.path, script.direction, f"{what}: {_message(exc)}",
                partial=self.half_done is script,
            ) from exc

    def _end_script_transaction(self) -> None:
        """After a ``transaction:false`` script stopped inside a ``BEGIN`` of its own, roll that
        transaction back, so the connection is usable and the error reported is the statement's."""
        if self.lost:
            return
        try:
            if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                self.conn.execute("rollback")
            self._set_timeouts(Timeouts(), local=False)
        except psycopg.Error:  # the connection went with the statement: the caller sees `lost`
            pass

    def _record(self, migration: Migration, direction: str) -> None:
        """The ``schema_migrations`` row (dbmate's) and the checksum row (orchestrator's)."""
        self.conn.execute(*self._record_query(migration, direction))

    def _record_query(self, migration: Migration, direction: str) -> tuple[sql.Composed, list[object]]:
        """Both rows in one statement: one command, so one round trip or one pipelined message."""
        if direction == "up":
            return (
                sql.SQL(
                    "with recorded as (insert into {} (version) values (%s)) "
                    "insert into {} (table_schema, table_name, version, checksum, file) values (%s, %s, %s, %s, %s) "
                    "on conflict (table_schema, table_name, version) "
                    "do update set checksum = excluded.checksum, file = excluded.file, applied_at = now(), "
                    "state = 'applied'"
                ).format(self.table, self.checksums),
                [migration.version, *self._key, migration.version, migration.checksum, migration.filename],
            )
        return (
            sql.SQL("with forgotten as (delete from {} where version = %s) "
                    "delete from {} where table_schema = %s and table_name = %s and version = %s")
            .format(self.table, self.checksums),
            [migration.version, *self._key, migration.version],
        )

    def record_applied(self, migrations: Iterable[Migration]) -> None:
        """Record migrations as applied without running them (``baseline``), all in one transaction."""
        self.ensure_table()
        with self.conn.transaction():
            for migration in migrations:
                self._record(migration, "up")

    def load_schema(self, text: str, source: str) -> None:
        """Run a schema file as ``dbmate load`` does: the whole text as one simple query,
        which the server runs in one implicit transaction (all of it, or nothing)."""
        self.reset_session()
        try:
            self.conn.execute(text, prepare=False)
        except psycopg.Error as exc:
            position = getattr(exc.diag, "statement_position", None) if hasattr(exc, "diag") else None
            where = f"{source}:{text[: int(position) - 1].count(chr(10)) + 1}" if position else source
            sqlstate = f" (SQLSTATE {exc.sqlstate})" if getattr(exc, "sqlstate", None) else ""
            raise OrchestratorError(f"{where}: load failed, nothing loaded: {_message(exc)}{sqlstate}") from exc
        finally:
            if not self.lost:
                self.reset_session()  # the file's set_config('search_path', '', false) ends here

    def _mark_unfinished(self, migration: Migration, direction: str) -> None:
        """Before a ``transaction:false`` section runs, say so durably.

        If the process dies half-way, the next run finds the mark and refuses to go on
        until a person has looked (``orchestrator resolve``), instead of guessing.
        """
        state = "applying" if direction == "up" else "reverting"
        self.conn.execute(
            sql.SQL(
                "insert into {} (table_schema, table_name, version, checksum, file, state) "
                "values (%s, %s, %s, %s, %s, %s) "
                "on conflict (table_schema, table_name, version) do update set state = excluded.state"
            ).format(self.checksums),
            [*self._key, migration.version, migration.checksum, migration.filename, state],
        )

    def _clear_mark(self, script: Script, failure: MigrationFailed) -> None:
        """A ``transaction:false`` script that failed before any statement committed is not unfinished."""
        if script.transaction or failure.partial or self.lost:
            return
        self.clear_mark(script)

    def clear_mark(self, script: Script) -> None:
        """Take back the mark of a ``transaction:false`` script none of whose statements committed."""
        migration = script.migration
        where = sql.SQL("where table_schema = %s and table_name = %s and version = %s")
        if script.direction == "up":
            self.conn.execute(sql.SQL("delete from {} {}").format(self.checksums, where),
                              [*self._key, migration.version])
        else:
            self.conn.execute(sql.SQL("update {} set state = 'applied' {}").format(self.checksums, where),
                              [*self._key, migration.version])

    def unfinished(self) -> dict[str, str]:
        """Versions whose ``transaction:false`` section was interrupted: version -> state."""
        return {v: state for v, _, state in self._bookkeeping_rows() if state != "applied"}

    def resolve(self, migration: Migration, applied: bool) -> None:
        """Record what a person found after an interrupted ``transaction:false`` migration."""
        self.ensure_bookkeeping()
        with self.conn.transaction():
            self.conn.execute(sql.SQL("delete from {} where version = %s").format(self.table), [migration.version])
            self.conn.execute(
                sql.SQL("delete from {} where table_schema = %s and table_name = %s and version = %s")
                .format(self.checksums),
                [*self._key, migration.version],
            )
            if applied:
                self._record(migration, "up")

    def checksums_applied(self) -> dict[str, str]:
        """Checksum of each applied migration's file when it was applied (none for dbmate's)."""
        return {v: checksum for v, checksum, state in self._bookkeeping_rows() if state == "applied"}

    def _bookkeeping_rows(self) -> list[tuple[str, str, str]]:
        """(version, checksum, state) of this migrations table, ordered by version.

        Read from orchestrator 0.1's table while it is still in the app's schema (a
        command that takes no lock, such as ``status``, does not move it).
        """
        if self._legacy_exists():
            has_state = self.conn.execute(
                "select 1 from information_schema.columns where table_schema = %s and table_name = %s "
                "and column_name = 'state'", [self._schema, f"{self._table}_checksums"]).fetchone()
            state = sql.SQL("state" if has_state else "'applied'")
            query = sql.SQL("select version, checksum, {} from {} order by version").format(state, self._legacy)
            return [tuple(r) for r in self.conn.execute(query).fetchall()]
        if not self._checksums_exist():
            return []
        return [tuple(r) for r in self.conn.execute(
            sql.SQL("select version, checksum, state from {} where table_schema = %s and table_name = %s "
                    "order by version").format(self.checksums), self._key).fetchall()]

    def _checksums_exist(self) -> bool:
        return self._exists(BOOKKEEPING_SCHEMA, BOOKKEEPING_TABLE)

    def _set_timeouts(self, timeouts: Timeouts, *, local: bool, durable: bool = True) -> None:
        self.conn.execute(*self._settings(timeouts, local=local, durable=durable))

    @staticmethod
    def _settings(timeouts: Timeouts, *, local: bool, durable: bool) -> tuple[str, list[object]]:
        """The lock guard's timeouts, and ``synchronous_commit = off`` for this transaction
        unless its commit must be durable (WAL is flushed in order: a later synchronous
        commit, or :meth:`flush`, makes it durable)."""
        query = "select set_config('lock_timeout', %s, %s), set_config('statement_timeout', %s, %s)"
        if not durable:
            query += ", set_config('synchronous_commit', 'off', true)"
        return query, [_pg_ms(timeouts.lock), local, _pg_ms(timeouts.statement), local]

    def _execute(self, script: Script, stmt: Statement, *, committed: int = 0, total: int = 0,
                 sent: deque[tuple[psycopg.Cursor, Statement | str]] | None = None) -> None:
        """One statement of a script, its error attributed to it; with ``sent``, queued in the
        pipeline of :meth:`_run_pipelined`, which attributes its error once the results are in."""
        if sent is not None:
            self._send(sent, stmt, stmt.text)
            return
        try:
            self.conn.execute(stmt.text, prepare=False)
        except psycopg.Error as exc:
            raise self._failure(script, stmt, exc, committed, total) from exc

    def _failure(self, script: Script, stmt: Statement, exc: psycopg.Error, committed: int,
                 total: int) -> MigrationFailed | _LockBusy:
        """The statement's own error, at its file line, with what to do about it."""
        offset = stmt.offset
        position = getattr(exc.diag, "statement_position", None) if hasattr(exc, "diag") else None
        if position:
            offset += int(position) - 1
        line = script.migration.section(script.direction).line_of(offset)
        message = ("connection lost: " if self.lost else "") + _message(exc)
        sqlstate = getattr(exc, "sqlstate", None)
        if sqlstate:
            message += f" (SQLSTATE {sqlstate})"
        if sqlstate == "25001" and script.transaction:
            message += "; this statement cannot run in a transaction: add transaction:false to the marker"
        message += _hint(message)
        partial = not script.transaction and committed > 0
        if partial:
            message += (
                f"; {committed} of {total} statements of this transaction:false section had "
                "already committed and stay applied"
            )
        failure = MigrationFailed(script.migration.path, script.direction, message, line=line, partial=partial)
        if sqlstate == LOCK_NOT_AVAILABLE:
            return _LockBusy(failure, resume=committed)
        return failure


class _LockBusy(Exception):
    """A statement did not get its lock within lock_timeout (retried by :meth:`Database.run`)."""

    def __init__(self, failure: MigrationFailed, resume: int) -> None:
        super().__init__(str(failure))
        self.failure = failure
        self.resume = resume


_UUID_HINT = (
    "; use the built-in gen_random_uuid() (PostgreSQL 13+) instead of uuid_generate_v4() and drop the "
    "CREATE EXTENSION (the embedded PostgreSQL ships most contrib extensions, but not pgcrypto or "
    "uuid-ossp), or point DATABASE_URL at a server that has the extension"
)


def _hint(message: str) -> str:
    """What to do about errors that a missing extension causes."""
    if re.search(r'extension "(uuid-ossp|pgcrypto)" is not available|uuid_generate_v\d\(\) does not exist', message):
        return _UUID_HINT
    missing = re.search(r'extension "([^"]+)" is not available', message)
    if missing:
        return (f"; this server does not have the {missing[1]} extension installed: install it there, or "
                "point DATABASE_URL at a server that has it")
    return ""


def server_release(url: DatabaseURL) -> tuple[int, str]:
    """(major, version text) of the server, e.g. (18, "18.1"): which pg_dump and pg_restore fit it.

    On a connection of its own, closed at once: a backup or restore asks before it starts
    its client program, whether or not a :class:`Database` is open.
    """
    with connect(url) as conn:
        return conn.info.server_version // 10000, conn.info.parameter_status("server_version") or ""


def wait_until_ready(
    url: DatabaseURL,
    timeout: float = 60.0,
    *,
    interval: float = 1.0,
    on_retry: Callable[[int], None] | None = None,
) -> int:
    """Return once the server accepts a connection to the URL's database, as ``dbmate wait``.

    As dbmate's ping: a database that does not exist yet counts as ready (the server
    answered; ``up`` and ``create`` make it).  Tries at once, then every ``interval``
    seconds until ``timeout`` has passed, calling ``on_retry(n)`` before the n-th retry;
    returns how many retries it took (0: ready at once).  Raises
    :class:`DatabaseUnavailable` with the last connection error when time runs out.
    """

    def ping() -> DatabaseUnavailable | None:
        try:
            with connect(url, timeout=max(2, min(10, round(timeout)))):
                return None
        except DatabaseUnavailable as exc:
            if re.search(r'database ".*" does not exist', str(exc.__cause__ or exc)):
                return None
            return exc

    failure = ping()
    retries, waited = 0, 0.0
    while failure is not None and waited < timeout:
        retries += 1
        if on_retry is not None:
            on_retry(retries)
        time.sleep(interval)
        waited += interval
        failure = ping()
    if failure is not None:
        raise DatabaseUnavailable(
            f"{failure}; still unavailable after waiting {timeout:g}s (--wait-timeout)"
        ) from failure
    return retries
