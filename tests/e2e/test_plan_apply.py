"""db-migrate.yml's plan → approve → apply, as a runner runs the two jobs' action steps.

The plan job's action step (a dry run) and then the apply job's (``expect_plan`` from the
plan job's ``plan-hash`` output, evaluated from the workflow as GitHub evaluates it) run in
bash as a runner runs them (``support/action_runner.py``) against the staging copy of the
embedded PostgreSQL, S3 over HTTP and /health/db.  The approval between them is GitHub's
(not run here).  The action's install step is given: its output is this interpreter, which
has orchestrator installed (``e2e/test_action.py`` runs the real install).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.action_runner import WORKFLOWS, interpolate, job_env, run_action
from support.action_runner import load_workflow as load
from support.postgres import versions

INPUTS = {"environment": "staging", "action": "up", "dry_run": False}


def run_job_step(job: str, project, tmp_path: Path, url: str, needs: dict | None = None):
    """The ``uses: ./`` step of ``job`` in db-migrate.yml, run as the runner runs it."""
    doc = load(WORKFLOWS / "db-migrate.yml")
    (step,) = [s for s in doc["jobs"][job]["steps"] if s.get("uses") == "./"]
    contexts = {
        "inputs": INPUTS,
        "secrets": {"DATABASE_URL": url},
        "vars": {},
        "github": {},
        "env": {},
        "needs": needs or {},
    }
    with_ = {k: interpolate(v, contexts) for k, v in step["with"].items()}
    env = {k: interpolate(v, contexts) for k, v in step["env"].items()}
    return with_, run_action(
        with_,
        workspace=project.root,
        runner_temp=tmp_path / "runner",
        files=tmp_path / job,
        env=job_env(**env),
        only={"preflight", "run"},
        given_outputs={"install": {"python": sys.executable}},
    )


def plan_job_outputs(run) -> dict:
    """The plan job's ``outputs:``, from its action step's outputs, as GitHub passes them on."""
    doc = load(WORKFLOWS / "db-migrate.yml")
    contexts = {"steps": {"db": {"outputs": run.outputs}}}
    return {k: interpolate(v, contexts) for k, v in doc["jobs"]["plan"]["outputs"].items()}


def add_notes(project) -> None:
    project.add(
        "0004",
        "alter table customers add column notes text;",
        "alter table customers drop column notes;",
        name="notes",
    )


def test_apply_runs_exactly_the_plan_that_was_shown(staging, tmp_path):
    add_notes(staging)
    url = staging.url.dbmate_url()
    with_, plan = run_job_step("plan", staging, tmp_path, url)
    assert with_["dry_run"] == "true" and not plan.failed, plan.log
    assert plan.outputs["outcome"] == "dry_run"
    outputs = plan_job_outputs(plan)
    assert len(outputs["plan-hash"]) == 64
    assert versions(staging.url) == ["0001", "0002", "0003"]  # the plan changed nothing

    with_, apply = run_job_step("apply", staging, tmp_path, url, needs={"plan": {"outputs": outputs}})
    assert with_["expect_plan"] == outputs["plan-hash"] and with_["dry_run"] == "false"
    assert apply.outputs["outcome"] == "success", apply.log
    assert apply.outputs["plan-hash"] == outputs["plan-hash"]
    assert apply.outputs["applied"] == "0004_notes.sql"
    assert versions(staging.url)[-1] == "0004"


def test_apply_refuses_when_the_database_moved_on_after_the_plan(staging, tmp_path):
    add_notes(staging)
    url = staging.url.dbmate_url()
    _, plan = run_job_step("plan", staging, tmp_path, url)
    outputs = plan_job_outputs(plan)
    assert plan.outputs["outcome"] == "dry_run" and len(outputs["plan-hash"]) == 64, plan.log

    # While the reviewers look, another run (a second trigger, queued before this apply)
    # applies 0004: the plan they saw is no longer what would run.
    other = subprocess.run(
        [sys.executable, "-m", "orchestrator", "-e", "staging", "up"],
        cwd=staging.root,
        env=job_env(DATABASE_URL=url),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert other.returncode == 0, other.stdout + other.stderr
    moved = versions(staging.url)
    assert moved[-1] == "0004"

    _, apply = run_job_step("apply", staging, tmp_path, url, needs={"plan": {"outputs": outputs}})
    assert apply.outputs["outcome"] == "refused", apply.log
    assert apply.outputs["exit-code"] == "2"
    assert apply.outputs["applied"] == ""
    assert apply.outputs["plan-hash"] != outputs["plan-hash"]
    assert versions(staging.url) == moved  # nothing ran
    assert outputs["plan-hash"] in apply.log
