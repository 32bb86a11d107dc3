"""What the user reads: every line passes through :func:`redaction.redact`."""

from __future__ import annotations

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
    """A warning on stderr."""
    print(redact(f"warning: {text}"), file=sys.stderr, flush=True)


def fail(text: str) -> None:
    """The one-line error the CLI ends with, on stderr."""
    print(redact(f"error: {text}"), file=sys.stderr, flush=True)


def _escape(value: str) -> str:
    """GitHub's workflow-command escaping for a message."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape(value).replace(":", "%3A").replace(",", "%2C")


def annotate(level: str, message: str, *, file: str | None = None, line: int | None = None,
             title: str | None = None) -> None:
    """An ``::error``/``::warning`` annotation on a file and line, in GitHub Actions only."""
    if not in_github_actions():
        return
    props = [f"file={_escape_property(file)}"] if file else []
    if line:
        props.append(f"line={line}")
    if title:
        props.append(f"title={_escape_property(title)}")
    head = f"::{level} " + ",".join(props) if props else f"::{level}"
    print(f"{head}::{_escape(redact(message))}", flush=True)
