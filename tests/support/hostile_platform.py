"""A hostile OpenRouter-like platform on loopback, for the reliability and TUI tests: escapes and markup in
every string, a reply trickled a byte at a time, endless pages, a page that repeats, a huge body."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from capit_tui.platforms.transport import MAX_BODY

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
