"""Secrets in the SQL: a literal password, key or token ends up in git, CI logs and the run
log.  Detection is in `orchestrator/lint/credentials.py`; every finding's excerpt masks
what it finds."""

from __future__ import annotations

from collections.abc import Iterator

from ..context import Context
from ..credentials import mask
from ..rule import ERROR, Hit, Rule, example
from ..statements import Step


def _secret_literal(step: Step, ctx: Context) -> Iterator[Hit]:
    secrets = step.statement.secrets
    if secrets:
        what = ", ".join(f"{s.what} ('{mask(s.value)}')" for s in secrets)
        yield Hit(f"{what} in the SQL", secrets[0].start)


RULES = (
    Rule(
        "secret-literal",
        ERROR,
        "A literal password, key or token in the SQL (CREATE/ALTER ROLE … PASSWORD '…', an AWS "
        "access key id, a 40-character secret key or a long token after a key-ish name) ends "
        "up in git, CI logs and the run log.",
        "remove it and rotate it; set it outside the migration (psql \\password, the secrets "
        "manager, or a deploy-time variable)",
        example("CREATE ROLE reporting LOGIN PASSWORD 'Report-2024-secret';", "DROP ROLE reporting;"),
        example(
            "-- the password is set by the secrets manager, never in SQL\nCREATE ROLE reporting LOGIN;",
            "DROP ROLE reporting;",
        ),
        check=_secret_literal,
        every_section=True,
    ),
)
