"""The new-key form refuses, inline, a name that is already a key's name on the platform (issue 10,
item 13: the rule is core.keys.check_name_free, the one the CLI refuses with)."""

from __future__ import annotations

from textual.widgets import Input
from tui_support import make_app, no_blink, settle

from capit_tui.tui.newkey.form import NewKeyScreen


def shown(screen, selector: str) -> str:
    w = screen.query_one(selector)
    return str(w.render()) if w.display else ""


async def test_a_taken_name_is_refused_inline_and_nothing_is_issued(sb, isolated_home, monkeypatch):
    no_blink(monkeypatch)
    sb.add_key("ci-bot")
    before = set(sb.keys)
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, NewKeyScreen) and not form.selected_agents()
        form.query_one("#cap", Input).value = "5"
        name = form.query_one("#name", Input)
        name.value = "ci-bot"
        await pilot.pause()
        error = shown(form, "#name-error")
        assert "'ci-bot' already exists on openrouter" in error and "another name" in error
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        name.value = "ci-bot-2"
        await pilot.pause()
        assert shown(form, "#name-error") == ""
    assert set(sb.keys) == before
    assert not [r for r in sb.requests if r.method in ("POST", "PATCH", "DELETE")]
