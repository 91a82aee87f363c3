"""Each fault of the platform protocol, from a loopback LiteLLM-compatible proxy: refusals (401, 403, 404),
rate limits, server errors, timeouts, oversized and garbage replies, escape sequences in its text, and no
secret in any error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from litellm_server import LiteLLMServer

from capit_tui.platforms.base import (
    AuthRejected,
    CreateUncertain,
    MalformedResponse,
    NetworkError,
    NotFound,
    NotManagementKey,
    PlatformError,
    RateLimited,
    ServerError,
)
from capit_tui.platforms.http import RetryPolicy
from capit_tui.platforms.litellm import LiteLLMPlatform
from capit_tui.platforms.transport import MAX_BODY

ESC = "\x1b]52;c;ZXZpbA==\x07\x1b[2J"


@pytest.fixture
def proxy():
    with LiteLLMServer() as s:
        yield s


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def run(srv: LiteLLMServer, body: Callable[[LiteLLMPlatform], Awaitable[Any]], *, key: str | None = None,
        sleeps: Sleeps | None = None, timeout: float = 5.0) -> Any:
    """One page at a time (page_window=1), so the fault injected for the next /key/list is the one read."""
    async def go() -> Any:
        async with LiteLLMPlatform("proxy", srv.url, srv.master_key if key is None else key, timeout=timeout,
                                   retry=RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.001,
                                                     max_retry_after=5),
                                   sleep=sleeps or Sleeps(), remember_count=False, page_window=1) as p:
            return await body(p)
    return asyncio.run(go())


def raises(srv: LiteLLMServer, exc: type[BaseException], body: Callable[[LiteLLMPlatform], Awaitable[Any]],
           **kw: Any) -> BaseException:
    with pytest.raises(exc) as info:
        run(srv, body, **kw)
    return info.value


def proxy_error(status: int, message: str, kind: str = "auth_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}


def test_401_is_a_rejected_key_and_403_on_management_a_plain_key(proxy: LiteLLMServer) -> None:
    err = raises(proxy, AuthRejected, lambda p: p.list_keys(), key="sk-unknown-key-000000000")
    assert "rejected the key (401" in str(err) and "master key" in str(err)
    proxy.inject("GET", "/key/list", 403, json_body=proxy_error(403, "user not allowed to access this route, "
                                                                 "role= internal_user_viewer"))
    err = raises(proxy, NotManagementKey, lambda p: p.list_keys())
    assert "plain virtual key" in str(err)
    proxy.inject("GET", "/key/list", 403, json_body=proxy_error(403, "Forbidden by a gateway in front"))
    assert isinstance(raises(proxy, AuthRejected, lambda p: p.list_keys()), AuthRejected)


def test_404_is_no_such_key(proxy: LiteLLMServer) -> None:
    err = raises(proxy, NotFound, lambda p: p.get_key("0" * 64))
    assert "no such key" in str(err)
    raises(proxy, NotFound, lambda p: p.update_key("0" * 64, disabled=True))
    raises(proxy, NotFound, lambda p: p.delete_key("0" * 64))
    raises(proxy, NotFound, lambda p: p.get_key("bad id\x1b[2J"))  # never sent: not an id
    assert not proxy.calls("GET", "/key/info")[1:]


def test_429_honours_retry_after_then_gives_up(proxy: LiteLLMServer) -> None:
    proxy.add_key("a")
    sleeps = Sleeps()
    proxy.inject("GET", "/key/list", 429, json_body=proxy_error(429, "slow down", "rate_limit"),
                 headers={"Retry-After": "2"})
    assert len(run(proxy, lambda p: p.list_keys(), sleeps=sleeps)) == 1
    assert sleeps.calls == [2.0]
    proxy.inject("GET", "/key/list", 429, headers={"Retry-After": "1"}, times=10)
    err = raises(proxy, RateLimited, lambda p: p.list_keys())
    assert err.retry_after == 1.0


def test_5xx_on_a_read_is_retried_and_reported_once_it_persists(proxy: LiteLLMServer) -> None:
    proxy.add_key("a")
    proxy.inject("GET", "/key/list", 502, text="<html>bad gateway</html>")
    assert len(run(proxy, lambda p: p.list_keys())) == 1
    proxy.inject("GET", "/key/list", 500, json_body=proxy_error(500, "DB not connected", "internal_error"), times=10)
    err = raises(proxy, ServerError, lambda p: p.list_keys())
    assert "DATABASE_URL" in str(err) and "PostgreSQL" in str(err)
    proxy.inject("POST", "/key/update", 503, times=10)
    raises(proxy, ServerError, lambda p: p.update_key(next(iter(proxy.keys)), limit=Decimal(2)))


def test_a_reply_slower_than_the_timeout_is_a_network_error(proxy: LiteLLMServer) -> None:
    proxy.inject("GET", "/key/list", 200, json_body={"keys": []}, delay=2.5, times=10)
    err = raises(proxy, NetworkError, lambda p: p.list_keys(), timeout=1.0)
    assert "did not answer in time" in str(err)
    proxy.inject("POST", "/key/generate", 200, json_body={"key": "sk-late"}, delay=2.5)
    raises(proxy, CreateUncertain, lambda p: p.create_key("slow", Decimal(1), None), timeout=1.0)
    assert len(proxy.calls("POST", "/key/generate")) == 1


def test_an_oversized_reply_is_cut_off(proxy: LiteLLMServer) -> None:
    big = json.dumps({"keys": [], "padding": "x" * (MAX_BODY + 10)}).encode()
    proxy.inject("GET", "/key/list", 200, raw=big)
    err = raises(proxy, MalformedResponse, lambda p: p.list_keys())
    assert "stopped reading" in str(err)


@pytest.mark.parametrize("reply", [
    {"text": "<!doctype html><html>login</html>"},
    {"json_body": {"data": []}},
    {"json_body": {"keys": "nope"}},
    {"json_body": {"keys": ["a" * 64]}},  # hashes only: return_full_object ignored
    {"json_body": {"keys": [{"key_alias": "no hash"}]}},
    {"json_body": {"keys": [{"token": "abc", "spend": "lots"}]}},
    {"json_body": {"keys": [{"token": "abc", "max_budget": True}]}},
])
def test_garbage_listings_are_malformed(proxy: LiteLLMServer, reply: dict[str, Any]) -> None:
    proxy.inject("GET", "/key/list", 200, **reply)
    raises(proxy, MalformedResponse, lambda p: p.list_keys())


def test_garbage_elsewhere(proxy: LiteLLMServer) -> None:
    proxy.inject("GET", "/key/info", 200, json_body={"key": "x"})
    raises(proxy, MalformedResponse, lambda p: p.get_key("a" * 64))
    proxy.inject("POST", "/key/generate", 200, text="created")  # a 2xx that is not JSON: the key may exist
    raises(proxy, CreateUncertain, lambda p: p.create_key("odd", Decimal(1), None))
    _, row = proxy.add_key("made-no-secret")
    proxy.inject("POST", "/key/generate", 200, json_body={"token_id": row["token"]})
    err = raises(proxy, MalformedResponse, lambda p: p.create_key("lost", Decimal(1), None))
    assert "deleted that key again" in str(err) and row["token"] not in proxy.keys
    proxy.inject("POST", "/key/delete", 200, json_body={"ok": True})
    raises(proxy, MalformedResponse, lambda p: p.delete_key("a" * 64))
    proxy.inject("GET", "/v1/models", 200, json_body={"models": []})
    raises(proxy, MalformedResponse, lambda p: p.list_models())


def test_escape_sequences_from_the_proxy_are_cleaned(proxy: LiteLLMServer) -> None:
    _, row = proxy.add_key(f"evil{ESC}name", max_budget=1.0)
    row["budget_duration"] = f"2d{ESC}"
    (k,) = run(proxy, lambda p: p.list_keys())
    for text in (k.name, k.label, k.limit_reset or ""):
        assert "\x1b" not in text and "\x07" not in text
    assert k.name.startswith("evil?")
    proxy.inject("GET", "/key/list", 400, json_body=proxy_error(400, f"bad{ESC} request", "bad_request_error"))
    err = raises(proxy, PlatformError, lambda p: p.list_keys())
    assert "\x1b" not in str(err) and "bad" in str(err)
    proxy.inject("GET", "/v1/models", 200, json_body={"data": [{"id": f"gpt{ESC}"}]})
    (name,) = run(proxy, lambda p: p.list_models())
    assert "\x1b" not in name


def test_no_secret_in_any_error(proxy: LiteLLMServer) -> None:
    secret, row = proxy.add_key("a")
    master = proxy.master_key
    errors: list[BaseException] = []
    proxy.inject("GET", "/key/list", 401, json_body=proxy_error(401, f"Invalid key {master} / Bearer {master}"))
    errors.append(raises(proxy, AuthRejected, lambda p: p.list_keys()))
    proxy.inject("GET", "/key/info", 400, json_body=proxy_error(400, f"bad key {secret}", "bad_request_error"))
    errors.append(raises(proxy, PlatformError, lambda p: p.get_key(row["token"])))
    proxy.inject("POST", "/key/delete", 500, text=f"panic: key={secret} master={master}", times=10)
    errors.append(raises(proxy, PlatformError, lambda p: p.delete_key(row["token"])))
    errors.append(raises(proxy, NotManagementKey, lambda p: p.check_management_key(), key=secret))
    errors.append(raises(proxy, AuthRejected, lambda p: p.check_management_key(), key="sk-" + "q" * 30))
    for err in errors:
        for text in (str(err), repr(err), str(err.args)):
            assert master not in text and secret not in text and "q" * 30 not in text, text
