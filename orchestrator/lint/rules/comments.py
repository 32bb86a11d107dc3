"""Rules about ignore comments themselves, which an ignore comment cannot silence. Their
findings come from the ignore-comment pass (`orchestrator/lint/ignores.py`), which reads
every `-- orchestrator:ignore` comment of a section after the other rules have run."""

from __future__ import annotations

from ..rule import ERROR, WARNING, Rule, example

RULES = (
    Rule(
        "bad-ignore",
        ERROR,
        "An `-- orchestrator:ignore` comment without a reason, with an unknown rule id, or "
        "for a rule that is sure to fail at run time: it suppresses nothing.",
        "write `-- orchestrator:ignore <rule-id> <reason>` with a known rule id and a reason",
        example(
            "-- orchestrator:ignore drop-column\nALTER TABLE customers DROP COLUMN company;",
            "ALTER TABLE customers ADD COLUMN company varchar(255);",
        ),
        example(
            "-- orchestrator:ignore drop-column the app stopped using company in v2.3 (#456)\n"
            "ALTER TABLE customers DROP COLUMN company;",
            "ALTER TABLE customers ADD COLUMN company varchar(255);",
        ),
        about_ignores=True,
        also=("drop-column",),
    ),
    Rule(
        "unused-ignore",
        WARNING,
        "An `-- orchestrator:ignore` comment that suppresses nothing (the statement is fine, or "
        "the comment is not directly above the statement or at the end of its first line).",
        "remove the comment, or move it directly above the statement it is meant for",
        example(
            "-- orchestrator:ignore drop-table the table has been empty since 2024\n"
            "ALTER TABLE customers ADD COLUMN notes text;",
            "ALTER TABLE customers DROP COLUMN notes;",
        ),
        example("ALTER TABLE customers ADD COLUMN notes text;", "ALTER TABLE customers DROP COLUMN notes;"),
        about_ignores=True,
    ),
)
