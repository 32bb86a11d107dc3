"""SIGINT, SIGTERM and SIGHUP end a run the same way: as an :class:`Interrupted` exception.

A cancelled GitHub Actions step gets SIGINT (some runner versions send SIGHUP instead),
SIGTERM 7.5 s later, and 2.5 s after that the whole process tree is killed.  A person
presses Ctrl-C, or a supervisor sends SIGTERM.  Whichever comes, the main thread gets an
:class:`Interrupted` where it is, and the pipeline decides what that means for the
database (see ``pipeline.conclude``).  :class:`Interrupted` is a ``KeyboardInterrupt``
on purpose: psycopg then cancels the statement running on the server before the
exception reaches us, so a long ``ALTER TABLE`` stops within milliseconds.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class Interrupted(KeyboardInterrupt):
    """A signal asked the run to stop."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.name = signal.Signals(signum).name

    def __str__(self) -> str:
        return f"interrupted by {self.name}"


class Trap:
    """The signals received so far; each raises :class:`Interrupted` unless they are held."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.first_at: float | None = None  # time.monotonic() of the first signal
        self._held = 0

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signal.Signals(signum).name)
        if self.first_at is None:
            self.first_at = time.monotonic()
        if not self._held:
            raise Interrupted(signum)

    @property
    def interrupted(self) -> bool:
        return bool(self.received)

    def remaining(self, budget: float) -> float | None:
        """Seconds left of ``budget`` counted from the first signal; None before any signal."""
        if self.first_at is None:
            return None
        return budget - (time.monotonic() - self.first_at)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Signals are counted but raise nothing: the outcome is decided, only its record is left."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1

    def settle(self) -> None:
        """From now on signals are only counted: the outcome is recorded, and the exit code
        the process ends with must be the one recorded."""
        self._held += 1


_active: Trap | None = None


@contextmanager
def trapped() -> Iterator[Trap]:
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`Interrupted` while the block runs.

    Nested, it shares the outer trap (the CLI's), so what the pipeline settles holds until
    the process has said its exit code.  Outside the main thread (where Python cannot
    install handlers) the trap counts nothing, and the process keeps its handlers.
    """
    global _active  # noqa: PLW0603  (the process's signal handlers are one global state)
    if _active is not None:
        yield _active
        return
    trap = Trap()
    if threading.current_thread() is not threading.main_thread():
        yield trap
        return
    previous = {signum: signal.signal(signum, trap._handle) for signum in SIGNALS}
    _active = trap
    try:
        yield trap
    finally:
        _active = None
        for signum, handler in previous.items():
            signal.signal(signum, handler)
