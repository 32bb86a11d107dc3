"""A fleet deploy (``up`` on an environment of N databases, ``parallel`` at a time) against
the same N deploys one after another, as a loop of single-database runs does them.

Not a test: a script to run by hand.  It starts a throwaway embedded PostgreSQL and a
project whose ``staging`` environment is a fleet of ``--databases`` databases (each URL in
its own variable, a local backup directory, no health URL).  Three migrations per database:
a table with an index, ``--rows`` rows into it, a column.  Then, ``--repeat`` times, on fresh databases
each time, alternating which side goes first:

* **one after another**: ``orchestrator -e staging up --database NAME`` for each database
  in turn (each a real process: start-up, review, backup, apply, health, run log);
* **fleet**: ``orchestrator -e staging up`` once: the parent and one child per database,
  at most ``--parallel`` at once, and the fleet run log.

Both sides do the same work per database (same processes, same backups); the fleet's gain
is the overlap.  Target: the fleet in at most 0.7 of the time on 2 CPUs (with more CPUs
and a remote server, where each run mostly waits, it gains more).

    python benchmarks/fleet_parallel.py                      # 8 databases, parallel 4, 3 repeats
    python benchmarks/fleet_parallel.py --databases 16 --parallel 8 --rows 50000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from _bench import clean_env, machine, postgres, run, say, stats, table
from support.postgres import fresh_database, versions
from support.project import config_yaml, write_migration

TARGET = 0.7  # fleet time / one-after-another time


def project(root: Path, names: list[str], parallel: int, rows: int) -> None:
    migrations = root / "db" / "migrations"
    write_migration(migrations, "0001", "items", "create table items (id bigint primary key, payload text);\n"
                    "create index items_payload on items (payload);", "drop table items;")
    write_migration(migrations, "0002", "fill", f"insert into items select g, md5(g::text) from "
                    f"generate_series(1, {rows}) g;", "delete from items;")
    write_migration(migrations, "0003", "note", "alter table items add column note text;",
                    "alter table items drop column note;")
    members = [{"name": n, "url_env": f"BENCH_{n.upper()}_DATABASE_URL"} for n in names]
    (root / "db" / "orchestrator.yml").write_text(config_yaml(
        {"staging": {"backup": str(root / "backups"), "databases": members, "parallel": parallel}}))


def one_after_another(root: Path, names: list[str], env: dict[str, str]) -> float:
    total = 0.0
    for name in names:
        wall, _ = run([sys.executable, "-m", "orchestrator", "-e", "staging", "up", "--database", name,
                       "--no-dump-schema"], cwd=root, env=env)
        total += wall
    return total


def fleet(root: Path, env: dict[str, str]) -> float:
    wall, _ = run([sys.executable, "-m", "orchestrator", "-e", "staging", "up"], cwd=root, env=env)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", type=int, default=8)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    names = [f"shard{i:02d}" for i in range(1, args.databases + 1)]
    times: dict[str, list[float]] = {"one after another": [], "fleet": []}
    with postgres() as (admin, _), tempfile.TemporaryDirectory(prefix="orchestrator-bench-fleet-") as tmp:
        root = Path(tmp)
        project(root, names, args.parallel, args.rows)
        for i in range(args.repeat):
            sides = [("one after another", lambda e: one_after_another(root, names, e)),
                     ("fleet", lambda e: fleet(root, e))]
            for side, measure in sides if i % 2 == 0 else sides[::-1]:
                urls = {n: fresh_database(admin, f"bench_{n}") for n in names}
                env = clean_env(**{f"BENCH_{n.upper()}_DATABASE_URL": u.dbmate_url() for n, u in urls.items()})
                times[side].append(measure(env))
                assert all(versions(u) == ["0001", "0002", "0003"] for u in urls.values()), side
                say(f"  repeat {i + 1}: {side}: {times[side][-1]:.2f} s")
    ratio = statistics.median(times["fleet"]) / statistics.median(times["one after another"])
    rows = [[side, *(f"{v:.2f}" for v in stats(values))] for side, values in times.items()]
    say(f"\n{args.databases} databases, {args.rows} rows each, parallel {args.parallel}; {machine()}\n")
    say(table(["side", "min s", "median s", "max s"], rows))
    say(f"\nfleet / one after another (median): {ratio:.2f}  (target <= {TARGET}: "
        f"{'met' if ratio <= TARGET else 'NOT met'})")


if __name__ == "__main__":
    main()
