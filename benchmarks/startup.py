"""Start-up time: orchestrator's quick commands against a bare ``python -c pass``.

Not a test: a script to run by hand.  It starts a throwaway embedded PostgreSQL, writes
``--count`` small migrations (default 50) into a temporary project and applies them
(``orchestrator up``), then, ``--repeat`` times (default 15), alternating the order, runs
each of these as a real process with the same interpreter:

* ``python -c pass`` (the floor: interpreter start and exit);
* ``orchestrator --help`` (target: at most 3x the floor);
* ``orchestrator new x`` in an empty scratch project (its file is removed after each run);
* ``orchestrator lint`` (every migration of the project);
* ``orchestrator status`` against the server (target: at most 8x the floor).

``orchestrator`` is the venv's console script (``python -m orchestrator`` where there is
none).  Each command's median wall time (best in brackets) and CPU time (user + system)
are printed, each as a multiple of the floor's, with the target and whether the wall-time
median meets it (the CPU ratio suffers less from other load on a small machine).
By default the processes run with a warm byte-code cache in the temporary directory
(``PYTHONPYCACHEPREFIX``), as an installed package would; ``--no-pycache`` runs them with
this shell's byte-code settings.  ``python -X importtime -m orchestrator ARGS`` shows
where a command's import time goes.

    python benchmarks/startup.py                 # 50 migrations, 15 repeats
    python benchmarks/startup.py --repeat 31
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

from _bench import clean_env, machine, postgres, run, say, table
from apply_overhead import make_project
from support.postgres import fresh_database, sql

TARGETS = {"--help": 3.0, "status": 8.0}  # multiples of `python -c pass`


def orchestrator_command() -> list[str]:
    """The console script users run, next to this interpreter; else ``python -m orchestrator``."""
    script = Path(sys.executable).parent / "orchestrator"
    return [str(script)] if script.exists() else [sys.executable, "-m", "orchestrator"]


def commands(project: Path, scratch: Path) -> dict[str, tuple[list[str], Path]]:
    """Each timed command: (argv, working directory), by the name the table shows."""
    orch = orchestrator_command()
    return {
        "python -c pass": ([sys.executable, "-c", "pass"], project),
        "--help": ([*orch, "--help"], project),
        "new": ([*orch, "new", "x"], scratch),
        "lint": ([*orch, "lint"], project),
        "status": ([*orch, "status"], project),
    }


def clear_new_files(scratch: Path) -> None:
    """Remove what ``new x`` wrote, so every run starts from the same empty project."""
    for path in (scratch / "db" / "migrations").glob("*.sql"):
        path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50, help="applied migrations for status and lint (50)")
    parser.add_argument("--repeat", type=int, default=15, help="runs of each command (15); the median counts")
    parser.add_argument("--no-pycache", action="store_true",
                        help="run the processes with this environment's byte-code settings as they are")
    args = parser.parse_args()
    if not 1 <= args.count <= 10_000 or not 1 <= args.repeat <= 200:
        parser.error("--count must be 1..10000 and --repeat 1..200")

    with postgres() as (admin, work):
        project = make_project(work / "project", args.count, "small")
        scratch = work / "scratch"
        (scratch / "db" / "migrations").mkdir(parents=True)
        url = fresh_database(admin, "bench_startup")
        extra = {} if args.no_pycache else {"PYTHONPYCACHEPREFIX": str(work / "pycache")}
        env = clean_env(url, **extra)
        if not args.no_pycache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        run([*orchestrator_command(), "up", "--skip-backup", "--no-dump-schema"], cwd=project, env=env)
        recorded = sql(url, "select count(*) from schema_migrations")[0][0]
        if recorded != args.count:
            raise SystemExit(f"{recorded} migrations recorded, expected {args.count}")
        todo = commands(project, scratch)
        for argv, cwd in todo.values():  # warm the byte-code cache and the page cache once
            run(argv, cwd=cwd, env=env)
            clear_new_files(scratch)
        pyc = ("byte-code cached" if not args.no_pycache else
               f"byte-code as in this shell (PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')})")
        say(f"{args.count} applied migrations; {machine()}; {pyc}; load average "
            f"{os.getloadavg()[0]:.1f} at the start")

        walls: dict[str, list[float]] = {name: [] for name in todo}
        cpus: dict[str, list[float]] = {name: [] for name in todo}
        names = list(todo)
        for i in range(args.repeat):
            order = names[i % len(names):] + names[:i % len(names)]  # each command first in turn
            for name in order if i % 2 == 0 else reversed(order):
                argv, cwd = todo[name]
                wall, proc = run(argv, cwd=cwd, env=env)
                clear_new_files(scratch)
                walls[name].append(wall)
                cpus[name].append(proc.cpu)

        floor = statistics.median(walls["python -c pass"])
        cpu_floor = statistics.median(cpus["python -c pass"])
        rows = []
        for name in names:
            median = statistics.median(walls[name])
            ratio = median / floor
            target = TARGETS.get(name)
            verdict = "-" if target is None else ("met" if ratio <= target else f"missed by {ratio / target:.2f}x")
            shown = name if name == "python -c pass" else f"orchestrator {name}"
            rows.append([shown, f"{median * 1000:.1f} ({min(walls[name]) * 1000:.1f})",
                         f"{statistics.median(cpus[name]) * 1000:.1f}", f"{ratio:.2f}x",
                         f"{statistics.median(cpus[name]) / cpu_floor:.2f}x",
                         "-" if target is None else f"<= {target:g}x", verdict])
        say("")
        say(f"whole process, median of {args.repeat} (best in brackets); load average "
            f"{os.getloadavg()[0]:.1f} at the end")
        say(table(["command", "wall ms", "CPU ms", "wall ratio to python -c pass", "CPU ratio", "target",
                   "verdict (wall)"], rows))


if __name__ == "__main__":
    main()
