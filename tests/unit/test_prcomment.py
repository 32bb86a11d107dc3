"""The sticky pull-request comment's body (orchestrator.prcomment), from a recorded run log:
the plan hash, the files, the lint findings with links to their lines, the SQL folded in
<details>, the size cap and redaction.  The API calls: integration/test_prcomment_api.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from orchestrator import prcomment
from orchestrator.redaction import MASK, isolated, register_secret

EXAMPLES = Path(__file__).parent / "prcomment_examples"
SHA = "5d1f0e7c9a3b2d4e6f8091a2b3c4d5e6f7a8b9c0"
ROOT = Path("/home/runner/work/shop/shop")  # where the recorded run ran
WHERE = prcomment.Where(repository="acme/shop", sha=SHA, repo_root=ROOT,
                        run_url="https://github.com/acme/shop/actions/runs/42")
BLOB = f"https://github.com/acme/shop/blob/{SHA}"


@pytest.fixture
def report() -> prcomment.Report:
    return prcomment.load(EXAMPLES / "run.json", verify_output=EXAMPLES / "verify.txt", verify_exit_code=0)


def test_body_from_a_recorded_run_log(report):
    doc = json.loads((EXAMPLES / "run.json").read_text())
    text = prcomment.body(report, WHERE)
    assert text.startswith(prcomment.MARKER + "\n")
    assert f"plan hash `{doc['plan']['hash']}`" in text
    assert "from version `0002` to `0004`" in text
    for m in doc["plan"]["migrations"]:  # every file, linked, and its SQL folded
        assert f"[{m['file']}]({BLOB}/{m['file']})" in text
        assert f"<details><summary>SQL of <code>{m['file']}</code></summary>" in text
        assert m["sql"].strip().splitlines()[0] in text
    assert "**Verify:** ✅ passed" in text
    assert "<details><summary>Verify output</summary>" in text and "== 1/3 apply each" in text
    assert "[workflow run](https://github.com/acme/shop/actions/runs/42)" in text
    assert SHA[:12] in text


def test_findings_link_to_their_lines_relative_to_the_repository_root(report):
    text = prcomment.body(report, WHERE)
    assert "### Lint: 0 error(s), 1 warning(s)" in text
    # the finding's path is absolute in the run log: the link is relative to the root
    assert f"[db/migrations/0004_bad.sql:3]({BLOB}/db/migrations/0004_bad.sql#L3)" in text
    assert "`index-not-concurrent`" in text and "/home/runner" not in text


def test_paths_under_a_working_directory(report):
    where = prcomment.Where(repository="acme/shop", sha=SHA, repo_root=ROOT.parent, project_dir="shop")
    text = prcomment.body(report, where)
    assert f"{BLOB}/shop/db/migrations/0003_add_customer_tags.sql)" in text  # plan: relative to the project
    assert f"{BLOB}/shop/db/migrations/0004_bad.sql#L3)" in text  # finding: absolute


def test_lint_json_replaces_the_run_logs_findings(tmp_path):
    lint = [{"rule": "ban-drop-table", "severity": "error", "file": str(ROOT / "db/migrations/0004_bad.sql"),
             "line": 7, "column": 1, "message": "DROP TABLE | loses data", "suppressed": False},
            {"rule": "require-lock-timeout", "severity": "warning", "file": str(ROOT / "db/migrations/0004_bad.sql"),
             "line": 2, "column": 1, "message": "m", "suppressed": True, "reason": "small table"}]
    (tmp_path / "lint.json").write_text(json.dumps(lint))
    report = prcomment.load(EXAMPLES / "run.json", lint_json=tmp_path / "lint.json", verify_exit_code=1)
    text = prcomment.body(report, WHERE)
    assert "### Lint: 1 error(s), 0 warning(s), 1 ignored" in text
    assert f"({BLOB}/db/migrations/0004_bad.sql#L7)" in text and "DROP TABLE \\| loses data" in text
    assert "ignored (small table)" in text and "index-not-concurrent" not in text
    assert "**Verify:** ❌ failed (exit code 1)" in text


def test_missing_inputs_are_said(tmp_path):
    text = prcomment.body(prcomment.load(tmp_path / "none.json", verify_output=tmp_path / "none.txt"), WHERE)
    assert "**Plan:** none" in text and "**Verify:** not run" in text and "No findings." in text


def test_sql_with_backticks_keeps_its_fence(report):
    report.run_log["plan"]["migrations"][0]["sql"] = "SELECT '```';\n"
    text = prcomment.body(report, WHERE)
    assert "````sql\nSELECT '```';\n````" in text


def test_body_stays_under_githubs_limit(report):
    big = copy.deepcopy(report)
    migration = big.run_log["plan"]["migrations"][0]
    big.run_log["plan"]["migrations"] = [dict(migration, file=f"db/migrations/{i:04}_big.sql",
                                              sql="INSERT INTO t VALUES (1);\n" * 4_000) for i in range(30)]
    big.findings = big.findings * 2_000
    big.verify_output = "Applied: x.sql in 1.0ms\n" * 20_000
    untrimmed = prcomment.render(big, WHERE)
    assert len(untrimmed) > 10 * prcomment.LIMIT
    text = prcomment.body(big, WHERE)
    assert len(text) <= prcomment.BUDGET < prcomment.LIMIT
    assert text.startswith(prcomment.MARKER)
    assert "see the run-log artifact" in text
    assert text.count("db/migrations/0029_big.sql") >= 1  # every file still listed


def test_sql_is_trimmed_before_anything_else(report):
    report.run_log["plan"]["migrations"][0]["sql"] = "SELECT 1;\n" * 7_000  # 70,000 characters
    text = prcomment.body(report, WHERE)
    assert len(text) <= prcomment.BUDGET
    assert "more characters of SQL: see the run-log artifact" in text
    assert "<details><summary>SQL of" in text and "index-not-concurrent" in text


def test_hard_cut_when_nothing_else_is_left(report):
    report.findings = [dict(report.findings[0], message="x" * 5_000)] * 40
    text = prcomment.body(report, WHERE, limit=20_000)
    assert len(text) <= 20_000 and text.endswith("run-log artifact)\n")


def test_secrets_are_redacted(report):
    with isolated():
        register_secret("hunter2-s3cret")
        report.run_log["plan"]["migrations"][0]["sql"] = "CREATE ROLE app PASSWORD 'hunter2-s3cret';\n"
        report.verify_output = "connecting to postgres://app:pw-in-url@db.internal/app\n"
        text = prcomment.body(report, WHERE)
    assert "hunter2-s3cret" not in text and "pw-in-url" not in text
    assert text.count(MASK) >= 2


def test_fork_writes_the_summary_and_makes_no_call(report, tmp_path):
    summary = tmp_path / "summary.md"
    env = {"GITHUB_TOKEN": "ghs_example", "GITHUB_STEP_SUMMARY": str(summary)}
    done = prcomment.publish(report, WHERE, number=7, head_repository="someone/shop", env=env,
                             api_url="http://127.0.0.1:9")  # a connection would fail this unit test
    assert done == "summary"
    assert "plan hash" in summary.read_text()


def test_print_shows_the_body(capsys):
    env = {"GITHUB_REPOSITORY": "acme/shop", "ORCH_HEAD_SHA": SHA}
    assert prcomment.main(["--run-log", str(EXAMPLES / "run.json"), "--repo-root", str(ROOT), "--print"], env) == 0
    out = capsys.readouterr().out
    assert out.startswith(prcomment.MARKER) and f"{BLOB}/db/migrations/0004_bad.sql#L3" in out


def test_finds_its_inputs_among_the_actions_artifacts(tmp_path):
    """db-pr-check.yml downloads the check job's artifacts, one directory each (run.sh names them)."""
    recorded = json.loads((EXAMPLES / "run.json").read_text())
    base = tmp_path / "orchestrator-dev-up-check-attempt1-20260101T000000Z-aaaa"
    plan = tmp_path / "orchestrator-dev-up-check-attempt1-20260101T000100Z-bbbb"
    verify = tmp_path / "orchestrator-dev-verify-check-attempt1-20260101T000050Z-cccc"
    for d in (base, plan, verify):
        d.mkdir()
        (d / "output.txt").write_text(f"output of {d.name}\n")
    (base / "run.json").write_text(json.dumps(dict(recorded, dry_run=False, plan=None)))
    (plan / "run.json").write_text(json.dumps(recorded))
    assert prcomment.find_artifacts(tmp_path) == (plan / "run.json", verify / "output.txt")
    assert prcomment.find_artifacts(tmp_path / "missing") == (None, None)
