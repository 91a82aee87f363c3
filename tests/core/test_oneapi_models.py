"""A one-api / new-api token's own model allowlist through OneApiPlatform, against the loopback gateway
(tests/support/oneapi_server.py) over real HTTP: written at create and update in each gateway's shape, read
back as `CappedKey.allowed_models`, and enforced by the gateway at inference with its own refusal.

(Beside tests/core/test_oneapi.py, which is past the house's ~500 lines already.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from oneapi_server import OneApiServer

from capit_tui.platforms.base import BadRequest, PlatformError
from capit_tui.platforms.oneapi import OneApiPlatform
from capit_tui.platforms.openrouter import OpenRouterPlatform

Q = 500_000


@pytest.fixture
def server():
    with OneApiServer() as s:
        yield s


@pytest.fixture
def newapi():
    with OneApiServer(flavor="newapi", user_id=7) as s:
        yield s


def run(srv: OneApiServer, body: Callable[[OneApiPlatform], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        user = srv.user["id"] if srv.new_api else None
        async with OneApiPlatform("gw", srv.url, srv.access_token, user_id=user, timeout=5.0) as p:
            return await body(p)
    return asyncio.run(go())


def chat(srv: OneApiServer, secret: str, model: str) -> httpx.Response:
    return httpx.post(srv.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}]}, timeout=5.0,
                      trust_env=False)


def test_only_a_platform_whose_keys_hold_models_says_so() -> None:
    assert OneApiPlatform.key_models is True and OpenRouterPlatform.key_models is False


def test_one_api_create_writes_models_reads_them_back_and_the_gateway_enforces_them(server) -> None:
    issued = run(server, lambda p: p.create_key("alice", Decimal(5), None, models=["gpt-5-mini", " o3 "]))
    (post,) = server.calls("POST", "/api/token/")
    assert post.body["models"] == "gpt-5-mini,o3" and "model_limits" not in post.body
    assert issued.key.allowed_models == ("gpt-5-mini", "o3")
    (listed,) = run(server, lambda p: p.list_keys())
    assert listed.allowed_models == ("gpt-5-mini", "o3")

    assert chat(server, issued.secret, "gpt-5-mini").status_code == 200
    refused = chat(server, issued.secret, "claude-sonnet-4.5")
    assert refused.status_code == 403
    assert refused.json() == {"error": {"message": "该令牌无权使用模型：claude-sonnet-4.5", "type": "one_api_error",
                                        "code": ""}}


def test_one_api_a_key_without_models_calls_any_model(server) -> None:
    issued = run(server, lambda p: p.create_key("open", Decimal(5), None))
    (post,) = server.calls("POST", "/api/token/")
    assert post.body["models"] == "" and issued.key.allowed_models is None
    assert chat(server, issued.secret, "anything/at-all").status_code == 200


def test_new_api_create_and_update_use_model_limits(newapi) -> None:
    issued = run(newapi, lambda p: p.create_key("bob", Decimal(5), None, models=["gpt-5-mini"]))
    (post,) = newapi.calls("POST", "/api/token/")
    assert (post.body["model_limits_enabled"], post.body["model_limits"]) == (True, "gpt-5-mini")
    assert "models" not in post.body and issued.key.allowed_models == ("gpt-5-mini",)
    refused = chat(newapi, issued.secret, "o3")
    assert refused.status_code == 403 and refused.json()["error"] == {
        "message": "该令牌无权访问模型 o3", "type": "new_api_error", "code": ""}

    k = run(newapi, lambda p: p.update_key(issued.key.id, models=["o3", "gpt-5.1-codex"]))
    stored = newapi.tokens[int(issued.key.id)]
    assert (stored["model_limits_enabled"], stored["model_limits"]) == (True, "o3,gpt-5.1-codex")
    assert k.allowed_models == ("o3", "gpt-5.1-codex") and k.limit == Decimal(5)
    assert chat(newapi, issued.secret, "o3").status_code == 200

    k = run(newapi, lambda p: p.update_key(issued.key.id, models=None))  # any model again
    assert newapi.tokens[int(issued.key.id)]["model_limits_enabled"] is False and k.allowed_models is None
    assert chat(newapi, issued.secret, "claude-sonnet-4.5").status_code == 200


def test_one_api_update_sets_models_keeps_the_rest_and_sends_nothing_when_they_match(server) -> None:
    t = server.add_token("carol", remain_quota=3 * Q, used_quota=Q, models="a", subnet="10.0.0.0/8")
    k = run(server, lambda p: p.update_key(str(t["id"]), models=["b", "c"]))
    stored = server.tokens[t["id"]]
    assert (stored["models"], stored["subnet"], stored["remain_quota"]) == ("b,c", "10.0.0.0/8", 3 * Q)
    assert k.allowed_models == ("b", "c") and k.limit == Decimal(4)
    puts = len(server.calls("PUT", "/api/token/"))
    run(server, lambda p: p.update_key(str(t["id"]), models=["c", "b"]))  # the same set: no PUT
    assert len(server.calls("PUT", "/api/token/")) == puts


def test_a_model_list_the_gateway_cannot_hold_is_refused_before_sending(server) -> None:
    for bad in ([], ["a,b"], [" "]):
        with pytest.raises(BadRequest):
            run(server, lambda p, bad=bad: p.create_key("x", Decimal(1), None, models=bad))
    assert server.calls("POST", "/api/token/") == []


def test_a_gateway_that_drops_the_models_gets_its_new_key_deleted(server) -> None:
    """An older gateway that ignores `models` would leave a key able to call any model: it goes again."""
    def forget_models(rec: Any) -> None:
        if rec.method == "POST" and isinstance(rec.body, dict):
            rec.body["models"] = ""

    server.before = forget_models
    with pytest.raises(PlatformError) as caught:
        run(server, lambda p: p.create_key("dave", Decimal(1), None, models=["gpt-5-mini"]))
    assert "did not keep the model list" in str(caught.value) and "deleted it again" in str(caught.value)
    assert server.tokens == {}
