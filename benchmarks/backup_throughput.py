"""How much a streamed, verified S3 backup costs over a bare ``pg_dump -Fc > /dev/null``.

Not a test: a script to run by hand.  It starts a throwaway embedded PostgreSQL, fills
a database to the size asked for, starts a moto S3 server on loopback, then times, in
turn and ``--repeat`` times each:

* ``bare``: ``pg_dump --format=custom`` into /dev/null;
* ``s3``: orchestrator's ``create_backup`` into the moto bucket (multipart upload,
  per-part SHA-256, HEAD verification, manifest), in a child process whose peak RSS
  (``VmHWM``) it reports;
* ``local``: the same into a local directory (``--no-local`` skips it).

    python benchmarks/backup_throughput.py              # 1 GiB
    python benchmarks/backup_throughput.py --size 200MB --repeat 3

The moto server runs in this process and shares the CPUs with pg_dump, the PostgreSQL
backend and the backup; a real S3 endpoint costs the machine nothing, so the S3 ratio
printed here is pessimistic on a small machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from _bench import REPO, postgres  # first: it puts the repository and tests/ on sys.path
from support import s3

from orchestrator import pgtools
from orchestrator.dburl import DatabaseURL

UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}

CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
from orchestrator.backup import open_store, create_backup
from orchestrator.dburl import DatabaseURL

url = DatabaseURL.parse(os.environ["BENCH_DATABASE_URL"])
store = open_store(os.environ["BENCH_LOCATION"], root=Path(os.environ["BENCH_ROOT"]),
                   part_size=int(os.environ["BENCH_PART_SIZE"]))
started = time.monotonic()
info = create_backup(url, store, environment="bench", run_id=os.environ["BENCH_RUN_ID"], schema_version=None)
seconds = time.monotonic() - started
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
me = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": seconds, "size": info.size, "peak_rss_kib": hwm,
                  "cpu": me.ru_utime + me.ru_stime, "pg_dump_cpu": kids.ru_utime + kids.ru_stime}))
"""


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", text)
    if not match or match[2].upper() not in UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 200MB, 1GiB)")
    return int(float(match[1]) * UNITS[match[2].upper()])


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


def fill(url: DatabaseURL, target: int, method: str) -> int:
    """Fill the database to about ``target`` bytes; return its size."""
    if method == "pgbench":
        scale = max(1, round(target / 15_600_000))  # ~15.6 MB per pgbench scale unit
        pgbench = pgtools.embedded_bin_dir() / "pgbench"
        subprocess.run([str(pgbench), "-i", "-q", "-s", str(scale), "--unlogged-tables",
                        "-d", url.conninfo()], check=True, capture_output=True)
    else:
        # rows that compress about as well as real data: text, numbers, timestamps
        with psycopg.connect(url.conninfo(), autocommit=True) as conn:
            conn.execute("create unlogged table bench (id bigint primary key, code text, note text, "
                         "amount numeric(12,2), qty int, at timestamptz)")
            batch, start = 200_000, 0
            while True:
                conn.execute(
                    "insert into bench select g, md5(g::text), 'order ' || (g %% 9973) || ' for customer ' "
                    "|| (g %% 104729) || ' ' || substr(md5(random()::text), 1, 12), (random() * 10000)::numeric(12,2), "
                    "(random() * 100)::int, timestamptz '2024-01-01' + g * interval '1 second' "
                    "from generate_series(%s::bigint, %s::bigint) g", [start + 1, start + batch])
                start += batch
                size = conn.execute("select pg_database_size(current_database())").fetchone()[0]
                if size >= target:
                    break
                per_row = size / start
                batch = max(10_000, min(2_000_000, int((target - size) / per_row) + 1))
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute("vacuum analyze")
        return conn.execute("select pg_database_size(current_database())").fetchone()[0]


def bare(url: DatabaseURL, pg_dump: Path) -> float:
    """Seconds for ``pg_dump -Fc > /dev/null``."""
    started = time.monotonic()
    subprocess.run([str(pg_dump), "--format=custom", "--no-password", "--dbname", url.conninfo()],
                   stdout=subprocess.DEVNULL, check=True, env={**os.environ, **url.env()})
    return time.monotonic() - started


def orchestrator(url: DatabaseURL, location: str, root: Path, part_size: int, run_id: str,
                 env: dict[str, str]) -> dict:
    env = {**os.environ, **env, "BENCH_DATABASE_URL": url.dbmate_url(), "BENCH_LOCATION": location,
           "BENCH_ROOT": str(root), "BENCH_PART_SIZE": str(part_size), "BENCH_RUN_ID": run_id,
           "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, check=True, capture_output=True, text=True)
    wall = time.monotonic() - started
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall"] = wall  # includes interpreter start and the boto3 import
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("1GiB"), help="database size (1GiB)")
    parser.add_argument("--method", choices=("rows", "pgbench"), default="rows",
                        help="rows: varied generated rows (default); pgbench: pgbench -i (compresses ~20x)")
    parser.add_argument("--part-size", type=parse_size, default=8 * 2**20, help="S3 part size (8MiB)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each kind; the fastest counts")
    parser.add_argument("--no-local", action="store_true", help="skip the local-directory backup")
    args = parser.parse_args()

    print(f"starting PostgreSQL and filling a database to ~{human(args.size)} ({args.method}) ...", flush=True)
    with postgres() as (admin, work):
        url = admin.with_database("bench")
        with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
            conn.execute("create database bench")
        t = time.monotonic()
        db_size = fill(url, args.size, args.method)
        print(f"filled {human(db_size)} in {time.monotonic() - t:.0f}s", flush=True)
        with psycopg.connect(url.conninfo()) as conn:
            major = conn.info.server_version // 10000
        pg_dump = pgtools.find_program("pg_dump", major)

        with s3.moto_server() as endpoint:
            s3_env = s3.variables(endpoint)
            bucket = s3.new_bucket(endpoint, "bench")
            runs: dict[str, list[dict]] = {"bare": [], "s3": [], "local": []}
            for i in range(args.repeat):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                seconds = bare(url, pg_dump)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                runs["bare"].append({"seconds": seconds})
                print(f"  run {i + 1}: bare pg_dump {seconds:.2f}s (pg_dump CPU {cpu:.2f}s)", flush=True)
                before = resource.getrusage(resource.RUSAGE_SELF)  # this process = moto
                r = orchestrator(url, f"{bucket.url}/backups", work, args.part_size, f"s3-{i}", s3_env)
                after = resource.getrusage(resource.RUSAGE_SELF)
                r["moto_cpu"] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                runs["s3"].append(r)
                print(f"  run {i + 1}: orchestrator -> S3 {r['seconds']:.2f}s (peak RSS "
                      f"{r['peak_rss_kib'] / 1024:.0f} MiB, CPU {r['cpu']:.2f}s, pg_dump CPU "
                      f"{r['pg_dump_cpu']:.2f}s, moto server CPU {r['moto_cpu']:.2f}s)", flush=True)
                if not args.no_local:
                    r = orchestrator(url, str(work / "local"), work, args.part_size, f"local-{i}", {})
                    runs["local"].append(r)
                    print(f"  run {i + 1}: orchestrator -> local dir {r['seconds']:.2f}s (peak RSS "
                          f"{r['peak_rss_kib'] / 1024:.0f} MiB, CPU {r['cpu']:.2f}s)", flush=True)

    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items() if v}
    dump = best["s3"]["size"]
    base = best["bare"]["seconds"]
    print()
    print(f"database {human(db_size)}, dump {human(dump)} (pg_dump -Fc), part size {human(args.part_size)}, "
          f"best of {args.repeat}, {os.cpu_count()} CPUs")
    print(f"{'what':<26} {'seconds':>8} {'MiB/s':>7} {'ratio':>6} {'peak RSS':>9}")
    rows = [("pg_dump -Fc > /dev/null", best["bare"], None)]
    rows.append(("orchestrator -> S3 (moto)", best["s3"], max(r["peak_rss_kib"] for r in runs["s3"])))
    if "local" in best:
        rows.append(("orchestrator -> local dir", best["local"],
                     max(r["peak_rss_kib"] for r in runs["local"])))
    for name, r, rss in rows:
        s = r["seconds"]
        rss_text = f"{rss / 1024:.0f} MiB" if rss else "-"
        print(f"{name:<26} {s:>8.2f} {dump / 2**20 / s:>7.1f} {s / base:>6.2f} {rss_text:>9}")


if __name__ == "__main__":
    main()
