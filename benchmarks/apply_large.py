"""How long one large migration takes to apply: orchestrator `up` vs `dbmate up` vs `psql -1 -f`.

Not a test: a script to run by hand.  It starts a throwaway embedded PostgreSQL and writes
one migration of about ``--size-mb`` MB (default 20): ``CREATE TABLE big`` and then
INSERT statements of one row each (about 100 bytes a statement, so 200,000 for 20 MB) in
one transactional up section, as a data fix or a seed file is written.  Then, ``--repeat``
times, each on a fresh database and as a real process:

* ``orchestrator up --skip-backup --no-dump-schema`` (dev, no health URL); its run log
  splits the wall time into review (parsing and linting the file), apply and the rest;
* ``dbmate --no-dump-schema up``, which sends the section as one simple query;
* ``psql -1 -f up.sql`` with the same up section: the floor, one transaction, one
  statement at a time without waiting for the disk between them.

orchestrator sends the statements in pipeline mode (one Sync for the whole section), not
one round trip each.

    python benchmarks/apply_large.py                 # 20 MB, 1 run of each
    python benchmarks/apply_large.py --size-mb 5 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from _bench import bin_dir, clean_env, machine, postgres, run, say, table
from support.postgres import drop_database, fresh_database, sql
from support.project import dbmate_exe, write_migration

STATEMENT = "INSERT INTO big (id, note) VALUES ({i}, '{note}');"
RUN_LOG = "bench-run.json"


def up_section(size_mb: int) -> tuple[str, int]:
    """The up section's text and its number of INSERT statements."""
    note = "x" * 48
    one = len(STATEMENT.format(i=100000, note=note)) + 1
    count = size_mb * 2**20 // one
    lines = ["CREATE TABLE big (id bigint PRIMARY KEY, note text NOT NULL);"]
    lines += [STATEMENT.format(i=i, note=note) for i in range(1, count + 1)]
    return "\n".join(lines), count


def make_project(root: Path, up: str) -> Path:
    write_migration(root / "db" / "migrations", "20240101000000", "large", up, "DROP TABLE big;")
    (root / "db" / "orchestrator.yml").write_text("environments:\n  dev:\n    dump_schema: false\n",
                                                  encoding="utf-8")
    (root / "up.sql").write_text(up + "\n", encoding="utf-8")
    return root


def orchestrator_up(project: Path, url) -> tuple[float, dict[str, float]]:
    log = project / ".orchestrator" / "runs" / RUN_LOG
    wall, _ = run([sys.executable, "-m", "orchestrator", "up", "--skip-backup", "--no-dump-schema",
                   "--run-log", str(log)], cwd=project, env=clean_env(url), timeout=3600)
    steps = {s["name"]: s["seconds"] or 0.0 for s in json.loads(log.read_text())["steps"]}
    return wall, steps


def dbmate_up(project: Path, url) -> float:
    return run([dbmate_exe(), "--no-dump-schema", "up"], cwd=project, env=clean_env(url), timeout=3600)[0]


def psql_file(project: Path, url) -> float:
    env = clean_env(url, PGPASSWORD=url.password or "")
    return run([str(bin_dir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f", "up.sql",
                "-d", url.conninfo()], cwd=project, env=env, timeout=3600)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=20, help="size of the migration in MB (20)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side (1); the median counts")
    args = parser.parse_args()
    if not 1 <= args.size_mb <= 500 or not 1 <= args.repeat <= 20:
        parser.error("--size-mb must be 1..500 and --repeat 1..20")

    with postgres() as (admin, work):
        up, count = up_section(args.size_mb)
        project = make_project(work / "project", up)
        say(f"one migration of {len(up) / 2**20:.1f} MiB ({count} INSERT statements); {machine()}")
        times: dict[str, list[float]] = {"orch": [], "dbmate": [], "psql": []}
        steps: list[dict[str, float]] = []
        for i in range(args.repeat):
            for side in (["orch", "dbmate", "psql"] if i % 2 == 0 else ["psql", "dbmate", "orch"]):
                url = fresh_database(admin, f"bench_{side}")
                if side == "orch":
                    wall, by_step = orchestrator_up(project, url)
                    steps.append(by_step)
                else:
                    wall = (dbmate_up if side == "dbmate" else psql_file)(project, url)
                rows = sql(url, "select count(*) from big")[0][0]
                if rows != count:
                    raise SystemExit(f"{side}: {rows} rows in big, expected {count}")
                times[side].append(wall)
                drop_database(admin, f"bench_{side}")
                say(f"  run {i + 1}: {side:<6} {wall:7.2f}s")

        med = {side: statistics.median(v) for side, v in times.items()}
        apply_s = statistics.median(s["apply"] for s in steps)
        review_s = statistics.median(s["review"] for s in steps)
        say(f"\none {args.size_mb} MB migration ({count} INSERTs), whole process, median of {args.repeat}; "
            f"{machine()}")
        labels = {"psql": "psql -1 -f up.sql", "dbmate": "dbmate --no-dump-schema up",
                  "orch": "orchestrator up --skip-backup --no-dump-schema"}
        say(table(["command", "wall s", "vs psql", "vs dbmate"], [
            [labels[side], f"{med[side]:.2f}", f"{med[side] / med['psql']:.2f}",
             f"{med[side] / med['dbmate']:.2f}"] for side in ("psql", "dbmate", "orch")
        ]))
        say(f"\norchestrator by step: review (parse, lint) {review_s:.2f}s, apply {apply_s:.2f}s "
            f"({apply_s / count * 1e6:.1f} us/statement), the rest {med['orch'] - review_s - apply_s:.2f}s")


if __name__ == "__main__":
    main()
