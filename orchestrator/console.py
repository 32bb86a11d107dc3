"""What the user reads: every line passes through :func:`redaction.redact`.

Output survives a reader that went away (``orchestrator up --dry-run | head -1``): when
a write to stdout or stderr fails because the pipe is closed, that file descriptor is
pointed at :data:`os.devnull` and the program goes on, so its work and exit code do not
depend on who is still reading.  Later writes, and the interpreter's final flush, then
succeed silently.
"""

from __future__ import annotations

import atexit
import errno
import functools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

from .redaction import redact


def in_github_actions() -> bool:
    """True inside a GitHub Actions job, where groups and annotations are rendered."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


@contextmanager
def group(title: str) -> Iterator[None]:
    """A titled block of output: a collapsible ``::group::`` in GitHub Actions."""
    if in_github_actions():
        _print(f"::group::{redact(title)}", sys.stdout)
        try:
            yield
        finally:
            _print("::endgroup::", sys.stdout)
    else:
        _print(f"==> {redact(title)}", sys.stdout)
        yield


def say(text: str = "") -> None:
    """A line of normal output on stdout."""
    _print(redact(text), sys.stdout)


def write(text: str) -> None:
    """Text on stdout as it is (SQL, diffs), redacted."""
    out = sys.stdout
    if out is not None:
        _guarded(out, lambda: (out.write(redact(text)), out.flush()))


def note(text: str) -> None:
    """A remark about how the command runs (not its result), on stderr so that
    ``--json`` output stays clean."""
    _print(redact(text), sys.stderr)


def warn(text: str) -> None:
    """A warning on stderr (in GitHub Actions, as a ``::warning::`` annotation there)."""
    if not (in_github_actions() and _emit("warning", text, sys.stderr)):
        _print(redact(f"warning: {text}"), sys.stderr)


def fail(text: str) -> None:
    """The one-line error the CLI ends with, on stderr."""
    _print(redact(f"error: {text}"), sys.stderr)


def reset_annotations() -> None:
    """Start the per-process annotation counts afresh (an in-process run of another command)."""
    _annotations.cache_clear()


@functools.cache
def _annotations():  # -> github.Annotations: one per process, imported only in GitHub Actions
    from .github import CLI_ANNOTATION_CAP, Annotations

    return Annotations(cap=CLI_ANNOTATION_CAP)


def annotate(level: str, message: str, *, file: str | None = None, line: int | None = None,
             title: str | None = None) -> None:
    """An ``::error``/``::warning`` annotation on a file and line, in GitHub Actions only.

    Deduplicated and capped at 9 per level: GitHub shows 10 per step, and the action's
    run step adds one (how the run ended) after the CLI's; the full story is in the run
    log and the step summary.  ``file`` (relative to the current directory, the project
    root, or absolute) is given to GitHub relative to the repository (``$GITHUB_WORKSPACE``)
    so the annotation lands on the diff whatever the action's working-directory.
    """
    if in_github_actions():
        if file:
            from .github import repo_path

            file = repo_path(file, os.environ)
        _emit(level, message, sys.stdout, file=file, line=line, title=title)


# -- writing to a reader that may have gone away ---------------------------------------


def _print(line: str, out: TextIO | None) -> None:
    """``line`` and a newline on ``out``, flushed; a closed reader is not an error."""
    if out is not None:  # None: no console at all (pythonw)
        _guarded(out, lambda: print(line, file=out, flush=True))


def _emit(level: str, message: str, out: TextIO | None, **where: object) -> bool:
    """A GitHub annotation on ``out``; True if it was shown (or its reader is gone)."""
    if out is None:
        return True
    shown = True

    def emit() -> None:
        nonlocal shown
        shown = _annotations().emit(level, message, out=out, **where)

    _guarded(out, emit)
    return shown


def _guarded(out: TextIO, action: Callable[[], object]) -> None:
    """Run ``action`` (a write to ``out``); if ``out``'s reader is gone, silence ``out``."""
    try:
        action()
    except OSError as exc:
        if not reader_gone(exc):
            raise
        silence(out)


def reader_gone(exc: BaseException) -> bool:
    """True for the error a write gets when the reading end of its pipe is closed."""
    if isinstance(exc, BrokenPipeError):
        return True
    if isinstance(exc, OSError):
        # Windows reports a closed pipe as EINVAL.
        return exc.errno == errno.EPIPE or (sys.platform == "win32" and exc.errno == errno.EINVAL)
    return False


def silence(out: TextIO) -> None:
    """Point ``out``'s file descriptor at :data:`os.devnull`, then drop what is buffered.

    After this every write to ``out`` (through any file object on that descriptor, and
    the interpreter's final flush) succeeds and goes nowhere.  Never raises.
    """
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):  # not backed by a descriptor, or closed
        fd = None
    if fd is not None:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, fd)
            finally:
                os.close(devnull)
        except OSError:
            pass
    try:
        out.flush()  # what the failed write left buffered now goes to devnull
    except (OSError, ValueError):
        pass


@atexit.register
def _flush_at_exit() -> None:
    """Flush stdout and stderr before the interpreter does, silencing a closed reader, so
    output written outside these functions (argparse's ``--help``) cannot turn a clean
    exit into ``Exception ignored ... BrokenPipeError`` and exit code 120."""
    for out in (sys.stdout, sys.stderr):
        if out is not None:
            try:
                _guarded(out, out.flush)
            except (OSError, ValueError):
                pass


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[int] = ()) -> None:
    """Rows under a header line, each column as wide as its widest cell (``right``: right-aligned columns)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    for row in (headers, *rows):
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        say("  ".join(cells).rstrip())
