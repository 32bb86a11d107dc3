"""What orchestrator's restore costs over a bare pg_restore of the same dump.

Not a test: a script to run by hand.  It starts a throwaway embedded PostgreSQL, fills a
database to ``--size-mb`` with ``pgbench -i`` (the embedded server's pgbench), makes a
backup with orchestrator's ``backup.create_backup`` into a local backup directory and a
``pg_dump -Fc`` into a local file, then times, ``--repeat`` times each, alternating the
order, restores into the same database:

* ``orchestrator``: ``backup.restore`` (reads the dump once to check its size and
  SHA-256 against the manifest, then one psql transaction that empties the database and
  runs the archive as SQL, streamed from ``pg_restore --no-owner -f -``);
* ``bare``: ``pg_restore --clean --if-exists --no-owner -d …`` of the local file;
* ``bare --single-transaction`` (unless ``--no-single``): the bare command plus
  ``--single-transaction``, to tell the cost of the one transaction from the cost of the
  checksum.

After each restore the row count is checked.  ``--method rows`` fills with
``backup_throughput.py``'s varied rows instead, whose dump is far bigger (pgbench's
compresses about 50 times), so the checksum's share shows.

    python benchmarks/restore.py                  # 1 GiB
    python benchmarks/restore.py --size-mb 256 --repeat 2
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import time
from pathlib import Path

import psycopg
from _bench import bin_dir, machine, postgres, say, table
from support.postgres import fresh_database, sql

from orchestrator import backup, pgtools
from orchestrator.dburl import DatabaseURL

MB_PER_SCALE = 15.6  # pgbench -i: about 15.6 MB per scale unit (100 000 accounts)


def fill(url: DatabaseURL, size_mb: int, unlogged: bool, method: str) -> tuple[int, int]:
    """Fill the database; return (pgbench scale or 0, database size)."""
    if method == "rows":  # backup_throughput.py's varied rows, which compress like real data
        from backup_throughput import fill as fill_rows

        return 0, fill_rows(url, size_mb * 10**6, "rows")
    scale = max(1, round(size_mb / MB_PER_SCALE))
    args = [str(bin_dir() / "pgbench"), "-i", "-q", "-s", str(scale), "-d", url.conninfo()]
    if unlogged:
        args.insert(2, "--unlogged-tables")
    subprocess.run(args, check=True, capture_output=True)
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute("vacuum analyze")
        size = conn.execute("select pg_database_size(current_database())").fetchone()[0]
    return scale, size


def count_rows(url: DatabaseURL, method: str) -> int:
    return sql(url, f"select count(*) from {'bench' if method == 'rows' else 'pgbench_accounts'}")[0][0]


def sha256_seconds(path: Path) -> float:
    started = time.monotonic()
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(2**20):
            digest.update(chunk)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="database size in MB (1024)")
    parser.add_argument("--repeat", type=int, default=1, help="restores of each kind (1); the median counts")
    parser.add_argument("--unlogged", action="store_true", help="pgbench --unlogged-tables (faster, less real)")
    parser.add_argument("--method", choices=("pgbench", "rows"), default="pgbench",
                        help="pgbench: pgbench -i (default; the dump compresses ~50x); rows: varied generated "
                             "rows as in backup_throughput.py (unlogged; a dump ~1/3 of the database)")
    parser.add_argument("--no-single", action="store_true", help="skip the bare --single-transaction variant")
    args = parser.parse_args()
    if not 1 <= args.size_mb <= 100_000 or not 1 <= args.repeat <= 20:
        parser.error("--size-mb must be 1..100000 and --repeat 1..20")

    with postgres() as (admin, work):
        url = fresh_database(admin, "bench")
        say(f"filling a database to ~{args.size_mb} MB ({args.method}) ...")
        t = time.monotonic()
        scale, db_size = fill(url, args.size_mb, args.unlogged, args.method)
        rows = count_rows(url, args.method)
        say(f"filled {db_size / 2**20:.0f} MiB ({rows} rows) in {time.monotonic() - t:.0f}s")
        with psycopg.connect(url.conninfo()) as conn:
            major = conn.info.server_version // 10000
        pg_dump = pgtools.find_program("pg_dump", major)
        pg_restore = pgtools.find_program("pg_restore", major)
        env = {**os.environ, **url.env()}

        store = backup.open_store(str(work / "backups"), root=work)
        t = time.monotonic()
        info = backup.create_backup(url, store, environment="bench", run_id="restore-bench", schema_version=None)
        say(f"orchestrator backup: {info.size / 2**20:.1f} MiB in {time.monotonic() - t:.1f}s ({info.url})")
        dump = work / "bare.dump"
        t = time.monotonic()
        subprocess.run([str(pg_dump), "--format=custom", "--no-password", "--file", str(dump),
                        "--dbname", url.conninfo()], check=True, env=env)
        say(f"pg_dump -Fc: {dump.stat().st_size / 2**20:.1f} MiB in {time.monotonic() - t:.1f}s")
        hash_s = sha256_seconds(Path(info.url))  # a local store's URL is the file's path

        bare_args = [str(pg_restore), "--clean", "--if-exists", "--no-owner", "--no-password",
                     "-d", url.conninfo(), str(dump)]
        kinds = ["orchestrator", "bare"] + ([] if args.no_single else ["bare --single-transaction"])
        times: dict[str, list[float]] = {k: [] for k in kinds}
        for i in range(args.repeat):
            order = kinds if i % 2 == 0 else list(reversed(kinds))
            for kind in order:
                sql(url, "checkpoint")
                started = time.monotonic()
                if kind == "orchestrator":
                    backup.restore(url, store, backup.find_backup(store, info.key))
                elif kind == "bare":
                    subprocess.run(bare_args, check=True, env=env, capture_output=True)
                else:
                    subprocess.run(bare_args[:1] + ["--single-transaction"] + bare_args[1:], check=True, env=env,
                                   capture_output=True)
                seconds = time.monotonic() - started
                n = count_rows(url, args.method)
                if n != rows:
                    raise SystemExit(f"{kind}: {n} rows after the restore, expected {rows}")
                times[kind].append(seconds)
                say(f"  run {i + 1}: {kind:<26} {seconds:7.2f}s")

    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["bare"]
    say("")
    what = f"pgbench scale {scale}{', unlogged' if args.unlogged else ''}" if scale else "generated rows, unlogged"
    say(f"restore of a {db_size / 2**20:.0f} MiB database ({what}; "
        f"dump {info.size / 2**20:.1f} MiB), median of {args.repeat}; {machine()}")
    labels = {
        "bare": "pg_restore --clean --if-exists --no-owner",
        "bare --single-transaction": "the same + --single-transaction",
        "orchestrator": "orchestrator backup.restore (SHA-256 + single transaction)",
    }
    say(table(["restore", "wall s", "runs", "ratio to bare"],
              [[labels[k], f"{med[k]:.2f}", " ".join(f"{x:.2f}" for x in times[k]), f"{med[k] / base:.2f}"]
               for k in ["bare", *(["bare --single-transaction"] if not args.no_single else []), "orchestrator"]]))
    say(f"\nSHA-256 of the {info.size / 2**20:.1f} MiB dump alone (what orchestrator adds before pg_restore): "
        f"{hash_s:.2f}s")


if __name__ == "__main__":
    main()
