"""How big the spend history (capit_tui.core.history) grows: 100 keys polled every 30 s for a simulated year,
every key spending at every poll (the worst case: a key whose spend does not move keeps two rows per flat
run). Then the cost of one refresh's sample (record + burn rates) for 100, 1 000 and 10 000 keys.

    python bench/history_size.py [--keys 100] [--days 365] [--full] [--idle 0.0]

The year runs on a simulated clock through the real History.record (the lock, SQLite, the downsampling).
Older than a day, only the last sample of each hour survives compaction, so by default the first days - 2
are polled hourly and the last 2 days every 30 s: the same rows, minutes instead of hours. --full polls every
30 s all year (about 100 times longer). Everything happens in a temp data dir; nothing else is touched.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
print = functools.partial(print, flush=True)  # noqa: A001 - each figure as soon as it is known


def mib(n: int) -> str:
    return f"{n / 1024 / 1024:.2f} MiB"


def simulate(keys: int, days: int, full: bool, idle: float) -> None:
    from capit_tui.core.history import History, record_and_rate
    from capit_tui.core.model import CappedKey

    rng = random.Random(12)
    ids = [f"{i:064x}" for i in range(keys)]
    spending = set(rng.sample(range(keys), round(keys * (1 - idle))))
    usage = [Decimal(0)] * keys
    history = History()
    end = T0 + timedelta(days=days)
    dense_from = T0 if full else end - timedelta(days=2)
    t = T0
    polls = 0
    took: list[float] = []
    started = time.perf_counter()
    while t < end:
        for i in spending:
            usage[i] += Decimal(rng.randint(1, 400)) / 100_000
        batch = [CappedKey("openrouter", ids[i], f"key-{i:03}", limit=Decimal(50), limit_reset="monthly",
                           usage=usage[i], usage_monthly=usage[i]) for i in range(keys)]
        t1 = time.perf_counter()
        history.record(batch, t)
        if t >= end - timedelta(hours=1):
            took.append(time.perf_counter() - t1)
        polls += 1
        t += timedelta(seconds=30) if t >= dense_from else timedelta(hours=1)
    now = t - timedelta(seconds=30)
    history.compact(now)
    rows = history.count()
    history.close()
    path = history.path
    wal = path.with_name(path.name + "-wal")
    on_disk = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
    print(f"{keys} keys ({len(spending)} spending at every poll), {days} simulated days, "
          f"{'every 30 s' if full else 'hourly, then every 30 s for the last 2 days'}: {polls:,} polls in "
          f"{time.perf_counter() - started:.0f} s")
    print(f"  rows kept          {rows:,} ({rows / keys:,.0f} a key)")
    print(f"  on disk            {mib(on_disk)} (database + WAL)")
    print(f"  after VACUUM       {mib(path.stat().st_size)}")
    print(f"  one poll's record  {statistics.median(took) * 1000:.1f} ms median ({keys} keys, the last hour)")
    t1 = time.perf_counter()
    record_and_rate(batch, now + timedelta(seconds=30), History())
    print(f"  record + burn rates in a fresh process-like History: {(time.perf_counter() - t1) * 1000:.0f} ms")


def refresh_cost(counts: list[int]) -> None:
    from capit_tui.core.history import History, record_and_rate
    from capit_tui.core.model import CappedKey

    print("one refresh's history work (record a sample per key, then every key's burn rate), after 2 h of polls:")
    for n in counts:
        folder = tempfile.TemporaryDirectory()
        history = History(Path(folder.name) / "h.sqlite3")
        ids = [f"{i:064x}" for i in range(n)]
        t = T0
        took = []
        steps, gap = (240, timedelta(seconds=30)) if n < 10_000 else (24, timedelta(minutes=5))  # 2 h either way
        for step in range(steps):
            batch = [CappedKey("openrouter", k, "k", usage=Decimal(step) / 100) for k in ids]
            t1 = time.perf_counter()
            record_and_rate(batch, t, history)
            if step >= steps - 5:
                took.append(time.perf_counter() - t1)
            t += gap
        history.close()
        folder.cleanup()
        print(f"  {n:>6} keys  {statistics.median(took) * 1000:8.0f} ms (median of the last polls)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=100)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--full", action="store_true", help="poll every 30 s for the whole period (slow)")
    ap.add_argument("--idle", type=float, default=0.0, help="share of keys that never spend (0-1)")
    ap.add_argument("--no-refresh-cost", action="store_true")
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CAPIT_DATA_DIR"] = tmp
        simulate(ns.keys, ns.days, ns.full, ns.idle)
        if not ns.no_refresh_cost:
            refresh_cost([100, 1_000, 10_000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
