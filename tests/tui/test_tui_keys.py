"""The Keys screen as a user drives it: refresh, filter, details, re-cap, disable, revoke, errors."""

from __future__ import annotations

from decimal import Decimal

from textual.widgets import Input
from tui_support import make_app, settle

from capit_tui.tui.modals.confirm import ConfirmScreen
from capit_tui.tui.widgets.key_table import KeyTable


def table(app) -> KeyTable:
    return app.screen.query_one("#keys", KeyTable)


async def test_table_shows_every_key_and_keeps_the_cursor_across_refresh(sb, isolated_home):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        t = table(app)
        assert t.row_count == 12
        await pilot.press("j", "j", "j")
        row = t.cursor_row
        key = app.screen.selected()
        (h,) = [kid for (p, kid) in app.spend.keys if kid == key.id]
        sb.spend(h, Decimal("0.37"))
        await pilot.press("r")
        await settle(pilot)
        assert t.cursor_row == row and app.screen.selected().id == key.id
        assert app.spend.keys[("openrouter", h)].usage > key.usage
        assert t.row_count == 12


async def test_filter_survives_refresh_and_esc_clears(sb, isolated_home):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await pilot.press(*"capit")
        t = table(app)
        shown = t.row_count
        assert 0 < shown < 12
        await pilot.press("enter", "r")
        await settle(pilot)
        assert table(app).row_count == shown
        await pilot.press("escape")
        assert table(app).row_count == 12
        assert not app.screen.query_one("#filter", Input).display


async def test_revoke_asks_then_deletes(sb, isolated_home):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        key = app.screen.selected()
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        assert key.name in app.screen.title_text
        await pilot.press("n")
        await settle(pilot)
        assert key.id in sb.keys
        await pilot.press("d", "y")
        await settle(pilot)
        assert key.id not in sb.keys
        assert table(app).row_count == 11


async def test_edit_cap_validates_inline_then_saves(sb, isolated_home):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        key = app.screen.selected()
        await pilot.press("e")
        cap = app.screen.query_one("#cap", Input)
        cap.value = ""
        await pilot.press(*"5.001")
        await pilot.pause()
        assert "two decimals" in str(app.screen.query_one("#cap-error").render())
        await pilot.press("enter")
        assert app.screen.query_one("#cap", Input)  # still open
        cap.value = ""
        await pilot.press(*"7.25", "enter")
        await settle(pilot)
        assert sb.keys[key.id]["limit"] == 7.25


async def test_disable_then_enable(sb, isolated_home):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        key = app.screen.selected()
        was = key.disabled
        await pilot.press("x", "y")
        await settle(pilot)
        assert sb.keys[key.id]["disabled"] is (not was)
        await pilot.press("x", "y")
        await settle(pilot)
        assert sb.keys[key.id]["disabled"] is was


async def test_platform_error_shows_and_recovers(sb, isolated_home):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        sb.inject_fault("GET /api/v1/keys*", "500", times=0)
        await pilot.press("r")
        await settle(pilot)
        status = str(app.screen.query_one("#status").render())
        assert "server error" in status and "last spend seen" in status
        assert table(app).row_count == 12
        sb.clear_faults()
        await pilot.press("r")
        await settle(pilot)
        assert "⚠" not in str(app.screen.query_one("#status").render())


async def test_toast_when_a_key_passes_80_percent(sb, isolated_home):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        k = next(k for k in app.spend.keys.values() if k.limit and (k.percent or 0) < 50 and not k.disabled)
        sb.spend(k.id, k.limit * Decimal("0.85") - k.spent)
        await pilot.press("r")
        await settle(pilot)
        assert any(k.name in n.message and "80" in n.title for n in app._notifications)


async def test_details_open_on_enter(sb, isolated_home):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        key = app.screen.selected()
        await pilot.press("enter")
        from capit_tui.tui.modals.key_detail import KeyDetailScreen

        assert isinstance(app.screen, KeyDetailScreen) and app.screen.key.id == key.id
        await pilot.press("escape")
        assert not isinstance(app.screen, KeyDetailScreen)


async def test_platform_text_with_escapes_and_markup_is_shown_not_obeyed(isolated_home):
    """A platform sending `[/bad]` (Rich markup) and OSC 52 / ESC[2J in every string: the table and the key
    details show them as plain text; nothing crashes and no escape reaches the terminal."""
    from hostile_platform import MGMT, Hostile
    from textual.widgets import Static

    from capit_tui.core.keys import Configured
    from capit_tui.core.settings import PlatformConfig, Settings
    from capit_tui.tui.app import CapitApp
    from capit_tui.tui.modals.key_detail import KeyDetailScreen

    with Hostile("escapes") as server:
        platform = Configured(PlatformConfig("hostile", "openrouter", server.base_url), "env", MGMT)
        app = CapitApp(platforms=[platform], settings=Settings(), auto_refresh=False,
                       agent_env={"HOME": str(isolated_home), "PATH": "/nonexistent"})
        async with app.run_test(size=(160, 45)) as pilot:
            await settle(pilot)
            assert table(app).row_count == 3
            assert "[/bad]" in "".join(str(c) for c in table(app).get_row_at(0))
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, KeyDetailScreen)
            shown = " ".join(str(w.render()) for w in app.screen.query(Static))
            assert "[/bad]" in shown and "\x1b" not in shown and "\x07" not in shown
        assert app.return_code in (None, 0)
