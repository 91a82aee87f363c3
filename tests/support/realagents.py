"""Install the real coding agents from npm into a cache outside the clone, once, for the real-agent tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# How each agent is run once, non-interactively, for one inference request.
COMMANDS = {
    "claude": ["claude", "-p", "say hi"],
    "codex": ["codex", "exec", "--skip-git-repo-check", "say hi"],
    "opencode": ["opencode", "run", "say hi"],
}

AGENT_PACKAGES = {
    "claude": "@anthropic-ai/claude-code@2.1.197",
    "codex": "@openai/codex@0.169.0",
    "opencode": "opencode-ai@1.18.33",
}


def cache_dir() -> Path:
    """~/.cache/capit-tui/agents of the real user (the tests' HOME is a temp dir), or CAPIT_AGENT_CACHE."""
    override = os.environ.get("CAPIT_AGENT_CACHE")
    if override:
        return Path(override)
    import pwd

    real_home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    return real_home / ".cache" / "capit-tui" / "agents"


def ensure_agents(packages: dict[str, str] = AGENT_PACKAGES) -> tuple[Path | None, str]:
    """(bin dir, "") when every agent runs; (None, reason) when they cannot be installed here."""
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not installed"
    root = cache_dir()
    bin_dir = root / "node_modules" / ".bin"
    if all((bin_dir / name).exists() for name in packages):
        return bin_dir, ""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "package.json").exists():
        (root / "package.json").write_text('{"name": "capit-tui-agent-cache", "private": true}\n')
    try:
        proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(root),
                               *packages.values()], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return None, "npm install timed out after 15 minutes (registry unreachable?)"
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])
        return None, f"npm install failed (exit {proc.returncode}): {tail}"
    missing = [n for n in packages if not (bin_dir / n).exists()]
    if missing:
        return None, f"npm installed the packages but not the programs {missing}"
    return bin_dir, ""


def clean_env(bin_dir: Path, home: Path, **extra: str) -> dict[str, str]:
    """Nothing from the developer's environment: the equivalent of `env -i PATH=... HOME=...`."""
    node_dir = Path(shutil.which("node") or "/usr/bin/node").parent
    env = {"PATH": f"{bin_dir}:{node_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "TERM": "dumb",
           "LANG": "C.UTF-8", "NO_COLOR": "1", "CI": "1"}
    env.update(extra)
    return env


def run_agent(name: str, bin_dir: Path, home: Path, cwd: Path) -> subprocess.CompletedProcess:
    """Run the real agent `name` once (COMMANDS) with only clean_env's variables; its output is captured."""
    cmd = [str(bin_dir / COMMANDS[name][0]), *COMMANDS[name][1:]]
    return subprocess.run(cmd, env=clean_env(bin_dir, home), cwd=cwd, capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL)
