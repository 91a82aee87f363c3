"""Issue 11's headless rows: `keys list --json` before and after, side by side in one run.

    python bench/headless.py [--runs 5] [--before-ref 0460ea8] [--big-keys 100000] [--big-runs 2] [--no-capit]

The code before is `git archive <before-ref> capit_tui` (default: the commit the listing work started
from) in a temp folder; the code after is this work tree. Both run as `python -m capit_tui` with
PYTHONPATH pointing at one copy, each with its own temp HOME (the count hint the new code keeps in the
data dir stays in its own). Runs are interleaved. Rows:

1. 1 000 keys, loopback, no added latency, against capit 0.9 (`capit --keys list`, one request, shows
   at most 100): wall and CPU medians, the ratio to capit, keys shown.
2. 10 000 keys, 50 ms added to every request: wall, CPU, requests per run; the new code warm (its count
   remembered, as from the second run on) and cold (the count file deleted before each run).
3. --big-keys (100 000) keys, no added latency: wall, CPU, peak RSS.
4. The platform layer's listing in-process (core.list_all_keys, as the TUI calls it) with a 1 ms ticker
   in the same loop: the longest stall of the loop and peak RSS, at 10 000 keys / 50 ms and at --big-keys.

The sandbox (its own process, 127.0.0.1) disables Nagle's algorithm (capit_tui/sandbox/http.py): a
server with Nagle on and delayed ACKs adds ~40 ms to each kept-alive reply whose headers and body go
out in two writes, which would swamp these figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    ROOT,
    fmt_s,
    isolated_env,
    load_note,
    median,
    python,
    require_capit_tui,
    run_timed,
    sandbox,
    save_results,
    table,
    temp_home,
)

BEFORE_REF = "0460ea8"
HINTS = "listing-counts.json"

STALL_CHILD = r'''
import asyncio, json, os, sys, time
sys.path.insert(0, os.environ["CAPIT_BENCH_DIR"])
from _measure import StallMeter, peak_rss_mb
from capit_tui.core.keys import Configured, list_all_keys
from capit_tui.core.settings import PlatformConfig

async def main():
    meter = StallMeter()
    meter.start()
    await asyncio.sleep(0.01)
    meter.reset()
    cfg = PlatformConfig("openrouter", "openrouter", os.environ["CAPIT_OPENROUTER_BASE_URL"])
    t = time.perf_counter()
    box = []
    async def go():
        box.append(await list_all_keys([Configured(cfg, "env", os.environ["CAPIT_OPENROUTER_MANAGEMENT_KEY"])]))
    await go()
    took = time.perf_counter() - t
    await meter.stop()
    print(json.dumps({"keys": len(box[0].keys), "errors": len(box[0].errors), "took_s": took,
                      "max_stall_s": meter.max_gap, "stalls_over_50ms": len(meter.gaps), "peak_rss_mb": peak_rss_mb()}))

asyncio.run(main())
'''


def before_copy(ref: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "capit_tui"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def _envs(root: Path, sb, before: Path) -> dict[str, dict[str, str]]:
    out = {}
    for name, code in (("before", before), ("after", ROOT)):
        env = isolated_env(root / f"home-{name}", extra={"PYTHONPATH": str(code)})
        out[name] = {**env, **sb.env}
    return out


def _list(env: dict[str, str]) -> list[str]:
    return [python(), "-m", "capit_tui", "keys", "list", "--json"]


def _forget_count(env: dict[str, str]) -> None:
    (Path(env["CAPIT_DATA_DIR"]) / HINTS).unlink(missing_ok=True)


def _timed_rows(cmds, runs: int, warmup: int, sb=None) -> dict:
    """cmds: (label, argv, env, count(stdout)->int, before_each()). Interleaved; medians."""
    wall, cpu, rss, reqs = defaultdict(list), defaultdict(list), defaultdict(list), defaultdict(list)
    shown: dict[str, int] = {}
    for i in range(warmup + runs):
        for label, argv, env, count, prep in cmds:
            if prep is not None:
                prep()
            if sb is not None:
                sb.clear_requests()
            r = run_timed(argv, env, timeout=900)
            if r.rc != 0:
                raise SystemExit(f"{label} failed ({r.rc}): {r.stderr.decode(errors='replace')[-600:]}")
            shown[label] = count(r.stdout)
            if i >= warmup:
                wall[label].append(r.wall)
                cpu[label].append(r.cpu)
                rss[label].append(r.maxrss_mb)
                if sb is not None:
                    reqs[label].append(len([q for q in sb.requests() if "/_sandbox" not in q.get("path", "")]))
    return {label: {"wall_median": median(wall[label]), "cpu_median": median(cpu[label]),
                    "rss_median_mb": median(rss[label]), "shown": shown[label],
                    "requests_median": median(reqs[label]) if reqs[label] else None, "walls": wall[label]}
            for label, *_ in cmds}


def _stall(env: dict[str, str]) -> dict:
    proc = subprocess.run([python(), "-c", STALL_CHILD], env={**env, "CAPIT_BENCH_DIR": str(Path(__file__).parent)},
                          capture_output=True, text=True, timeout=900, cwd=env["HOME"])
    if proc.returncode != 0:
        raise SystemExit(f"stall child failed: {proc.stderr[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--before-ref", default=BEFORE_REF)
    ap.add_argument("--big-keys", type=int, default=100_000)
    ap.add_argument("--big-runs", type=int, default=2)
    ap.add_argument("--capit-version", default="0.9.0")
    ap.add_argument("--no-capit", action="store_true", help="skip capit (no install)")
    args = ap.parse_args(argv)
    require_capit_tui()
    capit = None
    if not args.no_capit:
        from vs_capit import capit_count, capit_home, ensure_capit

        capit = ensure_capit(args.capit_version)
    print(f"headless: before = {args.before_ref}, after = {ROOT}; {load_note()}", flush=True)
    results: dict = {"before_ref": args.before_ref, "runs": args.runs, "big_keys": args.big_keys,
                     "big_runs": args.big_runs}
    count = lambda out: len(json.loads(out))  # noqa: E731
    with temp_home() as root, tempfile.TemporaryDirectory(prefix="capit-before-") as tmp:
        before = before_copy(args.before_ref, Path(tmp))
        base_env = isolated_env(root / "home-sandbox", extra={"PYTHONPATH": str(ROOT)})

        # 1. 1 000 keys on loopback, against capit
        with sandbox(base_env, seed_keys=1_000) as sb:
            e = _envs(root / "r1", sb, before)
            cmds = [("before: keys list --json", _list(e["before"]), e["before"], count, None),
                    ("after: keys list --json", _list(e["after"]), e["after"], count, None)]
            if capit is not None:
                capit_home(root / "capit-home", sb.management_key)
                cenv = {**isolated_env(root / "capit-home", pycache=root / "capit-pycache"),
                        "CAPIT_BENCH_OPENROUTER_API": sb.base_url}
                cmds.append(("capit 0.9: capit --keys list", [str(capit), "--keys", "list"], cenv, capit_count, None))
            results["loopback_1000"] = _timed_rows(cmds, args.runs, max(2, args.warmup), sb)
            print(_print("1 000 keys, loopback", results["loopback_1000"]), flush=True)

        # 2. 10 000 keys, 50 ms a request
        with sandbox(base_env, seed_keys=10_000, latency_ms=50, timeout=600) as sb:
            e = _envs(root / "r2", sb, before)
            cold_env = isolated_env(root / "r2" / "home-cold", extra={"PYTHONPATH": str(ROOT)}) | sb.env
            cmds = [("before: keys list --json", _list(e["before"]), e["before"], count, None),
                    ("after, count remembered", _list(e["after"]), e["after"], count, None),
                    ("after, no count (first run)", _list(cold_env), cold_env, count,
                     lambda: _forget_count(cold_env))]
            results["latency_10000"] = _timed_rows(cmds, args.runs, args.warmup, sb)
            print(_print("10 000 keys, 50 ms a request", results["latency_10000"]), flush=True)
            results["stall_10000"] = {"before": _stall(e["before"]), "after": _stall(e["after"])}
            print("loop stall, 10 000 keys:", results["stall_10000"], flush=True)

        # 3. and 4. 100 000 keys
        with sandbox(base_env, seed_keys=args.big_keys, timeout=1800) as sb:
            e = _envs(root / "r3", sb, before)
            cmds = [("before: keys list --json", _list(e["before"]), e["before"], count, None),
                    ("after: keys list --json", _list(e["after"]), e["after"], count, None)]
            results["big"] = _timed_rows(cmds, args.big_runs, 1, sb)
            print(_print(f"{args.big_keys} keys, loopback", results["big"]), flush=True)
            results["stall_big"] = {"before": _stall(e["before"]), "after": _stall(e["after"])}
            print("loop stall, big:", results["stall_big"], flush=True)
    results["load_after"] = load_note()
    save_results("headless", results)
    print("\n" + report(results))
    return results


def _print(title: str, rows: dict) -> str:
    return f"\n{title}\n" + table(["command", "wall", "CPU", "requests", "RSS", "shown"], [
        [k, fmt_s(v["wall_median"]), fmt_s(v["cpu_median"]), f"{v['requests_median']:.0f}" if v["requests_median"]
         else "-", f"{v['rss_median_mb']:.0f} MB", v["shown"]] for k, v in rows.items()])


def report(r: dict) -> str:
    """The issue's table, today's figures (the code before) beside the new ones, from one run."""
    s = lambda x: f"{x:.2f} s" if x >= 1 else f"{x * 1000:.0f} ms"  # noqa: E731
    lo, lat, big = r["loopback_1000"], r["latency_10000"], r["big"]
    b1, a1 = lo["before: keys list --json"], lo["after: keys list --json"]
    cap = lo.get("capit 0.9: capit --keys list")
    ratio = (lambda x: f", {x['wall_median'] / cap['wall_median']:.2f}x capit") if cap else (lambda x: "")
    b2, a2, c2 = lat["before: keys list --json"], lat["after, count remembered"], lat["after, no count (first run)"]
    bb, ab = big["before: keys list --json"], big["after: keys list --json"]
    sb, sa = r["stall_big"]["before"], r["stall_big"]["after"]
    s10b, s10a = r["stall_10000"]["before"], r["stall_10000"]["after"]
    rows = [
        "| work | before (today) | after | goal | command |",
        "|---|---|---|---|---|",
        f"| `keys list --json`, 1 000 keys, loopback, vs capit 0.9 (one request, shows {cap['shown'] if cap else '-'}) "
        f"| {s(b1['wall_median'])}{ratio(b1)}, {b1['shown']} shown | {s(a1['wall_median'])}{ratio(a1)}, {a1['shown']} "
        f"shown | <= 1.3x capit, all 1 000 shown | `python bench/headless.py` (row 1) |",
        f"| `keys list --json`, 10 000 keys, 50 ms per request | {s(b2['wall_median'])}, {b2['requests_median']:.0f} "
        f"requests | {s(a2['wall_median'])}, {a2['requests_median']:.0f} requests (no count remembered: "
        f"{s(c2['wall_median'])}, {c2['requests_median']:.0f}) | < 0.8 s, <= 110 requests | `python bench/headless.py` (row 2) |",
        f"| `keys list --json`, {r['big_keys']:,} keys, loopback | {s(bb['wall_median'])} wall, {s(bb['cpu_median'])} CPU, "
        f"{bb['rss_median_mb']:.0f} MB | {s(ab['wall_median'])} wall, {s(ab['cpu_median'])} CPU, {ab['rss_median_mb']:.0f} MB "
        f"| (no goal stated) | `python bench/headless.py` (row 3) |",
        f"| listing in the TUI's loop (core.list_all_keys), longest stall: 10 000 keys / 50 ms; {r['big_keys']:,} keys "
        f"| {s(s10b['max_stall_s'])}; {s(sb['max_stall_s'])} ({sb['peak_rss_mb']:.0f} MB) | {s(s10a['max_stall_s'])}; "
        f"{s(sa['max_stall_s'])} ({sa['peak_rss_mb']:.0f} MB) | (the TUI's: no stall > 50 ms) | `python bench/headless.py` (row 4) |",
        "| TUI, 10 000 keys: data in -> first rows painted | see keytable | see keytable | < 50 ms, no stall > 50 ms | see keytable |",
        "| TUI, 10 000 keys: filter keystroke -> repaint; clearing the filter | see keytable | see keytable | < 20 ms median, < 50 ms max | see keytable |",
        "| TUI, 100 000 keys | see keytable | see keytable | keystroke < 50 ms, RSS < 300 MB | see keytable |",
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    main()
