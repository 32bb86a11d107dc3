"""Linting a big section statement by statement finds what linting each statement alone
finds, on the same lines: the walker parses one statement at a time and keeps no tree
(``orchestrator.lint.statements``), the context carries over, the ignore comments attach."""

from __future__ import annotations

from pathlib import Path

import pglast

from orchestrator import lint, migrations
from orchestrator.lint.statements import comments, parse
from orchestrator.migrations import Section

FILLER = "INSERT INTO seed VALUES ({i}, 'row {i}', now());"
# (statement, its findings' rules) placed among the filler rows
PLANTED = [
    ("CREATE INDEX seed_name ON accounts (name);", ["index-not-concurrent"]),
    ("DROP TABLE old_accounts;", ["drop-table"]),
    ("DO $$\nBEGIN\n  UPDATE accounts SET active = true;\nEND\n$$;", ["dml-without-where"]),
    (("-- orchestrator:ignore drop-column the app stopped reading it in v42\n"
      "ALTER TABLE accounts DROP COLUMN legacy;"), ["drop-column"]),
    ("ALTER ROLE app PASSWORD 'Sup3r-Secret-Value';", ["secret-literal"]),
    ("ALTER TABLE accounts ADD CONSTRAINT accounts_owner FOREIGN KEY (owner) REFERENCES users (id);",
     ["foreign-key-not-valid"]),
]


def _file(tmp_path: Path, name: str, statements: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("-- migrate:up\n" + "\n".join(statements) + "\n\n-- migrate:down\nSELECT 1;\n", encoding="utf-8")
    return path


def _findings(path: Path) -> list[tuple[str, int, int, str, bool]]:
    return [(f.rule, f.line, f.column, f.statement, f.suppressed) for f in lint.lint_paths([path], path.parent)]


def test_findings_among_many_statements_are_those_of_each_statement_alone(tmp_path):
    statements, expected, line = [], [], 2  # the up marker is line 1
    for n, (planted, _) in enumerate(PLANTED):
        filler = [FILLER.format(i=n * 1000 + i) for i in range(500 * (n + 1))]
        statements += filler
        line += len(filler)
        alone = _findings(_file(tmp_path, f"alone{n}.sql", [planted]))
        expected += [(rule, at + line - 2, column, text, suppressed) for rule, at, column, text, suppressed in alone]
        statements.append(planted)
        line += planted.count("\n") + 1
    got = _findings(_file(tmp_path, "big.sql", statements))
    assert got == expected
    assert [rule for rule, *_ in got if rule != "unused-ignore"] == [r for _, rules in PLANTED for r in rules]


def test_comments_scanned_by_statement_are_those_of_the_whole_section():
    sql = ("-- migrate:up\n-- one\nSELECT 1; -- two\nSELECT '--not a comment' /* block */ -- three\n;\n"
           "SELECT $$ -- in a body $$;\n-- four\n")
    whole = Section(sql, 1).sql
    assert comments(whole) == lint.source.source(whole).comments()
    assert [text for _, text in comments(whole)] == ["-- migrate:up", "-- one", "-- two", "-- three", "-- four"]
    assert len(list(parse(whole))) == 3


def test_a_big_section_is_split_by_chunks_as_the_parser_splits_it_whole(monkeypatch):
    atomic = "CREATE FUNCTION f{i}() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT {i}; END;\n"
    sql = "".join(atomic.format(i=i) + f"INSERT INTO t VALUES ({i}, 'a;b');\n" for i in range(400))
    whole = migrations.split_statements(sql)
    migrations.split_statements.cache_clear()
    monkeypatch.setattr(migrations, "_CHUNK", 500)  # cuts fall inside BEGIN ATOMIC bodies too
    assert migrations.split_statements(sql) == whole and len(whole) == 800
    assert [s.offset for s in whole] == [p.start for p in pglast.split(sql, with_parser=True, only_slices=True)]
    broken = sql + "SELEC 1;\n" + sql
    assert [(s.whole, s.offset) for s in migrations.split_statements(broken)] == [(True, 0)]
    migrations.split_statements.cache_clear()
