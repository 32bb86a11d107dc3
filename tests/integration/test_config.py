"""The config as the CLI meets it: a bad file, an unknown environment, a missing URL."""

from __future__ import annotations

from support.postgres import tables
from support.project import URL_VARIABLES


def test_bad_config_cli_exit_2_nothing_changed(project):
    project.add("001", "create table a (id int);")
    project.config_file.write_text("environments:\n  dev:\n    unknown_key: 1\n")
    r = project.run("up")
    assert r.code == 2
    assert r.err.strip().count("\n") == 0 and "unknown_key" in r.err
    assert tables(project.url) == []


def test_unknown_lint_rule_is_refused_before_anything_changes(project):
    project.add("001", "create table a (id int);")
    project.config_file.write_text("environments:\n  dev:\n    lint: {drop-tables: off}\n")
    for args in (["up"], ["lint"]):
        r = project.run(*args)
        assert r.code == 2, r.text
        assert r.err.strip().count("\n") == 0
        assert "db/orchestrator.yml: environments.dev.lint: unknown lint rule 'drop-tables'" in r.err
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


def test_an_unreadable_url_never_shows_its_password(project):
    """A password with an unencoded '/' makes urllib read it as the port, and quote it."""
    r = project.run("status", env=project.env(DATABASE_URL="postgres://app:Sup3rS3cret/x@host/db"))
    assert r.code == 2 and r.err.count("\n") == 1
    assert "DATABASE_URL: not a valid URL: its port is not a number" in r.err and "Sup3rS3cret" not in r.text
