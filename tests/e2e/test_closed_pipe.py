"""Output that survives a reader that went away (``orchestrator up --dry-run | head -1``).

These tests run the real program with its stdout on a real pipe whose reading end is
closed after the first line.  Linux lets the pipe be shrunk to one page, and each
command writes several times that, so the program is sure to write into the closed pipe
(checked: otherwise the test would pass without testing anything).  Each runs with
Python's stdout block-buffered (as in a terminal pipeline or CI) and unbuffered
(``PYTHONUNBUFFERED``, as some CI environments set it): a closed reader shows up in
different places, in a write or only in the interpreter's final flush.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.processes import read_line
from support.project import Project

MANY = 60  # extra migrations, so every command's output is several pipe pages long
NAME = "add_index_on_users_email_for_the_customer_lookup_screen_and_its_nightly_report"


@pytest.fixture
def big(shipped: Project) -> Project:
    """The shipped migrations plus many pending ones with long names, each a lint warning
    (a plain CREATE INDEX on an existing table), none an error."""
    for i in range(MANY):
        shipped.add(f"{1000 + i}", f"create index idx_{i} on users (email);", f"drop index idx_{i};", name=f"{NAME}_{i}")
    return shipped


# -- a real process writing into a closed pipe ----------------------------------------


def _pipe() -> tuple[int, int, int | None]:
    """A pipe (read end, write end) and its capacity in bytes, made as small as the
    system allows (None where it cannot be known)."""
    r, w = os.pipe()
    capacity = None
    try:
        import fcntl

        if hasattr(fcntl, "F_SETPIPE_SZ"):
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
            capacity = fcntl.fcntl(w, fcntl.F_GETPIPE_SZ)
    except (ImportError, OSError):
        pass
    return r, w, capacity


@pytest.fixture(params=["buffered", "unbuffered"])
def stdio_env(request, big) -> dict[str, str]:
    """The project's environment, with Python's stdio buffered or not."""
    env = big.env()
    env.pop("PYTHONUNBUFFERED", None)
    if request.param == "unbuffered":
        env["PYTHONUNBUFFERED"] = "1"
    return env


def run_closed(project: Project, *args: str, env: dict[str, str], lines: int = 1, stderr_closed: bool = False):
    """Run ``python -m orchestrator ARGS`` with stdout on a pipe closed after ``lines``
    lines (0: closed before the program starts); stderr captured, or on a closed pipe too.

    Returns (exit code, the lines read, stderr text, pipe capacity).
    """
    r, w, capacity = _pipe()
    if lines == 0:
        os.close(r)
    stderr = subprocess.PIPE
    if stderr_closed:
        er, stderr = os.pipe()
        os.close(er)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", *args],
            cwd=project.root, env=env, stdin=subprocess.DEVNULL, stdout=w, stderr=stderr,
        )
    finally:
        os.close(w)
        if stderr_closed:
            os.close(stderr)
    read = b""
    if lines:
        try:
            for _ in range(lines):
                read += read_line(r)
        finally:
            os.close(r)  # the reader goes away, as `head -1` does
    _, err = proc.communicate(timeout=120)
    return proc.returncode, read.decode(), (err or b"").decode(), capacity


def assert_wrote_into_the_closed_pipe(full_output: str, read: str, capacity: int | None) -> None:
    """The program had more to say than the pipe could hold once the reader was gone."""
    if capacity is not None:
        assert len(full_output.encode()) > len(read.encode()) + capacity + 1024, (
            f"output of {len(full_output)} bytes fits in the pipe ({capacity} bytes): the test tests nothing"
        )


def assert_clean(stderr: str) -> None:
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert "Exception ignored" not in stderr, stderr


def run_logs(project: Project) -> set[Path]:
    return set((project.root / ".orchestrator" / "runs").glob("*.json"))


def test_status_into_a_closed_pipe(big, stdio_env):
    full = big.run("status")
    assert full.code == 0, full.text
    code, read, err, capacity = run_closed(big, "status", env=stdio_env)
    assert code == 0, err
    assert_clean(err)
    assert read == full.out.splitlines(keepends=True)[0]
    assert_wrote_into_the_closed_pipe(full.out, read, capacity)


def test_lint_into_a_closed_pipe(big, stdio_env):
    full = big.run("lint")
    assert full.code == 0 and f"{MANY + 3} file(s): 0 errors, {MANY} warnings" in full.out, full.text
    code, read, err, capacity = run_closed(big, "lint", env=stdio_env)
    assert code == 0, err
    assert_clean(err)
    assert "index-not-concurrent" in read
    assert_wrote_into_the_closed_pipe(full.out, read, capacity)


def test_dry_run_into_a_closed_pipe_is_recorded_as_a_dry_run(big, stdio_env):
    before = run_logs(big)
    code, read, err, capacity = run_closed(big, "up", "--dry-run", env=stdio_env)
    assert code == 0, err
    assert_clean(err)
    assert read.startswith("==> Review: up on dev")
    new = run_logs(big) - before
    assert len(new) == 1, new
    doc = json.loads(new.pop().read_text())
    assert (doc["outcome"], doc["exit_code"]) == ("dry_run", 0), doc

    full = big.run("up", "--dry-run")  # the same run, read to the end: as long as it is
    assert full.code == 0, full.text
    assert_wrote_into_the_closed_pipe(full.out, read, capacity)
    assert f"Plan: {MANY + 3} migration(s)" in full.out


def test_dry_run_into_a_pipe_closed_before_it_starts(big, stdio_env):
    """Every single write fails; the run is still a dry run that ends with 0."""
    before = run_logs(big)
    code, read, err, _ = run_closed(big, "up", "--dry-run", env=stdio_env, lines=0)
    assert (code, read) == (0, "")
    assert_clean(err)
    (log,) = run_logs(big) - before
    doc = json.loads(log.read_text())
    assert (doc["outcome"], doc["exit_code"]) == ("dry_run", 0)


def test_exit_code_is_kept_when_both_stdout_and_stderr_readers_are_gone(big, stdio_env):
    """A refusal ends with its own exit code (2), though its error line goes nowhere."""
    full = big.run("up", "--dry-run", "--expect-plan", "not-the-plan")
    assert full.code == 2 and "the plan changed since it was reviewed" in full.err, full.text
    code, _, _, _ = run_closed(
        big, "up", "--dry-run", "--expect-plan", "not-the-plan", env=stdio_env, stderr_closed=True
    )
    assert code == 2  # not 1 (a traceback) nor 120 (a failed final flush)


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["status", "--help"]])
def test_help_into_a_closed_pipe(project, args):
    """argparse writes --help without flushing (and swallows a failed write): the
    interpreter's final flush must not turn exit 0 into 120 with "Exception ignored"."""
    env = project.env()
    env.pop("PYTHONUNBUFFERED", None)
    code, _, err, _ = run_closed(project, *args, env=env, lines=0)
    assert code == 0, err
    assert_clean(err)
