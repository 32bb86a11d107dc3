"""RDS snapshots as the backup, against moto's RDS over real HTTP (the same moto server as
S3); the database deployed to is the embedded PostgreSQL, only the snapshot goes to moto."""

from __future__ import annotations

import pytest
from support import rds, s3
from support.postgres import fingerprint, tables, versions
from support.runs import run_log, step


def deploy_env(project, endpoint: str, backup: str, name: str = "staging") -> dict[str, str]:
    project.configure({name: {"backup": backup}})
    return s3.environment(project.env(), endpoint)


@pytest.mark.parametrize("kind", ["instance", "cluster"])
def test_a_deploy_takes_a_tagged_snapshot_that_is_listed_and_restores_as_steps(project, s3_endpoint, kind):
    source = rds.new_instance(s3_endpoint) if kind == "instance" else rds.new_cluster(s3_endpoint)
    env = deploy_env(project, s3_endpoint, f"rds-snapshot://{source}")
    project.add("001", "create table accounts (id int primary key);", "drop table accounts;")

    r = project.run("up", "-e", "staging", env=env)

    assert r.code == 0, r.text
    doc = run_log(project, r)
    snap = doc["backup"]
    assert step(doc, "backup")["status"] == "ok" and snap["arn"] in str(step(doc, "backup"))
    assert snap["kind"] == kind and snap["source"] == source and snap["status"] == "available"
    rds_kind = "cluster-snapshot" if kind == "cluster" else "snapshot"
    assert snap["arn"].startswith("arn:aws:rds:") and f":{rds_kind}:{snap['id']}" in snap["arn"]
    assert rds.tags(s3_endpoint, snap["arn"]) == {
        "orchestrator:environment": "staging",
        "orchestrator:database": project.url.database,
        "orchestrator:run-id": doc["run_id"],
        "orchestrator:plan-hash": doc["plan"]["hash"],
        "orchestrator:schema-version": "",
    }

    listed = project.run("backups", "list", "-e", "staging", env=env)
    assert listed.code == 0 and snap["arn"] in listed.out and doc["run_id"] in listed.out

    before = fingerprint(project.url)
    restored = project.run("restore", "-e", "staging", "--backup", snap["id"], "--yes", env=env)
    assert restored.code == 2, restored.text
    command = ("aws rds restore-db-cluster-from-snapshot" if kind == "cluster"
               else "aws rds restore-db-instance-from-db-snapshot")
    assert command in restored.out and snap["id"] in restored.out
    assert "cannot restore it in place" in restored.err and len(restored.err.strip().splitlines()) == 1
    assert fingerprint(project.url) == before and versions(project.url) == ["001"]
    dry = project.run("restore", "-e", "staging", "--backup", snap["url"], "--dry-run", env=env)
    assert dry.code == 0 and command in dry.out
    history = project.run("history", "-e", "staging", env=env)  # no store of run logs to read: said so
    assert history.code == 2 and "RDS snapshots, which hold no run logs" in history.err


def test_a_deploy_that_needs_a_restore_prints_the_snapshots_steps(project, s3_endpoint):
    source = rds.new_instance(s3_endpoint)
    env = deploy_env(project, s3_endpoint, f"rds-snapshot://{source}")
    project.add("001", "create table accounts (id int primary key, balance int);", "drop table accounts;")
    assert project.run("up", "-e", "staging", env=env).code == 0
    project.add("002", "update accounts set balance = 1;", "update accounts set no_such_column = 0;", name="bump")
    project.add("003", "select * from no_such_table;", "select 1;", name="broken")

    r = project.run("up", "-e", "staging", env=env)

    assert r.code == 3, r.text
    doc = run_log(project, r)
    assert doc["outcome"] == "needs_restore"
    assert doc["restore_command"].startswith("aws rds restore-db-instance-from-db-snapshot")
    assert doc["backup"]["id"] in doc["restore_command"] and doc["restore_command"] in r.err
    assert "orchestrator restore" not in r.err


@pytest.mark.parametrize(("backup", "message"), [
    ("rds-snapshot://", "rds-snapshot:// names no DB instance or cluster"),
    ("rds-snapshot://9-bad--id", "is not an RDS DB instance or cluster identifier"),
    ("rds-snapshot://no-such-db", "no RDS DB instance or Aurora cluster 'no-such-db'"),
])
def test_a_bad_snapshot_setting_is_one_line_exit_2_and_nothing_changes(project, s3_endpoint, backup, message):
    env = deploy_env(project, s3_endpoint, backup)
    project.add("001", "create table accounts (id int primary key);", "drop table accounts;")

    r = project.run("up", "-e", "staging", env=env)

    assert r.code == 2, r.text
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "environments.staging.backup" in lines[0] and message in lines[0]
    assert "accounts" not in tables(project.url)  # nothing applied
