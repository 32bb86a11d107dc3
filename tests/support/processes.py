"""Waiting for something to happen, and orchestrator processes in the background."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition",
             every: float = 0.05) -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


class Background:
    """``python -m orchestrator`` processes started by one test; :meth:`close` kills any left."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, project: Any, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "orchestrator", *args], cwd=project.root,
                                env=env or project.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        self.started.append(proc)
        return proc

    def close(self) -> None:
        while self.started:
            proc = self.started.pop()
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def read_line(fd: int) -> bytes:
    """One line from the pipe ``fd``, unbuffered: nothing past it is taken out of the pipe."""
    line = b""
    while not line.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    return line
