"""Peak memory of an S3 multipart upload whose parts grow past the chunk size (spooled).

Not a test: a script to run by hand.  It starts a moto S3 server on loopback, then, in a
child process each (whose peak RSS, ``VmHWM``, it reports), streams ``--sizes`` of
incompressible bytes through the S3 sink twice: with parts that never grow (every part
one 8 MiB chunk, sent from memory: today's default below 8 GiB) and with a schedule that
doubles every ``--grow-every`` parts (so most bytes go through spooled parts of up to
hundreds of MiB, as a multi-TB dump's would).  The target is a peak RSS <= 100 MiB, flat
as the dump grows.  No database: the bytes come from ``os.urandom`` in the child.

    python benchmarks/backup_parts.py --sizes 300MB,3GB
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from _bench import REPO
from support import s3

TARGET_MIB = 100
CHILD = r"""
import io, json, os, resource, time
from pathlib import Path
from orchestrator.backup import open_store
from orchestrator.backup.stream import pump

class Source(io.RawIOBase):
    def __init__(self, size): self.left = size; self.block = os.urandom(1 << 20)
    def readable(self): return True
    def readinto(self, b):
        n = min(len(b), self.left, len(self.block)); b[:n] = self.block[:n]; self.left -= n; return n

total, grow = int(os.environ["BENCH_SIZE"]), int(os.environ["BENCH_GROW_EVERY"])
store = open_store(os.environ["BENCH_LOCATION"], root=Path("."), grow_every=grow)
sink = store.sink(f"bench/{grow}-{total}.dump", {})
started = time.monotonic()
size, _ = pump(io.BufferedReader(Source(total), 1 << 20), sink, store.part_size, None, 60.0, started)
verified = sink.finish(size)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"seconds": time.monotonic() - started, "parts": verified["parts"], "peak_rss_kib": hwm}))
"""


def run(size: int, grow_every: int, location: str, env: dict[str, str]) -> dict:
    env = {**env, "BENCH_SIZE": str(size), "BENCH_GROW_EVERY": str(grow_every), "BENCH_LOCATION": location,
           "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", CHILD], check=False, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="300MB,3GB", help="comma-separated, MB or GB (10^6, 10^9)")
    parser.add_argument("--grow-every", type=int, default=4, help="parts per size in the growing schedule")
    args = parser.parse_args()
    sizes = [int(float(s[:-2]) * (10**9 if s.upper().endswith("GB") else 10**6)) for s in args.sizes.split(",")]
    with s3.moto_server() as endpoint:
        bucket = s3.new_bucket(endpoint, "bench")
        env = s3.environment(dict(os.environ), endpoint)
        rows = []
        for size in sizes:
            for label, grow in (("8 MiB parts, in memory", 10**9), (f"x2 every {args.grow_every} parts, spooled",
                                                                    args.grow_every)):
                r = run(size, grow, f"{bucket.url}/bench", env)
                rows.append((f"{size / 1e6:,.0f} MB, {label}", r))
                print(f"  {rows[-1][0]}: {r['seconds']:.1f}s, {r['parts']} parts, "
                      f"peak RSS {r['peak_rss_kib'] / 1024:.0f} MiB", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; target: peak RSS <= {TARGET_MIB} MiB")
    print(f"{'what':<44} {'parts':>6} {'seconds':>8} {'peak RSS':>9} {'vs target':>9}")
    for name, r in rows:
        rss = r["peak_rss_kib"] / 1024
        print(f"{name:<44} {r['parts']:>6} {r['seconds']:>8.1f} {rss:>7.0f} MiB {rss / TARGET_MIB:>8.2f}x")


if __name__ == "__main__":
    main()
