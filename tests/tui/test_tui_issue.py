"""The new-key form, the diff review and the result, as a user drives them, against the sandbox.

Pilot flows check what really happened (keys on the sandbox, the agents' files read back through
the agents' own readers, the backup, the ledger); snapshots at 80x24 and 160x45 check the pictures.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from textual.widgets import SelectionList
from transports import Answer
from tui_support import TODAY, RoutedConfigured, fixed_clock, make_app, settle

from capit_tui import agents as agents_mod
from capit_tui.core.keys import Configured
from capit_tui.core.redact import mask
from capit_tui.core.settings import PlatformConfig, Settings
from capit_tui.platforms.transport import Reply
from capit_tui.sandbox import sha256_hex
from capit_tui.tui.modals.confirm import ConfirmScreen
from capit_tui.tui.newkey.form import NewKeyScreen
from capit_tui.tui.newkey.result import ResultScreen
from capit_tui.tui.newkey.review import ReviewScreen

STAMP = TODAY.strftime("%Y%m%d")
SIZES = [(80, 24), (160, 45)]


def env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "PATH": "/nonexistent"}


def agent(name: str, home: Path):
    return agents_mod.get(name, env(home))


def with_agents(home: Path) -> None:
    """Claude Code and Codex look installed (their folders exist); Codex already has a config."""
    (home / ".claude").mkdir()
    (home / ".codex").mkdir()
    (home / ".codex" / "config.toml").write_text('# my codex settings\nmodel = "gpt-5"\n')


def key_count(sb) -> int:
    return len(list(sb.keys))


async def open_form(pilot) -> NewKeyScreen:
    await settle(pilot)
    await pilot.press("n")
    await settle(pilot)
    assert isinstance(pilot.app.screen, NewKeyScreen)
    return pilot.app.screen


async def review(pilot) -> None:
    await pilot.press("ctrl+s")
    await settle(pilot)


def shown(app) -> str:
    """What the screen shows, as text: the SVG screenshot without its styles and tags, one row a line."""
    svg = app.export_screenshot()
    svg = re.sub(r"<style.*?</style>", "", svg, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


# ---------------------------------------------------------------- flows


async def test_review_and_result_name_the_model_change(sb, isolated_home):
    """Issue 10: Codex's `model = "gpt-5"` is kept as OpenRouter's `openai/gpt-5`, and both screens say so."""
    with_agents(isolated_home)
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(160, 45)) as pilot:
        await open_form(pilot)
        await pilot.press(*"5")
        await review(pilot)
        assert "Codex CLI model: gpt-5 → openai/gpt-5 (OpenRouter's name for it)" in shown(app)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ResultScreen)
        assert "model: gpt-5 → openai/gpt-5 (OpenRouter's name for it)" in shown(app)
    assert 'model = "openai/gpt-5"' in (isolated_home / ".codex" / "config.toml").read_text()


async def test_issue_into_claude_and_codex(sb, isolated_home):
    with_agents(isolated_home)
    before = set(sb.keys)
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        agents = form.query_one("#agents", SelectionList)
        assert agents.selected[:2] == ["claude", "codex"] and len(agents.selected) == 2
        await pilot.press(*"5.00")
        await review(pilot)
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        assert [c.agent for c in screen.changes] == ["claude", "codex"]
        assert screen.current_file == 0
        assert "~/.claude/settings.json" in shown(app) and str(isolated_home) not in shown(app)
        await pilot.press("j")
        assert screen.current_file == 1 and "~/.codex/config.toml (now)" in shown(app)
        await pilot.press("k")
        assert screen.current_file == 0
        await pilot.press("down")
        assert screen.current_file == 1
        assert set(sb.keys) == before  # reviewing issues nothing
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ResultScreen)
        text = shown(app)
        assert "$5.00 monthly openrouter key installed into claude" in text  # the cap with its reset
        assert "$5.00 monthly openrouter key installed into codex" in text

        new = set(sb.keys) - before
        assert len(new) == 2
        claude_key = agent("claude", isolated_home).installed_key()
        codex_key = agent("codex", isolated_home).installed_key()
        assert claude_key is not None and codex_key is not None
        assert {sha256_hex(claude_key.secret), sha256_hex(codex_key.secret)} == new
        assert claude_key.secret not in text and mask(claude_key.secret) in text
        for h in new:
            k = sb.keys[h]
            assert k["limit"] == 5 and k["limit_reset"] == "monthly"
        assert sb.keys[sha256_hex(claude_key.secret)]["name"] == f"capit-claude-{STAMP}"
        assert sb.keys[sha256_hex(codex_key.secret)]["name"] == f"capit-codex-{STAMP}"
        assert "# my codex settings" in (isolated_home / ".codex" / "config.toml").read_text()

        (backup,) = app.store.list()
        assert backup.agents == ["claude", "codex"]
        old = {str(f.path): f.existed for f in backup.files}
        assert old == {str(isolated_home / ".claude" / "settings.json"): False,
                       str(isolated_home / ".codex" / "config.toml"): True}
        assert backup.id in text
        assert app.ledger.holders("openrouter", sha256_hex(claude_key.secret)) == ["claude"]
        assert app.ledger.holders("openrouter", sha256_hex(codex_key.secret)) == ["codex"]

        await pilot.press("escape")  # nothing shown once: closes at once
        await settle(pilot)
        from capit_tui.tui.screens.keys import KeysScreen

        assert isinstance(app.screen, KeysScreen) and len(app.screen_stack) == 1
        assert {("openrouter", h) for h in new} <= set(app.spend.keys)  # the refresh ran


async def test_cancel_at_review_issues_nothing(sb, isolated_home):
    with_agents(isolated_home)
    before = set(sb.keys)
    codex_before = (isolated_home / ".codex" / "config.toml").read_bytes()
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_form(pilot)
        await pilot.press(*"5")
        await review(pilot)
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, NewKeyScreen)  # back to the form, values kept
        assert app.screen.query_one("#cap").value == "5"
        await review(pilot)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert len(app.screen_stack) == 1
    assert set(sb.keys) == before
    assert not sb.requests or all(r.method == "GET" for r in sb.requests)
    assert not (isolated_home / ".claude" / "settings.json").exists()
    assert (isolated_home / ".codex" / "config.toml").read_bytes() == codex_before
    assert app.store.list() == [] and app.ledger.entries() == []


async def test_bad_cap_is_shown_inline_and_enter_does_not_go_on(sb, isolated_home):
    with_agents(isolated_home)
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        error = form.query_one("#cap-error")
        assert not error.display
        await pilot.press(*"5.001")
        await pilot.pause()
        assert error.display and "two decimals" in str(error.render())
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is form and form.focused is form.query_one("#cap")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        form.query_one("#cap").value = ""
        await pilot.press(*"none")
        await pilot.pause()
        assert "tick 'no cap'" in str(error.render())
        form.query_one("#cap").value = ""
        await pilot.press(*"$7.5")
        await pilot.pause()
        assert not error.display
        form.query_one("#model").value = "anthropic/claude sonnet"
        await pilot.pause()
        assert form.query_one("#model-error").display
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form and form.focused is form.query_one("#model")
    assert not any(r.method == "POST" for r in sb.requests)


async def test_name_follows_the_agents_until_edited(sb, isolated_home):
    app = make_app(sb, isolated_home)  # an empty home: no agent found, none checked
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        name = form.query_one("#name")
        agents = form.query_one("#agents", SelectionList)
        assert agents.selected == [] and name.value == f"capit-{STAMP}"
        agents.select("claude")
        await pilot.pause()
        assert name.value == f"capit-claude-{STAMP}"
        agents.select("codex")
        await pilot.pause()
        assert name.value == "" and f"capit-claude-{STAMP}, capit-codex-{STAMP}" in str(
            form.query_one("#name-hint").render())
        name.value = "team"
        await pilot.pause()
        assert "team-claude, team-codex" in str(form.query_one("#name-hint").render())
        agents.deselect("codex")
        await pilot.pause()
        assert name.value == "team"  # an edited name is never replaced


class Offline(Configured):
    """A platform answered in-process (401 to everything): enough for the form, which sends nothing."""

    def open(self, **kwargs):
        kwargs.setdefault("transport", Answer(lambda request: Reply(401)))
        return super().open(**kwargs)


async def test_platform_without_resets_forces_never(sb, isolated_home):
    from tui_support import configured

    from capit_tui.tui.app import CapitApp

    gateway = Offline(PlatformConfig("gateway", "oneapi", "http://gateway.capit.test"), "keyring", "sk-" + "m" * 48)
    app = CapitApp(platforms=[configured(sb), gateway], settings=Settings(), clock=fixed_clock, today=TODAY,
                   auto_refresh=False, agent_env=env(isolated_home))
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        reset = form.query_one("#reset")
        assert reset.value == "monthly" and not reset.disabled
        form.query_one("#platform").value = "gateway"
        await pilot.pause()
        assert reset.value == "never" and reset.disabled
        assert "caps never reset" in str(form.query_one("#reset-note").render())
        form.query_one("#platform").value = "openrouter"
        await pilot.pause()
        assert reset.value == "monthly" and not reset.disabled and not form.query_one("#reset-note").display


async def test_unparseable_agent_config_is_shown_in_the_form(sb, isolated_home):
    with_agents(isolated_home)
    bad = isolated_home / ".codex" / "config.toml"
    bad.write_text('model = "gpt-5"\n[model_providers\n')
    before = set(sb.keys)
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        await pilot.press(*"5")
        await review(pilot)
        assert app.screen is form
        panel = form.query_one("#plan-error")
        text = str(panel.render())
        assert panel.display and "~/.codex/config.toml" in text and "Nothing was changed" in text
        assert str(isolated_home) not in shown(app)
        # unchecking codex clears the error and lets the review go on
        form.query_one("#agents", SelectionList).deselect("codex")
        await pilot.pause()
        assert not panel.display
        await review(pilot)
        assert isinstance(app.screen, ReviewScreen)
    assert set(sb.keys) == before
    assert bad.read_text() == 'model = "gpt-5"\n[model_providers\n'
    assert not (isolated_home / ".claude" / "settings.json").exists()


async def test_no_agent_shows_the_key_once_masked_then_reveal_and_copy(sb, isolated_home, monkeypatch):
    before = set(sb.keys)
    app = make_app(sb, isolated_home)
    copied: list[str] = []
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_form(pilot)
        await pilot.press(*"2.50")
        await review(pilot)
        assert isinstance(app.screen, ReviewScreen)
        assert "No file will change; the key will be shown once." in shown(app)
        await pilot.press("y")
        await settle(pilot)
        result = app.screen
        assert isinstance(result, ResultScreen)
        (card,) = result.cards
        secret = card.secret
        (new,) = set(sb.keys) - before
        assert sha256_hex(secret) == new
        assert sb.keys[new]["name"] == f"capit-{STAMP}" and sb.keys[new]["limit"] == 2.5
        assert secret not in shown(app) and mask(secret) in shown(app)
        await pilot.press("v")
        await pilot.pause()
        assert secret in shown(app)
        await pilot.press("v")
        await pilot.pause()
        assert secret not in shown(app)
        await pilot.press("c")
        await pilot.pause()
        assert copied == [secret]
        assert any(n.title == "copied" and secret not in n.message for n in app._notifications)
        await pilot.press("escape")
        await settle(pilot)
        assert len(app.screen_stack) == 1
        # the secret is dropped with the view: no attribute of the screen or its card holds it
        assert card.secret is None and result.cards == []
        for obj in (result, card):
            assert all(secret not in repr(v) for v in vars(obj).values())
    assert not (isolated_home / ".claude").exists()
    assert app.ledger.entries() == []


async def test_closing_before_copying_asks_first(sb, isolated_home):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_form(pilot)
        await pilot.press(*"1")
        await review(pilot)
        await pilot.press("y")
        await settle(pilot)
        result = app.screen
        assert isinstance(result, ResultScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert app.screen is result and result.cards[0].secret
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert len(app.screen_stack) == 1


async def test_manual_agent_gets_its_key_with_steps(sb, isolated_home):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.action_new_key(agents=["cursor"])
        await settle(pilot)
        await pilot.press(*"3")
        await review(pilot)
        text = shown(app)
        assert "No file will change; the key will be shown once, with the steps" in text
        assert "Cursor: no file edit can install its key" in text
        await pilot.press("y")
        await settle(pilot)
        result = app.screen
        assert isinstance(result, ResultScreen)
        (card,) = result.cards
        assert "Override OpenAI Base URL" in shown(app)
        assert card.secret not in shown(app)
        name = sb.keys[sha256_hex(card.secret)]["name"]
        assert name == f"capit-cursor-{STAMP}"


async def test_no_cap_needs_the_checkbox(sb, isolated_home):
    before = set(sb.keys)
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        await review(pilot)
        assert app.screen is form and "empty" in str(form.query_one("#cap-error").render())
        form.query_one("#no-cap").value = True
        await pilot.pause()
        assert form.query_one("#cap").disabled and not form.query_one("#cap-error").display
        await review(pilot)
        assert isinstance(app.screen, ReviewScreen) and "NO cap" in shown(app)
        await pilot.press("y")
        await settle(pilot)
        (new,) = set(sb.keys) - before
        assert sb.keys[new]["limit"] is None


async def test_issue_failure_shows_the_error_and_issues_nothing(sb, isolated_home):
    with_agents(isolated_home)
    before = set(sb.keys)
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_form(pilot)
        await pilot.press(*"5")
        await review(pilot)
        sb.inject_fault("POST /api/v1/keys", "500", times=0)
        await pilot.press("y")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReviewScreen) and screen.state == "error"
        message = str(screen.query_one("#error-message").render())
        assert "Issuing the key for Claude Code failed" in message and "No file was changed" in message
        await pilot.press("y")  # no second try from the error view
        await settle(pilot)
        assert screen.state == "error"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, NewKeyScreen)
    assert set(sb.keys) == before
    assert not (isolated_home / ".claude" / "settings.json").exists()


async def test_file_changed_after_review_undoes_everything(sb, isolated_home):
    with_agents(isolated_home)
    before = set(sb.keys)
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_form(pilot)
        await pilot.press(*"5")
        await review(pilot)
        (isolated_home / ".codex" / "config.toml").write_text('model = "o3"\n')
        await pilot.press("y")
        await settle(pilot)
        screen = app.screen
        assert screen.state == "error"
        message = str(screen.query_one("#error-message").render())
        assert "~/.codex/config.toml changed since the preview" in message
        assert "nothing was issued or written" in message  # checked under the lock, before any key
    assert set(sb.keys) == before
    assert not (isolated_home / ".claude" / "settings.json").exists()
    assert (isolated_home / ".codex" / "config.toml").read_text() == 'model = "o3"\n'


# ---------------------------------------------------------------- snapshots


@pytest.fixture
def snap_app(sb, isolated_home, monkeypatch):
    """The app on the seeded sandbox behind a fixed base URL, with a fixed clock and backup ids."""
    from capit_tui.core import backups
    from capit_tui.core.backups import BackupStore
    from capit_tui.tui.app import CapitApp

    monkeypatch.setattr(backups._secrets, "token_hex", lambda n=3: "c0ffee")
    with_agents(isolated_home)
    c = RoutedConfigured(PlatformConfig("openrouter", "openrouter", "https://sandbox.capit.test/api/v1"),
                         "keyring", sb.management_key)
    c.port = sb.port

    def make():
        return CapitApp(platforms=[c], settings=Settings(), clock=fixed_clock, today=TODAY, auto_refresh=False,
                        agent_env=env(isolated_home), store=BackupStore(clock=fixed_clock))

    return make


def size_id(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


async def _form(pilot, cap: str = "5") -> None:
    await open_form(pilot)
    await pilot.press(*cap)
    await pilot.pause()


async def _quiet(pilot) -> None:
    pilot.app.clear_notifications()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_snapshot_form(snap_compare, snap_app, size):
    async def run(pilot):
        await _form(pilot)
        await _quiet(pilot)

    assert snap_compare(snap_app(), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_snapshot_form_error(snap_compare, snap_app, size):
    async def run(pilot):
        await _form(pilot, "5.001")
        await pilot.press("enter")
        await settle(pilot)
        await _quiet(pilot)

    assert snap_compare(snap_app(), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_snapshot_review(snap_compare, snap_app, size):
    async def run(pilot):
        await _form(pilot)
        await review(pilot)
        assert isinstance(pilot.app.screen, ReviewScreen)
        await _quiet(pilot)

    assert snap_compare(snap_app(), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_snapshot_review_after_j(snap_compare, snap_app, size):
    async def run(pilot):
        await _form(pilot)
        await review(pilot)
        await pilot.press("j")
        assert pilot.app.screen.current_file == 1
        await _quiet(pilot)

    assert snap_compare(snap_app(), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_snapshot_result_masked(snap_compare, snap_app, size):
    async def run(pilot):
        await settle(pilot)
        pilot.app.action_new_key(agents=["claude", "cursor"])
        await settle(pilot)
        await pilot.press(*"5")
        await review(pilot)
        await pilot.press("y")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, ResultScreen)
        assert screen.cards[0].secret not in shown(pilot.app)
        await _quiet(pilot)

    assert snap_compare(snap_app(), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_snapshot_install_error(snap_compare, snap_app, isolated_home, size):
    async def run(pilot):
        await _form(pilot)
        await review(pilot)
        (isolated_home / ".codex" / "config.toml").write_text('model = "o3"\n')
        await pilot.press("y")
        await settle(pilot)
        assert pilot.app.screen.state == "error"
        await _quiet(pilot)

    assert snap_compare(snap_app(), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=size_id)
def test_snapshot_review_long_lines(snap_compare, snap_app, isolated_home, size):
    """Claude's settings on one line: its whole `env` object wraps onto rows marked ↪, nothing clipped."""
    (isolated_home / ".claude" / "settings.json").write_text(
        '{"env": {"DISABLE_TELEMETRY": "1", "HTTPS_PROXY": "https://proxy.internal.example.com:8443", '
        '"NODE_EXTRA_CA_CERTS": "/etc/ssl/certs/corp-root-ca.pem"}, "model": "opus"}')

    async def run(pilot):
        await _form(pilot)
        await review(pilot)
        assert isinstance(pilot.app.screen, ReviewScreen)
        await _quiet(pilot)

    assert snap_compare(snap_app(), terminal_size=size, run_before=run)
