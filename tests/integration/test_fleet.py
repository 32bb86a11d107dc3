"""Fleets: one environment, three databases on the embedded server (``support.fleet``).

The parent runs in-process; each database's run is a real orchestrator process, as in
production.  One database (beta) already has a table the second migration creates, so
its run fails there and rolls itself back.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from support.postgres import sql, tables, versions

from orchestrator import github, runlog


@pytest.fixture
def shards(fleet):
    fleet.project.add("0001", "create table one (id int);", "drop table one;", name="one")
    fleet.project.add("0002", "create table two (id int);", "drop table two;", name="two")
    sql(fleet.urls["beta"], "create table two (legacy text)")
    return fleet


def applied(url) -> list[str]:
    """The versions recorded, none where orchestrator never ran."""
    return versions(url) if "schema_migrations" in tables(url) else []


def fleet_log(out: str) -> dict:
    path = re.search(r"Fleet run log: (\S+\.json)", out)
    assert path, out
    return json.loads(Path(path[1]).read_text(encoding="utf-8"))


def rows(doc: dict) -> dict[str, dict]:
    return {r["database"]: r for r in doc["databases"]}


def test_continue_deploys_the_others_and_the_failing_one_is_as_before(shards):
    result = shards.run("-e", "staging", "up")
    assert result.code == 1, result.text
    for name in ("alpha", "gamma"):
        assert versions(shards.urls[name]) == ["0001", "0002"]
    assert versions(shards.urls["beta"]) == [] and "one" not in tables(shards.urls["beta"])
    doc = fleet_log(result.out)
    assert (doc["outcome"], doc["exit_code"], doc["policy"]) == ("failed", 1, "continue")
    by = rows(doc)
    assert list(by) == ["alpha", "beta", "gamma"]
    assert (by["beta"]["outcome"], by["beta"]["exit_code"]) == ("rolled_back", 1)
    assert by["alpha"]["exit_code"] == 0 and [Path(f).name for f in by["alpha"]["applied"]] == [
        "0001_one.sql", "0002_two.sql"]
    assert all(r["backup"] for r in by.values())
    assert runlog.read(Path(by["gamma"]["run_log"]))["outcome"] == "success"
    summary = Path(fleet_log(result.out)["databases"][0]["run_log"]).parent
    md = next(summary.glob("*.fleet.md")).read_text(encoding="utf-8")
    assert [line.split("|")[1].strip() for line in md.splitlines() if line.startswith("| ")][2:] == [
        "alpha", "beta", "gamma"]
    assert re.search(r"^\[beta\] .*two", result.text, re.MULTILINE)  # each child's lines carry its name
    assert "error: 1 of 3 databases did not succeed (beta)" in result.err


def test_each_member_lists_its_own_backups_and_refuses_another_members(shards):
    for name in shards.urls:  # shards sharing one database name, as on separate servers, are told apart
        sql(shards.urls[name], "create table marker (name text)")
        sql(shards.urls[name], f"insert into marker values ('{name}')")
    deployed = shards.run("-e", "staging", "up")
    assert deployed.code == 1, deployed.text  # beta fails and is rolled back; each took its backup first
    backups = {name: row["backup"] for name, row in rows(fleet_log(deployed.out)).items()}
    whose = shards.run("-e", "staging", "backups", "list")
    assert whose.code == 2 and "pick one with --database NAME" in whose.err, whose.text
    listed = shards.run("-e", "staging", "backups", "list", "--database", "alpha")
    assert listed.code == 0, listed.text
    assert backups["alpha"] in listed.out
    assert backups["beta"] not in listed.out and backups["gamma"] not in listed.out
    before = sql(shards.urls["beta"], "select name from marker")
    other = shards.run("-e", "staging", "restore", "--database", "beta", "--backup", backups["alpha"], "--yes")
    assert other.code == 2 and "fleet member alpha" in other.err and "fleet member beta" in other.err, other.text
    assert sql(shards.urls["beta"], "select name from marker") == before == [("beta",)]


def test_rollback_policy_rolls_back_the_ones_that_applied(shards):
    shards.configure(fleet_policy="rollback", parallel=3)
    result = shards.run("-e", "staging", "up")
    assert result.code == 1, result.text
    for name in ("alpha", "beta", "gamma"):
        assert versions(shards.urls[name]) == [], name
        assert "one" not in tables(shards.urls[name])
    assert "two" in tables(shards.urls["beta"])
    by = rows(fleet_log(result.out))
    assert {n: (r["outcome"], r["exit_code"]) for n, r in by.items()} == {
        "alpha": ("rolled_back", 1), "beta": ("rolled_back", 1), "gamma": ("rolled_back", 1)}
    assert runlog.read(Path(by["alpha"]["rollback_run_log"]))["outcome"] == "success"


def test_database_picks_the_shards(shards):
    result = shards.run("-e", "staging", "up", "--database", "alpha", "--database", "gamma")
    assert result.code == 0, result.text
    assert list(rows(fleet_log(result.out))) == ["alpha", "gamma"]
    assert versions(shards.urls["alpha"]) == versions(shards.urls["gamma"]) == ["0001", "0002"]
    assert applied(shards.urls["beta"]) == []


def test_one_database_is_a_plain_run_with_its_own_run_log(shards):
    result = shards.run("-e", "staging", "up", "--database", "gamma")
    assert result.code == 0, result.text
    assert "Fleet run log" not in result.out and "[gamma]" not in result.out
    assert versions(shards.urls["gamma"]) == ["0001", "0002"] and applied(shards.urls["alpha"]) == []


def test_status_lists_each_database(shards):
    shards.run("-e", "staging", "up", "--database", "alpha")
    result = shards.run("-e", "staging", "status", "--exit-code")
    assert result.code == 1, result.text
    assert re.search(r"^\[alpha\] Pending: 0$", result.out, re.MULTILINE)
    assert re.search(r"^\[beta\] Pending: 2$", result.out, re.MULTILINE)
    assert re.search(r"^gamma +1$", result.out, re.MULTILINE)
    doc = json.loads(shards.run("-e", "staging", "status", "--json").out)
    assert {n: d["pending"] for n, d in doc["databases"].items()} == {"alpha": 0, "beta": 2, "gamma": 2}


def test_a_dry_run_changes_nothing_anywhere(shards):
    result = shards.run("-e", "staging", "up", "--dry-run")
    assert result.code == 0, result.text
    doc = fleet_log(result.out)
    assert doc["outcome"] == "dry_run" and {r["outcome"] for r in doc["databases"]} == {"dry_run"}
    assert all(r["plan_hash"] for r in doc["databases"])
    assert all(applied(u) == [] for u in shards.urls.values())


@pytest.mark.parametrize(("settings", "env_change", "args", "message"), [
    ({"databases": [{"name": "a", "url_env": "SHARD_ALPHA_URL"}, {"name": "a", "url_env": "SHARD_BETA_URL"}]},
     {}, (), "environments.staging.databases[1].name: duplicate database name 'a'"),
    ({}, {"SHARD_BETA_URL": ""}, (), "environments.staging.databases[1].url_env: no database URL for 'beta'"),
    ({"parallel": 0}, {}, (), "environments.staging.parallel: expected a whole number of 1 or more, got 0"),
    ({"fleet_policy": "abort"}, {}, (), "environments.staging.fleet_policy: expected continue or rollback"),
    ({"databases": [{"name": "a", "url": "postgres://u:pw@h/db"}]}, {}, (),
     "environments.staging.databases[0].url: unknown key 'url'"),
    ({}, {}, ("--database", "delta"), "--database: unknown database 'delta' in environment 'staging'"),
    ({}, {}, ("--url", "postgres://localhost/x"), "--url: environment 'staging' is a fleet"),
])
def test_bad_fleet_config_is_one_line_and_changes_nothing(shards, settings, env_change, args, message):
    shards.configure(**settings)
    result = shards.run("-e", "staging", "up", *args, env=shards.env(**env_change))
    assert result.code == 2, result.text
    errors = result.err.strip().splitlines()
    assert len(errors) == 1 and message in errors[0], result.err
    assert all(applied(u) == [] for u in shards.urls.values())
    assert "pw" not in result.text


def test_a_command_for_one_database_needs_one(shards):
    result = shards.run("-e", "staging", "dump")
    assert result.code == 2
    assert "dump works on one database; environment 'staging' has 3 (alpha, beta, gamma)" in result.err


def test_the_action_publishes_the_fleet_table(shards, tmp_path):
    result = shards.run("-e", "staging", "up", "--run-log", str(tmp_path / "run.json"))
    assert result.code == 1
    outputs, summary = tmp_path / "out.txt", tmp_path / "summary.md"
    values = github.publish(action="up", environment="staging", exit_code=1, run_log=tmp_path / "run.json",
                            environ={"GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary)},
                            out=io.StringIO())
    assert values["outcome"] == "failed" and "alpha:0001_one.sql" in values["applied"]
    text = summary.read_text(encoding="utf-8")
    assert "3 databases" in text and "| beta |" in text
    assert (tmp_path / "run.alpha.json").is_file()


def test_the_variable_picks_as_a_ci_matrix_sets_it(shards):
    result = shards.run("-e", "staging", "up", env=shards.env(ORCHESTRATOR_DATABASE="alpha,gamma"))
    assert result.code == 0, result.text
    assert list(rows(fleet_log(result.out))) == ["alpha", "gamma"]
    assert applied(shards.urls["beta"]) == []
