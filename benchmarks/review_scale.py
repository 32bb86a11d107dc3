"""Review at scale: lint and dry run of one big migration against the bare pglast parse.

For each size and shape a migration file is generated (``inserts``: one-row ``INSERT INTO t
VALUES (…);`` lines, the common data-seeding file; ``mixed``: a realistic mix of DDL, index
builds, multi-row INSERTs and UPDATEs with WHERE clauses, in a few hundred bytes each),
then three fresh processes are timed, each with its peak RSS:

- ``parse``: ``pglast.parser.parse_sql(text)`` of the whole file in one call (the baseline);
- ``orchestrator lint FILE``;
- ``orchestrator up --dry-run`` (dev environment, a throwaway embedded PostgreSQL), which
  parses, lints, prints every statement and the plan hash, and writes the run log.

The table gives wall seconds, peak RSS, the ratio to the parse, seconds per MB (linear in
size when it stays flat), and the sizes of the dry run's run log JSON and Markdown summary.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import _bench

TARGET_RATIO = 3.0
TARGET_RSS_MIB = 300
PARSE = "import sys; from pglast.parser import parse_sql; parse_sql(open(sys.argv[1], encoding='utf-8').read())"


def inserts(size: int) -> str:
    """One-row INSERTs until ``size`` bytes: a seed file as people write them."""
    head = ("-- migrate:up\nCREATE TABLE seed (id bigint PRIMARY KEY, name text, email text, score numeric, "
            "created timestamptz);\n")
    out = [head]
    total, i = 0, 0
    while total < size:
        line = (f"INSERT INTO seed VALUES ({i}, 'user number {i}', 'user{i}@example.com', {i % 1000}.5, "
                "'2024-01-01 00:00:00+00');\n")
        out.append(line)
        total, i = total + len(line), i + 1
    return "".join(out) + "\n-- migrate:down\nDROP TABLE seed;\n"


def mixed(size: int) -> str:
    """Many small statements of several kinds, with comments: a long hand-written migration."""
    out = ["-- migrate:up\n"]
    total, i = 0, 0
    while total < size:
        block = (
            f"-- part {i}\nCREATE TABLE item_{i} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            f"label text NOT NULL, price numeric(10,2) CHECK (price >= 0));\n"
            f"CREATE INDEX item_{i}_label ON item_{i} (label);\n"
            f"INSERT INTO item_{i} (label, price) VALUES ('a{i}', 1.50), ('b{i}', 2.25), ('c{i}', 3.00);\n"
            f"UPDATE item_{i} SET price = price * 1.1 WHERE label LIKE 'a%';\n"
            f"COMMENT ON TABLE item_{i} IS 'catalogue part {i}';\n"
        )
        out.append(block)
        total, i = total + len(block), i + 1
    return "".join(out) + "\n-- migrate:down\nSELECT 1;\n"


def measure(args: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one fresh process.

    ``ru_maxrss`` of RUSAGE_CHILDREN is the largest of all children reaped so far, so each
    measurement runs in its own intermediate process (``/usr/bin/env`` would not do: it
    execs) that reports its child's figure."""
    probe = ("import resource, subprocess, sys, time; t = time.monotonic(); "
             "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE); "
             "w = time.monotonic() - t; "
             "sys.exit(r.stderr.decode()[-2000:] + ' exit ' + str(r.returncode)) if r.returncode else "
             "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    proc = subprocess.run([sys.executable, "-c", probe, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{' '.join(args[:5])} … failed: {proc.stderr[-2000:]}")
    wall, rss_kib = proc.stdout.split()
    return float(wall), int(rss_kib) / 1024


def project(root: Path, text: str) -> Path:
    """A project directory with one migration holding ``text``."""
    migrations = root / "db" / "migrations"
    migrations.mkdir(parents=True)
    path = migrations / "20240101000000_big.sql"
    path.write_text(text, encoding="utf-8")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="5,10,20", help="file sizes in MB (default 5,10,20)")
    ap.add_argument("--shapes", default="inserts,mixed", help="inserts, mixed or both (default both)")
    opts = ap.parse_args()
    shapes = {"inserts": inserts, "mixed": mixed}
    rows = []
    orchestrator = [sys.executable, "-m", "orchestrator"]
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    _bench.say(f"{_bench.machine()}; load average before: {load}")
    with _bench.postgres() as (url, _tmp), tempfile.TemporaryDirectory(prefix="review-scale-") as tmp:
        for shape in opts.shapes.split(","):
            for mb in (int(x) for x in opts.sizes.split(",")):
                root = Path(tmp) / f"{shape}-{mb}"
                text = shapes[shape](mb * 1_000_000)
                path = project(root, text)
                env = _bench.clean_env(url.with_database(f"scale_{shape}_{mb}"))
                _bench.run([*orchestrator, "create"], cwd=root, env=env)
                log = root / "run.json"
                figures = {
                    "parse": measure([sys.executable, "-c", PARSE, str(path)], cwd=root, env=env),
                    "lint": measure([*orchestrator, "lint", str(path)], cwd=root, env=env),
                    "dry run": measure([*orchestrator, "up", "--dry-run", "--run-log", str(log)], cwd=root, env=env),
                }
                base = figures["parse"][0]
                for what, (wall, rss) in figures.items():
                    sizes = (f"{log.stat().st_size / 1024:.0f} KiB / {log.with_suffix('.md').stat().st_size / 1024:.0f} KiB"
                             if what == "dry run" else "")
                    ok = what == "parse" or (wall / base <= TARGET_RATIO and rss <= TARGET_RSS_MIB)
                    rows.append([shape, f"{len(text) / 1e6:.1f}", what, f"{wall:.2f}", f"{wall / (len(text) / 1e6):.3f}",
                                 f"{rss:.0f}", f"{wall / base:.2f}", sizes, "" if what == "parse" else ("yes" if ok else "NO")])
                _bench.say(f"{shape} {mb} MB done")
    _bench.say("")
    _bench.say(_bench.table(
        ["shape", "MB", "what", "wall s", "s/MB", "peak RSS MiB", "x parse", "run log / summary",
         f"<= {TARGET_RATIO:g}x, <= {TARGET_RSS_MIB} MiB"], rows))
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    _bench.say(f"load average after: {load}")


if __name__ == "__main__":
    main()
