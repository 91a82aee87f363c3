"""Issue 14's row: `capit-tui keys list --json` over 1 000 LiteLLM keys with 50 ms added to every request.

    python bench/litellm.py [--keys 1000] [--latency-ms 50] [--runs 5]

The proxy is the tests' LiteLLM-compatible server (tests/support/litellm_server.py; the real proxy cannot
start on a machine without Prisma's engines), in a thread of this process on 127.0.0.1, with `--keys` virtual
keys carrying budgets. Each run is `python -m capit_tui keys list --json` in its own process, with a temp HOME
whose settings.toml names the proxy (kind = "litellm"); the master key comes from CAPIT_LAB_MANAGEMENT_KEY.
Rows: cold (no remembered key count: the listing speculates past the last page) and warm (the count from the
previous run, as from the second run on), each with wall and CPU medians and the requests one run sends,
beside the lower bound (the pages, WINDOW at a time, each one latency).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))

from _common import (  # noqa: E402
    fmt_s,
    isolated_env,
    load_note,
    median,
    python,
    require_capit_tui,
    run_timed,
    save_results,
    table,
    temp_home,
)

HINTS = "listing-counts.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    require_capit_tui()
    from litellm_server import LiteLLMServer

    from capit_tui.platforms.litellm_wire import PAGE_SIZE
    from capit_tui.platforms.paging import WINDOW

    with LiteLLMServer() as proxy, temp_home() as home:
        for i in range(args.keys):
            proxy.add_key(f"capit-agent-{i:05d}", max_budget=5.0, budget_duration=("1d", "7d", "30d")[i % 3],
                          spend=(i % 7) * 0.5)
        proxy.latency = args.latency_ms / 1000
        env = isolated_env(home, extra={"CAPIT_LAB_MANAGEMENT_KEY": proxy.master_key})
        config = Path(env["CAPIT_CONFIG_DIR"])
        config.mkdir(parents=True, exist_ok=True)
        (config / "settings.toml").write_text(f'[platforms.lab]\nkind = "litellm"\nbase_url = "{proxy.url}"\n')
        hints = Path(env["CAPIT_DATA_DIR"]) / HINTS
        argv = [python(), "-m", "capit_tui", "keys", "list", "--json"]
        results: dict[str, dict[str, list[float]]] = {"cold": {"wall": [], "cpu": [], "requests": []},
                                                        "warm": {"wall": [], "cpu": [], "requests": []}}
        run_timed(argv, env, timeout=300)  # warm-up: byte-code cached, count remembered
        for _ in range(args.runs):
            for mode in ("cold", "warm"):
                if mode == "cold":
                    hints.unlink(missing_ok=True)
                before = len(proxy.requests)
                r = run_timed(argv, env, timeout=300)
                if r.rc != 0:
                    sys.exit(f"keys list failed ({r.rc}): {r.stderr.decode(errors='replace')[-500:]}")
                shown = len(json.loads(r.stdout))
                if shown != args.keys:
                    sys.exit(f"keys list showed {shown} keys, not {args.keys}")
                results[mode]["wall"].append(r.wall)
                results[mode]["cpu"].append(r.cpu)
                results[mode]["requests"].append(len(proxy.requests) - before)
    pages = args.keys // PAGE_SIZE + 1
    bound = math.ceil(pages / WINDOW) * args.latency_ms / 1000
    rows = [[mode, fmt_s(median(r["wall"])), fmt_s(median(r["cpu"])), f"{median(r['requests']):.0f}",
             fmt_s(bound)] for mode, r in results.items()]
    print(f"keys list --json, {args.keys} LiteLLM keys, {args.latency_ms:g} ms a request, {args.runs} runs "
          f"({load_note()})")
    print(table(["count hint", "wall (median)", "CPU (median)", "requests a run", "lower bound"], rows))
    path = save_results("litellm", {"keys": args.keys, "latency_ms": args.latency_ms, "runs": args.runs,
                                    "results": results, "lower_bound_s": bound, "pages": pages})
    print(f"raw results: {path}")


if __name__ == "__main__":
    main()
