"""The fleet's step summary and outputs, from a fleet run log document (inline)."""

from __future__ import annotations

from orchestrator import github

DOC = {
    "schema": github.FLEET_SCHEMA, "action": "up", "environment": "production", "policy": "rollback",
    "parallel": 2, "outcome": "failed", "exit_code": 1, "signals": [],
    "databases": [
        {"database": "eu-1", "outcome": "rolled_back", "exit_code": 1, "applied": [], "backup": "s3://b/k1",
         "error": "rolled back by the fleet", "run_log": "/r/f.eu-1.json"},
        {"database": "us|1", "outcome": "success", "exit_code": 0, "applied": ["db/migrations/0002_tags.sql"],
         "backup": None, "error": None, "run_log": "/r/f.us-1.json"},
        {"database": "ap-1", "outcome": "not_started", "exit_code": None, "applied": [], "backup": None,
         "error": None, "run_log": None},
    ],
}


def test_one_row_per_database():
    text = github.fleet_markdown(DOC)
    rows = [line for line in text.splitlines() if line.startswith("| ")][2:]
    assert rows == [
        "| eu-1 | ↩️ failed and rolled back | 1 | - | s3://b/k1 | f.eu-1.json |",
        "| us\\|1 | ✅ success | 0 | `0002_tags.sql` | - | f.us-1.json |",
        "| ap-1 | not_started | - | - | - | - |",
    ]
    assert text.startswith("## orchestrator up on production: 3 databases, ❌ failed")
    assert "- **eu-1**: rolled back by the fleet" in text


def test_outputs_name_each_database():
    values = github.fleet_outputs(DOC, "/r/f.json")
    assert set(values) == set(github.OUTPUT_NAMES)
    assert (values["outcome"], values["exit-code"], values["applied"], values["rolled-back"]) == (
        "failed", "1", "us|1:0002_tags.sql", "true")
    assert values["applied-count"] == "1" and values["run-log"] == "/r/f.json"
