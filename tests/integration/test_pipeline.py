"""The deploy pipeline on real parts: embedded PostgreSQL, S3 over HTTP (moto server), a
real /health/db endpoint, and the CLI in-process (``orchestrator.cli.main``)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from support.net import free_port
from support.postgres import fingerprint, sql, tables, versions
from support.runs import run_log, step
from support.s3 import FAKE_SECRET_KEY


def test_healthy_deploy_records_everything(staging):
    staging.add("0004", "alter table customers add column notes text;", "alter table customers drop column notes;", name="notes")
    r = staging.run("up", "-e", "staging")
    assert r.code == 0, r.text
    assert versions(staging.url)[-1] == "0004"
    doc = run_log(staging, r)
    assert doc["outcome"] == "success" and doc["exit_code"] == 0
    assert [step(doc, n)["status"] for n in ("review", "backup", "apply", "health", "rollback", "record")] == [
        "ok", "ok", "ok", "ok", "skipped", "ok"]
    assert doc["plan"]["migrations"][0]["file"].endswith("0004_notes.sql")
    assert "add column notes" in doc["plan"]["migrations"][0]["sql"]
    assert doc["backup"]["url"].startswith(f"s3://{staging.bucket.name}/flowstate/staging/")
    assert doc["backup"]["schema_version"] == "0003"
    assert all(a["ok"] for a in doc["health"]["after"])
    assert [m["result"] for m in doc["migrations"]] == ["applied"]
    keys = staging.bucket.keys()
    dump_key = doc["backup"]["url"].removeprefix(f"s3://{staging.bucket.name}/")
    assert dump_key in keys and dump_key.removesuffix(".dump") + ".run.json" in keys
    md = (staging.root / ".orchestrator" / "runs" / f"{doc['run_id']}.md").read_text()
    assert "success" in md and "```mermaid" in md and "0004_notes.sql" in md


def test_rename_that_breaks_the_app_is_rolled_back(staging):
    before = fingerprint(staging.url)
    staging.add("0004", "-- orchestrator:ignore rename-column the app reads both names (it does not: the test)\n"
                "alter table users rename column full_name to display_name;",
                "alter table users rename column display_name to full_name;", name="rename")
    r = staging.run("up", "-e", "staging")
    assert r.code == 1, r.text
    doc = run_log(staging, r)
    assert doc["outcome"] == "rolled_back"
    assert step(doc, "health")["status"] == "failed"
    assert doc["rollback"]["result"] == "ok" and doc["rollback"]["migrations"] == ["0004_rename.sql"]
    assert len(doc["health"]["after"]) >= 2 and not any(a["ok"] for a in doc["health"]["after"][1:])
    assert all(a["ok"] for a in doc["health"]["after_rollback"])
    assert versions(staging.url) == ["0001", "0002", "0003"]
    assert fingerprint(staging.url) == before
    assert "full_name" in r.err or "display_name" in r.out + r.err


def test_third_of_three_fails_and_the_two_are_rolled_back(staging):
    before = fingerprint(staging.url)
    staging.add("0004", "create table a (id int);", "drop table a;", name="a")
    staging.add("0005", "create table b (id int);", "drop table b;", name="b")
    path = staging.add("0006", "create table c (id int);\nselect * from no_such_table;", "drop table c;", name="c")
    r = staging.run("up", "-e", "staging")
    assert r.code == 1, r.text
    assert f"{path.name}:3" in r.err
    doc = run_log(staging, r)
    assert doc["outcome"] == "rolled_back"
    assert doc["rollback"]["migrations"] == ["0005_b.sql", "0004_a.sql"]
    assert [(m["file"], m["result"]) for m in doc["migrations"]] == [
        ("0004_a.sql", "applied"), ("0005_b.sql", "applied"), ("0006_c.sql", "failed"),
        ("0005_b.sql", "reverted"), ("0004_a.sql", "reverted")]
    assert versions(staging.url) == ["0001", "0002", "0003"]
    assert fingerprint(staging.url) == before


def test_bucket_missing_applies_nothing(staging):
    config = staging.root / "db" / "orchestrator.yml"
    config.write_text(config.read_text().replace(staging.bucket.name, "no-such-bucket-x"))
    staging.add("0004", "create table a (id int);", "drop table a;", name="a")
    r = staging.run("up", "-e", "staging")
    assert r.code == 1, r.text
    assert "no-such-bucket-x" in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert versions(staging.url) == ["0001", "0002", "0003"]
    assert run_log(staging, r)["outcome"] == "failed"


def test_s3_unreachable_applies_nothing(staging):
    staging.add("0004", "create table a (id int);", "drop table a;", name="a")
    env = staging.env(AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}", AWS_MAX_ATTEMPTS="2")
    r = staging.run("up", "-e", "staging", env=env)
    assert r.code == 1, r.text
    assert versions(staging.url) == ["0001", "0002", "0003"]
    assert "a" not in tables(staging.url)


def test_irreversible_migration_failing_health_needs_restore(staging):
    before = fingerprint(staging.url)
    staging.add("0004", "update customers set name = 'changed';\ncreate table audit_new (id int);\n"
                "-- orchestrator:ignore drop-column the app stopped reading it (it did not: the test)\n"
                "alter table users drop column full_name;",
                "-- orchestrator:ignore empty-down a dropped column cannot come back", name="drop")
    r = staging.run("up", "-e", "staging")
    assert r.code == 3, r.text
    doc = run_log(staging, r)
    assert doc["outcome"] == "needs_restore"
    command = doc["restore_command"]
    assert command and command in r.err
    assert sql(staging.url, "select count(*) from customers where name = 'changed'") == [(1,)]
    args = shlex.split(command)
    assert args[0] == "orchestrator"
    restored = staging.run(*args[1:])
    assert restored.code == 0, restored.text
    assert fingerprint(staging.url) == before  # audit_new, which the failed run made, is gone too
    assert versions(staging.url) == ["0001", "0002", "0003"]


def test_app_unhealthy_before_deploy_applies_nothing(staging):
    staging.app.query = "select no_such_column from users"
    staging.add("0004", "create table a (id int);", "drop table a;", name="a")
    r = staging.run("up", "-e", "staging")
    assert r.code == 2, r.text
    assert "unhealthy before anything changed" in r.err
    assert versions(staging.url) == ["0001", "0002", "0003"]
    assert "a" not in tables(staging.url)
    assert not any(k.endswith(".dump") for k in staging.bucket.keys()[1:])  # only the fixture's backup


def test_expect_plan(staging):
    staging.add("0004", "create table a (id int);", "drop table a;", name="a")
    dry = staging.run("up", "-e", "staging", "--dry-run")
    assert dry.code == 0 and "create table a" in dry.out
    plan_hash = re.search(r"Plan hash: ([0-9a-f]{64})", dry.out)[1]
    staging.add("0005", "create table b (id int);", "drop table b;", name="b")  # changed after review
    r = staging.run("up", "-e", "staging", "--expect-plan", plan_hash)
    assert r.code == 2 and "plan changed" in r.err
    assert versions(staging.url) == ["0001", "0002", "0003"]
    (staging.migrations / "0005_b.sql").unlink()
    r = staging.run("up", "-e", "staging", "--expect-plan", plan_hash)
    assert r.code == 0, r.text
    assert versions(staging.url)[-1] == "0004"


def test_dry_run_changes_nothing_and_stores_nothing(staging):
    keys = staging.bucket.keys()
    staging.add("0004", "create table a (id int);", "drop table a;", name="a")
    r = staging.run("up", "-e", "staging", "--dry-run")
    assert r.code == 0, r.text
    assert run_log(staging, r)["outcome"] == "dry_run"
    assert staging.bucket.keys() == keys
    assert "a" not in tables(staging.url)


def test_skip_backup_refused_where_required(staging):
    staging.add("0004", "create table a (id int);", "drop table a;", name="a")
    r = staging.run("up", "-e", "staging", "--skip-backup")
    assert r.code == 2 and "backup_required" in r.err
    assert versions(staging.url) == ["0001", "0002", "0003"]


def test_rollback_pipeline_backs_up_and_checks_health(staging):
    r = staging.run("rollback", "-e", "staging")
    assert r.code == 0, r.text
    doc = run_log(staging, r)
    assert doc["plan"]["direction"] == "down"
    assert step(doc, "backup")["status"] == "ok" and step(doc, "health")["status"] == "ok"
    assert versions(staging.url) == ["0001", "0002"]


def test_backups_list_history_and_restore_dry_run(staging):
    staging.add("0004", "create table a (id int);", "drop table a;", name="a")
    assert staging.run("up", "-e", "staging").code == 0
    listing = staging.run("backups", "list", "-e", "staging")
    assert listing.code == 0, listing.text
    rows = [line for line in listing.out.splitlines() if "s3://" in line]
    assert len(rows) == 2 and "0003" in rows[0]  # newest first: taken before 0004
    hist = staging.run("history", "-e", "staging")
    assert hist.code == 0 and hist.out.count("success") == 2
    url = rows[0].split()[-1]
    dry = staging.run("restore", "-e", "staging", "--backup", url, "--dry-run")
    assert dry.code == 0, dry.text
    assert "TABLE public customers" in dry.out
    assert "a" in tables(staging.url)
    refused = staging.run("restore", "-e", "staging", "--backup", url)
    assert refused.code == 2 and "--yes" in refused.err
    missing = staging.run("restore", "-e", "staging", "--backup", "staging/nope.dump", "--yes")
    assert missing.code == 2


def test_no_secret_anywhere(staging, password_role):
    url = staging.url.dbmate_url().replace("postgres@", f"{password_role.user}:{password_role.password}@")
    staging.add("0004", "-- orchestrator:ignore rename-column the app reads both names (it does not: the test)\n"
                "alter table users rename column full_name to display_name;",
                "alter table users rename column display_name to full_name;", name="rename")
    env = staging.env(STAGING_DATABASE_URL=url)
    r = staging.run("up", "-e", "staging", env=env)
    assert r.code == 1, r.text
    doc_path = re.search(r"Run log: (\S+\.json)", r.out)[1]
    texts = [r.out, r.err, Path(doc_path).read_text(), Path(doc_path).with_suffix(".md").read_text()]
    for key in staging.bucket.keys():
        if key.endswith(".json"):
            texts.append(staging.bucket.read(key).decode())
    for text in texts:
        assert password_role.password not in text
        assert FAKE_SECRET_KEY not in text
