""".env files as dbmate reads them (godotenv v1.5.1), and the DBMATE_* settings in the config.

Each value below is what the real dbmate 2.37 sees for the same text
(``tests/integration/test_dbmate_env.py`` checks a table of them against the binary).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.project import URL_VARIABLES

from orchestrator import config, dotenv
from orchestrator.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=app  # dev", "app"),  # the bug: the comment was part of the database name
        ("A=app# dev", "app# dev"),  # '#' starts a comment only after whitespace
        ("A=app\t#dev", "app"),
        ("A=app #a #b", "app #a"),  # godotenv cuts at the last ' #' on the line
        ("A=#notcomment", "#notcomment"),
        ("A='app # x'", "app # x"),
        ('A="app # x"', "app # x"),
        ('A="abc" # trailing', "abc"),
        ("export A=app", "app"),
        ("export   A=app", "app"),
        ("A = app ", "app"),
        ("A: app", "app"),  # YAML-style
        ("A=", ""),
        ("A=  ", ""),
        ("A=a b  c", "a b  c"),
        ('A="a\\nb"', "a\nb"),
        ('A="a\\rb"', "a\rb"),
        ("A='a\\nb'", "a\\nb"),  # single quotes: as written
        ('A="a\\tb\\\\c\\"d"', 'atb\\c"d'),  # other escapes drop the backslash
        ('A="a\\"b"', 'a"b'),
        ("A='a\\'b'", "a\\'b"),
        ('A="multi\nline"', "multi\nline"),
        ("A='multi\nline'", "multi\nline"),
        ("A=abc\r\nB=2", "abc"),
        ("A=a\rB=2", "a"),
        ('A="a" B="b"', "a"),
        ("# c\n  # c2\n\nA=v", "v"),
        ("A=a\nA=b", "b"),  # the last one in a file wins
        ("A=é", "é"),
        ("X=foo\nA=${X}bar", "foobar"),
        ('X=foo\nA="$X-x"', "foo-x"),
        ("X=foo\nA='$X'", "$X"),
        ("A=$HOME", ""),  # expansion sees the file's earlier values only, not the environment
        ("A=${LATER}\nLATER=1", ""),
        ("A=\\$X", "$X"),
        ('A="\\$X"', "$X"),
        ("A=$lower", "$lower"),  # names in expansions are upper-case
        ("A=x$(X)y", "x)y"),
    ],
)
def test_values_as_dbmate_reads_them(text: str, expected: str):
    assert dotenv.parse(text, ".env")["A"] == expected


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("exportA=1", ["exportA"]),
        ("A.B=1\nC=2", ["A.B", "C"]),
        ("FOO BAR=1", ["FOO BAR"]),
        ("Kà=1", ["Kà"]),  # godotenv checks names byte by byte: à passes, É does not
        ("", []),
        ("\n\n   \n# only a comment", []),
    ],
)
def test_names(text: str, names: list[str]):
    assert list(dotenv.parse(text, ".env")) == names


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("A=1\nJUSTANAME\nB=2", ".env:2", "expected NAME=value, got 'JUSTANAME'"),
        ("A=1\nexport B\n", ".env:2", "expected NAME=value"),
        ("MY-VAR=1", ".env:1", "unexpected character '-'"),
        ("CAFÉ=1", ".env:1", "unexpected character 'É'"),
        ('A=1\n\nB="open\nC=3', ".env:3", 'unterminated " quoted value'),
        ("A='open", ".env:1", "unterminated ' quoted value"),
        ('A=""a""', ".env:1", "unexpected character"),
        ('A="abc" junk\nB=1', ".env:1", "expected NAME=value"),
        # dbmate ignores these silently (a variable with an empty name, which the system refuses)
        ("A=1\nTRAILING", ".env:2", "expected NAME=value, got 'TRAILING'"),
        ("=value", ".env:1", "no variable name"),
        ("export ", ".env:1", "expected NAME=value after 'export'"),
    ],
)
def test_malformed_names_file_and_line(text: str, where: str, message: str):
    with pytest.raises(ConfigError) as info:
        dotenv.parse(text, ".env")
    assert str(info.value).startswith(f"{where}: ") and message in str(info.value)


def test_a_secret_is_not_repeated_in_the_error():
    with pytest.raises(ConfigError) as info:
        dotenv.parse("DATABASE_URL=postgres://u:hunter2@h/db\nBAD LINE\n", ".env")
    assert "hunter2" not in str(info.value)


def test_undecodable_bytes_pass_through():
    assert dotenv.parse_bytes(b"A=caf\xe9", ".env")["A"] == "caf\udce9"


# -- the DBMATE_* settings and their precedence ---------------------------------------

DBMATE_VARIABLES = (
    "DBMATE_MIGRATIONS_DIR", "DBMATE_MIGRATIONS_TABLE", "DBMATE_SCHEMA_FILE", "DBMATE_NO_DUMP_SCHEMA",
    "DBMATE_STRICT", "DBMATE_WAIT", "DBMATE_WAIT_TIMEOUT", "DBMATE_WAIT_INTERVAL", "DBMATE_VERBOSE",
    "DBMATE_DRIVER", "DBMATE_MIGRATION_LOCK", "DBMATE_MIGRATION_LOCK_TIMEOUT",
)


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in (*URL_VARIABLES, *DBMATE_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def load(root: Path, **kwargs) -> config.Config:
    return config.load(root=root, **kwargs)


def test_defaults(env, tmp_path):
    cfg = load(tmp_path)
    assert cfg.migrations_dirs == (tmp_path / "db/migrations",) and cfg.migrations_dir == tmp_path / "db/migrations"
    assert cfg.migrations_table == "schema_migrations" and cfg.schema_file == tmp_path / "db/schema.sql"
    assert (cfg.wait, cfg.wait_timeout, cfg.wait_interval, cfg.verbose) == (False, 60.0, 1.0, False)
    assert cfg.environment.dump_schema and not cfg.environment.strict and cfg.environment.lock_wait == 60.0


def test_variables_from_env_file_environment_and_flags(env, tmp_path):
    (tmp_path / "db").mkdir()
    (tmp_path / "db/orchestrator.yml").write_text(
        "migrations_table: from_yml\nschema_file: yml.sql\nmigrations_dir: [y1, y2]\n"
        "environments:\n  dev:\n    strict: false\n    dump_schema: true\n    lock_wait: 5s\n"
    )
    assert load(tmp_path).migrations_table == "from_yml"
    assert load(tmp_path).migrations_dirs == (tmp_path / "y1", tmp_path / "y2")
    (tmp_path / ".env").write_text(
        "DBMATE_MIGRATIONS_TABLE=from_file  # the team's table\nDBMATE_MIGRATIONS_DIR=a, b\n"
        "DBMATE_SCHEMA_FILE=file.sql\nDBMATE_NO_DUMP_SCHEMA=true\nDBMATE_STRICT=1\nDBMATE_WAIT=T\n"
        "DBMATE_WAIT_TIMEOUT=1m30s\nDBMATE_WAIT_INTERVAL=250ms\nDBMATE_VERBOSE=true\n"
        "DBMATE_MIGRATION_LOCK_TIMEOUT=0\n"
    )
    cfg = load(tmp_path)
    assert cfg.migrations_table == "from_file" and cfg.schema_file == tmp_path / "file.sql"
    assert cfg.migrations_dirs == (tmp_path / "a", tmp_path / "b")
    assert not cfg.environment.dump_schema and cfg.environment.strict
    assert (cfg.wait, cfg.wait_timeout, cfg.wait_interval, cfg.verbose) == (True, 90.0, 0.25, True)
    assert cfg.environment.lock_wait == 0.0  # dbmate's 0: wait indefinitely, as lock_wait 0
    env.setenv("DBMATE_MIGRATIONS_TABLE", "from_environment")  # the real environment beats the file
    env.setenv("DBMATE_STRICT", "false")
    env.setenv("DBMATE_SCHEMA_FILE", "")  # hides the file's value (godotenv never overrides); empty = unset
    cfg = load(tmp_path)
    assert cfg.migrations_table == "from_environment" and not cfg.environment.strict
    assert cfg.schema_file == tmp_path / "yml.sql"
    cfg = load(tmp_path, migrations_table="flag", migrations_dir=["x", "y,z"], schema_file="f.sql",
               wait_timeout="2s", strict=True)
    assert cfg.migrations_table == "flag" and cfg.schema_file == tmp_path / "f.sql" and cfg.environment.strict
    assert cfg.migrations_dirs == (tmp_path / "x", tmp_path / "y", tmp_path / "z") and cfg.wait_timeout == 2.0


def test_env_files_in_order_first_wins_missing_skipped(env, tmp_path):
    (tmp_path / ".env").write_text("DBMATE_MIGRATIONS_TABLE=dotenv\n")
    (tmp_path / "one.env").write_text("DBMATE_MIGRATIONS_TABLE=one\n")
    (tmp_path / "two.env").write_text("DBMATE_MIGRATIONS_TABLE=two\nDBMATE_SCHEMA_FILE=two.sql\n")
    cfg = load(tmp_path, env_files=["missing.env", "one.env", "two.env"])
    assert cfg.migrations_table == "one" and cfg.schema_file == tmp_path / "two.sql"
    assert load(tmp_path, env_files=["missing.env"]).migrations_table == "schema_migrations"  # .env not read


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DBMATE_STRICT", "yes", "DBMATE_STRICT: expected true or false"),
        ("DBMATE_WAIT_TIMEOUT", "30", "DBMATE_WAIT_TIMEOUT: expected a duration"),  # Go wants a unit
        ("DBMATE_WAIT_TIMEOUT", "-5s", "expected a duration of 0 or more"),
        ("DBMATE_MIGRATIONS_DIR", "a,,b", "DBMATE_MIGRATIONS_DIR: an empty directory"),
        ("DBMATE_DRIVER", "mysql", "DBMATE_DRIVER: orchestrator serves PostgreSQL only"),
    ],
)
def test_bad_variable_names_the_setting(env, tmp_path, name, value, message):
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        load(tmp_path)


def test_bad_line_in_env_file_names_file_and_line(env, tmp_path):
    (tmp_path / ".env").write_text("DATABASE_URL=postgres://h/db\nJUST A LINE\n")
    with pytest.raises(ConfigError, match=r"^\.env:2: expected NAME=value"):
        load(tmp_path)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("90s", 90.0), ("1m30s", 90.0), ("1.5h", 5400.0), ("500ms", 0.5), ("2us", 2e-6), (".5s", 0.5)],
)
def test_go_durations(text, seconds):
    assert config.parse_go_duration(text, "x") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "30", "s", "1x", "1m 30s", ".s"])
def test_bad_go_durations(text):
    with pytest.raises(ConfigError):
        config.parse_go_duration(text, "x")
