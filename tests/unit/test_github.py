"""orchestrator.github: step outputs, the step summary, masks and annotations for GitHub Actions."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from support.action_runner import parse_output_file

from orchestrator import console, github
from orchestrator.runlog import RunLog


def run_log_doc(outcome: str = "success", *, sql: str = "create table a (id int);") -> dict:
    """A run log as the pipeline writes it (built with RunLog itself)."""
    log = RunLog("staging", "up", outcome == "dry_run")
    log.plan = {
        "direction": "up",
        "hash": "ab" * 32,
        "from_version": "0003",
        "target_version": "0004",
        "migrations": [
            {
                "version": "0004",
                "file": "/repo/db/migrations/0004_a.sql",
                "checksum": "x",
                "transaction": True,
                "sql": sql,
            }
        ],
    }
    for name in ("review", "backup", "apply", "health"):
        log.step(name).end("ok")
    log.backup = {
        "url": "s3://bucket/staging/20260101T000000Z-abcd.dump",
        "size": 4096,
        "sha256": "f" * 64,
        "created": "2026-01-01T00:00:00Z",
        "seconds": 1.5,
    }
    log.health["after"] = [{"probe": "http", "number": 1, "ok": True, "detail": "200", "seconds": 0.01}]
    log.migration("0004", "0004_a.sql", "up", 0.01, "applied")
    if outcome == "rolled_back":
        log.steps["health"].status = "failed"
        log.step("rollback").end("ok")
        log.migration("0004", "0004_a.sql", "down", 0.01, "reverted")
        log.rollback = {"reason": "health check failed", "migrations": ["0004_a.sql"], "result": "ok"}
    log.finish(
        outcome,
        {"success": 0, "dry_run": 0, "rolled_back": 1}[outcome],
        None if outcome != "rolled_back" else "health check failed; rolled back 1 migration(s)",
    )
    return json.loads(log.to_json())


# -- GITHUB_OUTPUT ---------------------------------------------------------------------


def test_outputs_use_a_random_heredoc_delimiter(tmp_path):
    path = tmp_path / "output"
    nasty = "line one\nEOF\noutcome=success\nghadelimiter_\n"
    github.write_outputs({"outcome": "failed", "error": nasty, "empty": ""}, path)
    github.write_outputs({"second": "x"}, path)
    text = path.read_text()
    delimiters = re.findall(r"^\w[\w-]*<<(ghadelimiter_[0-9a-f-]{36})$", text, re.MULTILINE)
    assert len(delimiters) == 4 and len(set(delimiters)) == 4
    assert parse_output_file(text) == {"outcome": "failed", "error": nasty, "empty": "", "second": "x"}


# -- masks -----------------------------------------------------------------------------


def test_mask_prints_the_password_of_every_database_url_both_spellings():
    environ = {
        "DATABASE_URL": "postgres://app:p%40ss%2Fw0rd@db.internal:5432/flowstate?sslmode=require",
        "PRODUCTION_DATABASE_URL": "postgresql://deploy:Plain-Secret-1@prod-db/flowstate",
        "STAGING_DATABASE_URL": "postgres://nopassword@staging-db/flowstate",
        "OTHER": "postgres://x:not-a-db-url-var@h/d",
        "EMPTY_DATABASE_URL": "",
    }
    out = io.StringIO()
    assert github.mask_database_urls(environ, out) == 3
    lines = out.getvalue().splitlines()
    assert lines == ["::add-mask::p%2540ss%252Fw0rd", "::add-mask::p@ss/w0rd", "::add-mask::Plain-Secret-1"]


def test_mask_covers_a_password_given_as_a_parameter_or_in_pgpassword():
    environ = {"DATABASE_URL": "postgres://app@db/flowstate?sslmode=require&password=Qu%21et-7",
               "PGPASSWORD": "From-The-Env-8"}
    assert github.database_url_secrets(environ) == ["From-The-Env-8", "Qu%21et-7", "Qu!et-7"]


def test_scrub_removes_url_passwords_and_known_secrets():
    text = "postgres://app:Secret-99@h/db failed; password Secret-99 again"
    assert "Secret-99" not in github.scrub(text, ["Secret-99"])


# -- annotations -----------------------------------------------------------------------


def test_annotations_are_escaped_deduplicated_and_capped():
    out = io.StringIO()
    notes = github.Annotations(out=out)
    assert notes.emit(
        "error",
        "bad: 100%\nsecond line",
        file="db/migrations/0004_a,b.sql",
        line=7,
        title="migration up failed",
    )
    assert not notes.emit("error", "bad: 100%\nsecond line", file="db/migrations/0004_a,b.sql", line=7)
    for n in range(15):
        notes.emit("error", f"problem {n}")
    notes.emit("warning", "slow")
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "::error file=db/migrations/0004_a%2Cb.sql,line=7,title=migration up failed::"
        "bad: 100%25%0Asecond line"
    )
    assert sum(line.startswith("::error") for line in lines) == 10
    assert notes.dropped == {"error": 6} and "::warning::slow" in lines


def test_console_annotations_only_in_github_actions_and_capped(monkeypatch, capsys):
    console._annotations.cache_clear()  # a fresh per-process counter for this test
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    console.annotate("error", "quiet")
    console.warn("plain warning")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "warning: plain warning\n"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    for n in range(12):
        console.annotate("error", f"failed {n}", file="db/migrations/0001_init.sql", line=n + 1)
    console.annotate("error", "failed 0", file="db/migrations/0001_init.sql", line=1)  # duplicate
    console.warn("no backup taken (--skip-backup)")
    captured = capsys.readouterr()
    # 9, not GitHub's 10: the action's publish adds the outcome's annotation in the same step
    assert captured.out.count("::error file=db/migrations/0001_init.sql,line=") == github.CLI_ANNOTATION_CAP == 9
    assert captured.err == "::warning::no backup taken (--skip-backup)\n"


def test_console_annotations_name_files_relative_to_the_repository(monkeypatch, capsys, tmp_path):
    """With the action's working-directory set, the CLI runs in <repo>/<dir>: its paths
    (relative to that directory, or absolute) are given to GitHub relative to the repository."""
    console._annotations.cache_clear()
    project = tmp_path / "services" / "api"
    project.mkdir(parents=True)
    monkeypatch.chdir(project)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    console.annotate("error", "relative", file="db/migrations/0001_a.sql", line=2)
    console.annotate("warning", "absolute", file=str(project / "db" / "migrations" / "0002_b.sql"), line=3)
    console.annotate("warning", "outside", file="/elsewhere/x.sql", line=1)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "::error file=services/api/db/migrations/0001_a.sql,line=2::relative",
        "::warning file=services/api/db/migrations/0002_b.sql,line=3::absolute",
        "::warning file=/elsewhere/x.sql,line=1::outside",
    ]
    console._annotations.cache_clear()


# -- the step summary ------------------------------------------------------------------


def test_summary_is_cut_to_the_limit_without_leaving_a_code_block_open(tmp_path):
    text = "## title\n\n```sql\n" + "select 1;\n" * 50_000 + "```\n"
    cut = github.fit(text, 10_000)
    assert len(cut.encode()) <= 10_000 and cut.count("```") % 2 == 0 and "summary cut" in cut
    path = tmp_path / "summary"
    path.write_text("x" * 5000)
    github.write_summary(text, path, limit=8000)
    assert path.stat().st_size <= 8000


def test_huge_sql_is_shortened_but_the_chart_and_outcome_stay():
    doc = run_log_doc(sql="insert into t values (1);\n" * 60_000)  # ~1.5 MB of SQL
    summary = github.summary_from_run_log(doc)
    assert len(summary.encode()) <= github.SUMMARY_LIMIT
    assert "```mermaid" in summary and "success" in summary.splitlines()[0]
    assert "more characters in the run log artifact" in summary


def test_outputs_from_a_rolled_back_run():
    doc = run_log_doc("rolled_back")
    out = github.outputs_from_run_log(doc, "/tmp/run.json")
    assert out == {
        "outcome": "rolled_back",
        "exit-code": "1",
        "plan-hash": "ab" * 32,
        "applied": "",
        "rolled-back": "true",
        "backup-url": "s3://bucket/staging/20260101T000000Z-abcd.dump",
        "run-log": "/tmp/run.json",
        "pending-count": str(len(doc["plan"]["migrations"])),
        "applied-count": "0",
        "current-version": doc["plan"]["from_version"] or "",
        "target-version": doc["plan"]["target_version"] or "",
        "plan-json": "",
    }
    assert set(out) == set(github.OUTPUT_NAMES)
    ok = github.outputs_from_run_log(run_log_doc("success"))
    assert ok["applied"] == "0004_a.sql" and ok["rolled-back"] == "false" and ok["applied-count"] == "1"


def test_publish_writes_the_plan_json_with_repository_paths(tmp_path, monkeypatch, capsys):
    project = tmp_path / "svc"
    project.mkdir()
    monkeypatch.chdir(project)
    doc = run_log_doc("dry_run")
    for m in doc["plan"]["migrations"]:
        m["file"] = f"db/migrations/{Path(m['file']).name}"
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    env = {
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "GITHUB_WORKSPACE": str(tmp_path),
    }
    github.publish(
        action="up", environment="staging", exit_code=0, run_log=path, plan_json=tmp_path / "plan.json", environ=env
    )
    outputs = parse_output_file((tmp_path / "out").read_text())
    assert outputs["plan-json"] == str(tmp_path / "plan.json")
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["hash"] == doc["plan"]["hash"] and plan["pending_count"] == len(doc["plan"]["migrations"])
    assert outputs["pending-count"] == str(plan["pending_count"])
    assert all(m["file"].startswith("svc/db/migrations/") for m in plan["migrations"])
    assert "svc/db/migrations/" in (tmp_path / "summary").read_text()


def test_publish_a_run_log(tmp_path, capsys):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(run_log_doc("rolled_back")))
    env = {"GITHUB_OUTPUT": str(tmp_path / "out"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    github.publish(action="up", environment="staging", exit_code=1, run_log=path, environ=env)
    outputs = parse_output_file((tmp_path / "out").read_text())
    assert outputs["outcome"] == "rolled_back" and outputs["exit-code"] == "1"
    summary = (tmp_path / "summary").read_text()
    assert "```mermaid" in summary and "### Rollback" in summary and "### Backup" in summary
    assert "| 1 | http | ✅ |" in summary  # the health attempts, with their probe
    assert capsys.readouterr().out.startswith(
        "::error title=orchestrator up on staging%3A rolled_back::health check"
    )


def test_publish_text_output_of_verify(tmp_path, capsys):
    output = tmp_path / "output.txt"
    output.write_text(
        "::group::Review\n== 1/3 apply each\n::endgroup::\n::error file=a.sql,line=2::bad%0Athing\n"
        "verify: FAILED (1 problem(s))\nerror: postgres://u:Hidden-Pw-1@h/d unreachable\n"
    )
    env = {
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "DATABASE_URL": "postgres://u:Hidden-Pw-1@h/d",
    }
    values = github.publish(action="verify", environment="dev", exit_code=1, output_file=output, environ=env)
    assert values["outcome"] == "failed" and values["run-log"] == "" and values["rolled-back"] == "false"
    summary = (tmp_path / "summary").read_text()
    assert summary.startswith("## orchestrator verify on dev: ❌ failed")
    assert "==> Review" in summary and "error: bad\nthing" in summary and "verify: FAILED" in summary
    assert "Hidden-Pw-1" not in summary and "::" not in summary
    assert "Hidden-Pw-1" not in capsys.readouterr().out


def test_long_text_output_keeps_its_end():
    text = "".join(f"line {n}\n" for n in range(200_000)) + "verify: passed\n"
    summary = github.summary_from_output("verify", "dev", 0, text, limit=50_000)
    assert len(summary.encode()) <= 50_000
    assert "verify: passed" in summary and "beginning is left out" in summary


def test_a_failing_migration_in_verify_is_marked_on_its_line(tmp_path, capsys):
    """verify has no run log: the CLI's last error line gives the file and line."""
    output = tmp_path / "output.txt"
    output.write_text(
        "== 1/3 apply each\nApplying: 0004_x.sql\n"
        f'error: {tmp_path}/db/migrations/0004_x.sql:3: up failed: relation "nope" does not exist (SQLSTATE 42P01)\n'
    )
    env = {
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "s"),
        "GITHUB_WORKSPACE": str(tmp_path),
    }
    github.publish(action="verify", environment="dev", exit_code=1, output_file=output, environ=env)
    assert capsys.readouterr().out == (
        "::error file=db/migrations/0004_x.sql,line=3,title=migration up failed::"
        'relation "nope" does not exist (SQLSTATE 42P01)\n'
    )
