"""R on the Keys screen: space marks keys, R plans the marked keys (or the one under the cursor) and opens the
rotation's review (the new key's look: summary, files, masked diffs); one y rotates them all (new keys in
their agents, old keys revoked); n changes nothing; a key no agent holds gets its replacement shown once,
and its old key keeps working until r. And the new-key form's Expires field."""

from __future__ import annotations

import httpx
from rotate_support import answers, held_secret, hold
from textual.widgets import Input, Static
from tui_support import make_app, sandbox, settle

from capit_tui.tui.newkey.form import NewKeyScreen
from capit_tui.tui.newkey.result import ResultScreen
from capit_tui.tui.newkey.rotate_review import RotateReviewScreen
from capit_tui.tui.screens.keys import KeysScreen


def shown_text(screen) -> str:
    """Every Static's text on the screen, as a person reads it."""
    return "\n".join(str(s.render()) for s in screen.query(Static).results())


def name_cells(keys: KeysScreen) -> list[str]:
    return [keys.table.get_cell(row, "name").plain for row in keys.table.rows]


def status(keys: KeysScreen) -> str:
    return str(keys.query_one("#status", Static).render())


async def test_two_marked_keys_are_rotated_into_their_agents_with_one_y(isolated_home):
    sb = sandbox(seed_keys=0)
    try:
        a_secret, a_hash = hold(sb, ["claude"], "alpha-key")
        b_secret, b_hash = hold(sb, ["codex"], "beta-key", limit=3, reset="daily")
        app = make_app(sb, isolated_home)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            keys = app.screen
            assert isinstance(keys, KeysScreen)
            await pilot.press("space", "space")
            assert name_cells(keys) == ["✓ alpha-key", "✓ beta-key"] and "2 marked" in status(keys)
            await pilot.press("R")
            await settle(pilot)
            review = app.screen
            assert isinstance(review, RotateReviewScreen)
            said = shown_text(review)
            assert "Rotate 2 keys on openrouter" in said
            assert "alpha-key → alpha-key-rotated-20261121" in said and "into Claude Code" in said
            assert "beta-key → beta-key-rotated-20261121" in said and "into Codex CLI" in said
            assert a_secret not in said and b_secret not in said
            assert {c.agent for c in review.changes} == {"claude", "codex"}
            await pilot.press("j")  # the second agent's file
            await pilot.pause()
            assert review.current_file == 1
            await pilot.press("y")
            await settle(pilot)
            result = app.screen
            assert isinstance(result, ResultScreen) and result.ok and not result.cards
            done = shown_text(result)
            assert "Rotated 2 keys" in done and "alpha-key was revoked" in done and "beta-key was revoked" in done
            assert a_secret not in done and b_secret not in done and "wrote ~/.claude/settings.json" in done
            await pilot.press("escape")
            await settle(pilot)
            assert app.screen is keys and not keys.marks
            assert [keys.rows.keys[r].name for r in keys.table.rows] == ["alpha-key-rotated-20261121",
                                                                         "beta-key-rotated-20261121"]
        new_a, new_b = held_secret("claude"), held_secret("codex")
        assert new_a and new_b and new_a not in (a_secret, new_b) and new_b != b_secret
        assert answers(sb, a_secret) == 401 and answers(sb, b_secret) == 401
        assert answers(sb, new_a) == 200 and answers(sb, new_b) == 200
        assert a_hash not in sb.keys and b_hash not in sb.keys
        new = {k["name"]: k for k in sb.keys.values()}
        assert new["beta-key-rotated-20261121"]["limit"] == 3  # the same cap
    finally:
        sb.stop()


async def test_n_on_the_review_issues_nothing(isolated_home):
    sb = sandbox(seed_keys=0)
    try:
        old_secret, _ = hold(sb, ["claude", "codex"], "team-key")
        before = (isolated_home / ".claude" / "settings.json").read_bytes()
        app = make_app(sb, isolated_home)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            for back in ("n", "escape"):
                await pilot.press("R")
                await settle(pilot)
                assert isinstance(app.screen, RotateReviewScreen)
                assert "sk-or-v1-…0000" in str(app.screen.query_one("#diff").query_one(Static).render())
                await pilot.press(back)
                await settle(pilot)
                assert isinstance(app.screen, KeysScreen)
        assert (isolated_home / ".claude" / "settings.json").read_bytes() == before
        assert [k["name"] for k in sb.keys.values()] == ["team-key"] and held_secret("codex") == old_secret
    finally:
        sb.stop()


async def test_r_on_a_key_no_agent_holds_shows_its_replacement_once_and_revokes_the_old_on_r(isolated_home):
    sb = sandbox(seed_keys=0)
    try:
        old_secret, old_hash = sb.add_key("loose", limit=1, reset="monthly")
        app = make_app(sb, isolated_home)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("R")
            await settle(pilot)
            review = app.screen
            assert isinstance(review, RotateReviewScreen) and not review.changes
            assert "shown once" in shown_text(review) and len(sb.keys) == 1  # nothing issued yet
            await pilot.press("y")
            await settle(pilot)
            result = app.screen
            assert isinstance(result, ResultScreen)
            (card,) = result.cards
            new_secret = card.secret
            assert new_secret and new_secret != old_secret
            said = shown_text(result)
            assert new_secret not in said and card.masked in said and "loose-rotated-20261121" in said
            assert answers(sb, new_secret) == 200 and answers(sb, old_secret) == 200  # the old one still works
            assert {k["name"] for k in sb.keys.values()} == {"loose", "loose-rotated-20261121"}
            assert sb.keys[old_hash]["limit"] == 1 and [k["limit_reset"] for k in sb.keys.values()] == ["monthly"] * 2
            await pilot.press("r")
            await settle(pilot)
            assert "Revoked loose." in shown_text(result)
            await pilot.press("c", "escape")  # copied: it closes without asking
            await settle(pilot)
            assert isinstance(app.screen, KeysScreen) and card.secret is None  # shown once: dropped on close
        assert answers(sb, old_secret) == 401 and answers(sb, new_secret) == 200 and old_hash not in sb.keys
    finally:
        sb.stop()


async def test_a_mixed_selection_is_one_flow_and_a_failure_is_the_cores_sentence(isolated_home):
    sb = sandbox(seed_keys=0)
    try:
        held, held_hash = hold(sb, ["claude"], "a-held")
        loose, loose_hash = sb.add_key("b-loose", limit=2)
        broken, _ = hold(sb, ["codex"], "c-broken")
        app = make_app(sb, isolated_home)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("space", "space", "space", "R")
            await settle(pilot)
            assert isinstance(app.screen, RotateReviewScreen) and len(app.screen.rotations) == 3
            sb.inject_fault("POST /api/v1/keys", "500", times=1, after=2)  # the third key's create fails
            await pilot.press("y")
            await settle(pilot)
            result = app.screen
            assert isinstance(result, ResultScreen) and not result.ok and len(result.cards) == 1
            said = shown_text(result)
            assert "Rotated 2 of 3 keys" in said and "c-broken was not rotated" in said
            assert "The rotation was undone" in said and "c-broken still works." in said  # the core's sentence
            assert [r.name for r in result.replaced] == ["b-loose"]
        assert answers(sb, held) == 401 and answers(sb, held_secret("claude") or "") == 200
        assert answers(sb, loose) == 200 and answers(sb, broken) == 200 and held_secret("codex") == broken
        assert held_hash not in sb.keys and loose_hash in sb.keys
    finally:
        sb.stop()


async def test_marks_survive_a_refresh_and_a_filter_and_a_gone_key_drops_out(sb, isolated_home):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        keys = app.screen
        assert isinstance(keys, KeysScreen)
        first, second, third = keys.table.rows[:3]
        await pilot.press("space", "j", "space")  # the first and the third
        assert keys.marks == {first, third} and keys.table.cursor_key == keys.table.rows[3]
        await pilot.press("r")
        await settle(pilot)
        assert keys.marks == {first, third} and name_cells(keys)[0].startswith("✓ ")
        word = keys.rows.keys[third].name
        await pilot.press("slash", *word, "enter")
        await pilot.pause()
        assert keys.table.rows[0] == third and name_cells(keys)[0].startswith("✓ ") and "2 marked" in status(keys)
        await pilot.press("escape")  # the filter goes, the marks stay
        await pilot.pause()
        assert not keys.filter_text and keys.marks == {first, third}
        gone = keys.rows.keys[first]
        httpx.delete(f"{sb.base_url}/keys/{gone.id}", headers={"Authorization": f"Bearer {sb.management_key}"},
                     trust_env=False, timeout=10).raise_for_status()
        await pilot.press("r")
        await settle(pilot)
        assert keys.marks == {third} and "1 marked" in status(keys)
        await pilot.press("escape")  # no filter: the marks go
        await pilot.pause()
        assert not keys.marks and "marked" not in status(keys)
        assert not any(c.startswith("✓") for c in name_cells(keys))


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
