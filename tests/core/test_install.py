"""Install capped keys into agents' files against the sandbox: preview, all-or-nothing, ledger, restore."""

from __future__ import annotations

import asyncio
import errno
import json
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from capit_tui import agents as agents_mod
from capit_tui.core.backups import BackupStore
from capit_tui.core.changes import apply
from capit_tui.core.install import InstallError, execute, preview
from capit_tui.core.keys import Configured
from capit_tui.core.ledger import Ledger
from capit_tui.core.restore import restore_plan
from capit_tui.core.settings import PlatformConfig
from capit_tui.sandbox import Sandbox


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def platform(sandbox):
    return Configured(PlatformConfig("openrouter", "openrouter", sandbox.base_url), "env", sandbox.management_key)


def live_keys(sb: Sandbox) -> list[dict]:
    import httpx

    r = httpx.get(f"{sb.base_url}/keys", params={"include_disabled": "true"},
                  headers={"Authorization": f"Bearer {sb.management_key}"})
    return r.json()["data"]


def three(home: Path):
    return [agents_mod.get(n) for n in ("claude", "codex", "opencode")]


def test_preview_issues_nothing_and_masks_the_placeholder(platform, sandbox, isolated_home):
    pv = preview(platform, three(isolated_home), model="anthropic/claude-sonnet-4.5")
    diff = pv.diff()
    assert "sk-or-v1-…0000" in diff and pv.placeholder not in diff
    assert str(isolated_home / ".claude" / "settings.json") in diff
    assert str(isolated_home / ".codex" / "config.toml") in diff
    assert sandbox.base_url in diff and sandbox.anthropic_base_url in diff
    assert live_keys(sandbox) == []
    assert not (isolated_home / ".claude").exists()


def test_install_gives_each_agent_its_own_key(platform, sandbox, isolated_home):
    pv = preview(platform, three(isolated_home), name="team")
    result = asyncio.run(execute(pv, Decimal("5.00"), "monthly"))
    keys = {k["name"]: k for k in live_keys(sandbox)}
    assert set(keys) == {"team-claude", "team-codex", "team-opencode"}
    assert all(k["limit"] == 5 and k["limit_reset"] == "monthly" for k in keys.values())
    secrets = {r.agent.name: r.issued.secret for r in result.installed}
    assert len(set(secrets.values())) == 3

    settings = json.loads((isolated_home / ".claude" / "settings.json").read_text())
    assert settings["env"] == {"ANTHROPIC_BASE_URL": sandbox.anthropic_base_url,
                               "ANTHROPIC_AUTH_TOKEN": secrets["claude"], "ANTHROPIC_API_KEY": ""}
    codex = tomllib.loads((isolated_home / ".codex" / "config.toml").read_text())
    assert codex["model_provider"] == "capit"
    assert codex["model_providers"]["capit"]["experimental_bearer_token"] == secrets["codex"]
    assert codex["model_providers"]["capit"]["base_url"] == sandbox.base_url
    auth = json.loads((isolated_home / ".local" / "share" / "opencode" / "auth.json").read_text())
    assert auth["openrouter"] == {"type": "api", "key": secrets["opencode"]}

    for a in three(isolated_home):
        got = a.installed_key()
        assert got is not None and got.secret == secrets[a.name]
    ledger = Ledger()
    for r in result.installed:
        assert ledger.holders("openrouter", r.issued.key.id) == [r.agent.name]
    for path in (isolated_home / ".claude" / "settings.json", isolated_home / ".codex" / "config.toml"):
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    ledger_text = Ledger().path.read_text()
    assert not any(secret in ledger_text for secret in secrets.values())
    assert '"masked": "sk-or-v1-\\u2026' in ledger_text


def test_a_failed_write_restores_files_and_revokes_the_keys(platform, sandbox, isolated_home):
    claude_dir = isolated_home / ".claude"
    claude_dir.mkdir()
    (claude_dir / "settings.json").write_text('{"model": "opus"}\n')
    pv = preview(platform, three(isolated_home))

    def full_disk(path, data, mode):
        if path.name == "config.toml":
            raise OSError(errno.ENOSPC, "No space left on device")
        from capit_tui.core.fsutil import atomic_write

        atomic_write(path, data, mode=mode)

    with pytest.raises(InstallError) as err:
        asyncio.run(execute(pv, Decimal(5), "daily", write=full_disk))
    msg = str(err.value)
    assert "disk is full" in msg and "put back" in msg and "were revoked" in msg
    assert live_keys(sandbox) == []
    assert (claude_dir / "settings.json").read_text() == '{"model": "opus"}\n'
    assert not (isolated_home / ".codex" / "config.toml").exists()
    assert Ledger().entries() == []


def test_a_failed_issue_revokes_the_keys_already_issued(platform, sandbox, isolated_home):
    sandbox.inject_fault("POST /api/v1/keys", "500", times=1, after=1)
    pv = preview(platform, three(isolated_home))
    with pytest.raises(InstallError) as err:
        asyncio.run(execute(pv, Decimal(5), "daily"))
    assert "No file was changed" in str(err.value)
    assert live_keys(sandbox) == []
    assert not (isolated_home / ".claude").exists()


def test_file_changed_since_preview_stops_and_revokes(platform, sandbox, isolated_home):
    claude_dir = isolated_home / ".claude"
    claude_dir.mkdir()
    (claude_dir / "settings.json").write_text("{}\n")
    pv = preview(platform, [agents_mod.get("claude")])
    (claude_dir / "settings.json").write_text('{"changed": true}\n')
    with pytest.raises(InstallError, match="changed since the preview"):
        asyncio.run(execute(pv, Decimal(5), "daily"))
    assert live_keys(sandbox) == []
    assert (claude_dir / "settings.json").read_text() == '{"changed": true}\n'


def test_unparseable_config_is_refused_before_any_key(platform, sandbox, isolated_home):
    codex = isolated_home / ".codex"
    codex.mkdir()
    (codex / "config.toml").write_text('model = "gpt-5"\n[broken\n')
    from capit_tui.core.changes import PlanError

    with pytest.raises(PlanError, match=r"config.toml:2"):
        preview(platform, three(isolated_home))
    assert live_keys(sandbox) == []


def test_restore_after_install_brings_back_the_old_files(platform, sandbox, isolated_home):
    codex = isolated_home / ".codex"
    codex.mkdir()
    original = b'# my codex\nmodel = "o3"\n\n[profiles.fast]\nmodel = "gpt-5-mini"\n'
    (codex / "config.toml").write_bytes(original)
    pv = preview(platform, three(isolated_home))
    result = asyncio.run(execute(pv, Decimal(5), "weekly"))
    store = BackupStore()
    plan = restore_plan(store.get(result.backup.id))
    apply(plan, store, {"reason": "restore"})
    assert (codex / "config.toml").read_bytes() == original
    assert not (isolated_home / ".claude" / "settings.json").exists()


def test_manual_agents_get_a_key_and_steps_but_no_file(platform, sandbox, isolated_home):
    pv = preview(platform, [agents_mod.get("cursor")])
    assert pv.plan.changes == [] and [a.name for a in pv.manual] == ["cursor"]
    result = asyncio.run(execute(pv, Decimal(2), "daily"))
    (agent, issued, steps) = result.manual[0]
    assert issued.secret.startswith("sk-or-v1-") and any("Override OpenAI Base URL" in s for s in steps)
    assert not (isolated_home / ".config" / "Cursor").exists()


def test_endpoints_follow_a_moved_base_url(isolated_home):
    cfg = Configured(PlatformConfig("gw", "openrouter", "http://127.0.0.1:9/custom/api/v1"), "env", "k")
    pv = preview(cfg, [agents_mod.get("claude"), agents_mod.get("codex")])
    diff = pv.diff()
    assert '"ANTHROPIC_BASE_URL": "http://127.0.0.1:9/custom/api"' in diff
    assert 'base_url = "http://127.0.0.1:9/custom/api/v1"' in diff


def test_claude_cannot_go_on_a_gateway_without_an_anthropic_endpoint(isolated_home):
    cfg = Configured(PlatformConfig("gw", "oneapi", "http://127.0.0.1:9", quota_per_usd=500000), "env", "k")
    pv = preview(cfg, [agents_mod.get("claude")])
    assert "claude" in pv.unsupported


def test_env_overrides_are_honoured(isolated_home, monkeypatch):
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(isolated_home / "cc"))
    monkeypatch.setenv("CODEX_HOME", str(isolated_home / "cx"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(isolated_home / "xc"))
    monkeypatch.setenv("XDG_DATA_HOME", str(isolated_home / "xd"))
    files = {str(f) for a in three(isolated_home) for f in a.files()}
    assert files == {str(isolated_home / "cc" / "settings.json"), str(isolated_home / "cx" / "config.toml"),
                     str(isolated_home / "xd" / "opencode" / "auth.json"),
                     str(isolated_home / "xc" / "opencode" / "opencode.json")}
