"""Unit tests of orchestrator.migrations: parsing dbmate files from inline text (no database).

Where a rule mirrors dbmate, ``tests/test_compat_dbmate.py`` checks it against the real
binary; here every case of the parser is pinned down, with the line each error names.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from orchestrator.errors import MigrationFileError, UsageError
from orchestrator.migrations import (
    Section,
    discover,
    executable_statements,
    migration_files,
    parse_migration,
    read_migration,
    split_statements,
)

UP = "CREATE TABLE a (id int);\n"
DOWN = "DROP TABLE a;\n"


def texts(sql: str) -> list[str]:
    return [s.text for s in split_statements(sql)]


def section(sql: str, *, transaction: bool = True, line: int = 1) -> Section:
    return Section(sql=sql, line=line, transaction=transaction)


# -- markers ------------------------------------------------------------------------

# text -> (up line, down line, up transaction, down transaction, up options)
MARKERS = {
    "plain": (f"-- migrate:up\n{UP}-- migrate:down\n{DOWN}", 1, 3, True, True, {}),
    "no space": (f"--migrate:up\n{UP}--migrate:down\n{DOWN}", 1, 3, True, True, {}),
    "many spaces": (f"--    migrate:up\n{UP}--   migrate:down\n{DOWN}", 1, 3, True, True, {}),
    "trailing spaces": (f"-- migrate:up   \n{UP}-- migrate:down \t\n{DOWN}", 1, 3, True, True, {}),
    "at end of file": (f"-- migrate:up\n{UP}-- migrate:down", 1, 3, True, True, {}),
    "up transaction:false": (
        f"-- migrate:up transaction:false\n{UP}-- migrate:down\n{DOWN}",
        1, 3, False, True, {"transaction": "false"},
    ),
    "tab before option": (
        f"-- migrate:up\ttransaction:false\n{UP}-- migrate:down\n{DOWN}",
        1, 3, False, True, {"transaction": "false"},
    ),
    "option then spaces": (
        f"-- migrate:up transaction:false   \n{UP}-- migrate:down\n{DOWN}",
        1, 3, False, True, {"transaction": "false"},
    ),
    "transaction:true": (
        f"-- migrate:up transaction:true\n{UP}-- migrate:down\n{DOWN}",
        1, 3, True, True, {"transaction": "true"},
    ),
    "down transaction:false": (
        f"-- migrate:up\n{UP}\n-- migrate:down transaction:false\n{DOWN}", 1, 4, True, False, {},
    ),
    # Windows line endings, and the down section left empty: the last marker ends in \r\n
    "CRLF, empty down at the end": ("-- migrate:up\r\nCREATE TABLE a (id int);\r\n-- migrate:down\r\n", 1, 3, True, True, {}),
    "CRLF, blank lines after down": (
        "-- migrate:up\r\nCREATE TABLE a (id int);\r\n-- migrate:down  \r\n\r\n", 1, 3, True, True, {},
    ),
    "CRLF line endings": (
        "-- migrate:up\r\nCREATE TABLE a (id int);\r\n-- migrate:down\r\nDROP TABLE a;\r\n",
        1, 3, True, True, {},
    ),
    "comments and blanks before up": (
        f"-- a header comment\n\n   -- an indented comment\n\t\n-- migrate:up\n{UP}\n-- migrate:down\n{DOWN}",
        5, 8, True, True, {},
    ),
    "marker text inside a line is not a marker": (
        f"-- migrate:up\nSELECT 1; -- migrate:down\n{UP}-- migrate:down\n{DOWN}", 1, 4, True, True, {},
    ),
}


@pytest.mark.parametrize(
    ("text", "up_line", "down_line", "up_tx", "down_tx", "up_options"),
    list(MARKERS.values()),
    ids=list(MARKERS),
)
def test_marker_variants(text, up_line, down_line, up_tx, down_tx, up_options):
    up, down = parse_migration(text, "m.sql")
    assert (up.line, down.line) == (up_line, down_line)
    assert (up.transaction, down.transaction) == (up_tx, down_tx)
    assert up.options == up_options
    # dbmate's blocks: up runs from its marker to the down marker, down to the end
    assert up.sql.lstrip().startswith("--") and "migrate:up" in up.sql.split("\n")[0]
    assert "migrate:down" in down.sql.split("\n")[0]
    assert text.endswith(up.sql + down.sql)
    expected = ["SELECT 1", "CREATE TABLE a (id int)"] if "SELECT 1;" in text else ["CREATE TABLE a (id int)"]
    assert texts(up.sql) == expected
    assert texts(down.sql) == (["DROP TABLE a"] if "DROP TABLE" in text else [])


# text -> (line the error names, or None for the file alone; words in the message)
MALFORMED = {
    "empty file": ("", 1, "no '-- migrate:up' marker"),
    "only comments": ("-- nothing here\n\n", 1, "no '-- migrate:up' marker"),
    "no up marker": (f"{UP}-- migrate:down\n{DOWN}", 1, "no '-- migrate:up' marker"),
    "misspelled up marker": (f"-- migrate:upp\n{UP}-- migrate:down\n", 1, "no '-- migrate:up' marker"),
    "indented up marker": (f"  -- migrate:up\n{UP}-- migrate:down\n", 1, "no '-- migrate:up' marker"),
    # dbmate's \s is ASCII: a no-break space does not separate the marker from anything
    "no-break space after up": (f"-- migrate:up\u00a0\n{UP}-- migrate:down\n", 1, "no '-- migrate:up' marker"),
    "statement on line 1": (f"SELECT 1;\n-- migrate:up\n{UP}-- migrate:down\n", 1, "statements before"),
    "statement after comments": (
        f"-- header\n\nSELECT 1;\n-- migrate:up\n{UP}-- migrate:down\n", 3, "statements before",
    ),
    "block comment before up": (f"/* header */\n-- migrate:up\n{UP}-- migrate:down\n", 1, "statements before"),
    "missing down": (f"-- migrate:up\n{UP}", None, "no '-- migrate:down' marker"),
    "indented down marker": (f"-- migrate:up\n{UP}  -- migrate:down\n{DOWN}", None, "no '-- migrate:down'"),
    "down marker alone before up": (
        f"-- migrate:down\n-- migrate:up\n{UP}", 1, "'-- migrate:down' comes before '-- migrate:up'",
    ),
    "down before up with a statement between": (
        f"-- migrate:down\n{DOWN}-- migrate:up\n{UP}", 2, "statements before",
    ),
    "second up": (f"-- migrate:up\n{UP}-- migrate:up\n{UP}-- migrate:down\n", 3, "a second '-- migrate:up'"),
    "second up/down pair": (
        f"-- migrate:up\n{UP}-- migrate:down\n{DOWN}\n-- migrate:up\n{UP}-- migrate:down\n{DOWN}",
        6, "a second '-- migrate:up'",
    ),
    "second down": (
        f"-- migrate:up\n{UP}-- migrate:down\n{DOWN}-- migrate:down\n{DOWN}", 5, "a second '-- migrate:down'",
    ),
    "unknown option on up": (
        f"-- header\n-- migrate:up foo:bar\n{UP}-- migrate:down\n", 2, "unknown migration option 'foo:bar'",
    ),
    "transaction:maybe": (
        f"-- migrate:up transaction:maybe\n{UP}-- migrate:down\n", 1, "unknown migration option 'transaction:maybe'",
    ),
    "option without a value": (
        f"-- migrate:up transaction\n{UP}-- migrate:down\n", 1, "unknown migration option 'transaction'",
    ),
    "one bad option among good ones": (
        f"-- migrate:up transaction:false foo:bar\n{UP}-- migrate:down\n", 1, "'foo:bar'",
    ),
    "unknown option on down": (
        f"-- migrate:up\n{UP}\n\n-- migrate:down transaction:off\n{DOWN}", 5, "'transaction:off'",
    ),
}


@pytest.mark.parametrize(("text", "line", "words"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_files_are_rejected_with_their_line(text, line, words):
    with pytest.raises(MigrationFileError) as info:
        parse_migration(text, "db/migrations/0001_x.sql")
    err = info.value
    assert isinstance(err, UsageError)  # exit code 2: bad input, nothing done
    assert err.line == line
    assert words in err.detail
    where = "db/migrations/0001_x.sql" + (f":{line}" if line else "")
    assert str(err).startswith(f"{where}: ")
    assert "\n" not in str(err)


# -- sections -------------------------------------------------------------------------

EMPTY_SECTIONS = {
    "both empty": "-- migrate:up\n-- migrate:down\n",
    "blank lines": "-- migrate:up\n\n\n-- migrate:down\n\n",
    "comments only": "-- migrate:up\n-- nothing yet\n/* later */\n-- migrate:down\n-- nothing\n",
    "semicolons only": "-- migrate:up\n;\n ; ;\n-- migrate:down\n",
}


@pytest.mark.parametrize("text", list(EMPTY_SECTIONS.values()), ids=list(EMPTY_SECTIONS))
def test_empty_sections(text):
    up, down = parse_migration(text, "m.sql")
    assert up.is_empty and down.is_empty
    assert split_statements(up.sql) == () and split_statements(down.sql) == ()
    assert executable_statements(up, "m.sql") == []


def test_a_section_with_sql_is_not_empty():
    up, down = parse_migration(f"-- migrate:up\n-- c\n{UP}-- migrate:down\n", "m.sql")
    assert not up.is_empty
    assert down.is_empty


FILE = """\
-- header comment
-- migrate:up
CREATE TABLE a (id int);

-- a comment line
CREATE FUNCTION f() RETURNS int AS $$
BEGIN
    RETURN 1;
END;
$$ LANGUAGE plpgsql;
INSERT INTO a VALUES (1); INSERT INTO a
VALUES (2);
/* a block
   comment */ CREATE INDEX a_id ON a (id);
-- migrate:down
DROP TABLE a;

DROP FUNCTION f();
"""


def test_line_numbers_of_sections_and_statements():
    up, down = parse_migration(FILE, "m.sql")
    assert (up.line, down.line) == (2, 15)
    stmts = split_statements(up.sql)
    assert [s.text.split()[0:2] for s in stmts] == [
        ["CREATE", "TABLE"], ["CREATE", "FUNCTION"], ["INSERT", "INTO"], ["INSERT", "INTO"], ["CREATE", "INDEX"],
    ]
    assert [up.line_of(s.offset) for s in stmts] == [3, 6, 11, 11, 14]
    # the offset is where the statement's text starts in the section
    assert all(up.sql[s.offset : s.offset + len(s.text)] == s.text for s in stmts)
    assert stmts[3].text == "INSERT INTO a\nVALUES (2)"
    assert [down.line_of(s.offset) for s in split_statements(down.sql)] == [16, 18]
    # an offset inside a statement (as the server's error position gives) maps to its own line
    create_index = up.sql.index("a_id")
    assert up.line_of(create_index) == 14
    assert up.line_of(up.sql.index("RETURN 1")) == 8


# -- splitting statements -------------------------------------------------------------

SPLITS = {
    "two statements": ("SELECT 1; SELECT 2;", ["SELECT 1", "SELECT 2"]),
    "last without semicolon": ("SELECT 1;\nSELECT 2", ["SELECT 1", "SELECT 2"]),
    "nothing": ("", []),
    "whitespace and comments": ("\n  -- c\n/* d */\n", []),
    "semicolon in a string": ("INSERT INTO t VALUES ('a;b'); SELECT 2;", ["INSERT INTO t VALUES ('a;b')", "SELECT 2"]),
    "semicolon in an identifier": ('CREATE TABLE "x;y" (id int);', ['CREATE TABLE "x;y" (id int)']),
    # a comment that ends a statement stays with it (the server ignores it)
    "semicolon in a comment": ("SELECT 1 -- a; b\n; SELECT 2;", ["SELECT 1 -- a; b", "SELECT 2"]),
    "function body in $$": (
        (
            "CREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN\n  NEW.x = 1;\n  RETURN NEW;\nEND;\n"
            "$$ LANGUAGE plpgsql;\nSELECT 2;"
        ),
        [
            "CREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN\n  NEW.x = 1;\n  RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql",
            "SELECT 2",
        ],
    ),
    "tagged dollar quote": (
        "CREATE FUNCTION g() RETURNS text AS $body$ SELECT 'a;$$;b' $body$ LANGUAGE sql; SELECT 3;",
        ["CREATE FUNCTION g() RETURNS text AS $body$ SELECT 'a;$$;b' $body$ LANGUAGE sql", "SELECT 3"],
    ),
    "DO block": (
        "DO $$\nBEGIN\n  IF true THEN\n    PERFORM 1;\n  END IF;\nEND\n$$;\nSELECT 4;",
        ["DO $$\nBEGIN\n  IF true THEN\n    PERFORM 1;\n  END IF;\nEND\n$$", "SELECT 4"],
    ),
    "BEGIN ATOMIC body": (
        "CREATE FUNCTION h() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END; SELECT 5;",
        ["CREATE FUNCTION h() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END", "SELECT 5"],
    ),
    "nested block comment": ("/* a /* b */ c */ SELECT 1;", ["SELECT 1"]),
    "non-ASCII text": ("-- café ☕\nINSERT INTO t VALUES ('é'); SELECT 'ü';", ["INSERT INTO t VALUES ('é')", "SELECT 'ü'"]),
    # text the parser rejects is still split, and every statement is kept, so that the
    # server runs the ones before the error and reports the error itself
}


@pytest.mark.parametrize(("sql", "expected"), list(SPLITS.values()), ids=list(SPLITS))
def test_split_statements(sql, expected):
    stmts = split_statements(sql)
    assert [s.text for s in stmts] == expected
    assert all(sql[s.offset : s.offset + len(s.text)] == s.text for s in stmts)


BROKEN = {
    "syntax error": "CREATE TABLE a (id int,);\nSELECT 2;",
    "misspelled keyword": "CREATE TABLE a (id int);\nSELEC 1;\nSELECT 2;",
    "statement with no keyword": "SELECT 1; foo; SELECT 2; bar",
    "broken, nested comment": "SELEC 1;\n/* a /* b */ c */ SELECT 2;",
    "unterminated string": "SELECT 1;\nINSERT INTO t VALUES ('x);",
    "unterminated dollar quote": "SELECT 1; DO $$ BEGIN",
    "unterminated comment": "SELECT 1; /* open",
    "unterminated identifier": 'SELECT "abc',
    "starts with BEGIN": "BEGIN;\nSELEC 1;\nCOMMIT;",
}


@pytest.mark.parametrize("sql", list(BROKEN.values()), ids=list(BROKEN))
def test_text_that_does_not_parse_is_sent_whole(sql):
    """The server parses the whole query before running any of it: it fails at the error, runs nothing."""
    up, _ = parse_migration(f"-- migrate:up\n-- why\n{sql}\n-- migrate:down\n", "m.sql")
    stmts = executable_statements(up, "m.sql")
    assert [(s.text, s.whole, up.line_of(s.offset)) for s in stmts] == [(sql, True, 3)]


# -- transaction control --------------------------------------------------------------

TX_CONTROL = {
    "BEGIN/COMMIT": "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;",
    "lower case": "begin;\nCREATE TABLE a (id int);\ncommit;",
    "BEGIN TRANSACTION/END": "BEGIN TRANSACTION;\nCREATE TABLE a (id int);\nEND;",
    "START TRANSACTION/COMMIT WORK": "START TRANSACTION;\nCREATE TABLE a (id int);\nCOMMIT WORK;",
    "BEGIN WORK/END TRANSACTION": "BEGIN WORK; CREATE TABLE a (id int); END TRANSACTION;",
}


@pytest.mark.parametrize("body", list(TX_CONTROL.values()), ids=list(TX_CONTROL))
def test_begin_commit_skipped_in_transactional_section(body):
    sql = f"-- migrate:up\n{body}\n"
    assert [s.text for s in executable_statements(section(sql), "m.sql")] == ["CREATE TABLE a (id int)"]
    kept = [s.text for s in executable_statements(section(sql, transaction=False), "m.sql")]
    assert len(kept) == 3 and kept[1] == "CREATE TABLE a (id int)"


def test_transaction_false_from_the_marker_keeps_begin_commit():
    up, _ = parse_migration(
        "-- migrate:up transaction:false\nBEGIN;\nSELECT 1;\nCOMMIT;\nROLLBACK;\n-- migrate:down\n", "m.sql"
    )
    assert [s.text for s in executable_statements(up, "m.sql")] == ["BEGIN", "SELECT 1", "COMMIT", "ROLLBACK"]


KEPT = {
    # not transaction control: dbmate runs them, and so do we (the server decides)
    "DO block with BEGIN/END": "DO $$ BEGIN PERFORM 1; END $$",
    "COMMIT PREPARED": "COMMIT PREPARED 'gid'",
    "ROLLBACK PREPARED": "ROLLBACK PREPARED 'gid'",
    "ROLLBACK TO SAVEPOINT": "ROLLBACK TO SAVEPOINT s",
    "SAVEPOINT": "SAVEPOINT s",
    "a table named begin_x": "CREATE TABLE begin_x (id int)",
    "column named commit": "SELECT 1 AS commit_count",
}


@pytest.mark.parametrize("stmt", list(KEPT.values()), ids=list(KEPT))
def test_other_statements_are_kept(stmt):
    assert [s.text for s in executable_statements(section(f"-- migrate:up\n{stmt};\n"), "m.sql")] == [stmt]


@pytest.mark.parametrize("stmt", ["ROLLBACK", "rollback work", "ROLLBACK TRANSACTION", "ABORT", "ROLLBACK AND NO CHAIN"])
def test_rollback_refused_in_transactional_section(stmt):
    sql = f"-- migrate:up\nCREATE TABLE a (id int);\n\n{stmt};\n"
    with pytest.raises(MigrationFileError) as info:
        executable_statements(section(sql, line=7), "db/migrations/0001_x.sql")
    assert info.value.line == 10  # marker on line 7, statement three lines below
    assert str(info.value).startswith("db/migrations/0001_x.sql:10: ROLLBACK")
    assert "transaction:false" in info.value.detail


# -- files ----------------------------------------------------------------------------

GOOD = f"-- migrate:up\n{UP}-- migrate:down\n{DOWN}"


def test_read_migration(tmp_path: Path):
    path = tmp_path / "20240101120000_add_things.sql"
    path.write_bytes(GOOD.encode())
    m = read_migration(path)
    assert (m.version, m.filename, m.path) == ("20240101120000", "20240101120000_add_things.sql", path)
    assert m.checksum == hashlib.sha256(GOOD.encode()).hexdigest()
    assert m.section("up") is m.up and m.section("down") is m.down
    assert [s.text for s in split_statements(m.up.sql)] == ["CREATE TABLE a (id int)"]


def test_checksum_changes_with_the_bytes(tmp_path: Path):
    a, b = tmp_path / "1_a.sql", tmp_path / "2_b.sql"
    a.write_text(GOOD)
    b.write_text(GOOD + "\n")
    assert read_migration(a).checksum != read_migration(b).checksum


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"-- migrate:up\nSELECT 'caf\xe9';\n-- migrate:down\n", 2),
        (b"\xff\xfe-- migrate:up\n-- migrate:down\n", 1),
        (b"-- migrate:up\nSELECT 1;\n-- migrate:down\n\n-- \xc3\n", 5),
    ],
    ids=["latin-1 in up", "UTF-16 BOM", "truncated sequence at the end"],
)
def test_non_utf8_file_rejected_with_its_line(tmp_path: Path, data: bytes, line: int):
    path = tmp_path / "0001_x.sql"
    path.write_bytes(data)
    with pytest.raises(MigrationFileError) as info:
        read_migration(path)
    assert info.value.line == line
    assert str(info.value) == f"{path}:{line}: not valid UTF-8 text"


def test_parse_error_names_the_file_path(tmp_path: Path):
    path = tmp_path / "0001_x.sql"
    path.write_text(f"-- migrate:up\n{UP}")
    with pytest.raises(MigrationFileError) as info:
        read_migration(path)
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}: no '-- migrate:down' marker")


def test_read_migration_refuses_a_name_that_is_not_a_migration(tmp_path: Path):
    path = tmp_path / "init.sql"
    path.write_text(GOOD)
    with pytest.raises(MigrationFileError, match="not a migration file name"):
        read_migration(path)


def _make(directory: Path, names: list[str], text: str = GOOD) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        if name.endswith("/"):
            (directory / name.rstrip("/")).mkdir()
        else:
            (directory / name).write_text(text)


def test_files_dbmate_ignores_are_ignored(tmp_path: Path):
    _make(
        tmp_path,
        [
            "0001_init.sql",
            "0002.sql",  # digits and .sql are enough
            "3_short.sql",
            "README.md",
            "init.sql",  # no leading digits
            "_0004_x.sql",
            ".0005_hidden.sql",
            "v0006_x.sql",
            "\u0661\u0662_arabic_indic_digits.sql",  # dbmate's \d is [0-9]
            "0007_x.sql.bak",  # not .sql at the end
            "0008_x.SQL",  # dbmate's pattern is case-sensitive
            "0009_x.txt",
            "0010_dir.sql/",  # a directory
            "0011_notes/",
        ],
        text="this is not SQL at all",  # ignored files are never read
    )
    (tmp_path / "0001_init.sql").write_text(GOOD)
    (tmp_path / "0002.sql").write_text(GOOD)
    (tmp_path / "3_short.sql").write_text(GOOD)
    assert [p.name for p in migration_files(tmp_path)] == ["0001_init.sql", "0002.sql", "3_short.sql"]
    assert [m.version for m in discover(tmp_path)] == ["0001", "0002", "3"]


def test_order_is_by_file_name_as_dbmate_sorts(tmp_path: Path):
    # dbmate sorts by file name (byte order), not by numeric version
    _make(tmp_path, ["2_b.sql", "10_a.sql", "0003_c.sql", "20240101000000_d.sql", "1_z.sql", "100_y.sql"])
    names = [p.name for p in migration_files(tmp_path)]
    assert names == ["0003_c.sql", "100_y.sql", "10_a.sql", "1_z.sql", "20240101000000_d.sql", "2_b.sql"]
    assert [m.filename for m in discover(tmp_path)] == names


def test_duplicate_versions_name_both_files(tmp_path: Path):
    _make(tmp_path, ["0001_first.sql", "0001_second.sql", "0002_other.sql"])
    with pytest.raises(MigrationFileError) as info:
        migration_files(tmp_path)
    message = str(info.value)
    assert "duplicate version 0001" in message
    assert "0001_first.sql" in message and "0001_second.sql" in message
    with pytest.raises(MigrationFileError, match="duplicate version 0001"):
        discover(tmp_path)


def test_versions_that_differ_only_in_zeros_are_distinct(tmp_path: Path):
    _make(tmp_path, ["1_a.sql", "01_b.sql"])
    assert [m.version for m in discover(tmp_path)] == ["01", "1"]


def test_missing_directory(tmp_path: Path):
    with pytest.raises(MigrationFileError, match="migrations directory not found"):
        migration_files(tmp_path / "nope")


def test_empty_directory(tmp_path: Path):
    assert migration_files(tmp_path) == [] and discover(tmp_path) == []


def test_discover_stops_at_the_first_bad_file(tmp_path: Path):
    _make(tmp_path, ["0001_ok.sql", "0003_ok.sql"])
    bad = tmp_path / "0002_bad.sql"
    bad.write_text(f"-- migrate:up\n{UP}\n-- migrate:up transaction:nope\n-- migrate:down\n")
    with pytest.raises(MigrationFileError) as info:
        discover(tmp_path)
    assert info.value.path == bad
    assert info.value.line == 4
