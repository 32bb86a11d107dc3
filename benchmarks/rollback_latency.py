"""How quickly a deploy that breaks the app is rolled back once the app is seen unhealthy.

Not a test: a script to run by hand.  It starts a throwaway embedded PostgreSQL and, in
this process, a loopback ``/health/db`` endpoint (127.0.0.1) that runs the app's query
(``select id, email, full_name from users``) and answers 200, or 503 when the query
fails; it records the time of every answer.  Then, ``--repeat`` times, on a fresh
database:

1. ``dbmate up`` applies ``0001`` (the ``users`` table the app reads);
2. ``0002`` (``ALTER TABLE users RENAME COLUMN full_name TO name``: it breaks the app) is
   added and ``orchestrator up -e staging`` runs: a local backup directory, health
   attempts 2, interval 100ms, timeout 1s.  The app answers 503 twice, orchestrator rolls
   ``0002`` back, checks health again and writes its run log (exit 1, ``rolled_back``).

While it runs, one thread polls the database (every ~3 ms) for the version in
``schema_migrations`` going back to ``0001`` after ``0002`` was seen, and another the run
log file appearing (every ~2 ms).  Latencies are measured from the last 503 the app sent:

* to the database rolled back (``0002`` gone from ``schema_migrations``, committed);
* to the run log written (the file appears);
* to the orchestrator process exiting.

    python benchmarks/rollback_latency.py              # 5 repeats
    python benchmarks/rollback_latency.py --repeat 10
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import psycopg
from _bench import clean_env, machine, postgres, run, say, stats, table
from support.health_app import HealthApp
from support.postgres import drop_database, fresh_database
from support.project import dbmate_exe, write_migration

APP_QUERY = "select id, email, full_name from users limit 1"


class Watch(threading.Thread):
    """Polls the database for the rollback and the file system for the run log's outcome
    (the log exists from the start of the run: it is written as the run goes)."""

    def __init__(self, url, run_log: Path, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.run_log, self.stop = url, run_log, stop
        self.saw_applied: float | None = None
        self.rolled_back: float | None = None
        self.log_written: float | None = None

    def run(self) -> None:
        with psycopg.connect(self.url.conninfo(), autocommit=True) as conn:
            deadline = time.monotonic() + 120  # bounded, whatever happens
            while not self.stop.is_set() and time.monotonic() < deadline:
                now = time.monotonic()
                if self.log_written is None and _finished(self.run_log):
                    self.log_written = now
                if self.rolled_back is None:
                    latest = conn.execute("select max(version) from schema_migrations").fetchone()[0]
                    if latest == "0002" and self.saw_applied is None:
                        self.saw_applied = now
                    elif latest == "0001" and self.saw_applied is not None:
                        self.rolled_back = time.monotonic()
                if self.rolled_back is not None and self.log_written is not None:
                    return
                time.sleep(0.002)


def _finished(run_log: Path) -> bool:
    """The run log says how the run ended (not ``running``)."""
    try:
        return json.loads(run_log.read_text()).get("outcome") not in (None, "running")
    except (OSError, ValueError):  # not there yet, or being replaced
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="deploys (5)")
    args = parser.parse_args()
    if not 1 <= args.repeat <= 100:
        parser.error("--repeat must be 1..100")

    with postgres() as (admin, work):
        project = work / "project"
        migrations = project / "db" / "migrations"
        write_migration(
            migrations, "0001", "users",
            "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, full_name text);\n"
            "INSERT INTO users SELECT g, 'user' || g || '@example.com', 'User ' || g FROM generate_series(1, 1000) g;",
            "DROP TABLE users;",
        )
        breaking_up = ("-- orchestrator:ignore rename-column the benchmark breaks the app on purpose\n"
                       "ALTER TABLE users RENAME COLUMN full_name TO name;")
        breaking_down = "ALTER TABLE users RENAME COLUMN name TO full_name;"
        app = HealthApp(admin, APP_QUERY)
        (project / "db" / "orchestrator.yml").write_text(
            "environments:\n"
            "  staging:\n"
            f"    backup: {work / 'backups'}\n"
            f"    health_url: {app.url}\n"
            "    health:\n"
            "      attempts: 2\n"
            "      interval: 100ms\n"
            "      timeout: 1s\n",
            encoding="utf-8",
        )
        results = []
        try:
            for i in range(args.repeat):
                name = f"bench_rollback_{i}"
                url = fresh_database(admin, name)
                app.db_url = url
                (migrations / "0002_break_app.sql").unlink(missing_ok=True)
                run([dbmate_exe(), "--no-dump-schema", "up"], cwd=project, env=clean_env(url))
                write_migration(migrations, "0002", "break_app", breaking_up, breaking_down)
                run_log = project / ".orchestrator" / "runs" / f"rollback-{i}.json"
                app.reset()
                stop = threading.Event()
                watch = Watch(url, run_log, stop)
                watch.start()
                started = time.monotonic()
                _, proc = run([sys.executable, "-m", "orchestrator", "up", "-e", "staging", "--no-dump-schema",
                               "--run-log", str(run_log)],
                              cwd=project, env=clean_env(None, STAGING_DATABASE_URL=url.dbmate_url()),
                              timeout=180, check=False)
                exited = time.monotonic()
                watch.join(timeout=5)
                stop.set()
                doc = json.loads(run_log.read_text())
                if proc.returncode != 1 or doc["outcome"] != "rolled_back":
                    raise SystemExit(f"run {i + 1}: expected exit 1 / rolled_back, got {proc.returncode} / "
                                     f"{doc['outcome']}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
                failed = [t for t, status in app.answers if status == 503]
                if not failed or watch.rolled_back is None or watch.log_written is None:
                    raise SystemExit(f"run {i + 1}: nothing measured (503s: {len(failed)}, rolled back: "
                                     f"{watch.rolled_back}, log: {watch.log_written})")
                last = max(failed)
                steps = {s["name"]: s for s in doc["steps"]}
                r = {
                    "db": (watch.rolled_back - last) * 1000,
                    "log": (watch.log_written - last) * 1000,
                    "exit": (exited - last) * 1000,
                    "total": (exited - started) * 1000,
                    "failed_probes": len(failed),
                    "rollback_step": (steps["rollback"]["seconds"] or 0) * 1000,
                    "health_after": sum(a.get("seconds") or 0 for a in doc["health"].get("after_rollback", []))
                    * 1000,
                }
                results.append(r)
                say(f"  run {i + 1}: last 503 -> rolled back {r['db']:.0f} ms, -> run log {r['log']:.0f} ms, "
                    f"-> exit {r['exit']:.0f} ms (whole deploy {r['total'] / 1000:.2f}s, {r['failed_probes']} x 503)")
                drop_database(admin, name)
        finally:
            app.close()

    say("")
    say(f"orchestrator up -e staging of a migration that breaks the app (health attempts 2, interval 100ms, "
        f"timeout 1s), {args.repeat} runs; {machine()}")
    rows = []
    for label, key in (("last 503 -> database rolled back (0002 gone, committed)", "db"),
                       ("last 503 -> run log written", "log"),
                       ("last 503 -> process exited", "exit"),
                       ("rollback step (run log: down section + bookkeeping)", "rollback_step"),
                       ("health after rollback (run log)", "health_after"),
                       ("whole deploy (process start to exit)", "total")):
        lo, mid, hi = stats([r[key] for r in results])
        rows.append([label, f"{lo:.0f}", f"{mid:.0f}", f"{hi:.0f}"])
    say(table(["interval", "min ms", "median ms", "max ms"], rows))


if __name__ == "__main__":
    main()
