"""A real OpenRouter-compatible HTTP server on loopback, for tests, benchmarks and `--demo`.

It speaks the key-management API (`/api/v1/key`, `/credits`, `/keys`, `/keys/{hash}`, `/workspaces`)
with the shapes of OpenRouter's OpenAPI spec, and three inference APIs that charge each call to the
calling key and refuse with 403 "Key limit exceeded (<window> limit)" once the key's window is spent:
OpenAI chat completions, OpenAI Responses and Anthropic Messages, streaming or not.

Standard library only (plus capit_tui's own Decimal helpers): `http.server.ThreadingHTTPServer` in a
daemon thread, so it runs without an event loop and inside subprocesses. Time comes from an
injectable clock read on every request; randomness from `random.Random(seed)`. Secrets are never
printed or logged: the server prints no request lines, and the admin view of recorded requests
replaces credentials with the key hash.

    with Sandbox(seed_keys=40) as sb:
        httpx.get(sb.base_url + "/keys", headers={"Authorization": f"Bearer {sb.management_key}"})
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import itertools
import json
import random
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlsplit

from capit_tui.core.model import RESETS, iso, parse_reset, parse_time
from capit_tui.core.money import to_decimal, to_json_number
from capit_tui.core.redact import redact

__all__ = ["FAULT_KINDS", "REPLY_TEXT", "RecordedRequest", "Sandbox", "SandboxKey", "serve"]

REPLY_TEXT = "Hello from the capit-tui sandbox."
FAULT_KINDS = ("429", "500", "502", "503", "401", "stall", "notjson", "drop", "reset")
API_PREFIX = "/api/v1"
ADMIN_PREFIX = "/_sandbox"
MANAGE_URL = "https://openrouter.ai/settings/keys"
_ZERO = Decimal(0)
_PLACES = Decimal("0.0001")

# Messages as OpenRouter words them (reference/openrouter-api.md §3, §7).
MSG_MISSING_AUTH = "Missing Authentication header"
MSG_USER_NOT_FOUND = "User not found."
MSG_NOT_MANAGEMENT = "Only management keys can perform this operation"
MSG_MANAGEMENT_INFERENCE = "Management keys cannot be used for inference. Use an API key instead."

_STATUS_TEXT = {
    400: "Invalid request parameters",
    401: MSG_USER_NOT_FOUND,
    403: "Forbidden",
    404: "Resource not found",
    405: "Method not allowed",
    429: "Rate limit exceeded",
    500: "Internal Server Error",
    502: "Provider returned error",
    503: "Service temporarily unavailable",
}
_ANTHROPIC_ERROR_TYPE = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
}

# (id, display name, context length, $ per million prompt tokens, $ per million completion tokens)
MODELS: tuple[tuple[str, str, int, str, str], ...] = (
    ("anthropic/claude-sonnet-4.5", "Anthropic: Claude Sonnet 4.5", 1_000_000, "3", "15"),
    ("anthropic/claude-opus-4.5", "Anthropic: Claude Opus 4.5", 200_000, "5", "25"),
    ("anthropic/claude-haiku-4.5", "Anthropic: Claude Haiku 4.5", 200_000, "1", "5"),
    ("openai/gpt-5.1-codex", "OpenAI: GPT-5.1-Codex", 400_000, "1.25", "10"),
    ("openai/gpt-5.1", "OpenAI: GPT-5.1", 400_000, "1.25", "10"),
    ("openai/gpt-4o-mini", "OpenAI: GPT-4o-mini", 128_000, "0.15", "0.6"),
)
_DEFAULT_MODEL = {"chat": "openai/gpt-4o-mini", "responses": "openai/gpt-5.1-codex",
                  "messages": "anthropic/claude-sonnet-4.5"}

_AGENT_NAMES = ("claude", "codex", "opencode", "aider", "hermes", "openclaw", "qwen", "llm")
_PLAIN_NAMES = (
    "ci-bot", "codex-nightly", "staging-gateway", "prod-backend", "eval-harness", "research-notebook",
    "demo", "alice-laptop", "bob-desktop", "pr-review-bot", "docs-writer", "data-pipeline",
    "hackathon", "support-triage", "migration-script", "load-test", "claude-code-team", "cursor-trial",
)
_WORKSPACE_NAMES = ("Default Workspace", "Production", "Research", "CI", "Staging", "Experiments",
                    "Data", "Support")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def key_label(secret: str) -> str:
    """'sk-or-v1-abc...123': the masked label OpenRouter shows for a key."""
    body = secret[len("sk-or-v1-"):] if secret.startswith("sk-or-v1-") else secret
    return f"sk-or-v1-{body[:3]}...{body[-3:]}"


def _derived_management_key(seed: int) -> str:
    return "sk-or-v1-" + hashlib.sha256(f"capit-tui sandbox management key {seed}".encode()).hexdigest()


def _day(t: datetime) -> date:
    return t.date()


def _week(t: datetime) -> date:
    d = t.date()
    return d - timedelta(days=d.weekday())


def _month(t: datetime) -> tuple[int, int]:
    return (t.year, t.month)


def window_start(reset: str | None, now: datetime, created: datetime | None = None) -> datetime:
    """Start of the current reset window (midnight UTC; weeks start Monday); lifetime = created."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if reset == "daily":
        return midnight
    if reset == "weekly":
        return midnight - timedelta(days=now.weekday())
    if reset == "monthly":
        return midnight.replace(day=1)
    return created if created is not None else datetime.min.replace(tzinfo=timezone.utc)


def _num(value: Decimal | None) -> int | float | None:
    return to_json_number(value)


def _json_default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return to_json_number(o)
    if isinstance(o, datetime):
        return iso(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=_json_default).encode("utf-8")


def _is_uuid(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


# ---------------------------------------------------------------- state


@dataclass
class SandboxKey:
    """One inference key. Spend is kept as running totals per window bucket (no event log), so
    listing 10 000 keys costs one dict per key; a window that is not the current one reads as 0."""

    hash: str
    name: str
    label: str
    workspace_id: str
    created_at: datetime
    seq: int
    disabled: bool = False
    limit: Decimal | None = None
    limit_reset: str | None = None
    include_byok_in_limit: bool = False
    updated_at: datetime | None = None
    expires_at: datetime | None = None
    creator_user_id: str | None = None
    usage: Decimal = _ZERO
    day: date | None = None
    day_usage: Decimal = _ZERO
    week: date | None = None
    week_usage: Decimal = _ZERO
    month: tuple[int, int] | None = None
    month_usage: Decimal = _ZERO

    def charge(self, amount: Decimal, at: datetime) -> None:
        """Add spend made at `at`. Spend older than a window's bucket counts only toward older totals."""
        self.usage += amount
        d, w, m = _day(at), _week(at), _month(at)
        if self.day == d:
            self.day_usage += amount
        elif self.day is None or d > self.day:
            self.day, self.day_usage = d, amount
        if self.week == w:
            self.week_usage += amount
        elif self.week is None or w > self.week:
            self.week, self.week_usage = w, amount
        if self.month == m:
            self.month_usage += amount
        elif self.month is None or m > self.month:
            self.month, self.month_usage = m, amount

    def windows(self, now: datetime) -> tuple[Decimal, Decimal, Decimal]:
        """(daily, weekly, monthly) spend as of `now`."""
        return (
            self.day_usage if self.day == _day(now) else _ZERO,
            self.week_usage if self.week == _week(now) else _ZERO,
            self.month_usage if self.month == _month(now) else _ZERO,
        )

    def window_spend(self, now: datetime) -> Decimal:
        daily, weekly, monthly = self.windows(now)
        return {"daily": daily, "weekly": weekly, "monthly": monthly}.get(self.limit_reset or "", self.usage)

    def remaining(self, now: datetime) -> Decimal | None:
        if self.limit is None:
            return None
        left = self.limit - self.window_spend(now)
        return left if left > 0 else _ZERO

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def to_api(self, now: datetime) -> dict[str, Any]:
        daily, weekly, monthly = self.windows(now)
        return {
            "hash": self.hash,
            "name": self.name,
            "label": self.label,
            "disabled": self.disabled,
            "limit": _num(self.limit),
            "limit_remaining": _num(self.remaining(now)),
            "limit_reset": self.limit_reset,
            "include_byok_in_limit": self.include_byok_in_limit,
            "usage": _num(self.usage),
            "usage_daily": _num(daily),
            "usage_weekly": _num(weekly),
            "usage_monthly": _num(monthly),
            "byok_usage": 0,
            "byok_usage_daily": 0,
            "byok_usage_weekly": 0,
            "byok_usage_monthly": 0,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "expires_at": iso(self.expires_at),
            "creator_user_id": self.creator_user_id,
            "workspace_id": self.workspace_id,
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
        headers = dict(self.headers)
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


@dataclass
class _Fault:
    method: str
    path: str
    kind: str
    times: int
    after: int
    retry_after: float
    stall_seconds: float

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method == method) and fnmatch.fnmatchcase(path, self.path)


@dataclass
class _Resp:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterable[bytes] | None = None
    close: str | None = None  # "drop" | "reset": no response at all


def _json_resp(status: int, obj: Any, headers: dict[str, str] | None = None) -> _Resp:
    return _Resp(status, _dumps(obj), {"Content-Type": "application/json", **(headers or {})})


def _error(status: int, message: str | None = None, *, anthropic: bool = False,
           headers: dict[str, str] | None = None) -> _Resp:
    msg = message or _STATUS_TEXT.get(status, "Error")
    if anthropic:
        body: dict[str, Any] = {
            "type": "error",
            "error": {"type": _ANTHROPIC_ERROR_TYPE.get(status, "api_error"), "message": msg, "code": status},
        }
    else:
        body = {"error": {"code": status, "message": msg}}
    return _json_resp(status, body, headers)


class _Bad(Exception):
    """A request we refuse with 400 and this message."""


class _KeysView(Mapping[str, dict[str, Any]]):
    """Read-only view of the sandbox's keys: hash -> the key object as the API shows it now."""

    def __init__(self, sb: "Sandbox"):
        self._sb = sb

    def __getitem__(self, key_hash: str) -> dict[str, Any]:
        with self._sb._lock:
            return self._sb._keys[key_hash].to_api(self._sb._now())

    def __iter__(self) -> Iterator[str]:
        with self._sb._lock:
            return iter(list(self._sb._keys))

    def __len__(self) -> int:
        return len(self._sb._keys)

    def __contains__(self, key_hash: object) -> bool:
        return key_hash in self._sb._keys


# ---------------------------------------------------------------- the HTTP server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "capit-tui-sandbox"
    sys_version = ""
    timeout = 120  # an idle keep-alive connection is closed after this many seconds
    disable_nagle_algorithm = True  # else headers and body in two sends cost a delayed ACK (~40 ms)
    server: "_Server"

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
            self.server.sandbox._handle(self)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError, OSError):
            self.close_connection = True

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_OPTIONS = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: "Sandbox"):
        self.sandbox = sandbox
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

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


# ---------------------------------------------------------------- the sandbox


class Sandbox:
    """An OpenRouter look-alike on 127.0.0.1. `start()` serves in a daemon thread; `stop()` ends it."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, management_key: str | None = None,
                 seed_keys: int = 0, seed: int = 1234, clock: Callable[[], datetime] | None = None,
                 latency_ms: float = 0, cost_per_call: Decimal = Decimal("0.01"),
                 traffic: bool = False, traffic_interval: float = 3.0, workspaces: int = 1,
                 page_size: int = 100):
        self.host = host
        self.port = port
        self.seed = seed
        self.management_key = management_key or _derived_management_key(seed)
        self._management_hash = sha256_hex(self.management_key)
        self._clock: Callable[[], datetime] = clock or _utcnow
        self.latency_ms = float(latency_ms)
        self.cost_per_call = to_decimal(cost_per_call) or _ZERO
        self.traffic = traffic
        self.traffic_interval = float(traffic_interval)
        self.page_size = int(page_size)

        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._traffic_thread: threading.Thread | None = None

        self._keys: dict[str, SandboxKey] = {}
        self._order: dict[str, list[SandboxKey]] | None = None  # per workspace, newest first
        self._seq = 0
        self._ids = random.Random(f"{seed}:ids")
        self._secrets = random.Random(f"{seed}:secrets")
        self._faults: list[_Fault] = []
        self._total_usage = _ZERO
        self.requests: list[RecordedRequest] = []
        self.inference_calls: list[tuple[str, str]] = []
        self.seed_secrets: dict[str, str] = {}
        """hash -> secret of each seeded key (so a test can make inference calls with one)."""

        rng = random.Random(f"{seed}:account")
        self.user_id = "user_" + "".join(rng.choice("0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyz")
                                         for _ in range(27))
        self.workspaces: list[dict[str, Any]] = self._make_workspaces(max(1, int(workspaces)))
        self.default_workspace_id: str = self.workspaces[0]["id"]
        if seed_keys:
            self._seed_keys(int(seed_keys))
        self.total_credits: Decimal = (self._total_usage // 50 + 2) * 50

    # ------------------------------------------------------------ lifecycle

    def start(self) -> "Sandbox":
        if self._server is not None:
            return self
        self._stop.clear()
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"capit-sandbox-{self.port}", daemon=True)
        self._thread.start()
        if self.traffic:
            self._traffic_thread = threading.Thread(target=self._traffic_loop, name="capit-sandbox-traffic",
                                                    daemon=True)
            self._traffic_thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._traffic_thread is not None:
            self._traffic_thread.join(timeout=5)
            self._traffic_thread = None

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Sandbox(origin={self.origin!r}, keys={len(self._keys)})"

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin + API_PREFIX

    @property
    def anthropic_base_url(self) -> str:
        return self.origin + "/api"

    @property
    def management_key_hash(self) -> str:
        return self._management_hash

    @property
    def keys(self) -> Mapping[str, dict[str, Any]]:
        """hash -> key object as GET /keys/{hash} would show it now (read-only)."""
        return _KeysView(self)

    # ------------------------------------------------------------ clock

    def set_clock(self, fn: Callable[[], datetime] | None) -> None:
        """Replace the clock (None = real UTC time). It is read on every request."""
        with self._lock:
            self._clock = fn or _utcnow

    def _now(self) -> datetime:
        t = self._clock()
        if t.tzinfo is None:
            t = t.replace(tzinfo=timezone.utc)
        return t.astimezone(timezone.utc)

    # ------------------------------------------------------------ state for tests

    def add_key(self, name: str, *, limit: Decimal | int | float | str | None = None, reset: str | None = None,
                disabled: bool = False, workspace_id: str | None = None,
                spend: Decimal | int | float | str = 0) -> tuple[str, str]:
        """Create a key directly; returns (secret, hash). `reset` takes daily|weekly|monthly|never|None."""
        lim = to_decimal(limit)
        if lim is not None and lim < 0:
            raise ValueError("limit must be >= 0")
        rst = parse_reset(reset)
        with self._lock:
            ws = workspace_id or self.default_workspace_id
            if not any(w["id"] == ws for w in self.workspaces):
                raise ValueError(f"unknown workspace {ws!r}")
            now = self._now()
            secret = self._new_secret(self._secrets)
            key = self._insert(secret, name=name, limit=lim, reset=rst, disabled=disabled, workspace_id=ws,
                               created_at=now)
            amount = to_decimal(spend) or _ZERO
            if amount:
                self._charge(key, amount, now)
            return secret, key.hash

    def spend(self, key_hash: str, amount: Decimal | int | float | str) -> None:
        """Charge `amount` dollars to a key as if by inference, at the clock's now."""
        value = to_decimal(amount) or _ZERO
        with self._lock:
            key = self._keys[key_hash]
            self._charge(key, value, self._now())

    def inject_fault(self, route: str, kind: str | int, *, times: int = 1, after: int = 0,
                     retry_after: float = 1.0, stall_seconds: float = 30.0) -> None:
        """Make matching requests fail. `route` is "METHOD /path-glob" ("*" for any method).

        `after` lets that many matching requests through first; `times` <= 0 means every matching
        request until clear_faults(). Kinds: 429 (with Retry-After), 500, 502, 503, 401, stall
        (answer after stall_seconds), notjson (200 with HTML), drop (close, no response), reset (TCP RST).
        """
        kind = str(kind).strip().lower()
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        parts = str(route).split(None, 1)
        method, path = ("*", parts[0]) if len(parts) == 1 else (parts[0].upper(), parts[1].strip())
        fault = _Fault(method, path, kind, int(times), max(0, int(after)), float(retry_after),
                       float(stall_seconds))
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # ------------------------------------------------------------ internals: keys

    def _new_secret(self, rng: random.Random) -> str:
        return "sk-or-v1-" + f"{rng.getrandbits(256):064x}"

    def _insert(self, secret: str, *, name: str, limit: Decimal | None, reset: str | None, disabled: bool,
                workspace_id: str, created_at: datetime, updated_at: datetime | None = None,
                expires_at: datetime | None = None, creator_user_id: str | None = None,
                include_byok_in_limit: bool = False) -> SandboxKey:
        self._seq += 1
        key = SandboxKey(
            hash=sha256_hex(secret), name=name, label=key_label(secret), workspace_id=workspace_id,
            created_at=created_at, seq=self._seq, disabled=disabled, limit=limit, limit_reset=reset,
            include_byok_in_limit=include_byok_in_limit, updated_at=updated_at, expires_at=expires_at,
            creator_user_id=creator_user_id or self.user_id,
        )
        self._keys[key.hash] = key
        self._order = None
        return key

    def _charge(self, key: SandboxKey, amount: Decimal, at: datetime) -> None:
        key.charge(amount, at)
        self._total_usage += amount

    def _ordered(self, workspace_id: str) -> list[SandboxKey]:
        if self._order is None:
            order: dict[str, list[SandboxKey]] = {}
            for k in sorted(self._keys.values(), key=lambda k: (k.created_at, k.seq), reverse=True):
                order.setdefault(k.workspace_id, []).append(k)
            self._order = order
        return self._order.get(workspace_id, [])

    def _make_workspaces(self, n: int) -> list[dict[str, Any]]:
        rng = random.Random(f"{self.seed}:workspaces")
        now = self._now()
        out = []
        for i in range(n):
            name = _WORKSPACE_NAMES[i] if i < len(_WORKSPACE_NAMES) else f"Workspace {i + 1}"
            slug = "default" if i == 0 else "-".join(name.lower().split())
            created = (now - timedelta(days=90 - min(i, 60), seconds=rng.randint(0, 86_399))).replace(microsecond=0)
            out.append(self._workspace(
                id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                guardrail=str(uuid.UUID(int=rng.getrandbits(128), version=5)),
                name=name, slug=slug, created_at=created,
                description=None if i == 0 else f"{name} keys",
            ))
        return out

    def _workspace(self, *, id: str, guardrail: str, name: str, slug: str, created_at: datetime,
                   description: str | None, **extra: Any) -> dict[str, Any]:
        ws = {
            "id": id,
            "default_guardrail_id": guardrail,
            "name": name,
            "slug": slug,
            "description": description,
            "default_text_model": None,
            "default_image_model": None,
            "default_provider_sort": None,
            "is_observability_io_logging_enabled": False,
            "is_observability_broadcast_enabled": False,
            "is_data_discount_logging_enabled": False,
            "io_logging_sampling_rate": 1,
            "io_logging_api_key_ids": None,
            "include_byok_in_budgets": False,
            "created_at": iso(created_at),
            "updated_at": None,
            "created_by": self.user_id,
        }
        for k, v in extra.items():
            if k in ws and v is not None:
                ws[k] = v
        return ws

    def _seed_keys(self, n: int) -> None:
        """Deterministic, realistic keys: names, caps, resets, disabled ones, some near their cap."""
        rng = random.Random(f"{self.seed}:keys")
        now = self._now().replace(microsecond=0)
        ws_ids = [w["id"] for w in self.workspaces]
        used: dict[str, int] = {}
        for _ in range(n):
            created = now - timedelta(seconds=rng.randint(3600, 56 * 86400))
            if rng.random() < 0.45:
                name = f"capit-{rng.choice(_AGENT_NAMES)}-{created:%Y%m%d}"
            else:
                name = rng.choice(_PLAIN_NAMES)
            used[name] = used.get(name, 0) + 1
            if used[name] > 1:
                name = f"{name}-{used[name]}"
            limit = None if rng.random() < 0.2 else Decimal(rng.choice((1, 2, 3, 5, 5, 10, 10, 15, 20, 25, 30, 40, 50)))
            reset = rng.choices(("daily", "weekly", "monthly", None), weights=(2, 2, 4, 2))[0]
            disabled = rng.random() < 0.1
            if len(ws_ids) == 1 or rng.random() < 0.5:
                ws = ws_ids[0]
            else:
                ws = rng.choice(ws_ids[1:])
            updated = None if rng.random() < 0.4 else created + (now - created) * rng.random()
            expires = now + timedelta(days=rng.randint(7, 120)) if rng.random() < 0.05 else None
            secret = self._new_secret(rng)
            key = self._insert(secret, name=name, limit=limit, reset=reset, disabled=disabled, workspace_id=ws,
                               created_at=created, updated_at=updated.replace(microsecond=0) if updated else None,
                               expires_at=expires)
            self.seed_secrets[key.hash] = secret

            # What the current window holds: 80-100% of the cap for some, a little for most.
            if limit is not None:
                frac = (Decimal(1) if rng.random() < 0.25 else Decimal(str(round(rng.uniform(0.8, 0.99), 4)))) \
                    if rng.random() < 0.2 else Decimal(str(round(rng.uniform(0.0, 0.6), 4)))
                in_window = (limit * frac).quantize(_PLACES)
            else:
                in_window = (Decimal(rng.randint(0, 3000)) / 100).quantize(_PLACES)
            start = max(window_start(reset, now, created), created)
            events: list[tuple[datetime, Decimal]] = []
            if reset is not None and created < start:  # spend from earlier windows: lifetime only
                history = (Decimal(rng.randint(0, 4000)) / 100).quantize(_PLACES)
                events += self._split(rng, history, created, start - timedelta(seconds=1))
            events += self._split(rng, in_window, start, now)
            for at, amount in sorted(events, key=lambda e: e[0]):
                self._charge(key, amount, at)

    @staticmethod
    def _split(rng: random.Random, total: Decimal, lo: datetime, hi: datetime) -> list[tuple[datetime, Decimal]]:
        if total <= 0 or hi < lo:
            return []
        parts = rng.randint(1, 4)
        cuts = sorted(Decimal(str(round(rng.random(), 4))) for _ in range(parts - 1))
        bounds = [Decimal(0), *cuts, Decimal(1)]
        span = (hi - lo).total_seconds()
        out = []
        done = _ZERO
        for i in range(parts):
            amount = (total * bounds[i + 1]).quantize(_PLACES) - done if i < parts - 1 else total - done
            done += amount
            if amount > 0:
                out.append((lo + timedelta(seconds=int(span * rng.random())), amount))
        return out

    def _traffic_loop(self) -> None:
        rng = random.Random(f"{self.seed}:traffic")
        while not self._stop.wait(self.traffic_interval):
            with self._lock:
                now = self._now()
                live = [k for k in self._keys.values()
                        if not k.disabled and not k.expired(now) and (k.limit is None or k.remaining(now) > 0)]
                if not live:
                    continue
                for key in rng.sample(live, min(len(live), rng.randint(1, 3))):
                    self._charge(key, Decimal(rng.randint(1, 9)) / 100, now)

    # ------------------------------------------------------------ internals: faults

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for f in list(self._faults):
                if not f.matches(method, path):
                    continue
                if f.after > 0:
                    f.after -= 1
                    continue
                if f.times > 0:
                    f.times -= 1
                    if f.times == 0:
                        self._faults.remove(f)
                return f
        return None

    def _fault_response(self, fault: _Fault, anthropic: bool) -> _Resp:
        kind = fault.kind
        if kind == "429":
            ra = fault.retry_after
            header = str(int(ra)) if float(ra).is_integer() else format(ra, "g")
            return _error(429, "Rate limit exceeded", anthropic=anthropic,
                          headers={"Retry-After": header, "X-RateLimit-Remaining": "0"})
        if kind in ("500", "502", "503", "401"):
            return _error(int(kind), anthropic=anthropic)
        if kind == "notjson":
            html = ("<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
                    "<body><h1>Bad Gateway</h1><p>capit-tui sandbox: injected non-JSON reply.</p></body></html>")
            return _Resp(200, html.encode(), {"Content-Type": "text/html; charset=utf-8"})
        return _Resp(0, close=kind)  # drop | reset

    # ------------------------------------------------------------ request handling

    def _handle(self, h: _Handler) -> None:
        method = h.command.upper()
        split = urlsplit(h.path)
        path = split.path or "/"
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in h.headers.items()}
        try:
            raw = _read_body(h)
        except _Bad as exc:
            h.close_connection = True
            self._write(h, _error(400, str(exc)), method)
            return
        body: Any = None
        bad_json = False
        if raw.strip():
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                bad_json = True
        token = _credential(headers)
        key_hash = self._hash_of(token)

        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            self._write(h, self._safe(lambda: self._admin(method, path, query, token, body, bad_json)), method)
            return

        anthropic = path.rstrip("/").startswith(API_PREFIX + "/messages")
        if self.latency_ms > 0:
            self._stop.wait(self.latency_ms / 1000.0)
        fault = self._take_fault(method, path)
        resp: _Resp | None = None
        if fault is not None and fault.kind == "stall":
            if self._stop.wait(fault.stall_seconds):
                h.close_connection = True
                return
        elif fault is not None:
            resp = self._fault_response(fault, anthropic)
        if resp is None:
            resp = self._safe(lambda: self._route(method, path, query, headers, raw, body, bad_json, token),
                              anthropic)
        record = RecordedRequest(method=method, path=path, query=query, headers=headers, json=body,
                                 key_hash=key_hash, status=None if resp.close else resp.status,
                                 at=self._safe_now())
        with self._lock:
            self.requests.append(record)
        self._write(h, resp, method)

    def _safe_now(self) -> datetime | None:
        try:
            return self._now()
        except Exception:  # a broken test clock must not kill the request
            return None

    def _safe(self, fn: Callable[[], _Resp], anthropic: bool = False) -> _Resp:
        try:
            return fn()
        except Exception as exc:  # answer 500 like a server would, and say why on stderr
            sys.stderr.write(redact("capit-tui sandbox: internal error: "
                                    + "".join(traceback.format_exception_only(type(exc), exc))))
            return _error(500, anthropic=anthropic)

    def _hash_of(self, token: str | None) -> str | None:
        if not token:
            return None
        h = sha256_hex(token)
        if h == self._management_hash or h in self._keys:
            return h
        return None

    def _is_management(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token.encode(), self.management_key.encode())

    def _write(self, h: _Handler, resp: _Resp, method: str) -> None:
        if resp.close:
            _close_socket(h, reset=resp.close == "reset")
            return
        h.send_response_only(resp.status)
        h.send_header("Server", "capit-tui-sandbox")
        now = self._safe_now()
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

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes,
               body: Any, bad_json: bool, token: str | None) -> _Resp:
        if not path.startswith(API_PREFIX + "/"):
            return _error(404, "Not Found")
        rel = path[len(API_PREFIX):].rstrip("/") or "/"
        parts = rel.strip("/").split("/")

        def allow(*methods: str) -> _Resp | None:
            if method in methods or (method == "HEAD" and "GET" in methods):
                return None
            return _error(405, f"Method {method} not allowed on {path}")

        if rel in ("/key", "/auth/key"):
            return allow("GET") or self._get_current_key(token)
        if rel == "/credits":
            return allow("GET") or self._get_credits(token)
        if rel == "/keys":
            if method in ("GET", "HEAD"):
                return self._list_keys(token, query)
            return allow("POST") or self._create_key(token, body, bad_json)
        if len(parts) == 2 and parts[0] == "keys":
            bad = allow("GET", "PATCH", "DELETE")
            if bad:
                return bad
            return self._one_key(method, token, parts[1], body, bad_json)
        if rel == "/workspaces":
            if method in ("GET", "HEAD"):
                return self._list_workspaces(token, query)
            return allow("POST") or self._create_workspace(token, body, bad_json)
        if rel == "/models":
            return allow("GET") or self._models(headers)
        if rel == "/chat/completions":
            return allow("POST") or self._inference("chat", path, token, body, bad_json, raw)
        if rel == "/responses":
            return allow("POST") or self._inference("responses", path, token, body, bad_json, raw)
        if rel == "/messages":
            return allow("POST") or self._inference("messages", path, token, body, bad_json, raw)
        if rel == "/messages/count_tokens":
            return allow("POST") or self._count_tokens(token, body, bad_json, raw)
        return _error(404, "Not Found")

    # ------------------------------------------------------------ management API

    def _authenticate(self, token: str | None, *, management: bool) -> _Resp | SandboxKey | None:
        """None for the management key, the SandboxKey for an inference key, or an error response."""
        if not token:
            return _error(401, MSG_MISSING_AUTH)
        if self._is_management(token):
            return None
        key = self._keys.get(sha256_hex(token))
        if key is None or key.disabled or key.expired(self._now()):
            return _error(401, MSG_USER_NOT_FOUND)
        if management:
            return _error(403, MSG_NOT_MANAGEMENT)
        return key

    def _get_current_key(self, token: str | None) -> _Resp:
        with self._lock:
            who = self._authenticate(token, management=False)
            if isinstance(who, _Resp):
                return who
            rate_limit = {"requests": -1, "interval": "10s",
                          "note": "This field is deprecated and safe to ignore."}
            if who is None:
                data: dict[str, Any] = {
                    "label": key_label(self.management_key), "limit": None, "limit_remaining": None,
                    "limit_reset": None, "include_byok_in_limit": False,
                    "usage": 0, "usage_daily": 0, "usage_weekly": 0, "usage_monthly": 0,
                    "byok_usage": 0, "byok_usage_daily": 0, "byok_usage_weekly": 0, "byok_usage_monthly": 0,
                    "is_free_tier": False, "is_management_key": True, "is_provisioning_key": True,
                    "creator_user_id": self.user_id, "expires_at": None, "rate_limit": rate_limit,
                }
            else:
                k = who.to_api(self._now())
                data = {name: k[name] for name in (
                    "label", "limit", "limit_remaining", "limit_reset", "include_byok_in_limit",
                    "usage", "usage_daily", "usage_weekly", "usage_monthly", "byok_usage",
                    "byok_usage_daily", "byok_usage_weekly", "byok_usage_monthly", "creator_user_id",
                    "expires_at")}
                data |= {"is_free_tier": False, "is_management_key": False, "is_provisioning_key": False,
                         "rate_limit": rate_limit}
            return _json_resp(200, {"data": data})

    def _get_credits(self, token: str | None) -> _Resp:
        with self._lock:
            who = self._authenticate(token, management=True)
            if who is not None:
                return who  # type: ignore[return-value]
            return _json_resp(200, {"data": {"total_credits": _num(self.total_credits),
                                             "total_usage": _num(self._total_usage)}})

    def _workspace_param(self, value: Any) -> str:
        if value is None or value == "":
            return self.default_workspace_id
        if not _is_uuid(value):
            raise _Bad("workspace_id must be a UUID")
        if not any(w["id"] == value for w in self.workspaces):
            raise _Bad(f"Workspace {value} not found")
        return value

    def _list_keys(self, token: str | None, query: dict[str, str]) -> _Resp:
        with self._lock:
            who = self._authenticate(token, management=True)
            if who is not None:
                return who  # type: ignore[return-value]
            try:
                inc = query.get("include_disabled", "false").strip().lower()
                if inc not in ("true", "false"):
                    raise _Bad("include_disabled must be 'true' or 'false'")
                offset = _int_param(query.get("offset"), "offset", default=0, minimum=0)
                ws = self._workspace_param(query.get("workspace_id"))
            except _Bad as exc:
                return _error(400, str(exc))
            keys: Iterable[SandboxKey] = self._ordered(ws)
            if inc != "true":
                keys = (k for k in keys if not k.disabled)
            now = self._now()
            page = [k.to_api(now) for k in itertools.islice(keys, offset, offset + self.page_size)]
            return _json_resp(200, {"data": page})

    def _create_key(self, token: str | None, body: Any, bad_json: bool) -> _Resp:
        with self._lock:
            who = self._authenticate(token, management=True)
            if who is not None:
                return who  # type: ignore[return-value]
            try:
                if bad_json or not isinstance(body, dict):
                    raise _Bad("Request body must be a JSON object")
                name = body.get("name")
                if not isinstance(name, str) or not name.strip():
                    raise _Bad("name is required and must be a non-empty string")
                limit = _limit_field(body.get("limit")) if "limit" in body else None
                reset = _reset_field(body.get("limit_reset")) if "limit_reset" in body else None
                byok = _bool_field(body, "include_byok_in_limit", default=False)
                ws = self._workspace_param(body.get("workspace_id"))
                creator = body.get("creator_user_id")
                if creator is not None and (not isinstance(creator, str) or not creator):
                    raise _Bad("creator_user_id must be a non-empty string or null")
                expires = None
                if body.get("expires_at") is not None:
                    expires = _expiry_field(body["expires_at"], self._now())
            except _Bad as exc:
                return _error(400, str(exc))
            secret = self._new_secret(self._secrets)
            key = self._insert(secret, name=name, limit=limit, reset=reset, disabled=False, workspace_id=ws,
                               created_at=self._now(), expires_at=expires, creator_user_id=creator,
                               include_byok_in_limit=byok)
            return _json_resp(201, {"data": key.to_api(self._now()), "key": secret})

    def _one_key(self, method: str, token: str | None, key_hash: str, body: Any, bad_json: bool) -> _Resp:
        with self._lock:
            who = self._authenticate(token, management=True)
            if who is not None:
                return who  # type: ignore[return-value]
            key = self._keys.get(key_hash)
            if key is None:
                return _error(404, "Key not found")
            if method in ("GET", "HEAD"):
                return _json_resp(200, {"data": key.to_api(self._now())})
            if method == "DELETE":
                del self._keys[key_hash]
                self._order = None
                return _json_resp(200, {"deleted": True})
            # PATCH: validate everything before changing anything.
            try:
                if bad_json or not isinstance(body, dict):
                    raise _Bad("Request body must be a JSON object")
                changes: dict[str, Any] = {}
                if "name" in body:
                    if not isinstance(body["name"], str) or not body["name"].strip():
                        raise _Bad("name must be a non-empty string")
                    changes["name"] = body["name"]
                if "disabled" in body:
                    changes["disabled"] = _bool_field(body, "disabled", default=False)
                if "limit" in body:
                    changes["limit"] = _limit_field(body["limit"])
                if "limit_reset" in body:
                    changes["limit_reset"] = _reset_field(body["limit_reset"])
                if "include_byok_in_limit" in body:
                    changes["include_byok_in_limit"] = _bool_field(body, "include_byok_in_limit", default=False)
            except _Bad as exc:
                return _error(400, str(exc))
            for name, value in changes.items():
                setattr(key, name, value)
            key.updated_at = self._now()
            return _json_resp(200, {"data": key.to_api(self._now())})

    def _list_workspaces(self, token: str | None, query: dict[str, str]) -> _Resp:
        with self._lock:
            who = self._authenticate(token, management=True)
            if who is not None:
                return who  # type: ignore[return-value]
            try:
                offset = _int_param(query.get("offset"), "offset", default=0, minimum=0)
                limit = _int_param(query.get("limit"), "limit", default=50, minimum=1, maximum=100)
            except _Bad as exc:
                return _error(400, str(exc))
            return _json_resp(200, {"data": self.workspaces[offset:offset + limit],
                                    "total_count": len(self.workspaces)})

    def _create_workspace(self, token: str | None, body: Any, bad_json: bool) -> _Resp:
        import re

        with self._lock:
            who = self._authenticate(token, management=True)
            if who is not None:
                return who  # type: ignore[return-value]
            if bad_json or not isinstance(body, dict):
                return _error(400, "Request body must be a JSON object")
            name, slug = body.get("name"), body.get("slug")
            if not isinstance(name, str) or not 1 <= len(name) <= 100:
                return _error(400, "name is required (1-100 characters)")
            if not isinstance(slug, str) or len(slug) > 50 or not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", slug):
                return _error(400, "slug is required: lower-case letters, digits and single hyphens")
            if any(w["slug"] == slug for w in self.workspaces):
                return _error(400, f"A workspace with slug {slug!r} already exists")
            ws = self._workspace(
                id=str(uuid.UUID(int=self._ids.getrandbits(128), version=4)),
                guardrail=str(uuid.UUID(int=self._ids.getrandbits(128), version=5)),
                name=name, slug=slug, created_at=self._now(), description=body.get("description"),
                default_text_model=body.get("default_text_model"),
                default_image_model=body.get("default_image_model"),
                default_provider_sort=body.get("default_provider_sort"),
            )
            self.workspaces.append(ws)
            return _json_resp(201, {"data": ws})

    def _models(self, headers: dict[str, str]) -> _Resp:
        created = int(datetime(2025, 9, 29, tzinfo=timezone.utc).timestamp())
        if "anthropic-version" in headers:  # Claude Code's gateway model discovery
            data = [{"type": "model", "id": mid, "display_name": name.split(": ", 1)[-1],
                     "created_at": "2025-09-29T00:00:00Z"} for mid, name, *_ in MODELS]
            return _json_resp(200, {"data": data, "has_more": False, "first_id": data[0]["id"],
                                    "last_id": data[-1]["id"]})
        data = []
        for mid, name, ctx, prompt, completion in MODELS:
            data.append({
                "id": mid, "canonical_slug": mid, "name": name, "created": created,
                "object": "model", "owned_by": mid.split("/")[0],
                "description": f"{name} (capit-tui sandbox: every reply is the same short text).",
                "context_length": ctx,
                "architecture": {"modality": "text->text", "input_modalities": ["text"],
                                 "output_modalities": ["text"], "tokenizer": "Other", "instruct_type": None},
                "pricing": {"prompt": str(Decimal(prompt) / 1_000_000),
                            "completion": str(Decimal(completion) / 1_000_000),
                            "request": "0", "image": "0"},
                "top_provider": {"context_length": ctx, "max_completion_tokens": 64000, "is_moderated": False},
                "per_request_limits": None,
                "supported_parameters": ["max_tokens", "temperature", "tools", "tool_choice", "stop",
                                         "reasoning", "include_reasoning", "response_format"],
            })
        return _json_resp(200, {"data": data})

    # ------------------------------------------------------------ inference

    def _inference_auth(self, token: str | None, anthropic: bool) -> _Resp | SandboxKey:
        if not token:
            return _error(401, MSG_MISSING_AUTH, anthropic=anthropic)
        if self._is_management(token):
            return _error(403, MSG_MANAGEMENT_INFERENCE, anthropic=anthropic)
        key = self._keys.get(sha256_hex(token))
        if key is None or key.disabled or key.expired(self._now()):
            return _error(401, MSG_USER_NOT_FOUND, anthropic=anthropic)
        return key

    def _inference(self, api: str, path: str, token: str | None, body: Any, bad_json: bool, raw: bytes) -> _Resp:
        anthropic = api == "messages"
        with self._lock:
            who = self._inference_auth(token, anthropic)
            if isinstance(who, _Resp):
                return who
            if bad_json or not isinstance(body, dict):
                return _error(400, "Request body must be a JSON object", anthropic=anthropic)
            if api in ("chat", "messages") and not isinstance(body.get("messages"), list):
                return _error(400, "messages is required and must be an array", anthropic=anthropic)
            if api == "responses" and "input" not in body:
                return _error(400, "input is required", anthropic=anthropic)
            now = self._now()
            remaining = who.remaining(now)
            if remaining is not None and remaining <= 0:
                window = who.limit_reset or "total"
                return _error(403, f"Key limit exceeded ({window} limit). Manage it using {MANAGE_URL}",
                              anthropic=anthropic)
            self._charge(who, self.cost_per_call, now)
            self.inference_calls.append((who.hash, path))
            gen_id = f"gen-{int(now.timestamp())}-{self._ids.getrandbits(80):020x}"
            item_id = f"msg_{self._ids.getrandbits(96):024x}"
        model = body.get("model") if isinstance(body.get("model"), str) and body.get("model") else _DEFAULT_MODEL[api]
        prompt_tokens = max(1, len(raw) // 4)
        completion_tokens = len(_PIECES) + 3
        ctx = _Ctx(gen_id, item_id, model, int(now.timestamp()), prompt_tokens, completion_tokens,
                   self.cost_per_call, body)
        stream = body.get("stream") is True
        if api == "chat":
            return _sse(_chat_stream(ctx)) if stream else _json_resp(200, _chat_completion(ctx))
        if api == "responses":
            return _sse(_responses_stream(ctx)) if stream else _json_resp(200, _response_object(ctx, "completed"))
        return _sse(_messages_stream(ctx)) if stream else _json_resp(200, _anthropic_message(ctx))

    def _count_tokens(self, token: str | None, body: Any, bad_json: bool, raw: bytes) -> _Resp:
        with self._lock:
            who = self._inference_auth(token, True)
            if isinstance(who, _Resp):
                return who
        if bad_json or not isinstance(body, dict):
            return _error(400, "Request body must be a JSON object", anthropic=True)
        return _json_resp(200, {"input_tokens": max(1, len(raw) // 4)})

    # ------------------------------------------------------------ admin API (tests driving a subprocess)

    def _admin(self, method: str, path: str, query: dict[str, str], token: str | None, body: Any,
               bad_json: bool) -> _Resp:
        if not token:
            return _error(401, MSG_MISSING_AUTH)
        if not self._is_management(token):
            return _error(401, "The sandbox admin API needs the management key")
        rel = path[len(ADMIN_PREFIX):].rstrip("/")
        if method in ("POST", "PATCH") and (bad_json or not isinstance(body, dict)):
            return _error(400, "Request body must be a JSON object")
        try:
            if rel == "/faults" and method == "POST":
                self.inject_fault(str(body.get("route", "* *")), str(body.get("kind", "")),
                                  times=int(body.get("times", 1)), after=int(body.get("after", 0)),
                                  retry_after=float(body.get("retry_after", 1.0)),
                                  stall_seconds=float(body.get("stall_seconds", 30.0)))
                return _json_resp(201, {"ok": True, "faults": len(self._faults)})
            if rel == "/faults" and method == "DELETE":
                with self._lock:
                    n = len(self._faults)
                self.clear_faults()
                return _json_resp(200, {"ok": True, "cleared": n})
            if rel == "/faults" and method == "GET":
                with self._lock:
                    return _json_resp(200, [vars(f).copy() for f in self._faults])
            if rel == "/requests" and method == "GET":
                since = _int_param(query.get("since"), "since", default=0, minimum=0)
                with self._lock:
                    return _json_resp(200, [r.to_json() for r in self.requests[since:]])
            if rel == "/requests" and method == "DELETE":
                with self._lock:
                    self.requests.clear()
                    self.inference_calls.clear()
                return _json_resp(200, {"ok": True})
            if rel == "/spend" and method == "POST":
                key_hash = body.get("hash")
                with self._lock:
                    if key_hash not in self._keys:
                        return _error(404, "Key not found")
                    self.spend(key_hash, body.get("amount", 0))
                    return _json_resp(200, {"data": self._keys[key_hash].to_api(self._now())})
            if rel == "/keys" and method == "POST":
                name = body.get("name")
                if not isinstance(name, str) or not name:
                    raise _Bad("name is required")
                secret, key_hash = self.add_key(
                    name, limit=body.get("limit"), reset=body.get("reset", body.get("limit_reset")),
                    disabled=bool(body.get("disabled", False)), workspace_id=body.get("workspace_id"),
                    spend=body.get("spend", 0))
                with self._lock:
                    data = self._keys[key_hash].to_api(self._now())
                return _json_resp(201, {"secret": secret, "hash": key_hash, "data": data})
            if rel == "/clock" and method == "POST":
                if body.get("now") is not None:
                    fixed = parse_time(body["now"])
                    if fixed is None:
                        raise _Bad("now must be an ISO 8601 time")
                    self.set_clock(lambda: fixed)
                elif body.get("advance") is not None:
                    delta = timedelta(seconds=float(body["advance"]))
                    base = self._clock
                    self.set_clock(lambda: base() + delta)
                else:
                    self.set_clock(None)
                return _json_resp(200, {"now": iso(self._now())})
        except (_Bad, ValueError, TypeError, ArithmeticError) as exc:
            return _error(400, str(exc))
        return _error(404, "Not Found")


# ---------------------------------------------------------------- request parsing helpers


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    te = (h.headers.get("Transfer-Encoding") or "").lower()
    if "chunked" in te:
        out = bytearray()
        while True:
            line = h.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            except ValueError:
                raise _Bad("Malformed chunked body") from None
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
        raise _Bad("Malformed Content-Length") from None
    if n < 0:
        raise _Bad("Malformed Content-Length")
    return h.rfile.read(n) if n else b""


def _credential(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "").strip()
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    api_key = headers.get("x-api-key", "").strip()
    return api_key or None


def _close_socket(h: BaseHTTPRequestHandler, *, reset: bool) -> None:
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


def _int_param(value: str | None, name: str, *, default: int, minimum: int | None = None,
               maximum: int | None = None) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise _Bad(f"{name} must be an integer") from None
    if minimum is not None and n < minimum:
        raise _Bad(f"{name} must be >= {minimum}")
    if maximum is not None and n > maximum:
        raise _Bad(f"{name} must be <= {maximum}")
    return n


def _limit_field(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad("limit must be a number or null")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise _Bad("limit must be a number or null") from None
    if not d.is_finite() or d < 0:
        raise _Bad("limit must be a number >= 0 or null")
    return d


def _reset_field(value: Any) -> str | None:
    if value is None:
        return None
    if value not in RESETS:
        raise _Bad("limit_reset must be one of daily, weekly, monthly or null")
    return value


def _bool_field(body: dict[str, Any], name: str, *, default: bool) -> bool:
    if name not in body:
        return default
    if not isinstance(body[name], bool):
        raise _Bad(f"{name} must be a boolean")
    return body[name]


def _expiry_field(value: Any, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise _Bad("expires_at must be an ISO 8601 UTC date-time or null")
    s = value.strip()
    if not (s.endswith("Z") or s.endswith("+00:00")):
        raise _Bad("expires_at must be in UTC (end with Z)")
    when = parse_time(s)
    if when is None:
        raise _Bad("expires_at must be an ISO 8601 UTC date-time or null")
    if when <= now:
        raise _Bad("expires_at must be in the future")
    return when


# ---------------------------------------------------------------- inference payloads

_PIECES = ["Hello", " from", " the", " capit-tui", " sandbox."]
assert "".join(_PIECES) == REPLY_TEXT


@dataclass(frozen=True)
class _Ctx:
    gen_id: str
    item_id: str
    model: str
    created: int
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal
    body: dict[str, Any]


def _sse(events: Iterator[bytes]) -> _Resp:
    return _Resp(200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                               "X-Accel-Buffering": "no"}, stream=events)


def _event(name: str | None, data: Any) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), default=_json_default)
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {payload}\n\n".encode("utf-8")


def _chat_usage(c: _Ctx) -> dict[str, Any]:
    return {
        "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
        "total_tokens": c.prompt_tokens + c.completion_tokens, "cost": _num(c.cost), "is_byok": False,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "cost_details": {"upstream_inference_cost": None},
        "completion_tokens_details": {"reasoning_tokens": 0, "image_tokens": 0},
    }


def _chat_completion(c: _Ctx) -> dict[str, Any]:
    return {
        "id": c.gen_id, "provider": "CapitSandbox", "model": c.model, "object": "chat.completion",
        "created": c.created, "system_fingerprint": None,
        "choices": [{
            "index": 0, "logprobs": None, "finish_reason": "stop", "native_finish_reason": "stop",
            "message": {"role": "assistant", "content": REPLY_TEXT, "refusal": None, "reasoning": None},
        }],
        "usage": _chat_usage(c),
    }


def _chat_stream(c: _Ctx) -> Iterator[bytes]:
    base = {"id": c.gen_id, "provider": "CapitSandbox", "model": c.model, "object": "chat.completion.chunk",
            "created": c.created, "system_fingerprint": None}

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return base | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                    "native_finish_reason": finish, "logprobs": None}]}

    yield b": OPENROUTER PROCESSING\n\n"
    yield _event(None, chunk({"role": "assistant", "content": ""}, None))
    for piece in _PIECES:
        yield _event(None, chunk({"role": "assistant", "content": piece}, None))
    yield _event(None, chunk({"role": "assistant", "content": ""}, "stop"))
    yield _event(None, base | {"choices": [], "usage": _chat_usage(c)})
    yield _event(None, "[DONE]")


def _output_message(c: _Ctx, status: str) -> dict[str, Any]:
    content = [] if status == "in_progress" else [
        {"type": "output_text", "text": REPLY_TEXT, "annotations": [], "logprobs": []}]
    return {"id": c.item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def _response_object(c: _Ctx, status: str) -> dict[str, Any]:
    b = c.body
    done = status == "completed"
    return {
        "id": c.gen_id, "object": "response", "created_at": c.created, "status": status,
        "background": False, "error": None, "incomplete_details": None,
        "instructions": b.get("instructions"), "max_output_tokens": b.get("max_output_tokens"),
        "model": c.model, "output": [_output_message(c, "completed")] if done else [],
        "parallel_tool_calls": b.get("parallel_tool_calls", True),
        "previous_response_id": b.get("previous_response_id"),
        "reasoning": {"effort": (b.get("reasoning") or {}).get("effort") if isinstance(b.get("reasoning"), dict)
                      else None, "summary": None},
        "store": b.get("store", False), "temperature": b.get("temperature", 1.0),
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": b.get("tool_choice", "auto"), "tools": b.get("tools", []),
        "top_p": b.get("top_p", 1.0), "truncation": "disabled",
        "usage": {
            "input_tokens": c.prompt_tokens, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": c.completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": c.prompt_tokens + c.completion_tokens, "cost": _num(c.cost),
        } if done else None,
        "user": None, "metadata": b.get("metadata") or {},
    }


def _responses_stream(c: _Ctx) -> Iterator[bytes]:
    seq = itertools.count()

    def ev(kind: str, **fields: Any) -> bytes:
        return _event(kind, {"type": kind, "sequence_number": next(seq), **fields})

    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    where = {"item_id": c.item_id, "output_index": 0, "content_index": 0}
    yield ev("response.created", response=_response_object(c, "in_progress"))
    yield ev("response.in_progress", response=_response_object(c, "in_progress"))
    yield ev("response.output_item.added", output_index=0, item=_output_message(c, "in_progress"))
    yield ev("response.content_part.added", **where, part=part)
    for piece in _PIECES:
        yield ev("response.output_text.delta", **where, delta=piece, logprobs=[])
    yield ev("response.output_text.done", **where, text=REPLY_TEXT, logprobs=[])
    yield ev("response.content_part.done", **where, part=part | {"text": REPLY_TEXT})
    yield ev("response.output_item.done", output_index=0, item=_output_message(c, "completed"))
    yield ev("response.completed", response=_response_object(c, "completed"))


def _anthropic_usage(c: _Ctx, output_tokens: int) -> dict[str, Any]:
    return {"input_tokens": c.prompt_tokens, "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def _anthropic_message(c: _Ctx) -> dict[str, Any]:
    return {
        "id": c.gen_id, "type": "message", "role": "assistant", "model": c.model,
        "content": [{"type": "text", "text": REPLY_TEXT}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": _anthropic_usage(c, c.completion_tokens),
    }


def _messages_stream(c: _Ctx) -> Iterator[bytes]:
    def ev(kind: str, **fields: Any) -> bytes:
        return _event(kind, {"type": kind, **fields})

    start = _anthropic_message(c) | {"content": [], "stop_reason": None, "usage": _anthropic_usage(c, 1)}
    yield ev("message_start", message=start)
    yield ev("content_block_start", index=0, content_block={"type": "text", "text": ""})
    yield ev("ping")
    for piece in _PIECES:
        yield ev("content_block_delta", index=0, delta={"type": "text_delta", "text": piece})
    yield ev("content_block_stop", index=0)
    yield ev("message_delta", delta={"stop_reason": "end_turn", "stop_sequence": None},
             usage={"output_tokens": c.completion_tokens})
    yield ev("message_stop")


# ---------------------------------------------------------------- command line entry


def serve(port: int = 8787, seed_keys: int = 40, latency_ms: float = 0, traffic: bool = False,
          management_key: str | None = None, out: TextIO | None = None, *, host: str = "127.0.0.1",
          seed: int = 1234, workspaces: int = 1) -> int:
    """Run a sandbox in the foreground until Ctrl-C (or SIGTERM); print how to point capit-tui at it."""
    out = out if out is not None else sys.stdout
    sb = Sandbox(host=host, port=port, seed_keys=seed_keys, latency_ms=latency_ms, traffic=traffic,
                 management_key=management_key, seed=seed, workspaces=workspaces)
    sb.start()
    previous = None
    if threading.current_thread() is threading.main_thread():
        def _terminate(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        print(f"capit-tui sandbox (OpenRouter-compatible) listening on {sb.base_url}", file=out)
        print(f"Anthropic-style base URL: {sb.anthropic_base_url}", file=out)
        print("Point capit-tui at it with:", file=out)
        print(f"export CAPIT_OPENROUTER_BASE_URL={sb.base_url}", file=out)
        print(f"export CAPIT_OPENROUTER_MANAGEMENT_KEY={sb.management_key}", file=out)
        print("Press Ctrl-C to stop.", file=out, flush=True)
        while sb.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        try:
            print("capit-tui sandbox stopped.", file=out, flush=True)
        except (OSError, ValueError):
            pass
    return 0
