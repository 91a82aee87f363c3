"""Pictures of the Keys screen and its modals, at 80x24 and 160x45. Deterministic: seeded sandbox,
fixed clock, no cursor blink, no auto-refresh."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tui_support import make_app, sandbox, settle

SIZES = [(80, 24), (160, 45)]


async def _settled(pilot):
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_keys_screen(snap_compare, sb, isolated_home, size):
    assert snap_compare(make_app(sb, isolated_home), terminal_size=size, run_before=_settled)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_keys_filtered(snap_compare, sb, isolated_home, size):
    async def run(pilot):
        await settle(pilot)
        await pilot.press("slash", *"capit")
        await pilot.pause()

    assert snap_compare(make_app(sb, isolated_home), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_revoke_confirmation(snap_compare, sb, isolated_home, size):
    async def run(pilot):
        await settle(pilot)
        await pilot.press("j", "d")
        await pilot.pause()

    assert snap_compare(make_app(sb, isolated_home), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_key_detail(snap_compare, sb, isolated_home, size):
    async def run(pilot):
        await settle(pilot)
        await pilot.press("j", "j")
        key = pilot.app.screen.selected()
        for amount in ("0.10", "0.25", "0.05"):
            sb.spend(key.id, Decimal(amount))
            await pilot.press("r")
            await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)  # the platform's per-day activity loads in a worker

    assert snap_compare(make_app(sb, isolated_home), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_cap_modal_with_an_error(snap_compare, sb, isolated_home, size):
    async def run(pilot):
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        pilot.app.screen.query_one("#cap").value = ""
        await pilot.press(*"5.001")
        await pilot.pause()

    assert snap_compare(make_app(sb, isolated_home), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_platform_error_state(snap_compare, sb, isolated_home, size):
    async def run(pilot):
        await settle(pilot)
        sb.inject_fault("GET /api/v1/keys*", "500", times=0)
        await pilot.press("r")
        await settle(pilot)

    assert snap_compare(make_app(sb, isolated_home), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help(snap_compare, sb, isolated_home, size):
    async def run(pilot):
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_app(sb, isolated_home), terminal_size=size, run_before=run)


def test_no_keys_yet(snap_compare, isolated_home):
    s = sandbox(seed_keys=0)
    try:
        assert snap_compare(make_app(s, isolated_home), terminal_size=(80, 24), run_before=_settled)
    finally:
        s.stop()


LONG_SIZES = [(80, 24), (120, 36), (160, 45)]


@pytest.mark.parametrize("size", LONG_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_keys_long_names(snap_compare, sb, isolated_home, size):
    """Long names cut in the middle (the two capit-hermes keys stay told apart), whole amounts, agents as a
    list that fits, and only the columns that fit the width."""
    from long_names import with_long_names

    ledger = with_long_names(sb, isolated_home / "data")
    assert snap_compare(make_app(sb, isolated_home, ledger=ledger), terminal_size=size, run_before=_settled)


def test_first_load_failed(snap_compare, isolated_home):
    """A platform answering garbage on the first load: an error naming it and why, with r to retry; no
    "No keys yet", no "0 keys"."""
    s = sandbox()
    try:
        s.inject_fault("GET /api/v1/keys*", "notjson", times=0)
        assert snap_compare(make_app(s, isolated_home), terminal_size=(80, 24), run_before=_settled)
    finally:
        s.stop()


def test_toasts_above_a_dialog(snap_compare, sb, isolated_home):
    """At 80x24 a toast on a dialog sits at the top right, clear of its buttons."""
    async def run(pilot):
        await settle(pilot)
        await pilot.press("j", "d")
        await pilot.pause()
        pilot.app.notify("Disabled claude-code-team.")
        await pilot.pause()

    assert snap_compare(make_app(sb, isolated_home), terminal_size=(80, 24), run_before=run)


def test_keys_expired_and_last_used(snap_compare, sb, isolated_home):
    """An expired key is listed, its status 'expired' (issue 15), and the Last used column shows how long ago
    each key was used ('never' for one never used), where the width allows."""
    from datetime import timedelta

    from tui_support import NOW

    sb.add_key("trial-expired-last-week", limit=5, reset="monthly", spend="1.25", expires_at=NOW - timedelta(days=7))
    sb.add_key("zz-never-used", limit=2, reset="daily")
    assert snap_compare(make_app(sb, isolated_home), terminal_size=(160, 45), run_before=_settled)


ROTATE_SIZES = [(80, 24), (120, 40)]


@pytest.mark.parametrize("size", ROTATE_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_keys_with_marks(snap_compare, sb, isolated_home, size):
    """Two marked keys: `✓ ` before their names (no colour needed), and "2 marked" on the status line."""
    async def run(pilot):
        await settle(pilot)
        await pilot.press("space", "j", "space")
        await pilot.pause()

    assert snap_compare(make_app(sb, isolated_home), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", ROTATE_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_rotation_review(snap_compare, isolated_home, size):
    """R on two marked keys, one held by Claude Code and Codex, one by no agent: the new key's review
    (summary, the files, the first file's masked diff)."""
    from rotate_support import hold
    from tui_support import TODAY, fixed_clock, routed

    from capit_tui.core.settings import Settings
    from capit_tui.tui.app import CapitApp

    s = sandbox(seed_keys=0)
    try:
        c = routed(s)  # the agents' files name a fixed URL, not the sandbox's port of the day
        hold(s, ["claude", "codex"], "team-key", c=c)
        s.add_key("ci-loose", limit=2, reset="daily")

        async def run(pilot):
            await settle(pilot)
            await pilot.press("space", "space", "R")
            await settle(pilot)

        app = CapitApp(platforms=[c], settings=Settings(), clock=fixed_clock, today=TODAY, auto_refresh=False,
                       agent_env={"HOME": str(isolated_home), "PATH": "/nonexistent"})
        assert snap_compare(app, terminal_size=size, run_before=run)
    finally:
        s.stop()
