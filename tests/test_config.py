"""Config file, environment variables, .env files and the embedded dev default."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from orchestrator import config
from orchestrator.errors import ConfigError

from conftest import URL_VARIABLES, tables


@pytest.fixture
def clean_env(monkeypatch):
    for name in URL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def write_config(root: Path, text: str) -> None:
    (root / "db").mkdir(exist_ok=True)
    (root / "db" / "orchestrator.yml").write_text(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("environments:\n  dev:\n    lok_wait: 5s\n", "environments.dev.lok_wait"),
        ("environments:\n  dev: {}\n  staging:\n    colour: red\n", "environments.staging.colour"),
        ("migration_dir: db/m\n", "migration_dir"),
        ("verify:\n  budgett: 3\n", "verify.budgett"),
        ("environments:\n  dev:\n    lock_wait: soon\n", "environments.dev.lock_wait"),
        ("environments:\n  dev:\n    dump_schema: yes please\n", "environments.dev.dump_schema"),
        ("environments: [dev]\n", "environments"),
        ("environments:\n  dev:\n   - bad: [\n", "db/orchestrator.yml:4: not valid YAML"),
        ("- just\n- a list\n", "top level"),
    ],
)
def test_bad_config_names_the_key(tmp_path, clean_env, text, expected):
    write_config(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(root=tmp_path)
    assert expected in str(info.value)


def test_bad_config_cli_exit_2_nothing_changed(project):
    project.add("001", "create table a (id int);")
    write_config(project.root, "environments:\n  dev:\n    unknown_key: 1\n")
    r = project.run("up")
    assert r.code == 2
    assert r.err.strip().count("\n") == 0 and "unknown_key" in r.err
    assert tables(project.url) == []


def test_unknown_environment(project):
    r = project.run("status", "-e", "prod")
    assert r.code == 2 and "unknown environment 'prod'" in r.err and "production" in r.err


def test_missing_url_for_staging_is_an_error(project):
    env = {k: v for k, v in project.env().items() if k not in URL_VARIABLES}
    for name in ("staging", "production"):
        r = project.run("up", "-e", name, env=env)
        assert r.code == 2
        assert f"{name.upper()}_DATABASE_URL" in r.err
    assert tables(project.url) == []


def test_url_precedence(tmp_path, clean_env):
    def url(db: str) -> str:
        return f"postgres://u:pw@localhost/{db}"

    (tmp_path / ".env").write_text(f"DATABASE_URL={url('from_dotenv')}\n")
    assert config.load(root=tmp_path, environment="staging").environment.url.database == "from_dotenv"
    (tmp_path / ".env.dbmate").write_text(f'STAGING_DATABASE_URL="{url("from_env_dbmate")}"\n')
    assert config.load(root=tmp_path, environment="staging").environment.url.database == "from_env_dbmate"
    clean_env.setenv("DATABASE_URL", url("from_database_url"))
    assert config.load(root=tmp_path, environment="staging").environment.url.database == "from_database_url"
    clean_env.setenv("STAGING_DATABASE_URL", url("from_staging_url"))
    cfg = config.load(root=tmp_path, environment="staging")
    assert cfg.environment.url.database == "from_staging_url"
    assert cfg.environment.url_source == "STAGING_DATABASE_URL"
    assert config.load(root=tmp_path, environment="staging", url=url("from_flag")).environment.url.database == "from_flag"


def test_bad_url_names_the_variable(tmp_path, clean_env):
    clean_env.setenv("STAGING_DATABASE_URL", "mysql://u:secret-pw@h/db")
    with pytest.raises(ConfigError) as info:
        config.load(root=tmp_path, environment="staging")
    assert "STAGING_DATABASE_URL" in str(info.value) and "secret-pw" not in str(info.value)


def test_durations():
    assert config.parse_duration("500ms", "x") == 0.5
    assert config.parse_duration("2min", "x") == 120
    assert config.parse_duration(30, "x") == 30
    with pytest.raises(ConfigError):
        config.parse_duration("-3s", "x")


@pytest.fixture
def embedded_project(project):
    """A project with no URL anywhere; stops its embedded server afterwards."""
    yield project
    pid_file = project.root / ".orchestrator" / "pgdata" / "postmaster.pid"
    if pid_file.exists():
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)


def test_dev_without_url_uses_embedded_postgres(embedded_project):
    project = embedded_project
    project.add("001", "create table a (id int);", "drop table a;")
    env = {k: v for k, v in project.env().items() if k not in URL_VARIABLES}
    r = project.run("up", "-e", "dev", env=env)
    assert r.code == 0, r.text
    assert "embedded PostgreSQL" in r.err
    assert (project.root / ".orchestrator" / "pgdata" / "PG_VERSION").exists()
    assert (project.root / "db" / "schema.sql").exists()  # dev dumps the schema, as dbmate does
    r = project.run("status", env=env)
    assert "[X] 001_m.sql" in r.out
    assert project.run("rollback", env=env).code == 0
    assert "[ ] 001_m.sql" in project.run("status", env=env).out
    assert tables(project.url) == []  # the test database was never touched
