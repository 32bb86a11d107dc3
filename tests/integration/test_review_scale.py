"""A migration far larger than the run log keeps: the dry run still shows every statement,
the run log keeps the first ones with the size, SHA-256 and a note, and what reads the run
log (the step summary, the PR comment) stays within GitHub's limits.  The embedded
PostgreSQL and the CLI in-process; a few-MB file keeps the test short."""

from __future__ import annotations

import hashlib
import json

from support.project import ok

from orchestrator import github, prcomment, runlog

ROWS = 60_000  # about 3.7 MB of SQL: over the run log's bound, a few seconds to lint


def _statements() -> list[str]:
    create = "CREATE TABLE seed (id bigint PRIMARY KEY, name text, email text)"
    rows = [f"INSERT INTO seed VALUES ({i}, 'user number {i}', 'user{i}@example.com')" for i in range(ROWS)]
    return [create, *rows]


def test_a_big_migration_is_cut_in_the_run_log_but_whole_in_the_dry_run(project):
    statements = _statements()
    project.add("0001", ";\n".join(statements) + ";\n", "DROP TABLE seed;", name="seed")
    log = project.root / "run.json"
    r = ok(project.run("up", "--dry-run", "--run-log", str(log)))
    assert statements[-1] in r.out  # the dry run prints every statement

    doc = json.loads(log.read_text())
    entry = doc["plan"]["migrations"][0]
    whole = "".join(f"{s};\n\n" for s in statements)
    assert entry["sql_cut"] is True
    assert entry["sql_size"] == len(whole.encode())
    assert entry["sql_sha256"] == hashlib.sha256(whole.encode()).hexdigest()
    assert entry["sql"].startswith(whole[:1000])
    kept, note = entry["sql"].rsplit(";\n\n", 1)
    assert whole.startswith(kept + ";\n\n")  # whole statements only
    assert note.startswith("-- [orchestrator] cut here") and runlog.WHOLE_SQL in note
    assert len(log.read_bytes()) < 2 * 2**20

    summary = log.with_suffix(".md").read_text()
    assert len(summary.encode()) < 2**20
    assert "(SQL cut)" in summary and entry["sql_sha256"] in summary and runlog.WHOLE_SQL in summary

    step_summary = github.summary_from_run_log(doc)
    assert len(step_summary.encode()) <= github.SUMMARY_LIMIT and runlog.WHOLE_SQL in step_summary

    comment = prcomment.body(prcomment.Report(doc), prcomment.Where(repository="acme/shop", sha="0" * 40,
                                                                    repo_root=project.root))
    assert len(comment) <= prcomment.BUDGET and runlog.WHOLE_SQL in comment


def test_a_small_migration_is_whole_in_the_run_log(project):
    project.add("0001", "CREATE TABLE small (id int);", "DROP TABLE small;", name="small")
    log = project.root / "run.json"
    ok(project.run("up", "--dry-run", "--run-log", str(log)))
    entry = json.loads(log.read_text())["plan"]["migrations"][0]
    assert entry["sql"] == "CREATE TABLE small (id int);\n\n"
    assert entry["sql_cut"] is False and entry["sql_size"] == len(entry["sql"])
    assert entry["sql_sha256"] == hashlib.sha256(entry["sql"].encode()).hexdigest()
