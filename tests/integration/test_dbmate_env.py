""".env files, DBMATE_* variables and several migrations directories: orchestrator (in-process)
and the real dbmate 2.37 (its binary) on the same inputs, their effects compared."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.postgres import tables, versions
from support.project import Project, dbmate_exe, embedded_bin_path, ok, write_migration
from support.project import status_marks as marks

NO_LINT = {"dev": {"lint": {"*": "off"}}}


def clean(env: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in env.items() if not k.startswith("DBMATE_")}
    env.update(extra)
    return env


def dbmate_in(root: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([dbmate_exe(), *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def created(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)).rsplit("_", 1)[0].rsplit("/", 1)[0] for p in root.rglob("*_x.sql"))


# -- .env lines: the value dbmate sees is where `new` writes (DBMATE_MIGRATIONS_DIR) --------

LINES = [
    "D=app  # dev",
    "D=app# dev",
    "D=app #a #b",
    "D='app # x'",
    'D="app # x"',
    'D="abc" # trailing',
    "export D=app",
    "D = app ",
    "D: app",
    'D="a\\tb"',
    "D='a\\nb'",
    'D="multi\nline"',
    "X=foo\nD=${X}bar",
    "X=foo\nD='$X'",
    "D=\\$X",
    "D=x$(X)y",
    "D=abc\r\nX=2",
    "D=é",
    "exportD=other\nD=mine",
    # malformed: dbmate stops (exit 3), orchestrator stops (exit 2); neither writes anything
    "JUST A NAME\nD=app",
    "MY-VAR=1\nD=app",
    'D="open\n',
    "CAFÉ=1\nD=app",
]


@pytest.mark.parametrize("line", LINES)
def test_env_file_lines_as_dbmate(project: Project, tmp_path: Path, line: str):
    text = line.replace("D", "DBMATE_MIGRATIONS_DIR").replace("exportDBMATE_MIGRATIONS_DIR", "exportD")
    theirs_root, ours_root = tmp_path / "theirs", tmp_path / "ours"
    for root in (theirs_root, ours_root):
        root.mkdir()
        (root / ".env").write_text(text, encoding="utf-8")
    env = clean(project.env())
    theirs = dbmate_in(theirs_root, "new", "x", env=env)
    ours = Project(ours_root, project.url, project.runner).run("new", "x", env=env)
    if theirs.returncode == 3:  # dbmate: "loading env file(s)"
        assert ours.code == 2 and ".env:" in ours.err, ours.text
        assert created(theirs_root) == created(ours_root) == []
    else:
        assert theirs.returncode == 0 and ours.code == 0, (theirs.stderr, ours.text)
        assert created(ours_root) == created(theirs_root) != []


# -- the headline bug: an inline comment after DATABASE_URL ------------------------------


def test_database_url_with_inline_comment(shipped: Project):
    shipped.configure(NO_LINT)
    (shipped.root / ".env").write_text(f"DATABASE_URL={shipped.url.dbmate_url()}  # dev database\n")
    env = clean(shipped.env())
    del env["DATABASE_URL"]
    ok(shipped.run("--no-dump-schema", "up", env=env))
    assert versions(shipped.url) == ["0001", "0002", "0003"]
    theirs = dbmate_in(shipped.root, "status", env=env)
    assert theirs.returncode == 0 and marks(theirs.stdout) == marks(ok(shipped.run("status", env=env)).out)


# -- DBMATE_* variables ---------------------------------------------------------------------


def test_migrations_table_from_env_file_is_honoured_by_both(shipped: Project):
    shipped.configure(NO_LINT)
    (shipped.root / ".env").write_text("DBMATE_MIGRATIONS_TABLE=team_migrations # ours\n")
    env = clean(shipped.env())
    ok(shipped.run("--no-dump-schema", "up", env=env))
    assert versions(shipped.url, "team_migrations") == ["0001", "0002", "0003"]
    assert "schema_migrations" not in tables(shipped.url)
    theirs = dbmate_in(shipped.root, "--no-dump-schema", "rollback", env=env)
    assert theirs.returncode == 0, theirs.stderr
    assert versions(shipped.url, "team_migrations") == ["0001", "0002"]
    assert "schema_migrations" not in tables(shipped.url)


def test_schema_file_and_no_dump_variables(shipped: Project):
    shipped.configure(NO_LINT)
    shipped_schema = (shipped.root / "db/schema.sql").read_bytes()
    env = clean(shipped.env(), DBMATE_SCHEMA_FILE="db/other.sql", DBMATE_NO_DUMP_SCHEMA="true",
                PATH=embedded_bin_path(shipped.env().get("PATH", "")))
    ok(shipped.run("up", env=env))
    assert not (shipped.root / "db/other.sql").exists()
    assert dbmate_in(shipped.root, "dump", env=env).returncode == 0
    assert (shipped.root / "db/other.sql").read_bytes().startswith(b"\\restrict ")
    (shipped.root / "db/other.sql").unlink()
    ok(shipped.run("dump", env=env))
    assert (shipped.root / "db/other.sql").read_bytes().startswith(b"\\restrict ")
    assert (shipped.root / "db/schema.sql").read_bytes() == shipped_schema  # neither wrote the default


def test_strict_variable_refuses_out_of_order_in_both(project: Project):
    project.configure(NO_LINT)
    project.add("0002", "create table b (id int);", "drop table b;")
    ok(project.run("--no-dump-schema", "up"))
    project.add("0001", "create table a (id int);", "drop table a;")
    env = clean(project.env(), DBMATE_STRICT="true", DBMATE_NO_DUMP_SCHEMA="1")
    theirs = dbmate_in(project.root, "migrate", env=env)
    ours = project.run("up", env=env)
    assert theirs.returncode != 0 and ours.code != 0, (theirs.stderr, ours.text)
    assert versions(project.url) == ["0002"]


# -- several migration directories ------------------------------------------------------------


def two_dirs(project: Project) -> None:
    for version, where in (("0001", "a"), ("0002", "b"), ("0003", "a"), ("0004", "b")):
        write_migration(project.root / "db" / where, version, f"in_{where}",
                        f"create table t{version} (id int);", f"drop table t{version};")


@pytest.mark.parametrize("how", ["flags", "comma", "variable"])
def test_several_directories_merge_by_file_name(project: Project, how: str):
    project.configure(NO_LINT)
    two_dirs(project)
    env = clean(project.env(), DBMATE_NO_DUMP_SCHEMA="true")
    args = {"flags": ["-d", "db/b", "-d", "db/a"], "comma": ["-d", "db/b,db/a"], "variable": []}[how]
    if how == "variable":
        env["DBMATE_MIGRATIONS_DIR"] = "db/b, db/a"
    ours = ok(project.run(*args, "up", env=env))
    applied = [line for line in ours.out.splitlines() if line.startswith("Applying:")]
    assert applied == ["Applying: 0001_in_a.sql", "Applying: 0002_in_b.sql",
                       "Applying: 0003_in_a.sql", "Applying: 0004_in_b.sql"]
    assert versions(project.url) == ["0001", "0002", "0003", "0004"]
    theirs = dbmate_in(project.root, *args, "status", env=env)
    assert theirs.returncode == 0 and marks(theirs.stdout) == [f"[X] {line[len('Applying: '):]}" for line in applied]
    assert dbmate_in(project.root, *args, "rollback", env=env).returncode == 0
    assert versions(project.url) == ["0001", "0002", "0003"]
    assert "t0004" not in tables(project.url)


def test_new_writes_into_the_first_directory_as_dbmate(project: Project, tmp_path: Path):
    env = clean(project.env())
    for root in (tmp_path / "theirs", tmp_path / "ours"):
        (root / "db/b").mkdir(parents=True)
    assert dbmate_in(tmp_path / "theirs", "-d", "db/a", "-d", "db/b", "new", "x", env=env).returncode == 0
    ok(Project(tmp_path / "ours", project.url, project.runner).run("-d", "db/a", "-d", "db/b", "new", "x", env=env))
    assert created(tmp_path / "ours") == created(tmp_path / "theirs") == ["db/a"]


def test_same_version_in_two_directories_is_refused_before_any_change(project: Project):
    project.configure(NO_LINT)
    write_migration(project.root / "db/a", "0001", "one", "create table one (id int);")
    write_migration(project.root / "db/b", "0001", "other", "create table other (id int);")
    env = clean(project.env(), DBMATE_NO_DUMP_SCHEMA="true")
    ours = project.run("-d", "db/a", "-d", "db/b", "up", env=env)
    assert ours.code == 2 and "duplicate version 0001" in ours.err and "db/a/0001_one.sql" in ours.err
    assert tables(project.url) == []
    theirs = dbmate_in(project.root, "-d", "db/a", "-d", "db/b", "migrate", env=env)
    assert theirs.returncode != 0  # dbmate applies the first file, then fails on the second's version


def test_missing_directory_is_refused_by_both(project: Project):
    env = clean(project.env(), DBMATE_NO_DUMP_SCHEMA="true")
    theirs = dbmate_in(project.root, "-d", "db/migrations", "-d", "db/nope", "migrate", env=env)
    ours = project.run("-d", "db/migrations", "-d", "db/nope", "up", env=env)
    assert theirs.returncode != 0 and "db/nope" in theirs.stderr
    assert ours.code == 2 and "db/nope" in ours.err
