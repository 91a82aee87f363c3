"""First-run onboarding and the Platforms screen, driven as a user would, against the loopback sandbox.

Snapshots run the sandbox on a fixed port (one per test, from its name) so the base URLs they show are the
same on every run; a snapshot test is skipped, not failed, if that port is taken on this machine.
"""

from __future__ import annotations

import json
import os
import stat
import zlib
from pathlib import Path

import pytest
from textual.widgets import Button, Checkbox, DataTable, Input, Select
from tui_support import make_app, sandbox, settle

from capit_tui.core import vault
from capit_tui.core.keys import Configured
from capit_tui.core.settings import PlatformConfig
from capit_tui.sandbox import Sandbox
from capit_tui.tui.app import CapitApp
from capit_tui.tui.modals.add_platform import AddPlatformScreen
from capit_tui.tui.modals.confirm import ConfirmScreen
from capit_tui.tui.screens.onboarding import EMPTY_HINT, OnboardingScreen
from capit_tui.tui.screens.platforms import PlatformsScreen
from capit_tui.tui.widgets.platform_form import CUSTOM, CheckLine

SIZES = {"80x24": (80, 24), "160x45": (160, 45)}
RANDOM_KEY = "sk-or-v1-" + "0123456789abcdef" * 4


@pytest.fixture
def sb(monkeypatch):
    s = sandbox()
    monkeypatch.setenv("CAPIT_OPENROUTER_BASE_URL", s.base_url)
    yield s
    s.stop()


@pytest.fixture
def fixed_sb(request, monkeypatch):
    """A sandbox on a port fixed by the test's name, so snapshots showing its URL never change."""
    port = 21000 + zlib.crc32(request.node.name.encode()) % 8000  # below the ephemeral range
    try:
        s = sandbox(port=port)
    except OSError:
        pytest.skip(f"port {port} is in use; this snapshot needs a fixed port")
    monkeypatch.setenv("CAPIT_OPENROUTER_BASE_URL", s.base_url)
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _aihubmix_on_loopback(request, monkeypatch):
    """Nothing here may reach the internet: a stray AIHubMix check hits a closed loopback port.
    (Snapshots keep the preset's real URL on screen; they never check an AIHubMix key.)"""
    if "snap_compare" not in request.fixturenames:
        monkeypatch.setenv("CAPIT_AIHUBMIX_BASE_URL", "http://127.0.0.1:9")


@pytest.fixture
def new_key_calls(monkeypatch):
    """The new-key form belongs to another screen: record that onboarding opens it."""
    calls: list[tuple] = []
    monkeypatch.setattr(CapitApp, "action_new_key", lambda self, agents=(): calls.append(tuple(agents)))
    return calls


@pytest.fixture
def no_keyring(monkeypatch):
    import keyring.core

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    keyring.core._keyring_backend = None
    yield
    keyring.core._keyring_backend = None


def keyring_entries() -> dict:
    path = Path(os.environ["CAPIT_TEST_KEYRING_FILE"])
    if not path.exists():
        return {}
    return json.loads(path.read_text() or "{}").get(vault.SERVICE, {})


def check_text(screen, selector: str = "#check") -> str:
    return str(screen.query_one(selector, CheckLine).query_one("Static").render())


async def type_key(pilot, text: str, selector: str = "#key") -> None:
    """Paste `text` into an input (as a terminal paste: one event, not a key per character)."""
    from textual import events

    box = pilot.app.screen.query_one(selector, Input)
    box.value = ""
    box.focus()
    box.post_message(events.Paste(text))
    await pilot.pause()
    assert box.value == text


async def to_key_step(pilot) -> OnboardingScreen:
    """From the start of onboarding, pick OpenRouter (the first choice)."""
    screen = pilot.app.screen
    assert isinstance(screen, OnboardingScreen)
    await pilot.press("enter")
    await pilot.pause()
    assert screen.step == "step-key"
    return screen


async def check_key(pilot, key: str) -> None:
    await type_key(pilot, key)
    await pilot.press("enter")
    await settle(pilot)


# ---------------------------------------------------------------- the shared core (no Textual)


def test_setup_resolve_checks_names_kinds_and_urls():
    from capit_tui.core import platform_setup as setup
    from capit_tui.core.settings import Settings

    s = Settings()
    with pytest.raises(setup.SetupError, match="lower-case"):
        setup.resolve(s, "Bad Name!")
    with pytest.raises(setup.SetupError, match="kind and base URL"):
        setup.resolve(s, "gateway")
    with pytest.raises(setup.SetupError, match="http://"):
        setup.resolve(s, "gateway", kind="oneapi", base_url="gateway.example.com")
    cfg = setup.resolve(s, "Gateway", kind="oneapi", base_url="https://gw.example.com/", user_id=" 7 ")
    assert (cfg.name, cfg.base_url, cfg.quota_per_usd, cfg.user_id) == ("gateway", "https://gw.example.com",
                                                                         500_000, "7")
    assert setup.resolve(s, "openrouter").manage_url.startswith("https://openrouter.ai/")


def test_setup_saves_settings_only_for_what_the_presets_and_env_do_not_say(monkeypatch):
    from dataclasses import replace

    from capit_tui.core import platform_setup as setup
    from capit_tui.core.settings import Settings

    monkeypatch.setenv("CAPIT_OPENROUTER_BASE_URL", "http://127.0.0.1:1/api/v1")
    s = Settings()
    moved = s.known_platforms()["openrouter"]
    assert moved.base_url == "http://127.0.0.1:1/api/v1" and not setup.should_save(s, moved)
    assert setup.should_save(s, replace(moved, user_id="42"))
    assert setup.should_save(s, PlatformConfig("lab", "oneapi", "https://lab.example.com"))


def test_setup_store_then_remove_round_trip(monkeypatch):
    from capit_tui.core import platform_setup as setup
    from capit_tui.core.settings import Settings, load

    s = Settings()
    cfg = setup.resolve(s, "lab", kind="openrouter", base_url="http://127.0.0.1:1/api/v1")
    added = setup.store(s, cfg, " sk-or-v1-" + "ab" * 32 + "\n")
    assert added.platform.source == "keyring" and not added.env_overrides
    assert "lab" in load().platforms and keyring_entries() == {"lab:management-key": "sk-or-v1-" + "ab" * 32}
    assert [st.source for st in setup.statuses(load()) if st.name == "lab"] == ["keyring"]
    removed = setup.remove(load(), "lab")
    assert removed.removed_from == ["the system keyring", "settings.toml"]
    assert keyring_entries() == {} and "lab" not in load().platforms
    assert "Nothing" not in removed.sentence() and "keep working" in removed.sentence()
    with pytest.raises(setup.SetupError, match="Unknown platform"):
        setup.remove(load(), "lab")


# ---------------------------------------------------------------- onboarding


async def test_onboarding_shows_each_wrong_key_inline_then_stores_the_right_one(sb, isolated_home, new_key_calls):
    app = make_app(None, isolated_home)
    inference_key, _ = sb.add_key("an-inference-key", limit="5")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await to_key_step(pilot)
        assert "openrouter.ai/settings/management-keys" in str(screen.query_one("#key-help").render())

        await check_key(pilot, inference_key)
        text = check_text(screen)
        assert "inference key, not a management key" in text
        assert "https://openrouter.ai/settings/management-keys" in text
        assert inference_key not in text and screen.step == "step-key"

        await check_key(pilot, RANDOM_KEY)
        text = check_text(screen)
        assert "rejected the management key (401" in text and RANDOM_KEY not in text
        assert screen.step == "step-key" and keyring_entries() == {}

        await check_key(pilot, sb.management_key)
        assert screen.step == "step-store"
        assert keyring_entries() == {}, "nothing is stored before the storage step is confirmed"
        assert app.focused is screen.query_one("#store", Button)
        await pilot.press("enter")
        await settle(pilot)

        assert keyring_entries() == {"openrouter:management-key": sb.management_key}
        assert [(c.name, c.source) for c in app.platforms] == [("openrouter", "keyring")]
        assert len(app.spend.keys) == 13  # the 12 seeded keys and the inference key: they loaded
        assert screen.step == "step-agents"
        assert not (isolated_home / ".config" / "capit-tui" / "settings.toml").exists(), \
            "a preset moved only by CAPIT_OPENROUTER_BASE_URL is not written to settings"

        await pilot.press("enter")  # "Issue your first capped key"
        await pilot.pause()
        assert new_key_calls == [()]
        assert not isinstance(app.screen, OnboardingScreen)


async def test_the_last_step_opens_the_real_new_key_form(sb, isolated_home):
    from capit_tui.tui.newkey.form import NewKeyScreen

    app = make_app(None, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await to_key_step(pilot)
        await check_key(pilot, sb.management_key)
        await pilot.press("enter")  # Store
        await settle(pilot)
        await pilot.click("#issue")
        await settle(pilot)
        assert isinstance(app.screen, NewKeyScreen)


async def test_esc_after_a_passed_check_stores_nothing(sb, isolated_home):
    app = make_app(None, isolated_home)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        screen = await to_key_step(pilot)
        await check_key(pilot, sb.management_key)
        assert screen.step == "step-store"
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, OnboardingScreen)
        assert app.screen.__class__.__name__ == "KeysScreen"
        assert keyring_entries() == {}
        assert vault.lookup("openrouter") is None
        assert not vault.credentials_path().exists()
        assert app.platforms == []
        assert any(n.message == EMPTY_HINT for n in app._notifications)


async def test_esc_at_the_first_step_leaves_without_a_trace(sb, isolated_home):
    app = make_app(None, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, OnboardingScreen)
        assert keyring_entries() == {} and not (isolated_home / ".config" / "capit-tui").exists()


async def test_back_from_storage_then_a_changed_key_must_be_checked_again(sb, isolated_home):
    app = make_app(None, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await to_key_step(pilot)
        await check_key(pilot, sb.management_key)
        await pilot.click("#store-back")
        await pilot.pause()
        assert screen.step == "step-key" and screen.checked is None
        await check_key(pilot, RANDOM_KEY)
        assert screen.step == "step-key" and "rejected" in check_text(screen)
        assert keyring_entries() == {}


async def test_no_keyring_needs_consent_then_writes_a_0600_file(sb, isolated_home, no_keyring):
    assert not vault.keyring_status()[0]
    app = make_app(None, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await to_key_step(pilot)
        await check_key(pilot, sb.management_key)
        assert screen.step == "step-store"
        consent = screen.query_one("#consent", Checkbox)
        store = screen.query_one("#store", Button)
        assert consent.display and not consent.value and store.disabled
        assert "no system keyring" in str(screen.query_one("#storage-text").render()).lower()
        assert app.focused is consent
        screen.store()  # even when forced, nothing is stored without consent
        await pilot.pause()
        assert not vault.credentials_path().exists()
        assert "Nothing was stored" in check_text(screen, "#store-result")

        await pilot.press("space")  # tick the box
        await pilot.pause()
        assert consent.value and not store.disabled
        await pilot.click("#store")
        await settle(pilot)
        path = vault.credentials_path()
        assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert sb.management_key in path.read_text()
        assert [(c.name, c.source) for c in app.platforms] == [("openrouter", "file")]
        assert screen.step == "step-agents"
        assert "mode 0600" in str(screen.query_one("#ready").render())


async def test_onboarding_custom_gateway_is_saved_to_settings(sb, isolated_home):
    app = make_app(None, isolated_home)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        assert screen.step == "step-key" and screen.choice == CUSTOM
        screen.query_one("#gw-kind", Select).value = "openrouter"
        await type_key(pilot, "Bad Name", "#gw-name")
        await type_key(pilot, sb.management_key)
        await pilot.press("enter")
        await settle(pilot)
        assert "lower-case" in check_text(screen)
        await type_key(pilot, "lab", "#gw-name")
        await type_key(pilot, sb.origin + "/api/v1", "#gw-url")
        await type_key(pilot, sb.management_key)
        await pilot.press("enter")
        await settle(pilot)
        assert screen.step == "step-store"
        await pilot.press("enter")
        await settle(pilot)
        assert [c.name for c in app.platforms] == ["lab"]
        saved = (isolated_home / ".config" / "capit-tui" / "settings.toml").read_text()
        assert "[platforms.lab]" in saved and sb.origin in saved
        assert keyring_entries() == {"lab:management-key": sb.management_key}


# ---------------------------------------------------------------- the Platforms screen


def rows(app) -> dict[str, list[str]]:
    t = app.screen.query_one("#platforms", DataTable)
    return {str(k.value): [str(c) for c in t.get_row(k)] for k in t.rows}


def status(app) -> str:
    return str(app.screen.query_one("#status").render())


async def open_platforms(pilot) -> PlatformsScreen:
    await pilot.press("3")
    await settle(pilot)
    assert isinstance(pilot.app.screen, PlatformsScreen)
    return pilot.app.screen


async def test_platforms_add_test_remove(sb, isolated_home):
    app = make_app(None, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape")  # skip onboarding
        await open_platforms(pilot)
        r = rows(app)
        assert list(r) == ["openrouter", "aihubmix"]
        assert r["openrouter"][2] == "-" and r["openrouter"][3] == "-"

        await pilot.press("a")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, AddPlatformScreen) and modal.choice == "openrouter"
        await type_key(pilot, RANDOM_KEY)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, AddPlatformScreen)
        assert "rejected the management key" in check_text(modal)
        assert keyring_entries() == {}
        await type_key(pilot, sb.management_key)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PlatformsScreen)
        assert keyring_entries() == {"openrouter:management-key": sb.management_key}
        assert [c.name for c in app.platforms] == ["openrouter"]
        r = rows(app)
        assert r["openrouter"][2] == "keyring"
        assert r["openrouter"][3].startswith("$") and r["openrouter"][4] == "12"
        assert "openrouter is ready" in status(app)

        await pilot.press("t")
        await settle(pilot)
        assert "openrouter: management key OK (from keyring); 12 keys; balance $" in status(app)

        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert keyring_entries() != {}
        await pilot.press("d", "y")
        await settle(pilot)
        assert keyring_entries() == {}
        assert app.platforms == []
        assert rows(app)["openrouter"][2] == "-"
        assert "Removed openrouter from the system keyring" in status(app)


async def test_platforms_add_a_new_gateway_and_remove_it_from_settings(sb, isolated_home):
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_platforms(pilot)
        await pilot.press("a")
        await pilot.pause()
        modal = app.screen
        assert modal.choice == "aihubmix"  # the first platform without a key
        modal.query_one("#platform", Select).value = CUSTOM
        await pilot.pause()
        assert modal.query_one("#gateway").display
        modal.query_one("#gw-kind", Select).value = "openrouter"
        await type_key(pilot, "openrouter", "#gw-name")
        await type_key(pilot, sb.management_key)
        await pilot.press("enter")
        await settle(pilot)
        assert "already known" in check_text(modal)
        await type_key(pilot, "lab", "#gw-name")
        await type_key(pilot, "ftp://nope", "#gw-url")
        await pilot.click("#add")
        await settle(pilot)
        assert "http://" in check_text(modal)
        await type_key(pilot, sb.base_url, "#gw-url")
        await pilot.click("#add")
        await settle(pilot)
        assert isinstance(app.screen, PlatformsScreen)
        assert [c.name for c in app.platforms] == ["lab", "openrouter"]
        assert "[platforms.lab]" in (isolated_home / ".config" / "capit-tui" / "settings.toml").read_text()
        assert rows(app)["lab"][2] == "keyring"

        screen.table.move_cursor(row=screen.table.get_row_index("lab"))
        await pilot.press("d", "y")
        await settle(pilot)
        assert "lab" not in rows(app)
        assert "[platforms.lab]" not in (isolated_home / ".config" / "capit-tui" / "settings.toml").read_text()
        assert [c.name for c in app.platforms] == ["openrouter"]


async def test_add_without_a_keyring_stores_nothing_until_the_box_is_ticked(sb, isolated_home, no_keyring):
    app = make_app(None, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape")
        await open_platforms(pilot)
        await pilot.press("a")
        await pilot.pause()
        modal = app.screen
        consent = modal.query_one("#consent", Checkbox)
        assert consent.display and not consent.value
        await type_key(pilot, sb.management_key)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, AddPlatformScreen)
        assert "The key works. Nothing was stored" in check_text(modal)
        assert not vault.credentials_path().exists()
        consent.value = True
        await pilot.click("#add")
        await settle(pilot)
        assert isinstance(app.screen, PlatformsScreen)
        path = vault.credentials_path()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert rows(app)["openrouter"][2] == "file"


async def test_an_env_key_cannot_be_removed_here(sb, isolated_home, monkeypatch):
    monkeypatch.setenv(vault.env_var("openrouter"), sb.management_key)
    app = make_app(None, isolated_home)
    app.platforms = [Configured(PlatformConfig("openrouter", "openrouter", sb.base_url), "env", sb.management_key)]
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_platforms(pilot)
        assert rows(app)["openrouter"][2] == "env"
        await pilot.press("d")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert "CAPIT_OPENROUTER_MANAGEMENT_KEY" in status(app) and "cannot remove" in status(app)
        assert len(app.platforms) == 1


async def test_a_balance_error_shows_in_the_row_and_the_status(sb, isolated_home):
    sb.inject_fault("GET /api/v1/credits", "500", times=0)
    app = make_app(sb, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_platforms(pilot)
        assert "server error" in rows(app)["openrouter"][3]
        assert "openrouter had a server error (500)" in status(app)
        assert rows(app)["openrouter"][4] == "12"  # the keys still load
        sb.clear_faults()
        await pilot.press("r")
        await settle(pilot)
        assert rows(app)["openrouter"][3].startswith("$")
        assert "⚠" not in status(app)


# ---------------------------------------------------------------- snapshots


def detected_agents(home: Path) -> None:
    """Two agents 'installed' under the test HOME, so the agents step has something to show."""
    (home / ".claude").mkdir()
    (home / ".codex").mkdir()


async def _onboarding_to(pilot, sb: Sandbox, step: str) -> None:
    await settle(pilot)
    if step == "platform":
        return
    await pilot.press("enter")
    await pilot.pause()
    if step == "key-error":
        await check_key(pilot, RANDOM_KEY)
        return
    if step == "checking":  # the platform has not answered yet: the spinner (frozen) and what it waits for
        sb.inject_fault("GET /api/v1/key", "stall", times=0, stall_seconds=20)
        await type_key(pilot, sb.management_key)
        await pilot.press("enter")
        line = pilot.app.screen.query_one("#check", CheckLine)
        for _ in range(100):
            if line.busy:
                break
            await pilot.pause(0.01)
        assert line.busy
        return
    await check_key(pilot, sb.management_key)
    if step == "store":
        return
    await pilot.press("enter")  # Store (keyring)
    await settle(pilot)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("step", ["platform", "checking", "key-error", "store", "agents"])
def test_snapshot_onboarding(step, size, fixed_sb, isolated_home, snap_compare, monkeypatch):
    from rich.text import Text
    from textual.widgets import LoadingIndicator

    monkeypatch.setattr(LoadingIndicator, "render", lambda self: Text("● ● ●"))  # a spinner that holds still
    detected_agents(isolated_home)
    app = make_app(None, isolated_home)

    async def run_before(pilot) -> None:
        await _onboarding_to(pilot, fixed_sb, step)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", list(SIZES))
def test_snapshot_onboarding_no_keyring(size, fixed_sb, isolated_home, no_keyring, snap_compare):
    app = make_app(None, isolated_home)

    async def run_before(pilot) -> None:
        await _onboarding_to(pilot, fixed_sb, "store")

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("state", ["loaded", "balance-error"])
def test_snapshot_platforms(state, size, fixed_sb, isolated_home, snap_compare):
    if state == "balance-error":
        fixed_sb.inject_fault("GET /api/v1/credits", "500", times=0)
    app = make_app(fixed_sb, isolated_home)

    async def run_before(pilot) -> None:
        await settle(pilot)
        await open_platforms(pilot)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("form", ["error", "gateway"])
def test_snapshot_add_platform(form, size, fixed_sb, isolated_home, snap_compare):
    app = make_app(fixed_sb, isolated_home)

    async def run_before(pilot) -> None:
        await settle(pilot)
        await open_platforms(pilot)
        await pilot.press("a")
        await pilot.pause()
        if form == "error":
            pilot.app.screen.query_one("#platform", Select).value = "openrouter"
            await pilot.pause()
            await type_key(pilot, RANDOM_KEY)
            await pilot.press("enter")
        else:
            pilot.app.screen.query_one("#platform", Select).value = CUSTOM
            await pilot.pause()
            await type_key(pilot, "mygateway", "#gw-name")
            await type_key(pilot, "https://gateway.example.com", "#gw-url")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)
