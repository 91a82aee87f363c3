"""The key detail view shows when a key was last used and when it expires, and an expired key as expired
(listed, not missing). Pilot tests on the seeded sandbox with the fixed clock."""

from __future__ import annotations

import io
from datetime import timedelta

from rich.console import Console
from textual.widgets import Static
from tui_support import NOW, make_app, settle

from capit_tui.tui.modals.key_detail import KeyDetailScreen


def shown(screen: KeyDetailScreen) -> str:
    """The text the detail view shows, as a terminal would print it."""
    console = Console(width=200, record=True, file=io.StringIO())
    for w in screen.query(Static):  # Labels too
        console.print(w.content)
    return console.export_text()


async def open_detail(app, pilot, key_id: str) -> str:
    key = app.spend.keys[("openrouter", key_id)]
    app.push_screen(KeyDetailScreen(key))
    await pilot.pause()
    assert isinstance(app.screen, KeyDetailScreen)
    return shown(app.screen)


async def test_detail_shows_last_used_and_expiry(sb, isolated_home):
    _, used = sb.add_key("used-key", limit=5)
    sb.spend(used, "0.20")  # charged at the fixed clock's now
    _, idle = sb.add_key("idle-key", limit=5, expires_at=NOW + timedelta(days=10))
    _, gone = sb.add_key("gone-key", limit=5, expires_at=NOW - timedelta(days=1))
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        text = await open_detail(app, pilot, used)
        assert "last used" in text and "2026-11-21T12:00:00Z" in text and "(openrouter, active)" in text
        await pilot.press("escape")
        text = await open_detail(app, pilot, idle)
        assert "never" in text and "2026-12-01T12:00:00Z" in text and "(expired)" not in text
        await pilot.press("escape")
        text = await open_detail(app, pilot, gone)
        assert "(openrouter, expired)" in text and "2026-11-20T12:00:00Z (expired)" in text
