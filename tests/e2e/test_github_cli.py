"""``orchestrator.github`` as the action runs it: its own command line (``python -m
orchestrator.github``), in a fresh interpreter that must not need more than the standard
library.  (Its functions, unit by unit: ``unit/test_github.py``.)"""

from __future__ import annotations

import subprocess
import sys

import pytest
from support.action_runner import parse_output_file


def test_the_module_needs_only_the_standard_library():
    code = (
        "import sys, orchestrator.github; "
        "bad = {'yaml', 'psycopg', 'boto3', 'botocore', 'httpx', 'pglast', 'tenacity'} & set(sys.modules); "
        "print(sorted(bad))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "argv", [["mask"], ["publish", "--action", "status", "--environment", "dev", "--exit-code", "0"]]
)
def test_command_line(argv, tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "GITHUB_OUTPUT": str(tmp_path / "o"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "s"),
        "DATABASE_URL": "postgres://u:Cli-Secret-7@h/d",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.github", *argv],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    if argv == ["mask"]:
        assert proc.stdout == "::add-mask::Cli-Secret-7\n"
    else:
        assert parse_output_file((tmp_path / "o").read_text())["outcome"] == "success"
        assert "orchestrator status on dev" in (tmp_path / "s").read_text()
