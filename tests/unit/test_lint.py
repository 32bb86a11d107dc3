"""Unit tests of orchestrator.lint: rules, examples, locations, ignore comments, severities.

Pure (no database).  Each rule's README examples (``Rule.bad``/``Rule.good``) and its
example files (``tests/lint_examples/<rule>/{bad,good}.sql``) are linted: the bad one
triggers exactly that rule, the good one nothing.  ``tests/test_lint_squawk.py`` compares
the same files with squawk.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator import lint
from support import REPO
from orchestrator.errors import ConfigError, MigrationFileError
from orchestrator.lint import Finding
from orchestrator.migrations import Migration, parse_migration

EXAMPLES = Path(__file__).resolve().parent / "lint_examples"
DOWN = "-- migrate:down\nSELECT 1;\n"


def mig(text: str, name: str = "0001_test.sql") -> Migration:
    up, down = parse_migration(text, name)
    return Migration("0001", name, Path(name), up, down, "")


def up(sql: str, *, opts: str = "", down: str = "SELECT 1;") -> Migration:
    """A migration with this up section (and a harmless down section)."""
    return mig(f"-- migrate:up {opts}\n{sql}\n-- migrate:down\n{down}\n")


def live(findings: list[Finding]) -> list[tuple[str, int]]:
    """(rule, line) of the unsuppressed findings."""
    return [(f.rule, f.line) for f in findings if not f.suppressed]


def live_findings(sql: str, **kw: str) -> list[Finding]:
    return [f for f in lint.lint([up(sql, **kw)]) if not f.suppressed]


def rules_of(sql: str, **kw: str) -> set[str]:
    return {f.rule for f in live_findings(sql, **kw)}


# -- every rule: examples, files, the reference -------------------------------------


@pytest.mark.parametrize("rule", list(lint.RULES))
def test_rule_examples_bad_triggers_exactly_the_rule_good_nothing(rule: str) -> None:
    r = lint.RULES[rule]
    assert r.severity in lint.SEVERITIES and r.title and r.fix
    bad = lint.lint([mig(r.bad)])
    assert {f.rule for f in bad if not f.suppressed} == {rule, *r.also}
    assert live(lint.lint([mig(r.good)])) == []


@pytest.mark.parametrize("rule", list(lint.RULES))
def test_rule_example_files(rule: str) -> None:
    bad, good = EXAMPLES / rule / "bad.sql", EXAMPLES / rule / "good.sql"
    found = lint.lint_paths([bad], EXAMPLES)
    assert {f.rule for f in found if not f.suppressed} == {rule, *lint.RULES[rule].also}
    assert all(f.file == bad for f in found)
    assert live(lint.lint_paths([good], EXAMPLES)) == []


def test_example_directories_are_the_rules() -> None:
    dirs = {p.name for p in EXAMPLES.iterdir() if p.is_dir()} - {"differences"}
    assert dirs == set(lint.RULES)


def test_the_reference_is_what_the_registry_generates() -> None:
    reference = (REPO / "docs" / "lint-rules.md").read_text()
    assert reference == lint.reference_markdown(), (
        "docs/lint-rules.md is stale: python -m orchestrator.lint > docs/lint-rules.md"
    )
    for rule in lint.RULES.values():
        assert f"### `{rule.id}`" in reference
        assert lint.shown_example(rule.bad) in reference and lint.shown_example(rule.good) in reference
        assert lint.shown_example(rule.bad).startswith("-- migrate:up")


def test_readme_has_the_rule_table_and_points_to_the_reference() -> None:
    readme = (REPO / "README.md").read_text()
    assert "## Lint rules" in readme
    assert lint.rules_table_markdown() in readme, (
        "README's rule table is stale: paste lint.rules_table_markdown()"
    )
    assert "[docs/lint-rules.md](docs/lint-rules.md)" in readme
    assert "#### `" not in readme  # the per-rule reference lives in docs/lint-rules.md only


def test_registry() -> None:
    from orchestrator.lint.registry import FAMILIES

    ids = [rule.id for family in FAMILIES for rule in family.RULES]
    assert len(ids) == len(set(ids)) == len(lint.RULES)
    assert lint.RUNTIME_FAILURES == {"syntax-error", "concurrently-in-transaction"}
    for rule in lint.RULES.values():
        assert rule.check or rule.section_check or rule.about_ignores, rule.id
        assert lint.can_ignore(rule.id) == (rule.id not in lint.RUNTIME_FAILURES and not rule.about_ignores)
    assert not lint.can_ignore("no-such-rule")


def test_shipped_migrations_are_clean() -> None:
    assert lint.lint_paths([], REPO / "db" / "migrations") == []


# -- syntax errors: file, line and column ---------------------------------------------


def test_syntax_error_line_and_column_in_up_and_down() -> None:
    text = (
        "-- header comment\n"
        "-- migrate:up\n"
        "CREATE TABLE notes (\n"
        "    id bigint PRIMARY KEY,\n"
        "    body tex t\n"
        ");\n"
        "-- migrate:down\n"
        "SELECT 'ünïcödé';\n"
        "DROP TABLE notes,;\n"
    )
    found = lint.lint([mig(text)])
    assert [(f.rule, f.section, f.line, f.column) for f in found] == [
        ("syntax-error", "up", 5, 14),
        ("syntax-error", "down", 9, 18),
    ]
    assert 'syntax error at or near "t"' in found[0].message
    assert found[0].format().startswith('0001_test.sql:5:14: error syntax-error: syntax error at or near "t"')


def test_syntax_error_at_end_of_input_points_after_the_last_token() -> None:
    found = lint.lint([up("CREATE TABLE notes (id int,\n  body text\n-- trailing comment\n")])
    assert [(f.rule, f.line, f.column) for f in found] == [("syntax-error", 3, 12)]
    assert "end of input" in found[0].message


def test_unterminated_string_has_a_location() -> None:
    found = lint.lint([up("SELECT 1;\nSELECT 'abc;\n")])
    assert [(f.rule, f.line, f.column) for f in found] == [("syntax-error", 3, 8)]


def test_parse_errors_only_reports_syntax() -> None:
    ok = up("DROP TABLE customers;")
    broken = up("DROP TABLE customers;", down="DROP TABLE x,;")
    assert lint.parse_errors([ok]) == []
    assert [(f.rule, f.section) for f in lint.parse_errors([ok, broken])] == [("syntax-error", "down")]


# -- tables created in the same migration ---------------------------------------------


def test_new_tables_are_exempt() -> None:
    sql = """
CREATE TABLE app.notes (id uuid PRIMARY KEY, customer_id uuid, body text, n int);
CREATE INDEX idx_notes_customer ON notes (customer_id);
ALTER TABLE app.notes ALTER COLUMN body SET NOT NULL, ALTER COLUMN n TYPE bigint;
ALTER TABLE notes ADD CONSTRAINT notes_fk FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE notes ADD CONSTRAINT notes_len CHECK (length(body) < 100), ADD UNIQUE (body);
ALTER TABLE notes ADD COLUMN ext uuid DEFAULT gen_random_uuid();
UPDATE notes SET body = '';
DELETE FROM notes;
ALTER TABLE notes RENAME COLUMN body TO note;
ALTER TABLE notes RENAME TO customer_notes;
CREATE INDEX idx_customer_notes_note ON customer_notes (note);
ALTER TABLE customer_notes DROP COLUMN n;
CREATE TABLE tmp AS SELECT 1 AS x;
VACUUM FULL tmp;
DROP TABLE tmp, customer_notes;
"""
    assert live(lint.lint([up(sql, opts="transaction:false")])) == []


def test_a_table_of_another_schema_is_not_new() -> None:
    assert rules_of("CREATE TABLE a.notes (id int);\nCREATE INDEX i ON b.notes (id);") == {
        "index-not-concurrent"
    }


def test_a_table_created_in_another_migration_is_not_new() -> None:
    first = up("CREATE TABLE notes (id int);")
    second = up("CREATE INDEX i ON notes (id);")
    assert [f.rule for f in lint.lint([first, second])] == ["index-not-concurrent"]


# -- transactions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE INDEX CONCURRENTLY i ON t (a);",
        "DROP INDEX CONCURRENTLY i;",
        "REINDEX TABLE CONCURRENTLY t;",
        "VACUUM t;",
        "ALTER TABLE p DETACH PARTITION c CONCURRENTLY;",
        "CREATE DATABASE other;",
        "ALTER SYSTEM SET work_mem = '64MB';",
    ],
)
def test_statements_that_cannot_run_in_a_transaction(sql: str) -> None:
    assert rules_of(sql) == {"concurrently-in-transaction"}
    assert rules_of(sql, opts="transaction:false") == set()
    # ... nor inside an explicit transaction block in a transaction:false section
    assert rules_of(f"BEGIN;\n{sql}\nCOMMIT;", opts="transaction:false") == {"concurrently-in-transaction"}


def test_concurrently_in_a_transactional_down_section() -> None:
    m = mig(
        "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (a);\n"
        "-- migrate:down\nDROP INDEX CONCURRENTLY i;\n"
    )
    assert [(f.rule, f.section, f.line) for f in lint.lint([m])] == [
        ("concurrently-in-transaction", "down", 4)
    ]


def test_validate_in_the_same_transaction() -> None:
    sql = (
        "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (id) NOT VALID;\n"
        "ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0) NOT VALID;\n"
        "ALTER TABLE t VALIDATE CONSTRAINT fk;\n"
        "ALTER TABLE t VALIDATE CONSTRAINT ck;\n"
        "ALTER TABLE t VALIDATE CONSTRAINT added_last_week;\n"
    )
    assert live(lint.lint([up(sql)])) == [("foreign-key-not-valid", 4), ("check-not-valid", 5)]
    assert live(lint.lint([up(sql, opts="transaction:false")])) == []
    block = f"BEGIN;\n{sql}COMMIT;"
    assert len(live(lint.lint([up(block, opts="transaction:false")]))) == 2


def test_validate_in_the_statement_that_added_it() -> None:
    sql = "ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0) NOT VALID, VALIDATE CONSTRAINT ck;"
    assert rules_of(sql) == {"check-not-valid"}


# What earlier statements of the section established: a validated CHECK (col IS NOT NULL)
# lets SET NOT NULL skip its scan (PostgreSQL 12+); a NOT VALID one does not.
NOT_NULL_CHECK = "ALTER TABLE t ADD CONSTRAINT t_a_nn CHECK (a IS NOT NULL)"
VALIDATE = "ALTER TABLE t VALIDATE CONSTRAINT t_a_nn;"
SET_A = "ALTER TABLE t ALTER COLUMN a SET NOT NULL;"


@pytest.mark.parametrize(
    "statements, scans",
    [
        ([f"{NOT_NULL_CHECK} NOT VALID;", VALIDATE, SET_A], False),
        ([f"{NOT_NULL_CHECK};", SET_A], False),  # added valid (check-not-valid reports its scan)
        ([f"{NOT_NULL_CHECK} NOT VALID;", SET_A], True),  # never validated
        ([f"{NOT_NULL_CHECK} NOT VALID;", SET_A, VALIDATE], True),  # validated too late
        ([f"{NOT_NULL_CHECK} NOT VALID;", VALIDATE, "ALTER TABLE t DROP CONSTRAINT t_a_nn;", SET_A], True),
        ([f"{NOT_NULL_CHECK} NOT VALID;", VALIDATE, "ALTER TABLE u ALTER COLUMN a SET NOT NULL;"], True),
        ([f"{NOT_NULL_CHECK} NOT VALID;", VALIDATE, "ALTER TABLE t ALTER COLUMN b SET NOT NULL;"], True),
        (
            [
                "ALTER TABLE t ADD CONSTRAINT ab CHECK (a IS NOT NULL AND b > 0) NOT VALID;",
                "ALTER TABLE t VALIDATE CONSTRAINT ab;",
                SET_A,
            ],
            False,
        ),
        (
            [
                "ALTER TABLE t ADD CONSTRAINT ab CHECK (a IS NOT NULL OR b > 0) NOT VALID;",
                "ALTER TABLE t VALIDATE CONSTRAINT ab;",
                SET_A,
            ],
            True,
        ),
        ([f"{NOT_NULL_CHECK} NOT VALID, VALIDATE CONSTRAINT t_a_nn, ALTER COLUMN a SET NOT NULL;"], False),
    ],
)
def test_set_not_null_after_a_validated_not_null_check(statements: list[str], scans: bool) -> None:
    found = lint.lint([up("\n".join(statements), opts="transaction:false")])
    assert ("set-not-null" in {f.rule for f in found}) == scans


def test_postgres18_not_null_constraints() -> None:
    assert rules_of("ALTER TABLE t ADD CONSTRAINT nn NOT NULL a;") == {"set-not-null"}
    assert rules_of("ALTER TABLE t ADD CONSTRAINT nn NOT NULL a NOT VALID;") == set()
    assert rules_of(
        "ALTER TABLE t ADD CONSTRAINT nn NOT NULL a NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT nn;"
    ) == {"set-not-null"}


# -- rule details ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "column, rewrites",
    [
        ("x uuid DEFAULT gen_random_uuid()", True),
        ("x float DEFAULT random()", True),
        ("x bigint DEFAULT nextval('s')", True),
        ("x text DEFAULT my_function()", True),
        ("x bigserial", True),
        ("x bigint GENERATED ALWAYS AS IDENTITY", True),
        ("x int GENERATED ALWAYS AS (a + 1) STORED", True),
        ("x int GENERATED ALWAYS AS (a + 1)", False),  # PostgreSQL 18: virtual
        ("x timestamptz DEFAULT now()", False),
        ("x timestamptz DEFAULT CURRENT_TIMESTAMP", False),
        ("x text NOT NULL DEFAULT 'web'", False),
        ("x jsonb DEFAULT '{}'::jsonb", False),
        ("x text DEFAULT lower('A') || now()::text", False),
        ("x text", False),
    ],
)
def test_volatile_default(column: str, rewrites: bool) -> None:
    assert rules_of(f"ALTER TABLE t ADD COLUMN {column};") == ({"volatile-default"} if rewrites else set())


def test_alter_table_with_several_commands_is_one_finding_per_rule() -> None:
    found = lint.lint([up("ALTER TABLE t DROP COLUMN a, DROP COLUMN b, ALTER COLUMN c TYPE text;")])
    assert sorted(f.rule for f in found) == ["column-type-change", "drop-column"]


@pytest.mark.parametrize(
    "sql, rule",
    [
        ("ALTER TABLE t ADD COLUMN c uuid REFERENCES u (id);", "foreign-key-not-valid"),
        ("ALTER TABLE t ADD COLUMN c text UNIQUE;", "unique-without-index"),
        ("ALTER TABLE t ADD PRIMARY KEY (id);", "unique-without-index"),
        ("ALTER TABLE t ADD CONSTRAINT ex EXCLUDE USING gist (r WITH &&);", "unique-without-index"),
        ("CREATE UNIQUE INDEX i ON s.t (lower(a));", "index-not-concurrent"),
        ("ALTER TABLE IF EXISTS t RENAME a TO b;", "rename-column"),
        ("ALTER TABLE s.t RENAME TO u;", "rename-table"),
        ("DROP TABLE IF EXISTS t CASCADE;", "drop-table"),
        ("VACUUM (FULL, ANALYZE) t;", "vacuum-full"),
        ("CLUSTER;", "cluster"),
        ("REINDEX SCHEMA public;", "reindex-not-concurrent"),
        ("LOCK t, u IN SHARE MODE;", "lock-table"),
        ("DELETE FROM t USING u;", "dml-without-where"),
        ("GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA public TO app;", "grant-all"),
        ("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO app;", "grant-all"),
    ],
)
def test_more_forms(sql: str, rule: str) -> None:
    assert rules_of(sql, opts="transaction:false") == {rule}


@pytest.mark.parametrize(
    "sql",
    [
        "VACUUM (FULL false) t;",
        "REINDEX INDEX CONCURRENTLY i;",
        "GRANT SELECT ON t TO app;",
        "GRANT app_role TO alice;",
        "REVOKE ALL ON t FROM app;",
        "UPDATE t SET a = 1 WHERE id = 2;",
        "DROP VIEW v;",
        "DROP INDEX CONCURRENTLY i;",
        "ALTER TABLE t ADD CONSTRAINT pk PRIMARY KEY USING INDEX i;",
        "ALTER TABLE t ALTER COLUMN a SET DEFAULT gen_random_uuid();",
        "DO $$ BEGIN UPDATE t SET a = 1 WHERE id = 1; END $$;",
        "DO $$ BEGIN EXECUTE 'UPDATE t SET a = 1'; END $$;",  # dynamic SQL is not read
        "COMMENT ON COLUMN users.password_hash IS 'bcrypt hash of the password';",
        "CREATE ROLE app LOGIN PASSWORD NULL;",
    ],
)
def test_harmless_forms(sql: str) -> None:
    assert rules_of(sql, opts="transaction:false") == set()


# -- DO blocks ------------------------------------------------------------------------

DO_BLOCK = """\
DO $body$
DECLARE n int;
BEGIN
  SELECT count(*) INTO n FROM customers;
  IF n > 0 THEN UPDATE customers SET stage = 'lead'; END IF;
  ALTER TABLE customers
    DROP COLUMN company;
END
$body$;"""


def test_sql_in_a_do_block_is_linted_where_it_stands() -> None:
    found = lint.lint([up(DO_BLOCK)])
    assert [(f.rule, f.line, f.column, f.statement) for f in found] == [
        ("dml-without-where", 6, 17, "UPDATE customers SET stage = 'lead'"),
        ("drop-column", 7, 3, "ALTER TABLE customers DROP COLUMN company"),
    ]


@pytest.mark.parametrize(
    "sql, expected",
    [
        # plpgsql cuts the INTO target out of the text: the line's first character
        (
            "DO $$\nDECLARE n int;\nBEGIN\n  SELECT id INTO n FROM keys WHERE k = 'AKIAIOSFODNN7EXAMPLE';\nEND $$;",
            [("secret-literal", 5, 3)],
        ),
        (
            "DO $$ BEGIN DELETE FROM t; DELETE FROM t; END $$;",
            [("dml-without-where", 2, 13), ("dml-without-where", 2, 28)],
        ),
        ("DO 'BEGIN UPDATE t SET a = ''x''; END';", [("dml-without-where", 2, 1)]),  # quoted: its line
        ("DO $$ BEGIN UPDATE t SET a = ; END $$;", []),  # the body does not parse: nothing guessed
        ("DO $$ BEGIN UPDATE t SET a = b INTO nowhere; END $$;", []),  # nor with an unknown variable
        ("DO LANGUAGE plpython3u $$ plpy.execute('UPDATE t SET a = 1') $$;", []),
    ],
)
def test_do_blocks_that_are_read_and_those_that_are_not(sql: str, expected: list) -> None:
    assert [(f.rule, f.line, f.column) for f in live_findings(sql)] == expected


def test_a_do_block_is_one_function_call() -> None:
    # CONCURRENTLY cannot run in a function, whatever the section's transaction mode
    (f,) = live_findings(
        "DO $$ BEGIN CREATE INDEX CONCURRENTLY i ON t (a); END $$;", opts="transaction:false"
    )
    assert f.rule == "concurrently-in-transaction" and "inside a DO block" in f.message
    # ... and a VALIDATE in the block that added the constraint holds its lock
    sql = (
        "DO $$ BEGIN\n  ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0) NOT VALID;\n"
        "  ALTER TABLE t VALIDATE CONSTRAINT ck;\nEND $$;"
    )
    assert live(lint.lint([up(sql, opts="transaction:false")])) == [("check-not-valid", 4)]


def test_do_blocks_share_the_context_of_the_section() -> None:
    sql = (
        "CREATE TABLE a (id int);\n"
        "DO $$ BEGIN CREATE INDEX ia ON a (id); CREATE TABLE b (id int); END $$;\n"
        "CREATE INDEX ib ON b (id);\n"
        "DO $$ BEGIN CREATE INDEX ic ON c (id); END $$;"
    )
    assert live(lint.lint([up(sql)])) == [("index-not-concurrent", 5)]


def test_ignore_comments_in_and_above_a_do_block() -> None:
    sql = (
        "-- orchestrator:ignore dml-without-where every row is meant\n"
        "DO $$\nBEGIN\n"
        "  -- orchestrator:ignore drop-column the app stopped reading it\n"
        "  ALTER TABLE t DROP COLUMN a;\n"
        "  UPDATE t SET b = 1;\n"
        "  -- orchestrator:ignore drop-table nothing to drop here\n"
        "  SELECT 1;\n"
        "END $$;"
    )
    found = lint.lint([up(sql)])
    assert [(f.rule, f.line, f.suppressed) for f in found] == [
        ("drop-column", 6, True),
        ("dml-without-where", 7, True),
        ("unused-ignore", 8, False),
    ]


def test_secrets_in_a_do_block() -> None:
    m = up("DO $$ BEGIN ALTER ROLE app PASSWORD 'Hunter2-Hunter2'; END $$;")
    (f,) = lint.lint([m])
    assert f.rule == "secret-literal" and (f.line, f.column) == (2, 37)
    assert "Hunter2" not in f.format() + f.statement
    assert lint.secret_literals(m) == ["Hunter2-Hunter2"]


# -- secrets --------------------------------------------------------------------------

SECRETS = {
    "CREATE ROLE r LOGIN PASSWORD 'Hunter2-Hunter2';": "Hunter2-Hunter2",
    "CREATE USER r WITH ENCRYPTED PASSWORD 'md5a1b2c3';": "md5a1b2c3",
    "ALTER ROLE r PASSWORD 'abcd1234';": "abcd1234",
    "CREATE USER MAPPING FOR app SERVER s OPTIONS (user 'app', password 'pg-pass-77');": "pg-pass-77",
    "INSERT INTO settings VALUES ('aws', 'AKIAIOSFODNN7EXAMPLE');": "AKIAIOSFODNN7EXAMPLE",
    "INSERT INTO settings (k, v) VALUES ('aws_secret_access_key', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "INSERT INTO integrations (name, api_key) VALUES ('mailer', 'mk_9f8e7d6c5b4a3F2E1D0C9B8A');": "mk_9f8e7d6c5b4a3F2E1D0C9B8A",
    "UPDATE integrations SET auth_token = 'Zx9Yw8Vu7Ts6Rq5Po4' WHERE id = 1;": "Zx9Yw8Vu7Ts6Rq5Po4",
    "SET app.api_token = 'Zx9Yw8Vu7Ts6Rq5Po4Nm3';": "Zx9Yw8Vu7Ts6Rq5Po4Nm3",
    "SELECT jsonb_build_object('token', 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6');": "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6",
}


@pytest.mark.parametrize("sql", list(SECRETS))
def test_secret_literals_are_found_and_never_echoed(sql: str) -> None:
    m = up(sql)
    found = [f for f in lint.lint([m]) if f.rule == "secret-literal"]
    assert len(found) == 1
    secret = SECRETS[sql]
    f = found[0]
    everything = f.format() + json.dumps(f.to_dict()) + lint.format_findings([f])
    assert secret not in everything
    assert secret[4:] not in everything  # not even the tail of an AWS key id
    assert "'" in f.statement  # the excerpt keeps the literal's place, masked
    assert secret in lint.secret_literals(m)


def test_secret_finding_points_at_the_literal() -> None:
    m = up("INSERT INTO settings (k, v)\nVALUES ('id', 'AKIAIOSFODNN7EXAMPLE');")
    (f,) = lint.lint([m])
    assert (f.line, f.column) == (3, 15)
    assert "AKIA****************" in f.message


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO settings (k, v) VALUES ('token_ttl', '3600');",
        "INSERT INTO integrations (name, api_key) VALUES ('mailer', '${MAILER_API_KEY}');",
        "UPDATE users SET password_hash = NULL WHERE id = 1;",
        "ALTER TABLE t ADD CONSTRAINT c CHECK (token_type IN ('access_token_v2_long_name')) NOT VALID;",
        "-- PASSWORD 'not-sql' only in a comment\nSELECT 1;",
    ],
)
def test_not_secrets(sql: str) -> None:
    assert rules_of(sql) == set()


def test_secrets_in_the_down_section_are_found_too() -> None:
    m = up("SELECT 1;", down="ALTER ROLE app PASSWORD 'old-pass-1';")
    assert [(f.rule, f.section) for f in lint.lint([m])] == [("secret-literal", "down")]


# -- ignore comments ------------------------------------------------------------------


def test_ignore_above_the_statement_keeps_the_reason() -> None:
    m = up(
        "-- the column moved\n-- orchestrator:ignore drop-column moved to profiles in v2.3\n"
        "-- more notes\nALTER TABLE users DROP COLUMN bio;"
    )
    (f,) = lint.lint([m])
    assert (f.rule, f.suppressed, f.reason, f.line) == ("drop-column", True, "moved to profiles in v2.3", 5)
    assert f.to_dict()["reason"] == "moved to profiles in v2.3" and f.to_dict()["suppressed"] is True
    assert (
        f.format().endswith("(reason: moved to profiles in v2.3)") and ": ignored drop-column:" in f.format()
    )
    assert f.annotation_level == "notice"
    assert lint.blocking([f]) == []


def test_ignore_at_the_end_of_the_first_line() -> None:
    m = up("ALTER TABLE users  -- orchestrator:ignore drop-column moved to profiles\n  DROP COLUMN bio;")
    assert [(f.rule, f.suppressed) for f in lint.lint([m])] == [("drop-column", True)]


def test_ignore_separated_by_a_blank_line_does_not_apply() -> None:
    m = up("-- orchestrator:ignore drop-column moved to profiles\n\nALTER TABLE users DROP COLUMN bio;")
    assert live(lint.lint([m])) == [("unused-ignore", 2), ("drop-column", 4)]


def test_ignore_on_a_later_line_of_the_statement_does_not_apply() -> None:
    m = up("ALTER TABLE users\n  DROP COLUMN bio;  -- orchestrator:ignore drop-column moved to profiles")
    assert live(lint.lint([m])) == [("drop-column", 2), ("unused-ignore", 3)]


def test_ignore_suppresses_only_its_rule() -> None:
    m = up(
        "-- orchestrator:ignore drop-column moved\nALTER TABLE users DROP COLUMN bio, ALTER COLUMN a TYPE text;"
    )
    assert {(f.rule, f.suppressed) for f in lint.lint([m])} == {
        ("drop-column", True),
        ("column-type-change", False),
    }


def test_two_ignores_for_one_statement() -> None:
    m = up(
        "-- orchestrator:ignore drop-column moved\n-- orchestrator:ignore column-type-change small table\n"
        "ALTER TABLE users DROP COLUMN bio, ALTER COLUMN a TYPE text;"
    )
    assert live(lint.lint([m])) == []


@pytest.mark.parametrize(
    "comment, error",
    [
        ("-- orchestrator:ignore drop-column", "gives no reason"),
        ("-- orchestrator:ignore   drop-column   ", "gives no reason"),
        ("-- orchestrator:ignore", "names no rule"),
        ("-- orchestrator:ignore drop-columns moved", "did you mean 'drop-column'"),
        ("-- orchestrator:ignore no-such-thing moved", "known: syntax-error"),
        ("-- orchestrator:ignore bad-ignore because", "cannot be ignored"),
    ],
)
def test_bad_ignore_suppresses_nothing(comment: str, error: str) -> None:
    m = up(f"{comment}\nALTER TABLE users DROP COLUMN bio;")
    found = lint.lint([m])
    assert live(found) == [("bad-ignore", 2), ("drop-column", 3)]
    assert error in found[0].message


@pytest.mark.parametrize(
    "sql",
    [
        "-- orchestrator:ignore concurrently-in-transaction it is quick\nCREATE INDEX CONCURRENTLY i ON t (a);",
        "-- orchestrator:ignore syntax-error a draft\nCREATE TABLE t (id int,;",
    ],
)
def test_a_rule_sure_to_fail_cannot_be_ignored(sql: str) -> None:
    found = lint.lint([up(sql)])
    sure = [f for f in found if f.rule in lint.RUNTIME_FAILURES]
    assert [f.suppressed for f in sure] == [False] and not sure[0].ignorable
    (bad,) = [f for f in found if f.rule == "bad-ignore"]
    assert (bad.line, bad.suppressed) == (2, False)
    assert f"{sure[0].rule} cannot be ignored: it is sure to fail at run time" in bad.message
    assert lint.blocking(found) == found


def test_ignorable_findings() -> None:
    (drop,) = lint.lint([up("ALTER TABLE t DROP COLUMN a;")])
    assert drop.ignorable and lint.can_ignore("drop-column")
    (bad,) = live_findings("-- orchestrator:ignore drop-column\nSELECT 1;")
    assert bad.rule == "bad-ignore" and not bad.ignorable


def test_empty_down_is_ignored_by_a_comment_in_the_down_section() -> None:
    m = mig(
        "-- migrate:up\nSELECT 1;\n-- migrate:down\n-- orchestrator:ignore empty-down data fix, nothing to undo\n"
    )
    (f,) = lint.lint([m])
    assert (f.rule, f.section, f.suppressed, f.line) == ("empty-down", "down", True, 3)


def test_only_begin_commit_is_an_empty_down() -> None:
    m = mig("-- migrate:up\nSELECT 1;\n-- migrate:down\nBEGIN;\nCOMMIT;\n")
    assert live(lint.lint([m])) == [("empty-down", 3)]


def test_ignore_in_a_down_section_for_a_rule_not_checked_there_is_not_unused() -> None:
    m = up("SELECT 1;", down="-- orchestrator:ignore drop-table the inverse of 0001\nDROP TABLE t;")
    assert lint.lint([m]) == []
    # ... but when rolling back, the down section's drop is checked, and ignored
    assert [(f.rule, f.suppressed) for f in lint.lint([m], direction="down")] == [("drop-table", True)]


# -- directions -----------------------------------------------------------------------


def test_up_checks_down_sections_only_for_what_stops_a_rollback() -> None:
    m = up("CREATE TABLE t (id int);", down="DROP TABLE t;\nUPDATE x SET a = 1;")
    assert lint.lint([m]) == []
    assert [f.rule for f in lint.lint([m], direction="down")] == ["drop-table", "dml-without-where"]


def test_down_ignores_the_up_section() -> None:
    m = up("DROP TABLE t;", down="CREATE TABLE t (id int);")
    assert lint.lint([m], direction="down") == []


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        lint.lint([], direction="sideways")
    with pytest.raises(ValueError):
        lint.lint([up("SELECT 1;")], only={"no-such-rule"})


# -- severities and config ------------------------------------------------------------


def findings() -> list[Finding]:
    m = up(
        "DROP TABLE t;\nGRANT ALL ON t TO app;\n-- orchestrator:ignore drop-column moved\n"
        "ALTER TABLE t DROP COLUMN a;"
    )
    return lint.lint([m])


def test_effective_and_blocking() -> None:
    fs = findings()
    assert [(f.rule, f.severity, f.suppressed) for f in fs] == [
        ("drop-table", "error", False),
        ("grant-all", "warning", False),
        ("drop-column", "error", True),
    ]
    assert [f.rule for f in lint.blocking(fs)] == ["drop-table"]
    dev = lint.effective(fs, {"*": "warning"})
    assert {f.severity for f in dev} == {"warning"} and lint.blocking(dev) == []
    strict = lint.effective(fs, {"grant-all": "error", "drop-table": "off"})
    assert [(f.rule, f.severity) for f in strict] == [("grant-all", "error"), ("drop-column", "error")]
    assert [f.rule for f in lint.blocking(strict)] == ["grant-all"]
    mixed = lint.effective(fs, {"*": "off", "drop-table": "warning"})
    assert [(f.rule, f.severity) for f in mixed] == [("drop-table", "warning")]
    assert lint.effective(fs, {}) == fs


def test_validate_overrides() -> None:
    src = "db/orchestrator.yml: environments.production.lint"
    assert lint.validate_overrides(None, src) == {}
    assert lint.validate_overrides({"drop-table": "Warning", "grant-all": False, "*": "error"}, src) == {
        "drop-table": "warning",
        "grant-all": "off",
        "*": "error",
    }
    with pytest.raises(
        ConfigError,
        match=r"environments\.production\.lint: unknown lint rule 'drop-tables'; "
        r"did you mean 'drop-table'\?",
    ):
        lint.validate_overrides({"drop-tables": "off"}, src)
    with pytest.raises(ConfigError, match=r"unknown lint rule 'zzz' \(known: syntax-error, "):
        lint.validate_overrides({"zzz": "off"}, src)
    with pytest.raises(ConfigError, match=r"drop-table: expected error, warning or off, got True"):
        lint.validate_overrides({"drop-table": True}, src)
    with pytest.raises(ConfigError, match="expected a mapping"):
        lint.validate_overrides(["drop-table"], src)


def test_formatting_and_run_log_form() -> None:
    fs = findings()
    text = lint.format_findings(fs)
    assert text.splitlines()[0] == (
        "0001_test.sql:2:1: error drop-table: drops table t; stop using the table first, check the backup, "
        "then drop it with `-- orchestrator:ignore drop-table <reason>`"
    )
    assert len(text.splitlines()) == 3
    assert len(lint.format_findings(fs, show_suppressed=False).splitlines()) == 2
    assert lint.summarize(fs) == "1 error, 1 warning, 1 ignored"
    assert lint.summarize([]) == "no findings"
    d = fs[0].to_dict()
    assert set(d) == {
        "rule",
        "severity",
        "file",
        "line",
        "column",
        "section",
        "message",
        "statement",
        "suppressed",
        "reason",
    }
    assert d["file"] == "0001_test.sql" and d["statement"] == "DROP TABLE t"
    json.dumps([f.to_dict() for f in fs])


def test_every_message_is_one_line() -> None:
    for path in sorted(EXAMPLES.glob("*/*.sql")):
        for f in lint.lint_paths([path], EXAMPLES):
            assert "\n" not in f.message and "\n" not in f.statement and len(f.statement) <= 120


# -- files ----------------------------------------------------------------------------


def test_lint_paths(tmp_path: Path) -> None:
    d = tmp_path / "migrations"
    d.mkdir()
    (d / "0001_a.sql").write_text("-- migrate:up\nCREATE TABLE t (id int);\n-- migrate:down\nDROP TABLE t;\n")
    (d / "0002_b.sql").write_text(
        "-- migrate:up\nCREATE INDEX i ON t (id);\n-- migrate:down\nDROP INDEX i;\n"
    )
    (d / "notes.txt").write_text("not a migration")
    draft = tmp_path / "draft.sql"
    draft.write_text("-- migrate:up\nDROP TABLE t;\n-- migrate:down\n")
    assert [(f.file.name, f.rule) for f in lint.lint_paths([], d)] == [("0002_b.sql", "index-not-concurrent")]
    assert [(f.file.name, f.rule) for f in lint.lint_paths([d / "0001_a.sql"], d)] == []
    assert [(f.file.name, f.rule) for f in lint.lint_paths([draft, d], d)] == [
        ("draft.sql", "drop-table"),
        ("draft.sql", "empty-down"),
        ("0002_b.sql", "index-not-concurrent"),
    ]
    (tmp_path / "bad.sql").write_text("CREATE TABLE t (id int);\n")
    with pytest.raises(MigrationFileError, match="no '-- migrate:up' marker"):
        lint.lint_paths([tmp_path / "bad.sql"], d)
    with pytest.raises(MigrationFileError, match="cannot read"):
        lint.lint_paths([tmp_path / "missing.sql"], d)
