"""The HTTP side: the threading server and its request handler, reading bodies (chunked or not), one
request's way through (admin API, latency, faults, routing table, request log) and writing the reply,
whole, chunked, or not at all (a dropped or reset connection). No request line is ever printed."""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from capit_tui.core.model import iso
from capit_tui.core.redact import redact
from capit_tui.sandbox import activity, guardrails, inference, management
from capit_tui.sandbox.admin import admin
from capit_tui.sandbox.auth import credential, known_hash
from capit_tui.sandbox.faults import fault_response
from capit_tui.sandbox.state import Store
from capit_tui.sandbox.wire import ADMIN_PREFIX, API_PREFIX, Bad, Request, Resp, error

if TYPE_CHECKING:
    from capit_tui.sandbox.server import Sandbox

Endpoint = Callable[["Sandbox", Request], Resp]

# Path under /api/v1 -> method -> endpoint. HEAD is answered wherever GET is.
ROUTES: dict[str, dict[str, Endpoint]] = {
    "/key": {"GET": management.get_current_key},
    "/auth/key": {"GET": management.get_current_key},
    "/credits": {"GET": management.get_credits},
    "/keys": {"GET": management.list_keys, "POST": management.create_key},
    "/keys/{hash}": {"GET": management.get_key, "PATCH": management.patch_key, "DELETE": management.delete_key},
    "/workspaces": {"GET": management.list_workspaces, "POST": management.create_workspace},
    "/activity": {"GET": activity.get_activity},
    "/guardrails": {"GET": guardrails.list_guardrails, "POST": guardrails.create_guardrail},
    "/guardrails/{id}": {"GET": guardrails.get_guardrail, "PATCH": guardrails.update_guardrail,
                         "DELETE": guardrails.delete_guardrail},
    "/guardrails/{id}/assignments/keys": {"GET": guardrails.list_key_assignments, "POST": guardrails.assign_keys},
    "/guardrails/{id}/assignments/keys/remove": {"POST": guardrails.unassign_keys},
    "/models": {"GET": inference.models},
    "/chat/completions": {"POST": inference.chat_completions},
    "/responses": {"POST": inference.responses},
    "/messages": {"POST": inference.messages},
    "/messages/count_tokens": {"POST": inference.count_tokens},
}


@dataclass
class RecordedRequest:
    """One request the sandbox answered (admin `/_sandbox/*` calls are not recorded).

    `headers` has lower-case names and keeps Authorization as received, so repr() masks secrets.
    `status` is None when the connection was dropped or reset without a response.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    key_hash: str | None
    status: int | None
    at: datetime | None = None

    def __repr__(self) -> str:
        return redact(
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, query={self.query!r}, "
            f"status={self.status!r}, key_hash={self.key_hash!r}, headers={self.headers!r}, json={self.json!r})"
        )

    def to_json(self) -> dict[str, Any]:
        """The admin view: credentials replaced by the hash of the key they carry."""
        headers: dict[str, str | None] = dict(self.headers)
        for name in ("authorization", "x-api-key"):
            if name in headers:
                headers[name] = self.key_hash
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": headers,
            "json": self.json,
            "key_hash": self.key_hash,
            "status": self.status,
            "at": iso(self.at),
        }


# ---------------------------------------------------------------- the server


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "capit-tui-sandbox"
    sys_version = ""
    timeout = 120  # an idle keep-alive connection is closed after this many seconds
    disable_nagle_algorithm = True  # else headers and body in two sends cost a delayed ACK (~40 ms)
    server: Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - never print request lines
        return

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def _dispatch(self) -> None:
        try:
            handle(self)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError, OSError):
            self.close_connection = True

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_OPTIONS = _dispatch


class Server(ThreadingHTTPServer):
    """Serves one sandbox; `stopping` is set when it stops, which ends latency and stall waits early."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: Sandbox, stopping: threading.Event):
        self.sandbox = sandbox
        self.stopping = stopping
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (a DNS lookup); we only need the port.
        import socketserver

        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = port

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conns_lock:
            if alive:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def close_all(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return
        sys.stderr.write(redact(f"capit-tui sandbox: internal error: {type(exc).__name__}: {exc}\n"))


# ---------------------------------------------------------------- one request


def handle(h: RequestHandler) -> None:
    sb, stopping = h.server.sandbox, h.server.stopping
    method = h.command.upper()
    split = urlsplit(h.path)
    path = split.path or "/"
    query = dict(parse_qsl(split.query, keep_blank_values=True))
    headers = {k.lower(): v for k, v in h.headers.items()}
    try:
        raw = read_body(h)
    except Bad as exc:
        h.close_connection = True
        write(h, error(400, str(exc)), method)
        return
    body: Any = None
    bad_json = False
    if raw.strip():
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            bad_json = True
    token = credential(headers)
    key_hash = known_hash(sb, token)
    req = Request(method, path, query, headers, raw, body, bad_json, token)

    if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
        write(h, _safe(lambda: admin(sb, req)), method)
        return

    anthropic = path.rstrip("/").startswith(API_PREFIX + "/messages")
    if sb.latency_ms > 0:
        stopping.wait(sb.latency_ms / 1000.0)
    fault = sb.faults.take(method, path)
    resp: Resp | None = None
    if fault is not None and fault.kind == "stall":
        if stopping.wait(fault.stall_seconds):
            h.close_connection = True
            return
    elif fault is not None:
        resp = fault_response(fault, anthropic)
    if resp is None:
        resp = _safe(lambda: route(sb, req), anthropic)
    record = RecordedRequest(method=method, path=path, query=query, headers=headers, json=body,
                             key_hash=key_hash, status=None if resp.close else resp.status,
                             at=_safe_now(sb.store))
    with sb.store.lock:
        sb.requests.append(record)
    write(h, resp, method)


def route(sb: Sandbox, req: Request) -> Resp:
    """Call the endpoint ROUTES names: 404 for an unknown path, 405 for a method it does not take."""
    path, method = req.path, req.method
    if not path.startswith(API_PREFIX + "/"):
        return error(404, "Not Found")
    rel = path[len(API_PREFIX):].rstrip("/") or "/"
    if rel in ROUTES:
        methods = ROUTES[rel]
    else:
        found = _match(rel)
        if found is None:
            return error(404, "Not Found")
        methods, params = found
        req = replace(req, params=params)
    endpoint = methods.get(method) or (methods.get("GET") if method == "HEAD" else None)
    if endpoint is None:
        return error(405, f"Method {method} not allowed on {path}")
    return endpoint(sb, req)


def _match(rel: str) -> tuple[dict[str, Endpoint], dict[str, str]] | None:
    """The templated route (`/keys/{hash}`, `/guardrails/{id}/...`) a path fills, and its parameters."""
    parts = rel.strip("/").split("/")
    for template, methods in ROUTES.items():
        pattern = template.strip("/").split("/")
        if len(pattern) != len(parts) or "{" not in template:
            continue
        params: dict[str, str] = {}
        for want, got in zip(pattern, parts, strict=True):
            if want.startswith("{"):
                params[want[1:-1]] = got
            elif want != got:
                break
        else:
            return methods, params
    return None


def _safe_now(store: Store) -> datetime | None:
    try:
        return store.now()
    except Exception:  # a broken test clock must not kill the request
        return None


def _safe(fn: Callable[[], Resp], anthropic: bool = False) -> Resp:
    try:
        return fn()
    except Exception as exc:  # answer 500 like a server would, and say why on stderr
        sys.stderr.write(redact("capit-tui sandbox: internal error: "
                                + "".join(traceback.format_exception_only(type(exc), exc))))
        return error(500, anthropic=anthropic)


# ---------------------------------------------------------------- reading and writing


def read_body(h: BaseHTTPRequestHandler) -> bytes:
    te = (h.headers.get("Transfer-Encoding") or "").lower()
    if "chunked" in te:
        out = bytearray()
        while True:
            line = h.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            except ValueError:
                raise Bad("Malformed chunked body") from None
            if size == 0:
                while h.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += h.rfile.read(size)
            h.rfile.readline(65537)
    length = h.headers.get("Content-Length")
    if not length:
        return b""
    try:
        n = int(length)
    except ValueError:
        raise Bad("Malformed Content-Length") from None
    if n < 0:
        raise Bad("Malformed Content-Length")
    return h.rfile.read(n) if n else b""


def write(h: RequestHandler, resp: Resp, method: str) -> None:
    if resp.close:
        close_socket(h, reset=resp.close == "reset")
        return
    h.send_response_only(resp.status)
    h.send_header("Server", "capit-tui-sandbox")
    now = _safe_now(h.server.sandbox.store)
    if now is not None:
        h.send_header("Date", format_datetime(now, usegmt=True))
    for k, v in resp.headers.items():
        h.send_header(k, v)
    if resp.stream is not None:
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        if method == "HEAD":
            return
        for chunk in resp.stream:
            if chunk:
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                h.wfile.flush()
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()
        return
    h.send_header("Content-Length", str(len(resp.body)))
    if method != "HEAD" and resp.body:
        # Headers and body in one send: one packet for a small reply.
        h._headers_buffer.append(b"\r\n" + resp.body)  # type: ignore[attr-defined]
        h.flush_headers()
    else:
        h.end_headers()
    h.wfile.flush()


def close_socket(h: BaseHTTPRequestHandler, *, reset: bool) -> None:
    """End the connection with no response: FIN ("drop") or RST ("reset", SO_LINGER 0)."""
    h.close_connection = True
    sock = h.connection
    try:
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
        h.rfile.close()  # drops the last reference, so the descriptor really closes now
    except OSError:
        pass
