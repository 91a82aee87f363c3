"""Teams: `apply` for 200 members and `status` for 1 000 members, with 50 ms added per request.

    python bench/team.py [--apply-members 200] [--status-members 1000] [--latency-ms 50] [--runs 3]

A sandbox in its own process (no seeded keys, the latency added to every request). For each run, a fresh
data dir and sandbox state:

1. `core.team_apply.apply()` in this process for a team of N members in two tiers: time and requests sent
   (guardrails made, a key created per member with its secret written to a 0600 file, tier assignments),
   beside the lower bound of creates / window x latency; then the second apply (idempotent: only reads).
2. `core.team.status()` over `gather()` for 1 000 members (applied first, untimed): time and requests, and
   `capit-tui team status FILE` as a user runs it (exec to exit).
"""

from __future__ import annotations

import argparse
import asyncio
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


def team_text(name: str, members: int) -> str:
    head = (f'[team]\nname = "{name}"\nplatform = "openrouter"\n'
            'default = { cap = "25.00", reset = "weekly", tier = "standard" }\n'
            '[tiers.standard]\nmodels = ["openai/gpt-5-mini", "anthropic/claude-haiku-4.5"]\n'
            '[tiers.senior]\nmodels = ["anthropic/claude-sonnet-4.5", "openai/gpt-5.1-codex"]\n')
    rows = "".join(f'[[members]]\nname = "m{i:04d}"\n' + ('tier = "senior"\n' if i % 5 == 0 else "")
                   for i in range(members))
    return head + rows


def _platform(base_url: str, key: str):
    from capit_tui.platforms.openrouter import OpenRouterPlatform

    return OpenRouterPlatform("openrouter", base_url, key)


async def _apply(path: Path, base_url: str, key: str, secrets: Path):
    from capit_tui.core import team_file
    from capit_tui.core.team_apply import apply

    async with _platform(base_url, key) as p:
        return await apply(team_file.load(path), p, secrets_dir=secrets)


async def _status(path: Path, base_url: str, key: str) -> tuple[int, int]:
    from capit_tui.core import team_file
    from capit_tui.core.team import TeamRecord, gather, status

    team = team_file.load(path)
    async with _platform(base_url, key) as p:
        facts = await gather(team, p)
        rows = status(team, facts, TeamRecord(team.name).load())
        return len(rows), p.requests_sent


def one_run(i: int, apply_n: int, status_n: int, latency: float) -> dict:
    from capit_tui.platforms.paging import WINDOW

    with temp_home() as home:
        env = isolated_env(home)
        for k in ("CAPIT_DATA_DIR", "CAPIT_CONFIG_DIR", "HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
            os.environ[k] = env[k]
        os.environ["CAPIT_NO_KEYRING"] = "1"
        with sandbox(env, seed_keys=0, latency_ms=latency, timeout=600) as sb:
            small = home / "small.toml"
            small.write_text(team_text("small", apply_n))
            t0 = time.perf_counter()
            done = asyncio.run(_apply(small, sb.base_url, sb.management_key, home / "secrets-small"))
            apply_s = time.perf_counter() - t0
            assert done.complete and done.done.get("create") == apply_n, (done.done, done.failed)
            t0 = time.perf_counter()
            again = asyncio.run(_apply(small, sb.base_url, sb.management_key, home / "secrets-small"))
            again_s = time.perf_counter() - t0
            assert again.complete and not again.done

            big = home / "big.toml"
            big.write_text(team_text("big", status_n))
            assert asyncio.run(_apply(big, sb.base_url, sb.management_key, home / "secrets-big")).complete
            t0 = time.perf_counter()
            rows, status_requests = asyncio.run(_status(big, sb.base_url, sb.management_key))
            status_s = time.perf_counter() - t0
            assert rows == status_n
            cli = run_timed([capit_tui_exe(), "team", "status", str(big), "--json"], {**env, **sb.env}, timeout=600)
            assert cli.rc == 0, cli.stderr[-400:]
            return {"apply_s": apply_s, "apply_requests": done.requests, "again_s": again_s,
                    "again_requests": again.requests, "status_s": status_s, "status_requests": status_requests,
                    "status_cli_s": cli.wall, "window": WINDOW,
                    "bound_s": math.ceil(apply_n / WINDOW) * latency / 1000}


def main() -> None:
    require_capit_tui()
    ap = argparse.ArgumentParser()
    ap.add_argument("--apply-members", type=int, default=200)
    ap.add_argument("--status-members", type=int, default=1000)
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    runs = [one_run(i, args.apply_members, args.status_members, args.latency_ms) for i in range(args.runs)]
    med = {k: median([r[k] for r in runs]) for k in ("apply_s", "again_s", "status_s", "status_cli_s")}
    r0 = runs[0]
    print(f"team at {args.latency_ms:.0f} ms a request, window {r0['window']}, median of {args.runs}:")
    print(table(["what", "time", "requests", "lower bound"], [
        [f"apply, {args.apply_members} members (2 tiers)", fmt_s(med["apply_s"]), r0["apply_requests"],
         fmt_s(r0["bound_s"])],
        ["apply again (nothing to change)", fmt_s(med["again_s"]), r0["again_requests"], ""],
        [f"status, {args.status_members} members (in-process)", fmt_s(med["status_s"]), r0["status_requests"], ""],
        [f"`capit-tui team status --json`, {args.status_members} members", fmt_s(med["status_cli_s"]), "", ""],
    ], right={1, 2, 3}))
    save_results("team", {"apply_members": args.apply_members, "status_members": args.status_members,
                          "latency_ms": args.latency_ms, "runs": runs, "median": med})


if __name__ == "__main__":
    main()
