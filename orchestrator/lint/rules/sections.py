"""Rules about a section as a whole: it parses, and a down section undoes something."""

from __future__ import annotations

from collections.abc import Iterator

from ..context import Context
from ..rule import ERROR, Hit, Rule, example


def _syntax_error(ctx: Context) -> Iterator[Hit]:
    if ctx.parse_error is not None:
        message, offset = ctx.parse_error
        yield Hit(message, offset)


def _empty_down(ctx: Context) -> Iterator[Hit]:
    if ctx.section == "down" and ctx.parse_error is None and not ctx.statements:
        yield Hit("the down section is empty")


RULES = (
    Rule(
        "syntax-error",
        ERROR,
        "A statement of an up section, or of a down section a rollback would run, does not parse.",
        "correct the SQL; nothing is applied while a migration or a down section does not parse",
        example("CREATE TABLE notes (id bigint PRIMARY KEY, body text;", "DROP TABLE notes;"),
        example("CREATE TABLE notes (id bigint PRIMARY KEY, body text);", "DROP TABLE notes;"),
        section_check=_syntax_error,
        sure_to_fail=True,
        squawk=("syntax-error",),
        squawk_note="squawk has its own parser; orchestrator's is PostgreSQL's, so its messages "
        "are the server's",
    ),
    Rule(
        "empty-down",
        ERROR,
        "The down section is empty: the migration cannot be rolled back (dbmate would delete "
        "the version row and leave the schema; automatic rollback stops and asks for a restore).",
        "write the inverse SQL under `-- migrate:down`, or say why it cannot exist with "
        "`-- orchestrator:ignore empty-down <reason>` in the down section",
        example("ALTER TABLE customers ADD COLUMN notes text;", ""),
        example("ALTER TABLE customers ADD COLUMN notes text;", "ALTER TABLE customers DROP COLUMN notes;"),
        section_check=_empty_down,
        every_section=True,
    ),
)
