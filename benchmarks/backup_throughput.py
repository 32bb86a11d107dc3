"""How long a streamed, compressed, verified backup takes against a bare ``pg_dump -Fc > /dev/null``.

Not a test: a script to run by hand.  It starts a throwaway embedded PostgreSQL, fills
a database to the size asked for, starts a moto S3 server on loopback, then times, in
turn and ``--repeat`` times each:

* ``pg_dump -Fc > /dev/null`` (pg_dump's own gzip: the target's yardstick), and
  ``pg_dump -Fc -Z0 > /dev/null`` (no compression: the floor of any backup);
* orchestrator's ``create_backup`` with the default compression into the moto bucket
  (multipart upload, per-part SHA-256, HEAD verification, manifest) and into a local
  directory, each in a child process whose peak RSS (``VmHWM``) it reports;
* the same into a local directory with each other ``compression`` setting
  (``--compressions``; ``--no-local`` skips every local row): zstd and lz4 compressed by
  orchestrator beside ``pg_dump -Z0``, gzip by pg_dump itself (``--compress=N``).

The size of each stored object is set against that of ``pg_dump -Fc``'s output
(measured once, untimed).

    python benchmarks/backup_throughput.py --size 300MB
    python benchmarks/backup_throughput.py --size 3GB --repeat 1 --compressions ""

The moto server runs in this process and shares the CPUs with pg_dump, the PostgreSQL
backend and the backup; a real S3 endpoint costs the machine nothing, so the S3 ratio
printed here is pessimistic on a small machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from _bench import REPO, postgres  # first: it puts the repository and tests/ on sys.path
from support import s3

from orchestrator import pgtools
from orchestrator.compression import DEFAULT, parse
from orchestrator.dburl import DatabaseURL

UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}

CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
from orchestrator.backup import open_store, create_backup
from orchestrator.compression import parse
from orchestrator.dburl import DatabaseURL

url = DatabaseURL.parse(os.environ["BENCH_DATABASE_URL"])
store = open_store(os.environ["BENCH_LOCATION"], root=Path(os.environ["BENCH_ROOT"]),
                   part_size=int(os.environ["BENCH_PART_SIZE"]))
started = time.monotonic()
info = create_backup(url, store, environment="bench", run_id=os.environ["BENCH_RUN_ID"], schema_version=None,
                     compression=parse(os.environ["BENCH_COMPRESSION"]))
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


def bare(url: DatabaseURL, pg_dump: Path, *extra: str) -> float:
    """Seconds for ``pg_dump -Fc [extra] > /dev/null``."""
    started = time.monotonic()
    subprocess.run([str(pg_dump), "--format=custom", *extra, "--no-password", "--dbname", url.conninfo()],
                   stdout=subprocess.DEVNULL, check=True, env={**os.environ, **url.env()})
    return time.monotonic() - started


def dump_size(url: DatabaseURL, pg_dump: Path) -> int:
    """Bytes that ``pg_dump -Fc`` writes (untimed)."""
    with subprocess.Popen([str(pg_dump), "--format=custom", "--no-password", "--dbname", url.conninfo()],
                          stdout=subprocess.PIPE, env={**os.environ, **url.env()}) as proc:
        assert proc.stdout is not None
        return sum(len(chunk) for chunk in iter(lambda: proc.stdout.read1(2**20), b""))


def orchestrator(url: DatabaseURL, location: str, root: Path, part_size: int, run_id: str,
                 env: dict[str, str], compression: str) -> dict:
    env = {**os.environ, **env, "BENCH_DATABASE_URL": url.dbmate_url(), "BENCH_LOCATION": location,
           "BENCH_COMPRESSION": compression,
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
    parser.add_argument("--no-local", action="store_true", help="skip the local-directory backups")
    parser.add_argument("--compressions", default="zstd:1,zstd:9,lz4,gzip,gzip:1,none",
                        help="settings timed into a local directory besides the default (comma-separated)")
    args = parser.parse_args()
    settings = [str(parse(c)) for c in args.compressions.split(",") if c.strip()]

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
        reference = dump_size(url, pg_dump)

        default = str(DEFAULT)
        kinds = [("pg_dump -Fc > /dev/null", None, None), ("pg_dump -Fc -Z0 > /dev/null", None, None),
                 (f"orchestrator -> S3 ({default}, default)", "s3", default)]
        if not args.no_local:
            kinds.append((f"orchestrator -> local ({default}, default)", "local", default))
            kinds += [(f"orchestrator -> local ({c})", "local", c) for c in settings if c != default]
        with s3.moto_server() as endpoint:
            s3_env = s3.variables(endpoint)
            bucket = s3.new_bucket(endpoint, "bench")
            runs: dict[str, list[dict]] = {name: [] for name, _, _ in kinds}
            for i in range(args.repeat):
                for name, where, compression in kinds:
                    if where is None:
                        extra = ("--compress=0",) if "-Z0" in name else ()
                        r = {"seconds": bare(url, pg_dump, *extra), "size": reference if not extra else 0,
                             "peak_rss_kib": 0}
                    elif where == "s3":
                        r = orchestrator(url, f"{bucket.url}/backups", work, args.part_size, f"s3-{i}",
                                         s3_env, compression)
                    else:
                        run_id = f"local-{i}-{compression.replace(':', '-')}"
                        r = orchestrator(url, str(work / "local"), work, args.part_size, run_id, {}, compression)
                    runs[name].append(r)
                    rss = f", peak RSS {r['peak_rss_kib'] / 1024:.0f} MiB" if r["peak_rss_kib"] else ""
                    print(f"  run {i + 1}: {name} {r['seconds']:.2f}s{rss}", flush=True)

    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items()}
    base = best["pg_dump -Fc > /dev/null"]["seconds"]
    load = os.getloadavg()
    print()
    print(f"database {human(db_size)}, pg_dump -Fc writes {human(reference)}, part size {human(args.part_size)}, "
          f"best of {args.repeat}, {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print(f"{'what':<38} {'seconds':>8} {'ratio':>6} {'peak RSS':>9} {'object':>10} {'size ratio':>10}")
    for name, r in best.items():
        rss = max(x["peak_rss_kib"] for x in runs[name])
        rss_text = f"{rss / 1024:.0f} MiB" if rss else "-"
        size_text = human(r["size"]) if r["size"] else "-"
        ratio_text = f"{r['size'] / reference:.2f}" if r["size"] else "-"
        print(f"{name:<38} {r['seconds']:>8.2f} {r['seconds'] / base:>6.2f} {rss_text:>9} {size_text:>10} "
              f"{ratio_text:>10}")


if __name__ == "__main__":
    main()
