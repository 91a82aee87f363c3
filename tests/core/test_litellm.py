"""LiteLLMPlatform against a loopback LiteLLM-compatible proxy (tests/support/litellm_server.py), over real HTTP,
every call checked against the proxy's own OpenAPI subset (tests/data/litellm-openapi-subset.yaml)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
from contract_transport import ContractTransport
from litellm_server import LiteLLMServer, hash_token, next_reset
from openapi_contract import LITELLM

from capit_tui.core.settings import PlatformConfig
from capit_tui.platforms import adapter_class, make_platform
from capit_tui.platforms.base import (
    AuthRejected,
    BadRequest,
    CreateUncertain,
    NotFound,
    NotManagementKey,
    Unsupported,
)
from capit_tui.platforms.http import RetryPolicy
from capit_tui.platforms.litellm import LiteLLMPlatform
from capit_tui.platforms.litellm_wire import next_reset as key_next_reset


@pytest.fixture
def proxy():
    with LiteLLMServer() as s:
        yield s


async def _no_sleep(_: float) -> None:
    return None


def make(srv: LiteLLMServer, *, key: str | None = None, transport: Any = None,
         **kw: Any) -> LiteLLMPlatform:
    return LiteLLMPlatform("proxy", srv.url, srv.master_key if key is None else key, transport=transport,
                           retry=RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.001, max_retry_after=5),
                           sleep=_no_sleep, timeout=5.0, remember_count=False, **kw)


def run(srv: LiteLLMServer, body: Callable[[LiteLLMPlatform], Awaitable[Any]], **kw: Any) -> Any:
    async def go() -> Any:
        async with make(srv, **kw) as p:
            return await body(p)
    return asyncio.run(go())


# ---------------------------------------------------------------- the contract


def test_every_call_matches_the_proxys_openapi(proxy: LiteLLMServer) -> None:
    transport = ContractTransport(contract=LITELLM)
    proxy.add_key("existing", max_budget=5.0, budget_duration="7d", spend=1.25)

    async def every_call(p: LiteLLMPlatform) -> None:
        await p.check_management_key()
        issued = await p.create_key("capit-claude", Decimal("2.50"), "daily",
                                    expires_at=datetime.now(timezone.utc) + timedelta(days=30), models=["gpt-4o-mini"])
        await p.list_keys()
        await p.get_key(issued.key.id)
        await p.update_key(issued.key.id, name="capit-claude-2", limit=Decimal(3), reset="monthly")
        await p.update_key(issued.key.id, disabled=True)
        await p.update_key(issued.key.id, disabled=False)
        await p.delete_key(issued.key.id)
        with pytest.raises(NotFound):
            await p.get_key(issued.key.id)

    run(proxy, every_call, transport=transport)
    sent = set(transport.sent)
    assert sent == {("GET", "/key/info"), ("GET", "/key/list"), ("POST", "/key/generate"), ("POST", "/key/update"),
                    ("POST", "/key/block"), ("POST", "/key/unblock"), ("POST", "/key/delete")}
    # every reply read was JSON and checked (a page the listing window cancelled is sent but never read)
    assert transport.checked >= len(transport.sent) - 4 and transport.checked >= len(sent)


def test_the_servers_replies_match_the_contract(proxy: LiteLLMServer) -> None:
    secret, row = proxy.add_key("a", max_budget=1.0, budget_duration="30d")
    auth = {"Authorization": f"Bearer {proxy.master_key}"}
    with httpx.Client(base_url=proxy.url, headers=auth) as c:
        listed = c.get("/key/list", params={"page": 1, "size": 100, "return_full_object": "true"})
        LITELLM.validate_response("GET", "/key/list", 200, listed.json())
        hashes = c.get("/key/list", params={"page": 1, "size": 2})
        LITELLM.validate_response("GET", "/key/list", 200, hashes.json())
        assert hashes.json()["keys"] == [row["token"]]
        body = {"key_alias": "b", "max_budget": 2, "budget_duration": "1d", "metadata": {"created_by": "capit-tui"}}
        LITELLM.validate_request("POST", "/key/generate", None, body)
        made = c.post("/key/generate", json=body)
        LITELLM.validate_response("POST", "/key/generate", 200, made.json())
        blocked = c.post("/key/block", json={"key": secret})
        LITELLM.validate_response("POST", "/key/block", 200, blocked.json())
        LITELLM.validate_component("LiteLLM_VerificationToken", blocked.json())
        too_big = c.get("/key/list", params={"size": 101})
        assert too_big.status_code == 422
        LITELLM.validate_response("GET", "/key/list", 422, too_big.json())
    with pytest.raises(AssertionError):  # the contract says size <= 100: the validator holds us to it
        LITELLM.validate_request("GET", "/key/list", {"size": "101"}, None)


# ---------------------------------------------------------------- the key we hold


def test_master_key_and_admin_virtual_key_manage_plain_virtual_key_is_refused(proxy: LiteLLMServer) -> None:
    info = run(proxy, lambda p: p.check_management_key())
    assert info.is_management_key and info.label == "master key"
    admin, _ = proxy.add_key("ops-admin", admin=True)
    assert run(proxy, lambda p: p.check_management_key(), key=admin).label == "ops-admin"
    plain, _ = proxy.add_key("agent-key")
    with pytest.raises(NotManagementKey) as err:
        run(proxy, lambda p: p.check_management_key(), key=plain)
    text = str(err.value)
    assert "plain virtual key" in text and "master key" in text and plain not in text
    assert text.count(". ") == 0 and text.endswith(".")  # one sentence
    with pytest.raises(AuthRejected) as rejected:
        run(proxy, lambda p: p.check_management_key(), key="sk-" + "x" * 22)
    assert "x" * 22 not in str(rejected.value)


def test_endpoints_follow_the_base_url() -> None:
    p = LiteLLMPlatform("proxy", "https://litellm.example.com/v1/", "sk-master-key-0000")
    assert p.base_url == "https://litellm.example.com"
    assert p.openai_base_url == "https://litellm.example.com/v1"  # OpenAI-style clients
    assert p.anthropic_base_url == "https://litellm.example.com"  # Claude Code adds /v1/messages
    assert adapter_class("litellm") is LiteLLMPlatform and LiteLLMPlatform.reset_periods == ("daily", "weekly",
                                                                                           "monthly")
    made = make_platform(PlatformConfig("lab", "litellm", "http://127.0.0.1:4000"), "sk-master-key-0000")
    assert isinstance(made, LiteLLMPlatform) and made.openai_base_url == "http://127.0.0.1:4000/v1"


def test_models_come_from_the_proxy(proxy: LiteLLMServer) -> None:
    assert run(proxy, lambda p: p.list_models()) == sorted(proxy.models)


# ---------------------------------------------------------------- listing


def test_fields_map_to_a_capped_key(proxy: LiteLLMServer) -> None:
    expires = datetime(2031, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    secret, row = proxy.add_key("day", max_budget=2.0, budget_duration="1d", spend=0.5, expires=expires)
    proxy.add_key("week", max_budget=10.0, budget_duration="7d", spend=10.0)
    proxy.add_key("month", max_budget=30.0, budget_duration="30d", blocked=True)
    proxy.add_key("odd", max_budget=1.0, budget_duration="12h", spend=0.25)
    proxy.add_key("free", spend=3.0)
    keys = {k.name: k for k in run(proxy, lambda p: p.list_keys())}
    day = keys["day"]
    assert (day.limit, day.limit_reset, day.spent, day.remaining, day.status) == (
        Decimal(2), "daily", Decimal("0.5"), Decimal("1.50"), "active")
    assert day.expires_at == expires and day.id == hash_token(secret) == row["token"]
    assert key_next_reset(day) == datetime.fromisoformat(row["budget_reset_at"])
    assert day.label == f"sk-...{secret[-4:]}" and secret not in repr(day) + str(day.to_json())
    assert (keys["week"].limit_reset, keys["week"].status, keys["week"].percent) == ("weekly", "capped", 100)
    assert (keys["month"].limit_reset, keys["month"].status) == ("monthly", "disabled")
    assert keys["odd"].limit_reset == "12h" and keys["odd"].spent == Decimal("0.25")  # shown as it is
    assert (keys["free"].limit, keys["free"].limit_reset, keys["free"].spent) == (None, None, Decimal(3))


@pytest.mark.parametrize("count", [0, 100, 250, 1000, 1001])
def test_listing_pages_past_100_and_1000_keys(proxy: LiteLLMServer, count: int) -> None:
    for i in range(count):
        proxy.add_key(f"k{i}", max_budget=1.0)
    keys = run(proxy, lambda p: p.list_keys())
    assert sorted(k.name for k in keys) == sorted(f"k{i}" for i in range(count))
    pages = proxy.calls("GET", "/key/list")
    assert all(r.query["size"] == ["100"] and r.query["return_full_object"] == ["true"] for r in pages)
    asked = sorted(int(r.query["page"][0]) for r in pages)
    assert asked[: count // 100 + 1] == list(range(1, count // 100 + 2))  # every page, 1-based
    assert len(asked) <= count // 100 + 1 + 8  # the window speculates a few pages past the end, no more


def test_listing_windows_pages_concurrently(proxy: LiteLLMServer) -> None:
    for i in range(1000):
        proxy.add_key(f"k{i}")
    proxy.latency = 0.05
    started = asyncio.run(_timed(proxy))
    assert started < 1.5  # 11 pages at 50 ms each one after another would take 0.55 s + retries; in a window ~0.2 s


async def _timed(proxy: LiteLLMServer) -> float:
    loop = asyncio.get_running_loop()
    async with make(proxy) as p:
        t = loop.time()
        assert len(await p.list_keys()) == 1000
        return loop.time() - t


# ---------------------------------------------------------------- create, update, block, delete


def test_create_sends_what_the_issue_lists_and_returns_the_secret_once(proxy: LiteLLMServer) -> None:
    expires = datetime.now(timezone.utc) + timedelta(days=30)
    issued = run(proxy, lambda p: p.create_key("capit-codex", Decimal("5.00"), "weekly", expires_at=expires,
                                                 models=["gpt-5.1-codex"]))
    (call,) = proxy.calls("POST", "/key/generate")
    assert call.body["key_alias"] == "capit-codex" and call.body["max_budget"] == 5
    assert call.body["budget_duration"] == "7d" and call.body["metadata"] == {"created_by": "capit-tui"}
    assert call.body["models"] == ["gpt-5.1-codex"]
    assert 30 * 86400 - 60 <= int(call.body["duration"].removesuffix("s")) <= 30 * 86400
    assert issued.secret.startswith("sk-") and issued.key.id == hash_token(issued.secret)
    assert (issued.key.limit, issued.key.limit_reset, issued.key.name) == (Decimal(5), "weekly", "capit-codex")
    assert issued.secret not in repr(issued)
    plain = run(proxy, lambda p: p.create_key("uncapped", None, None))
    body = proxy.calls("POST", "/key/generate")[-1].body
    assert body["max_budget"] is None and body["budget_duration"] is None and "models" not in body
    assert plain.key.limit is None
    for reset, duration in (("daily", "1d"), ("monthly", "30d")):
        run(proxy, lambda p, r=reset: p.create_key(f"r-{r}", Decimal(1), r))
        assert proxy.calls("POST", "/key/generate")[-1].body["budget_duration"] == duration


def test_create_refusals(proxy: LiteLLMServer) -> None:
    with pytest.raises(BadRequest):
        run(proxy, lambda p: p.create_key("  ", Decimal(1), None))
    with pytest.raises(BadRequest):
        run(proxy, lambda p: p.create_key("zero", Decimal(0), None))
    with pytest.raises(Unsupported):
        run(proxy, lambda p: p.create_key("hourly", Decimal(1), "hourly"))
    run(proxy, lambda p: p.create_key("taken", Decimal(1), None))
    with pytest.raises(BadRequest) as err:
        run(proxy, lambda p: p.create_key("taken", Decimal(1), None))
    assert "already exists" in str(err.value)
    assert not proxy.calls("POST", "/key/generate")[0].body["key_alias"] == "  "


def test_a_lost_create_reply_is_not_retried_and_the_orphan_is_deleted(proxy: LiteLLMServer) -> None:
    transport = ContractTransport(contract=LITELLM, fail_after_send={"POST /key/generate"})
    with pytest.raises(CreateUncertain) as err:
        run(proxy, lambda p: p.create_key("capit-lost", Decimal(1), "daily"), transport=transport)
    assert len(proxy.calls("POST", "/key/generate")) == 1  # never sent twice
    assert "half-made key was found and deleted" in str(err.value)
    assert not proxy.keys


def test_a_create_answered_500_is_uncertain_and_not_retried(proxy: LiteLLMServer) -> None:
    proxy.inject("POST", "/key/generate", 500, json_body={"error": {"message": "boom", "type": "x", "code": "500"}})
    with pytest.raises(CreateUncertain):
        run(proxy, lambda p: p.create_key("capit-500", Decimal(1), None))
    assert len(proxy.calls("POST", "/key/generate")) == 1


def test_update_block_unblock_delete(proxy: LiteLLMServer) -> None:
    _, row = proxy.add_key("old", max_budget=1.0, budget_duration="1d", spend=0.5)
    kid = row["token"]
    k = run(proxy, lambda p: p.update_key(kid, name="new", limit=Decimal("7.5"), reset="monthly"))
    (call,) = proxy.calls("POST", "/key/update")
    assert call.body == {"key": kid, "key_alias": "new", "max_budget": 7.5, "budget_duration": "30d"}
    assert (k.name, k.limit, k.limit_reset, k.spent) == ("new", Decimal("7.5"), "monthly", Decimal("0.5"))
    assert run(proxy, lambda p: p.update_key(kid, disabled=True)).status == "disabled"
    assert proxy.calls("POST", "/key/block")[0].body == {"key": kid} and not proxy.calls("POST", "/key/unblock")
    assert run(proxy, lambda p: p.update_key(kid, disabled=False)).status == "active"
    assert len(proxy.calls("POST", "/key/update")) == 1  # block/unblock alone send no update
    uncapped = run(proxy, lambda p: p.update_key(kid, limit=None, reset=None))
    assert uncapped.limit is None and proxy.calls("POST", "/key/update")[-1].body["max_budget"] is None
    run(proxy, lambda p: p.delete_key(kid))
    assert proxy.calls("POST", "/key/delete")[0].body == {"keys": [kid]} and not proxy.keys
    with pytest.raises(NotFound):
        run(proxy, lambda p: p.delete_key(kid))
    with pytest.raises(NotFound):
        run(proxy, lambda p: p.update_key(kid, limit=Decimal(1)))


# ---------------------------------------------------------------- budgets at inference


def _chat(proxy: LiteLLMServer, secret: str) -> httpx.Response:
    return httpx.post(f"{proxy.url}/v1/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                      json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})


@pytest.mark.parametrize("status", [429, 400])
def test_over_budget_is_refused_with_litellms_error_and_listed_as_capped(status: int) -> None:
    with LiteLLMServer(budget_status=status, cost_per_call=Decimal("0.25")) as proxy:
        secret, row = proxy.add_key("agent", max_budget=0.5, budget_duration="1d")
        assert [_chat(proxy, secret).status_code for _ in range(2)] == [200, 200]
        refused = _chat(proxy, secret)
        assert refused.status_code == status
        err = refused.json()["error"]
        assert err["type"] == "budget_exceeded" and err["code"] == str(status)
        assert err["message"] == "Budget has been exceeded! Current cost: 0.5, Max budget: 0.5"
        (k,) = run(proxy, lambda p: p.list_keys())
        assert (k.status, k.percent, k.spent) == ("capped", 100, Decimal("0.5"))
        assert [r.key_hash for r in proxy.calls("POST", "/v1/chat/completions")] == [row["token"]] * 3


def test_budgets_reset_on_calendar_boundaries() -> None:
    wed = datetime(2026, 12, 2, 15, 30, tzinfo=timezone.utc)  # a Wednesday
    assert next_reset("1d", wed) == datetime(2026, 12, 3, tzinfo=timezone.utc)
    assert next_reset("24h", wed) == datetime(2026, 12, 3, tzinfo=timezone.utc)
    assert next_reset("7d", wed) == datetime(2026, 12, 7, tzinfo=timezone.utc)  # Monday
    assert next_reset("30d", wed) == datetime(2027, 1, 1, tzinfo=timezone.utc)  # the 1st
    assert next_reset("12h", wed) == wed + timedelta(hours=12)  # sub-day: rolls from now
    with LiteLLMServer(cost_per_call=Decimal("1")) as proxy:
        clock = [wed]
        proxy.now = lambda: clock[0]
        secret, _ = proxy.add_key("daily", max_budget=1.0, budget_duration="1d")
        wsecret, _ = proxy.add_key("weekly", max_budget=1.0, budget_duration="7d")
        assert _chat(proxy, secret).status_code == 200 and _chat(proxy, wsecret).status_code == 200
        assert _chat(proxy, secret).status_code == 429 and _chat(proxy, wsecret).status_code == 429
        clock[0] = datetime(2026, 12, 3, 0, 0, 1, tzinfo=timezone.utc)  # past midnight: the day's window is new
        assert _chat(proxy, secret).status_code == 200 and _chat(proxy, wsecret).status_code == 429
        keys = {k.name: k for k in run(proxy, lambda p: p.list_keys())}
        assert keys["daily"].status == "capped" and keys["weekly"].status == "capped"
        assert key_next_reset(keys["daily"]) == datetime(2026, 12, 4, tzinfo=timezone.utc)
        clock[0] = datetime(2026, 12, 7, 0, 0, 1, tzinfo=timezone.utc)  # Monday
        keys = {k.name: k for k in run(proxy, lambda p: p.list_keys())}
        assert keys["weekly"].spent == 0 and keys["weekly"].status == "active"
        assert _chat(proxy, wsecret).status_code == 200


def test_blocked_and_expired_keys_are_refused_at_inference(proxy: LiteLLMServer) -> None:
    secret, row = proxy.add_key("b", blocked=True)
    assert _chat(proxy, secret).status_code == 401
    old, _ = proxy.add_key("e", expires=datetime.now(timezone.utc) - timedelta(seconds=1))
    assert _chat(proxy, old).status_code == 401
    limited, _ = proxy.add_key("m", models=["gpt-5.1-codex"])
    assert _chat(proxy, limited).status_code == 401
    assert run(proxy, lambda p: p.list_models(), key=limited) == ["gpt-5.1-codex"]


# ---------------------------------------------------------------- agents through the proxy


def test_agents_are_pointed_at_the_proxy(proxy: LiteLLMServer, isolated_home: Any) -> None:
    """OpenAI-style clients get <base>/v1, Claude Code the base (it adds /v1/messages), each its own new key."""
    from capit_tui import agents as agents_mod
    from capit_tui.core.install import execute, preview
    from capit_tui.core.keys import Configured

    c = Configured(PlatformConfig("lab", "litellm", proxy.url), "env", proxy.master_key)
    pv = preview(c, [agents_mod.get(n) for n in ("claude", "codex", "opencode")], model="gpt-4o-mini")
    assert (pv.openai_base_url, pv.anthropic_base_url) == (f"{proxy.url}/v1", proxy.url)
    result = asyncio.run(execute(pv, Decimal("2"), "weekly"))
    secrets = {r.agent.name: r.issued.secret for r in result.installed}
    claude = (isolated_home / ".claude" / "settings.json").read_text()
    codex = (isolated_home / ".codex" / "config.toml").read_text()
    opencode = (isolated_home / ".config" / "opencode" / "opencode.json").read_text()
    assert f'"ANTHROPIC_BASE_URL": "{proxy.url}"' in claude and secrets["claude"] in claude
    assert f'base_url = "{proxy.url}/v1"' in codex and secrets["codex"] in codex
    assert f'"baseURL": "{proxy.url}/v1"' in opencode
    assert len(set(secrets.values())) == 3
    assert {k["key_alias"]: k["budget_duration"] for k in proxy.keys.values()} == {
        r.issued.key.name: "7d" for r in result.installed}


def test_platform_models_is_the_core_rule_for_the_form(proxy: LiteLLMServer) -> None:
    from capit_tui.core.keys import Configured
    from capit_tui.core.model_choice import lists_models, platform_models

    assert lists_models("litellm") and not lists_models("openrouter") and not lists_models("oneapi")
    c = Configured(PlatformConfig("lab", "litellm", proxy.url), "env", proxy.master_key)
    assert asyncio.run(platform_models(c)) == sorted(proxy.models)
    other = Configured(PlatformConfig("or", "openrouter", "http://127.0.0.1:9"), "env", "sk-or-v1-x")
    assert asyncio.run(platform_models(other)) == []  # nothing asked: OpenRouter ids are typed
