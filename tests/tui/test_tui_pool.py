"""The pooled budget's line above the keys table (settings.toml's [[pool]]): the pooled spend of the keys
loaded, against the pool's amount, and whether capit-tui watch enforces it; hidden with no pool.
Pictures at 80x24 and 120x40."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tui_support import NOW, make_app, sandbox, settle

from capit_tui.core.pool import Pool
from capit_tui.core.settings import Settings
from capit_tui.tui.widgets.pool_line import PoolLine

SIZES = [(80, 24), (120, 40)]


def pooled_sandbox():
    sb = sandbox(seed_keys=8)
    assert sb.store.now() == NOW
    hashes = [sb.add_key(f"team-{n}", limit=10, reset="monthly", spend=s)[1]
              for n, s in (("claude", "6.20"), ("codex", "4.10"), ("aider", "2.10"))]
    return sb, hashes


POOLS = [Pool("daily", Decimal("20.00"), "team-*", enforce=True), Pool("monthly", Decimal("300.00"))]


def line(app) -> str:
    w = app.screen.query_one(PoolLine)
    return str(w.content) if w.display else ""


async def test_the_pool_line_sums_the_pooled_keys_and_follows_a_refresh(isolated_home):
    sb, hashes = pooled_sandbox()
    try:
        every = sum(Decimal(str(k["usage_monthly"])) for k in (sb.store.keys[h].to_api(NOW) for h in sb.keys))
        app = make_app(sb, isolated_home, settings=Settings(pools=POOLS))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            first, second = line(app).splitlines()
            assert first == "Pool daily (team-*): $12.40 of $20.00 (62.0%) across 3 keys — enforced by capit-tui watch"
            assert second.startswith(f"Pool monthly: ${every:.2f} of $300.00 (") and second.endswith(
                f"across {len(sb.keys)} keys — not enforced")
            assert not app.screen.query_one(PoolLine).has_class("-over")
            sb.spend(hashes[0], "8")
            await pilot.press("r")
            await settle(pilot)
            assert line(app).splitlines()[0].startswith("Pool daily (team-*): $20.40 of $20.00 (102.0%) across 3")
            assert app.screen.query_one(PoolLine).has_class("-over")
    finally:
        sb.stop()


async def test_no_pool_no_line(isolated_home):
    sb, _ = pooled_sandbox()
    try:
        app = make_app(sb, isolated_home)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert line(app) == "" and not app.screen.query_one(PoolLine).display
    finally:
        sb.stop()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_pool_line_picture(snap_compare, isolated_home, size):
    sb, _ = pooled_sandbox()
    try:
        app = make_app(sb, isolated_home, settings=Settings(pools=POOLS[:1]))
        assert snap_compare(app, terminal_size=size, run_before=settle)
    finally:
        sb.stop()


async def test_a_one_api_keys_pooled_spend_comes_from_the_history_off_the_ui_thread(isolated_home):
    from datetime import timedelta

    from oneapi_server import OneApiServer
    from tui_support import TODAY, fixed_clock

    from capit_tui.core.history import History
    from capit_tui.core.keys import Configured
    from capit_tui.core.model import CappedKey
    from capit_tui.core.settings import PlatformConfig
    from capit_tui.tui.app import CapitApp

    with OneApiServer(flavor="newapi", user_id=7) as gw:
        token = gw.add_token("g1", remain_quota=50_000_000, used_quota=1_500_000)  # $3 in all
        history = History()
        history.record([CappedKey("gw", str(token["id"]), "g1", usage=Decimal(1))], NOW - timedelta(hours=13))
        history.close()  # $1 of it before today's window (the clock's day)
        cfg = Configured(PlatformConfig("gw", "oneapi", gw.url, quota_per_usd=500_000, user_id="7"), "keyring",
                         gw.access_token)
        app = CapitApp(platforms=[cfg], settings=Settings(pools=[Pool("daily", Decimal(4))]), clock=fixed_clock,
                       today=TODAY, agent_env={"HOME": str(isolated_home), "PATH": "/nonexistent"},
                       auto_refresh=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert line(app) == "Pool daily: $2.00 of $4.00 (50.0%) across 1 key — not enforced"
