"""The Team screen (5): a team applied on the seeded sandbox, shown by tier with spend against cap, drift
marked; enter opens the key's detail, x/d/e go through the same confirmations as on Keys. Pictures at 80x24
and 160x45."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from tui_support import make_app, settle

from capit_tui.core import team_file
from capit_tui.core.team_apply import apply
from capit_tui.platforms.openrouter import OpenRouterPlatform

SIZES = [(80, 24), (160, 45)]
TEAM = """\
[team]
name = "platform"
platform = "openrouter"
default = { cap = "25.00", reset = "weekly", tier = "standard" }

[tiers.standard]
models = ["openai/gpt-5-mini", "anthropic/claude-haiku-4.5"]
[tiers.senior]
models = ["anthropic/claude-sonnet-4.5", "openai/gpt-5.1-codex"]

[[members]]
name = "alice"
tier = "senior"
cap = "60.00"
[[members]]
name = "bob"
[[members]]
name = "carol"
[[members]]
name = "dave"
tier = "senior"
"""


def applied_team(sb, tmp_path: Path) -> Path:
    """The team applied on the sandbox, some spend on it, carol re-capped by hand and erin added to the file."""
    path = tmp_path / "team.toml"
    path.write_text(TEAM)

    async def go() -> None:
        async with OpenRouterPlatform("openrouter", sb.base_url, sb.management_key) as p:
            await apply(team_file.load(path), p, secrets_dir=tmp_path / "secrets")
            keys = {k.name: k for k in await p.list_keys()}
            await p.update_key(keys["platform-carol"].id, limit=Decimal("10.00"))
        for name, amount in (("platform-alice", "41.20"), ("platform-bob", "3.75"), ("platform-carol", "9.10")):
            sb.spend(keys[name].id, Decimal(amount))

    asyncio.run(go())
    path.write_text(TEAM + '[[members]]\nname = "erin"\n')
    return path


async def team_shown(pilot) -> None:
    await settle(pilot)
    await pilot.press("5")
    await settle(pilot)


def test_the_team_screen_groups_by_tier_marks_drift_and_acts_on_keys(sb, isolated_home, tmp_path):
    path = applied_team(sb, tmp_path)

    async def run() -> None:
        from capit_tui.tui.modals.confirm import ConfirmScreen
        from capit_tui.tui.modals.key_detail import KeyDetailScreen
        from capit_tui.tui.screens.team import TeamScreen

        app = make_app(sb, isolated_home, team=path)
        async with app.run_test(size=(160, 45)) as pilot:
            await team_shown(pilot)
            screen = app.screen
            assert isinstance(screen, TeamScreen)
            table = screen.table
            keys = [str(k.value) for k in table.rows]
            assert keys == ["t:standard", "m:bob", "m:carol", "m:erin", "t:senior", "m:alice", "m:dave"]
            carol = [c.plain for c in table.get_row("m:carol")]
            assert carol[:7] == ["! carol", "platform-carol", "$9.10", "$10.00", "91.0%", "-", "to re-cap"]
            assert carol[7] == "re-capped by hand to $10.00 weekly (applied: $25.00 weekly)"
            assert [c.plain for c in table.get_row("m:erin")][1:7] == ["-", "-", "-", "-", "-", "to create"]
            assert "Team platform on openrouter: 5 members, $54.05 spent; 2 pending, 1 drifted" in str(
                screen.summary.render())

            table.move_cursor(row=keys.index("m:alice"))
            await pilot.pause()
            assert "alice: platform-alice, tier senior" in str(screen.status_line.render())
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, KeyDetailScreen) and app.screen.key.name == "platform-alice"
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("x")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await settle(pilot)
            alice = next(k for k in sb.keys.values() if k["name"] == "platform-alice")
            assert alice["disabled"] is True
            table.move_cursor(row=keys.index("m:erin"))
            await pilot.press("d")
            await pilot.pause()
            assert isinstance(app.screen, TeamScreen)  # erin has no key yet: nothing to revoke, said in a toast
            assert any("no key: nothing to revoke" in str(n.message) for n in app._notifications)

    asyncio.run(run())


def test_without_a_team_file_the_screen_says_how_to_open_one(sb, isolated_home):
    async def run() -> None:
        app = make_app(sb, isolated_home)
        async with app.run_test(size=(100, 30)) as pilot:
            await team_shown(pilot)
            said = str(app.screen.summary.render())
            assert said.startswith("No team file is open. Start with `capit-tui --team team.toml`")
            modebar = str(app.screen.query_one("ModeBar").render())
            assert "5 Team" in modebar

    asyncio.run(run())


def test_the_mode_bar_offers_the_team_only_with_a_team(sb, isolated_home, tmp_path):
    async def run(team: Path | None) -> str:
        app = make_app(sb, isolated_home, team=team)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            return str(app.screen.query_one("ModeBar").render())

    assert "5 Team" not in asyncio.run(run(None))
    assert "5 Team" in asyncio.run(run(applied_team(sb, tmp_path)))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_team_screen(snap_compare, sb, isolated_home, tmp_path, size):
    path = applied_team(sb, tmp_path)
    assert snap_compare(make_app(sb, isolated_home, team=path), terminal_size=size, run_before=team_shown)
