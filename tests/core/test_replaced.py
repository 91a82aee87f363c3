"""The key a write replaced (core/replaced.py): after an install or a restore, the capit-issued keys that no
agent holds any more are found, offered, and revoked through the one revoke path; keys still held somewhere,
and keys capit-tui never issued, are never offered."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest

from capit_tui import agents as agents_mod
from capit_tui.core.backups import BackupStore
from capit_tui.core.install import execute, preview
from capit_tui.core.keys import Configured
from capit_tui.core.ledger import Ledger
from capit_tui.core.replaced import look_up, orphaned, revoke_replaced
from capit_tui.core.restore import restore_apply, restore_preview
from capit_tui.core.settings import PlatformConfig
from capit_tui.sandbox import Sandbox


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def platform(sandbox):
    return Configured(PlatformConfig("openrouter", "openrouter", sandbox.base_url), "env", sandbox.management_key)


def live_names(sb: Sandbox) -> set[str]:
    import httpx

    r = httpx.get(f"{sb.base_url}/keys", headers={"Authorization": f"Bearer {sb.management_key}"})
    return {k["name"] for k in r.json()["data"]}


def install(platform: Configured, agent: str, name: str):
    pv = preview(platform, [agents_mod.get(agent)], name=name)
    return pv, asyncio.run(execute(pv, Decimal("5.00"), "monthly"))


def claude_secret(home: Path) -> str:
    return json.loads((home / ".claude" / "settings.json").read_text())["env"]["ANTHROPIC_AUTH_TOKEN"]


def test_installing_over_a_capit_key_finds_it_orphaned_and_revokes_it(platform, sandbox, isolated_home):
    install(platform, "claude", "first")
    first = claude_secret(isolated_home)
    pv, _ = install(platform, "claude", "second")
    assert first not in repr(pv.held) + repr(pv.replaces)
    (preview_said,) = pv.replaces  # the review can say it before anything is issued
    assert (preview_said.name, preview_said.agents) == ("first-claude", ["claude"])
    (r,) = orphaned(pv.held)
    assert (r.name, r.platform, r.agents) == ("first-claude", "openrouter", ["claude"])
    assert r.masked == "sk-or-v1-…" + first[-4:]
    (r,) = asyncio.run(look_up([r], {"openrouter": platform}))
    assert r.cap_text == "$5.00 monthly cap"
    assert Ledger().holders_by_key().was[("openrouter", r.key_id)] == ["claude"]
    (outcome,) = asyncio.run(revoke_replaced([r], {"openrouter": platform}))
    assert outcome.error is None
    assert live_names(sandbox) == {"second-claude"}
    assert all(i.revoked for i in Ledger().installs_of("openrouter", r.key_id))
    assert ("openrouter", r.key_id) not in Ledger().holders_by_key().was


def test_a_key_another_agent_still_holds_is_not_offered(platform, sandbox, isolated_home):
    install(platform, "claude", "first")
    auth = isolated_home / ".local" / "share" / "opencode" / "auth.json"
    auth.parent.mkdir(parents=True)
    auth.write_text(json.dumps({"openrouter": {"type": "api", "key": claude_secret(isolated_home)}}))
    pv, _ = install(platform, "claude", "second")
    assert [h.name for h in pv.held] == ["first-claude"]  # it was a capit key ...
    assert pv.replaces == [] and orphaned(pv.held) == []  # ... but opencode still uses it
    assert live_names(sandbox) == {"first-claude", "second-claude"}


def test_a_key_capit_tui_did_not_issue_is_never_offered(platform, sandbox, isolated_home):
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir()
    by_hand, _ = sandbox.add_key("made-by-hand")  # live on the same platform, but capit-tui never issued it
    settings.write_text(json.dumps({"env": {"ANTHROPIC_AUTH_TOKEN": by_hand}}))
    pv, _ = install(platform, "claude", "second")
    assert pv.held == [] and pv.replaces == [] and orphaned(pv.held) == []
    assert "made-by-hand" in live_names(sandbox)


def test_a_restore_offers_the_key_it_removed(platform, sandbox, isolated_home):
    install(platform, "claude", "first")
    _, second = install(platform, "claude", "second")
    store = BackupStore()
    rp = restore_preview(store, second.backup.id, "claude")
    assert [h.name for h in rp.held] == ["second-claude"]
    restore_apply(store, rp)
    (r,) = orphaned(rp.held)  # first-claude is back in claude's files; second-claude is held by no agent
    assert (r.name, r.agents) == ("second-claude", ["claude"])
    assert Ledger().holders_by_key().was == {("openrouter", r.key_id): ["claude"]}


def test_a_key_already_gone_on_its_platform_is_not_offered(platform, sandbox, isolated_home):
    import httpx

    install(platform, "claude", "first")
    pv, _ = install(platform, "claude", "second")
    (r,) = orphaned(pv.held)
    httpx.delete(f"{sandbox.base_url}/keys/{r.key_id}", headers={"Authorization": f"Bearer {sandbox.management_key}"})
    assert asyncio.run(look_up([r], {"openrouter": platform})) == []
    (kept,) = asyncio.run(look_up(orphaned(pv.held), {}))  # its platform not configured: kept, cap unknown
    assert kept.cap_text == "cap unknown"


def test_nothing_is_offered_while_an_agent_file_cannot_be_read_safely(platform, sandbox, isolated_home):
    import os

    install(platform, "claude", "first")
    pv, _ = install(platform, "claude", "second")
    (isolated_home / ".codex").mkdir()
    os.mkfifo(isolated_home / ".codex" / "config.toml")  # codex might hold first-claude: nobody can tell
    assert orphaned(pv.held) == []
    (isolated_home / ".codex" / "config.toml").unlink()
    assert [r.name for r in orphaned(pv.held)] == ["first-claude"]
