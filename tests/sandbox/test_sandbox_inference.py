"""The sandbox's inference APIs over real HTTP: chat completions, Responses and Anthropic Messages,
whole and streamed, charged to the caller until its cap; /models and count_tokens."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import httpx
import pytest
from sandbox_support import CHAT, MSGS, RESP, Clock, client, is_subsequence, sse_events

from capit_tui.sandbox import REPLY_TEXT, Sandbox

# ---------------------------------------------------------------- inference

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
    assert all(name == d["type"] for name, d in zip(names, datas, strict=False))
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
    assert all(n == d["type"] for (n, _), d in zip(events, datas, strict=False))
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


def test_an_expired_key_is_refused_with_401_and_openrouters_envelope(sb: Sandbox, clock: Clock) -> None:
    """OpenRouter does not document its answer for an expired key: the sandbox answers 401, as for a
    disabled or unknown key (capit_tui/sandbox/auth.py says why)."""
    from datetime import timedelta

    with client(sb, sb.management_key) as m:
        made = m.post("/keys", json={"name": "short-lived", "limit": 1,
                                     "expires_at": (clock.now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert made.status_code == 201
    secret = made.json()["key"]
    with client(sb, secret) as k:
        assert k.post("/chat/completions", json=CHAT).status_code == 200
        clock.now += timedelta(hours=1)
        r = k.post("/chat/completions", json=CHAT)
    assert r.status_code == 401 and r.json() == {"error": {"code": 401, "message": "User not found."}}
    r = httpx.post(sb.anthropic_base_url + "/v1/messages", json=MSGS, headers={"x-api-key": secret}, trust_env=False)
    assert r.status_code == 401 and r.json()["type"] == "error"
