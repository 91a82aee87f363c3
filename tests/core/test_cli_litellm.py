"""`capit-tui platforms add NAME --kind litellm` and `keys list` against a loopback LiteLLM proxy, as subprocesses."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from litellm_server import LiteLLMServer
from test_cli import cli


@pytest.fixture
def proxy():
    with LiteLLMServer(cost_per_call=Decimal("0.25")) as s:
        yield s


def test_platforms_add_kind_litellm_checks_the_key_and_saves_the_kind(proxy, tmp_path):
    plain, _ = proxy.add_key("agent-key")
    p = cli("platforms", "add", "lab", "--kind", "litellm", "--base-url", proxy.url, input=plain + "\n")
    assert p.returncode == 1 and "plain virtual key" in p.stderr and "master key" in p.stderr
    assert plain not in p.stderr + p.stdout and not (tmp_path / "keyring.json").exists()
    p = cli("platforms", "add", "lab", "--kind", "litellm", "--base-url", proxy.url, input=proxy.master_key + "\n")
    assert p.returncode == 0, p.stderr
    assert "master key" in p.stderr  # where to find the key, in the prompt
    saved = (Path(os.environ["XDG_CONFIG_HOME"]) / "capit-tui" / "settings.toml").read_text()
    assert '[platforms.lab]\nkind = "litellm"' in saved and proxy.url in saved
    listed = {x["name"]: x for x in json.loads(cli("platforms", "list", "--json").stdout)}
    assert listed["lab"]["kind"] == "litellm" and listed["lab"]["configured"]
    t = cli("platforms", "test", "lab")
    assert t.returncode == 0 and "management key OK" in t.stdout and "1 key;" in t.stdout


def test_keys_list_shows_the_over_budget_refusal_as_capped(proxy):
    secret, row = proxy.add_key("capit-claude", max_budget=0.5, budget_duration="1d")
    proxy.add_key("capit-codex", max_budget=5.0, budget_duration="30d", spend=1.0)
    chat = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
    codes = [httpx.post(f"{proxy.url}/v1/chat/completions", json=chat,
                        headers={"Authorization": f"Bearer {secret}"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    (folder := Path(os.environ["XDG_CONFIG_HOME"]) / "capit-tui").mkdir(parents=True, exist_ok=True)
    (folder / "settings.toml").write_text(f'[platforms.lab]\nkind = "litellm"\nbase_url = "{proxy.url}"\n')
    env = {"CAPIT_LAB_MANAGEMENT_KEY": proxy.master_key}
    p = cli("keys", "list", env=env)
    assert p.returncode == 0, p.stderr
    (claude,) = [line for line in p.stdout.splitlines() if "capit-claude" in line]
    (codex,) = [line for line in p.stdout.splitlines() if "capit-codex" in line]
    assert "capped" in claude and "daily" in claude and "active" in codex and "monthly" in codex
    rows = {k["name"]: k for k in json.loads(cli("keys", "list", "--json", env=env).stdout)}
    assert rows["capit-claude"]["status"] == "capped" and rows["capit-claude"]["percent"] == 100
    assert rows["capit-claude"]["id"] == row["token"] and rows["capit-codex"]["spent"] == 1
    assert secret not in p.stdout + p.stderr and proxy.master_key not in p.stdout + p.stderr
