"""`!` from any screen: one confirmation naming the count of enabled keys and the platforms, the panic, a red
STOPPED banner on every main screen (read from the record at start too), and `!` again offering the undo.
Pictures of the banner and both confirmations at 80x24 and 120x40."""

from __future__ import annotations

import pytest
from textual.widgets import Static
from tui_support import make_app, sandbox, settle

from capit_tui.core.stops import PANIC, Stop, StopRecord
from capit_tui.tui.modals.confirm import ConfirmScreen
from capit_tui.tui.widgets.panic_banner import PanicBanner

SIZES = [(80, 24), (120, 40)]


def lines(screen) -> str:
    return "\n".join(str(s.content) for s in screen.query(Static).results() if s.has_class("line"))


def banner(app) -> str:
    b = app.screen.query_one(PanicBanner)
    return str(b.content) if b.display else ""


def enabled(sb) -> set[str]:
    return {h for h, k in sb.keys.items() if not k["disabled"]}


async def test_bang_stops_every_key_shows_the_banner_and_bang_again_undoes(isolated_home):
    sb = sandbox(seed_keys=12)
    try:
        sb.add_key("was-off", limit=1, disabled=True)
        before = enabled(sb)
        n = len(before)
        app = make_app(sb, isolated_home)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert banner(app) == ""
            await pilot.press("exclamation_mark")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            assert f"Disable {n} enabled keys on openrouter?" in lines(app.screen)
            await pilot.press("n")
            await settle(pilot)
            assert enabled(sb) == before and banner(app) == ""
            await pilot.press("2")  # from another screen
            await settle(pilot)
            await pilot.press("exclamation_mark")
            await settle(pilot)
            await pilot.press("y")
            await settle(pilot)
            assert enabled(sb) == set()
            assert banner(app).startswith(f"STOPPED: {n} keys disabled by panic at ") and "! to undo" in banner(app)
            await pilot.press("1")
            await settle(pilot)
            assert banner(app).startswith("STOPPED:")  # on every main screen
            assert all(k.disabled for k in app.spend.keys.values())  # the keys were refreshed
            await pilot.press("exclamation_mark")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            assert f"Re-enable the {n} keys the panic disabled on openrouter?" in lines(app.screen)
            await pilot.press("y")
            await settle(pilot)
            assert enabled(sb) == before and banner(app) == ""
            assert not app.spend.keys[("openrouter", next(iter(before)))].disabled
    finally:
        sb.stop()


async def test_the_banner_survives_a_restart(isolated_home):
    sb = sandbox(seed_keys=4)
    try:
        app = make_app(sb, isolated_home)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("exclamation_mark")
            await settle(pilot)
            await pilot.press("y")
            await settle(pilot)
        again = make_app(sb, isolated_home)
        async with again.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert banner(again).startswith("STOPPED: ")
    finally:
        sb.stop()


def _recorded(sb) -> None:
    """A panic's record with a fixed time, for pictures that are the same on every run: 7 keys it disabled."""
    picked = [h for h, k in sorted(sb.keys.items()) if not k["disabled"]][:7]
    for h in picked:
        sb.store.keys[h].disabled = True
    StopRecord().save([Stop("openrouter", h, sb.keys[h]["name"], PANIC, "2026-11-21T11:58:00Z") for h in picked])


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_banner_and_the_undo_confirmation(snap_compare, sb, isolated_home, size):
    _recorded(sb)

    async def run(pilot):
        await settle(pilot)
        await pilot.press("exclamation_mark")
        await settle(pilot)

    assert snap_compare(make_app(sb, isolated_home), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_banner_on_the_keys_screen(snap_compare, sb, isolated_home, size):
    _recorded(sb)
    assert snap_compare(make_app(sb, isolated_home), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_panic_confirmation(snap_compare, sb, isolated_home, size):
    async def run(pilot):
        await settle(pilot)
        await pilot.press("exclamation_mark")
        await settle(pilot)

    assert snap_compare(make_app(sb, isolated_home), terminal_size=size, run_before=run)


async def test_a_key_disabled_by_hand_after_the_panic_is_the_users_and_the_banner_counts_one_less(isolated_home):
    sb = sandbox(seed_keys=4)
    try:
        app = make_app(sb, isolated_home)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            n = len(enabled(sb))
            await pilot.press("exclamation_mark")
            await settle(pilot)
            await pilot.press("y")
            await settle(pilot)
            assert banner(app).startswith(f"STOPPED: {n} keys disabled by panic")
            key = app.screen.selected()
            assert key.id in {s.id for s in StopRecord().load()}
            await pilot.press("x", "y")  # enabled by hand
            await settle(pilot)
            await pilot.press("x", "y")  # and disabled again, for the user's own reason
            await settle(pilot)
            assert sb.keys[key.id]["disabled"] is True
            assert banner(app).startswith(f"STOPPED: {n - 1} keys disabled by panic")
            await pilot.press("exclamation_mark")
            await settle(pilot)
            assert f"Re-enable the {n - 1} keys the panic disabled" in lines(app.screen)
            await pilot.press("y")
            await settle(pilot)
            assert sb.keys[key.id]["disabled"] is True  # the undo left the user's key alone
            assert len(enabled(sb)) == n - 1 and banner(app) == ""
    finally:
        sb.stop()


async def test_keys_recorded_on_a_platform_no_longer_configured_raise_no_banner_that_cannot_be_undone(isolated_home):
    sb = sandbox(seed_keys=2)
    try:
        StopRecord().save([Stop("team", "h" * 64, "beta-1", PANIC, "2026-11-21T11:58:00Z")])  # team: removed
        app = make_app(sb, isolated_home)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert banner(app) == ""
            await pilot.press("exclamation_mark")
            await settle(pilot)
            assert "Disable" in lines(app.screen)  # `!` offers the panic, not an undo it cannot do
    finally:
        sb.stop()
