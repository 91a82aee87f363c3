"""Helpers shared by the sandbox tests: a settable clock, clients that check calls against the OpenAPI
subset, paging, SSE parsing, and the request bodies of the three inference APIs."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from openapi_contract import validate_request, validate_response

from capit_tui.sandbox import Sandbox

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


CHAT = {"model": "openai/gpt-5.1", "messages": [{"role": "user", "content": "hi"}]}
RESP = {"model": "openai/gpt-5.1-codex", "input": "hi"}
MSGS = {"model": "anthropic/claude-sonnet-4.5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
