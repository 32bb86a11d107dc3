"""Start-up: each command imports only the third-party packages it uses.

Every command here runs in a fresh interpreter (``python -c PROBE ARGS``, which runs
``python -m orchestrator ARGS`` and then prints which of the heavy packages ended up in
``sys.modules``), so nothing an earlier test imported can hide an import.  What is
asserted is the set of packages and the command's own effect, not a time: the time is
measured by ``benchmarks/startup.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support.postgres import versions
from support.project import Project, status_marks

HEAVY = ("boto3", "botocore", "httpx", "pglast", "psycopg", "tenacity", "yaml")

# Runs the CLI as `python -m orchestrator` does, then reports (on stderr, after the
# command's own output) the heavy packages it imported, whatever its exit code.
PROBE = f"""
import json, runpy, sys
sys.argv[0] = "orchestrator"
try:
    runpy.run_module("orchestrator", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
loaded = sorted({{name.partition(".")[0] for name in sys.modules}} & set({HEAVY!r}))
sys.stderr.write("\\nIMPORTED " + json.dumps(loaded) + "\\n")
sys.exit(code)
"""


def run_probed(project: Project, *args: str) -> tuple[int, str, list[str]]:
    """(exit code, stdout, heavy packages imported) of ``orchestrator ARGS`` in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=project.root, env=project.env(),
                          capture_output=True, text=True, timeout=120, check=False)
    _, _, report = proc.stderr.rpartition("\nIMPORTED ")
    assert report, proc.stderr
    return proc.returncode, proc.stdout, json.loads(report)


@pytest.mark.parametrize(
    ("args", "code"),
    [(["--help"], 0), (["status", "--help"], 0), (["up", "--help"], 0), (["lint", "--help"], 0),
     (["--version"], 0), (["no-such-command"], 2), (["rollback", "--steps", "0"], 2)],
)
def test_help_and_usage_errors_import_no_third_party_package(project, args, code):
    returned, _, loaded = run_probed(project, *args)
    assert returned == code
    assert loaded == []


def test_new_imports_no_third_party_package(project):
    code, out, loaded = run_probed(project, "new", "add_widgets")
    assert code == 0, out
    assert [p.name.endswith("_add_widgets.sql") for p in project.migrations.iterdir()] == [True]
    assert loaded == []


def test_new_reads_a_config_file_with_yaml_only(project):
    project.configure({"dev": {"dump_schema": False}})
    code, out, loaded = run_probed(project, "new", "add_widgets")
    assert code == 0, out
    assert loaded == ["yaml"]


def test_lint_imports_the_parser_but_no_driver_http_or_s3(shipped):
    shipped.configure({"dev": {"dump_schema": False}})
    code, out, loaded = run_probed(shipped, "lint")
    assert code == 0, out
    assert loaded == ["pglast", "yaml"]


def test_status_imports_the_driver_and_yaml_only(shipped):
    shipped.configure({"dev": {"dump_schema": False}})
    code, out, loaded = run_probed(shipped, "up", "--skip-backup")
    assert code == 0, out
    assert loaded == ["pglast", "psycopg", "yaml"]  # no health URL, no backup store: no httpx, tenacity, boto3
    code, out, loaded = run_probed(shipped, "status")
    assert code == 0, out
    assert status_marks(out) and all(mark.startswith("[X]") for mark in status_marks(out))
    assert versions(shipped.url)
    assert loaded == ["psycopg", "yaml"]
