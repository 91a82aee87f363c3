"""The HTTP side of the tests' LiteLLM-compatible proxy (litellm_server.py): a threaded server on 127.0.0.1 that
records each request with the hash of the key it carried, applies injected faults and latency, and writes the
proxy's replies (JSON, plain text, or a whole server-sent-event stream)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: Any
    key_hash: str | None  # the hash of the key the request carried
    status: int = 0


def hash_token(key: str) -> str:
    """LiteLLM's hash_token: SHA-256 of the key, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def make_server(server: Any) -> ThreadingHTTPServer:
    httpd = _Server(("127.0.0.1", 0), _make_handler(server))
    httpd.daemon_threads = True
    return httpd


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops a listing window's connects (their SYNs retried after 1 s)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that closed its connection (a listing page cancelled past the last) is no error here."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class Sse:
    def __init__(self, events: Any):
        self.data = b"".join(events)


def _make_handler(server: Any) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "litellm-test"
        # headers and body leave in two writes: with Nagle on, a kept-alive client's delayed ACK adds ~40 ms
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            headers = {k.lower(): v for k, v in self.headers.items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
            token = server._who(headers)
            rec = Recorded(self.command, parts.path, query, headers, body, hash_token(token) if token else None)
            with server._lock:
                server.requests.append(rec)
            if server.latency:
                time.sleep(server.latency)
            fault = server._take_fault(self.command, parts.path)
            if fault is not None:
                if fault.delay:
                    time.sleep(fault.delay)
                rec.status = fault.status
                self._reply(fault.status, fault.body, fault.content_type, fault.headers)
                return
            status, payload = server.handle(self.command, parts.path, query, headers, body)
            rec.status = status
            if isinstance(payload, Sse):
                self._reply(status, payload.data, "text/event-stream", {"Cache-Control": "no-cache"})
            elif isinstance(payload, str):
                self._reply(status, payload.encode(), "text/plain; charset=utf-8", {})
            else:
                self._reply(status, json.dumps(payload).encode(), "application/json", {})

        def _reply(self, status: int, body: bytes, ctype: str, headers: dict[str, str]) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    return Handler
