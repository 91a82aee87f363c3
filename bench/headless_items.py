"""The start-up and CPU items of the headless `keys list --json`, measured one at a time (issue 11, item 3).

    python bench/headless_items.py [--keys 10000] [--runs 15]

Each item is an A/B of the one thing it changes, everything else equal, medians of interleaved runs
(CPU time: process_time in-process, user+sys for child processes, which moves less than wall time
when the machine is shared):

- json:   json.dumps(rows, indent=2) against cli/keys.py json_rows (orjson since the transport round: the same
          values and layout, checked; tiny floats in their shortest form)
- repr:   asyncio.run() returning a Listing of N keys against handing it out through a list
- ssl:    httpx.AsyncClient() against AsyncClient(verify=<bare SSLContext>) for an http:// base URL
- httpx:  `import httpx` against the same with httpx._main marked absent (no click/rich/pygments)
- clean:  CappedKey construction of N keys (clean_text on every string: core/text.py, for the record)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import isolated_env, load_note, python, run_timed, save_results, table, temp_home  # noqa: E402


def _keys(n: int):
    from capit_tui.core.model import CappedKey

    t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
    return [CappedKey(platform="openrouter", id=f"{i:064x}", name=f"capit-claude-{i:05d}", label=f"sk-or-v1-abc...{i:04d}",
                      limit=Decimal(5), limit_reset="monthly", limit_remaining=Decimal("4.25"), usage=Decimal("0.75"),
                      usage_daily=Decimal("0.0042"), usage_monthly=Decimal("0.75"), created_at=t0 - timedelta(minutes=i),
                      workspace_id="0df9e665-d932-5740-b2c7-b52af166bc11")
            for i in range(n)]


def _cpu(fn, runs: int) -> float:
    xs = []
    for _ in range(runs):
        t = time.process_time()
        fn()
        xs.append(time.process_time() - t)
    return statistics.median(xs)


def item_json(keys, runs: int) -> dict:
    from capit_tui.cli.keys import json_rows

    rows = [{**k.to_json(), "agents": ["claude"] if i % 7 == 0 else []} for i, k in enumerate(keys)]
    assert json.loads(json_rows(rows)) == rows and json_rows(rows).count("\n") == json.dumps(rows, indent=2).count("\n")
    return {"before": _cpu(lambda: json.dumps(rows, indent=2), runs), "after": _cpu(lambda: json_rows(rows), runs)}


def item_repr(keys, runs: int) -> dict:
    from capit_tui.core.keys import Listing

    async def returned():
        return Listing(list(keys), {})

    def boxed():
        box = []

        async def fetch():
            box.append(Listing(list(keys), {}))

        asyncio.run(fetch())
        return box[0]

    return {"before": _cpu(lambda: asyncio.run(returned()), runs), "after": _cpu(boxed, runs)}


def item_ssl(runs: int) -> dict:
    import httpx

    def plain():
        httpx.AsyncClient(base_url="http://127.0.0.1:9/api/v1")

    def bare():
        httpx.AsyncClient(base_url="http://127.0.0.1:9/api/v1", verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))

    return {"before": _cpu(plain, runs), "after": _cpu(bare, runs)}


def item_clean(n: int, runs: int) -> dict:
    return {"after": _cpu(lambda: _keys(n), max(3, runs // 3))}


def item_httpx_import(runs: int) -> dict:
    before, after = [], []
    with temp_home() as root:
        env = isolated_env(root / "home")
        a = [python(), "-c", "import httpx"]
        b = [python(), "-c", "import sys; sys.modules.setdefault('httpx._main', None); import httpx"]
        run_timed(a, env)
        run_timed(b, env)
        for _ in range(runs):
            before.append(run_timed(a, env).cpu)
            after.append(run_timed(b, env).cpu)
    return {"before": statistics.median(before), "after": statistics.median(after)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args(argv)
    print(f"headless items: {args.keys} keys, {args.runs} runs; {load_note()}", flush=True)
    keys = _keys(args.keys)
    results = {"keys": args.keys, "runs": args.runs, "items": {
        "json": item_json(keys, args.runs),
        "repr": item_repr(keys, args.runs),
        "ssl": item_ssl(args.runs),
        "httpx_import": item_httpx_import(args.runs),
        "clean_text": item_clean(args.keys, args.runs),
    }}
    names = {"json": f"--json output of {args.keys} keys: json.dumps(indent=2) -> json_rows",
             "repr": f"asyncio.run() returning a Listing of {args.keys} keys -> handed out through a list",
             "ssl": "httpx.AsyncClient() for http:// -> verify=bare SSLContext (no CA file)",
             "httpx_import": "import httpx -> with httpx._main marked absent (child process)",
             "clean_text": f"building {args.keys} CappedKeys (clean_text on each string; not changed here)"}
    rows = []
    for k, v in results["items"].items():
        b, a = v.get("before"), v["after"]
        rows.append([names[k], f"{b * 1000:.1f} ms" if b is not None else "-", f"{a * 1000:.1f} ms",
                     f"{(b - a) * 1000:.1f} ms" if b is not None else "-"])
    print(table(["item", "before (CPU)", "after (CPU)", "saved"], rows))
    results["load_after"] = load_note()
    save_results("headless_items", results)
    return results


if __name__ == "__main__":
    main()
