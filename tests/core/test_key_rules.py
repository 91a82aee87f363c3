"""The rules the CLI and the TUI share, called directly: revoke marks the ledger, restore brings the
ledger in line with the files, re-cap and new keys ask the platform what it can reset."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import pytest

from capit_tui import agents as agents_mod
from capit_tui.core import keys
from capit_tui.core.backups import BackupStore
from capit_tui.core.install import execute, preview
from capit_tui.core.ledger import Ledger
from capit_tui.core.model import UNSET, CappedKey
from capit_tui.core.restore import restore_apply, restore_preview
from capit_tui.core.settings import PlatformConfig
from capit_tui.platforms import adapter_class
from capit_tui.platforms.base import Unsupported
from capit_tui.sandbox import Sandbox


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def platform(sandbox):
    return keys.Configured(PlatformConfig("openrouter", "openrouter", sandbox.base_url), "env",
                           sandbox.management_key)


def install_claude(platform, name: str):
    pv = preview(platform, [agents_mod.get("claude")], name=name)
    return asyncio.run(execute(pv, Decimal("5.00"), "monthly"))


async def _revoke(platform, key, ledger):
    async with platform.open() as p:
        return await keys.revoke(p, key, ledger)


def test_revoke_deletes_the_key_and_marks_the_ledger(platform, sandbox):
    result = install_claude(platform, "team")
    key = result.installed[0].issued.key
    ledger = Ledger()
    assert ledger.holders("openrouter", key.id) == ["claude"]

    holders = asyncio.run(_revoke(platform, key, ledger))

    assert holders == ["claude"]
    assert sandbox.keys == {} or key.id not in sandbox.keys
    assert ledger.holders("openrouter", key.id) == []
    assert all(i.revoked for i in ledger.installs_of("openrouter", key.id))
    # revoking a key that is already gone is the outcome asked for, not an error
    assert asyncio.run(_revoke(platform, key, ledger)) == []


def test_restore_updates_the_ledger_both_ways(platform, isolated_home):
    first = install_claude(platform, "first")
    second = install_claude(platform, "second")
    k1, k2 = first.installed[0].issued.key, second.installed[0].issued.key
    store, ledger = BackupStore(), Ledger()
    assert ledger.holders("openrouter", k2.id) == ["claude"]

    # back to the files before the second install: claude holds the first key again
    undo = restore_apply(store, restore_preview(store, second.backup.id, "claude"))
    assert ledger.current()["claude"].key_id == k1.id
    assert ledger.holders("openrouter", k1.id) == ["claude"] and ledger.holders("openrouter", k2.id) == []

    # back to before any install: claude holds no capit key
    restore_apply(store, restore_preview(store, first.backup.id, "claude"))
    assert ledger.current()["claude"].key_id == ""
    assert ledger.holders_by_key() == {}

    # undoing the first restore (its backup holds the files with the second key) is a restore too
    restore_apply(store, restore_preview(store, undo.id, "claude"))
    assert ledger.current()["claude"].key_id == k2.id
    assert ledger.holders("openrouter", k2.id) == ["claude"]


def test_reset_periods_are_asked_of_the_platform():
    assert adapter_class("openrouter").reset_periods == ("daily", "weekly", "monthly")
    assert adapter_class("oneapi").reset_periods == ()
    adapter_class("openrouter").check_reset("weekly", "openrouter")
    adapter_class("oneapi").check_reset(None, "aihubmix")
    with pytest.raises(Unsupported, match="never reset"):
        adapter_class("oneapi").check_reset("monthly", "aihubmix")


def test_new_key_reset_defaults_only_where_the_platform_resets(platform):
    gateway = keys.Configured(PlatformConfig("aihubmix", "oneapi", "http://127.0.0.1:9"), "env", "k")
    assert keys.reset_for_new_key(platform, UNSET, "monthly") == "monthly"
    assert keys.reset_for_new_key(platform, None, "monthly") is None  # asked for never
    assert keys.reset_for_new_key(gateway, UNSET, "monthly") is None  # the default cannot apply
    with pytest.raises(Unsupported):
        keys.reset_for_new_key(gateway, "weekly", "monthly")


def test_set_cap_refuses_a_reset_the_platform_lacks_before_sending(platform, sandbox, monkeypatch):
    result = install_claude(platform, "capped")
    key = result.installed[0].issued.key

    async def go():
        async with platform.open() as p:
            updated = await keys.set_cap(p, key, Decimal("7.50"), "weekly")
            before = p.requests_sent
            monkeypatch.setattr(type(p), "reset_periods", ())  # as a lifetime-cap platform answers
            with pytest.raises(Unsupported):
                await keys.set_cap(p, key, Decimal("8.00"), "daily")
            return updated, p.requests_sent - before

    updated, sent = asyncio.run(go())
    assert updated.limit == Decimal("7.50") and updated.limit_reset == "weekly"
    assert sent == 0


# ---------------------------------------------------------------- issue 10: names, wide selections, failed loads


def _key(name: str, platform: str = "openrouter", ident: str = "") -> CappedKey:
    return CappedKey(platform, ident or f"{abs(hash((name, platform))):016x}", name)


def test_a_chosen_name_clashes_only_on_its_own_platform():
    have = [_key("ci-bot"), _key("ci-bot", "aihubmix"), _key("other")]
    with pytest.raises(keys.NameTaken, match="'ci-bot' already exists on openrouter"):
        keys.check_name_free(have, "openrouter", "ci-bot")
    keys.check_name_free(have, "openrouter", "ci-bot-2")
    keys.check_name_free([_key("ci-bot", "aihubmix")], "openrouter", "ci-bot")
    with pytest.raises(keys.NameTaken, match="2 keys named 'ci-bot'"):
        keys.check_name_free([_key("ci-bot", ident="a" * 16), _key("ci-bot", ident="b" * 16)], "openrouter", "ci-bot")


def test_a_generated_name_is_made_free_with_a_suffix():
    assert keys.unique_name("capit-20261130", set()) == "capit-20261130"
    assert keys.unique_name("capit-20261130", {"capit-20261130", "capit-20261130-2"}) == "capit-20261130-3"
    long = "x" * 100
    assert keys.unique_name(long, {long}) == "x" * 98 + "-2"


def test_the_install_preview_gives_each_agent_a_free_name(platform):
    stamp = "20261130"
    taken = {f"capit-claude-{stamp}", "team-codex"}
    agents = [agents_mod.get("claude"), agents_mod.get("codex")]
    pv = preview(platform, agents, today=date(2026, 11, 30), taken=taken)
    assert pv.key_names == {"claude": f"capit-claude-{stamp}-2", "codex": f"capit-codex-{stamp}"}
    pv = preview(platform, agents, name="team", taken=taken)
    assert pv.key_names == {"claude": "team-claude", "codex": "team-codex-2"}


def test_too_many_keys_for_a_plain_yes():
    some = [_key(f"k{i}") for i in range(7)]
    assert not keys.select(some, "k[0-4]").too_many  # five
    assert keys.select(some, "k[0-5]").too_many  # six
    assert keys.select(some[:2], "*").too_many  # every key there is
    assert not keys.select(some[:1], "*").too_many  # every key, but only one
    assert not keys.select(some, "k1").too_many


def test_a_listing_tells_failed_from_empty(sandbox, platform):
    sandbox.inject_fault("* /api/v1/*", "401", times=0)
    failed = asyncio.run(keys.list_all_keys([platform]))
    assert failed.keys == [] and failed.failed_everywhere
    (reason,) = failed.reasons().values()
    assert reason.startswith("openrouter rejected") and not reason.startswith("openrouter: ")
    sandbox.clear_faults()
    empty = asyncio.run(keys.list_all_keys([platform]))
    assert empty.keys == [] and not empty.failed_everywhere and empty.reasons() == {}
