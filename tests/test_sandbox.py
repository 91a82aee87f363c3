"""The sandbox is a real OpenRouter look-alike on loopback: check it over real HTTP, against the spec."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from capit_tui.sandbox import REPLY_TEXT, Sandbox, serve
from openapi_contract import validate_component, validate_request, validate_response

SECRET_RE = re.compile(r"^sk-or-v1-[0-9a-f]{64}$")
LABEL_RE = re.compile(r"^sk-or-v1-[0-9a-f]{3}\.\.\.[0-9a-f]{3}$")
T0 = datetime(2026, 11, 29, 23, 30, tzinfo=timezone.utc)  # a Sunday, late evening UTC


class Clock:
    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sb(clock: Clock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock) as sandbox:
        yield sandbox


def client(sb: Sandbox, key: str | None = None, **kw: Any) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    kw.setdefault("timeout", 5.0)
    return httpx.Client(base_url=sb.base_url, headers=headers, trust_env=False, **kw)


def call(c: httpx.Client, method: str, path: str, *, params: dict[str, str] | None = None,
         body: Any = None, expect: int = 200) -> Any:
    """Send a management call, checking the request and the response against the OpenAPI subset."""
    validate_request(method, path, params or {}, body)
    r = c.request(method, path, params=params, json=body)
    assert r.status_code == expect, (r.status_code, r.text)
    data = r.json()
    validate_response(method, path, r.status_code, data)
    return data


def list_all(c: httpx.Client, **params: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = call(c, "GET", "/keys", params={**params, "offset": str(offset)})["data"]
        out += page
        if len(page) < 100:
            return out
        offset += 100


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name or None, data) per SSE event; comment lines skipped."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if data:
            events.append((name, "\n".join(data)))
    return events


def is_subsequence(wanted: list[str], seen: list[str]) -> bool:
    it = iter(seen)
    return all(any(w == s for s in it) for w in wanted)


# ---------------------------------------------------------------- /key, /credits, auth


def test_current_key_for_management_and_inference_keys(sb: Sandbox) -> None:
    secret, key_hash = sb.add_key("agent", limit=Decimal("5"), reset="monthly", spend=Decimal("1.25"))
    with client(sb, sb.management_key) as m, client(sb, secret) as k:
        data = call(m, "GET", "/key")["data"]
        assert data["is_management_key"] is True and data["limit"] is None
        data = call(k, "GET", "/key")["data"]
        assert data["is_management_key"] is False
        assert data["limit"] == 5 and data["limit_remaining"] == 3.75 and data["limit_reset"] == "monthly"
        assert data["usage"] == data["usage_daily"] == 1.25
        assert LABEL_RE.match(data["label"]) and data["label"].endswith(secret[-3:])
    assert sb.requests[-1].key_hash == key_hash
    assert sb.requests[-1].headers["authorization"] == f"Bearer {secret}"


def test_auth_errors(sb: Sandbox) -> None:
    secret, _ = sb.add_key("agent")
    off, _ = sb.add_key("off", disabled=True)
    unknown = "sk-or-v1-" + "0" * 64
    with client(sb) as anon, client(sb, unknown) as bad, client(sb, secret) as k, client(sb, off) as d:
        body = call(anon, "GET", "/key", expect=401)
        assert body["error"] == {"code": 401, "message": "Missing Authentication header"}
        body = call(bad, "GET", "/key", expect=401)
        assert body["error"] == {"code": 401, "message": "User not found."}
        call(d, "GET", "/key", expect=401)
        assert call(bad, "GET", "/keys", expect=401)["error"]["message"] == "User not found."
        call(anon, "GET", "/keys", expect=401)
        # An inference key on a management route: 403 (the spec lists no 403 for GET /keys).
        r = k.get("/keys")
        assert r.status_code == 403
        validate_component("ForbiddenResponse", r.json())
        assert r.json()["error"]["message"] == "Only management keys can perform this operation"
        assert k.get("/workspaces").status_code == 403
        assert call(k, "GET", "/credits", expect=403)["error"]["code"] == 403
        call(k, "POST", "/keys", body={"name": "sneaky"}, expect=403)
    assert sb.requests[-1].key_hash is not None
    assert [r.key_hash for r in sb.requests[1:2]] == [None]  # the unknown key maps to no hash


def test_credits(clock: Clock) -> None:
    with Sandbox(clock=clock, seed_keys=10) as sb, client(sb, sb.management_key) as m:
        data = call(m, "GET", "/credits")["data"]
        total = sum(Decimal(str(k["usage"])) for k in sb.keys.values())
        assert Decimal(str(data["total_usage"])) == total
        assert data["total_credits"] >= data["total_usage"]


# ---------------------------------------------------------------- listing and paging


def test_paging_past_100_newest_first(sb: Sandbox, clock: Clock) -> None:
    hashes = []
    for i in range(250):
        clock.advance(seconds=1)
        hashes.append(sb.add_key(f"k{i}")[1])
    with client(sb, sb.management_key) as m:
        sizes = [len(call(m, "GET", "/keys", params={"offset": str(o)})["data"]) for o in (0, 100, 200, 300)]
        assert sizes == [100, 100, 50, 0]
        keys = list_all(m)
    assert [k["hash"] for k in keys] == hashes[::-1]
    assert keys[0]["name"] == "k249"


def test_paging_past_1000_seeded(clock: Clock) -> None:
    with Sandbox(clock=clock, seed_keys=1234) as sb, client(sb, sb.management_key) as m:
        everything = list_all(m, include_disabled="true")
        enabled = list_all(m)
        explicit = list_all(m, include_disabled="false")
    assert len(everything) == 1234 == len({k["hash"] for k in everything})
    created = [k["created_at"] for k in everything]
    assert created == sorted(created, reverse=True)
    disabled = [k for k in everything if k["disabled"]]
    assert disabled and not any(k["disabled"] for k in enabled)
    assert len(enabled) == 1234 - len(disabled)
    assert enabled == explicit


def test_include_disabled_and_bad_parameters(sb: Sandbox) -> None:
    _, on = sb.add_key("on")
    _, off = sb.add_key("off", disabled=True)
    with client(sb, sb.management_key) as m:
        assert [k["hash"] for k in call(m, "GET", "/keys")["data"]] == [on]
        both = call(m, "GET", "/keys", params={"include_disabled": "true"})["data"]
        assert {k["hash"] for k in both} == {on, off}
        for params in ({"include_disabled": "yes"}, {"offset": "-1"}, {"offset": "x"}):
            r = m.get("/keys", params=params)
            assert r.status_code == 400
            validate_response("GET", "/keys", 400, r.json())
            with pytest.raises(AssertionError):
                validate_request("GET", "/keys", params, None)


def test_workspaces(clock: Clock) -> None:
    with Sandbox(clock=clock, seed_keys=60, workspaces=3) as sb, client(sb, sb.management_key) as m:
        ws = call(m, "GET", "/workspaces")
        assert ws["total_count"] == 3 and len(ws["data"]) == 3
        ids = [w["id"] for w in ws["data"]]
        assert ids[0] == sb.default_workspace_id
        page = call(m, "GET", "/workspaces", params={"offset": "1", "limit": "1"})
        assert [w["id"] for w in page["data"]] == ids[1:2] and page["total_count"] == 3

        default = list_all(m, include_disabled="true")
        per_ws = {w: list_all(m, include_disabled="true", workspace_id=w) for w in ids}
        assert default == per_ws[ids[0]]
        assert all(k["workspace_id"] == w for w, keys in per_ws.items() for k in keys)
        assert sum(len(v) for v in per_ws.values()) == 60
        assert all(per_ws[w] for w in ids), "seeded keys spread across workspaces"

        made = call(m, "POST", "/keys", body={"name": "research-agent", "workspace_id": ids[2]}, expect=201)
        h = made["data"]["hash"]
        assert made["data"]["workspace_id"] == ids[2]
        assert h in {k["hash"] for k in list_all(m, workspace_id=ids[2])}
        assert h not in {k["hash"] for k in list_all(m)}
        plain = call(m, "POST", "/keys", body={"name": "plain"}, expect=201)
        assert plain["data"]["workspace_id"] == ids[0]

        assert m.get("/keys", params={"workspace_id": "0df9e665-d932-5740-b2c7-b52af166bc11"}).status_code == 400
        assert m.get("/workspaces", params={"limit": "101"}).status_code == 400


# ---------------------------------------------------------------- create / patch / delete


def test_create_get_patch_delete(sb: Sandbox, clock: Clock) -> None:
    with client(sb, sb.management_key) as m:
        body = {"name": "capit-claude-20261129", "limit": 5, "limit_reset": "monthly"}
        made = call(m, "POST", "/keys", body=body, expect=201)
        secret, data = made["key"], made["data"]
        assert SECRET_RE.match(secret)
        assert data["hash"] == hashlib.sha256(secret.encode()).hexdigest()
        assert LABEL_RE.match(data["label"]) and secret not in json.dumps(data)
        assert data["updated_at"] is None and data["created_at"] == "2026-11-29T23:30:00Z"
        assert (data["limit"], data["limit_remaining"], data["usage"]) == (5, 5, 0)
        assert data["expires_at"] is None and data["disabled"] is False
        path = f"/keys/{data['hash']}"
        assert call(m, "GET", path)["data"] == data

        clock.advance(minutes=5)
        patched = call(m, "PATCH", path, body={"name": "renamed", "limit": 7.5, "limit_reset": "daily",
                                               "disabled": True, "include_byok_in_limit": True})["data"]
        assert (patched["name"], patched["limit"], patched["limit_reset"], patched["disabled"]) == \
            ("renamed", 7.5, "daily", True)
        assert patched["include_byok_in_limit"] is True
        assert patched["updated_at"] == "2026-11-29T23:35:00Z"
        uncapped = call(m, "PATCH", path, body={"limit": None, "disabled": False})["data"]
        assert uncapped["limit"] is None and uncapped["limit_remaining"] is None
        assert uncapped["name"] == "renamed" and uncapped["limit_reset"] == "daily"

        assert call(m, "DELETE", path) == {"deleted": True}
        assert call(m, "GET", path, expect=404)["error"]["code"] == 404
        call(m, "PATCH", path, body={"name": "x"}, expect=404)
        call(m, "DELETE", path, expect=404)
        assert call(m, "GET", "/keys")["data"] == []


@pytest.mark.parametrize("body,spec_rejects", [
    ({}, True), ({"name": ""}, True), ({"name": "x", "limit": "5"}, True),
    ({"name": "x", "limit_reset": "yearly"}, True), ({"name": "x", "include_byok_in_limit": "yes"}, True),
    ({"name": "x", "workspace_id": "nope"}, True),
    # Valid for the spec's schema, refused by the server (no negative caps; expiry must be UTC).
    ({"name": "x", "limit": -1}, False), ({"name": "x", "expires_at": "2026-12-01T00:00:00+02:00"}, False),
    ({"name": "x", "expires_at": "2026-11-01T00:00:00Z"}, False),
])
def test_create_refuses_bad_bodies(sb: Sandbox, body: dict[str, Any], spec_rejects: bool) -> None:
    with client(sb, sb.management_key) as m:
        r = m.post("/keys", json=body)
        assert r.status_code == 400, r.text
        validate_response("POST", "/keys", 400, r.json())
        assert r.json()["error"]["code"] == 400
    if spec_rejects:
        with pytest.raises(AssertionError):
            validate_request("POST", "/keys", {}, body)
    else:
        validate_request("POST", "/keys", {}, body)
    assert len(sb.keys) == 0


def test_create_and_patch_refuse_non_json(sb: Sandbox) -> None:
    _, h = sb.add_key("a")
    with client(sb, sb.management_key) as m:
        assert m.post("/keys", content=b"{nope", headers={"Content-Type": "application/json"}).status_code == 400
        assert m.patch(f"/keys/{h}", json={"limit": -2}).status_code == 400
        assert m.patch(f"/keys/{h}", json={"limit_reset": "hourly"}).status_code == 400
    assert sb.keys[h]["limit"] is None


# ---------------------------------------------------------------- spend windows


def test_windows_reset_at_midnight_monday_and_month(sb: Sandbox, clock: Clock) -> None:
    caps = {r: sb.add_key(f"cap-{r}", limit=Decimal("2"), reset=r)[1] for r in ("daily", "weekly", "monthly", None)}
    for h in caps.values():
        sb.spend(h, Decimal("1.00"))  # Sunday 23:30

    def view(h: str) -> tuple[float, float, float, float, float]:
        with client(sb, sb.management_key) as m:
            k = call(m, "GET", f"/keys/{h}")["data"]
        return k["usage_daily"], k["usage_weekly"], k["usage_monthly"], k["usage"], k["limit_remaining"]

    assert view(caps["daily"]) == (1, 1, 1, 1, 1)
    clock.now = datetime(2026, 11, 30, 0, 10, tzinfo=timezone.utc)  # Monday: new day and new week
    assert view(caps["daily"]) == (0, 0, 1, 1, 2)
    assert view(caps["weekly"]) == (0, 0, 1, 1, 2)
    assert view(caps["monthly"]) == (0, 0, 1, 1, 1)
    assert view(caps[None]) == (0, 0, 1, 1, 1)
    for h in caps.values():
        sb.spend(h, Decimal("0.5"))
    assert view(caps["weekly"]) == (0.5, 0.5, 1.5, 1.5, 1.5)
    clock.now = datetime(2026, 12, 1, 0, 1, tzinfo=timezone.utc)  # Tuesday, new month
    assert view(caps["daily"]) == (0, 0.5, 0, 1.5, 2)
    assert view(caps["weekly"]) == (0, 0.5, 0, 1.5, 1.5)
    assert view(caps["monthly"]) == (0, 0.5, 0, 1.5, 2)
    assert view(caps[None]) == (0, 0.5, 0, 1.5, 0.5)
    clock.now = datetime(2026, 12, 7, 0, 0, tzinfo=timezone.utc)  # next Monday
    assert view(caps["weekly"]) == (0, 0, 0, 1.5, 2)


# ---------------------------------------------------------------- inference


CHAT = {"model": "openai/gpt-5.1", "messages": [{"role": "user", "content": "hi"}]}
RESP = {"model": "openai/gpt-5.1-codex", "input": "hi"}
MSGS = {"model": "anthropic/claude-sonnet-4.5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


def test_inference_charges_the_caller_until_the_daily_cap(sb: Sandbox, clock: Clock) -> None:
    secret, h = sb.add_key("capped", limit=Decimal("0.03"), reset="daily")
    _, other = sb.add_key("bystander", limit=Decimal("1"), reset="daily")
    with client(sb, secret) as k:
        r = k.post("/chat/completions", json=CHAT)
        assert r.status_code == 200
        body = r.json()
        assert body["object"] == "chat.completion" and body["model"] == "openai/gpt-5.1"
        assert body["choices"][0]["message"] == {"role": "assistant", "content": REPLY_TEXT,
                                                 "refusal": None, "reasoning": None}
        assert body["choices"][0]["finish_reason"] == "stop" and body["usage"]["total_tokens"] > 0
        r = k.post("/responses", json=RESP)
        assert r.status_code == 200 and r.json()["object"] == "response" and r.json()["status"] == "completed"
        assert r.json()["output"][0]["content"][0] == {"type": "output_text", "text": REPLY_TEXT,
                                                      "annotations": [], "logprobs": []}
        r = httpx.post(sb.anthropic_base_url + "/v1/messages?beta=true", json=MSGS, trust_env=False,
                       headers={"x-api-key": secret, "anthropic-version": "2023-06-01"})
        assert r.status_code == 200
        assert r.json()["type"] == "message" and r.json()["content"] == [{"type": "text", "text": REPLY_TEXT}]
        assert r.json()["stop_reason"] == "end_turn"

        r = k.post("/chat/completions", json=CHAT)
        assert r.status_code == 403
        assert r.json() == {"error": {"code": 403, "message":
                            "Key limit exceeded (daily limit). Manage it using https://openrouter.ai/settings/keys"}}
        r = httpx.post(sb.anthropic_base_url + "/v1/messages", json=MSGS, headers={"x-api-key": secret},
                       trust_env=False)
        assert r.status_code == 403 and r.json()["type"] == "error"
        assert r.json()["error"]["type"] == "permission_error"
        assert r.json()["error"]["message"].startswith("Key limit exceeded (daily limit)")

    assert sb.inference_calls == [(h, "/api/v1/chat/completions"), (h, "/api/v1/responses"),
                                  (h, "/api/v1/messages")]
    assert sb.keys[h]["usage_daily"] == 0.03 and sb.keys[h]["limit_remaining"] == 0
    assert sb.keys[other]["usage"] == 0
    clock.now = datetime(2026, 11, 30, 0, 0, 1, tzinfo=timezone.utc)
    with client(sb, secret) as k:
        assert k.post("/chat/completions", json=CHAT).status_code == 200
    assert sb.keys[h]["usage"] == 0.04 and sb.keys[h]["usage_daily"] == 0.01


@pytest.mark.parametrize("reset,window", [("weekly", "weekly"), ("monthly", "monthly"), (None, "total")])
def test_limit_message_names_the_window(sb: Sandbox, reset: str | None, window: str) -> None:
    secret, _ = sb.add_key("spent", limit=Decimal("1"), reset=reset, spend=Decimal("1"))
    with client(sb, secret) as k:
        r = k.post("/responses", json=RESP)
    assert r.status_code == 403
    assert r.json()["error"]["message"] == (
        f"Key limit exceeded ({window} limit). Manage it using https://openrouter.ai/settings/keys")
    assert sb.inference_calls == []


def test_inference_refuses_unknown_disabled_and_management_keys(sb: Sandbox) -> None:
    off, _ = sb.add_key("off", disabled=True)
    for key, status in ((None, 401), ("sk-or-v1-" + "1" * 64, 401), (off, 401), (sb.management_key, 403)):
        with client(sb, key) as c:
            r = c.post("/chat/completions", json=CHAT)
            assert r.status_code == status, (key and key[:12], r.text)
            assert r.json()["error"]["code"] == status
    r = httpx.post(sb.anthropic_base_url + "/v1/messages", json=MSGS, headers={"x-api-key": off},
                   trust_env=False)
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert r.json()["error"]["message"] == "User not found."
    assert sb.inference_calls == []


def test_streaming_chat_completions(sb: Sandbox) -> None:
    secret, h = sb.add_key("s")
    with client(sb, secret) as k, k.stream("POST", "/chat/completions", json=CHAT | {"stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        text = r.read().decode()
    events = sse_events(text)
    assert all(name is None for name, _ in events)
    assert events[-1][1] == "[DONE]"
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert content == REPLY_TEXT
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["cost"] == 0.01
    assert sb.inference_calls == [(h, "/api/v1/chat/completions")]


def test_streaming_responses_api(sb: Sandbox) -> None:
    secret, _ = sb.add_key("s")
    with client(sb, secret) as k, k.stream("POST", "/responses", json=RESP | {"stream": True}) as r:
        assert r.status_code == 200
        events = sse_events(r.read().decode())
    names = [name for name, _ in events]
    datas = [json.loads(d) for _, d in events]
    assert all(name == d["type"] for name, d in zip(names, datas))
    assert is_subsequence(["response.created", "response.output_item.added", "response.output_text.delta",
                           "response.output_text.done", "response.output_item.done", "response.completed"], names)
    assert names[0] == "response.created" and names[-1] == "response.completed"
    assert [d["sequence_number"] for d in datas] == list(range(len(datas)))
    assert "".join(d["delta"] for d in datas if d["type"] == "response.output_text.delta") == REPLY_TEXT
    done = datas[-1]["response"]
    assert done["status"] == "completed" and done["id"] == datas[0]["response"]["id"]
    assert done["output"][0]["content"][0]["text"] == REPLY_TEXT
    assert done["usage"]["total_tokens"] == done["usage"]["input_tokens"] + done["usage"]["output_tokens"]
    item = next(d for d in datas if d["type"] == "response.output_item.done")["item"]
    assert item["type"] == "message" and item["role"] == "assistant" and item["status"] == "completed"


def test_streaming_anthropic_messages(sb: Sandbox) -> None:
    secret, h = sb.add_key("s")
    url = sb.anthropic_base_url + "/v1/messages?beta=true"
    headers = {"Authorization": f"Bearer {secret}", "anthropic-version": "2023-06-01"}
    with httpx.stream("POST", url, json=MSGS | {"stream": True}, headers=headers, trust_env=False) as r:
        assert r.status_code == 200
        events = sse_events(r.read().decode())
    names = [n for n, _ in events if n != "ping"]
    datas = [json.loads(d) for _, d in events]
    assert all(n == d["type"] for (n, _), d in zip(events, datas))
    assert names[:2] == ["message_start", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[2:-3]) == {"content_block_delta"}
    assert "".join(d["delta"]["text"] for d in datas if d["type"] == "content_block_delta") == REPLY_TEXT
    start = datas[0]["message"]
    assert start["role"] == "assistant" and start["content"] == [] and start["model"] == MSGS["model"]
    assert next(d for d in datas if d["type"] == "message_delta")["delta"]["stop_reason"] == "end_turn"
    assert sb.requests[-1].query == {"beta": "true"}
    assert sb.inference_calls == [(h, "/api/v1/messages")]


def test_models_and_count_tokens_and_unknown_routes(sb: Sandbox) -> None:
    secret, _ = sb.add_key("s")
    with client(sb, secret) as k:
        ids = [m["id"] for m in k.get("/models").json()["data"]]
        assert {"anthropic/claude-sonnet-4.5", "openai/gpt-5.1-codex"} <= set(ids)
        anth = k.get("/models", headers={"anthropic-version": "2023-06-01"}).json()
        assert anth["has_more"] is False and anth["data"][0]["type"] == "model"
        r = k.post("/messages/count_tokens", json=MSGS)
        assert r.status_code == 200 and r.json()["input_tokens"] > 0
        for method, path in (("GET", "/nope"), ("POST", "/keys/a/b"), ("GET", "/../../etc/passwd")):
            r = k.request(method, path)
            assert r.status_code == 404 and r.json()["error"]["code"] == 404
        r = httpx.get(sb.origin + "/", trust_env=False)
        assert r.status_code == 404 and r.json()["error"]["code"] == 404
        assert k.get("/chat/completions").status_code == 405
    assert sb.inference_calls == []


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize("kind", ["500", "502", "503", "401"])
def test_error_faults(sb: Sandbox, kind: str) -> None:
    sb.inject_fault("GET /api/v1/keys*", kind)
    with client(sb, sb.management_key) as m:
        r = m.get("/keys")
        assert r.status_code == int(kind) and r.json()["error"]["code"] == int(kind)
        if kind in ("500", "401"):
            validate_response("GET", "/keys", r.status_code, r.json())
        assert m.get("/keys").status_code == 200  # times=1 by default
    assert [r.status for r in sb.requests] == [int(kind), 200]


def test_429_fault_with_retry_after_and_after_and_times(sb: Sandbox) -> None:
    sb.inject_fault("GET /api/v1/keys", "429", times=2, after=2, retry_after=7)
    with client(sb, sb.management_key) as m:
        statuses = [m.get("/keys") for _ in range(5)]
        assert m.get("/credits").status_code == 200  # another route is untouched
    assert [r.status_code for r in statuses] == [200, 200, 429, 429, 200]
    assert statuses[2].headers["retry-after"] == "7"
    validate_response("GET", "/keys", 429, statuses[2].json())


def test_fault_route_globs_and_clear(sb: Sandbox) -> None:
    _, h = sb.add_key("a")
    sb.inject_fault("* /api/v1/keys/*", "503", times=0)  # every matching request until cleared
    with client(sb, sb.management_key) as m:
        assert m.get("/keys").status_code == 200
        assert m.get(f"/keys/{h}").status_code == 503
        assert m.patch(f"/keys/{h}", json={"name": "b"}).status_code == 503
        assert m.get(f"/keys/{h}").status_code == 503
        sb.clear_faults()
        assert m.get(f"/keys/{h}").status_code == 200
    with pytest.raises(ValueError):
        sb.inject_fault("GET /x", "teapot")


def test_stall_fault_exceeds_a_client_timeout(sb: Sandbox) -> None:
    sb.inject_fault("GET /api/v1/key", "stall", stall_seconds=2.0)
    with client(sb, sb.management_key, timeout=0.25) as m:
        t = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            m.get("/key")
        assert time.monotonic() - t < 1.5
        assert m.get("/key").status_code == 200
    sb.inject_fault("GET /api/v1/key", "stall", stall_seconds=0.3)
    with client(sb, sb.management_key) as m:
        t = time.monotonic()
        assert m.get("/key").status_code == 200
        assert time.monotonic() - t >= 0.3


def test_notjson_drop_and_reset_faults(sb: Sandbox) -> None:
    sb.inject_fault("GET /api/v1/keys", "notjson")
    with client(sb, sb.management_key) as m:
        r = m.get("/keys")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        with pytest.raises(json.JSONDecodeError):
            r.json()
    sb.inject_fault("GET /api/v1/keys", "drop")
    with client(sb, sb.management_key) as m:
        with pytest.raises(httpx.RemoteProtocolError):
            m.get("/keys")
        assert m.get("/keys").status_code == 200
    sb.inject_fault("POST /api/v1/keys", "reset")
    with client(sb, sb.management_key) as m:
        with pytest.raises(httpx.ReadError):
            m.post("/keys", json={"name": "maybe"})
        assert m.get("/keys").status_code == 200
    assert [r.status for r in sb.requests] == [200, None, 200, None, 200]
    assert sb.requests[3].json == {"name": "maybe"}
    assert len(sb.keys) == 0  # a faulted create never reaches the handler


def test_faults_mid_way_through_paging(clock: Clock) -> None:
    with Sandbox(clock=clock, seed_keys=350) as sb, client(sb, sb.management_key) as m:
        sb.inject_fault("GET /api/v1/keys", "500", after=2)
        codes = [m.get("/keys", params={"offset": str(o), "include_disabled": "true"}).status_code
                 for o in (0, 100, 200, 200, 300)]
    assert codes == [200, 200, 500, 200, 200]


# ---------------------------------------------------------------- latency, seeding, traffic


def test_latency_is_applied_without_serialising_requests(clock: Clock) -> None:
    with Sandbox(clock=clock, latency_ms=300) as sb, client(sb, sb.management_key) as m:
        t = time.monotonic()
        assert m.get("/key").status_code == 200
        assert time.monotonic() - t >= 0.3
        clients = [client(sb, sb.management_key) for _ in range(6)]
        results: list[int] = []
        threads = [threading.Thread(target=lambda c=c: results.append(c.get("/key").status_code))
                   for c in clients]
        t = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.monotonic() - t
        for c in clients:
            c.close()
        assert results == [200] * 6
        assert 0.3 <= elapsed < 1.2  # 6 x 300 ms one after another would take 1.8 s
        # Admin calls are not slowed down (latency_ms is read on every request).
        sb.latency_ms = 2000
        t = time.monotonic()
        assert m.get(sb.origin + "/_sandbox/requests").status_code == 200
        assert time.monotonic() - t < 1.5


def _snapshot(sb: Sandbox) -> list[tuple[Any, ...]]:
    return [(k["hash"], k["name"], k["limit"], k["limit_reset"], k["disabled"], k["usage"], k["usage_daily"],
             k["created_at"], k["workspace_id"]) for k in sb.keys.values()]


def test_seeding_is_deterministic_and_realistic(clock: Clock) -> None:
    a = Sandbox(clock=clock, seed_keys=200, seed=7)
    b = Sandbox(clock=Clock(), seed_keys=200, seed=7)
    c = Sandbox(clock=clock, seed_keys=200, seed=8)
    assert _snapshot(a) == _snapshot(b)
    assert [k[1] for k in _snapshot(a)] != [k[1] for k in _snapshot(c)]
    assert a.management_key == b.management_key != c.management_key
    assert SECRET_RE.match(a.management_key)
    assert Sandbox(management_key="sk-or-v1-" + "ab" * 32).management_key == "sk-or-v1-" + "ab" * 32

    keys = list(a.keys.values())
    names = [k["name"] for k in keys]
    assert len(set(names)) == len(names)
    assert any(n.startswith("capit-") and re.search(r"-\d{8}$", n) for n in names)
    assert {k["limit_reset"] for k in keys} == {"daily", "weekly", "monthly", None}
    capped = [k for k in keys if k["limit"] is not None]
    assert all(1 <= k["limit"] <= 50 for k in capped)
    assert any(k["limit"] is None for k in keys) and any(k["disabled"] for k in keys)
    near = [k for k in capped if (k["limit"] - k["limit_remaining"]) >= 0.8 * k["limit"]]
    assert near, "some keys sit at 80-100% of their cap"
    for k in keys:
        assert k["usage_daily"] <= min(k["usage_weekly"], k["usage_monthly"])
        assert max(k["usage_daily"], k["usage_weekly"], k["usage_monthly"]) <= k["usage"] + 1e-9
        created = datetime.fromisoformat(k["created_at"].replace("Z", "+00:00"))
        assert T0 - timedelta(weeks=9) < created < T0
        assert SECRET_RE.match(a.seed_secrets[k["hash"]])
    assert any(k["usage"] > k["usage_monthly"] for k in keys), "some spend lies in earlier windows"


def test_traffic_simulator_spends(clock: Clock) -> None:
    with Sandbox(clock=clock, seed_keys=20, traffic=True, traffic_interval=0.05) as sb:
        before = {h: k["usage"] for h, k in sb.keys.items()}
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            time.sleep(0.05)
            after = {h: k["usage"] for h, k in sb.keys.items()}
            if after != before:
                break
        changed = [h for h in before if after[h] != before[h]]
        assert changed and all(after[h] > before[h] for h in changed)
        assert not any(sb.keys[h]["disabled"] for h in changed)
    assert sb._traffic_thread is None  # stopped with the server


# ---------------------------------------------------------------- admin API, recording, lifecycle


def test_admin_endpoints(sb: Sandbox) -> None:
    with client(sb, sb.management_key) as m, httpx.Client(base_url=sb.origin, trust_env=False,
                                                          headers={"Authorization": f"Bearer {sb.management_key}"}) as admin:
        r = admin.post("/_sandbox/keys", json={"name": "from-admin", "limit": 2, "reset": "weekly", "spend": 0.5})
        assert r.status_code == 201
        secret, h = r.json()["secret"], r.json()["hash"]
        assert SECRET_RE.match(secret) and h == hashlib.sha256(secret.encode()).hexdigest()
        assert r.json()["data"]["limit_remaining"] == 1.5
        r = admin.post("/_sandbox/spend", json={"hash": h, "amount": "0.25"})
        assert r.status_code == 200 and r.json()["data"]["usage_weekly"] == 0.75
        assert admin.post("/_sandbox/spend", json={"hash": "nope", "amount": 1}).status_code == 404

        assert admin.post("/_sandbox/faults", json={"route": "GET /api/v1/keys", "kind": "429",
                                                    "times": 1, "after": 0, "retry_after": 3}).status_code == 201
        r = m.get("/keys")
        assert r.status_code == 429 and r.headers["retry-after"] == "3"
        admin.post("/_sandbox/faults", json={"route": "GET /api/v1/keys", "kind": "500", "times": 5})
        assert admin.delete("/_sandbox/faults").json()["cleared"] == 1
        assert m.get("/keys").status_code == 200
        assert admin.post("/_sandbox/faults", json={"route": "GET /x", "kind": "boom"}).status_code == 400

        with client(sb, secret) as k:
            k.post("/chat/completions", json=CHAT)
        recorded = admin.get("/_sandbox/requests")
        assert recorded.status_code == 200
        assert secret not in recorded.text and sb.management_key not in recorded.text
        rows = recorded.json()
        assert [(r["method"], r["path"], r["status"]) for r in rows] == [
            ("GET", "/api/v1/keys", 429), ("GET", "/api/v1/keys", 200), ("POST", "/api/v1/chat/completions", 200)]
        assert rows[-1]["headers"]["authorization"] == h == rows[-1]["key_hash"]
        assert rows[0]["headers"]["authorization"] == sb.management_key_hash
        assert rows[-1]["json"] == CHAT
        assert len(admin.get("/_sandbox/requests", params={"since": "2"}).json()) == 1

        r = admin.post("/_sandbox/clock", json={"advance": 86400})
        assert r.json()["now"] == "2026-11-30T23:30:00Z"
        assert sb.keys[h]["usage_daily"] == 0

        with client(sb, secret) as k:
            assert httpx.get(sb.origin + "/_sandbox/requests", trust_env=False).status_code == 401
            assert k.get(sb.origin + "/_sandbox/requests").status_code == 401


def test_recorded_requests_keep_details_but_repr_masks_secrets(sb: Sandbox) -> None:
    secret, h = sb.add_key("r")
    with client(sb, sb.management_key) as m:
        m.get("/keys", params={"include_disabled": "true", "offset": "0"})
        m.patch(f"/keys/{h}", json={"name": "renamed"})
    with client(sb, secret) as k:
        k.post("/chat/completions", json=CHAT)
    first, patch, chat = sb.requests
    assert first.query == {"include_disabled": "true", "offset": "0"} and first.json is None
    assert first.headers["authorization"] == f"Bearer {sb.management_key}"
    assert patch.method == "PATCH" and patch.json == {"name": "renamed"} and patch.status == 200
    assert chat.key_hash == h and chat.headers["authorization"] == f"Bearer {secret}"
    assert secret not in repr(chat) and sb.management_key not in repr(first)
    assert first.at == T0


def test_injected_clock_drives_timestamps_and_date_header(sb: Sandbox, clock: Clock) -> None:
    with client(sb, sb.management_key) as m:
        r = m.get("/key")
    assert r.headers["date"] == "Sun, 29 Nov 2026 23:30:00 GMT"


def test_server_prints_nothing_and_stop_closes_connections(capfd: pytest.CaptureFixture[str], clock: Clock) -> None:
    sb = Sandbox(clock=clock, seed_keys=5).start()
    secret, _ = sb.add_key("quiet")
    c = client(sb, sb.management_key)
    assert c.get("/keys").status_code == 200
    with client(sb, secret) as k:
        k.post("/chat/completions", json=CHAT)
        k.post("/chat/completions", content=b"not json")
    sb.stop()
    with pytest.raises(httpx.TransportError):
        c.get("/keys")  # the pooled keep-alive connection was closed too
    c.close()
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert not sb.running
    sb.stop()  # idempotent


def test_serve_prints_environment_and_stops_on_interrupt(tmp_path: Path) -> None:
    code = ("import sys; from capit_tui.sandbox import serve; "
            "sys.exit(serve(port=0, seed_keys=3))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=os.environ.copy())
    try:
        lines = []
        assert proc.stdout is not None
        while not any(line.startswith("export CAPIT_OPENROUTER_MANAGEMENT_KEY=") for line in lines):
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            lines.append(line.strip())
        env = dict(line[len("export "):].split("=", 1) for line in lines if line.startswith("export "))
        base = env["CAPIT_OPENROUTER_BASE_URL"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1", base)
        r = httpx.get(base + "/keys", trust_env=False,
                      headers={"Authorization": f"Bearer {env['CAPIT_OPENROUTER_MANAGEMENT_KEY']}"})
        assert r.status_code == 200 and len(r.json()["data"]) >= 1
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


def test_serve_writes_to_the_given_stream(clock: Clock) -> None:
    """serve() in a thread, stopped by a KeyboardInterrupt raised from its own sleep loop."""
    import io

    class Out(io.StringIO):
        def write(self, s: str) -> int:
            n = super().write(s)
            if "Press Ctrl-C" in s:
                raise KeyboardInterrupt  # as if Ctrl-C arrived right after the banner
            return n

    out = Out()
    assert serve(port=0, seed_keys=0, out=out) == 0
    text = out.getvalue()
    assert "export CAPIT_OPENROUTER_BASE_URL=http://127.0.0.1:" in text
    assert "export CAPIT_OPENROUTER_MANAGEMENT_KEY=sk-or-v1-" in text
    assert text.rstrip().endswith("capit-tui sandbox stopped.")


def test_contract_module_is_strict_about_statuses_unless_asked() -> None:
    body = {"error": {"code": 403, "message": "Only management keys can perform this operation"}}
    with pytest.raises(AssertionError, match="not in the spec"):
        validate_response("GET", "/api/v1/keys", 403, body)
    validate_response("GET", "/api/v1/keys", 403, body, undocumented_errors=True)
    with pytest.raises(AssertionError, match="error.code"):
        validate_response("GET", "/api/v1/workspaces", 403, {"error": {"code": 401, "message": "x"}},
                          undocumented_errors=True)
    with pytest.raises(AssertionError, match="no such path"):
        validate_response("GET", "/api/v1/nowhere", 200, {})
    with pytest.raises(AssertionError, match="no PUT"):
        validate_request("PUT", "/api/v1/keys", {}, None)
    with pytest.raises(AssertionError, match="body is required"):
        validate_request("PATCH", "/api/v1/keys/abc", {}, None)
    with pytest.raises(AssertionError, match="no request body"):
        validate_request("GET", "/api/v1/keys", {}, {"name": "x"})


def test_create_workspace_expiry_chunked_bodies_and_head(sb: Sandbox, clock: Clock) -> None:
    with client(sb, sb.management_key) as m:
        body = {"name": "Team B", "slug": "team-b"}
        ws = call(m, "POST", "/workspaces", body=body, expect=201)["data"]
        assert ws["slug"] == "team-b" and ws["updated_at"] is None
        assert call(m, "GET", "/workspaces")["total_count"] == 2
        call(m, "POST", "/workspaces", body=body, expect=400)  # slug taken
        r = m.post("/workspaces", json={"name": "x", "slug": "Bad Slug"})
        assert r.status_code == 400
        validate_response("POST", "/workspaces", 400, r.json())

        made = call(m, "POST", "/keys", expect=201,
                    body={"name": "short-lived", "expires_at": "2026-11-30T00:00:00Z", "workspace_id": ws["id"]})
        assert made["data"]["expires_at"] == "2026-11-30T00:00:00Z"
        with client(sb, made["key"]) as k:
            assert k.post("/chat/completions", json=CHAT).status_code == 200
            clock.now = datetime(2026, 11, 30, 0, 0, 1, tzinfo=timezone.utc)
            assert k.post("/chat/completions", json=CHAT).status_code == 401
            assert k.get("/key").status_code == 401

        def chunks() -> Iterator[bytes]:
            yield b'{"name": '
            yield b'"chunked"}'

        r = m.post("/keys", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 201 and r.json()["data"]["name"] == "chunked"
        assert sb.requests[-1].json == {"name": "chunked"}
        r = m.head("/keys")
        assert r.status_code == 200 and r.content == b"" and int(r.headers["content-length"]) > 0
        assert m.get("/keys").status_code == 200  # the connection is still in sync after HEAD
