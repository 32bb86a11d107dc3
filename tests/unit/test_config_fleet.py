"""A fleet environment's keys (``databases``, ``parallel``, ``fleet_policy``), ``--database``
and ``ORCHESTRATOR_DATABASE``, and the worst-code order; single-database environments as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import config
from orchestrator.errors import ConfigError
from orchestrator.fleet import worst

FLEET = """environments:
  production:
    databases:
      - {name: eu-1, url_env: EU_DATABASE_URL}
      - {name: us-1}
    parallel: 2
    fleet_policy: rollback
"""
URLS = {"EU_DATABASE_URL": "postgres://app:s3cret@eu.example/app", "PRODUCTION_US_1_DATABASE_URL": "postgres://us.example/app"}


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("DATABASE_URL", "PRODUCTION_DATABASE_URL", config.SELECT_VARIABLE, *URLS):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "orchestrator.yml").write_text(FLEET)
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in URLS.items()))
    return tmp_path


def test_a_fleet_names_every_database_with_its_variable(root):
    env = config.load(environment="production", root=root).environment
    assert env.is_fleet and env.url is None
    assert [(m.name, m.url_env, m.url.host) for m in env.members] == [
        ("eu-1", "EU_DATABASE_URL", "eu.example"), ("us-1", "PRODUCTION_US_1_DATABASE_URL", "us.example")]
    assert (env.parallel, env.fleet_policy) == (2, "rollback")


def test_one_database_picked_is_a_plain_environment_with_its_url(root):
    env = config.load(environment="production", root=root, databases=["us-1"]).environment
    assert not env.is_fleet and env.database == "us-1" and env.url.host == "us.example"
    assert env.url_source == "PRODUCTION_US_1_DATABASE_URL"


def test_the_variable_picks_when_the_flag_does_not(root, monkeypatch):
    monkeypatch.setenv(config.SELECT_VARIABLE, "us-1")
    assert config.load(environment="production", root=root).environment.database == "us-1"
    assert config.load(environment="production", root=root, databases=["eu-1"]).environment.database == "eu-1"
    monkeypatch.setenv(config.SELECT_VARIABLE, "us-2")
    with pytest.raises(ConfigError, match=r"^ORCHESTRATOR_DATABASE: unknown database 'us-2'"):
        config.load(environment="production", root=root)


def test_a_single_database_environment_is_as_before(root):
    (root / "db" / "orchestrator.yml").write_text("environments:\n  production: {}\n")
    (root / ".env").write_text("PRODUCTION_DATABASE_URL=postgres://one.example/app\n")
    env = config.load(environment="production", root=root).environment
    assert (env.members, env.database, env.is_fleet, env.url.host) == ((), None, False, "one.example")
    with pytest.raises(ConfigError, match=r"^--database: environment 'production' names no databases"):
        config.load(environment="production", root=root, databases=["eu-1"])


def test_commands_without_a_database_need_no_variable(root):
    (root / ".env").write_text("")
    env = config.load(environment="production", root=root, needs_database=False).environment
    assert [(m.name, m.url) for m in env.members] == [("eu-1", None), ("us-1", None)] and env.database is None
    one = config.load(environment="production", root=root, needs_database=False, databases=["us-1"]).environment
    assert one.database == "us-1" and one.url is None  # backups list --database us-1: its backups, no URL read


@pytest.mark.parametrize(("yaml_text", "where"), [
    ("databases: []", "environments.production.databases: expected a list"),
    ("databases: [{name: a}, {name: a}]", "environments.production.databases[1].name: duplicate database name"),
    ("databases: [{name: 'a b'}]", "environments.production.databases[0].name: expected letters"),
    ("databases: [{name: a.rollback, url_env: A}]", "environments.production.databases[0].name: expected letters"),
    ("databases: [{name: -a, url_env: A}]", "environments.production.databases[0].name: expected letters"),
    ("databases: [{name: a, url: 'postgres://u:pw@h/d'}]", "environments.production.databases[0].url: unknown key"),
    ("databases: [a]", "environments.production.databases[0]: expected a mapping"),
    ("databases: [{name: a}]\n    parallel: 0", "environments.production.parallel: expected a whole number of 1"),
    ("databases: [{name: a}]\n    fleet_policy: stop", "environments.production.fleet_policy: expected continue"),
    ("parallel: 3", "environments.production.parallel: only for an environment with databases:"),
    ("databases: [{name: a}]", "databases[0].url_env: no database URL for 'a': set PRODUCTION_A_DATABASE_URL"),
])
def test_a_bad_fleet_setting_is_named(root, yaml_text, where):
    (root / "db" / "orchestrator.yml").write_text(f"environments:\n  production:\n    {yaml_text}\n")
    with pytest.raises(ConfigError) as caught:
        config.load(environment="production", root=root)
    assert where in str(caught.value) and "pw" not in str(caught.value)


def test_url_is_refused_for_a_fleet(root):
    with pytest.raises(ConfigError, match=r"^--url: environment 'production' is a fleet"):
        config.load(environment="production", root=root, url="postgres://x.example/app")


@pytest.mark.parametrize(("codes", "expected"), [
    ([], 0), ([0, 0], 0), ([0, 2], 2), ([2, 1, 0], 1), ([1, 3, 2], 3), ([0, -15], 3), ([2, 120], 3),
])
def test_worst_is_3_then_1_then_2_then_0(codes, expected):
    assert worst(codes) == expected
