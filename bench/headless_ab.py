"""`keys list --json` of two checkouts of capit_tui, A/B: CPU, wall and peak RSS medians of interleaved runs
against one sandbox, whether the two printed the same bytes, and how long each spent in the cyclic garbage
collector (issue 11, item 3: each start-up and CPU item is measured against the commit before it).

    python bench/headless_ab.py BEFORE_DIR AFTER_DIR [--keys 1000] [--latency-ms 0] [--runs 9]

BEFORE_DIR and AFTER_DIR each hold a `capit_tui` package (a work tree, or `git worktree add /tmp/x <ref>`).
Each runs `python -m capit_tui keys list --json` with its own temp HOME (its history and count hint stay
its own), after two warm-up runs each. On a shared machine CPU time (user+sys) moves less than wall time;
the load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import isolated_env, load_note, python, run_timed, sandbox, temp_home  # noqa: E402

GC_PROBE = r'''
import gc, io, json, sys, time
spent = [0.0, 0]
start = {}
def timed(phase, info):
    if phase == "start":
        start["t"] = time.process_time()
    else:
        spent[0] += time.process_time() - start["t"]
        spent[1] += 1
gc.callbacks.append(timed)
from capit_tui.cli import main
sys.stdout = io.StringIO()
rc = main(["keys", "list", "--json"])
sys.stdout = sys.__stdout__
print(json.dumps({"rc": rc, "gc_ms": spent[0] * 1000, "collections": spent[1]}))
'''


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--latency-ms", type=float, default=0)
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args(argv)
    dirs = {"before": args.before.resolve(), "after": args.after.resolve()}
    for d in dirs.values():
        if not (d / "capit_tui" / "__init__.py").exists():
            sys.exit(f"{d} holds no capit_tui package")
    print(f"A/B keys list --json, {args.keys} keys, {args.latency_ms:g} ms a request, {args.runs} runs; "
          f"{load_note()}", flush=True)
    argv_ = [python(), "-m", "capit_tui", "keys", "list", "--json"]
    with temp_home() as root:
        with sandbox(isolated_env(root / "sandbox", extra={"PYTHONPATH": str(dirs["after"])}),
                     seed_keys=args.keys, latency_ms=args.latency_ms, timeout=600) as sb:
            envs = {tag: {**isolated_env(root / tag, extra={"PYTHONPATH": str(d)}), **sb.env}
                    for tag, d in dirs.items()}
            first = {}
            for _ in range(2):
                for tag, env in envs.items():
                    r = run_timed(argv_, env, timeout=900)
                    if r.rc != 0:
                        sys.exit(f"{tag} failed: {r.stderr.decode(errors='replace')[-600:]}")
                    first[tag] = r.stdout
            same = first["before"] == first["after"]
            cpu: dict[str, list[float]] = {t: [] for t in envs}
            wall: dict[str, list[float]] = {t: [] for t in envs}
            rss: dict[str, list[float]] = {t: [] for t in envs}
            for i in range(args.runs):
                for tag in (("before", "after") if i % 2 == 0 else ("after", "before")):
                    r = run_timed(argv_, envs[tag], timeout=900)
                    same = same and r.rc == 0 and r.stdout == first["before"]
                    cpu[tag].append(r.cpu)
                    wall[tag].append(r.wall)
                    rss[tag].append(r.maxrss_mb)
            in_gc = {}
            for tag, env in envs.items():
                probe = subprocess.run([python(), "-c", GC_PROBE], env=env, cwd=env["HOME"], capture_output=True,
                                       text=True, timeout=900)
                in_gc[tag] = json.loads(probe.stdout.strip().splitlines()[-1]) if probe.returncode == 0 else None
    results = {"keys": args.keys, "latency_ms": args.latency_ms, "runs": args.runs, "identical_output": same,
               "bytes": len(first["before"]), "load_after": load_note()}
    for tag in dirs:
        results[tag] = {"dir": str(dirs[tag]), "cpu_median_s": statistics.median(cpu[tag]),
                        "wall_median_s": statistics.median(wall[tag]), "rss_median_mb": statistics.median(rss[tag]),
                        "gc": in_gc[tag]}
        g = in_gc[tag]
        print(f"  {tag:6} CPU {statistics.median(cpu[tag]) * 1000:6.0f} ms  wall "
              f"{statistics.median(wall[tag]) * 1000:6.0f} ms  RSS {statistics.median(rss[tag]):4.0f} MB  "
              + (f"in gc {g['gc_ms']:.0f} ms ({g['collections']} collections)" if g else "gc probe failed"))
    print(f"  same output bytes: {same} ({len(first['before'])} bytes); {results['load_after']}")
    return results


if __name__ == "__main__":
    main()
