"""The Keys screen at 80, 120 and 160 columns: which columns show, nothing cut mid-word or mid-amount,
names told apart; and a first load that fails shown as an error, not as an empty account."""

from __future__ import annotations

import pytest
from long_names import with_long_names
from textual.widgets import DataTable, Static
from tui_support import TODAY, configured, fixed_clock, make_app, sandbox, settle

from capit_tui.core.settings import Settings
from capit_tui.core.text import cell_width
from capit_tui.tui.app import CapitApp
from capit_tui.tui.keys_columns import COLUMNS, PAD, SCROLLBAR, Column, fit_columns
from capit_tui.tui.widgets.key_table import KeyTable

SIZES = [(80, 24), (120, 36), (160, 45)]
TYPICAL = {"name": 49, "platform": 10, "cap": 12, "spent": 7, "bar": 10, "pct": 4, "today": 7, "month": 7,
           "status": 8, "agents": 22, "created": 10}


@pytest.mark.parametrize("total", range(60, 221, 7))
def test_the_columns_chosen_always_fit(total):
    layout = fit_columns(total, TYPICAL)
    assert sum(w + PAD for _, w in layout.columns) <= total - SCROLLBAR
    assert {"name", "cap", "spent"} <= set(layout.ids) or total < 70
    for column, w in layout.columns:
        if column.most is None:  # money and dates are never clipped
            assert w >= TYPICAL.get(column.id, 0)


def test_columns_come_in_by_priority_as_the_terminal_widens():
    shown = [set(fit_columns(total, TYPICAL).ids) for total in (80, 120, 160)]
    assert shown[0] < shown[1] < shown[2]
    assert {"name", "cap", "spent", "status", "agents"} <= shown[0]
    assert "created" in shown[1] and "today" in shown[2] and "month" in shown[2]


def test_a_new_column_is_one_more_row_in_the_table():
    """Another column (a "Last used" one, say) needs no new branch: it comes in where there is room."""
    columns = COLUMNS + (Column("last_used", "Last used", 7),)
    needs = dict(TYPICAL, last_used=10)
    assert "last_used" not in fit_columns(80, needs, columns).ids
    assert "last_used" in fit_columns(200, needs, columns).ids


def rows(app) -> list[list[str]]:
    t = app.screen.query_one("#keys", KeyTable)
    return [[str(getattr(c, "plain", c)) for c in t.get_row_at(i)] for i in range(t.row_count)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_long_names_fit_and_stay_told_apart(isolated_home, size):
    sb = sandbox()
    try:
        ledger = with_long_names(sb, isolated_home / "data")
        app = make_app(sb, isolated_home, ledger=ledger)
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            t = app.screen.query_one("#keys", KeyTable)
            widths = t.column_widths
            assert sum(w + PAD for w in widths.values()) <= size[0] - SCROLLBAR  # no sideways cut ("Creat")
            ids = list(widths)
            table = rows(app)
            for row in table:
                for cid, cell in zip(ids, row, strict=True):
                    assert cell_width(cell) <= widths[cid], (cid, cell)
            names = [r[ids.index("name")] for r in table]
            hermes = [n for n in names if n.startswith("capit-h")]
            assert len(hermes) == 2 and hermes[0] != hermes[1]  # not both `capit-hermes-202611…`
            assert all(n.endswith(("20261121", "20261118")) for n in hermes)
            caps = {r[ids.index("cap")] for r in table}
            assert "$3.00 total" in caps and "$1,000.00/mo" in caps  # whole amounts, never "$3.0"
            agents = {r[ids.index("agents")] for r in table}
            assert "hermes" in agents and "openclaw" in agents
            held = agents - {"-", "hermes", "openclaw"}
            assert len(held) == 1  # the key three agents hold: every word whole (never `openco`)
            words = held.pop().replace(",", "").split()
            assert words == ["3", "agents"] or all(w in ("claude", "codex", "opencode") or w.startswith("+")
                                                   for w in words)
    finally:
        sb.stop()


async def test_resizing_changes_the_columns(isolated_home):
    sb = sandbox()
    try:
        app = make_app(sb, isolated_home)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            narrow = set(app.screen.columns_fit.ids)
            await pilot.resize_terminal(160, 45)
            await settle(pilot)
            wide = set(app.screen.columns_fit.ids)
            assert narrow < wide and {"created", "platform"} <= wide - narrow
    finally:
        sb.stop()


def text_of(app, wid: str) -> str:
    w = app.screen.query_one(wid, Static)
    return str(w.render()) if w.display else ""


async def test_a_failed_first_load_is_an_error_not_an_empty_account(isolated_home):
    sb = sandbox()
    try:
        sb.inject_fault("GET /api/v1/keys*", "notjson", times=0)
        app = make_app(sb, isolated_home)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            shown = text_of(app, "#empty")
            assert "Could not load the keys of openrouter" in shown
            assert "not JSON" in shown and "r to retry" in shown
            assert "No keys yet" not in shown
            status = text_of(app, "#status")
            assert "0 keys" not in status and "could not load openrouter" in status
            assert not app.screen.query_one("#keys", KeyTable).display
            sb.clear_faults()
            await pilot.press("r")
            await settle(pilot)
            assert not app.screen.query_one("#empty").display
            assert app.screen.query_one("#keys", KeyTable).row_count == 12
            assert "12 keys on 1 platform" in text_of(app, "#status") and "⚠" not in text_of(app, "#status")
    finally:
        sb.stop()


async def test_one_platform_failing_shows_the_others_keys_and_names_it(isolated_home):
    good, bad = sandbox(), sandbox()
    try:
        bad.inject_fault("GET /api/v1/keys*", "500", times=0)
        platforms = [configured(good), configured(bad, "broken")]
        app = CapitApp(platforms=platforms, settings=Settings(), clock=fixed_clock, today=TODAY,
                       agent_env={"HOME": str(isolated_home), "PATH": "/nonexistent"}, auto_refresh=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert app.screen.query_one("#keys", KeyTable).row_count == 12
            assert not app.screen.query_one("#empty").display
            status = text_of(app, "#status")
            assert "12 keys on 1 platform" in status and "could not load broken" in status
            assert "server error" in status
    finally:
        good.stop()
        bad.stop()


# ---------------------------------------------------------------- the other screens cut off at 80x24


async def test_the_demo_header_is_whole_at_80_columns(isolated_home):
    from capit_tui.tui.app import DEMO_SUBTITLE

    sb = sandbox()
    try:
        app = make_app(sb, isolated_home, demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            header = app.screen.query_one("HeaderTitle")
            assert DEMO_SUBTITLE in str(header.render())
            assert cell_width(f"capit-tui — {DEMO_SUBTITLE}") <= header.region.width
    finally:
        sb.stop()


async def test_the_agents_spend_is_whole_at_80_columns(isolated_home):
    """`$0.03/$3.0`: a long capit key name pushed the spend past the edge; the name is cut in the middle."""
    import test_tui_agents_backups as agents_world

    sb = sandbox()
    try:
        w = agents_world.install(sb, isolated_home, names=("claude", "codex", "hermes"),
                                 spend={"hermes": "0.03", "claude": "123.45"})
        app = agents_world.app_for(sb, w)
        async with app.run_test(size=(80, 24)) as pilot:
            await agents_world.open_mode(pilot, "2")
            t = app.screen.query_one("#agents", DataTable)
            total = sum(col.get_render_width(t) for col in t.columns.values())
            assert total <= 80 - (1 if t.show_vertical_scrollbar else 0)
            assert agents_world.cell(t, "hermes", "spend") == "$0.03/$5.00"
            assert agents_world.cell(t, "claude", "spend") == "$123.45/$5.00"
            names = {agents_world.cell(t, n, "capit") for n in ("claude", "codex", "hermes")}
            assert len(names) == 3 and all(n.endswith("20261121") for n in names)
    finally:
        sb.stop()


async def test_the_file_consent_box_is_whole_at_80_columns(isolated_home, monkeypatch):
    """The add-platform box said `Keep it in ~/.config/capit-tui/credentials.toml (mode` and stopped: the path
    is now in the text above it, which wraps."""
    import keyring.core

    from capit_tui.tui.modals.add_platform import AddPlatformScreen
    from capit_tui.tui.widgets.checks import Check

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("CAPIT_CONFIG_DIR", str(isolated_home / ".config" / "a-rather-long-folder-for-its-settings"))
    keyring.core._keyring_backend = None
    sb = sandbox()
    try:
        app = make_app(sb, isolated_home)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("3")
            await settle(pilot)
            await pilot.press("a")
            await settle(pilot)
            assert isinstance(app.screen, AddPlatformScreen)
            box = app.screen.query_one("#consent", Check)
            assert box.display
            label = str(box.render())
            assert label.startswith("[ ]") and "Keep it in that file" in label
            assert box.region.width >= cell_width(label) and box.region.right <= 80
            where = str(app.screen.query_one("#storage-text").render())
            assert "credentials.toml" in where and "0600" in where
    finally:
        sb.stop()
        keyring.core._keyring_backend = None


async def test_a_restore_says_1_file_not_1_files(isolated_home):
    import test_tui_agents_backups as agents_world

    sb = sandbox()
    try:
        w = agents_world.install(sb, isolated_home)
        app = agents_world.app_for(sb, w)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await agents_world.open_mode(pilot, "2")
            assert app.screen.selected().name == "claude"
            await pilot.press("u")
            await pilot.pause()
            await pilot.press("y")
            await settle(pilot)
            said = [n.message for n in app._notifications if n.title == "Restored"]
            assert said and said[0].startswith("Restored 1 file from backup") and "(s)" not in said[0]
    finally:
        sb.stop()
