"""Is the app healthy?  The database probe and the app's ``/health/db`` endpoint.

The deploy pipeline asks twice: before it changes anything (an app that is already
unhealthy is a reason to stop, not to migrate) and after the migrations are applied
(unhealthy means roll back).  Both questions are :func:`check`:

* the built-in **database probe** always runs first: the database answers ``SELECT 1``
  and the latest version recorded in ``schema_migrations`` is the one the deploy
  expects (:func:`probe_database`);
* if a health URL is configured, the app's endpoint is then polled
  (:func:`probe_http`): healthy means a 2xx answer within the request timeout.  Failed
  answers are retried ``attempts`` times, ``interval`` seconds apart; a healthy answer
  ends the polling.

Nothing here raises because the app is unhealthy: every probe comes back as
:class:`Attempt` records (redacted, one line each, with :meth:`Attempt.to_dict` for the
run log) inside a :class:`HealthResult`.  Only a malformed health URL raises
(:class:`~orchestrator.errors.ConfigError`), before any request is made.

This is the only module that uses httpx and tenacity.  It speaks no SQL: the database
probe calls :class:`~orchestrator.database.Database` methods.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx
import psycopg
import tenacity

from .database import DEFAULT_TABLE, Database
from .dburl import DatabaseURL
from .errors import ConfigError, OrchestratorError
from .redaction import MASK, redact, register_secret

BODY_CHARS = 200  # how much of a failed answer's body an attempt keeps
_BODY_BYTES = 64 * 1024  # how much of it is read at most
_DETAIL_CHARS = 500
USER_AGENT = "orchestrator-health-check"

HTTP = "http"
DATABASE = "database"

OnAttempt = Callable[["Attempt"], None]


@dataclass(frozen=True)
class HealthPolicy:
    """How long to wait for an app to become healthy."""

    attempts: int = 5  # requests at most
    interval: float = 2.0  # seconds between the end of one attempt and the next
    timeout: float = 5.0  # seconds one request may take (connect, send, each read)

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 1:
            raise ConfigError(f"health check attempts must be a whole number >= 1, not {self.attempts!r}")
        if not _number(self.interval) or self.interval < 0:
            raise ConfigError(f"health check interval must be a number of seconds >= 0, not {self.interval!r}")
        if not _number(self.timeout) or self.timeout <= 0:
            raise ConfigError(f"health check timeout must be a number of seconds > 0, not {self.timeout!r}")


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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


def validate_url(raw: str, *, source: str = "health_url") -> str:
    """Check that ``raw`` is an http(s) URL with a host; return it stripped.

    Raises :class:`ConfigError` (naming ``source``) otherwise.  The URL's password, if
    any, is registered with :mod:`orchestrator.redaction`.
    """
    text = (raw or "").strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ConfigError(f"not a valid URL ({exc})", source=source) from None
    if parts.scheme not in ("http", "https"):
        shown = parts.scheme or "(none)"
        raise ConfigError(f"unsupported URL scheme {shown!r}: expected http:// or https://", source=source)
    if not parts.hostname:
        raise ConfigError(f"the URL names no host: {display_url(text)}", source=source)
    register_secret(parts.password)
    return text


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


def probe_http(url: str, policy: HealthPolicy = HealthPolicy(), on_attempt: OnAttempt | None = None) -> HealthResult:
    """Poll ``url`` until it answers 2xx, at most ``policy.attempts`` times.

    Each request is cut off after ``policy.timeout`` seconds (connect, send, each read).
    Redirects are not followed (a 3xx is unhealthy).  ``on_attempt`` is called with each
    :class:`Attempt` as soon as it is done.  Never raises for an unhealthy app; a
    malformed URL raises :class:`ConfigError` before any request.
    """
    url = validate_url(url)
    attempts: list[Attempt] = []

    def one() -> Attempt:
        attempt = _request(url, policy, len(attempts) + 1)
        attempts.append(attempt)
        if on_attempt is not None:
            on_attempt(attempt)
        return attempt

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=tenacity.wait_fixed(policy.interval),
        retry=tenacity.retry_if_result(lambda attempt: not attempt.ok),
        retry_error_callback=lambda state: state.outcome.result(),  # the last attempt, not an error
        reraise=True,
    )
    last = retrying(one)
    return HealthResult(healthy=last.ok, attempts=attempts, url=display_url(url))


def _request(url: str, policy: HealthPolicy, number: int) -> Attempt:
    started = _now()
    start = time.monotonic()
    status: int | None = None
    ok = False
    try:
        with httpx.Client(timeout=httpx.Timeout(policy.timeout), follow_redirects=False) as client:
            headers = {"User-Agent": USER_AGENT, "Accept": "application/json, */*"}
            with client.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if 200 <= status < 300:
                    ok, detail = True, f"HTTP {status}"
                elif 300 <= status < 400:
                    location = response.headers.get("location")
                    shown = display_url(location) if location else "nowhere"
                    detail = f"HTTP {status}: redirect to {shown} not followed"
                else:
                    body = _body_prefix(response, policy)
                    detail = f"HTTP {status}: {body}" if body else f"HTTP {status}"
    except httpx.TimeoutException as exc:
        detail = f"timed out after {policy.timeout:g}s{_PHASE.get(type(exc), '')}"
    except httpx.ConnectError as exc:
        message = _one_line(str(exc) or type(exc).__name__)
        detail = "connection refused" if "refused" in message.lower() else f"cannot connect: {message}"
    except httpx.HTTPError as exc:  # protocol errors, resets, unsupported answers
        detail = f"request failed: {_one_line(str(exc)) or type(exc).__name__}"
    return Attempt(number, started, time.monotonic() - start, ok, status, detail, HTTP)


_PHASE = {
    httpx.ConnectTimeout: " (connecting)",
    httpx.WriteTimeout: " (sending the request)",
    httpx.PoolTimeout: " (waiting for a connection)",
}


def _body_prefix(response: httpx.Response, policy: HealthPolicy) -> str:
    """The first :data:`BODY_CHARS` characters of a failed answer's body, on one line."""
    data = b""
    suffix = ""
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= _BODY_BYTES:
                break
    except httpx.TimeoutException:
        suffix = f" (body timed out after {policy.timeout:g}s)"
    except httpx.HTTPError as exc:
        suffix = f" (body unreadable: {_one_line(str(exc)) or type(exc).__name__})"
    text = data.decode(response.charset_encoding or "utf-8", errors="replace")
    return (_one_line(text, BODY_CHARS) + suffix).strip()


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
    except (OrchestratorError, psycopg.Error) as exc:
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
    policy: HealthPolicy = HealthPolicy(),
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
        url = validate_url(url)
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
