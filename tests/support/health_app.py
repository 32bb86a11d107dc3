"""A real /health/db endpoint on loopback, answering the way an app does.

:class:`HealthApp` is a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (a free port) in
a thread.  ``GET /health/db`` runs the app's query against the test's database with
psycopg and answers 200 ``{"status": "ok"}`` if it succeeds, 503 with the error text
(text/plain) if it fails, so a migration that breaks the app's schema makes it unhealthy for real.
Tests steer it: ``query`` (settable), ``fail_next(n)`` (flapping), ``hang(seconds)``
(a slow app), ``redirect(location)``, ``trickle(part, ...)`` (an answer dribbled out a
byte at a time); ``requests`` counts what it was asked, ``answers`` records when each
answer was sent (``time.monotonic()``) and its status.  The benchmarks use it too.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

from orchestrator.dburl import DatabaseURL

HEALTH_PATH = "/health/db"
APP_QUERY = "select id, email, full_name from users limit 1"


class HealthApp:
    """The app's health endpoint; see the module docstring."""

    def __init__(self, db_url: DatabaseURL, query: str = APP_QUERY) -> None:
        self.db_url = db_url
        self.query = query
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests = 0
        self._fail_next = 0
        self._hang = 0.0
        self._hang_from = 0  # requests numbered above this hang
        self._redirect: str | None = None
        self._trickle: tuple[str, int, float, bytes] | None = None
        self.headers: list[dict[str, str]] = []  # request headers, in order
        self.answers: list[tuple[float, int]] = []  # (monotonic time it was sent, status), in order
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="health-app", daemon=True
        )
        self._thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base + HEALTH_PATH

    @property
    def requests(self) -> int:
        """How many requests for the health path arrived so far."""
        with self._lock:
            return self._requests

    def reset(self) -> None:
        """Forget the requests, headers and answers seen so far."""
        with self._lock:
            self._requests = 0
            self.headers.clear()
            self.answers.clear()

    def _answered(self, status: int) -> None:
        with self._lock:
            self.answers.append((time.monotonic(), status))

    def fail_next(self, n: int) -> None:
        """Answer 503 to the next ``n`` requests, then run the query again."""
        with self._lock:
            self._fail_next = n

    def hang(self, seconds: float, *, after: int = 0) -> None:
        """Sleep ``seconds`` before answering each request (0 to stop hanging); with ``after``,
        only once that many requests have been answered (counted from now)."""
        with self._lock:
            self._hang = seconds
            self._hang_from = self._requests + after

    def redirect(self, location: str | None) -> None:
        """Answer ``302 Location: location`` (None to stop)."""
        with self._lock:
            self._redirect = location

    def trickle(self, part: str | None, *, status: int = 503, every: float = 0.2,
                body: bytes = b"trickled: " + b"." * 1000) -> None:
        """Answer ``status`` one byte every ``every`` seconds (None to stop).

        ``part="headers"``: the status line and headers themselves trickle (then the body
        is sent at once); ``part="body"``: the headers are sent at once (with the body's
        Content-Length) and the body trickles.  Every byte arrives well within any read
        timeout, yet the default body takes minutes in all.
        """
        if part not in (None, "headers", "body"):
            raise ValueError(f"trickle what? {part!r}")
        with self._lock:
            self._trickle = None if part is None else (part, status, every, body)

    def close(self) -> None:
        """Stop serving; hanging requests are woken and every handler thread joined."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()  # joins the handler threads (block_on_close)
        self._thread.join(timeout=10)

    # -- what one request does (in a handler thread) ----------------------------------

    def _trickling(self, headers: dict[str, str]) -> tuple[str, int, float, bytes] | None:
        """The trickle to answer with (the request counted), or None to answer normally."""
        with self._lock:
            if self._trickle is None:
                return None
            self._requests += 1
            self.headers.append(headers)
            return self._trickle

    def _answer(self, headers: dict[str, str]) -> tuple[int, dict[str, str], dict | str]:
        with self._lock:
            self._requests += 1
            self.headers.append(headers)
            hang = self._hang if self._requests > self._hang_from else 0.0
            redirect, query = self._redirect, self.query
            failing = self._fail_next > 0
            if failing:
                self._fail_next -= 1
        if hang and self._stopping.wait(hang):
            return 503, {}, "shutting down"
        if self._stopping.is_set():
            return 503, {}, "shutting down"
        if redirect:
            return 302, {"Location": redirect}, "moved"
        if failing:
            return 503, {}, "simulated failure (fail_next)"
        try:
            with psycopg.connect(
                self.db_url.conninfo(), password=self.db_url.password, autocommit=True, connect_timeout=5
            ) as conn:
                conn.execute(query).fetchall()
        except psycopg.Error as exc:
            return 503, {}, str(exc).strip()
        return 200, {}, {"status": "ok"}


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def handle_error(self, request, client_address) -> None:
        """A client that gave up (timed out) is not an error of the app."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def _handler_for(app: HealthApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != HEALTH_PATH:
                self._send(404, {}, {"status": "not found"})
                return
            headers = dict(self.headers.items())
            trickle = app._trickling(headers)
            if trickle is not None:
                self._trickle(*trickle)
                return
            self._send(*app._answer(headers))

        def _trickle(self, part: str, status: int, every: float, body: bytes) -> None:
            reason = self.responses.get(status, ("Unknown",))[0]
            head = (
                f"HTTP/1.1 {status} {reason}\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            slow, fast = (head, b"") if part == "headers" else (b"", head)
            self.close_connection = True
            try:
                self.wfile.write(fast)
                for i in range(len(slow)):
                    self.wfile.write(slow[i : i + 1])
                    if app._stopping.wait(every):
                        return
                if part == "headers":
                    self.wfile.write(body)
                else:
                    for i in range(len(body)):
                        self.wfile.write(body[i : i + 1])
                        if app._stopping.wait(every):
                            return
            except ConnectionError:
                return  # the client cut the answer off and left
            app._answered(status)

        def _send(self, status: int, headers: dict[str, str], body: dict | str) -> None:
            if isinstance(body, dict):
                data, kind = json.dumps(body).encode(), "application/json"
            else:
                data, kind = body.encode(), "text/plain"
            try:
                self.send_response(status)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
            except ConnectionError:
                pass  # the client timed out and left
            app._answered(status)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
