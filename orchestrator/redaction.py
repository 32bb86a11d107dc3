"""One redaction function for everything printed, logged or stored.

Secrets reach orchestrator through the environment (database URLs, AWS keys).  Each
one is registered here when it is read, and :func:`redact` removes every registered
value and every URL password from a text, so no code path has to remember to do it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

MASK = "********"
_secrets: set[str] = set()

# scheme://user:password@host  ->  scheme://user:********@host
# (a scheme starts where no scheme character precedes it, or a long run of letters would
# be tried from each of its characters: quadratic time on a long hex literal)
_URL_USERINFO = re.compile(r"(?P<head>(?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)@")
# password=... in libpq keyword/value strings
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I)
# AWS access key ids and anything after a secret-ish keyword
_AWS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")


def register_secret(value: str | None) -> None:
    """Remember a secret so that :func:`redact` removes it wherever it appears."""
    if value and len(value) >= 4:
        _secrets.add(value)


def redact(text: str) -> str:
    """Return ``text`` with URL passwords, registered secrets and AWS key ids masked."""
    if not text:
        return text
    # each pattern only where its literal part occurs: a substring test costs far less than
    # a regular-expression scan, and most lines (every journal event) hold none of them
    if "://" in text:
        text = _URL_USERINFO.sub(lambda m: f"{m['head']}{MASK}@" if m["pw"] else m[0], text)
    if "=" in text:
        text = _KV_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)
    if "AKIA" in text or "ASIA" in text:
        text = _AWS_KEY_ID.sub(MASK, text)
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


@contextmanager
def isolated() -> Iterator[None]:
    """Secrets registered inside the block are forgotten after it, and none registered
    before apply inside: for running a command in-process as if it were a fresh process."""
    saved = set(_secrets)
    _secrets.clear()
    try:
        yield
    finally:
        _secrets.clear()
        _secrets.update(saved)
