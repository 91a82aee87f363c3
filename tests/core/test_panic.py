"""The panic stop and its undo (core/panic.py, core/stops.py), in process against two real sandboxes on
loopback: 1 000 keys on two platforms, failures injected on some, the record of stopped keys on disk."""

from __future__ import annotations

import asyncio
import json
import os
import stat

import pytest

from capit_tui.core.keys import Configured
from capit_tui.core.panic import panic, recorded, undo_panic
from capit_tui.core.settings import PlatformConfig
from capit_tui.core.stops import PANIC, STOPPED, Stop, StopRecord
from capit_tui.sandbox import Sandbox


def configured(sb: Sandbox, name: str) -> Configured:
    return Configured(PlatformConfig(name, "openrouter", sb.base_url), "env", sb.management_key)


def enabled(*sbs: Sandbox) -> set[str]:
    return {h for sb in sbs for h, k in sb.keys.items() if not k["disabled"]}


def disabled(*sbs: Sandbox) -> set[str]:
    return {h for sb in sbs for h, k in sb.keys.items() if k["disabled"]}


@pytest.fixture
def two():
    with Sandbox(seed=1) as a, Sandbox(seed=2) as b:
        yield a, b


def fill(sb: Sandbox, prefix: str, n_enabled: int, n_disabled: int) -> list[str]:
    secrets = []
    for i in range(n_enabled):
        secrets.append(sb.add_key(f"{prefix}-{i:04d}", limit=5, reset="monthly")[0])
    for i in range(n_disabled):
        secrets.append(sb.add_key(f"{prefix}-off-{i:03d}", limit=5, disabled=True)[0])
    return secrets


def test_panic_over_1000_keys_on_two_platforms_then_undo_restores_exactly(two, isolated_home):
    a, b = two
    secrets = fill(a, "alpha", 600, 15) + fill(b, "beta", 400, 10)
    before_enabled, before_disabled = enabled(a, b), disabled(a, b)
    assert len(before_enabled) == 1000
    # two keys on each platform refuse to be disabled (500 on every try, retries included)
    failing = sorted(h for h in a.keys if a.keys[h]["name"] in ("alpha-0007", "alpha-0300")) + \
        sorted(h for h in b.keys if b.keys[h]["name"] in ("beta-0001", "beta-0399"))
    for sb in (a, b):
        for h in failing:
            if h in sb.keys:
                sb.inject_fault(f"PATCH /api/v1/keys/{h}", "500", times=0)
    platforms = [configured(a, "alpha"), configured(b, "beta")]

    out = asyncio.run(panic(platforms))

    assert enabled(a, b) == set(failing)  # every enabled key disabled, or named below
    by = {t.platform: t for t in out.tallies}
    assert (len(by["alpha"].done), by["alpha"].already, len(by["alpha"].failed)) == (598, 15, 2)
    assert (len(by["beta"].done), by["beta"].already, len(by["beta"].failed)) == (398, 10, 2)
    assert {k.id for t in out.tallies for k, _ in t.failed} == set(failing)
    assert all("500" in why or "error" in why.lower() for t in out.tallies for _, why in t.failed)
    assert not out.complete and out.done == 996
    # the record: only what this panic disabled, 0600, no secret
    path = StopRecord().path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert not any(s in text for s in secrets) and a.management_key not in text
    stops = recorded()
    assert {s.id for s in stops} == before_enabled - set(failing)
    assert {s.state for s in stops} == {STOPPED} and {s.by for s in stops} == {PANIC}

    a.clear_faults()
    b.clear_faults()
    back = asyncio.run(undo_panic(platforms))
    assert back.complete and back.done == 996
    assert enabled(a, b) == before_enabled and disabled(a, b) == before_disabled
    assert recorded() == [] and not path.exists()


def test_undo_leaves_alone_keys_revoked_or_reenabled_since_and_never_enables_one_disabled_before(two):
    a, _b = two
    fill(a, "k", 4, 1)
    names = {k["name"]: h for h, k in a.keys.items()}
    platforms = [configured(a, "alpha")]
    asyncio.run(panic(platforms))
    assert enabled(a) == set()
    # meanwhile: k-0000 is revoked, k-0001 re-enabled by hand
    a.store.delete(names["k-0000"])
    asyncio.run(_set(platforms[0], names["k-0001"], False))

    back = asyncio.run(undo_panic(platforms))

    (t,) = back.tallies
    assert {k.name for k in t.done} == {"k-0002", "k-0003"}
    assert sorted((k.name, why) for k, why in t.left) == [("k-0000", "gone"), ("k-0001", "enabled")]
    assert a.keys[names["k-off-000"]]["disabled"] is True  # disabled before the panic: stays so
    assert enabled(a) == {names[n] for n in ("k-0001", "k-0002", "k-0003")}
    assert recorded() == []


async def _set(c: Configured, key_id: str, disabled: bool) -> None:
    async with c.open() as p:
        await p.update_key(key_id, disabled=disabled)


def test_a_key_another_stopper_holds_is_not_reenabled_by_the_panic_undo(two):
    a, _b = two
    fill(a, "k", 3, 0)
    names = {k["name"]: h for h, k in a.keys.items()}
    platforms = [configured(a, "alpha")]
    # a pooled budget stopped k-0000 before the panic
    asyncio.run(_set(platforms[0], names["k-0000"], True))
    StopRecord().save([Stop("alpha", names["k-0000"], "k-0000", "pool:daily", "2026-12-01T00:00:00Z")])

    out = asyncio.run(panic(platforms))
    assert (len(out.tallies[0].done), out.tallies[0].already) == (2, 1)
    held = {(s.id, s.by) for s in StopRecord().load()}
    assert (names["k-0000"], "pool:daily") in held and (names["k-0000"], PANIC) in held  # held by both now

    back = asyncio.run(undo_panic(platforms))
    assert [(k.name, why) for k, why in back.tallies[0].left] == [("k-0000", "held:pool:daily")]
    assert a.keys[names["k-0000"]]["disabled"] is True
    assert [(s.id, s.by) for s in StopRecord().load()] == [(names["k-0000"], "pool:daily")]


def test_a_key_that_fails_to_enable_stays_recorded_for_a_retry(two):
    a, _b = two
    fill(a, "k", 3, 0)
    names = {k["name"]: h for h, k in a.keys.items()}
    platforms = [configured(a, "alpha")]
    asyncio.run(panic(platforms))
    a.inject_fault(f"PATCH /api/v1/keys/{names['k-0002']}", "401", times=0)
    back = asyncio.run(undo_panic(platforms))
    assert not back.complete and [k.name for k, _ in back.tallies[0].failed] == ["k-0002"]
    assert [s.name for s in recorded()] == ["k-0002"] and recorded()[0].state == STOPPED
    a.clear_faults()
    again = asyncio.run(undo_panic(platforms))
    assert again.complete and [k.name for k in again.tallies[0].done] == ["k-0002"]
    assert enabled(a) == set(names.values()) and recorded() == []


def test_a_platform_that_cannot_be_listed_is_named_and_the_others_still_stopped(two):
    a, b = two
    fill(a, "k", 3, 0)
    fill(b, "m", 2, 0)
    b.inject_fault("GET /api/v1/keys", "401", times=0)
    out = asyncio.run(panic([configured(a, "alpha"), configured(b, "beta")]))
    by = {t.platform: t for t in out.tallies}
    assert len(by["alpha"].done) == 3 and by["beta"].error and not out.complete
    assert enabled(a) == set() and len(enabled(b)) == 2


def test_a_damaged_record_stops_the_panic_before_anything_is_sent(two):
    a, _b = two
    fill(a, "k", 2, 0)
    path = StopRecord().path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"stops": [{"platform": 1}]}))
    from capit_tui.core.stops import StopsError

    with pytest.raises(StopsError, match="damaged"):
        asyncio.run(panic([configured(a, "alpha")]))
    assert len(enabled(a)) == 2


def test_panic_and_undo_across_an_openrouter_sandbox_and_a_one_api_gateway(two):
    from oneapi_server import OneApiServer

    a, _b = two
    fill(a, "k", 30, 2)
    with OneApiServer(flavor="newapi", user_id=7, page_size=100) as gw:
        for i in range(25):
            gw.add_token(f"g{i}", remain_quota=500_000)
        gw.add_token("g-off", remain_quota=500_000, status=2)
        gw_cfg = Configured(PlatformConfig("gw", "oneapi", gw.url, quota_per_usd=500_000, user_id="7"), "env",
                            gw.access_token)
        platforms = [configured(a, "alpha"), gw_cfg]

        def gw_enabled() -> set[int]:
            return {t["id"] for t in gw.tokens.values() if t["status"] == 1}

        before_a, before_gw = enabled(a), gw_enabled()
        out = asyncio.run(panic(platforms))
        assert out.complete and {t.platform: len(t.done) for t in out.tallies} == {"alpha": 30, "gw": 25}
        assert enabled(a) == set() and gw_enabled() == set()
        back = asyncio.run(undo_panic(platforms))
        assert back.complete and back.done == 55
        assert enabled(a) == before_a and gw_enabled() == before_gw  # g-off stays disabled


def test_text_read_back_from_the_record_is_cleaned_and_the_summary_counts_only_configured_platforms():
    """stops.json is a file: what it says reaches the app's banner and the undo's words, so its strings are
    cleaned like a platform's; and keys recorded on a platform no longer configured are not what a front end
    can undo, so the summary it asks for leaves them out."""
    from capit_tui.core.stops import summary

    evil = "team\x1b]0;pwn\x07\x9b2J"
    path = StopRecord().path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, "stops": [
        {"platform": evil, "id": "h1\x1b[2J", "name": "n\x1b[31m", "by": PANIC, "at": "2026-11-21T11:58:00Z"},
        {"platform": "alpha", "id": "h2", "name": "ok", "by": PANIC, "at": "2026-11-21T11:58:00Z"}]}))
    stops = StopRecord().load()
    for s in stops:
        for value in (s.platform, s.id, s.name, s.by, s.at):
            assert "\x1b" not in value and "\x9b" not in value and "\x07" not in value
    assert summary(stops).count == 2  # every platform when none is named
    only = summary(stops, platforms={"alpha"})
    assert (only.count, only.platforms) == (1, ("alpha",))
    assert summary(stops, platforms=set()).count == 0
