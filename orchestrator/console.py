"""What the user reads: every line passes through :func:`redaction.redact`."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from .redaction import redact


def in_github_actions() -> bool:
    """True inside a GitHub Actions job, where groups and annotations are rendered."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


@contextmanager
def group(title: str) -> Iterator[None]:
    """A titled block of output: a collapsible ``::group::`` in GitHub Actions."""
    if in_github_actions():
        print(f"::group::{redact(title)}", flush=True)
        try:
            yield
        finally:
            print("::endgroup::", flush=True)
    else:
        print(f"==> {redact(title)}", flush=True)
        yield


def say(text: str = "") -> None:
    """A line of normal output on stdout."""
    print(redact(text), flush=True)


def write(text: str) -> None:
    """Text on stdout as it is (SQL, diffs), redacted."""
    sys.stdout.write(redact(text))
    sys.stdout.flush()


def note(text: str) -> None:
    """A remark about how the command runs (not its result), on stderr so that
    ``--json`` output stays clean."""
    print(redact(text), file=sys.stderr, flush=True)


def warn(text: str) -> None:
    """A warning on stderr (in GitHub Actions, as a ``::warning::`` annotation there)."""
    if not (in_github_actions() and _annotations().emit("warning", text, out=sys.stderr)):
        print(redact(f"warning: {text}"), file=sys.stderr, flush=True)


def fail(text: str) -> None:
    """The one-line error the CLI ends with, on stderr."""
    print(redact(f"error: {text}"), file=sys.stderr, flush=True)


@functools.cache
def _annotations():  # -> github.Annotations: one per process, imported only in GitHub Actions
    from .github import Annotations

    return Annotations()


def annotate(level: str, message: str, *, file: str | None = None, line: int | None = None,
             title: str | None = None) -> None:
    """An ``::error``/``::warning`` annotation on a file and line, in GitHub Actions only.

    Deduplicated and capped at 10 per level (what GitHub shows per step); the full
    story is in the run log and the step summary.
    """
    if in_github_actions():
        _annotations().emit(level, message, file=file, line=line, title=title)
