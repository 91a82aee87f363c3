"""[keymap] in settings.toml remaps the app's keys: the new key works, the old one no longer does, a bad entry
is named in one notification at start (the app still runs), and the help screen shows the keys in effect."""

from __future__ import annotations

import io

from rich.console import Console
from textual.widgets import Static
from tui_support import TODAY, configured, fixed_clock, settle

from capit_tui.core import settings
from capit_tui.tui.modals.confirm import ConfirmScreen
from capit_tui.tui.modals.help import HelpScreen


def app_with(sb, home, toml: str):
    from capit_tui.tui.app import CapitApp

    p = settings.settings_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(toml)
    return CapitApp(platforms=[configured(sb)], settings=settings.load(), clock=fixed_clock, today=TODAY,
                    agent_env={"HOME": str(home), "PATH": "/nonexistent"}, auto_refresh=False)


REMAP = '# my keys\n[keymap]\n"keys.revoke" = "ctrl+d"\n"app.help" = "f1"\n'


async def test_a_remapped_key_works_and_the_old_one_no_longer_does(sb, isolated_home):
    app = app_with(sb, isolated_home, REMAP)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("ctrl+d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert not list(app._notifications)


def _lines(renderable) -> list[str]:
    """The help as plain text, one row a line, runs of spaces squeezed."""
    console = Console(width=72, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return [" ".join(line.split()) for line in console.export_text().splitlines()]


async def test_help_shows_the_keys_in_effect_and_every_id(sb, isolated_home):
    app = app_with(sb, isolated_home, REMAP)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
        lines = _lines(app.screen.query_one("#help-body", Static).content)
        revoke = next(line for line in lines if line.endswith("keys.revoke"))
        assert revoke.startswith("^d ") or revoke.startswith("ctrl+d "), revoke
        helper = next(line for line in lines if line.endswith("app.help"))
        assert helper.startswith("f1 "), helper
        quitter = next(line for line in lines if line.endswith("app.quit"))
        assert quitter.startswith("q "), quitter
        for binding_id in ("app.new_key", "keys.cap", "agents.install", "platforms.add", "backups.restore",
                           "review.apply", "result.copy", "keys.down", "confirm.yes"):
            assert any(line.endswith(binding_id) for line in lines), binding_id


async def test_bad_entries_are_named_in_one_notification_and_the_rest_apply(sb, isolated_home):
    body = REMAP + '"keys.nuke" = "ctrl+n"\n"keys.cap" = "ctrl+bogus+e"\n"app.quit" = ""\n'
    app = app_with(sb, isolated_home, body)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        (note,) = [n for n in app._notifications if "[keymap]" in n.title]
        path = settings.settings_path()
        assert f"{path}, line 5:" in note.message and "'keys.nuke'" in note.message
        assert f"{path}, line 6:" in note.message and "'ctrl+bogus+e'" in note.message
        assert f"{path}, line 7:" in note.message and "'app.quit'" in note.message
        await pilot.press("ctrl+d")  # the good entry still applies
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        await pilot.press("e")  # keys.cap keeps its default key
        await pilot.pause()
        assert type(app.screen).__name__ == "CapScreen"


async def test_remapping_new_key_moves_the_keys_that_keep_it_quiet(sb, isolated_home):
    from capit_tui.tui import keymap

    app = app_with(sb, isolated_home, '[keymap]\n"app.new_key" = "ctrl+n"\n')
    assert keymap.effective(app.settings, type(app))["result.no_new"] == "ctrl+n"
    assert "result.no_new" not in keymap.known_ids(type(app))
    assert all(b.id for _t, bs in keymap.groups(type(app)) for b in bs)
    assert all(keymap.what(b) for _t, bs in keymap.groups(type(app)) for b in bs)


def test_the_readme_lists_every_binding_id():
    from pathlib import Path

    from capit_tui.tui import keymap
    from capit_tui.tui.app import CapitApp

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("The ids, by screen", 1)[1].split("```", 2)[1]
    assert set(block.split()) == keymap.known_ids(CapitApp)
