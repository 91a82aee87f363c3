"""Start-up: wall time from exec to done for the headless commands, and from exec to the first frame of
the Keys screen with its data for `capit-tui --demo` in a pseudo-terminal, beside the floor (a bare
interpreter, `import httpx`, `import textual.app`).

    python bench/startup.py [--runs 15] [--warmup 2] [--no-tui]

Goals (on a 2-core machine): headless commands under 0.2 s; the TUI's first data frame under 0.8 s.
Runs are interleaved (one of each command in turn) so that noise from other work on the machine falls
on every row alike. Byte-code is cached (see _common.isolated_env) and warmed up before measuring.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
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
    strip_ansi,
    table,
    temp_home,
)
from _pty import run_in_pty

HEADLESS_GOAL = 0.2
TUI_GOAL = 0.8
SEED_KEYS = 40


def seeded_name_pattern() -> re.Pattern[bytes]:
    """Names the sandbox gives its seeded keys (and nothing else on the screen is called)."""
    from capit_tui.sandbox.seeding import AGENT_NAMES, PLAIN_NAMES

    plain = [re.escape(n) for n in PLAIN_NAMES if len(n) >= 8]
    agents = "|".join(re.escape(a) for a in AGENT_NAMES)
    return re.compile(("(?:capit-(?:%s)-\\d{8}|%s)" % (agents, "|".join(plain))).encode())


# The least any httpx-based client does for `keys list`: import, make an AsyncClient, one request.
ONE_GET = (
    "import asyncio, os, httpx\n"
    "async def main():\n"
    "    async with httpx.AsyncClient(base_url=os.environ['CAPIT_OPENROUTER_BASE_URL'], headers={'Authorization':"
    " 'Bearer ' + os.environ['CAPIT_OPENROUTER_MANAGEMENT_KEY']}) as c:\n"
    "        (await c.get('/keys', params={'include_disabled': 'true'})).raise_for_status()\n"
    "asyncio.run(main())\n"
)


def commands(exe: str) -> list[tuple[str, list[str], str]]:
    """(label, argv, kind) — kind: floor | headless."""
    py = python()
    return [
        ("python -c pass", [py, "-c", "pass"], "floor"),
        ("python -c 'import httpx'", [py, "-c", "import httpx"], "floor"),
        ("python -c 'import httpx; httpx.AsyncClient()'", [py, "-c", "import httpx; httpx.AsyncClient()"], "floor"),
        ("python -c 'import textual.app'", [py, "-c", "import textual.app"], "floor"),
        ("httpx floor: AsyncClient + one GET /keys", [py, "-c", ONE_GET], "floor"),
        ("capit-tui --version", [exe, "--version"], "headless"),
        ("capit-tui keys list --json (40 keys)", [exe, "keys", "list", "--json"], "headless"),
    ]


# ---------------------------------------------------------------- -X importtime


def parse_importtime(text: str) -> dict[str, float]:
    """Self time (seconds) per top-level package from `-X importtime` output."""
    per: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        try:
            _, rest = line.split(":", 1)
            self_us, _cum, name = (p.strip() for p in rest.split("|", 2))
            us = int(self_us)
        except ValueError:
            continue
        top = name.strip().split(".")[0]
        per[top] += us / 1e6
    return dict(per)


GROUPS = {
    "httpx stack": {"httpx", "httpcore", "h11", "h2", "anyio", "sniffio", "certifi", "idna", "hpack",
                    "hyperframe", "socksio", "brotli", "zstandard", "typing_extensions"},
    "ssl": {"ssl", "_ssl"},
    "asyncio": {"asyncio", "concurrent", "selectors", "_asyncio"},
    "textual": {"textual"},
    "rich": {"rich", "markdown_it", "mdurl", "pygments", "linkify_it", "uc_micro"},
    "capit_tui": {"capit_tui"},
    "email/http/urllib": {"email", "http", "urllib", "mimetypes", "base64", "calendar", "quopri", "uu"},
    "keyring/platformdirs/toml": {"keyring", "jaraco", "platformdirs", "tomllib", "tomli_w", "tomlkit",
                                  "importlib_metadata", "zipp", "more_itertools", "backports"},
    "ruamel.yaml": {"ruamel"},
}


def grouped(per: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for top, s in per.items():
        for g, members in GROUPS.items():
            if top in members:
                out[g] += s
                break
        else:
            out["other stdlib/site (many modules, each a few ms)"] += s
    return dict(out)


def importtime_profile(argv: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    samples: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        r = run_timed(argv, {**env, "PYTHONPROFILEIMPORTTIME": "1"})
        g = grouped(parse_importtime(r.stderr.decode(errors="replace")))
        g["total import"] = sum(g.values())
        for k in set(samples) | set(g):
            samples[k].append(g.get(k, 0.0))
    return {k: median(v) for k, v in samples.items()}


def tui_importtime(exe: str, env: dict[str, str], pattern: re.Pattern[bytes], runs: int) -> dict[str, float]:
    samples: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        t = run_in_pty([exe, "--demo"], {**env, "PYTHONPROFILEIMPORTTIME": "1"}, pattern, keep_transcript=True)
        text = strip_ansi(t.transcript).decode(errors="replace").replace("\r", "\n")
        text = re.sub(r"(?<!\n)import time:", "\nimport time:", text)
        g = grouped(parse_importtime(text))
        g["total import"] = sum(g.values())
        for k in set(samples) | set(g):
            samples[k].append(g.get(k, 0.0))
    return {k: median(v) for k, v in samples.items()}


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--no-tui", action="store_true", help="skip the --demo pseudo-terminal runs")
    ap.add_argument("--importtime-runs", type=int, default=5)
    args = ap.parse_args(argv)
    require_capit_tui()
    exe = capit_tui_exe()
    pattern = seeded_name_pattern()
    print(f"startup: {args.runs} runs each (+{args.warmup} warm-up), interleaved; {load_note()}", flush=True)

    with temp_home() as root:
        env = isolated_env(root / "home")
        with sandbox(env, seed_keys=SEED_KEYS) as sb:
            seed_ledger(env, sb)  # 6 installs: the AGENTS column has something to show
            cenv = {**env, **sb.env}
            cmds = commands(exe)
            # This machine's default (PYTHONDONTWRITEBYTECODE=1, so capit_tui compiles on every run).
            nocache = {**cenv, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(root / "empty-pycache")}
            cmds_env = [(label, a, kind, cenv) for label, a, kind in cmds]
            cmds_env.append(("keys list --json, no byte-code cache", cmds[-1][1], "info", nocache))
            wall: dict[str, list[float]] = defaultdict(list)
            cpu: dict[str, list[float]] = defaultdict(list)
            tui: dict[str, list[float]] = defaultdict(list)
            tui_cpu: list[float] = []  # CPU the --demo process had used when its data showed (/proc)
            for i in range(args.warmup + args.runs):
                for label, a, _kind, e in cmds_env:
                    r = run_timed(a, e)
                    if r.rc != 0:
                        raise SystemExit(f"{label} failed ({r.rc}): {r.stderr.decode(errors='replace')[-500:]}")
                    if "keys list" in label:
                        n = len(json.loads(r.stdout))
                        if n != SEED_KEYS:
                            raise SystemExit(f"{label} listed {n} keys, expected {SEED_KEYS}")
                    if i >= args.warmup:
                        wall[label].append(r.wall)
                        cpu[label].append(r.cpu)
                if not args.no_tui:
                    t = run_in_pty([exe, "--demo"], env, pattern)
                    if t.data is None:
                        raise SystemExit("capit-tui --demo did not show a seeded key within 30 s")
                    if i >= args.warmup:
                        tui["first output"].append(t.first_output or float("nan"))
                        tui["first paint"].append(t.first_paint or float("nan"))
                        tui["first data frame"].append(t.data)
                        if t.data_cpu is not None:
                            tui_cpu.append(t.data_cpu)
                        if t.exit is not None:
                            tui["quit (q to exit)"].append(t.exit)
                print(".", end="", flush=True)
            print()

            imports = {
                "capit-tui --version": importtime_profile([exe, "--version"], cenv, args.importtime_runs),
                "capit-tui keys list --json": importtime_profile([exe, "keys", "list", "--json"], cenv,
                                                                 args.importtime_runs),
            }
            if not args.no_tui:
                imports["capit-tui --demo"] = tui_importtime(exe, env, pattern, max(3, args.importtime_runs // 2))

    rows = []
    results = {"runs": args.runs, "commands": {}, "tui": {}, "imports": imports, "load_after": load_note()}
    for label, _a, kind, _e in cmds_env:
        w, c = wall[label], cpu[label]
        lo, hi = spread(w)
        goal = HEADLESS_GOAL if kind == "headless" else None
        verdict = ("yes" if median(w) < goal else "NO") if goal else ""
        rows.append([label, fmt_s(median(w)), fmt_s(lo), fmt_s(hi), fmt_s(median(c)),
                     f"< {goal} s" if goal else ("floor" if kind == "floor" else "info"), verdict])
        results["commands"][label] = {"kind": kind, "wall_median": median(w), "wall_min": lo, "wall_p90": hi,
                                      "cpu_median": median(c), "goal": goal, "samples": w}
    for label, xs in tui.items():
        lo, hi = spread(xs)
        goal = TUI_GOAL if label == "first data frame" else None
        verdict = ("yes" if median(xs) < goal else "NO") if goal else ""
        cpu_med = median(tui_cpu) if goal and tui_cpu else None
        rows.append([f"capit-tui --demo: {label}", fmt_s(median(xs)), fmt_s(lo), fmt_s(hi), fmt_s(cpu_med),
                     f"< {goal} s" if goal else "", verdict])
        results["tui"][label] = {"median": median(xs), "min": lo, "p90": hi, "goal": goal, "samples": xs,
                                 "cpu_median": cpu_med}

    print()
    print(table(["command", "median wall", "min", "p90", "median CPU", "goal", "met"], rows, right={1, 2, 3, 4}))
    print()
    names = list(imports)
    groups = sorted({g for d in imports.values() for g in d if g != "total import"},
                    key=lambda g: -max(d.get(g, 0) for d in imports.values()))
    irows = [[g] + [fmt_s(imports[n].get(g, 0.0), "ms") for n in names] for g in groups]
    irows.append(["total import (self times)"] + [fmt_s(imports[n].get("total import", 0.0), "ms") for n in names])
    print("Import time by package (python -X importtime, self times, median):")
    print(table(["package group"] + names, irows))
    print(f"\n({results['load_after']} at the end)")
    save_results("startup", results)
    return results


if __name__ == "__main__":
    main()
