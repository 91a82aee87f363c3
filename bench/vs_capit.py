"""Against capit: the same `keys list` over the same sandbox, capit-tui vs the capit CLI from PyPI.

    python bench/vs_capit.py [--runs 15] [--capit-version 0.9.0]

capit is installed into the benchmark's own virtual environment (bench/.venv-capit, git-ignored), never
into capit-tui's. capit hard-codes https://openrouter.ai/api/v1 (API_BASE in capit/platforms/openrouter.py,
a module it loads from its file on every call, so patching the constant cannot stick); a sitecustomize.py
in that venv only rewrites requests' URLs with that prefix to the sandbox, and only when
CAPIT_BENCH_OPENROUTER_API is set. capit reads its management key from ~/.local/capit (a temp HOME here).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH,
    capit_tui_exe,
    fmt_s,
    isolated_env,
    load_note,
    median,
    require_capit_tui,
    run_timed,
    sandbox,
    save_results,
    seed_ledger,
    spread,
    table,
    temp_home,
)

VENV = BENCH / ".venv-capit"
CAPIT_VERSION = "0.9.0"

SITECUSTOMIZE = '''"""capit-tui benchmark: send capit's OpenRouter calls to a local sandbox (this venv only)."""
import os
import sys

_TARGET = os.environ.get("CAPIT_BENCH_OPENROUTER_API")
_PREFIX = "https://openrouter.ai/api/v1"

if _TARGET:
    def _patch(module):
        original = module.Session.request

        def request(self, method, url, *args, **kwargs):
            if isinstance(url, str) and url.startswith(_PREFIX):
                url = _TARGET.rstrip("/") + url[len(_PREFIX):]
            return original(self, method, url, *args, **kwargs)

        module.Session.request = request

    class _PatchRequestsSessions:
        """Patch requests.sessions when it is first imported (importing requests here would add its
        import time to every command, even those that never make a request)."""

        def find_spec(self, name, path=None, target=None):
            if name != "requests.sessions":
                return None
            from importlib.machinery import PathFinder

            spec = PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return spec
            exec_module = spec.loader.exec_module

            def patched_exec(module):
                exec_module(module)
                _patch(module)

            spec.loader.exec_module = patched_exec
            sys.meta_path.remove(self)
            return spec

    sys.meta_path.insert(0, _PatchRequestsSessions())
'''


def ensure_capit(version: str) -> Path:
    """bench/.venv-capit with capit==version and the sitecustomize; returns its `capit` script."""
    py = VENV / "bin" / "python"
    if not py.exists():
        print(f"creating {VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    have = subprocess.run([str(py), "-c", "import importlib.metadata as m; print(m.version('capit'))"],
                          capture_output=True, text=True)
    if have.returncode != 0 or have.stdout.strip() != version:
        print(f"installing capit=={version} into {VENV} ...", flush=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"capit=={version}"],
                       check=True)
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    target = Path(site) / "sitecustomize.py"
    if not target.exists() or target.read_text() != SITECUSTOMIZE:
        target.write_text(SITECUSTOMIZE)
    return VENV / "bin" / "capit"


def capit_home(home: Path, management_key: str) -> None:
    d = home / ".local" / "capit"
    d.mkdir(parents=True, exist_ok=True)
    (d / "master-lookup").write_text(json.dumps({"openrouter": {"store": "dotenv", "added_at": "2026-01-01T00:00:00"}}))
    secrets = d / "secrets.txt"
    secrets.write_text(f"# capit master keys - DO NOT SHARE\nopenrouter={management_key}\n")
    secrets.chmod(0o600)


_TOTAL = re.compile(rb"Total: (\d+) key")


def capit_count(stdout: bytes) -> int:
    m = _TOTAL.search(stdout)
    if not m:
        raise SystemExit(f"capit printed no total: {stdout[-300:]!r}")
    return int(m.group(1))


def tui_table_count(stdout: bytes) -> int:
    lines = [ln for ln in stdout.decode().splitlines() if ln.strip()]
    return max(0, len(lines) - 1)  # minus the header


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--capit-version", default=CAPIT_VERSION)
    args = ap.parse_args(argv)
    require_capit_tui()
    capit = ensure_capit(args.capit_version)
    exe = capit_tui_exe()
    print(f"vs_capit: capit {args.capit_version} vs capit-tui, {args.runs} runs each (+{args.warmup} warm-up), "
          f"interleaved; {load_note()}", flush=True)

    results: dict = {"runs": args.runs, "capit_version": args.capit_version, "sizes": {}}
    rows = []
    with temp_home() as root:
        env = isolated_env(root / "home")
        capit_env_base = isolated_env(root / "home", pycache=root / "capit-pycache")
        for n_keys in (40, 250):
            with sandbox(env, seed_keys=n_keys) as sb:
                capit_home(root / "home", sb.management_key)
                (Path(env["CAPIT_DATA_DIR"]) / "ledger.json").unlink(missing_ok=True)
                seed_ledger(env, sb)
                tenv = {**env, **sb.env}
                cenv = {**capit_env_base, "CAPIT_BENCH_OPENROUTER_API": sb.base_url}
                raw = [k for off in range(0, n_keys + 100, 100) for k in sb.list_raw(off)]
                enabled = sum(1 for k in raw if not k.get("disabled"))
                cmds = [
                    ("capit-tui keys list", [exe, "keys", "list"], tenv, tui_table_count),
                    ("capit-tui keys list --json", [exe, "keys", "list", "--json"], tenv,
                     lambda out: len(json.loads(out))),
                    ("capit --keys list", [str(capit), "--keys", "list"], cenv, capit_count),
                    ("capit --version (its start-up)", [str(capit), "--version"], cenv, None),
                ]
                wall: dict[str, list[float]] = defaultdict(list)
                cpu: dict[str, list[float]] = defaultdict(list)
                shown: dict[str, int] = {}
                sb.clear_requests()
                for i in range(args.warmup + args.runs):
                    for label, a, e, count in cmds:
                        r = run_timed(a, e)
                        if r.rc != 0:
                            raise SystemExit(f"{label} failed ({r.rc}): {r.stderr.decode(errors='replace')[-600:]}")
                        if count is not None:
                            shown[label] = count(r.stdout)
                        if i >= args.warmup:
                            wall[label].append(r.wall)
                            cpu[label].append(r.cpu)
                # Which requests each made (capit's User-Agent says capit).
                reqs = sb.requests()
                per_run = {"capit-tui": 0, "capit": 0}
                for q in reqs:
                    ua = (q.get("headers") or {}).get("user-agent", "")
                    per_run["capit" if ua.startswith("capit/") else "capit-tui"] += 1
                runs_total = args.warmup + args.runs
                size = {"keys_on_platform": n_keys, "enabled": enabled, "disabled": n_keys - enabled,
                        "shown": shown, "requests_per_run": {
                            "capit-tui (2 list commands)": per_run["capit-tui"] / runs_total / 2,
                            "capit": per_run["capit"] / runs_total},
                        "commands": {}}
                tui_med = median(wall["capit-tui keys list"])
                for label, _a, _e, _c in cmds:
                    w = wall[label]
                    lo, hi = spread(w)
                    ratio = median(w) / tui_med if tui_med else float("nan")
                    size["commands"][label] = {"wall_median": median(w), "wall_min": lo, "wall_p90": hi,
                                               "cpu_median": median(cpu[label]), "shown": shown.get(label),
                                               "ratio_to_capit_tui": ratio}
                    rows.append([f"{n_keys} keys", label, fmt_s(median(w)), fmt_s(lo), fmt_s(hi),
                                 fmt_s(median(cpu[label])), f"{ratio:.2f}x",
                                 str(shown.get(label, "-"))])
                results["sizes"][str(n_keys)] = size
                print(".", end="", flush=True)
    print()
    print(table(["platform", "command", "median wall", "min", "p90", "median CPU", "vs capit-tui", "keys shown"],
                rows, right={2, 3, 4, 5, 6, 7}))
    for n, size in results["sizes"].items():
        tui = size["commands"]["capit-tui keys list"]
        cap = size["commands"]["capit --keys list"]
        print(f"\n{n} keys on the platform ({size['enabled']} enabled, {size['disabled']} disabled): "
              f"capit-tui shows {tui['shown']}, capit shows {cap['shown']}. "
              f"capit's keys list takes {cap['wall_median'] / tui['wall_median']:.2f}x capit-tui's time "
              f"(requests per run: capit-tui {size['requests_per_run']['capit-tui (2 list commands)']:.0f}, "
              f"capit {size['requests_per_run']['capit']:.0f}).")
    results["load_after"] = load_note()
    print(f"\n({results['load_after']} at the end)")
    save_results("vs_capit", results)
    return results


if __name__ == "__main__":
    main()
