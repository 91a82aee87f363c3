"""A LiteLLM proxy in the app: onboarding offers it, and a key refused over its budget shows as capped."""

from __future__ import annotations

import os
from decimal import Decimal

import httpx
import pytest
from litellm_server import LiteLLMServer
from test_tui_platforms_onboarding import check_text, keyring_entries, type_key
from textual.widgets import Input, Select
from tui_support import make_app, settle

from capit_tui.core.keys import Configured
from capit_tui.core.settings import PlatformConfig
from capit_tui.tui.widgets.key_table import KeyTable
from capit_tui.tui.widgets.platform_form import LITELLM


@pytest.fixture
def proxy():
    with LiteLLMServer(cost_per_call=Decimal("0.25")) as s:
        yield s


async def test_onboarding_offers_a_litellm_proxy_and_refuses_a_plain_virtual_key(proxy, isolated_home):
    plain, _ = proxy.add_key("agent-key")
    app = make_app(None, isolated_home)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        labels = [str(o.prompt) for o in screen.query_one("#platform-choice").options]
        assert any("LiteLLM proxy" in text and "self-hosted" in text for text in labels)
        await pilot.press("down", "down", "down", "enter")
        await pilot.pause()
        assert screen.step == "step-key" and screen.choice == LITELLM
        assert screen.query_one("#gw-kind", Select).value == "litellm"
        assert screen.query_one("#gw-name", Input).value == "litellm"
        assert "master key" in str(screen.query_one("#key-help").render())
        await type_key(pilot, proxy.url, "#gw-url")
        await type_key(pilot, plain)
        await pilot.press("enter")
        await settle(pilot)
        assert "plain virtual key" in check_text(screen) and plain not in check_text(screen)
        assert screen.step == "step-key" and keyring_entries() == {}
        await type_key(pilot, proxy.master_key)
        await pilot.press("enter")
        await settle(pilot)
        assert screen.step == "step-store"
        await pilot.press("enter")
        await settle(pilot)
        assert [(c.name, c.config.kind) for c in app.platforms] == [("litellm", "litellm")]
        saved = (isolated_home / ".config" / "capit-tui" / "settings.toml").read_text()
        assert "[platforms.litellm]" in saved and 'kind = "litellm"' in saved and proxy.url in saved
        assert keyring_entries() == {"litellm:management-key": proxy.master_key}


async def test_a_key_refused_over_its_budget_shows_capped_in_the_keys_table(proxy, isolated_home):
    secret, _ = proxy.add_key("capit-claude", max_budget=0.5, budget_duration="1d")
    proxy.add_key("capit-codex", max_budget=5.0, budget_duration="7d")
    chat = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
    codes = [httpx.post(f"{proxy.url}/v1/chat/completions", json=chat,
                        headers={"Authorization": f"Bearer {secret}"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]  # the proxy refused it: budget_exceeded
    app = make_app(None, isolated_home)
    app.platforms = [Configured(PlatformConfig("proxy", "litellm", proxy.url), "env", proxy.master_key)]
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#keys", KeyTable)
        assert table.row_count == 2
        lines = [table.render_line(y).text for y in range(table.size.height)]
        (claude,) = [line for line in lines if "capit-claude" in line]
        (codex,) = [line for line in lines if "capit-codex" in line]
        assert "capped" in claude and "100%" in claude and "$0.50/day" in claude
        assert "active" in codex and "$5.00/wk" in codex
        assert secret not in "\n".join(lines) and os.environ.get("CAPIT_PROXY_MANAGEMENT_KEY") is None


async def test_the_new_key_form_offers_the_models_the_proxy_routes(proxy, isolated_home):
    from test_tui_issue import open_form

    from capit_tui.tui.newkey.form import NewKeyScreen

    app = make_app(None, isolated_home)
    app.platforms = [Configured(PlatformConfig("proxy", "litellm", proxy.url), "env", proxy.master_key)]
    async with app.run_test(size=(120, 36)) as pilot:
        form = await open_form(pilot)
        assert isinstance(form, NewKeyScreen)
        await settle(pilot)
        hint = str(form.query_one("#model-hint").render())
        assert hint == "proxy routes: claude-sonnet-4-5, gpt-4o-mini, gpt-5.1-codex. Type to complete one."
        assert len(proxy.calls("GET", "/v1/models")) == 1  # asked once, with the management key
        box = form.query_one("#model", Input)
        assert box.suggester is not None and await box.suggester.get_suggestion("gpt-5") == "gpt-5.1-codex"
        assert form.query_one("#reset").value == "monthly" and not form.query_one("#reset").disabled


async def test_the_form_says_when_the_proxy_cannot_list_its_models(proxy, isolated_home):
    from test_tui_issue import open_form

    proxy.inject("GET", "/v1/models", 401, json_body={"error": {"message": "no", "type": "auth_error",
                                                                 "code": "401"}})
    app = make_app(None, isolated_home)
    app.platforms = [Configured(PlatformConfig("proxy", "litellm", proxy.url), "env", proxy.master_key)]
    async with app.run_test(size=(120, 36)) as pilot:
        form = await open_form(pilot)
        await settle(pilot)
        assert "Could not list proxy's models (key rejected)" in str(form.query_one("#model-hint").render())
        assert form.query_one("#model", Input).suggester is None
