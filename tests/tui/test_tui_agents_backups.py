"""The Agents and Backups screens as a user drives them, and their pictures.

Before the app starts, keys are installed into Claude Code and Codex through the core
(install.preview/execute) over pre-existing config files under the test HOME, so a restore has
something to bring back. Pictures are deterministic: seeded sandbox, fixed clocks, sequential
backup ids, paths shown under the agent home as `~`, and the agents' endpoints pinned to
openrouter.ai so no loopback port appears in a diff.
"""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from textual.widgets import DataTable
from tui_support import TODAY, configured, fixed_clock, make_app, no_blink, settle

from capit_tui import agents as agents_mod
from capit_tui.core.agent_status import agent_statuses
from capit_tui.core.backups import BackupStore
from capit_tui.core.ledger import Ledger
from capit_tui.core.redact import mask
from capit_tui.core.text import tilde, tilde_text
from capit_tui.tui.widgets.key_table import KeyTable

SIZES = [(80, 24), (160, 45)]
size_ids = pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")

OLD_ANTHROPIC_KEY = "sk-ant-api03-" + "Q7" * 40 + "wxyz"
CLAUDE_BEFORE = (
    '{\n'
    '  "model": "sonnet",\n'
    '  "permissions": {\n'
    '    "allow": ["Bash(npm run test:*)"]\n'
    '  },\n'
    '  "env": {\n'
    f'    "ANTHROPIC_API_KEY": "{OLD_ANTHROPIC_KEY}",\n'
    '    "BASH_DEFAULT_TIMEOUT_MS": "120000"\n'
    '  }\n'
    '}\n'
).encode()
CODEX_BEFORE = (
    b'# my codex settings\n'
    b'model = "gpt-5.1-codex"\n'
    b'approval_policy = "on-request"\n'
    b'\n'
    b'[tui]\n'
    b'notifications = true\n'
)


class SeqStore(BackupStore):
    """Backup ids from the fixed clock plus a counter (the real store adds a random suffix)."""

    def _new_id(self, now):
        n = len(list(self.root.iterdir())) + 1 if self.root.is_dir() else 1
        return f"{now.strftime('%Y%m%d-%H%M%S')}-{n:06d}"


@dataclass
class World:
    home: Path
    store: BackupStore
    ledger: Ledger
    secrets: dict[str, str]
    key_ids: dict[str, str]

    @property
    def claude(self) -> Path:
        return self.home / ".claude" / "settings.json"

    @property
    def codex(self) -> Path:
        return self.home / ".codex" / "config.toml"


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch):
    no_blink(monkeypatch)
    monkeypatch.setattr("capit_tui.core.install.now_iso", lambda: "2026-11-21T12:00:00Z")


def agent_env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "PATH": "/nonexistent"}


def world(home: Path) -> World:
    data = home / ".local" / "share" / "capit-tui"
    return World(home, SeqStore(data / "backups", clock=fixed_clock), Ledger(data / "ledger.json"), {}, {})


def install(sb, home: Path, names=("claude", "codex"), spend: dict[str, str] | None = None) -> World:
    """Pre-existing configs, then one capped key per agent installed through the core.

    Runs in its own thread: the core uses asyncio.run, and async tests already have a loop running.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_install, sb, home, names, spend).result()


def _install(sb, home: Path, names, spend) -> World:
    from capit_tui.core.install import execute, preview

    w = world(home)
    w.claude.parent.mkdir(parents=True, exist_ok=True)
    w.claude.write_bytes(CLAUDE_BEFORE)
    w.codex.parent.mkdir(parents=True, exist_ok=True)
    w.codex.write_bytes(CODEX_BEFORE)
    agents = [agents_mod.get(n, agent_env(home)) for n in names]
    pv = preview(configured(sb), agents, today=TODAY)
    # The keys are issued on the sandbox, but the files name openrouter.ai: the sandbox's loopback port
    # changes every run and would otherwise show in the restore diffs' pictures.
    pv.openai_base_url, pv.anthropic_base_url = "https://openrouter.ai/api/v1", "https://openrouter.ai/api"
    result = asyncio.run(execute(pv, Decimal("5.00"), "monthly", store=w.store, ledger=w.ledger))
    for r in result.installed:
        w.secrets[r.agent.name] = r.issued.secret
        w.key_ids[r.agent.name] = r.issued.key.id
    for name, amount in (spend or {"claude": "1.20", "codex": "0.35"}).items():
        sb.spend(w.key_ids[name], Decimal(amount))
    return w


def app_for(sb, w: World):
    return make_app(sb, w.home, store=w.store, ledger=w.ledger)


def table(app, selector: str) -> DataTable | KeyTable:
    return app.screen.query_one(selector, KeyTable if selector == "#keys" else DataTable)


def cell(t: DataTable | KeyTable, row: str, column: str) -> str:
    return str(t.get_cell(row, column))


def static_text(screen) -> str:
    """What the Static widgets of a screen say, tables included, as plain text."""
    from rich.console import Console

    console = Console(width=200, record=True, file=io.StringIO())
    for s in screen.query("Static"):
        console.print(s.content)
    return console.export_text()


async def open_mode(pilot, key: str) -> None:
    await settle(pilot)
    await pilot.press(key)
    await pilot.pause()
    await settle(pilot)


# ---------------------------------------------------------------- the shared core


def test_agent_statuses_match_the_cli(sb, isolated_home, capsys):
    """The helper the screen uses gives `capit-tui agents --json` record for record."""
    from capit_tui import cli
    from capit_tui.core.install import execute, preview

    isolated_home.joinpath(".claude").mkdir()
    isolated_home.joinpath(".claude", "settings.json").write_bytes(CLAUDE_BEFORE)
    pv = preview(configured(sb), [agents_mod.get("claude")], today=TODAY)
    asyncio.run(execute(pv, Decimal("5.00"), "monthly"))
    assert cli.main(["agents", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    mine = [s.to_json() for s in agent_statuses()]
    assert mine == printed
    claude = next(r for r in mine if r["name"] == "claude")
    assert claude["capit_key"]["name"] == "capit-claude-20261121"


def test_tilde():
    assert tilde("/h/me/.claude/settings.json", "/h/me") == "~/.claude/settings.json"
    assert tilde("/h/meta/x", "/h/me") == "/h/meta/x"
    assert tilde_text("--- /h/me/.codex/config.toml (now)\n", "/h/me/") == "--- ~/.codex/config.toml (now)\n"


# ---------------------------------------------------------------- Agents


async def test_agents_show_installed_keys_and_their_capit_keys(sb, isolated_home):
    w = install(sb, isolated_home)
    app = app_for(sb, w)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mode(pilot, "2")
        t = table(app, "#agents")
        assert t.row_count == len(agents_mod.names())
        rows = [str(k.value) for k in t.rows]
        assert rows[:2] == ["claude", "codex"]  # found agents first, display order kept
        for name in ("claude", "codex"):
            assert cell(t, name, "key") == mask(w.secrets[name])
            assert cell(t, name, "capit") == f"capit-{name}-20261121"
            assert cell(t, name, "found") == "config only"
        assert cell(t, "claude", "spend") == "$1.20/$5.00"
        assert cell(t, "codex", "spend") == "$0.35/$5.00"
        assert cell(t, "cursor", "key") == "manual"
        assert cell(t, "opencode", "capit") == "-"
        screen_text = str(app.screen.query_one("#status").render())
        assert "~/.claude/settings.json" in screen_text and str(isolated_home) not in screen_text
        # the spend column follows a refresh
        sb.spend(w.key_ids["claude"], Decimal("2.05"))
        await pilot.press("r")
        await settle(pilot)
        assert cell(t, "claude", "spend") == "$3.25/$5.00"
        await pilot.resize_terminal(160, 45)
        await settle(pilot)
        t = table(app, "#agents")
        assert cell(t, "claude", "files") == "~/.claude/settings.json"
        assert cell(t, "claude", "install") == "file" and cell(t, "cursor", "install") == "manual"
        assert cell(t, "claude", "spend") == "$3.25 of $5.00"


async def test_u_restores_claudes_previous_config(sb, isolated_home):
    from capit_tui.tui.modals.confirm import ConfirmScreen
    from capit_tui.tui.modals.restore_review import RestoreReviewScreen
    from capit_tui.tui.widgets.diff_view import DiffView

    w = install(sb, isolated_home)
    codex_installed = w.codex.read_bytes()
    app = app_for(sb, w)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mode(pilot, "2")
        assert app.screen.selected().name == "claude"
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, RestoreReviewScreen)
        diff = app.screen.query_one(DiffView)._diff
        assert "~/.claude/settings.json" in diff and ".codex" not in diff
        assert str(isolated_home) not in diff
        assert w.secrets["claude"] not in diff and mask(w.secrets["claude"]) in diff
        assert OLD_ANTHROPIC_KEY not in diff and mask(OLD_ANTHROPIC_KEY) in diff
        await pilot.press("y")
        await settle(pilot)
        assert w.claude.read_bytes() == CLAUDE_BEFORE
        assert w.codex.read_bytes() == codex_installed  # only claude's files
        # claude's capit key left its files and no agent holds it: the app offers to revoke it; n keeps it
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.title_text == "Revoke the key the restore removed?"
        await pilot.press("n")
        await settle(pilot)
        assert w.key_ids["claude"] in sb.keys
        t = table(app, "#agents")
        assert cell(t, "claude", "key") == mask(OLD_ANTHROPIC_KEY)
        assert cell(t, "claude", "capit") == "-"
        # the key in use now is longer (an Anthropic key's mask): the capit name is cut in the middle to fit
        shown = cell(t, "codex", "capit")
        assert shown == "capit-codex-20261121" or (shown.startswith("capit-co") and "…" in shown
                                                    and shown.endswith("20261121"))
        assert cell(t, "codex", "spend") == "$0.35/$5.00"  # never clipped
        # the restore was backed up first: it can be undone from the Backups screen
        newest = w.store.list()[0]
        assert newest.meta["reason"] == "restore" and newest.agents == ["claude"]


async def test_u_then_n_changes_nothing(sb, isolated_home):
    from capit_tui.tui.modals.restore_review import RestoreReviewScreen

    w = install(sb, isolated_home)
    before = (w.claude.read_bytes(), w.codex.read_bytes())
    app = app_for(sb, w)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mode(pilot, "2")
        for key in ("n", "escape"):
            await pilot.press("u")
            await pilot.pause()
            assert isinstance(app.screen, RestoreReviewScreen)
            await pilot.press(key)
            await settle(pilot)
            assert not isinstance(app.screen, RestoreReviewScreen)
        assert (w.claude.read_bytes(), w.codex.read_bytes()) == before
        assert len(w.store.list()) == 1


async def test_a_file_changed_after_the_preview_is_not_overwritten(sb, isolated_home):
    from capit_tui.tui.modals.restore_review import RestoreReviewScreen

    w = install(sb, isolated_home)
    app = app_for(sb, w)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mode(pilot, "2")
        await pilot.press("u")
        await pilot.pause()
        edited = w.claude.read_bytes().replace(b'"sonnet"', b'"opus"')
        w.claude.write_bytes(edited)
        await pilot.press("y")
        await settle(pilot)
        assert w.claude.read_bytes() == edited  # nothing written
        assert isinstance(app.screen, RestoreReviewScreen)  # previewed again, with the reason
        error = str(app.screen.query_one("#error").render())
        assert "changed since the preview" in error and "~/.claude/settings.json" in error
        assert '"opus"' in app.screen.rp.diff()
        await pilot.press("y")
        await settle(pilot)
        assert w.claude.read_bytes() == CLAUDE_BEFORE


async def test_u_without_a_backup_says_so(sb, isolated_home):
    w = world(isolated_home)
    app = app_for(sb, w)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_mode(pilot, "2")
        assert app.screen.check_action("restore", ()) is None  # greyed out in the footer
        app.screen.action_restore()
        await pilot.pause()
        assert any("No backup holds Claude Code's files" in n.message for n in app._notifications)


async def test_i_opens_the_new_key_form_with_the_agent_preselected(sb, isolated_home):
    from capit_tui.tui.newkey.form import NewKeyScreen

    w = install(sb, isolated_home)
    app = app_for(sb, w)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mode(pilot, "2")
        await pilot.press("j")  # codex
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, NewKeyScreen)
        assert list(app.screen.preselect) == ["codex"]
        # a manual agent gets the form too (its key is shown once with steps)
        await pilot.press("escape")
        await pilot.pause()
        table(app, "#agents").move_cursor(row=table(app, "#agents").get_row_index("cursor"))
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, NewKeyScreen) and list(app.screen.preselect) == ["cursor"]


async def test_enter_shows_the_details(sb, isolated_home):
    from capit_tui.tui.modals.agent_detail import AgentDetailScreen

    w = install(sb, isolated_home)
    app = app_for(sb, w)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mode(pilot, "2")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AgentDetailScreen) and app.screen.st.name == "claude"
        text = static_text(app.screen)
        assert "~/.claude/settings.json" in text and "capit-claude-20261121" in text
        assert w.secrets["claude"] not in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, AgentDetailScreen)


# ---------------------------------------------------------------- Backups


async def test_backups_lists_the_install_and_restores_every_file(sb, isolated_home):
    from capit_tui.tui.modals.confirm import ConfirmScreen
    from capit_tui.tui.modals.restore_review import RestoreReviewScreen

    w = install(sb, isolated_home)
    installed = {p: p.read_bytes() for p in (w.claude, w.codex)}
    app = app_for(sb, w)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mode(pilot, "4")
        t = table(app, "#backups")
        assert t.row_count == 1
        (bid,) = [str(k.value) for k in t.rows]
        assert bid == "20261121-120000-000001"
        assert cell(t, bid, "reason") == "install"
        assert cell(t, bid, "agents") == "claude, codex"
        assert cell(t, bid, "files") == "2"
        assert cell(t, bid, "key") == "capit-claude-20261121 +1"  # 80 columns: what fits, then how many more
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RestoreReviewScreen)
        said = static_text(app.screen)
        masked = {n: mask(s) for n, s in w.secrets.items()}
        assert f"capit-claude-20261121 ({masked['claude']}), capit-codex-20261121 ({masked['codex']})" in said
        diff = app.screen.rp.diff()
        for secret in w.secrets.values():
            assert secret not in diff
        await pilot.press("y")
        await settle(pilot)
        assert w.claude.read_bytes() == CLAUDE_BEFORE and w.codex.read_bytes() == CODEX_BEFORE
        assert isinstance(app.screen, ConfirmScreen)  # the two capit keys are held by no agent now
        assert app.screen.title_text == "Revoke the keys the restore removed?"
        await pilot.press("n")  # kept
        await settle(pilot)
        assert {w.key_ids["claude"], w.key_ids["codex"]} <= set(sb.keys)
        t = table(app, "#backups")
        assert t.row_count == 2
        undo = str(t.coordinate_to_cell_key((0, 0)).row_key.value)
        assert cell(t, undo, "reason") == "restore"
        # and the restore itself can be undone
        t.move_cursor(row=0)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert {p: p.read_bytes() for p in installed} == installed
        await pilot.resize_terminal(160, 45)
        await settle(pilot)
        t = table(app, "#backups")
        assert cell(t, bid, "key") == (f"capit-claude-20261121 ({masked['claude']}), "
                                       f"capit-codex-20261121 ({masked['codex']})")


async def test_backups_n_and_esc_cancel_without_touching_files(sb, isolated_home):
    w = install(sb, isolated_home)
    before = (w.claude.read_bytes(), w.codex.read_bytes())
    app = app_for(sb, w)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mode(pilot, "4")
        for key in ("n", "escape"):
            await pilot.press("enter")
            await pilot.pause()
            await pilot.press(key)
            await settle(pilot)
        assert (w.claude.read_bytes(), w.codex.read_bytes()) == before
        assert len(w.store.list()) == 1
        assert table(app, "#backups").row_count == 1


async def test_backups_empty_state(sb, isolated_home):
    app = app_for(sb, world(isolated_home))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mode(pilot, "4")
        assert not table(app, "#backups").display
        empty = app.screen.query_one("#empty")
        assert empty.display and "before every change" in str(empty.render())


async def test_a_damaged_backup_is_reported(sb, isolated_home):
    w = install(sb, isolated_home)
    b = w.store.list()[0]
    blob = next(f for f in b.files if f.blob)
    (b.folder / blob.blob).write_bytes(b"tampered")
    before = (w.claude.read_bytes(), w.codex.read_bytes())
    app = app_for(sb, w)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_mode(pilot, "4")
        await pilot.press("enter")
        await pilot.pause()
        assert any("damaged" in n.message for n in app._notifications)
        assert (w.claude.read_bytes(), w.codex.read_bytes()) == before


# ---------------------------------------------------------------- pictures


@size_ids
def test_agents_screen(snap_compare, sb, isolated_home, size):
    w = install(sb, isolated_home)

    async def run(pilot):
        await open_mode(pilot, "2")

    assert snap_compare(app_for(sb, w), terminal_size=size, run_before=run)


@size_ids
def test_agent_restore_diff(snap_compare, sb, isolated_home, size):
    w = install(sb, isolated_home)

    async def run(pilot):
        await open_mode(pilot, "2")
        await pilot.press("u")
        await pilot.pause()

    assert snap_compare(app_for(sb, w), terminal_size=size, run_before=run)


@size_ids
def test_backups_screen(snap_compare, sb, isolated_home, size):
    w = install(sb, isolated_home)

    async def run(pilot):
        await open_mode(pilot, "2")
        await pilot.press("u", "y")  # a restore: a second backup, reason "restore"
        await settle(pilot)
        await pilot.press("n")  # keep the key the restore removed
        await settle(pilot)
        await pilot.press("4")
        await pilot.pause()
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app_for(sb, w), terminal_size=size, run_before=run)


@size_ids
def test_backups_empty(snap_compare, sb, isolated_home, size):
    async def run(pilot):
        await open_mode(pilot, "4")

    assert snap_compare(app_for(sb, world(isolated_home)), terminal_size=size, run_before=run)


@size_ids
def test_agent_details(snap_compare, sb, isolated_home, size):
    w = install(sb, isolated_home)

    async def run(pilot):
        await open_mode(pilot, "2")
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(app_for(sb, w), terminal_size=size, run_before=run)


async def test_revoking_a_held_key_offers_the_old_config_through_the_restore_review(sb, isolated_home):
    """d on claude's key, y; the app offers to put back claude's old config; Restore opens the same review
    (masked diff) as `u` on the Agents screen; y writes it and the ledger follows the files."""
    from capit_tui.tui.modals.confirm import ConfirmScreen
    from capit_tui.tui.modals.restore_review import RestoreReviewScreen
    from capit_tui.tui.widgets.diff_view import DiffView

    w = install(sb, isolated_home)
    codex_installed = w.codex.read_bytes()
    app = app_for(sb, w)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        keys = table(app, "#keys")
        keys.move_cursor(row=keys.get_row_index("openrouter\x1f" + w.key_ids["claude"]))
        assert app.screen.selected().id == w.key_ids["claude"]
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen) and "Restore" in app.screen.title_text
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, RestoreReviewScreen)
        diff = app.screen.query_one(DiffView)._diff
        assert "~/.claude/settings.json" in diff and w.secrets["claude"] not in diff
        assert w.claude.read_bytes() != CLAUDE_BEFORE  # nothing written before y
        await pilot.press("y")
        await settle(pilot)
    assert w.claude.read_bytes() == CLAUDE_BEFORE
    assert w.codex.read_bytes() == codex_installed
    assert w.ledger.current()["claude"].key_id == ""  # the ledger says what the files say: no capit key
    assert w.ledger.holders("openrouter", w.key_ids["codex"]) == ["codex"]


async def test_u_restore_offers_to_revoke_the_key_it_removed(sb, isolated_home):
    """u, y: claude's capit key leaves its files and no agent holds it; the offer names it, y revokes it on the
    platform (through the Keys screen's revoke), and the ledger marks it revoked."""
    from capit_tui.tui.modals.confirm import ConfirmScreen

    w = install(sb, isolated_home)
    app = app_for(sb, w)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mode(pilot, "2")
        assert app.screen.selected().name == "claude"
        await pilot.press("u")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        body = " ".join(app.screen.body)
        assert "capit-claude-20261121 ($5.00 monthly cap) was in claude's files" in body
        assert "no agent holds it now" in body and w.secrets["claude"] not in body
        assert w.key_ids["claude"] in sb.keys
        await pilot.press("y")
        await settle(pilot)
        assert w.key_ids["claude"] not in sb.keys and w.key_ids["codex"] in sb.keys
        assert all(i.revoked for i in w.ledger.installs_of("openrouter", w.key_ids["claude"]))
