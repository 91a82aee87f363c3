"""The Keys table alone, at 10 000 and 100 000 keys: no network, the keys built in the child beforehand.

    python bench/keytable.py [--keys 10000,100000] [--runs 1] [--filter ci-b] [--rounds 1]

Each run is a fresh child process running CapitApp headless (run_test, 160x45) over an empty sandbox
(so the screen has a platform and shows its table), then handing the app a whole listing at once, as a
refresh does (SpendWatch.apply + spend_signal). It measures:

- data in -> first rows painted: from the listing handed over (SpendWatch.apply, then the publish) to the
  first frame the screen renders with rows in the table (App._display, called with each frame even
  headless), and the process's CPU time over it; also from the publish alone (the screen's share: apply
  is the core's);
- filter keystroke -> repaint: `/`, then each character of --filter, from the key press to the next frame;
  then clearing it (escape) the same way (median over --rounds); median and max. That includes Pilot's own work (posting the key
  through the driver, waiting for idle), so the app's own share is measured too: from the key event reaching
  the app (App.on_event) to the frame (`key_*`), and the process's CPU time over that span (`cpu_*`);
- the longest event-loop stall (a 1 ms ticker in the app's loop) over the load and the typing;
- RSS: peak (ru_maxrss) and current after everything.

To compare with another copy of the package: CAPIT_BENCH_PYTHONPATH=/path/to/checkout python bench/keytable.py
Figures are printed; nothing is asserted and no file is written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAMES = ("ci-bot", "prod-backend", "capit-claude", "capit-codex", "load-test", "docs-writer", "staging-api",
         "support-triage", "nightly-ci", "bob-desktop", "migration-script", "capit-aider")


def make_keys(n: int) -> list:
    import random
    from datetime import datetime, timedelta, timezone
    from decimal import Decimal

    from capit_tui.core.model import CappedKey

    rng = random.Random(7)
    now = datetime(2026, 11, 21, 12, tzinfo=timezone.utc)
    keys = []
    for i in range(n):
        limit = None if rng.random() < 0.2 else Decimal(rng.choice((1, 5, 10, 25, 50)))
        usage = (Decimal(rng.randint(0, 6000)) / 100)
        keys.append(CappedKey("openrouter", f"{rng.getrandbits(128):032x}{i:08x}", f"{rng.choice(NAMES)}-{i}",
                              limit=limit, limit_reset=rng.choice(("daily", "weekly", "monthly", None)),
                              usage=usage, usage_daily=usage / 4, usage_monthly=usage,
                              disabled=rng.random() < 0.1, created_at=now - timedelta(minutes=i),
                              last_used_at=now - timedelta(hours=rng.randint(0, 500)) if rng.random() < 0.7 else None))
    try:  # a listing reaches the app sorted by core.keys.list_keys_on, whose sort makes each key's order
        from capit_tui.core.keys import sort_key
    except ImportError:
        return keys
    keys.sort(key=sort_key)
    return keys


class Ticker:
    def __init__(self) -> None:
        self.max_gap = 0.0
        self._stop = False

    async def run(self) -> None:
        last = time.perf_counter()
        while not self._stop:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.max_gap = max(self.max_gap, now - last)
            last = now


def rss_now_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def child(n: int, text: str, rounds: int = 1) -> dict:
    from textual import events

    from capit_tui.core.keys import Configured
    from capit_tui.core.settings import PlatformConfig, Settings
    from capit_tui.sandbox import Sandbox
    from capit_tui.tui.app import CapitApp

    keys = make_keys(n)
    sb = Sandbox(seed_keys=0).start()
    out: dict = {"keys": n}
    try:
        app = CapitApp(platforms=[Configured(PlatformConfig("openrouter", "openrouter", sb.base_url), "env",
                                             sb.management_key)],
                       settings=Settings(), auto_refresh=False, agent_env={"HOME": os.environ["HOME"], "PATH": "/x"})
        frames: list[float] = []
        framed = asyncio.Event()
        display = app._display

        def timed_display(screen, renderable):  # each frame the screen renders (headless: not written out)
            display(screen, renderable)
            if renderable is not None:
                now = time.perf_counter()
                cpu_at[now] = time.process_time()
                frames.append(now)
                framed.set()

        app._display = timed_display  # type: ignore[method-assign]
        keys_in: list[tuple[float, float]] = []  # (wall, CPU) when each key event reached the app
        on_event = app.on_event

        async def timed_on_event(event):
            if isinstance(event, events.Key):
                keys_in.append((time.perf_counter(), time.process_time()))
            await on_event(event)

        app.on_event = timed_on_event  # type: ignore[method-assign]
        cpu_at: dict[float, float] = {}  # frame time -> CPU time then
        async with app.run_test(size=(160, 45)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            table = app.screen.query_one("#keys")

            async def next_frame(after: float, timeout: float = 600) -> float:
                end = time.perf_counter() + timeout
                while time.perf_counter() < end:
                    later = [f for f in frames if f > after]
                    if later:
                        return later[0]
                    framed.clear()  # woken by the next frame (polling would add its own CPU to the figures)
                    try:
                        await asyncio.wait_for(framed.wait(), max(0.001, end - time.perf_counter()))
                    except asyncio.TimeoutError:
                        break
                raise SystemExit("no frame")

            ticker = Ticker()
            tick = asyncio.get_running_loop().create_task(ticker.run())
            await asyncio.sleep(0.02)
            ticker.max_gap = 0.0
            t0, cpu0 = time.perf_counter(), time.process_time()
            update = app.spend.apply(keys, {}, app.clock())
            app.loaded_platforms.add("openrouter")
            t_published = time.perf_counter()
            app.spend_signal.publish(update)
            t_applied = time.perf_counter()
            while True:
                f = await next_frame(t_applied)
                if table.row_count:
                    break
                t_applied = f
            out["first_paint_ms"] = (f - t0) * 1000
            out["first_paint_cpu_ms"] = (cpu_at[f] - cpu0) * 1000
            out["paint_after_publish_ms"] = (f - t_published) * 1000  # the screen's share (apply is core's)
            out["rows"] = table.row_count
            await pilot.pause()
            await asyncio.sleep(0.3)
            out["load_stall_ms"] = ticker.max_gap * 1000

            ticker.max_gap = 0.0
            per_key, app_key, cpu_key, clears = [], [], [], []
            for _ in range(rounds):
                await pilot.press("slash")
                await pilot.pause()
                for ch in text:
                    t = time.perf_counter()
                    await pilot.press(ch)
                    f = await next_frame(t)
                    per_key.append((f - t) * 1000)
                    k_wall, k_cpu = keys_in[-1]
                    app_key.append((f - k_wall) * 1000)
                    cpu_key.append((cpu_at[f] - k_cpu) * 1000)
                out["filtered_rows"] = table.row_count
                t = time.perf_counter()
                await pilot.press("escape")
                clears.append((await next_frame(t) - t) * 1000)
                await pilot.pause()
            out["clear_ms"] = statistics.median(clears)
            out["filter_ms_median"] = statistics.median(per_key)
            out["filter_ms_max"] = max(per_key)
            out["filter_ms"] = per_key
            out["key_ms_median"] = statistics.median(app_key)
            out["key_ms_max"] = max(app_key)
            out["cpu_ms_median"] = statistics.median(cpu_key)
            out["cpu_ms_max"] = max(cpu_key)
            out["typing_stall_ms"] = ticker.max_gap * 1000
            ticker._stop = True
            await tick
            out["rows_after_clear"] = table.row_count
            out["table"] = type(table).__name__
    finally:
        sb.stop()
    out["rss_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["rss_now_mb"] = rss_now_mb()
    return out


def run_child(n: int, text: str, rounds: int = 1) -> dict:
    with tempfile.TemporaryDirectory(prefix="capit-bench-kt-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPIT_", "XDG_", "PYTHON"))}
        env.update(HOME=home, XDG_CONFIG_HOME=f"{home}/.config", XDG_DATA_HOME=f"{home}/.local/share",
                   XDG_STATE_HOME=f"{home}/.local/state", XDG_CACHE_HOME=f"{home}/.cache",
                   PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring", CAPIT_NO_KEYRING="1")
        root = os.environ.get("CAPIT_BENCH_PYTHONPATH") or str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(n), text, str(rounds)],
                              env=env, cwd=home, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise SystemExit(f"child failed: {proc.stderr[-2000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(asyncio.run(child(int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", default="10000,100000")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--filter", default="ci-b")
    ap.add_argument("--rounds", type=int, default=1,
                    help="type the filter and clear it this many times in each run (more keystrokes per figure)")
    args = ap.parse_args()
    cols = ("table", "keys", "first_paint_ms", "first_paint_cpu_ms", "paint_after_publish_ms", "load_stall_ms", "filter_ms_median", "filter_ms_max",
            "key_ms_median", "key_ms_max", "cpu_ms_median", "cpu_ms_max", "clear_ms",
            "typing_stall_ms", "rss_peak_mb", "rss_now_mb")
    print(" | ".join(cols))
    for n in (int(x) for x in args.keys.split(",")):
        for _ in range(args.runs):
            r = run_child(n, args.filter, args.rounds)
            print(" | ".join(f"{r[c]:.0f}" if isinstance(r[c], float) else str(r[c]) for c in cols), flush=True)
            print("   per keystroke ms:", [round(x) for x in r["filter_ms"]], "rows", r["rows"], "filtered",
                  r["filtered_rows"], "after clear", r["rows_after_clear"], flush=True)


if __name__ == "__main__":
    main()
