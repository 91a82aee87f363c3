"""R on the Keys screen: a confirmation naming the agents holding the key, with the masked diff; y rotates
(new key in both agents, old key revoked); n changes nothing; a key no agent holds says how to rotate it.
And the new-key form's Expires field."""

from __future__ import annotations

from rotate_support import answers, held_secret, hold
from textual.widgets import Input, Static
from tui_support import make_app, sandbox, settle

from capit_tui.tui.modals.confirm import ConfirmScreen
from capit_tui.tui.newkey.form import NewKeyScreen


def lines(screen) -> str:
    return "\n".join(str(s.content) for s in screen.query(Static).results() if s.has_class("line"))


async def test_r_rotates_the_selected_key_into_both_agents(isolated_home):
    sb = sandbox(seed_keys=0)
    try:
        old_secret, old_hash = hold(sb, ["claude", "codex"], "team-key")
        before = (isolated_home / ".claude" / "settings.json").read_bytes()
        app = make_app(sb, isolated_home)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("R")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            said = lines(app.screen)
            assert "team-key-rotated-20261121" in said and "Claude Code, Codex CLI" in said
            assert "sk-or-v1-…0000" in said and old_secret not in said
            await pilot.press("n")
            await settle(pilot)
            assert (isolated_home / ".claude" / "settings.json").read_bytes() == before and len(sb.keys) == 1
            await pilot.press("R")
            await settle(pilot)
            await pilot.press("y")
            await settle(pilot)
        new = held_secret("claude")
        assert new == held_secret("codex") and new != old_secret
        assert old_hash not in sb.keys and answers(sb, old_secret) == 401 and answers(sb, new) == 200
        assert [k["name"] for k in sb.keys.values()] == ["team-key-rotated-20261121"]
    finally:
        sb.stop()


async def test_r_on_a_key_no_agent_holds_says_how(isolated_home):
    sb = sandbox(seed_keys=0)
    try:
        sb.add_key("loose", limit=1)
        app = make_app(sb, isolated_home)
        notes: list[str] = []
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.notify = lambda message, **kw: notes.append(message)  # type: ignore[method-assign]
            await pilot.press("R")
            await settle(pilot)
            assert not isinstance(app.screen, ConfirmScreen)
        assert any("capit-tui keys rotate" in n for n in notes) and len(sb.keys) == 1
    finally:
        sb.stop()


async def test_the_form_checks_the_expiry_field(sb, isolated_home):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, NewKeyScreen)
        box = form.query_one("#expires", Input)
        box.value = "2020-01-01"
        await pilot.pause()
        assert "not in the future" in str(form.query_one("#expires-error", Static).content)
        box.value = "30d"
        await pilot.pause()
        ok, when = form.expires()
        assert ok and when is not None and (when - app.now()).days == 30
        assert not form.query_one("#expires-error", Static).display
