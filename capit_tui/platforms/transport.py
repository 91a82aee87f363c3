"""capit-tui's one HTTP transport: the standard library's `http.client`, kept-alive connections per
origin, each request run on a small pool of daemon worker threads so the event loop never blocks.

Why this and not an async client: a `keys list` is a few dozen page requests and the program's start-up.
Measured on loopback (bench/RESULTS.md §0), httpx's async client cost 2.4–3.2 ms of CPU a request and its
import (httpx, httpcore, anyio, h11) a fifth of a 1 000-key listing; http.client on threads costs
0.7–1.2 ms a request, imports in a few ms, and the TUI awaits it like any coroutine. Every request the
program makes (platforms, webhooks) goes through here.

What a transport is: anything with `handle(request) -> Reply`, called on a worker thread of
`platforms.workers`, whose `fetch` awaits it (tests wrap the real one to check or break traffic).
What it guarantees: the reply's body is read whole, never more than `request.limit` bytes
(`TooLarge`); a connect phase bounded by `timeout.connect`, every read by `timeout.read`, the whole
request by `request.deadline` (`workers.fetch` also shuts the socket then, so a server trickling its
headers cannot hold a thread); failures as `TransportError`s that say whether the request may have
reached the server (`sent`). Nothing here knows about platforms or secrets.

Proxies: HTTPS_PROXY / HTTP_PROXY / ALL_PROXY (http:// proxies, CONNECT for https) and NO_PROXY are
honoured, as curl and httpx do; loopback is never proxied. Certificates: certifi's bundle when installed,
else the system's; SSL_CERT_FILE / SSL_CERT_DIR replace both.
"""

from __future__ import annotations

import http.client
import json as jsonlib
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

MAX_BODY = 4 * 1024 * 1024
"""The most a server may send in one reply (a page of 100 keys is about 40 KB)."""


# ---------------------------------------------------------------- what goes in and out


@dataclass(frozen=True)
class Timeout:
    """Seconds for the connect phase and for each read (the whole request has its own deadline)."""

    connect: float = 5.0
    read: float = 15.0


class Headers:
    """A reply's headers: case-insensitive `get`, duplicates joined with ', '."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] = ()):
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items = [(str(k), str(v)) for k, v in pairs]

    def get(self, name: str, default: str | None = None) -> str | None:
        low = name.lower()
        found = [v for k, v in self._items if k.lower() == low]
        return ", ".join(found) if found else default

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None


class Reply:
    """A whole reply: status, headers and the body's bytes."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, *, headers: Iterable[tuple[str, str]] | Mapping[str, str] = (),
                 content: bytes = b"", json: Any = None):
        self.status_code = status_code
        if json is not None:
            content = jsonlib.dumps(json).encode()
            headers = [*Headers(headers).items(), ("content-type", "application/json")]
        self.headers = Headers(headers)
        self.content = content

    def json(self) -> Any:
        """The body as JSON: orjson (2-3x faster on a page of keys); what it refuses (NaN, an integer past
        64 bits, a lone surrogate) is read as the standard library reads it, or raises ValueError."""
        import orjson

        try:
            return orjson.loads(self.content)
        except orjson.JSONDecodeError:
            return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode(_charset(self.headers.get("content-type")), errors="replace")

    def __repr__(self) -> str:
        return f"<Reply {self.status_code}>"


class Request:
    """One request: method, absolute URL, headers, body; its timeouts, deadline and size bound (`limit`
bytes of reply body; 0 when only the status is wanted)."""

    def __init__(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                 content: bytes | None = None, timeout: Timeout = Timeout(),
                 deadline: float | None = None, limit: int = MAX_BODY):
        self.method = method.upper()
        self.url = url
        self.headers = dict(headers or {})
        self.content = content
        self.timeout = timeout
        self.deadline = deadline if deadline is not None else time.monotonic() + 2 * max(timeout.connect,
                                                                                           timeout.read)
        self.limit = limit
        self._sock: socket.socket | None = None
        self._abandoned = False

    @classmethod
    def build(cls, method: str, base_url: str, path: str, *, params: Mapping[str, Any] | None = None,
              json: Any = None, headers: Mapping[str, str] | None = None, **kw: Any) -> Request:
        """`base_url` + `path` (relative to it, as httpx's base_url does), `params` as the query, `json`
        as a compact UTF-8 body."""
        if not path:
            url = base_url
        else:
            url = path if "://" in path else base_url.rstrip("/") + "/" + path.lstrip("/")
        if params:
            url += ("&" if "?" in url else "?") + urlencode([(k, _query_value(v)) for k, v in params.items()])
        hdrs = dict(headers or {})
        content = None
        if json is not None:
            content = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            hdrs.setdefault("Content-Type", "application/json")
        return cls(method, url, headers=hdrs, content=content, **kw)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> str:
        return urlsplit(self.url).query

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()

    def abandon(self) -> None:
        """Give up on this request from another thread: the socket is shut, so a read blocked on it ends."""
        self._abandoned = True
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __repr__(self) -> str:  # never the headers: they carry the key
        return f"<Request {self.method} {urlsplit(self.url).path}>"


def _query_value(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    return "" if v is None else str(v)


def _charset(content_type: str | None) -> str:
    for part in (content_type or "").split(";")[1:]:
        k, _, v = part.strip().partition("=")
        if k.lower() == "charset" and v:
            try:
                "".encode(v.strip('"'))
                return v.strip('"')
            except LookupError:
                break
    return "utf-8"


# ---------------------------------------------------------------- what can go wrong


class TransportError(Exception):
    """The request failed below HTTP. `sent`: it may have reached the server (a create may have happened)."""

    sent = True
    reason = "the connection failed"

    def __init__(self, reason: str | None = None, *, sent: bool | None = None):
        super().__init__(reason or self.reason)
        if reason:
            self.reason = reason
        if sent is not None:
            self.sent = sent


class ConnectFailed(TransportError):
    sent = False
    reason = "connection refused or host not found"


class TimedOut(TransportError):
    reason = "no answer in time"


class Dropped(TransportError):
    reason = "the connection was dropped"


class TooLarge(TransportError):
    reason = "the reply was too large"


class Transport(Protocol):
    def handle(self, request: Request) -> Reply: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------- the real one


_RETRY_SAFE = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_LOOPBACK = ("localhost", "127.", "::1", "[::1]")


class HttpTransport:
    """http.client connections kept alive per origin (at most `keep` idle each), safe to use from many
    threads at once."""

    def __init__(self, *, keep: int = 16):
        self._keep = keep
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._tls: ssl.SSLContext | None = None

    # -- connections

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = tls_context()
        return self._tls

    def _take(self, key: tuple[str, str, int]) -> http.client.HTTPConnection | None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child never shares its parent's sockets
                self._idle.clear()
                self._pid = os.getpid()
            pool = self._idle.get(key)
            while pool:
                conn = pool.pop()
                if _usable(conn):
                    return conn
                conn.close()
        return None

    def _give_back(self, key: tuple[str, str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            pool = self._idle.setdefault(key, [])
            if conn.sock is not None and len(pool) < self._keep and self._pid == os.getpid():
                pool.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            pools, self._idle = self._idle, {}
        for pool in pools.values():
            for conn in pool:
                conn.close()

    def _new(self, scheme: str, host: str, port: int, request: Request) -> http.client.HTTPConnection:
        proxy = _proxy_for(scheme, host)
        t = request.timeout.connect
        if proxy is None:
            if scheme == "https":
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    host, port, timeout=t, context=self._tls_context())
            else:
                conn = http.client.HTTPConnection(host, port, timeout=t)
            conn._create_connection = _connect  # type: ignore[attr-defined]
            return conn
        p = urlsplit(proxy)
        if p.scheme != "http" or not p.hostname:
            raise ConnectFailed(f"capit-tui can use only an http:// proxy, not {p.scheme or 'this'}:// "
                                "(HTTPS_PROXY, HTTP_PROXY, ALL_PROXY)")
        auth = _proxy_auth(p)
        if scheme == "https":
            conn = http.client.HTTPSConnection(
                p.hostname, p.port or 80, timeout=t, context=self._tls_context())
            conn.set_tunnel(host, port, headers=auth)
            return conn
        conn = http.client.HTTPConnection(p.hostname, p.port or 80, timeout=t)
        conn._capit_forward = (f"http://{host}:{port}", auth)  # type: ignore[attr-defined]
        return conn

    # -- one request

    def handle(self, request: Request) -> Reply:
        parts = urlsplit(request.url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ConnectFailed(f"not an http(s) address: {scheme or '?'}://")
        host = parts.hostname
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"Accept-Encoding": "identity", **request.headers}
        reused = self._take(key)
        conn = reused
        for attempt in (0, 1):
            if conn is None:
                conn = self._open(scheme, host, port, request)
            try:
                reply = self._exchange(conn, request, target, headers)
            except _Stale as stale:
                conn.close()
                if attempt == 0 and reused is not None and request.method in _RETRY_SAFE:
                    conn = None  # a kept-alive connection the server had closed: once more on a new one
                    continue
                raise Dropped(str(stale), sent=True) from None
            except BaseException:
                conn.close()
                raise
            self._give_back(key, conn)
            return reply
        raise Dropped(sent=True)  # not reached

    def _open(self, scheme: str, host: str, port: int, request: Request) -> http.client.HTTPConnection:
        if request._abandoned or time.monotonic() >= request.deadline:
            raise TimedOut(sent=False)
        conn = self._new(scheme, host, port, request)
        conn.timeout = min(request.timeout.connect, max(0.01, request.deadline - time.monotonic()))
        try:
            conn.connect()
        except (TimeoutError, socket.timeout):
            conn.close()
            raise TimedOut("no connection in time", sent=False) from None
        except ssl.SSLCertVerificationError as exc:
            conn.close()
            raise ConnectFailed(f"its TLS certificate could not be verified: {exc.verify_message}") from None
        except ssl.SSLError:
            conn.close()
            raise ConnectFailed("the TLS handshake failed") from None
        except OSError as exc:
            conn.close()
            proxy_refused = isinstance(exc, OSError) and str(exc).startswith("Tunnel connection failed")
            raise ConnectFailed("the proxy refused the connection" if proxy_refused else None) from None
        return conn

    def _exchange(self, conn: http.client.HTTPConnection, request: Request, target: str,
                  headers: dict[str, str]) -> Reply:
        sock = conn.sock
        assert sock is not None
        request._sock = sock
        if request._abandoned:
            raise TimedOut(sent=False)
        forward = getattr(conn, "_capit_forward", None)
        if forward is not None:  # an http:// origin through an http:// proxy: the absolute URL is asked for
            target = forward[0] + target
            headers = {**headers, **forward[1]}
        answered = False
        try:
            _set_timeout(sock, request)
            try:
                conn.request(request.method, target, body=request.content, headers=headers)
                resp = conn.getresponse()
            except http.client.RemoteDisconnected:
                raise _Stale("the connection was dropped") from None
            except (ConnectionResetError, BrokenPipeError):
                raise _Stale("the connection was reset") from None
            answered = True
            body = bytearray()
            while request.limit:  # limit 0: the body is not wanted, and the connection is not kept
                _set_timeout(sock, request)
                chunk = resp.read1(65536)
                if not chunk:
                    break
                body += chunk
                if len(body) > request.limit:
                    raise TooLarge()
            pairs = resp.getheaders()
            status = resp.status
            resp.close()  # the body is read whole: the connection may carry the next request
            if resp.will_close or not request.limit:
                conn.close()
        except TransportError:
            raise
        except (TimeoutError, socket.timeout):
            raise TimedOut(sent=True) from None
        except http.client.IncompleteRead:
            raise Dropped("the reply was cut short", sent=True) from None
        except (ConnectionResetError, BrokenPipeError):
            raise Dropped("the connection was reset", sent=True) from None
        except http.client.HTTPException:
            raise Dropped("the reply was not valid HTTP" if answered else None, sent=True) from None
        except OSError:
            if request._abandoned:
                raise TimedOut(sent=True) from None
            raise Dropped(sent=True) from None
        finally:
            request._sock = None
        return Reply(status, headers=pairs, content=bytes(body))


def _connect(address: tuple[str, int], timeout: float, source: Any = None) -> socket.socket:
    """socket.create_connection, with an ASCII host name passed as bytes: a str is encoded with the idna
    codec, whose import is a few ms of every command's start-up (a non-ASCII name still goes that way)."""
    host, port = address
    name: str | bytes = host.encode("ascii") if host.isascii() else host
    return socket.create_connection((name, port), timeout, source)  # type: ignore[arg-type]


class _Stale(Exception):
    """The connection was closed before any reply came (a kept-alive one the server had let go)."""


def _set_timeout(sock: socket.socket, request: Request) -> None:
    left = request.deadline - time.monotonic()
    if left <= 0 or request._abandoned:
        raise TimedOut(sent=True)
    sock.settimeout(min(request.timeout.read, left))


def _usable(conn: http.client.HTTPConnection) -> bool:
    """An idle kept-alive connection is usable unless the server closed it (its socket reads as ready)."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        ready, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not ready


def tls_context() -> ssl.SSLContext:
    """Certificate checks as httpx made them: certifi's bundle when installed, else the system's; the
    SSL_CERT_FILE / SSL_CERT_DIR environment variables replace both."""
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context()
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def _proxy_for(scheme: str, host: str) -> str | None:
    """The proxy the environment names for this origin, or None (none set, NO_PROXY, or loopback)."""
    if not any(k.lower().endswith("_proxy") for k in os.environ):
        return None
    if host.lower().startswith(_LOOPBACK):
        return None
    import urllib.request

    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass_environment(host, proxies):  # type: ignore[attr-defined]
        return None
    return proxy if "://" in proxy else "http://" + proxy


def _proxy_auth(p: Any) -> dict[str, str]:
    if not p.username:
        return {}
    import base64
    from urllib.parse import unquote

    raw = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
    return {"Proxy-Authorization": "Basic " + base64.b64encode(raw).decode()}
