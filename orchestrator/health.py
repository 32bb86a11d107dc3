"""Is the app healthy?  The database probe and the app's ``/health/db`` endpoint.

The deploy pipeline asks twice: before it changes anything (an app that is already
unhealthy is a reason to stop, not to migrate) and after the migrations are applied
(unhealthy means roll back).  Both questions are :func:`check`:

* the built-in **database probe** always runs first: the database answers ``SELECT 1``
  and the latest version recorded in ``schema_migrations`` is the one the deploy
  expects (:func:`probe_database`);
* if a health URL is configured, the app's endpoint is then polled
  (:func:`probe_http`): healthy means a 2xx answer within the timeout.  Failed
  answers are retried ``attempts`` times, ``interval`` seconds apart; a healthy answer
  ends the polling.

The timeout is an overall deadline per attempt (connect, send, headers and body
together), not httpx's per-operation timeout, which an app that trickles its answer a
byte at a time would never trip: each request runs in a daemon thread that the caller
waits for until the deadline, then cuts off (its socket is shut down).  The caller's
waits stay interruptible, so Ctrl-C during a probe or between attempts ends it at once.

Nothing here raises because the app is unhealthy: every probe comes back as
:class:`Attempt` records (redacted, one line each, with :meth:`Attempt.to_dict` for the
run log) inside a :class:`HealthResult`.  Only a malformed health URL raises
(:class:`~orchestrator.errors.ConfigError`), before any request is made.

This is the only module that uses httpx and tenacity.  It speaks no SQL: the database
probe calls :class:`~orchestrator.database.Database` methods.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .config import Health, validate_http_url
from .database import DEFAULT_TABLE, Database
from .dburl import DatabaseURL
from .errors import OrchestratorError
from .redaction import MASK, redact

BODY_CHARS = 200  # how much of a failed answer's body an attempt keeps
_BODY_BYTES = 64 * 1024  # how much of it is read at most
_BODY_SHOWN_BYTES = 8 * 1024  # how much of that is redacted and cut down to BODY_CHARS
_DETAIL_CHARS = 500
USER_AGENT = "orchestrator-health-check"

HTTP = "http"
DATABASE = "database"

OnAttempt = Callable[["Attempt"], None]


@dataclass(frozen=True)
class Attempt:
    """One probe: one HTTP request, or one run of the database probe.

    ``detail`` is always one redacted line (``HTTP 200``, ``HTTP 503: <body>``,
    ``timed out after 5s``, ``connection refused``, ...), whatever was passed in.
    """

    number: int  # 1-based, per probe
    started: str  # ISO 8601, UTC
    seconds: float  # time taken
    ok: bool
    status_code: int | None  # HTTP status, None if there was no answer or no HTTP
    detail: str
    probe: str = HTTP  # "http" or "database"

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", _one_line(self.detail, _DETAIL_CHARS))
        object.__setattr__(self, "seconds", round(self.seconds, 3))

    def describe(self) -> str:
        """A progress line for the terminal."""
        verdict = "ok" if self.ok else "failed"
        return f"{self.probe} check {self.number}: {verdict}: {self.detail} ({self.seconds:.2f}s)"

    def to_dict(self) -> dict:
        """A JSON-ready record for the run log."""
        return {
            "probe": self.probe,
            "number": self.number,
            "started": self.started,
            "seconds": self.seconds,
            "ok": self.ok,
            "status_code": self.status_code,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class HealthResult:
    """The verdict and every attempt that led to it, in order."""

    healthy: bool
    attempts: list[Attempt] = field(default_factory=list)
    url: str | None = None  # the health URL as it may be shown (no credentials), None if none

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    def summary(self) -> str:
        """One line for the terminal and for error messages."""
        if not self.attempts:
            return "healthy" if self.healthy else "unhealthy"
        count = f"{len(self.attempts)} check{'s' if len(self.attempts) != 1 else ''}"
        if self.healthy:
            finals: dict[str, Attempt] = {}
            for attempt in self.attempts:
                finals[attempt.probe] = attempt
            parts = "; ".join(f"{a.probe}: {a.detail}" for a in finals.values())
            return f"healthy after {count} ({parts})"
        failed = [a for a in self.attempts if not a.ok]
        worst = failed[-1] if failed else self.attempts[-1]
        where = f" at {self.url}" if worst.probe == HTTP and self.url else ""
        return f"unhealthy after {count}: {worst.probe} check failed{where}: {worst.detail}"

    def to_dict(self) -> dict:
        return {
            "healthy": self.healthy,
            "url": self.url,
            "attempts": [a.to_dict() for a in self.attempts],
        }


# -- URLs ------------------------------------------------------------------------------


def display_url(raw: str) -> str:
    """The URL as it may be shown: no user or password, query values masked."""
    try:
        parts = urlsplit(raw.strip())
        port = parts.port
    except ValueError:
        return redact(raw)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port is not None else "")
    query = "&".join(f"{k}={MASK}" if v else k for k, v in parse_qsl(parts.query, keep_blank_values=True))
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, "")))


# -- the HTTP probe --------------------------------------------------------------------


def probe_http(url: str, policy: Health = Health(), on_attempt: OnAttempt | None = None) -> HealthResult:
    """Poll ``url`` until it answers 2xx, at most ``policy.attempts`` times.

    Each request ends within ``policy.timeout`` seconds in all (connect, send, headers
    and body), whatever the server does; then it is a failed attempt ``timed out after
    Ns (overall deadline) ...``.  Redirects are not followed (a 3xx is unhealthy).
    ``on_attempt`` is called with each :class:`Attempt` as soon as it is done.  Never
    raises for an unhealthy app; a malformed URL raises :class:`ConfigError` before any
    request.  An exception raised by a signal handler (``KeyboardInterrupt``) during a
    request or between attempts propagates at once.
    """
    import tenacity  # noqa: PLC0415  (a deploy without a health URL probes only the database)

    url = validate_http_url(url)
    attempts: list[Attempt] = []

    def one() -> Attempt:
        attempt = _request(url, policy, len(attempts) + 1)
        attempts.append(attempt)
        if on_attempt is not None:
            on_attempt(attempt)
        return attempt

    retrying = tenacity.Retrying(
        sleep=_sleep,
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=tenacity.wait_fixed(policy.interval),
        retry=tenacity.retry_if_result(lambda attempt: not attempt.ok),
        retry_error_callback=lambda state: state.outcome.result(),  # the last attempt, not an error
        reraise=True,
    )
    last = retrying(one)
    return HealthResult(healthy=last.ok, attempts=attempts, url=display_url(url))


_SLICE = 0.05  # seconds: the longest a wait in the calling thread blocks at a time


def _sleep(seconds: float) -> None:
    """:func:`time.sleep` in short slices, so a signal's exception is never held back."""
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        time.sleep(min(remaining, _SLICE))


def _request(url: str, policy: Health, number: int) -> Attempt:
    """One request, cut off at ``policy.timeout`` seconds after it started."""
    started = _now()
    start = time.monotonic()
    exchange = _Exchange(policy)
    worker = threading.Thread(
        target=exchange.run, args=(url,), name=f"health-probe-{number}", daemon=True
    )
    try:
        worker.start()
        _wait(exchange.done, start + policy.timeout)
    finally:  # also on KeyboardInterrupt: the worker is cut off, not left to trickle on
        ok, status, detail = exchange.settle()
    return Attempt(number, started, time.monotonic() - start, ok, status, detail, HTTP)


def _wait(event: threading.Event, deadline: float) -> None:
    """Wait for ``event`` until ``deadline`` (monotonic), in slices that signals interrupt."""
    while (remaining := deadline - time.monotonic()) > 0:
        if event.wait(min(remaining, _SLICE)):
            return


_Outcome = tuple[bool, "int | None", str]  # ok, status code, detail


class _Exchange:
    """One request, made by :meth:`run` in a worker thread and settled by the caller.

    The worker records its progress (connected, status, body so far) as it goes, so
    that the caller can say what the request was doing when the deadline cut it off.
    The socket is shut down through a duplicate of its descriptor, owned here, so the
    caller never touches a descriptor the worker may have closed (and the number reused).
    """

    def __init__(self, policy: Health) -> None:
        self.policy = policy
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._cut_off = False
        self._socket: socket.socket | None = None  # a dup of the connection's socket
        self._connected = False
        self._status: int | None = None
        self._body = bytearray()
        self._charset: str | None = None
        self._outcome: _Outcome | None = None

    # -- in the worker thread ----------------------------------------------------------

    def run(self, url: str) -> None:
        import httpx  # noqa: PLC0415  (httpx only when an app's URL is probed)

        outcome: _Outcome = (False, None, "request failed: no answer")
        try:
            outcome = self._exchange(url)
        except httpx.TimeoutException:  # per operation, so never before the overall deadline
            outcome = self._timed_out()
        except httpx.ConnectError as exc:
            message = _one_line(str(exc) or type(exc).__name__)
            detail = "connection refused" if "refused" in message.lower() else f"cannot connect: {message}"
            outcome = (False, None, detail)
        except httpx.HTTPError as exc:  # protocol errors, resets, unsupported answers
            outcome = (False, self._status, f"request failed: {_one_line(str(exc)) or type(exc).__name__}")
        except Exception as exc:  # noqa: BLE001 - a worker thread has no one else to tell
            outcome = (False, self._status, f"request failed: {_one_line(str(exc)) or type(exc).__name__}")
        finally:
            with self._lock:
                self._outcome = outcome
            self.done.set()

    def _exchange(self, url: str) -> _Outcome:
        import httpx  # noqa: PLC0415  (httpx only when an app's URL is probed)

        timeout = httpx.Timeout(self.policy.timeout)  # a backstop; the deadline is the caller's
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json, */*"}
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:  # noqa: SIM117
            with client.stream("GET", url, headers=headers, extensions={"trace": self._trace}) as response:
                status = response.status_code
                with self._lock:
                    self._status = status
                    self._charset = response.charset_encoding
                if 200 <= status < 300:
                    return True, status, f"HTTP {status}"
                if 300 <= status < 400:
                    location = response.headers.get("location")
                    shown = display_url(location) if location else "nowhere"
                    return False, status, f"HTTP {status}: redirect to {shown} not followed"
                suffix = ""
                try:
                    for chunk in response.iter_bytes():
                        with self._lock:
                            self._body += chunk
                            if len(self._body) >= _BODY_BYTES:
                                break
                except httpx.TimeoutException:
                    raise  # the deadline has passed: not "body unreadable" (below)
                except httpx.HTTPError as exc:
                    suffix = f" (body unreadable: {_one_line(str(exc)) or type(exc).__name__})"
                body = self._body_text()
                return False, status, (f"HTTP {status}: {body}" if body else f"HTTP {status}") + suffix

    def _trace(self, event: str, info: dict) -> None:
        """httpcore's ``trace`` extension: keep a handle on the connection's socket."""
        if event not in ("connection.connect_tcp.complete", "connection.connect_unix_socket.complete"):
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is None:
            return
        with self._lock:
            self._connected = True
            if not self._cut_off:
                self._socket = sock.dup()
                return
        _shut_down(sock)  # the deadline passed while connecting: end it here

    # -- in the calling thread ---------------------------------------------------------

    def settle(self) -> _Outcome:
        """The worker's outcome if it has one; otherwise cut the request off now."""
        with self._lock:
            outcome = self._outcome
            cut_off = self._cut_off = outcome is None
            if outcome is None:
                outcome = self._timed_out_locked()
            sock, self._socket = self._socket, None
        if sock is not None:
            if cut_off:
                _shut_down(sock)  # wakes the worker from whatever read or write it is in
            sock.close()
        return outcome

    # -- either ------------------------------------------------------------------------

    def _timed_out(self) -> _Outcome:
        with self._lock:
            return self._timed_out_locked()

    def _timed_out_locked(self) -> _Outcome:
        head = f"timed out after {self.policy.timeout:g}s (overall deadline)"
        status = self._status
        if status is not None:
            body = self._body_text()
            where = f"reading the body of HTTP {status}" + (f": {body}" if body else "")
        elif self._connected:
            where = "waiting for the response"
        else:
            where = "connecting"
        return False, status, f"{head} {where}"

    def _body_text(self) -> str:
        """The first :data:`BODY_CHARS` characters of the body so far, on one line."""
        data = bytes(self._body[:_BODY_SHOWN_BYTES])
        try:
            text = data.decode(self._charset or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            text = data.decode("utf-8", errors="replace")
        return _one_line(text, BODY_CHARS).strip()


def _shut_down(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# -- the database probe ----------------------------------------------------------------


def probe_database(
    target: Database | DatabaseURL,
    expected_version: str | None,
    *,
    table: str = DEFAULT_TABLE,
    number: int = 1,
) -> Attempt:
    """The built-in probe: the database answers and holds the expected version.

    ``target`` is an open :class:`Database` (used as it is) or a URL (a fresh connection
    is opened and closed, so a database that cannot be reached is a failed probe, not an
    exception).  The latest version recorded in the migrations table must equal
    ``expected_version``; ``None`` expects no version recorded at all.
    """
    started = _now()
    start = time.monotonic()
    db: Database | None = None
    try:
        db = Database(target, table=table) if isinstance(target, DatabaseURL) else target
        db.ping()
        versions = db.applied_versions()
    except OrchestratorError as exc:
        return Attempt(number, started, time.monotonic() - start, False, None, str(exc), DATABASE)
    finally:
        if db is not None and db is not target:
            db.close()
    latest = max(versions) if versions else None
    name = db.table_name
    if latest == expected_version:
        ok = True
        state = f"latest version {latest}" if latest else f"no version recorded in {name}"
        detail = f"database answers; {state}"
    else:
        ok = False
        detail = (
            f"latest version recorded in {name} is {latest or '(none)'}, "
            f"expected {expected_version or '(none)'}"
        )
    return Attempt(number, started, time.monotonic() - start, ok, None, detail, DATABASE)


def database_probe(
    target: Database | DatabaseURL, expected_version: str | None, *, table: str = DEFAULT_TABLE
) -> Callable[[], Attempt]:
    """:func:`probe_database` bound to its arguments, for :func:`check`."""
    return lambda: probe_database(target, expected_version, table=table)


# -- both ------------------------------------------------------------------------------


def check(
    url: str | None,
    db_probe: Callable[[], Attempt] | None,
    policy: Health = Health(),
    on_attempt: OnAttempt | None = None,
) -> HealthResult:
    """Healthy only if the database probe and the app's endpoint both pass.

    The database probe runs once, first; if it fails the endpoint is not polled (the
    verdict is already "unhealthy", and a rollback should not wait for it).  Without a
    health URL only the database probe runs.  Call it before a deploy (an app that is
    already unhealthy: stop) and after applying migrations (unhealthy: roll back).
    """
    if url is None and db_probe is None:
        raise ValueError("check() needs a health URL, a database probe, or both")
    if url is not None:
        url = validate_http_url(url)
    shown = display_url(url) if url is not None else None
    attempts: list[Attempt] = []
    if db_probe is not None:
        attempt = db_probe()
        attempts.append(attempt)
        if on_attempt is not None:
            on_attempt(attempt)
        if not attempt.ok or url is None:
            return HealthResult(healthy=attempt.ok, attempts=attempts, url=shown)
    assert url is not None
    http = probe_http(url, policy, on_attempt)
    return HealthResult(healthy=http.healthy, attempts=attempts + http.attempts, url=shown)


# -- helpers ---------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _one_line(text: str, limit: int | None = None) -> str:
    """``text`` redacted (before cutting, so no secret is cut in half), its whitespace
    collapsed, cut to ``limit`` characters."""
    line = " ".join(redact(str(text)).split())
    if limit is not None and len(line) > limit:
        line = line[:limit] + "..."
    return line
