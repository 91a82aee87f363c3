"""The real Claude Code, Codex and OpenCode, installed from npm, reading the files capit-tui wrote,
send the new capped key to the sandbox; once the cap is spent they are refused with 403."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal

import httpx
import pytest
from realagents import ensure_agents, run_agent

from capit_tui import agents as agents_mod
from capit_tui.core.install import execute, preview
from capit_tui.core.keys import Configured
from capit_tui.core.settings import PlatformConfig
from capit_tui.sandbox import Sandbox

pytestmark = pytest.mark.realagent

@pytest.fixture(scope="module")
def bin_dir():
    path, why = ensure_agents()
    if path is None:
        print(f"\nreal-agent tests skipped: {why}", file=sys.stderr)
        pytest.skip(f"real agents unavailable: {why}")
    return path


def seen(sb: Sandbox, key_hash: str) -> list:
    return [r for r in sb.requests if r.key_hash == key_hash and r.path.startswith("/api/v1/")
            and r.method == "POST"]


def test_real_agents_send_the_installed_key_and_are_refused_at_the_cap(bin_dir, tmp_path, isolated_home,
                                                                        monkeypatch):
    home = tmp_path / "agent-home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var)
    with Sandbox(cost_per_call=Decimal("0.01")) as sb:
        platform = Configured(PlatformConfig("openrouter", "openrouter", sb.base_url), "env", sb.management_key)
        chosen = [agents_mod.get(n) for n in ("claude", "codex", "opencode")]
        pv = preview(platform, chosen, model="anthropic/claude-sonnet-4.5")
        result = asyncio.run(execute(pv, Decimal("0.50"), "daily"))
        hashes = {r.agent.name: r.issued.key.id for r in result.installed}
        secrets = {r.agent.name: r.issued.secret for r in result.installed}

        outputs = {}
        for name in ("claude", "codex", "opencode"):
            proc = run_agent(name, bin_dir, home, work)
            outputs[name] = proc
            calls = seen(sb, hashes[name])
            assert calls, (f"{name} never reached the sandbox with its key (exit {proc.returncode}); "
                           f"stderr tail: {proc.stderr[-800:]}")
            assert all(r.status < 400 for r in calls[:1]), f"{name}: first call failed {calls[0].status}"
        for proc in outputs.values():
            for s in secrets.values():
                assert s not in proc.stdout and s not in proc.stderr

        # Spend claude's cap with plain calls, then the real agent must be refused with 403.
        key = secrets["claude"]
        for _ in range(200):
            r = httpx.post(f"{sb.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"},
                           json={"model": "anthropic/claude-sonnet-4.5", "messages": [{"role": "user", "content": "x"}]})
            if r.status_code == 403:
                break
        assert r.status_code == 403 and "Key limit exceeded (daily limit)" in r.json()["error"]["message"]
        before = len(sb.requests)
        proc = run_agent("claude", bin_dir, home, work)
        refused = [r for r in sb.requests[before:] if r.key_hash == hashes["claude"] and r.method == "POST"]
        assert refused and all(r.status == 403 for r in refused), [r.status for r in refused]
        assert proc.returncode != 0 or "limit" in (proc.stdout + proc.stderr).lower()

        env = dict(os.environ, HOME=str(isolated_home), CAPIT_OPENROUTER_BASE_URL=sb.base_url,
                   CAPIT_OPENROUTER_MANAGEMENT_KEY=sb.management_key)
        listed = subprocess.run([sys.executable, "-m", "capit_tui", "keys", "list", "--json"], env=env,
                                capture_output=True, text=True, timeout=60)
        rows = {k["id"]: k for k in json.loads(listed.stdout)}
        assert rows[hashes["claude"]]["percent"] == 100
        assert rows[hashes["claude"]]["status"] == "capped"
        assert rows[hashes["codex"]]["percent"] < 100
