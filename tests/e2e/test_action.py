"""The composite action (``action.yml``) run as a GitHub runner runs it.

Its ``run:`` steps are run in bash exactly as a runner runs them (see
``support/action_runner.py``), with the inputs that the workflows pass, against the
embedded PostgreSQL, S3 over HTTP (moto server) and a real /health/db endpoint.

The action's install step runs for real once per session (a virtual environment under
``RUNNER_TEMP`` built by pip from ``action/requirements.txt`` and the package), and again to
show that a second use in the same job reuses it; the other runs then name that environment
through the install step's test hook ``ORCH_PYTHON``, so that a file edited during the
session does not rebuild it.

The only steps not run are the ``uses:`` steps, ``actions/setup-python`` and
``actions/upload-artifact``: they need GitHub (mocked: what they would output is given, what
they would be given is checked).  setup-python is replaced by what it outputs (the path of a
Python interpreter: this interpreter's base), and for upload-artifact the tests check what
it would have been given (name and directory) and that the directory holds the run log
(JSON, Markdown) and the console output.  (The files themselves: ``unit/test_action_files.py``.)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import REPO
from support.action_runner import WORKFLOWS, all_steps, interpolate, job_env, run_action
from support.action_runner import load_workflow as load
from support.postgres import fingerprint, in_pg_sleep, sql, versions
from support.processes import wait_for


@pytest.fixture(scope="session")
def runner_temp(tmp_path_factory) -> Path:
    """RUNNER_TEMP shared by every run, as in one job: the action's venv is built once."""
    return tmp_path_factory.mktemp("runner-temp")


@pytest.fixture(scope="session")
def installed(runner_temp, tmp_path_factory) -> dict:
    """The action's install step, run for real once: a venv under RUNNER_TEMP from the pinned
    requirements and the package at GITHUB_ACTION_PATH (pip; about half a minute)."""
    step = install_step(runner_temp, tmp_path_factory.mktemp("install"))
    assert step.returncode == 0, step.stdout + step.stderr
    stamp = (runner_temp / "orchestrator-venv" / ".orchestrator-stamp").read_text()
    return {"python": step.outputs["python"], "log": step.stdout + step.stderr, "stamp": stamp}


def install_step(runner_temp: Path, work: Path):
    """The action's install step alone, run in ``work`` with this job's ``runner_temp``."""
    run = run_action(
        {"environment": "staging"},
        workspace=work,
        runner_temp=runner_temp,
        files=work / "files",
        env=job_env(),
        uses_outputs=_setup_python(),
        given_outputs=_setup_python(),  # setup-python is left out by `only`: its python-path
        only={"install"},
        timeout=600,
    )
    return run.step("install")


def _setup_python() -> dict:
    """What actions/setup-python outputs: the interpreter (here this one's base)."""
    return {"setup-python": {"python-path": getattr(sys, "_base_executable", sys.executable)}}


def test_install_step_builds_a_venv_of_its_own_and_reuses_it(installed, runner_temp, tmp_path):
    python = Path(installed["python"])
    assert python == runner_temp / "orchestrator-venv" / "bin" / "python"
    assert "No broken requirements found" in installed["log"]
    assert re.search(r"orchestrator \d+\.\d+", installed["log"])
    assert not (REPO / "build").exists() or "orchestrator" not in os.listdir(REPO / "build")
    step = install_step(runner_temp, tmp_path)
    assert step.returncode == 0, step.stdout + step.stderr
    stamp = (runner_temp / "orchestrator-venv" / ".orchestrator-stamp").read_text()
    # Reused unless the action's code changed in between (only ever while someone edits it).
    assert "Reusing" in step.stdout or stamp != installed["stamp"], step.stdout
    assert step.outputs["python"] == str(python)
    pins = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, check=True
    ).stdout
    installed_pins = {re.sub(r"[-_.]+", "-", line.lower()) for line in pins.splitlines()}
    # no DATABASE_URL for staging here: the embedded PostgreSQL is added to the base set
    for name in ("requirements.txt", "requirements-embedded.txt"):
        for line in (REPO / "action" / name).read_text().splitlines():
            if line and not line.startswith((" ", "#")) and ";" not in line:
                pin = re.sub(r"[-_.]+", "-", line.split()[0].lower())
                assert pin in installed_pins, line


def dispatch(workflow: str, step_id: str | None, inputs: dict, secrets: dict) -> tuple[dict, dict]:
    """The ``with:`` and ``env:`` a workflow gives the action's step, evaluated."""
    doc = load(WORKFLOWS / workflow)
    steps = [
        s for s in all_steps(doc) if s.get("uses") == "./" and (step_id is None or s.get("id") == step_id)
    ]
    assert len(steps) == 1, [s.get("id") for s in steps]
    contexts = {"inputs": inputs, "secrets": secrets, "vars": {}, "github": {}, "env": {},
                "needs": {"plan": {"outputs": {"plan-hash": ""}}}}
    with_ = {k: interpolate(v, contexts) for k, v in (steps[0].get("with") or {}).items()}
    env = {k: interpolate(v, contexts) for k, v in (steps[0].get("env") or {}).items()}
    return with_, env


def run_db_migrate(
    project, installed, runner_temp, tmp_path, *, action: str, dry_run: bool, url: str
) -> object:
    """Run the action as db-migrate.yml runs it for `gh workflow run ... -f action=... -f dry_run=...`:
    a dry run is the plan job's step, an apply the apply job's (here without the plan job's hash;
    tests/e2e/test_plan_apply.py runs the pair)."""
    with_, step_env = dispatch(
        "db-migrate.yml",
        "db" if dry_run else "apply",
        {"environment": "staging", "action": action, "dry_run": dry_run},
        {"DATABASE_URL": url},
    )
    expected = {"environment": "staging", "action": action, "dry_run": "true" if dry_run else "false"}
    assert with_ == (expected if dry_run else {**expected, "expect_plan": ""})
    return run_action(
        with_,
        workspace=project.root,
        runner_temp=runner_temp,
        files=tmp_path / "gh",
        env=job_env(**step_env),
        uses_outputs=_setup_python(),
    )


def _artifact(run) -> Path:
    upload = next(s for s in run.steps if s.kind == "uses" and "upload" in s.name.lower())
    assert upload.with_["name"].startswith("orchestrator-staging-") or upload.with_["name"].startswith(
        "orchestrator-"
    )
    return Path(upload.with_["path"])


def test_db_migrate_dry_run_reviews_and_changes_nothing(staging, installed, runner_temp, tmp_path):
    staging.add(
        "0004",
        "alter table customers add column notes text;",
        "alter table customers drop column notes;",
        name="notes",
    )
    keys = staging.bucket.keys()
    run = run_db_migrate(
        staging, installed, runner_temp, tmp_path, action="up", dry_run=True, url=staging.url.dbmate_url()
    )
    assert not run.failed, run.log
    out = run.outputs
    assert out["outcome"] == "dry_run" and out["exit-code"] == "0"
    assert re.fullmatch(r"[0-9a-f]{64}", out["plan-hash"])
    assert out["applied"] == "" and out["rolled-back"] == "false" and out["backup-url"] == ""
    doc = json.loads(Path(out["run-log"]).read_text())
    assert doc["outcome"] == "dry_run" and doc["plan"]["hash"] == out["plan-hash"]
    # nothing changed, nothing stored
    assert versions(staging.url) == ["0001", "0002", "0003"]
    assert staging.bucket.keys() == keys
    # the log: groups, the SQL, a notice with the plan hash
    assert "::group::Review: up on staging" in run.log and "::endgroup::" in run.log
    assert "add column notes" in run.log
    assert (
        f"::notice title=orchestrator plan reviewed::dry run of up on staging: plan hash {out['plan-hash']}"
        in run.log
    )
    # the summary: one writer, outcome, chart, plan with the SQL folded
    assert [s.id for s in run.steps if s.summary] == ["run"]
    summary = run.summary
    assert "dry run (nothing changed)" in summary.splitlines()[0]
    assert "```mermaid" in summary and "flowchart LR" in summary
    assert 'review["review: ok"]' in summary and "style review fill:#2da44e" in summary
    assert "<details><summary><code>db/migrations/0004_notes.sql</code></summary>" in summary
    assert "add column notes" in summary
    assert f"Plan hash: `{out['plan-hash']}`" in summary
    # the artifact: run log (JSON, Markdown), console output and the plan (the plan-json
    # output); the final step did not fail
    folder = _artifact(run)
    assert {p.name for p in folder.iterdir()} == {"run.json", "run.md", "output.txt", "plan.json"}
    plan = json.loads((folder / "plan.json").read_text())
    assert out["plan-json"] == str(folder / "plan.json") and plan["hash"] == out["plan-hash"]
    assert [m["file"] for m in plan["migrations"]] == ["db/migrations/0004_notes.sql"]
    assert not run.step("run").returncode
    assert not next(s for s in run.steps if s.name.startswith("Fail")).ran


def test_db_migrate_apply_backs_up_applies_and_masks_the_password(
    staging, installed, runner_temp, tmp_path, password_role
):
    staging.add(
        "0004",
        "alter table customers add column notes text;",
        "alter table customers drop column notes;",
        name="notes",
    )
    url = staging.url.dbmate_url().replace("postgres@", f"{password_role.user}:{password_role.password}@")
    run = run_db_migrate(staging, installed, runner_temp, tmp_path, action="up", dry_run=False, url=url)
    assert not run.failed, run.log
    out = run.outputs
    assert out["outcome"] == "success" and out["exit-code"] == "0"
    assert out["applied"] == "0004_notes.sql" and out["rolled-back"] == "false"
    assert out["backup-url"].startswith(f"s3://{staging.bucket.name}/flowstate/staging/")
    assert versions(staging.url)[-1] == "0004"
    stored = staging.bucket.keys()
    assert out["backup-url"].removeprefix(f"s3://{staging.bucket.name}/") in stored
    # the mask comes before anything orchestrator prints
    log = run.step("run").stdout
    assert log.index(f"::add-mask::{password_role.password}") < log.index("::group::Review")
    summary = run.summary
    shown = "\n".join(line for line in run.log.splitlines() if not line.startswith("::add-mask::"))
    for text in (
        summary,
        shown,
        json.dumps(out),
        Path(out["run-log"]).read_text(),
        (_artifact(run) / "output.txt").read_text(),
    ):
        assert password_role.password not in text
    assert "success" in summary.splitlines()[0]
    assert "style backup fill:#2da44e" in summary and "style apply fill:#2da44e" in summary
    assert "### Backup" in summary and out["backup-url"] in summary and "bytes" in summary
    assert "### Health (after)" in summary and "| http |" in summary
    assert "::group::Backup to s3://" in log and "backup:" in log  # progress while it streams
    doc = json.loads(Path(out["run-log"]).read_text())
    assert doc["outcome"] == "success" and doc["backup"]["url"] == out["backup-url"]


def test_failing_migration_is_annotated_rolled_back_and_fails_the_job(
    staging, installed, runner_temp, tmp_path
):
    staging.add("0004", "create table a (id int);", "drop table a;", name="a")
    staging.add("0005", "create table b (id int);\nselect * from no_such_table;", "drop table b;", name="b")
    run = run_db_migrate(
        staging, installed, runner_temp, tmp_path, action="up", dry_run=False, url=staging.url.dbmate_url()
    )
    assert run.failed
    out = run.outputs
    assert out["outcome"] == "rolled_back" and out["exit-code"] == "1" and out["rolled-back"] == "true"
    assert out["applied"] == "" and out["backup-url"]
    assert versions(staging.url) == ["0001", "0002", "0003"]
    # the run step succeeded (so the artifact is uploaded); the last step fails the job with the code
    assert run.step("run").returncode == 0
    last = run.steps[-1]
    assert last.ran and last.returncode == 1
    upload = next(s for s in run.steps if s.kind == "uses" and "upload" in s.name.lower())
    assert upload.with_["path"]  # its if: always() held, with the artifact directory
    log = run.log
    assert re.search(
        r"^::error file=db/migrations/0005_b\.sql,line=3,title=migration up failed::.*no_such_table",
        log,
        re.MULTILINE,
    ), log
    summary = run.summary
    assert "rolled back" in summary.splitlines()[0]
    assert "style apply fill:#cf222e" in summary and "style rollback fill:#2da44e" in summary
    assert "### Rollback" in summary and "- why:" in summary and "0004_a.sql" in summary


def test_the_database_input_runs_one_member_of_a_fleet_as_a_matrix_job_does(fleet, installed, runner_temp, tmp_path):
    fleet.project.add("0001", "create table one (id int);", "drop table one;", name="one")
    run = run_action(
        {"environment": "staging", "action": "up", "dry_run": "false", "database": "beta"},
        workspace=fleet.project.root,
        runner_temp=runner_temp,
        files=tmp_path / "gh",
        env=job_env(**{k: v for k, v in fleet.env().items() if k.startswith("SHARD_")}),
        uses_outputs=_setup_python(),
    )
    assert not run.failed, run.log
    assert run.outputs["outcome"] == "success" and run.outputs["applied"] == "0001_one.sql"
    made = {name: sql(url, "select to_regclass('public.one') is not null")[0][0] for name, url in fleet.urls.items()}
    assert made == {"alpha": False, "beta": True, "gamma": False} and versions(fleet.urls["beta"]) == ["0001"]
    assert json.loads(Path(run.outputs["run-log"]).read_text())["database"] == "beta"


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"environment": "staging", "action": "drop"}, "action must be one of"),
        ({"environment": "staging", "action": "up", "dry_run": "yes"}, "dry_run must be true or false"),
        ({"environment": 'staging"; touch pwned; #', "action": "status"}, "environment must be a name"),
        ({"environment": "staging", "action": "rollback", "steps": "0"}, "steps must be a whole number"),
        ({"environment": "staging", "action": "up", "expect_plan": "$(touch pwned)"}, "expect_plan must be"),
        ({"environment": "staging", "action": "up", "database": "eu-1;touch pwned"}, "database must be"),
        ({"environment": "staging", "action": "restore"}, "needs the backup input"),
        ({"environment": "staging", "action": "status\n::add-mask::x"}, "must be one line"),
    ],
)
def test_bad_inputs_are_refused_before_anything_is_installed(inputs, message, tmp_path):
    run = run_action(
        inputs,
        workspace=tmp_path,
        runner_temp=tmp_path / "temp",
        files=tmp_path / "gh",
        env=job_env(),
        uses_outputs=_setup_python(),
    )
    pre = run.step("preflight")
    assert pre.returncode == 2, pre.stdout + pre.stderr
    assert re.search(
        r"^::error title=orchestrator action: bad input::.*" + re.escape(message), pre.stdout, re.MULTILINE
    )
    assert run.outputs["outcome"] == "refused" and run.outputs["exit-code"] == "2"
    assert [s.id for s in run.steps if s.ran] == ["preflight"]
    assert not (tmp_path / "pwned").exists()
    assert not any(line.startswith("::add-mask::") for line in pre.stdout.splitlines())


def test_not_linux_fails_fast(tmp_path):
    run = run_action(
        {"environment": "staging", "action": "status"},
        workspace=tmp_path,
        runner_temp=tmp_path / "t",
        files=tmp_path / "gh",
        env=job_env(),
        runner_os="macOS",
        uses_outputs=_setup_python(),
    )
    pre = run.step("preflight")
    assert pre.returncode == 2 and "::error title=orchestrator action: bad input::" in pre.stdout
    assert "Linux runners only (this runner: macOS)" in pre.stdout
    assert [s.id for s in run.steps if s.ran] == ["preflight"]


def _stop_embedded(state_dir: Path) -> None:
    """Stop the embedded PostgreSQL a test started in ``state_dir`` (its postmaster.pid)."""
    pid_file = state_dir / "pgdata" / "postmaster.pid"
    if pid_file.is_file():
        try:
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)  # fast shutdown
        except (ProcessLookupError, ValueError):
            pass


def test_pr_check_workflow_verifies_and_plans_what_the_pull_request_adds(
    shipped, installed, runner_temp, tmp_path
):
    """db-pr-check.yml's job, step by step: the two checkouts are made by hand (they need
    GitHub), its run: step runs in bash, and each use of the action runs as above."""
    base = shipped.root / ".orchestrator-base"  # the base branch: the shipped migrations
    shutil.copytree(shipped.root / "db", base / "db")
    shipped.add(
        "0004",
        "alter table customers add column notes text;",
        "alter table customers drop column notes;",
        name="notes",
    )
    r = shipped.run("up")  # the pull request's db/schema.sql, as this code writes it
    assert r.code == 0, r.text
    shutil.rmtree(shipped.root / ".orchestrator")  # a fresh checkout has no local state
    job = load(WORKFLOWS / "db-pr-check.yml")["jobs"]["check"]
    env = job_env()  # no DATABASE_URL: the runner's embedded server
    results: dict[str, object] = {}
    failed = False
    try:
        for number, step in enumerate(job["steps"]):
            if "actions/checkout" in step.get("uses", ""):
                continue
            if step.get("if") and "!cancelled()" not in step["if"]:
                raise AssertionError(f"unexpected condition {step['if']}")
            if step.get("uses") == "./":
                with_ = {k: interpolate(v, {"inputs": {}}) for k, v in step["with"].items()}
                run = run_action(
                    with_,
                    workspace=shipped.root,
                    runner_temp=runner_temp,
                    files=tmp_path / f"gh{number}",
                    env=env,
                    uses_outputs=_setup_python(),
                    github={"job": "check"},
                )
                results[step["id"]] = run
                failed = failed or (run.failed and not step.get("continue-on-error"))
            else:
                proc = subprocess.run(
                    ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                    cwd=shipped.root,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=60,
                )
                assert proc.returncode == 0, proc.stdout + proc.stderr
    finally:
        _stop_embedded(base / ".orchestrator")
        _stop_embedded(shipped.root / ".orchestrator")
    assert not failed
    base_run, verify, plan = results["base"], results["verify"], results["plan"]
    assert base_run.outputs["outcome"] == "success", base_run.log
    assert (shipped.root / ".orchestrator").is_symlink()
    assert verify.outputs["outcome"] == "success" and verify.outputs["exit-code"] == "0", verify.log
    assert verify.outputs["run-log"] == ""
    assert verify.summary.startswith("## orchestrator verify on dev: ✅ success")
    assert "verify: passed" in verify.summary and "0004_notes.sql" in verify.summary
    assert "::" not in verify.summary  # workflow commands are not repeated in the summary
    # the plan shows what the pull request adds on top of its base, and nothing else
    assert plan.outputs["outcome"] == "dry_run", plan.log
    doc = json.loads(Path(plan.outputs["run-log"]).read_text())
    assert [m["version"] for m in doc["plan"]["migrations"]] == ["0004"]
    assert "from version `0003` to `0004`" in plan.summary and "add column notes" in plan.summary
    names = {next(s for s in r.steps if "upload" in s.name.lower()).with_["name"] for r in results.values()}
    assert len(names) == 3  # artifact names never collide within a run


def test_a_cancelled_job_reaches_orchestrator_and_ends_in_a_documented_outcome(
    staging, installed, runner_temp, tmp_path
):
    """Cancelling the job signals only the run step's bash (SIGINT, SIGTERM 7.5 s later, the
    process group killed 10 s after the first): orchestrator must get them, roll back, and
    leave its run log and the step's outputs."""
    staging.add("0004", "create table cancelled (id int);\nselect pg_sleep(47);", "drop table cancelled;",
                name="slow")
    before = fingerprint(staging.url)
    ended: dict[str, float] = {}

    def cancel(proc: subprocess.Popen) -> None:
        wait_for(lambda: in_pg_sleep(staging.url, 47), timeout=120, what="the migration to run")
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)  # the entry process only, as the runner does
        for at, then in ((7.5, signal.SIGTERM), (10.0, signal.SIGKILL)):
            try:
                proc.wait(timeout=max(0.0, started + at - time.monotonic()))
                break
            except subprocess.TimeoutExpired:
                if then == signal.SIGKILL:
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.send_signal(then)
        ended["seconds"] = time.monotonic() - started

    run = run_action(
        {"environment": "staging", "action": "up", "dry_run": "false"},
        workspace=staging.root,
        runner_temp=runner_temp,
        files=tmp_path / "gh",
        env=job_env(DATABASE_URL=staging.url.dbmate_url()),
        uses_outputs=_setup_python(),
        on_start={"run": cancel},
    )
    assert ended["seconds"] < 7.5, run.step("run").stdout  # ended on the first signal, before SIGTERM
    out = run.outputs
    assert (out["outcome"], out["exit-code"]) == ("rolled_back", "1"), run.step("run").stdout
    assert fingerprint(staging.url) == before
    doc = json.loads((_artifact(run) / "run.json").read_text())
    assert (doc["outcome"], doc["exit_code"], doc["signals"]) == ("rolled_back", 1, ["SIGINT"])
    assert "Traceback" not in run.step("run").stdout + run.step("run").stderr


def test_many_findings_stay_within_githubs_ten_annotations_with_the_outcome_on_repository_paths(
    staging, installed, runner_temp, tmp_path
):
    """15 blocking findings in a project under `working-directory: app`: each level shows at most
    10 annotations, the outcome is one of them, and files are named from the repository root."""
    workspace = tmp_path / "repo"
    shutil.copytree(staging.root / "db", workspace / "app" / "db")
    for i in range(15):
        (workspace / "app" / "db" / "migrations" / f"{1000 + i}_index_{i}.sql").write_text(
            f"-- migrate:up\ncreate index idx_{i} on customers (name);\n\n-- migrate:down\ndrop index idx_{i};\n")
    run = run_action(
        {"environment": "staging", "action": "up", "dry_run": "true", "working-directory": "app"},
        workspace=workspace,
        runner_temp=runner_temp,
        files=tmp_path / "gh",
        env=job_env(DATABASE_URL=staging.url.dbmate_url()),
        uses_outputs=_setup_python(),
    )
    assert run.outputs["outcome"] == "refused" and run.outputs["exit-code"] == "2"
    errors = re.findall(r"^::error (.*?)::", run.log, re.MULTILINE)
    assert 1 <= len(errors) <= 10, errors
    assert any("title=orchestrator up on staging" in e for e in errors), errors
    files = [m for e in errors for m in re.findall(r"file=([^,]+)", e)]
    assert files and all(f.startswith("app/db/migrations/") for f in files), files
