"""Panic: how long until the last key is disabled, at 1 000 and 10 000 keys with 50 ms added per request.

    python bench/panic.py [--keys 1000,10000] [--latency-ms 50] [--runs 3]

For each size, a sandbox in its own process seeded with that many keys (some already disabled), then:

1. in-process (this process, a temp data dir): `core.panic.panic()` from the call to its return, which is
   when the last disable has been answered (the disables run up to paging.WINDOW at once per platform);
   the listing alone is timed too, so the disable phase is the difference. Beside it the lower bound:
   listing pages / window x latency + enabled keys / window x latency.
2. `core.panic.undo_panic()` the same way (its listing, then the enables).
3. `capit-tui panic --yes` as a user runs it: exec to exit (start-up, listing, every disable, the record).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    capit_tui_exe,
    fmt_s,
    isolated_env,
    median,
    require_capit_tui,
    run_timed,
    sandbox,
    save_results,
    table,
    temp_home,
)


def _configured(base_url: str, key: str):
    from capit_tui.core.keys import Configured
    from capit_tui.core.settings import PlatformConfig

    return Configured(PlatformConfig("openrouter", "openrouter", base_url), "env", key)


def _enabled(sb) -> int:
    n, offset = 0, 0
    while True:
        page = sb.list_raw(offset)
        n += sum(1 for k in page if not k.get("disabled"))
        offset += len(page)
        if len(page) < 100:
            return n


def one_size(keys: int, latency: float, runs: int) -> dict:
    from capit_tui.core.keys import list_all_keys
    from capit_tui.core.panic import panic, undo_panic
    from capit_tui.platforms.paging import WINDOW

    out: dict = {"keys": keys, "latency_ms": latency, "window": WINDOW, "runs": []}
    with temp_home() as home:
        env = isolated_env(home)
        for k in ("CAPIT_DATA_DIR", "CAPIT_CONFIG_DIR", "HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
            os.environ[k] = env[k]
        os.environ["CAPIT_NO_KEYRING"] = "1"
        with sandbox(env, seed_keys=keys, latency_ms=latency, timeout=600) as sb:
            c = _configured(sb.base_url, sb.management_key)
            enabled = _enabled(sb)
            out["enabled"] = enabled
            pages = math.ceil(keys / 100)
            out["bound_s"] = (math.ceil(pages / WINDOW) + math.ceil(enabled / WINDOW)) * latency / 1000
            for _ in range(runs):
                t0 = time.perf_counter()
                asyncio.run(list_all_keys([c]))
                listing = time.perf_counter() - t0
                t0 = time.perf_counter()
                done = asyncio.run(panic([c]))
                stop = time.perf_counter() - t0
                assert done.complete and done.done == enabled, (done.done, enabled)
                assert _enabled(sb) == 0
                t0 = time.perf_counter()
                back = asyncio.run(undo_panic([c]))
                undo = time.perf_counter() - t0
                assert back.complete and back.done == enabled and _enabled(sb) == enabled
                cli = run_timed([capit_tui_exe(), "panic", "--yes", "--json"], {**env, **sb.env}, timeout=600)
                assert cli.rc == 0, cli.stderr[-400:]
                assert json.loads(cli.stdout)["platforms"][0]["disabled"] == enabled
                asyncio.run(undo_panic([c]))
                out["runs"].append({"listing_s": listing, "panic_s": stop, "undo_s": undo, "cli_s": cli.wall})
    return out


def main() -> None:
    require_capit_tui()
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", default="1000,10000")
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    results = [one_size(int(n), args.latency_ms, args.runs) for n in args.keys.split(",")]
    rows = []
    for r in results:
        med = {k: median([x[k] for x in r["runs"]]) for k in ("listing_s", "panic_s", "undo_s", "cli_s")}
        r["median"] = med
        rows.append([f"{r['keys']:,}", f"{r['enabled']:,}", fmt_s(med["listing_s"]), fmt_s(med["panic_s"]),
                     fmt_s(med["panic_s"] - med["listing_s"]), fmt_s(r["bound_s"]), fmt_s(med["undo_s"]),
                     fmt_s(med["cli_s"])])
    print(f"panic at {args.latency_ms:.0f} ms a request, window {results[0]['window']} per platform, "
          f"median of {args.runs}:")
    print(table(["keys", "enabled", "listing", "panic (to last disable)", "of it disabling", "lower bound",
                 "undo", "capit-tui panic --yes"], rows, right={0, 1, 2, 3, 4, 5, 6, 7}))
    save_results("panic", {"results": results})


if __name__ == "__main__":
    main()
