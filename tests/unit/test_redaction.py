"""The one redaction function everything printed, logged or stored passes through."""

from __future__ import annotations

import pytest

from orchestrator import redaction
from orchestrator.redaction import MASK, redact, register_secret

CASES = {
    "URL password": ("postgres://app:Secret-99@db.internal:5432/app failed",
                     f"postgres://app:{MASK}@db.internal:5432/app failed"),
    "password of every URL in a text": ("from a://u:one@h to b+c://v:two@k",
                                        f"from a://u:{MASK}@h to b+c://v:{MASK}@k"),
    "libpq password=, quoted": ("host=h password='a b c' user=x", f"host=h password={MASK} user=x"),
    "libpq PASSWORD=, bare": ("dbname=d PASSWORD=s3cr3t", f"dbname=d PASSWORD={MASK}"),
    "AWS access key id": ("key AKIAIOSFODNN7EXAMPLE in use", f"key {MASK} in use"),
    "URL without a password": ("postgres://nopass@h/db", "postgres://nopass@h/db"),
    "URL with an empty password": ("postgres://u:@h/db", "postgres://u:@h/db"),
    "an @ after a path is no user info": ("s3://bucket/key@x", "s3://bucket/key@x"),
    "nothing secret": ("Applying: 0001_init.sql", "Applying: 0001_init.sql"),
    "empty": ("", ""),
}


@pytest.fixture(autouse=True)
def _no_registered_secrets(monkeypatch):
    """Each test starts, as a new process does, with no secret registered."""
    monkeypatch.setattr(redaction, "_secrets", set())


@pytest.mark.parametrize(("text", "expected"), list(CASES.values()), ids=list(CASES))
def test_redact(text, expected):
    assert redact(text) == expected


def test_a_registered_secret_is_removed_wherever_it_appears():
    register_secret("Hunter2-x")
    register_secret("Hunter2-xyz")  # the longer one first: no "Hunter2-x" + "yz" left over
    assert redact("token Hunter2-xyz, then Hunter2-x; Hunter2-xyzHunter2-x") == (
        f"token {MASK}, then {MASK}; {MASK}{MASK}")


def test_values_too_short_to_be_secrets_are_not_registered():
    for value in ("abc", "", None):
        register_secret(value)
    assert redact("abc is a word") == "abc is a word"
