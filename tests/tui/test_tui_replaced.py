"""The key an install replaced, in the app: the review says so, the result screen offers to revoke it (r),
and the Keys table marks a key capit-tui installed that no agent holds any more. (After a restore, the
offer is tested with the Agents screen's u in test_tui_agents_backups.py.)"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from textual.widgets import Static
from tui_support import TODAY, configured, make_app, settle

from capit_tui import agents as agents_mod
from capit_tui.core.ledger import Ledger
from capit_tui.tui.newkey.form import NewKeyScreen
from capit_tui.tui.newkey.result import ResultScreen
from capit_tui.tui.newkey.review import ReviewScreen
from capit_tui.tui.widgets.key_table import KeyTable


def install(sb, home: Path, agent: str, name: str):
    """A key installed through the core before the app starts (in a thread: the test's loop is running)."""
    from capit_tui.core.install import execute, preview

    def go():
        pv = preview(configured(sb), [agents_mod.get(agent, {"HOME": str(home)})], name=name, today=TODAY)
        return asyncio.run(execute(pv, Decimal("5.00"), "monthly")).installed[0].issued.key.id

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(go).result()


def text_of(screen, selector: str) -> str:
    return screen.query_one(selector, Static).content.plain


async def test_review_says_what_the_install_replaces_and_r_on_the_result_revokes_it(sb, isolated_home):
    (isolated_home / ".claude").mkdir()
    first = install(sb, isolated_home, "claude", "first")
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, NewKeyScreen)
        await pilot.press(*"3")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        assert ("Replaces first-claude (issued by capit-tui); you can revoke it after install."
                in text_of(app.screen, "#notes"))
        await pilot.press("y")
        await settle(pilot)
        result = app.screen
        assert isinstance(result, ResultScreen)
        said = text_of(result, "#replaced")
        assert "Replaced first-claude ($5.00 monthly cap)" in said and "r revokes it" in said
        assert first in sb.keys  # nothing is revoked until asked
        await pilot.press("r")
        await settle(pilot)
        assert first not in sb.keys
        assert text_of(result, "#replaced") == "Revoked first-claude."
        assert all(i.revoked for i in Ledger().installs_of("openrouter", first))
        assert not result.check_action("revoke_replaced", ())  # done: r is gone from the footer
        assert len([k for k in sb.keys.values() if k["name"] == f"capit-claude-{TODAY:%Y%m%d}"]) == 1


async def test_a_key_no_other_agent_held_is_not_named_when_another_still_holds_it(sb, isolated_home):
    """opencode holds claude's capit key too: the review names nothing and the result offers nothing."""
    import json

    (isolated_home / ".claude").mkdir()
    first = install(sb, isolated_home, "claude", "first")
    secret = agents_mod.get("claude", {"HOME": str(isolated_home)}).installed_key()
    auth = isolated_home / ".local" / "share" / "opencode" / "auth.json"
    auth.parent.mkdir(parents=True)
    auth.write_text(json.dumps({"openrouter": {"type": "api", "key": secret.secret}}))
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, NewKeyScreen)
        from textual.widgets import SelectionList

        agents = screen.query_one("#agents", SelectionList)
        agents.deselect_all()
        agents.select("claude")
        await pilot.press(*"3")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        assert "Replaces" not in text_of(app.screen, "#notes")
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ResultScreen) and not app.screen.query("#replaced")
        assert not app.screen.check_action("revoke_replaced", ())
        assert first in sb.keys


async def test_keys_table_marks_a_key_no_agent_holds_any_more(sb, isolated_home):
    (isolated_home / ".claude").mkdir()
    first = install(sb, isolated_home, "claude", "first")
    second = install(sb, isolated_home, "claude", "second")
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:  # narrow: the mark alone, still in yellow
        await settle(pilot)
        mark = app.screen.query_one("#keys", KeyTable).get_cell(f"openrouter\x1f{first}", "agents")
        assert mark.plain == "none" and "yellow" in str(mark.style)
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        t = app.screen.query_one("#keys", KeyTable)
        mark = t.get_cell(f"openrouter\x1f{first}", "agents")
        assert mark.plain == "none (was claude)" and "yellow" in str(mark.style)
        t.move_cursor(row=t.get_row_index(f"openrouter\x1f{first}"))
        await pilot.press("enter")
        await settle(pilot)
        shown = " ".join(str(w.content) for w in app.screen.query(Static))
        assert "No agent holds it any more" in shown
        await pilot.press("escape")
        await settle(pilot)
        assert t.get_cell(f"openrouter\x1f{second}", "agents").plain == "claude"
        seeded = next(k for (_, k) in app.spend.keys if k not in (first, second))
        assert t.get_cell(f"openrouter\x1f{seeded}", "agents").plain == "-"  # never installed: no mark
