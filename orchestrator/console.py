"""What the user reads: every line passes through :func:`redaction.redact`."""

from __future__ import annotations

import sys

from .redaction import redact


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
    """A warning on stderr."""
    print(redact(f"warning: {text}"), file=sys.stderr, flush=True)


def fail(text: str) -> None:
    """The one-line error the CLI ends with, on stderr."""
    print(redact(f"error: {text}"), file=sys.stderr, flush=True)
