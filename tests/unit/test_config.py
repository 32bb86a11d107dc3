"""The config: db/orchestrator.yml, environment variables and .env files, read into a Config."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.project import URL_VARIABLES

from orchestrator import config
from orchestrator.errors import ConfigError


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
        ("environments:\n  dev:\n    health: {attempts: 0}\n", "environments.dev.health.attempts"),
        ("environments:\n  dev:\n    health: {attempts: true}\n", "environments.dev.health.attempts"),
        ("environments:\n  dev:\n    health: {timeout: 0}\n", "environments.dev.health.timeout"),
        ("environments:\n  dev:\n    health: {interval: -1}\n", "environments.dev.health.interval"),
        ("environments:\n  dev:\n    health_url: ftp://h/health\n", "expected http:// or https://"),
        ("environments:\n  dev:\n    health_url: http:///health\n", "names no host"),
        ("environments:\n  dev:\n    lint: {drop-table: loud}\n", "drop-table: expected error, warning or off"),
        ("environments:\n  dev:\n    lint: [drop-table]\n", "environments.dev.lint: expected a mapping"),
    ],
)
def test_bad_config_names_the_key(tmp_path, clean_env, text, expected):
    write_config(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(root=tmp_path)
    assert expected in str(info.value)


def test_url_precedence(tmp_path, clean_env):
    def url(db: str) -> str:
        return f"postgres://u:pw@localhost/{db}"

    (tmp_path / ".env").write_text(f"DATABASE_URL={url('from_dotenv')}\n")
    assert config.load(root=tmp_path, environment="staging").environment.url.database == "from_dotenv"
    (tmp_path / ".env.dbmate").write_text(f'STAGING_DATABASE_URL="{url("from_env_dbmate")}"\n')
    assert config.load(root=tmp_path, environment="staging").environment.url.database == "from_dotenv"  # as dbmate
    files = [".env.dbmate", ".env"]
    assert config.load(root=tmp_path, environment="staging", env_files=files).environment.url.database == (
        "from_env_dbmate")
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


def test_default_lock_guard(tmp_path, clean_env):
    """The defaults an app relies on not to stall: a short wait per attempt, bounded retries."""
    timeouts = config.load(root=tmp_path, environment="dev").environment.timeouts
    assert (timeouts.lock, timeouts.lock_retries, timeouts.retry_delay) == (0.1, 10, 0.5)
    write_config(tmp_path, "environments:\n  dev:\n    lock_timeout: 2s\n    lock_retries: 0\n")
    timeouts = config.load(root=tmp_path, environment="dev").environment.timeouts
    assert (timeouts.lock, timeouts.lock_retries) == (2.0, 0)


def test_retry_pauses_double_with_jitter_and_stay_capped():
    timeouts = config.Timeouts(lock=0.1, lock_retries=10, retry_delay=0.5)
    for attempt in range(12):
        ceiling = min(config.MAX_RETRY_PAUSE, 0.5 * 2**attempt)
        pauses = {timeouts.pause(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= p <= ceiling for p in pauses), (attempt, pauses)
        assert len(pauses) > 1  # jittered, not in step with another deploy's retries
    assert timeouts.pause(20) <= config.MAX_RETRY_PAUSE


@pytest.mark.parametrize(("value", "expected"), [("zstd", "zstd:3"), ("zstd:7", "zstd:7"), ("gzip", "gzip:6"),
                                                 ("lz4", "lz4:0"), ("none", "none")])
def test_compression_setting(tmp_path, clean_env, value, expected):
    write_config(tmp_path, f"environments:\n  dev: {{}}\n  production:\n    compression: '{value}'\n")
    assert str(config.load(environment="dev", root=tmp_path, needs_database=False).environment.compression) == "zstd:3"
    chosen = config.load(environment="production", root=tmp_path, url="postgres://h/db").environment
    assert str(chosen.compression) == expected


@pytest.mark.parametrize("value", ["brotli", "zstd:99", "gzip:0", "7", "''"])
def test_bad_compression_names_the_setting(tmp_path, clean_env, value):
    write_config(tmp_path, f"environments:\n  dev: {{}}\n  production:\n    compression: {value}\n")
    with pytest.raises(ConfigError) as info:
        config.load(environment="dev", root=tmp_path, needs_database=False)  # checked in every environment
    assert "environments.production.compression" in str(info.value) and "\n" not in str(info.value)
