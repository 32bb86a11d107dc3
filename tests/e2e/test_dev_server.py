"""The embedded PostgreSQL of a project, as a newcomer runs it: seen, stopped (its own
``pg_ctl`` refuses to run as root), started again by the next command."""

from __future__ import annotations

import os
import re
import subprocess
import sys


def test_dev_status_and_stop(tmp_path):
    (tmp_path / "db" / "migrations").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}

    def orchestrator(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)

    assert "No embedded PostgreSQL" in orchestrator("dev", "status").stdout
    assert orchestrator("up").returncode == 0  # starts it
    running = orchestrator("dev", "status").stdout
    pid = int(re.search(r"running \(pid (\d+)", running)[1])
    stopped = orchestrator("dev", "stop")
    assert stopped.returncode == 0 and f"Stopped the embedded PostgreSQL in .orchestrator/pgdata (pid {pid})" in stopped.stdout
    assert "is not running" in orchestrator("dev", "status").stdout
    assert "is not running" in orchestrator("dev", "stop").stdout
    assert orchestrator("status").returncode == 0  # the next command starts it again
    orchestrator("dev", "stop")
