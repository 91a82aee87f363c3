"""The spend history in the TUI: every refresh records a sample (from a worker thread), so the key detail's
sparkline survives a restart; the detail says the burn rate and where it leads, and the platform's per-day
activity; the Keys table's Burn column. Pilot tests on the seeded sandbox, with a clock the test moves."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from decimal import Decimal

from rich.console import Console
from textual.widgets import Sparkline, Static
from tui_support import NOW, TODAY, configured, settle

from capit_tui.core.history import History
from capit_tui.core.settings import Settings
from capit_tui.tui.modals.key_detail import KeyDetailScreen


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def app_at(sb, home, clock: Clock):
    from capit_tui.tui.app import CapitApp

    return CapitApp(platforms=[configured(sb)], settings=Settings(), clock=clock, today=TODAY, auto_refresh=False,
                    agent_env={"HOME": str(home), "PATH": "/nonexistent"})


def shown(screen: KeyDetailScreen) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    for w in screen.query(Static):
        console.print(w.content)
    return console.export_text()


async def open_detail(app, pilot, key_id: str) -> KeyDetailScreen:
    app.push_screen(KeyDetailScreen(app.spend.keys[("openrouter", key_id)]))
    await settle(pilot)
    assert isinstance(app.screen, KeyDetailScreen)
    return app.screen


async def test_the_sparkline_comes_from_the_history_and_survives_a_restart(sb, isolated_home):
    _, burner = sb.add_key("burner", limit=5, reset="monthly")
    clock = Clock(NOW - timedelta(minutes=30))
    app = app_at(sb, isolated_home, clock)
    async with app.run_test(size=(200, 40)) as pilot:
        await settle(pilot)  # the first refresh: a sample at 11:30
        for minutes in (15, 0):
            sb.spend(burner, Decimal("0.30"))
            clock.now = NOW - timedelta(minutes=minutes)
            await pilot.press("r")
            await settle(pilot)
        cell = app.screen.table.get_cell(f"openrouter\x1f{burner}", "burn")
        assert cell.plain == "$1.20/h"  # $0.60 in half an hour
    assert [s.spent for s in History().samples("openrouter", burner)] == [0, Decimal("0.3"), Decimal("0.6")]

    restarted = app_at(sb, isolated_home, Clock(NOW))
    async with restarted.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = await open_detail(restarted, pilot, burner)
        assert screen.query_one(Sparkline).data == [0.0, 0.3, 0.6]  # the last session's refreshes too
        text = shown(screen)
        assert "spend over the last day (3 samples, local history)" in text
        assert "burn $1.20/h over the last hour, - over the last day (cap in ~4 h)" in text  # $4.40 left


async def test_the_detail_shows_the_platforms_per_day_activity(sb, isolated_home):
    _, used = sb.add_key("used", limit=5)
    for days, cost in ((1, "0.25"), (3, "0.50"), (3, "0.05")):
        sb.activity.record(NOW - timedelta(days=days), used, sb.default_workspace_id, "openai/gpt-4o-mini",
                           cost=Decimal(cost), prompt_tokens=10, completion_tokens=5)
    app = app_at(sb, isolated_home, Clock(NOW))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = await open_detail(app, pilot, used)
        text = shown(screen)
        assert "the last 30 completed UTC days (the platform's activity)" in text
        assert "$0.80 in 3 calls on 2 days" in text
        days = screen.query_one("#activity-days", Sparkline).data
        assert days is not None and len(days) == 30 and days[-1] == 0.25 and days[-3] == 0.55
        assert "burn rate: not enough history yet" in text  # one refresh is no rate


async def test_a_busy_lock_drops_the_sample_without_stopping_the_refresh(sb, isolated_home):
    from capit_tui.core import lock

    app = app_at(sb, isolated_home, Clock(NOW))
    async with app.run_test(size=(120, 40)) as pilot:
        with lock.held("testing"):  # the history writer (a thread) waits its 2 s, then lets the sample go
            await settle(pilot)
        assert app.spend.keys and History().count() == 0
        await pilot.press("r")
        await settle(pilot)
        assert History().count() == len(app.spend.keys)
