"""Install: plan, preview and apply an install of capped keys into three agents (Claude Code, Codex CLI,
OpenCode, each with real-looking existing config files under a temp HOME, on the sandbox), then restore.

    python bench/install.py [--runs 15] [--warmup 2]

Two views:
- in-process, phase by phase, through the same core calls the CLI and the TUI make: plan
  (install.preview: read and parse every file, plan the edits with a placeholder key), preview (the masked
  unified diffs), apply (install.execute: issue 3 keys on the sandbox, back up, write atomically, record
  in the ledger) and restore (restore_preview + its diff + restore_apply of the latest backup);
- end to end, each a fresh `capit-tui` process: `openrouter 5 -a claude -a codex -a opencode --dry-run`,
  the same with `--yes`, and `backups restore --latest --yes`.
Every run starts from the same files; the results are checked (the key is written, the restore gives
back the original bytes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    capit_tui_exe,
    fmt_s,
    isolated_env,
    load_note,
    median,
    require_capit_tui,
    run_timed,
    sandbox,
    save_results,
    spread,
    table,
    temp_home,
)

AGENTS = ("claude", "codex", "opencode")

# Real-looking configs, about the size people's grow to: permissions, hooks, profiles, MCP servers, comments.
FILES = {
    ".claude/settings.json": """{
  "$schema": "https://json.schemastore.org/claude-code-settings.json",
  "model": "sonnet",
  "permissions": {
    "allow": [
      "Bash(npm run lint)",
      "Bash(npm run test:*)",
      "Bash(git diff:*)",
      "Bash(git log:*)",
      "Read(~/.zshrc)",
      "WebFetch(domain:docs.python.org)"
    ],
    "deny": ["Read(./.env)", "Read(./secrets/**)", "Bash(curl:*)"],
    "defaultMode": "acceptEdits"
  },
  "env": {
    "BASH_DEFAULT_TIMEOUT_MS": "120000",
    "DISABLE_TELEMETRY": "1"
  },
  "hooks": {
    "PostToolUse": [
      {
        "matcher": "Edit|Write",
        "hooks": [{"type": "command", "command": "npx prettier --write \\"$CLAUDE_FILE_PATHS\\""}]
      }
    ]
  },
  "statusLine": {"type": "command", "command": "~/.claude/statusline.sh"},
  "includeCoAuthoredBy": false,
  "cleanupPeriodDays": 30
}
""",
    ".codex/config.toml": """# Codex CLI configuration
model = "gpt-5.1-codex"
model_reasoning_effort = "medium"
approval_policy = "on-request"
sandbox_mode = "workspace-write"
file_opener = "vscode"

[sandbox_workspace_write]
network_access = false
writable_roots = ["/tmp"]

[history]
persistence = "save-all"

[profiles.fast]
model = "gpt-5.1-codex-mini"
approval_policy = "never"

[profiles.deep]
model = "gpt-5.1"
model_reasoning_effort = "high"

# local MCP servers
[mcp_servers.docs]
command = "npx"
args = ["-y", "docs-mcp"]

[mcp_servers.github]
command = "github-mcp-server"
args = ["stdio"]
env = { GITHUB_TOOLSETS = "repos,issues" }

[tui]
notifications = true
""",
    ".config/opencode/opencode.json": """{
  "$schema": "https://opencode.ai/config.json",
  // theme and keybinds
  "theme": "tokyonight",
  "autoupdate": false,
  "model": "anthropic/claude-sonnet-4-5",
  "keybinds": {"leader": "ctrl+x", "session_new": "<leader>n"},
  "mcp": {
    "fs": {"type": "local", "command": ["npx", "-y", "fs-mcp"], "enabled": true},
    "search": {"type": "remote", "url": "https://mcp.example.com/sse", "enabled": false}
  },
  "agent": {
    "review": {"description": "Reviews code", "model": "anthropic/claude-haiku-4-5", "tools": {"write": false}}
  },
}
""",
    ".local/share/opencode/auth.json": """{
  "anthropic": {
    "type": "api",
    "key": "sk-ant-api03-not-a-real-key-just-bench-data-000000000000000000"
  }
}
""",
}


def seed_files(home: Path) -> dict[Path, bytes]:
    out = {}
    for rel, text in FILES.items():
        p = home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(0o600)
        out[p] = text.encode()
    return out


def reset(home: Path, data_dir: Path) -> dict[Path, bytes]:
    for rel in (".claude", ".codex", ".config/opencode", ".local/share/opencode"):
        shutil.rmtree(home / rel, ignore_errors=True)
    shutil.rmtree(data_dir, ignore_errors=True)
    return seed_files(home)


def check_installed(home: Path, secrets: list[str]) -> None:
    blob = b"".join((home / rel).read_bytes() for rel in FILES)
    missing = [s for s in secrets if s.encode() not in blob]
    if missing:
        raise SystemExit("an installed key is missing from the agents' files")


def check_restored(original: dict[Path, bytes]) -> None:
    for p, data in original.items():
        if p.read_bytes() != data:
            raise SystemExit(f"{p} was not restored to its original bytes")


# ---------------------------------------------------------------- in-process phases


def in_process(home: Path, runs: int, warmup: int) -> dict[str, list[float]]:
    from capit_tui import agents as agents_mod
    from capit_tui.core.agent_status import agent_statuses, installed_secrets
    from capit_tui.core.backups import BackupStore
    from capit_tui.core.install import execute, preview
    from capit_tui.core.keys import configured_platforms
    from capit_tui.core.ledger import Ledger
    from capit_tui.core.restore import restore_apply, restore_preview
    from capit_tui.core.settings import data_dir, load

    times: dict[str, list[float]] = defaultdict(list)
    c = configured_platforms(load(), "openrouter")[0]
    for i in range(warmup + runs):
        original = reset(home, data_dir())
        store, ledger = BackupStore(), Ledger()

        t0 = time.perf_counter()
        agents = [agents_mod.get(a) for a in AGENTS]
        pv = preview(c, agents)
        t1 = time.perf_counter()
        diff = pv.diff()
        t2 = time.perf_counter()
        result = asyncio.run(execute(pv, Decimal("5.00"), "monthly", store=store, ledger=ledger))
        t3 = time.perf_counter()
        check_installed(home, [r.issued.secret for r in result.installed])
        if len(pv.plan.changes) != 4 or "ANTHROPIC_AUTH_TOKEN" not in diff:
            raise SystemExit(f"unexpected plan: {len(pv.plan.changes)} files")

        t4 = time.perf_counter()
        b = store.latest()
        rp = restore_preview(store, b, None, installed_secrets(agent_statuses()))
        rdiff = rp.diff()
        restore_apply(store, rp)
        t5 = time.perf_counter()
        check_restored(original)
        if not rdiff:
            raise SystemExit("the restore preview showed no diff")
        if i >= warmup:
            times["plan (preview(): read, parse, plan 4 files)"].append(t1 - t0)
            times["preview (masked unified diffs)"].append(t2 - t1)
            times["apply (issue 3 keys, back up, write, ledger)"].append(t3 - t2)
            times["plan + preview + apply"].append(t3 - t0)
            times["restore (preview, diff, apply latest backup)"].append(t5 - t4)
    return times


# ---------------------------------------------------------------- end to end


def end_to_end(exe: str, env: dict[str, str], home: Path, data_dir: Path, runs: int, warmup: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = defaultdict(list)
    agent_args = [x for a in AGENTS for x in ("-a", a)]
    for i in range(warmup + runs):
        original = reset(home, data_dir)
        steps = [
            ("capit-tui openrouter 5 -a claude -a codex -a opencode --dry-run",
             [exe, "openrouter", "5", *agent_args, "--dry-run"]),
            ("capit-tui openrouter 5 -a claude -a codex -a opencode --yes",
             [exe, "openrouter", "5", *agent_args, "--yes"]),
            ("capit-tui backups restore --latest --yes", [exe, "backups", "restore", "--latest", "--yes"]),
        ]
        for label, argv in steps:
            r = run_timed(argv, env)
            if r.rc != 0:
                raise SystemExit(f"{label} failed ({r.rc}): {r.stderr.decode(errors='replace')[-800:]}")
            if i >= warmup:
                times[label].append(r.wall)
                times[label + " [CPU]"].append(r.cpu)
        check_restored(original)
    return times


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args(argv)
    require_capit_tui()
    exe = capit_tui_exe()
    print(f"install: {', '.join(AGENTS)}; {args.runs} runs (+{args.warmup} warm-up); {load_note()}", flush=True)

    with temp_home() as root:
        home = root / "home"
        data = root / "data"
        env = isolated_env(home, extra={"CAPIT_DATA_DIR": str(data), "CAPIT_CONFIG_DIR": str(root / "config")})
        with sandbox(env, seed_keys=40) as sb:
            env.update(sb.env)
            # The in-process view runs here: this process takes the same isolated environment.
            saved = dict(os.environ)
            os.environ.clear()
            os.environ.update(env)
            try:
                import keyring.core

                keyring.core._keyring_backend = None  # re-read PYTHON_KEYRING_BACKEND (the null one)
                phases = in_process(home, args.runs, args.warmup)
            finally:
                os.environ.clear()
                os.environ.update(saved)
            e2e = end_to_end(exe, env, home, data, args.runs, args.warmup)
            keys_after = len([k for off in range(0, 400, 100) for k in sb.list_raw(off)])

    rows = []
    results: dict = {"runs": args.runs, "agents": list(AGENTS), "in_process": {}, "end_to_end": {},
                     "sandbox_keys_after": keys_after}
    for label, xs in phases.items():
        lo, hi = spread(xs)
        rows.append(["in-process", label, fmt_s(median(xs), "ms"), fmt_s(lo, "ms"), fmt_s(hi, "ms"), ""])
        results["in_process"][label] = {"median": median(xs), "min": lo, "p90": hi}
    for label, xs in e2e.items():
        if label.endswith("[CPU]"):
            continue
        lo, hi = spread(xs)
        cpu = median(e2e[label + " [CPU]"])
        rows.append(["process", label, fmt_s(median(xs), "ms"), fmt_s(lo, "ms"), fmt_s(hi, "ms"), fmt_s(cpu, "ms")])
        results["end_to_end"][label] = {"median": median(xs), "min": lo, "p90": hi, "cpu_median": cpu}
    print()
    print(table(["view", "step", "median", "min", "p90", "CPU"], rows, right={2, 3, 4, 5}))
    results["load_after"] = load_note()
    print(f"\n({results['load_after']} at the end)")
    save_results("install", results)
    return results


if __name__ == "__main__":
    main()
