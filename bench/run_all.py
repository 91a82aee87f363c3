"""Run every benchmark (each in its own process), then write bench/RESULTS.md from their results.

    python bench/run_all.py [--quick] [--only headless,startup,vs_capit,scale,install] [--report-only]

--quick uses fewer repetitions (a smoke run, not figures to quote). --report-only rewrites RESULTS.md
from the last results in bench/.results/ without running anything.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH, load_results, machine, python, require_capit_tui

ORDER = ("headless", "startup", "vs_capit", "scale", "install")
QUICK = {
    "headless": ["--runs", "2", "--big-keys", "20000", "--big-runs", "1"],
    "startup": ["--runs", "5", "--warmup", "1", "--importtime-runs", "3"],
    "vs_capit": ["--runs", "5", "--warmup", "1"],
    "scale": ["--cli-runs", "2", "--tui-runs", "1"],
    "install": ["--runs", "5", "--warmup", "1"],
}
EXTRA = {  # always passed
    "scale": ["--where"],
}


def ms(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x * 1000:.1f} ms" if x < 0.01 else f"{x * 1000:.0f} ms"


def s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f} s"


def md_table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def section_startup(r: dict) -> str:
    c, t = r["commands"], r.get("tui", {})
    rows = [[f"`{label}`", ms(v["wall_median"]), ms(v["cpu_median"]),
             (f"< {v['goal'] * 1000:.0f} ms" if v["goal"] else v["kind"]),
             ("yes" if v["wall_median"] < v["goal"] else "**no**") if v["goal"] else ""]
            for label, v in c.items()]
    for label, v in t.items():
        rows.append([f"`capit-tui --demo` in a pty: {label}", ms(v["median"]), ms(v.get("cpu_median")),
                     f"< {v['goal'] * 1000:.0f} ms" if v["goal"] else "",
                     ("yes" if v["median"] < v["goal"] else "**no**") if v["goal"] else ""])
    text = [f"Medians of {r['runs']} interleaved runs (wall from exec to exit; CPU = user + sys of the process).",
            "", md_table(["command", "median wall", "median CPU", "goal", "met"], rows, {1, 2}), ""]
    ver = c.get("capit-tui --version", {})
    kl = next((v for k, v in c.items() if k.startswith("capit-tui keys list")), {})
    httpx_floor = next((v for k, v in c.items() if k.startswith("httpx floor")), {})
    tx = c.get("python -c 'import textual.app'", {})
    data = t.get("first data frame", {})
    sentences = []
    if ver:
        sentences.append(f"`--version` takes {ms(ver['wall_median'])} against the 200 ms goal "
                         f"({'met' if ver['wall_median'] < 0.2 else 'missed'}).")
    if kl:
        floor = httpx_floor.get("wall_median")
        sentences.append(
            f"`keys list --json` on 40 keys takes {ms(kl['wall_median'])} wall ({ms(kl['cpu_median'])} CPU): "
            f"{'within' if kl['wall_median'] < 0.2 else 'over'} the 200 ms goal"
            f"{' by a thin margin' if 0.18 < kl['wall_median'] < 0.2 else ''}. A bare httpx client making the "
            f"same request once takes {ms(floor)}, so capit-tui spends "
            f"{ms(kl['wall_median'] - floor) if floor else '-'} on top of that floor (argparse, its own modules, "
            "settings, the /workspaces request and four pages at once instead of one request, the output).")
    if data:
        sentences.append(
            f"The TUI's first frame with data comes {ms(data['median'])} after exec "
            f"({'within' if data['median'] < 0.8 else 'over'} the 800 ms goal); `import textual.app` alone "
            f"takes {ms(tx.get('wall_median'))}.")
    imports = r.get("imports", {})
    for cmd, d in imports.items():
        parts = sorted(((g, v) for g, v in d.items() if g != "total import"), key=lambda x: -x[1])[:3]
        if parts:
            sentences.append(f"In `{cmd}`, imports take {ms(d.get('total import'))} (self times under "
                             "-X importtime, which inflates them a little), led by "
                             + ", ".join(f"{g} {ms(v)}" for g, v in parts) + ".")
    text += [" ".join(sentences), ""]
    if imports:
        names = list(imports)
        groups = sorted({g for d in imports.values() for g in d if g != "total import"},
                        key=lambda g: -max(d.get(g, 0) for d in imports.values()))
        rows = [[g] + [ms(imports[n].get(g, 0.0)) for n in names] for g in groups]
        rows.append(["**total import**"] + [ms(imports[n].get("total import")) for n in names])
        text += ["What start-up spends on imports (`python -X importtime`, self times summed per package, "
                 "median):", "", md_table(["package group"] + [f"`{n}`" for n in names], rows,
                                          set(range(1, len(names) + 1))), ""]
    return "\n".join(text)


def section_vs_capit(r: dict) -> str:
    rows = []
    for n, size in r["sizes"].items():
        for label, v in size["commands"].items():
            rows.append([f"{n} keys", f"`{label}`", ms(v["wall_median"]), ms(v["cpu_median"]),
                         f"{v['ratio_to_capit_tui']:.2f}x", str(v["shown"] if v["shown"] is not None else "-")])
    text = [f"capit {r['capit_version']} from PyPI in bench/.venv-capit, its OpenRouter URL redirected to the "
            f"same sandbox. Medians of {r['runs']} interleaved runs.", "",
            md_table(["platform", "command", "median wall", "median CPU", "time vs capit-tui", "keys shown"], rows,
                     {2, 3, 4, 5}), ""]
    for n, size in r["sizes"].items():
        tui = size["commands"]["capit-tui keys list"]
        cap = size["commands"]["capit --keys list"]
        ratio = cap["wall_median"] / tui["wall_median"]
        text.append(
            f"With {n} keys on the platform ({size['enabled']} enabled, {size['disabled']} disabled), capit-tui "
            f"shows {tui['shown']} and capit {cap['shown']}; capit takes {ratio:.2f}x capit-tui's wall time "
            f"({size['requests_per_run']['capit']:.0f} request against capit-tui's "
            f"{size['requests_per_run']['capit-tui (2 list commands)']:.0f}: capit asks once, without "
            "`include_disabled` or `offset`, so it sees only the first page of enabled keys).")
        text.append("")
    return "\n".join(text)


def section_scale(r: dict) -> str:
    cli = r["cli"]
    runs = r["tui_runs"]

    def med(*path: str) -> float:
        vals = []
        for run in runs:
            v = run
            for p in path:
                v = v[p]
            vals.append(v)
        vals.sort()
        return vals[len(vals) // 2]

    n_keys = f"{r['keys']:,}".replace(",", " ")
    text = [f"{n_keys} keys on the sandbox, {r['latency_ms']:g} ms added to every request, "
            f"page_parallelism {r['page_parallelism']}, a ledger of {r.get('ledger_entries', 0)} installs.", "",
            md_table(["headless", "median wall", "median CPU", "requests", "lower bound"],
                     [["`keys list --json`", s(cli["wall_median"]), s(cli["cpu_median"]), f"{cli['requests']:.0f}",
                       f"{s(r['lower_bound_s'])} ({r['pages']} pages / {r['page_parallelism']} x "
                       f"{r['latency_ms']:g} ms); {s(r['lower_bound_batches_s'])} with the /workspaces round "
                       "trip and whole batches"]]
                     + ([["the same with 0 ms latency", s(r["cli_no_latency"]["wall_median"]),
                          s(r["cli_no_latency"]["cpu_median"]), "", "processing only"]]
                        if "cli_no_latency" in r else []), {1, 2, 3}), ""]
    rows = [["first load: listing fetched and applied", s(med("first_load", "listing_applied_s")), "", ""],
            [f"first load: all {n_keys} rows in the table", s(med("first_load", "rows_in_table_s")), "", ""],
            ["first load: painted", s(med("first_load", "painted_s")), ms(med("first_load", "max_stall_s")),
             s(med("first_load", "cpu_s"))]]
    for key, label in (("refresh_unchanged", "refresh, nothing changed"),
                       ("refresh_100_changed", "refresh, 100 keys' spend changed"),
                       ("type_filter", "type a 6-letter filter, one key at a time"),
                       ("clear_filter", "clear the filter (esc)")):
        rows.append([label, s(med(key, "duration_s")), ms(med(key, "max_stall_s")), s(med(key, "cpu_s"))])
    keystroke = sorted(max(run["type_filter"]["per_keystroke_s"]) for run in runs)[len(runs) // 2]
    rows.append(["slowest filter keystroke, press to repaint", s(keystroke), "", ""])
    rows.append(["peak RSS", f"{med('peak_rss_mb'):.0f} MB", "", ""])
    text += [f"The TUI, headless (`run_test`, 160x48), median of {len(runs)} runs; the longest stall is the largest "
             "gap between ticks of a 1 ms asyncio ticker in the app's own loop (goal: under 100 ms):", "",
             md_table(["phase", "time", "longest stall", "CPU"], rows, {1, 2, 3}), ""]
    stall = med("first_load", "max_stall_s")
    refresh = max(med("refresh_unchanged", "max_stall_s"), med("refresh_100_changed", "max_stall_s"))
    clear = med("clear_filter", "max_stall_s")
    verdict = lambda x: "within" if x < 0.1 else "over"  # noqa: E731
    zero = r.get("cli_no_latency", {}).get("wall_median")
    where = r.get("where") or {}
    gc_note = ""
    ru = where.get("refresh_unchanged")
    if ru and ru["stall_ms"] and ru["gc_ms"] / ru["stall_ms"] > 0.5:
        gc_note = (f" (in the --where run, {ru['gc_ms']} ms of a {ru['stall_ms']} ms refresh stall was one full "
                   f"garbage collection, which walks every object of the {n_keys}-row table)")
    text.append(
        f"Listing {n_keys} keys headless takes {s(cli['wall_median'])} against a lower bound of "
        f"{s(r['lower_bound_s'])} ({cli['wall_median'] / r['lower_bound_s']:.1f}x)"
        + (f"; the same listing without latency takes {s(zero)}, and roughly that much processing (start-up, "
           f"the sandbox building pages, parsing {n_keys} keys, the JSON output) adds to the waits instead of "
           "hiding behind them" if zero else "") + ". "
        f"In the TUI a background refresh stalls the event loop for at most {ms(refresh)}, {verdict(refresh)} the "
        f"100 ms goal{gc_note}; filling the table freezes it for {ms(stall)} on the first load and "
        f"{ms(clear)} when a filter is cleared ({verdict(max(stall, clear))} the goal), and every filter keystroke "
        "rebuilds the table. That time goes into Textual's DataTable (add_row, then measuring every cell of "
        "every new row in one idle callback), not into capit-tui's network code.")
    text.append("")
    if where:
        text += ["Where the longest stall of each phase went (`--where`: a separate run sampling the main thread's "
                 "stack every 2 ms; shares of the samples inside that stall):", ""]
        wrows = []
        for phase, w in where.items():
            wrows.append([phase.replace("_", " "), f"{w['stall_ms']} ms", f"{w['gc_ms']} ms",
                          "; ".join(f"{k} {v}%" for k, v in w["on_stack"][:4])])
        text += [md_table(["phase", "stall", "in gc", "on the stack"], wrows, {1, 2}), ""]
    return "\n".join(text)


def section_install(r: dict) -> str:
    rows = [["in-process", label, ms(v["median"]), ms(v["min"]), ms(v["p90"]), ""] for label, v in r["in_process"].items()]
    rows += [["process", f"`{label}`", ms(v["median"]), ms(v["min"]), ms(v["p90"]), ms(v["cpu_median"])]
             for label, v in r["end_to_end"].items()]
    text = [f"Claude Code, Codex CLI and OpenCode (4 files with real-looking content) under a temp HOME, keys "
            f"issued on the sandbox; medians of {r['runs']} runs, each from the same files.", "",
            md_table(["view", "step", "median", "min", "p90", "CPU"], rows, {2, 3, 4, 5}), ""]
    ip = r["in_process"]
    total = next((v for k, v in ip.items() if k.startswith("plan + preview + apply")), None)
    restore = next((v for k, v in ip.items() if k.startswith("restore")), None)
    if total and restore:
        text.append(f"Planning, previewing and applying the install takes {ms(total['median'])} inside the "
                    f"process and restoring it {ms(restore['median'])}; as commands, most of each figure is "
                    "start-up. There is no stated goal; nothing here is slow enough to need one.")
    text.append("")
    return "\n".join(text)


def section_headless(r: dict) -> str:
    from headless import report

    return "\n".join([
        f"Issue 11's table: the code before ({r['before_ref']}) and after, measured in one run, interleaved, medians "
        f"of {r['runs']} runs ({r.get('big_runs', '')} at {r['big_keys']:,} keys). The TUI rows come from the virtual "
        "keys table's own figures (bench/keytable_figures.md on that branch).", "",
        report(r), "",
        "The sandbox disables Nagle's algorithm (`disable_nagle_algorithm` in capit_tui/sandbox/http.py); a server "
        "with Nagle on adds ~40 ms to every kept-alive reply whose headers and body leave in two writes (the "
        "client's delayed ACK), which would swamp every figure here. The start-up and CPU items behind the new "
        "figures are measured one by one by `python bench/headless_items.py`.", ""])


def write_report() -> Path:
    parts = {name: load_results(name) for name in ORDER}
    first = next((p for p in parts.values() if p), None)
    m = (first or {}).get("machine") or machine()
    dates = sorted(p["date"] for p in parts.values() if p)
    loads = [f"{name} {p.get('load_at_start', 0):.2f} -> {p.get('load_at_end', 0):.2f}"
             for name, p in parts.items() if p]
    out = ["# capit-tui benchmarks: latest results", "",
           "Written by `python bench/run_all.py` (replacing the previous figures); see bench/README.md to rerun.", "",
           f"- Date: {dates[-1] if dates else '-'}",
           f"- Machine: {m['nproc']} cores ({m['cpu']}), {m['ram']} RAM, {m['os']}",
           f"- Python {m['python']}, Textual {m['textual']}, httpx {m['httpx']}",
           "- Load average (1 min) at the start and end of each benchmark (other work may run on the machine; "
           "CPU times are less sensitive to it than wall times): " + ", ".join(loads), "",
           "Method: every command is a fresh process with a temp HOME and XDG dirs, a null keyring "
           "(`PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring`, `CAPIT_NO_KEYRING=1`) and a warm byte-code "
           "cache (`PYTHONPYCACHEPREFIX` under ~/.cache/capit-tui/bench; this machine sets "
           "`PYTHONDONTWRITEBYTECODE=1`, whose cost the start-up table shows as its own row). The sandbox runs in "
           "its own process on 127.0.0.1.", ""]
    titles = {"headless": "0. Issue 11: listing, headless", "startup": "1. Start-up", "vs_capit": "2. Against capit", "scale": "3. Scale", "install": "4. Install"}
    makers = {"headless": section_headless, "startup": section_startup, "vs_capit": section_vs_capit, "scale": section_scale,
              "install": section_install}
    for name in ORDER:
        out.append(f"## {titles[name]}")
        out.append("")
        if parts[name]:
            out.append(f"_{parts[name]['date']}_")
            out.append("")
            out.append(makers[name](parts[name]))
        else:
            out.append(f"Not run yet: `python bench/{name}.py`.")
            out.append("")
    path = BENCH / "RESULTS.md"
    path.write_text("\n".join(out).rstrip() + "\n")
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    ap.add_argument("--only", help="comma-separated subset of " + ",".join(ORDER))
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    require_capit_tui()
    if not args.report_only:
        names = [n.strip() for n in args.only.split(",")] if args.only else list(ORDER)
        for name in names:
            if name not in ORDER:
                sys.exit(f"unknown benchmark {name!r}; choose from {', '.join(ORDER)}")
            print(f"\n=== {name} ===", flush=True)
            t = time.perf_counter()
            argv = [python(), str(BENCH / f"{name}.py")] + EXTRA.get(name, []) + (QUICK[name] if args.quick else [])
            rc = subprocess.run(argv, timeout=3600).returncode
            if rc != 0:
                print(f"{name} failed with exit status {rc}", file=sys.stderr)
                return rc
            print(f"({name}: {time.perf_counter() - t:.0f} s)")
    path = write_report()
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
