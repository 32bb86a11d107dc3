"""What a migration waiting for its lock does to the app's queries: orchestrator's lock
guard (lock_timeout + retries) against a plain ``psql -f`` with no lock_timeout.

Not a test: a script to run by hand.  It starts a throwaway embedded PostgreSQL and, for
each side, on a fresh database holding ``app_table`` (``--rows`` rows):

* runs pgbench (the embedded server's) for ``--duration`` seconds with ``--clients``
  clients and a custom script, ``select id, payload from app_table where id = :id``
  (random id), at a fixed arrival rate (``--rate``, default 1000 queries/s: an app's
  requests keep coming while the table is blocked, so a query's latency counts from when
  it was due, not from when a free client sent it) with ``--latency-limit`` (default
  1000 ms: a query already that late is skipped, as an app request would have timed out),
  logging every transaction (``--log``);
* ``--hold-at`` seconds in, a long transaction takes ACCESS SHARE on ``app_table``
  (``select count(*)``) and keeps it for ``--hold`` seconds (a report, a backup);
* ``--hold-at`` + 0.2 s in, the migration ``ALTER TABLE app_table ADD COLUMN note text``
  (it needs ACCESS EXCLUSIVE) starts:

  - ``guard``: ``orchestrator up --skip-backup --no-dump-schema`` (dev environment)
    with the default lock guard (``lock_timeout`` 100 ms, ``lock_retries`` 10, pauses
    doubling from 0.5 s, jittered), or ``--lock-timeout``/``--lock-retries`` if given;
  - ``plain``: ``psql -X -v ON_ERROR_STOP=1 -f`` of the same SQL, no lock_timeout.

A waiting ACCESS EXCLUSIVE request queues every later query on the table behind it, so
the app stalls for as long as the migration waits.  From pgbench's per-transaction logs it
reports the app's median, p99 and max latency (a skipped query counts as slower than the
limit), how many queries took over 100 ms, how many were late (over the limit) or
skipped (timed out), failed transactions and aborted clients; and whether the migration
succeeded and how long it took.

    python benchmarks/lock_impact.py                   # 10 s per side, lock held 6 s
    python benchmarks/lock_impact.py --duration 15 --hold 8 --clients 8
    python benchmarks/lock_impact.py --lock-timeout 500ms --lock-retries 3   # the old defaults

Targets (issue 13): with the defaults, the app's p99 <= 250 ms and max <= 1 s while the
migration waits 6 s, and the migration applies once the lock is free.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
from _bench import bin_dir, clean_env, machine, postgres, say, table
from support.postgres import fresh_database, sql
from support.project import write_migration

MIGRATION = "ALTER TABLE app_table ADD COLUMN note text;"
APP_SCRIPT = "\\set id random(1, {rows})\nselect id, payload from app_table where id = :id;\n"


def prepare(admin, name: str, rows: int):
    url = fresh_database(admin, name)
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        conn.execute("create table app_table (id bigint primary key, payload text not null)")
        conn.execute("insert into app_table select g, md5(g::text) from generate_series(1, %s) g", [rows])
        conn.execute("vacuum analyze app_table")
    return url


def hold_lock(url, seconds: float, out: dict) -> None:
    """A long transaction holding ACCESS SHARE on app_table for ``seconds``."""
    with psycopg.connect(url.conninfo()) as conn:
        conn.execute("select count(*) from app_table").fetchone()
        out["held_at"] = time.monotonic()
        time.sleep(seconds)
        conn.rollback()
        out["released_at"] = time.monotonic()


def parse_logs(prefix: Path) -> tuple[list[float], list[float], int, int]:
    """(latencies in ms from the scheduled start, completion times in epoch seconds,
    skipped transactions, failed transactions), from ``pgbench --log`` files."""
    latencies, ends, skipped, failed = [], [], 0, 0
    for path in sorted(prefix.parent.glob(prefix.name + ".*")):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) < 6:
                continue
            if fields[2] == "skipped":
                skipped += 1
                continue
            if not fields[2].isdigit():  # "failed", "serialization", "deadlock"
                failed += 1
                continue
            latencies.append(int(fields[2]) / 1000)
            ends.append(int(fields[4]) + int(fields[5]) / 1e6)
    return latencies, ends, skipped, failed


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(value: float) -> str:
    return "timed out" if value == float("inf") else f"{value:.1f}"  # milliseconds


def one_side(side: str, admin, work: Path, args) -> dict:
    url = prepare(admin, f"bench_{side}", args.rows)
    script = work / "app.sql"
    script.write_text(APP_SCRIPT.format(rows=args.rows))
    prefix = work / f"pgbench_{side}"
    pgbench = [str(bin_dir() / "pgbench"), "-n", "-f", str(script), "-c", str(args.clients), "-j", str(args.threads),
               "-T", str(args.duration), "--rate", str(args.rate), "--latency-limit", str(args.latency_limit),
               "--log", "--log-prefix", str(prefix), "-d", url.conninfo()]
    if side == "guard":
        project = work / "project"
        write_migration(project / "db" / "migrations", "0001", "add_note", MIGRATION,
                        "ALTER TABLE app_table DROP COLUMN note;")
        guard = "".join(f"    {key}: {value}\n" for key, value in
                        (("lock_timeout", args.lock_timeout), ("lock_retries", args.lock_retries)) if value)
        (project / "db" / "orchestrator.yml").write_text(
            "environments:\n  dev:\n    dump_schema: false\n" + guard, encoding="utf-8")
        migrate = [sys.executable, "-m", "orchestrator", "up", "--skip-backup", "--no-dump-schema"]
        cwd, env = project, clean_env(url)
    else:
        sql_file = work / "migration.sql"
        sql_file.write_text(MIGRATION + "\n")
        migrate = [str(bin_dir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(sql_file),
                   "-d", url.conninfo()]
        cwd, env = work, clean_env(None)

    held: dict = {}
    started = time.monotonic()
    started_epoch = time.time()
    bench = subprocess.Popen(pgbench, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=clean_env(None))
    try:
        time.sleep(args.hold_at)
        holder = threading.Thread(target=hold_lock, args=(url, args.hold, held), daemon=True)
        holder.start()
        time.sleep(0.2)
        m_start = time.monotonic()
        mig = subprocess.run(migrate, cwd=cwd, env=env, capture_output=True, text=True,
                             timeout=args.duration + 60, check=False)  # success is reported, not required
        m_end = time.monotonic()
        holder.join(timeout=args.hold + 30)
        out, err = bench.communicate(timeout=args.duration + 60)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    latencies, ends, skipped, failed_logged = parse_logs(prefix)
    if not latencies:
        raise SystemExit(f"{side}: pgbench logged no transactions:\n{out}\n{err}")
    text = out + err
    failed = re.search(r"number of failed transactions: (\d+)", text)
    aborted = len(re.findall(r"client \d+ aborted", text))
    columns = [r[0] for r in sql(url, "select column_name from information_schema.columns "
                                        "where table_name = 'app_table'")]
    # the window in which the app's queries were slow, relative to pgbench's start
    slow_ends = [e - started_epoch for lat, e in zip(latencies, ends) if lat > 100]
    everything = latencies + [float("inf")] * skipped  # a skipped query: slower than the limit
    return {
        "side": side,
        "tx": len(latencies) + skipped,
        "median": statistics.median(everything),
        "p99": percentile(everything, 99),
        "p999": percentile(everything, 99.9),
        "max": max(latencies),
        "over100": sum(lat > 100 for lat in everything),
        "late": sum(lat > args.latency_limit for lat in latencies),
        "skipped": skipped,
        "failed": max(int(failed[1]) if failed else 0, failed_logged),
        "aborted": aborted,
        "migration_ok": mig.returncode == 0 and "note" in columns,
        "migration_rc": mig.returncode,
        "migration_s": m_end - m_start,
        "migration_out": (mig.stdout + mig.stderr).strip(),
        "held_s": held.get("released_at", 0) - held.get("held_at", 0),
        "slow_window": (min(slow_ends), max(slow_ends)) if slow_ends else None,
        "started": started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="pgbench seconds per side (10)")
    parser.add_argument("--hold-at", type=float, default=2.0, help="seconds in when the long transaction starts (2)")
    parser.add_argument("--hold", type=float, default=6.0, help="seconds the long transaction holds its lock (6)")
    parser.add_argument("--lock-timeout", help="orchestrator's lock_timeout (its default: 100ms)")
    parser.add_argument("--lock-retries", help="orchestrator's lock_retries (its default: 10)")
    parser.add_argument("--clients", type=int, default=8, help="pgbench clients (8)")
    parser.add_argument("--threads", type=int, default=2, help="pgbench threads (2)")
    parser.add_argument("--rows", type=int, default=100_000, help="rows in app_table (100000)")
    parser.add_argument("--rate", type=int, default=1000, help="app queries per second, all clients (1000)")
    parser.add_argument("--latency-limit", type=int, default=1000,
                        help="ms after which a due query is skipped, as a timed-out request (1000)")
    args = parser.parse_args()
    if not (3 <= args.duration <= 120 and 0 < args.hold <= 60 and 0 <= args.hold_at < args.duration
            and 1 <= args.clients <= 64 and 1 <= args.threads <= args.clients and 1 <= args.rows <= 10**7
            and 1 <= args.rate <= 100_000 and 1 <= args.latency_limit <= 60_000):
        parser.error("out of range: --duration 3..120, --hold 0..60, --hold-at < duration, --clients 1..64, "
                     "--threads 1..clients, --rows 1..10^7, --rate 1..100000, --latency-limit 1..60000")

    results = []
    with postgres() as (admin, work):
        for side in ("guard", "plain"):
            r = one_side(side, admin, work, args)
            results.append(r)
            window = (f"slow queries ended between {r['slow_window'][0]:.1f}s and {r['slow_window'][1]:.1f}s"
                      if r["slow_window"] else "no query over 100 ms")
            say(f"  {side}: {r['tx']} queries, p99 {ms(r['p99'])}{'' if r['p99'] == float('inf') else ' ms'}, max {r['max']:.0f} ms, "
                f"{r['over100']} over 100 ms, {r['skipped']} skipped; migration {'ok' if r['migration_ok'] else 'FAILED'} in "
                f"{r['migration_s']:.2f}s; lock held {r['held_s']:.1f}s; {window}")
            if r["side"] == "guard" and r["migration_out"]:
                retries = [ln for ln in r["migration_out"].splitlines() if "retry" in ln or "lock" in ln.lower()]
                for ln in retries[:6]:
                    say(f"      {ln.strip()[:160]}")

    say("")
    say(f"pgbench {args.clients} clients x {args.duration}s of `select … from app_table where id = :id` at "
        f"{args.rate}/s, latency limit {args.latency_limit} ms; a "
        f"transaction holds ACCESS SHARE on app_table from {args.hold_at:g}s for {args.hold:g}s; "
        f"`{MIGRATION}` starts at {args.hold_at + 0.2:g}s; {machine()}")
    guard = ", ".join(f"{k} {v}" for k, v in (("lock_timeout", args.lock_timeout),
                                                ("lock_retries", args.lock_retries)) if v) or "default lock guard"
    labels = {"guard": f"orchestrator up ({guard})", "plain": "psql -f (no lock_timeout)"}
    say(table(
        ["migration run by", "app queries", "median ms", "p99 ms", "p99.9 ms", "max ms", "> 100 ms",
         f"late (> {args.latency_limit} ms)", "skipped (timed out)", "errors", "migration", "migration s"],
        [[labels[r["side"]], str(r["tx"]), ms(r["median"]), ms(r["p99"]), ms(r["p999"]),
          f"{r['max']:.0f}", str(r["over100"]), str(r["late"]), str(r["skipped"]),
          f"{r['failed']} failed, {r['aborted']} aborted", "succeeded" if r["migration_ok"] else
          f"failed (exit {r['migration_rc']})", f"{r['migration_s']:.2f}"] for r in results]))
    g = results[0]
    met = g["p99"] <= 250 and g["max"] <= 1000 and g["migration_ok"]
    say(f"target (p99 <= 250 ms, max <= 1000 ms, migration applied): {'met' if met else 'MISSED'} "
        f"(p99 {ms(g['p99'])} ms, max {g['max']:.0f} ms, migration {'applied' if g['migration_ok'] else 'not applied'})")


if __name__ == "__main__":
    main()
