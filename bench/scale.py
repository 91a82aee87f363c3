"""Scale: 10 000 keys on the sandbox with 50 ms added latency per request.

    python bench/scale.py [--keys 10000] [--latency-ms 50] [--cli-runs 5] [--tui-runs 3] [--where] [--profile]

1. `capit-tui keys list --json`: wall time and the number of requests, beside the lower bound
   pages / page_parallelism x latency.
2. The TUI (CapitApp run headless with run_test, in a fresh child process per run): time until all the
   rows are in the Keys table and painted, peak RSS, and the longest stall of the event loop, measured
   by a ticker task in the app's own loop (asyncio.sleep(0.001) in a loop, recording the largest gap
   between ticks). Phases: the first load, a refresh with nothing changed, a refresh with 100 keys'
   spend changed, typing a filter one key at a time, and clearing it. Goal: no stall over 100 ms.
   --where runs one more child with a stack sampler and prints where each phase's longest stall went;
   --profile runs one under cProfile.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    capit_tui_exe,
    fmt_s,
    isolated_env,
    load_note,
    median,
    python,
    require_capit_tui,
    run_timed,
    sandbox,
    save_results,
    seed_ledger,
    spread,
    table,
    temp_home,
)

STALL_GOAL = 0.100
FILTER_TEXT = "ci-bot"
CHANGED_KEYS = 100


def page_parallelism() -> int:
    """Pages in flight at once: the sliding window's size (page_window), or the batch size of older code."""
    from capit_tui.platforms.openrouter import OpenRouterPlatform

    params = inspect.signature(OpenRouterPlatform.__init__).parameters
    return int((params.get("page_window") or params["page_parallelism"]).default)


def page_size() -> int:
    from capit_tui.platforms.openrouter import PAGE_SIZE

    return PAGE_SIZE


# ---------------------------------------------------------------- the TUI child


class Ticker:
    """Sleeps 1 ms at a time in the app's event loop and records the longest gap between wake-ups."""

    def __init__(self) -> None:
        self.max_gap = 0.0
        self.gaps: list[tuple[float, float]] = []  # (gap, when) of gaps over 50 ms
        self.worst: tuple[float, float] = (0.0, 0.0)  # perf_counter() start and end of the longest gap
        self.ticks = 0
        self._stop = False
        self._task: asyncio.Task | None = None
        self.t0 = time.perf_counter()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def reset(self) -> None:
        self.max_gap = 0.0
        self.gaps = []
        self.worst = (0.0, 0.0)
        self.ticks = 0

    async def _run(self) -> None:
        last = time.perf_counter()
        while not self._stop:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gap = now - last
            last = now
            self.ticks += 1
            if gap > self.max_gap:
                self.max_gap = gap
                self.worst = (now - gap, now)
            if gap > 0.05:
                self.gaps.append((round(gap, 4), round(now - self.t0, 3)))

    async def stop(self) -> None:
        self._stop = True
        if self._task is not None:
            await self._task


class Where:
    """Where the loop stalls: a thread samples the main thread's Python stack every 2 ms (a poor man's
    py-spy, no install needed), and gc callbacks time the collections. `report(window)` says which code
    the samples inside one stall fell in."""

    ROOTS = ("capit_tui", "textual", "rich", "httpx", "httpcore", "asyncio", "json", "decimal", "dataclasses")

    def __init__(self, interval: float = 0.002) -> None:
        import threading

        self.samples: list[tuple[float, tuple[str, ...]]] = []
        self.gc: list[tuple[float, float, int]] = []
        self._gc_start = 0.0
        self._main = threading.main_thread().ident
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        import gc

        gc.callbacks.append(self._on_gc)
        self._thread.start()

    def stop(self) -> None:
        import gc

        self._stop.set()
        self._thread.join(timeout=2)
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_start = now
        else:
            self.gc.append((self._gc_start, now, info.get("generation", -1)))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            frame = sys._current_frames().get(self._main)
            stack = []
            while frame is not None and len(stack) < 60:
                code = frame.f_code
                fn = code.co_filename
                for root in self.ROOTS:
                    i = fn.rfind("/" + root + "/")
                    if i >= 0:
                        fn = fn[i + 1:]
                        break
                else:
                    fn = fn.rsplit("/", 1)[-1]
                stack.append(f"{fn}:{code.co_name}")
                frame = frame.f_back
            self.samples.append((time.perf_counter(), tuple(stack)))

    def report(self, window: tuple[float, float], top: int = 6) -> dict:
        from collections import Counter

        lo, hi = window
        inside = [st for t, st in self.samples if lo <= t <= hi]
        gc_ms = sum(max(0.0, min(e, hi) - max(s, lo)) for s, e, _ in self.gc if e >= lo and s <= hi) * 1000
        leaf, ours, cumulative = Counter(), Counter(), Counter()
        for st in inside:
            if not st:
                continue
            leaf[st[0]] += 1
            mine = [f for f in st if f.startswith("capit_tui/")]
            ours[" < ".join(mine[:2]) if mine else "(no capit_tui frame)"] += 1
            for f in set(st):
                if f.startswith(("capit_tui/", "textual/widgets", "textual/_compositor", "rich/")):
                    cumulative[f] += 1
        n = max(1, len(inside))
        pct = lambda c: [[k, round(100 * v / n)] for k, v in c.most_common(top)]  # noqa: E731
        return {"stall_ms": round((hi - lo) * 1000), "samples": len(inside), "gc_ms": round(gc_ms),
                "innermost": pct(leaf), "capit_tui_frames": pct(ours), "on_stack": pct(cumulative)}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def tui_child(base_url: str, key: str, n_keys: int, home: str, where: bool = False) -> dict:
    import urllib.request

    from capit_tui.core.keys import Configured
    from capit_tui.core.settings import PlatformConfig, Settings
    from capit_tui.tui.app import CapitApp

    def spend(hashes: list[str]) -> None:
        origin = base_url.split("/api/", 1)[0]
        for h in hashes:
            req = urllib.request.Request(origin + "/_sandbox/spend", data=json.dumps({"hash": h, "amount": "0.01"}).encode(),
                                         method="POST", headers={"Authorization": f"Bearer {key}",
                                                                 "Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=30).read()

    out: dict = {"rss_before_app_mb": _rss_mb()}
    windows: dict[str, tuple[float, float]] = {}
    sampler = Where() if where else None
    if sampler is not None:
        sampler.start()
    ticker = Ticker()
    ticker.start()
    await asyncio.sleep(0.01)
    ticker.reset()
    cpu0 = _cpu()
    t0 = time.perf_counter()
    app = CapitApp(platforms=[Configured(PlatformConfig("openrouter", "openrouter", base_url), "env", key)],
                   settings=Settings(), auto_refresh=False, agent_env={"HOME": home, "PATH": "/nonexistent"})
    async with app.run_test(size=(160, 48)) as pilot:
        table = None
        listed_at = None
        deadline = t0 + 300
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.005)
            if listed_at is None and app.spend.refreshes >= 1:
                listed_at = time.perf_counter() - t0
            if table is None:
                try:
                    table = app.screen.query_one("#keys")
                except Exception:
                    continue
            if table.row_count >= n_keys:
                break
        else:
            raise SystemExit(f"the table never reached {n_keys} rows")
        in_table = time.perf_counter() - t0
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        painted = time.perf_counter() - t0
        out["first_load"] = {"listing_applied_s": listed_at, "rows_in_table_s": in_table, "painted_s": painted,
                             "max_stall_s": ticker.max_gap, "stalls_over_50ms": ticker.gaps[:20],
                             "cpu_s": _cpu() - cpu0, "rows": table.row_count}
        windows["first_load"] = ticker.worst

        async def phase(name: str, action) -> None:
            await pilot.pause()
            await asyncio.sleep(0.05)
            ticker.reset()
            ticker.t0 = time.perf_counter()
            c = _cpu()
            t = time.perf_counter()
            await action()
            out[name] = {"duration_s": time.perf_counter() - t, "max_stall_s": ticker.max_gap,
                         "stalls_over_50ms": ticker.gaps[:20], "cpu_s": _cpu() - c, "rows": table.row_count}
            windows[name] = ticker.worst

        async def until(cond, what: str, timeout: float = 300) -> None:
            end = time.perf_counter() + timeout
            while not cond():
                if time.perf_counter() > end:
                    raise SystemExit(f"gave up waiting {timeout:.0f} s for {what}")
                await asyncio.sleep(0.005)

        async def refresh() -> None:
            before = app.spend.refreshes
            app.action_refresh()
            await until(lambda: app.spend.refreshes != before, "a refresh")
            await app.workers.wait_for_complete()
            await pilot.pause()

        await phase("refresh_unchanged", refresh)
        hashes = [k.id for k in list(app.spend.keys.values())[:CHANGED_KEYS]]
        await asyncio.to_thread(spend, hashes)
        await phase("refresh_100_changed", refresh)

        per_key: list[float] = []

        async def type_filter() -> None:
            await pilot.press("slash")
            await pilot.pause()
            for ch in FILTER_TEXT:
                t = time.perf_counter()
                await pilot.press(ch)
                await pilot.pause()
                per_key.append(time.perf_counter() - t)

        await phase("type_filter", type_filter)
        out["type_filter"]["per_keystroke_s"] = per_key

        async def clear_filter() -> None:
            await pilot.press("escape")
            await pilot.pause()
            await until(lambda: table.row_count >= n_keys, "every row back")
            await pilot.pause()

        await phase("clear_filter", clear_filter)
    await ticker.stop()
    out["peak_rss_mb"] = _rss_mb()
    if sampler is not None:
        sampler.stop()
        out["where"] = {name: sampler.report(w) for name, w in windows.items()}
    return out


def run_tui_child(sb, env: dict, n_keys: int, home: Path, profile: Path | None = None, where: bool = False) -> dict:
    argv = [python()]
    if profile is not None:
        argv += ["-m", "cProfile", "-o", str(profile)]
    argv += [str(Path(__file__).resolve()), "--tui-child", sb.base_url, str(n_keys), str(home)]
    if where:
        argv.append("--where")
    proc = subprocess.run(argv, env={**env, "CAPIT_BENCH_MGMT_KEY": sb.management_key}, capture_output=True,
                          text=True, timeout=900, cwd=env.get("HOME"))
    if proc.returncode != 0:
        raise SystemExit(f"TUI child failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_profile(path: Path, limit: int = 22) -> str:
    import io
    import pstats

    buf = io.StringIO()
    st = pstats.Stats(str(path), stream=buf)
    st.sort_stats("tottime").print_stats(limit)
    buf.write("\n")
    st.sort_stats("cumulative").print_stats(r"capit_tui|textual/widgets/_data_table|textual/app|rich/text", limit)
    return buf.getvalue()


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=10_000)
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--cli-runs", type=int, default=5)
    ap.add_argument("--tui-runs", type=int, default=3)
    ap.add_argument("--skip-zero-latency", action="store_true", help="skip the keys list run at 0 ms latency")
    ap.add_argument("--profile", action="store_true", help="one more TUI run under cProfile; print the top")
    ap.add_argument("--where", action="store_true",
                    help="one more TUI run with a stack sampler; print where the longest stall of each phase went")
    args = ap.parse_args(argv)
    require_capit_tui()
    exe = capit_tui_exe()
    par, psize = page_parallelism(), page_size()
    pages = args.keys // psize + 1  # the pages up to and including the first short one
    bound = pages / par * args.latency_ms / 1000
    bound_batches = (1 + math.ceil(pages / par)) * args.latency_ms / 1000  # + the /workspaces round trip
    print(f"scale: {args.keys} keys, {args.latency_ms:g} ms latency, page_parallelism {par}; {load_note()}",
          flush=True)

    results: dict = {"keys": args.keys, "latency_ms": args.latency_ms, "page_parallelism": par,
                     "pages": pages, "lower_bound_s": bound, "lower_bound_batches_s": bound_batches}
    with temp_home() as root:
        env = isolated_env(root / "home")
        with sandbox(env, seed_keys=args.keys, latency_ms=args.latency_ms, timeout=600) as sb:
            results["sandbox_start_s"] = sb.seed_seconds
            results["ledger_entries"] = seed_ledger(env, sb)
            cenv = {**env, **sb.env}
            run_timed([exe, "--version"], cenv)  # warm the byte-code cache
            walls, cpus, reqs = [], [], []
            for _ in range(args.cli_runs):
                sb.clear_requests()
                r = run_timed([exe, "keys", "list", "--json"], cenv, timeout=600)
                if r.rc != 0:
                    raise SystemExit(f"keys list failed: {r.stderr.decode(errors='replace')[-600:]}")
                n = len(json.loads(r.stdout))
                if n != args.keys:
                    raise SystemExit(f"keys list showed {n} keys, expected {args.keys}")
                walls.append(r.wall)
                cpus.append(r.cpu)
                reqs.append(len(sb.requests()))
                print(".", end="", flush=True)
            lo, hi = spread(walls)
            results["cli"] = {"wall_median": median(walls), "wall_min": lo, "wall_p90": hi,
                              "cpu_median": median(cpus), "requests": median(reqs), "samples": walls}

            tui_runs = []
            for _ in range(args.tui_runs):
                tui_runs.append(run_tui_child(sb, env, args.keys, root / "home"))
                print(".", end="", flush=True)
            print()
            results["tui_runs"] = tui_runs
            if args.where:
                results["where"] = run_tui_child(sb, env, args.keys, root / "home", where=True)["where"]
            if args.profile:
                prof = root / "tui.prof"
                run_tui_child(sb, env, args.keys, root / "home", profile=prof)
                results["profile_text"] = print_profile(prof)

    if args.latency_ms > 0 and not args.skip_zero_latency:
        # The same listing with no added latency: what parsing, the sandbox's own work and the output cost,
        # which the waits above do not hide.
        with temp_home() as root:
            env = isolated_env(root / "home")
            with sandbox(env, seed_keys=args.keys, latency_ms=0, timeout=600) as sb:
                seed_ledger(env, sb)
                cenv = {**env, **sb.env}
                w0, c0 = [], []
                for _ in range(args.cli_runs):
                    r = run_timed([exe, "keys", "list", "--json"], cenv, timeout=600)
                    if r.rc != 0:
                        raise SystemExit(f"keys list failed: {r.stderr.decode(errors='replace')[-600:]}")
                    w0.append(r.wall)
                    c0.append(r.cpu)
                results["cli_no_latency"] = {"wall_median": median(w0), "cpu_median": median(c0)}

    def med(path: list[str]) -> float:
        vals = []
        for r in tui_runs:
            v = r
            for p in path:
                v = v[p]
            vals.append(v)
        return median(vals)

    rows = [
        [f"keys list --json ({args.keys} keys)", fmt_s(results["cli"]["wall_median"]),
         fmt_s(results["cli"]["cpu_median"]), f"{results['cli']['requests']:.0f}",
         f"{fmt_s(bound)} ({pages} pages / {par} x {args.latency_ms:g} ms)"],
    ]
    if "cli_no_latency" in results:
        rows.append(["the same with 0 ms latency", fmt_s(results["cli_no_latency"]["wall_median"]),
                     fmt_s(results["cli_no_latency"]["cpu_median"]), "", "(processing only)"])
    print()
    print(table(["headless", "median wall", "median CPU", "requests", "lower bound"], rows, right={1, 2, 3}))
    trows = []
    fl = "first_load"
    trows.append(["first load: listing fetched and applied", fmt_s(med([fl, "listing_applied_s"])), "", ""])
    trows.append([f"first load: all {args.keys} rows in the table", fmt_s(med([fl, "rows_in_table_s"])), "", ""])
    trows.append(["first load: painted", fmt_s(med([fl, "painted_s"])), fmt_s(med([fl, "max_stall_s"]), "ms"),
                  fmt_s(med([fl, "cpu_s"]))])
    for key, label in (("refresh_unchanged", "refresh, nothing changed"),
                       ("refresh_100_changed", f"refresh, {CHANGED_KEYS} keys changed"),
                       ("type_filter", f"type the filter '{FILTER_TEXT}' ({len(FILTER_TEXT)} keys + '/')"),
                       ("clear_filter", "clear the filter (esc)")):
        trows.append([label, fmt_s(med([key, "duration_s"])), fmt_s(med([key, "max_stall_s"]), "ms"),
                      fmt_s(med([key, "cpu_s"]))])
    per_key = [max(r["type_filter"]["per_keystroke_s"]) for r in tui_runs]
    trows.append(["slowest filter keystroke (press to repaint)", fmt_s(median(per_key)), "", ""])
    trows.append(["peak RSS", f"{med(['peak_rss_mb']):.0f} MB", "", ""])
    print()
    print(f"TUI (headless run_test, 160x48, median of {len(tui_runs)} runs; goal: longest stall < "
          f"{STALL_GOAL * 1000:.0f} ms):")
    print(table(["phase", "time", "longest stall", "CPU"], trows, right={1, 2, 3}))
    worst = max(tui_runs, key=lambda r: r["first_load"]["max_stall_s"])
    print("\nstalls over 50 ms in the worst first load (seconds, at s since start):",
          worst["first_load"]["stalls_over_50ms"][:8])
    if args.where:
        print("\nWhere the longest stall of each phase went (stack samples every 2 ms, % of the samples "
              "inside the stall; a separate run, so its stall lengths differ a little):")
        for phase_name, w in results["where"].items():
            print(f"\n{phase_name}: {w['stall_ms']} ms stall, {w['samples']} samples, {w['gc_ms']} ms of it in "
                  "garbage collection")
            print("  capit_tui code on the stack: " + "; ".join(f"{k} {v}%" for k, v in w["capit_tui_frames"]))
            print("  on the stack:               " + "; ".join(f"{k} {v}%" for k, v in w["on_stack"]))
            print("  innermost Python frame:     " + "; ".join(f"{k} {v}%" for k, v in w["innermost"]))
    if args.profile:
        print("\n" + results["profile_text"])
    results["load_after"] = load_note()
    print(f"\n({results['load_after']} at the end)")
    save_results("scale", results)
    return results


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--tui-child":
        base_url, n, home = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        res = asyncio.run(tui_child(base_url, os.environ["CAPIT_BENCH_MGMT_KEY"], n, home,
                                    where="--where" in sys.argv[5:]))
        print(json.dumps(res))
    else:
        main()
