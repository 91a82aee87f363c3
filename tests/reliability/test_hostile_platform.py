"""A hostile platform on loopback: escapes and markup in every string, a reply trickled one byte at a
time, endless pages, a page that repeats, a huge body. Each ends within its bound with one sentence,
no traceback and no escape on the terminal."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from capit_tui.platforms.base import MalformedResponse, NetworkError, PlatformError
from capit_tui.platforms.http import MAX_BODY, RetryPolicy
from capit_tui.platforms.openrouter import OpenRouterPlatform

ESCAPES = "\x1b]52;c;aGFja2Vk\x07\x1b[2J\x9b31m[/bad][b]bold[/b]\u202e"
MGMT = "sk-or-v1-" + "b" * 64


def _key(i: int, text: str = "") -> dict[str, Any]:
    return {"hash": f"{i:064x}", "name": f"key-{i}{text}", "label": f"sk-or-v1-abc...{text}", "disabled": False,
            "limit": 5, "limit_reset": "monthly" + text, "limit_remaining": 4, "usage": 1, "usage_daily": 1,
            "usage_weekly": 1, "usage_monthly": 1, "created_at": "2026-11-01T00:00:00Z", "updated_at": None,
            "include_byok_in_limit": False, "byok_usage": 0, "byok_usage_daily": 0, "byok_usage_weekly": 0,
            "byok_usage_monthly": 0, "workspace_id": None}


class Hostile(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode: str):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.gets = 0
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v1"

    def __enter__(self) -> "Hostile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Hostile

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        self.server.gets += 1
        url = urlparse(self.path)
        offset = int(parse_qs(url.query).get("offset", ["0"])[0])
        mode = self.server.mode
        if url.path.endswith("/workspaces"):
            return self._send(404, b'{"error": {"message": "Not Found", "code": 404}}')
        if url.path.endswith("/key"):
            return self._send(200, json.dumps({"data": {"label": ESCAPES, "is_management_key": True,
                                                        "limit": None, "usage": 0}}).encode())
        if mode == "escapes":
            return self._send(200, json.dumps({"data": [_key(i, ESCAPES) for i in range(3)]}).encode())
        if mode == "error-escapes":
            return self._send(400, json.dumps({"error": {"message": "bad" + ESCAPES, "code": 400}}).encode())
        if mode == "endless":
            return self._send(200, json.dumps({"data": [_key(offset + i) for i in range(100)]}).encode())
        if mode == "repeat":
            return self._send(200, json.dumps({"data": [_key(i) for i in range(100)]}).encode())
        if mode == "huge":
            return self._send(200, b'{"data": [' + b" " * (MAX_BODY + 10) + b"]}")
        if mode == "trickle":
            body = json.dumps({"data": [_key(0)]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for b in body:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass
            return None
        return self._send(500, b"{}")


def _adapter(server: Hostile, timeout: float = 1.0) -> OpenRouterPlatform:
    return OpenRouterPlatform("hostile", server.base_url, MGMT, timeout=timeout, retry=RetryPolicy(attempts=1))


async def _list(server: Hostile, timeout: float = 1.0) -> Any:
    async with _adapter(server, timeout) as p:
        return await p.list_keys()


def test_escapes_in_every_field_never_survive_the_adapter():
    with Hostile("escapes") as server:
        keys = asyncio.run(_list(server))
    assert len(keys) == 3
    for k in keys:
        for value in (k.name, k.label, k.limit_reset):
            assert value is not None and "\x1b" not in value and "\x9b" not in value and "\x07" not in value


def test_an_error_body_with_escapes_becomes_a_clean_sentence():
    with Hostile("error-escapes") as server, pytest.raises(PlatformError) as info:
        asyncio.run(_list(server))
    assert "\x1b" not in str(info.value) and "hostile" in str(info.value)


def test_a_trickled_reply_is_cut_off_at_the_deadline():
    with Hostile("trickle") as server:
        started = time.monotonic()
        with pytest.raises(NetworkError, match="did not answer in time"):
            asyncio.run(_list(server, timeout=0.5))
        assert time.monotonic() - started < 5  # the body takes ~40 s to trickle; the deadline is 1 s


def test_endless_pages_stop_at_the_ceiling(monkeypatch):
    import capit_tui.platforms.openrouter as mod

    monkeypatch.setattr(mod, "MAX_PAGES", 12)
    with Hostile("endless") as server:
        with pytest.raises(MalformedResponse, match="kept sending full pages"):
            asyncio.run(_list(server))
        assert server.gets <= 12 + 2 * 4


def test_a_server_that_ignores_paging_is_stopped_at_once():
    with Hostile("repeat") as server:
        with pytest.raises(MalformedResponse, match="ignores paging"):
            asyncio.run(_list(server))
        assert server.gets <= 2 * 4 + 1


def test_a_huge_body_is_not_read_whole():
    with Hostile("huge") as server, pytest.raises(MalformedResponse, match="more than 4 MB"):
        asyncio.run(_list(server))


@pytest.mark.parametrize("mode", ["escapes", "error-escapes", "huge"])
def test_keys_list_prints_no_escape_and_no_traceback(mode):
    with Hostile(mode) as server:
        env = {**os.environ, "CAPIT_OPENROUTER_MANAGEMENT_KEY": MGMT, "CAPIT_OPENROUTER_BASE_URL": server.base_url,
               "CAPIT_HTTP_TIMEOUT": "2"}
        for args in (["keys", "list"], ["keys", "list", "--json"], ["platforms", "test", "openrouter"]):
            proc = subprocess.run([sys.executable, "-m", "capit_tui", *args], capture_output=True, timeout=60,
                                  env=env)
            for stream in (proc.stdout, proc.stderr):
                assert b"\x1b" not in stream and b"\x9b" not in stream.replace(b"\\u009b", b"")
                assert b"Traceback" not in stream
            if mode != "escapes" and args[0] == "keys":
                assert proc.returncode == 1 and proc.stderr.count(b"\n") <= 2
