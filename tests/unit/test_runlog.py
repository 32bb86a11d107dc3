"""The run log's own rules, on files in a temporary directory (no database)."""

from __future__ import annotations

import json

from orchestrator import runlog


def cut_off(directory, environment: str, database: str | None) -> str:
    """A run log left as a killed process leaves it: running, journal beside it, its process gone."""
    log = runlog.RunLog(environment, "up", False, database)
    path = directory / f"{log.run_id}.json"
    log.open(path)
    doc = json.loads(path.read_text())
    doc["process"]["pid"] = 2**22 + 12345  # above Linux's pid_max: no such process
    path.write_text(json.dumps(doc))
    return log.run_id


def test_a_cut_off_run_is_reported_to_the_next_run_on_the_same_database_only(tmp_path):
    alpha = cut_off(tmp_path, "production", "alpha")
    single = cut_off(tmp_path, "production", None)
    assert runlog.unfinished_runs(tmp_path, "staging") == []
    assert runlog.unfinished_runs(tmp_path, "production", "beta") == []  # another member's, not beta's
    assert [d["run_id"] for d in runlog.unfinished_runs(tmp_path, "production", "alpha")] == [alpha]
    assert [d["run_id"] for d in runlog.unfinished_runs(tmp_path, "production")] == [single]
    assert runlog.unfinished_runs(tmp_path, "production", "alpha") == []  # closed as interrupted: reported once
    closed = json.loads((tmp_path / f"{alpha}.json").read_text())
    assert (closed["outcome"], closed["database"]) == ("interrupted", "alpha")
