"""Small things a user trips on (issue 10, item 17), and the review's long diff lines (item 16)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from textual.widgets import Button, Input
from textual.widgets._toast import Toast
from tui_support import make_app, settle

from capit_tui.core.text import cell_width
from capit_tui.tui.modals.confirm import ConfirmScreen
from capit_tui.tui.newkey.form import NewKeyScreen
from capit_tui.tui.newkey.result import ResultScreen
from capit_tui.tui.newkey.review import ReviewScreen
from capit_tui.tui.widgets.checks import Check, CheckList
from capit_tui.tui.widgets.diff_view import CONTINUED, DiffView, render_diff, wrap_line
from capit_tui.tui.widgets.key_table import KeyTable

CLAUDE_ONE_LINE = {"env": {"DISABLE_TELEMETRY": "1", "HTTPS_PROXY": "https://proxy.internal.example.com:8443",
                           "NODE_EXTRA_CA_CERTS": "/etc/ssl/certs/corp-root-ca.pem"}, "model": "opus"}


def messages(app) -> list[str]:
    return [n.message for n in app._notifications]


# ---------------------------------------------------------------- the new-key form


async def test_q_in_the_agent_list_asks_before_quitting(sb, isolated_home):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, NewKeyScreen)
        form.query_one("#agents").focus()
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and not app._exit
        await pilot.press("n")  # stay
        await pilot.pause()
        assert app.screen is form and not app._exit
        form.query_one("#name", Input).focus()
        await pilot.press("q")  # in a text box, q is a letter
        await pilot.pause()
        assert app.screen is form and form.query_one("#name", Input).value.endswith("q")
        form.query_one("#agents").focus()
        await pilot.press("q", "y")
        await pilot.pause()
        assert app._exit


async def test_checkboxes_read_without_colour(sb, isolated_home):
    (isolated_home / ".claude").mkdir()
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        no_cap = app.screen.query_one("#no-cap", Check)
        assert str(no_cap.render()).startswith("[ ]")
        no_cap.value = True
        await pilot.pause()
        assert str(no_cap.render()).startswith("[x]")
        agents = app.screen.query_one("#agents", CheckList)
        lines = [agents.render_line(y).text for y in range(agents.option_count)[:agents.size.height]]
        picked = {agents.get_option_at_index(i).value for i, line in enumerate(lines) if line.startswith("[x]")}
        assert picked == set(agents.selected) == {"claude"}
        assert all(line.startswith(("[x]", "[ ]")) for line in lines)


@pytest.mark.parametrize("typed,cap", [(".5", "0.50"), ("5.", "5.00"), ("$.25", "0.25")])
async def test_a_cap_typed_as_dot_5_is_fifty_cents(sb, isolated_home, typed, cap):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        await pilot.press(*typed)
        await pilot.pause()
        assert app.screen.limit() == (True, Decimal(cap))
        assert not app.screen.query_one("#cap-error").display
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("e")  # the cap modal of the Keys screen: the same rule
        await pilot.pause()
        box = app.screen.query_one("#cap", Input)
        box.value = ""
        await pilot.press(*typed, "enter")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen) and app.screen.__class__.__name__ == "KeysScreen"


async def test_esc_on_the_result_goes_back_to_the_agents_screen_after_i(sb, isolated_home):
    (isolated_home / ".claude").mkdir()
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert app.screen.selected().name == "claude"
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, NewKeyScreen)
        await pilot.press("5", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ResultScreen)
        assert "$5.00 monthly openrouter key installed into claude" in "\n".join(
            str(s.render()) for s in app.screen.query("Static"))
        await pilot.press("escape")
        await settle(pilot)
        assert app.current_mode == "agents" and app.screen.__class__.__name__ == "AgentsScreen"
        assert len(app.screen_stack) == 1


def test_the_result_names_the_cap_with_its_reset():
    from types import SimpleNamespace

    from capit_tui.tui.newkey.result import Done

    assert Done.amount(SimpleNamespace(limit=Decimal("3"), reset=None)) == "$3.00 lifetime"
    assert Done.amount(SimpleNamespace(limit=Decimal("3"), reset="weekly")) == "$3.00 weekly"
    assert Done.amount(SimpleNamespace(limit=None, reset="monthly")) == "uncapped"


# ---------------------------------------------------------------- the Keys screen


async def test_d_on_an_empty_filter_result_says_why(sb, isolated_home):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"zzz", "enter")
        await pilot.pause()
        assert app.screen.query_one("#keys", KeyTable).row_count == 0
        for key in ("d", "e", "x"):
            app.clear_notifications()
            await pilot.press(key)
            await pilot.pause()
            assert any("No key matches 'zzz'" in m and "Esc clears" in m for m in messages(app)), key
            assert not isinstance(app.screen, ConfirmScreen)


async def test_toasts_never_cover_a_dialogs_buttons(sb, isolated_home):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        app.notify("Revoked nightly-ci on openrouter.", title="Revoked")
        app.notify("An install is running. Quit once it has finished (or been undone), so no key is left "
                   "half-installed.", severity="warning")
        await pilot.pause()
        await pilot.pause()
        toasts = list(app.screen.query(Toast))
        assert len(toasts) == 2
        for button in app.screen.query(Button):
            for toast in toasts:
                assert not toast.region.overlaps(button.region), (button.id, toast.region, button.region)


# ---------------------------------------------------------------- the command palette


async def test_the_palette_revokes_caps_disables_and_restores(sb, isolated_home):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Revoke key", "Change cap", "Disable or enable key", "Restore old config"} <= titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Revoke key")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen) and "Revoke" in app.screen.title_text
        await pilot.press("n")
        await pilot.pause()
        commands = {c.title: c.callback for c in app.get_system_commands(app.screen)}
        commands["Change cap"]()
        await pilot.pause()
        assert app.screen.__class__.__name__ == "CapScreen"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("2")  # no key is selected on the Agents screen: it says why
        await settle(pilot)
        commands = {c.title: c.callback for c in app.get_system_commands(app.screen)}
        commands["Disable or enable key"]()
        await pilot.pause()
        assert any("Select a key on the Keys screen" in m for m in messages(app))
        commands["Restore old config"]()  # the agent under the cursor has no backup: it says so
        await pilot.pause()
        assert any("No backup holds" in m for m in messages(app))
        await pilot.press("1")
        await settle(pilot)
        commands = {c.title: c.callback for c in app.get_system_commands(app.screen)}
        commands["Restore old config"]()
        await pilot.pause()
        assert any("Select an agent (2 Agents) or a backup (4 Backups)" in m for m in messages(app))


# ---------------------------------------------------------------- the review's diff (item 16)


def test_a_long_diff_line_wraps_with_a_continuation_mark_and_loses_nothing():
    line = "+" + json.dumps(CLAUDE_ONE_LINE)
    rows = wrap_line(line, 40)
    assert len(rows) > 2 and all(cell_width(r) <= 40 for r in rows[:1]) and all(cell_width(r) <= 39 for r in rows[1:])
    assert "".join(rows) == line
    text = render_diff(f"--- a\n+++ b\n{line}\n", 40).plain.splitlines()
    assert text[2] == rows[0] and all(r.startswith(CONTINUED) for r in text[3:])
    assert all(cell_width(r) <= 40 for r in text)
    assert render_diff(f"{line}\n").plain.splitlines() == [line]  # no width: unchanged


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_review_wraps_claudes_env_object(sb, isolated_home, size):
    (isolated_home / ".claude").mkdir()
    (isolated_home / ".claude" / "settings.json").write_text(json.dumps(CLAUDE_ONE_LINE))
    app = make_app(sb, isolated_home)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        await pilot.press("5", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        view = app.screen.query_one(DiffView)
        width = view.scrollable_content_region.width
        shown = str(view.query_one("Static").render()).splitlines()
        assert all(cell_width(r) <= width for r in shown)
        assert any(r.startswith(CONTINUED) for r in shown)
        added = next(i for i, r in enumerate(shown) if r.startswith("+{"))
        whole = shown[added] + "".join(r[1:] for r in shown[added + 1:] if r.startswith(CONTINUED))
        assert "corp-root-ca.pem" in whole and "ANTHROPIC_AUTH_TOKEN" in whole and '"model": "opus"}' in whole
