"""OneApiPlatform against a loopback one-api / new-api server (tests/support/oneapi_server.py), over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from oneapi_server import OneApiServer, Recorded

from capit_tui.core.model import IssuedKey
from capit_tui.platforms.base import (
    AuthRejected,
    BadRequest,
    CreateUncertain,
    MalformedResponse,
    NotFound,
    NotManagementKey,
    PlatformError,
    RateLimited,
    Unsupported,
)
from capit_tui.platforms.http import RetryPolicy
from capit_tui.platforms.oneapi import AIHUBMIX_PRESET, OneApiPlatform

Q = 500_000  # quota units per dollar


@pytest.fixture
def server():
    with OneApiServer() as s:
        yield s


@pytest.fixture
def newapi():
    with OneApiServer(flavor="newapi", user_id=7) as s:
        yield s


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make(srv: OneApiServer, *, key: str | None = None, sleeps: Sleeps | None = None,
         attempts: int = 3, **kw: Any) -> OneApiPlatform:
    return OneApiPlatform(
        "AIHubMix", srv.url, srv.access_token if key is None else key,
        retry=RetryPolicy(attempts=attempts, base_delay=0.001, max_delay=0.001, max_retry_after=5),
        sleep=sleeps or Sleeps(), timeout=5.0, **kw)


def run(srv: OneApiServer, body: Callable[[OneApiPlatform], Awaitable[Any]], **kw: Any) -> Any:
    async def go() -> Any:
        async with make(srv, **kw) as p:
            return await body(p)
    return asyncio.run(go())


def raises(srv: OneApiServer, exc: type[BaseException], body: Callable[[OneApiPlatform], Awaitable[Any]],
           **kw: Any) -> BaseException:
    with pytest.raises(exc) as info:
        run(srv, body, **kw)
    return info.value


def token_lists(srv: OneApiServer) -> list[Recorded]:
    return srv.calls("GET", "/api/token/")


# ---------------------------------------------------------------- account


def test_check_key_and_balance(server: OneApiServer) -> None:
    server.user.update(quota=5 * Q, used_quota=2 * Q)

    async def body(p: OneApiPlatform):
        return await p.check_management_key(), await p.balance()

    info, bal = run(server, body)
    assert info.is_management_key is True
    assert info.label == "Alice"
    assert info.usage == Decimal(2)
    # `quota` is what is left; credit ever bought = quota + used_quota.
    assert bal.total_credits == Decimal(7)
    assert bal.total_usage == Decimal(2)
    assert bal.remaining == Decimal(5)
    for r in server.calls("GET", "/api/user/self"):
        assert r.headers["authorization"] == f"Bearer {server.access_token}"
        assert "new-api-user" not in r.headers


def test_endpoints_and_preset() -> None:
    assert AIHUBMIX_PRESET == {"kind": "oneapi", "base_url": "https://aihubmix.com", "quota_per_usd": 500000}

    async def go() -> None:
        async with OneApiPlatform("AIHubMix", "https://aihubmix.com/", "t") as p:
            assert p.kind == "oneapi" and p.supports_reset is False
            assert p.openai_base_url == "https://aihubmix.com/v1"
            assert p.anthropic_base_url == "https://aihubmix.com"
            assert p.manage_url == "https://aihubmix.com/setting"
            assert p.quota_per_usd == 500000
        async with OneApiPlatform("mine", "http://127.0.0.1:3000/v1", "t") as p:
            assert p.base_url == "http://127.0.0.1:3000"
            assert p.openai_base_url == "http://127.0.0.1:3000/v1"
            assert p.anthropic_base_url is None  # upstream one-api has no /v1/messages
            assert p.manage_url == "http://127.0.0.1:3000/setting"
        async with OneApiPlatform("new", "http://127.0.0.1:3000", "t", user_id=3) as p:
            assert p.anthropic_base_url == "http://127.0.0.1:3000"

    asyncio.run(go())


def test_quota_per_unit_from_server(server: OneApiServer) -> None:
    assert run(server, lambda p: p.quota_per_unit_from_server()) == 500000


# ---------------------------------------------------------------- auth failures


def test_invalid_token_is_auth_rejected(server: OneApiServer) -> None:
    wrong = "0123456789abcdef0123456789abcdef"
    err = raises(server, AuthRejected, lambda p: p.check_management_key(), key=wrong)
    text = str(err)
    assert "system access token" in text.lower() and server.url + "/setting" in text
    assert wrong not in text
    # HTTP 200 + success:false, answered once (no retry of a refusal)
    assert len(server.calls("GET", "/api/user/self")) == 1


def test_missing_token_401_is_auth_rejected(server: OneApiServer) -> None:
    # The real server answers a request without Authorization with 401 JSON.
    r = httpx.get(server.url + "/api/user/self")
    assert r.status_code == 401 and r.json()["success"] is False
    server.inject("GET", "/api/user/self", 401, json_body=r.json())
    err = raises(server, AuthRejected, lambda p: p.balance())
    assert "system access token" in str(err).lower()


def test_model_key_given_as_management_key(server: OneApiServer) -> None:
    err = raises(server, NotManagementKey, lambda p: p.check_management_key(), key="sk-" + "a" * 48)
    assert "a" * 48 not in str(err)
    assert "system access token" in str(err).lower()


def test_raw_token_without_bearer_also_accepted(server: OneApiServer) -> None:
    r = httpx.get(server.url + "/api/user/self", headers={"Authorization": server.access_token})
    assert r.json()["success"] is True


# ---------------------------------------------------------------- listing


def test_list_pages_one_api(server: OneApiServer) -> None:
    for i in range(25):
        server.add_token(f"k{i}", remain_quota=Q)
    keys = run(server, lambda p: p.list_keys())
    assert [k.name for k in keys] == [f"k{i}" for i in reversed(range(25))]  # newest first
    assert len({k.id for k in keys}) == 25
    pages = token_lists(server)
    assert [r.query["p"] for r in pages] == [["0"], ["1"], ["2"]]  # the short third page ends it
    assert pages[0].query["size"] == ["100"] and pages[0].query["page_size"] == ["100"]


def test_list_exact_multiple_of_page_size_and_empty(server: OneApiServer) -> None:
    for i in range(30):
        server.add_token(f"k{i}")
    assert len(run(server, lambda p: p.list_keys())) == 30
    assert [r.query["p"] for r in token_lists(server)] == [["0"], ["1"], ["2"], ["3"]]
    server.tokens.clear()
    server.requests.clear()
    assert run(server, lambda p: p.list_keys()) == []
    assert len(token_lists(server)) == 1


def test_list_new_api_paged_shape(newapi: OneApiServer) -> None:
    for i in range(250):
        newapi.add_token(f"k{i}", remain_quota=Q)
    keys = run(newapi, lambda p: p.list_keys(), user_id="7")
    assert len(keys) == 250 and len({k.id for k in keys}) == 250
    # p=0 is read as page 1; then follow the page the server says it served.
    assert [r.query["p"] for r in token_lists(newapi)] == [["0"], ["2"], ["3"]]
    assert all(r.headers["new-api-user"] == "7" for r in newapi.requests)


def test_list_plain_list_counting_pages_from_one() -> None:
    with OneApiServer(list_shape="plain", page_base=1) as srv:
        for i in range(25):
            srv.add_token(f"k{i}")
        keys = run(srv, lambda p: p.list_keys())
        assert len(keys) == 25 and len({k.id for k in keys}) == 25
        assert [r.query["p"] for r in token_lists(srv)] == [["0"], ["1"], ["2"], ["3"]]


def test_list_server_that_ignores_the_page() -> None:
    with OneApiServer(page_size=100) as srv:  # everything on one page, `p` beyond it empty
        for i in range(12):
            srv.add_token(f"k{i}")
        assert len(run(srv, lambda p: p.list_keys())) == 12
        assert len(token_lists(srv)) == 2


def test_list_gives_up_after_too_many_pages(server: OneApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import capit_tui.platforms.oneapi_wire as oneapi_wire

    monkeypatch.setattr(oneapi_wire, "MAX_PAGES", 3)
    for i in range(50):
        server.add_token(f"k{i}")
    err = raises(server, MalformedResponse, lambda p: p.list_keys())
    assert "3 pages" in str(err)


def test_key_mapping(server: OneApiServer) -> None:
    t = server.add_token("capped", remain_quota=5 * Q, used_quota=Q, created_time=1_700_000_000)
    server.add_token("open", unlimited_quota=True, used_quota=Q // 4)
    server.add_token("off", remain_quota=Q, status=2)
    server.add_token("spent", remain_quota=0, used_quota=2 * Q, status=4)
    keys = {k.name: k for k in run(server, lambda p: p.list_keys())}

    k = keys["capped"]
    assert k.id == str(t["id"]) and k.platform == "AIHubMix"
    assert k.limit == Decimal(6) and k.limit_remaining == Decimal(5)
    assert k.usage == k.usage_daily == k.usage_weekly == k.usage_monthly == Decimal(1)
    assert k.limit_reset is None and k.budget.describe() == "$6.00 cap that never resets"
    assert k.label == "sk-…" + t["key"][-4:]
    assert k.created_at is not None and int(k.created_at.timestamp()) == 1_700_000_000
    assert k.status == "active" and not k.disabled
    assert "key" not in k.extra and t["key"] not in repr(k) and t["key"] not in str(k.extra)
    assert k.extra["remain_quota"] == 5 * Q and k.extra["status"] == 1

    assert keys["open"].limit is None and keys["open"].limit_remaining is None
    assert keys["open"].usage == Decimal("0.25")
    assert keys["off"].disabled and keys["off"].status == "disabled"
    assert not keys["spent"].disabled and keys["spent"].status == "capped"
    assert keys["spent"].spent == Decimal(2)


# ---------------------------------------------------------------- create


def test_create_with_key_in_response(server: OneApiServer) -> None:
    issued: IssuedKey = run(server, lambda p: p.create_key("agent-claude", Decimal("5.00"), None))
    (tok,) = server.tokens.values()
    assert issued.secret == "sk-" + tok["key"] and len(issued.secret) == 51
    assert issued.key.id == str(tok["id"]) and issued.key.name == "agent-claude"
    assert issued.key.limit == Decimal(5) and issued.key.limit_remaining == Decimal(5)
    assert tok["key"] not in repr(issued)
    (post,) = server.calls("POST", "/api/token/")
    assert post.body == {"name": "agent-claude", "remain_quota": 2_500_000, "unlimited_quota": False,
                         "expired_time": -1, "models": "", "subnet": ""}
    assert isinstance(post.body["remain_quota"], int)
    assert len(server.requests) == 1  # the key came back with the create


def test_create_with_an_expiry_sets_expired_time(server: OneApiServer) -> None:
    from datetime import datetime, timezone

    when = datetime(2027, 1, 31, tzinfo=timezone.utc)
    issued = run(server, lambda p: p.create_key("dated", Decimal(1), None, expires_at=when))
    (post,) = server.calls("POST", "/api/token/")
    assert post.body["expired_time"] == int(when.timestamp()) and issued.key.expires_at == when


def test_create_uncapped_and_cents(server: OneApiServer) -> None:
    issued = run(server, lambda p: p.create_key("free", None, None))
    assert issued.key.limit is None
    issued = run(server, lambda p: p.create_key("cents", Decimal("0.29"), None))
    assert issued.key.limit == Decimal("0.29")
    bodies = [r.body for r in server.calls("POST", "/api/token/")]
    assert bodies[0]["unlimited_quota"] is True and bodies[0]["remain_quota"] == 0
    assert bodies[1]["remain_quota"] == 145_000


def test_create_without_key_in_response_one_api() -> None:
    with OneApiServer(return_key_on_create=False) as srv:
        srv.add_token("agent", remain_quota=Q)  # an older key of the same name and another cap
        issued = run(srv, lambda p: p.create_key("agent", Decimal(3), None))
        newest = srv.tokens[max(srv.tokens)]
        assert issued.secret == "sk-" + newest["key"]
        assert issued.key.id == str(newest["id"]) and issued.key.limit == Decimal(3)
        assert [(r.method, r.path) for r in srv.requests] == [
            ("POST", "/api/token/"), ("GET", "/api/token/search"), ("GET", f"/api/token/{newest['id']}")]


def test_create_on_new_api_masked_keys(newapi: OneApiServer) -> None:
    issued = run(newapi, lambda p: p.create_key("agent", Decimal(2), None), user_id=7)
    (tok,) = newapi.tokens.values()
    assert issued.secret == "sk-" + tok["key"]
    assert "*" not in issued.secret
    assert ("POST", f"/api/token/{tok['id']}/key") in [(r.method, r.path) for r in newapi.requests]
    assert tok["remain_quota"] == 2 * Q


def test_create_reveal_failure_deletes_the_key(newapi: OneApiServer) -> None:
    newapi.inject("POST", f"/api/token/{newapi._next_id}/key", 200,
                  json_body={"success": False, "message": "no"}, times=5)
    err = raises(newapi, PlatformError, lambda p: p.create_key("agent", Decimal(2), None), user_id=7)
    assert "deleted it again" in str(err)
    assert newapi.tokens == {}


def test_create_refuses_reset(server: OneApiServer) -> None:
    err = raises(server, Unsupported, lambda p: p.create_key("agent", Decimal(5), "monthly"))
    assert "never reset" in str(err) and "lifetime total" in str(err)  # the CLI adds its own flag to use
    assert server.requests == []


def test_create_name_limits(server: OneApiServer) -> None:
    raises(server, BadRequest, lambda p: p.create_key("x" * 31, Decimal(5), None))
    raises(server, BadRequest, lambda p: p.create_key("代理" * 6, Decimal(5), None))  # 36 bytes
    raises(server, BadRequest, lambda p: p.create_key("  ", Decimal(5), None))
    assert server.requests == []
    issued = run(server, lambda p: p.create_key("x" * 30, Decimal(5), None))
    assert issued.key.name == "x" * 30
    # the server itself refuses a long name the same way
    r = httpx.post(server.url + "/api/token/", json={"name": "y" * 31},
                   headers={"Authorization": server.access_token})
    assert r.status_code == 200 and r.json()["success"] is False


def test_create_not_retried_after_server_error(server: OneApiServer) -> None:
    server.inject("POST", "/api/token/", 502, times=3)
    raises(server, CreateUncertain, lambda p: p.create_key("agent", Decimal(5), None))
    assert len(server.calls("POST", "/api/token/")) == 1


def test_create_business_error(server: OneApiServer) -> None:
    server.inject("POST", "/api/token/", 200, json_body={"success": False, "message": "无效的网段"})
    err = raises(server, BadRequest, lambda p: p.create_key("agent", Decimal(5), None))
    assert "无效的网段" in str(err)


# ---------------------------------------------------------------- get, update, delete


def test_get_key_and_missing(server: OneApiServer) -> None:
    t = server.add_token("a", remain_quota=Q)
    k = run(server, lambda p: p.get_key(str(t["id"])))
    assert k.name == "a" and k.limit == Decimal(1)
    raises(server, NotFound, lambda p: p.get_key("999"))
    before = len(server.requests)
    raises(server, NotFound, lambda p: p.get_key("abc"))
    assert len(server.requests) == before  # not even asked


def seeded(srv: OneApiServer) -> dict[str, Any]:
    return srv.add_token("agent", remain_quota=4 * Q, used_quota=Q, expired_time=int(time.time()) + 86_400,
                         models="gpt-4o,claude-sonnet-4-5", subnet="10.0.0.0/8")


def test_update_cap_keeps_other_fields(server: OneApiServer) -> None:
    t = seeded(server)
    k = run(server, lambda p: p.update_key(str(t["id"]), limit=Decimal(20)))
    assert k.limit == Decimal(20) and k.limit_remaining == Decimal(19) and k.usage == Decimal(1)
    stored = server.tokens[t["id"]]
    assert stored["remain_quota"] == 20 * Q - Q and stored["used_quota"] == Q
    for field in ("name", "expired_time", "models", "subnet", "status", "unlimited_quota", "key"):
        assert stored[field] == t[field], field
    (put,) = server.calls("PUT", "/api/token/")
    assert "status_only" not in put.query
    assert "key" not in put.body  # the secret is not sent back
    assert put.body["models"] == t["models"] and put.body["expired_time"] == t["expired_time"]


def test_a_partial_put_really_wipes_fields(server: OneApiServer) -> None:
    """Why the adapter sends the whole object: the server overwrites from whatever it is given."""
    t = seeded(server)
    r = httpx.put(server.url + "/api/token/", json={"id": t["id"], "name": "renamed"},
                  headers={"Authorization": server.access_token})
    assert r.json()["success"] is True
    stored = server.tokens[t["id"]]
    assert stored["expired_time"] == 0 and stored["remain_quota"] == 0 and stored["models"] is None


def test_update_rename_disable_enable(server: OneApiServer) -> None:
    t = seeded(server)
    tid = str(t["id"])
    k = run(server, lambda p: p.update_key(tid, name="renamed"))
    stored = server.tokens[t["id"]]
    assert k.name == "renamed" and stored["name"] == "renamed"
    assert (stored["remain_quota"], stored["expired_time"], stored["models"], stored["subnet"]) == (
        t["remain_quota"], t["expired_time"], t["models"], t["subnet"])

    k = run(server, lambda p: p.update_key(tid, disabled=True))
    assert k.disabled and server.tokens[t["id"]]["status"] == 2
    put = server.calls("PUT", "/api/token/")[-1]
    assert put.query["status_only"] == ["1"] and put.body["status"] == 2

    k = run(server, lambda p: p.update_key(tid, disabled=False))
    assert not k.disabled and server.tokens[t["id"]]["status"] == 1
    stored = server.tokens[t["id"]]
    assert (stored["name"], stored["remain_quota"], stored["expired_time"], stored["models"]) == (
        "renamed", t["remain_quota"], t["expired_time"], t["models"])

    n = len(server.calls("PUT"))
    run(server, lambda p: p.update_key(tid, disabled=False))  # already enabled: nothing to send
    run(server, lambda p: p.update_key(tid, name="renamed"))  # same name: nothing to send
    assert len(server.calls("PUT")) == n


def test_update_uncapped_and_reset(server: OneApiServer) -> None:
    t = seeded(server)
    k = run(server, lambda p: p.update_key(str(t["id"]), limit=None, reset=None))
    assert k.limit is None and server.tokens[t["id"]]["unlimited_quota"] is True
    err = raises(server, Unsupported, lambda p: p.update_key(str(t["id"]), reset="daily"))
    assert "never reset" in str(err)


def test_enable_exhausted_needs_a_higher_cap(server: OneApiServer) -> None:
    t = server.add_token("spent", remain_quota=0, used_quota=5 * Q, status=4)
    tid = str(t["id"])
    n = len(server.requests)
    err = raises(server, BadRequest, lambda p: p.update_key(tid, disabled=False))
    assert "Raise the cap" in str(err)
    assert server.calls("PUT") == [] and len(server.requests) == n + 1  # only the GET

    # Raising the cap brings the key back: the server had marked it exhausted (status 4).
    k = run(server, lambda p: p.update_key(tid, limit=Decimal(8)))
    stored = server.tokens[t["id"]]
    assert stored["status"] == 1 and stored["remain_quota"] == 3 * Q
    assert k.status == "active" and k.limit == Decimal(8) and k.spent == Decimal(5)


def test_enable_and_raise_in_one_update(server: OneApiServer) -> None:
    t = server.add_token("spent", remain_quota=0, used_quota=Q, status=4)
    k = run(server, lambda p: p.update_key(str(t["id"]), limit=Decimal(3), disabled=False))
    assert not k.disabled and server.tokens[t["id"]]["status"] == 1
    assert server.tokens[t["id"]]["remain_quota"] == 2 * Q


def test_exhausted_flag_with_cap_left_reads_as_disabled(server: OneApiServer) -> None:
    # Cap raised elsewhere without re-enabling: the server still refuses the key (status 4).
    t = server.add_token("stuck", remain_quota=Q, used_quota=Q, status=4)
    k = run(server, lambda p: p.get_key(str(t["id"])))
    assert k.disabled and k.status == "disabled"
    k = run(server, lambda p: p.update_key(str(t["id"]), disabled=False))
    assert not k.disabled and server.tokens[t["id"]]["status"] == 1


def test_enable_expired_is_refused(server: OneApiServer) -> None:
    t = server.add_token("old", remain_quota=Q, status=3, expired_time=int(time.time()) - 60)
    err = raises(server, BadRequest, lambda p: p.update_key(str(t["id"]), disabled=False))
    assert "expired" in str(err)
    assert server.calls("PUT") == []


def test_server_refusal_to_enable_is_explained(server: OneApiServer) -> None:
    t = server.add_token("off", remain_quota=Q, status=2)
    server.inject("PUT", "/api/token/", 200, json_body={
        "success": False, "message": "令牌可用额度已用尽，无法启用，请先修改令牌剩余额度，或者设置为无限额度"})
    err = raises(server, BadRequest, lambda p: p.update_key(str(t["id"]), disabled=False))
    assert "Raise the cap" in str(err)


def test_update_corrects_for_spend_during_the_update(server: OneApiServer) -> None:
    t = seeded(server)
    fired = []

    def spend_once(rec: Recorded) -> None:
        if rec.method == "PUT" and not fired:
            fired.append(1)
            server.spend(t["id"], Q // 2)  # a request lands between our GET and our PUT

    server.before = spend_once
    k = run(server, lambda p: p.update_key(str(t["id"]), limit=Decimal(10)))
    stored = server.tokens[t["id"]]
    assert stored["remain_quota"] + stored["used_quota"] == 10 * Q
    assert k.limit == Decimal(10) and k.usage == Decimal("1.5")
    assert len(server.calls("PUT")) == 2


def test_update_missing_key(server: OneApiServer) -> None:
    raises(server, NotFound, lambda p: p.update_key("41", name="x"))


def test_delete(server: OneApiServer) -> None:
    t = server.add_token("a")
    run(server, lambda p: p.delete_key(str(t["id"])))
    assert server.tokens == {}
    raises(server, NotFound, lambda p: p.delete_key(str(t["id"])))


# ---------------------------------------------------------------- new-api header


def test_new_api_needs_user_header(newapi: OneApiServer) -> None:
    bal = run(newapi, lambda p: p.balance(), user_id=7)
    assert bal.total_usage == Decimal(0)
    assert newapi.requests[-1].headers["new-api-user"] == "7"

    err = raises(newapi, AuthRejected, lambda p: p.balance())
    assert "user id" in str(err)
    err = raises(newapi, AuthRejected, lambda p: p.balance(), user_id=8)
    assert "user id 8" in str(err)


def test_new_api_update_keeps_its_own_fields(newapi: OneApiServer) -> None:
    t = newapi.add_token("agent", remain_quota=Q, model_limits_enabled=True, model_limits="gpt-4o",
                         allow_ips="10.0.0.1", group="vip")
    k = run(newapi, lambda p: p.update_key(str(t["id"]), limit=Decimal(4), name="agent2"), user_id=7)
    stored = newapi.tokens[t["id"]]
    assert k.limit == Decimal(4) and stored["name"] == "agent2"
    assert (stored["model_limits_enabled"], stored["model_limits"], stored["allow_ips"], stored["group"]) == (
        True, "gpt-4o", "10.0.0.1", "vip")
    assert k.label == "sk-…" + t["key"][-4:]  # from the masked key the server shows


# ---------------------------------------------------------------- transport behaviour


def test_server_error_on_get_is_retried(server: OneApiServer) -> None:
    sleeps = Sleeps()
    server.inject("GET", "/api/user/self", 500)
    bal = run(server, lambda p: p.balance(), sleeps=sleeps)
    assert bal is not None
    assert len(server.calls("GET", "/api/user/self")) == 2
    assert len(sleeps.calls) == 1


def test_rate_limit_honours_retry_after(server: OneApiServer) -> None:
    sleeps = Sleeps()
    server.inject("GET", "/api/token/", 429, headers={"Retry-After": "2"})
    assert run(server, lambda p: p.list_keys(), sleeps=sleeps) == []
    assert sleeps.calls == [2.0]
    server.inject("GET", "/api/token/", 429, headers={"Retry-After": "1"}, times=3)
    err = raises(server, RateLimited, lambda p: p.list_keys())
    assert err.retry_after == 1.0


def test_non_json_and_non_one_api_replies(server: OneApiServer) -> None:
    server.inject("GET", "/api/token/", 200, text="<!doctype html><html>login</html>")
    raises(server, MalformedResponse, lambda p: p.list_keys())
    server.inject("GET", "/api/user/self", 200, json_body={"object": "list", "data": []})
    raises(server, MalformedResponse, lambda p: p.balance())
    server.inject("GET", "/api/token/", 200, json_body={"success": True, "data": {"weird": 1}})
    raises(server, MalformedResponse, lambda p: p.list_keys())


def test_no_secret_in_any_error(server: OneApiServer) -> None:
    t = server.add_token("a", remain_quota=Q)
    secret_key = t["key"]
    token = server.access_token
    errors: list[BaseException] = []

    def collect(exc: type[BaseException], body: Callable[[OneApiPlatform], Awaitable[Any]], **kw: Any) -> None:
        errors.append(raises(server, exc, body, **kw))

    # servers that echo what they were sent
    server.inject("GET", "/api/user/self", 200,
                  json_body={"success": False, "message": f"access token {token} 无效"})
    collect(AuthRejected, lambda p: p.balance())
    server.inject("GET", f"/api/token/{t['id']}", 200,
                  json_body={"success": False, "message": f"bad key {secret_key} and sk-{secret_key}"})
    collect(BadRequest, lambda p: p.get_key(str(t["id"])))
    server.inject("GET", "/api/token/", 403, json_body={"message": f"Bearer {token} refused"})
    collect(PlatformError, lambda p: p.list_keys())
    server.inject("DELETE", f"/api/token/{t['id']}", 500, text=f"panic: token={token} key={secret_key}")
    collect(PlatformError, lambda p: p.delete_key(str(t["id"])))
    server.inject("GET", "/api/user/self", 401, json_body={"success": False, "message": token})
    collect(AuthRejected, lambda p: p.balance())
    collect(AuthRejected, lambda p: p.balance(), key="f" * 32)
    collect(NotManagementKey, lambda p: p.balance(), key="sk-" + secret_key)
    collect(Unsupported, lambda p: p.create_key("a", Decimal(1), "weekly"))
    collect(BadRequest, lambda p: p.update_key(str(t["id"]), name="z" * 40))
    for err in errors:
        for text in (str(err), repr(err), str(err.args)):
            assert token not in text, text
            assert secret_key not in text, text
            assert "f" * 32 not in text, text


def test_custom_quota_per_usd() -> None:
    with OneApiServer(quota_per_unit=1_000_000) as srv:
        issued = run(srv, lambda p: p.create_key("a", Decimal("1.50"), None), quota_per_usd=1_000_000)
        assert srv.calls("POST", "/api/token/")[0].body["remain_quota"] == 1_500_000
        assert issued.key.limit == Decimal("1.5")
    with pytest.raises(ValueError):
        OneApiPlatform("x", "http://127.0.0.1:1", "t", quota_per_usd=0)
