"""The real Claude Code, Codex and OpenCode, installed from npm, reading the files capit-tui wrote for a key
issued on a LiteLLM proxy (the loopback LiteLLM-compatible server: the real proxy cannot start here), send
their own new key to it: Claude Code to <base>/v1/messages, Codex and OpenCode to <base>/v1. Once the budget is
spent the proxy refuses with LiteLLM's budget_exceeded error, and the agent shows the refusal.

The refusal is sent with status 400, as LiteLLM releases from mid-2024 to 2025 send it. Releases from mid-2026
send 429, which agents treat as retryable: Claude Code 2.1.197 was seen retrying it with backoff (7 tries in
40 s, no reply shown yet), so a 429 refusal reaches the user only minutes later; that is the agents' retry
policy, not something capit-tui can change from the keys it writes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal

import httpx
import pytest
from litellm_server import LiteLLMServer, hash_token
from realagents import ensure_agents, run_agent

from capit_tui import agents as agents_mod
from capit_tui.core.install import execute, preview
from capit_tui.core.keys import Configured
from capit_tui.core.settings import PlatformConfig
from capit_tui.platforms.litellm import LiteLLMPlatform

pytestmark = pytest.mark.realagent

# Model names as a LiteLLM config might route them (model_list[].model_name): the agents pick from GET /v1/models.
MODELS = ("anthropic/claude-sonnet-4.5", "openai/gpt-5.1-codex", "openai/gpt-4o-mini")
INFERENCE = ("/v1/messages", "/v1/responses", "/v1/chat/completions", "/chat/completions", "/responses")


@pytest.fixture(scope="module")
def bin_dir():
    path, why = ensure_agents()
    if path is None:
        print(f"\nreal-agent tests skipped: {why}", file=sys.stderr)
        pytest.skip(f"real agents unavailable: {why}")
    return path


def inference_calls(proxy: LiteLLMServer, key_hash: str, since: int = 0) -> list:
    return [r for r in proxy.requests[since:] if r.key_hash == key_hash and r.method == "POST"
            and r.path in INFERENCE]


def test_real_agents_send_their_own_litellm_key_and_show_the_budget_refusal(bin_dir, tmp_path, isolated_home,
                                                                           monkeypatch):
    home = tmp_path / "agent-home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var)
    with LiteLLMServer(cost_per_call=Decimal("0.01"), models=MODELS, budget_status=400) as proxy:
        cfg = PlatformConfig("litellm", "litellm", proxy.url)
        platform = Configured(cfg, "env", proxy.master_key)

        async def models() -> list[str]:
            async with LiteLLMPlatform("litellm", proxy.url, proxy.master_key, remember_count=False) as p:
                return await p.list_models()

        listed = asyncio.run(models())
        model = "anthropic/claude-sonnet-4.5"
        assert model in listed  # the user picks from what the proxy routes
        chosen = [agents_mod.get(n) for n in ("claude", "codex", "opencode")]
        pv = preview(platform, chosen, model=model)
        assert pv.openai_base_url == f"{proxy.url}/v1" and pv.anthropic_base_url == proxy.url
        result = asyncio.run(execute(pv, Decimal("0.05"), "daily"))
        hashes = {r.agent.name: r.issued.key.id for r in result.installed}
        secrets = {r.agent.name: r.issued.secret for r in result.installed}
        assert all(hashes[n] == hash_token(secrets[n]) for n in hashes)
        generated = [r.body for r in proxy.calls("POST", "/key/generate")]
        assert all(b["budget_duration"] == "1d" and b["max_budget"] == 0.05 and
                   b["metadata"] == {"created_by": "capit-tui"} for b in generated) and len(generated) == 3

        for name in ("claude", "codex", "opencode"):
            before = len(proxy.requests)
            proc = run_agent(name, bin_dir, home, work)
            calls = inference_calls(proxy, hashes[name], before)
            assert calls, (f"{name} never reached the proxy with its own key (exit {proc.returncode}); "
                           f"stderr tail: {proc.stderr[-800:]}")
            assert calls[0].status == 200, f"{name}: first call failed {calls[0].status}"
            others = {h for n, h in hashes.items() if n != name}
            assert not [r for r in proxy.requests[before:] if r.key_hash in others]
            for s in secrets.values():
                assert s not in proc.stdout and s not in proc.stderr

        # Spend each key's budget with plain calls; then each real agent is refused and shows it.
        for name in ("claude", "codex", "opencode"):
            for _ in range(20):
                r = httpx.post(f"{proxy.url}/v1/chat/completions", headers={"Authorization": f"Bearer {secrets[name]}"},
                               json={"model": model, "messages": [{"role": "user", "content": "x"}]})
                if r.status_code != 200:
                    break
            assert r.status_code == 400 and r.json()["error"]["type"] == "budget_exceeded"
            before = len(proxy.requests)
            proc = run_agent(name, bin_dir, home, work)
            refused = inference_calls(proxy, hashes[name], before)
            assert refused and all(c.status == 400 for c in refused), [c.status for c in refused]
            shown = (proc.stdout + proc.stderr).lower()
            assert "budget has been exceeded" in shown or "budget_exceeded" in shown, (name, proc.returncode,
                                                                                       shown[-600:])

        env = dict(os.environ, HOME=str(isolated_home), CAPIT_LITELLM_MANAGEMENT_KEY=proxy.master_key)
        (isolated_home / ".config" / "capit-tui").mkdir(parents=True, exist_ok=True)
        (isolated_home / ".config" / "capit-tui" / "settings.toml").write_text(
            f'[platforms.litellm]\nkind = "litellm"\nbase_url = "{proxy.url}"\n')
        env["XDG_CONFIG_HOME"] = str(isolated_home / ".config")
        listed_keys = subprocess.run([sys.executable, "-m", "capit_tui", "keys", "list", "--json"], env=env,
                                     capture_output=True, text=True, timeout=60)
        rows = {k["id"]: k for k in json.loads(listed_keys.stdout)}
        assert all(rows[h]["status"] == "capped" for h in hashes.values()), listed_keys.stdout
