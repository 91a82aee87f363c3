"""A LiteLLM-proxy-compatible server on loopback, for tests (the real proxy cannot start here: Prisma downloads
its engines at start, see reference/platforms.md section 2).

Written from the proxy's OpenAPI (litellm 1.108.7, tests/data/litellm-openapi-subset.yaml) and the facts in
platforms.md section 2:

* `Authorization: Bearer <key>` (or `x-api-key`, as Anthropic clients send it). The master key and admin
  virtual keys manage keys; a plain virtual key calls models and reads its own `/key/info`, and gets 401
  `auth_error` ("Only proxy admin can be used to ...") on the management routes.
* `/key/generate`, `/key/update`, `/key/block`, `/key/unblock`, `/key/delete`, `/key/info`, `/key/list`
  (1-based `page`, `size` 1..100 else 422, `return_full_object`, `key_alias`; newest first). Errors are
  LiteLLM's ProxyException body `{"error": {"message", "type", "param", "code"}}`; a key alias is unique.
* `GET /key/info` without `key` for the master key: 404 "Key not found in database" (it is no database key).
* Inference (`/v1/chat/completions`, `/v1/responses`, `/v1/messages`, also without `/v1`): each call costs
  `cost_per_call` on the calling key's `spend`; once `spend >= max_budget` the key is refused with
  `budget_status` (429, as releases from mid-2026 answer; 400 before) and
  `{"error": {"message": "Budget has been exceeded! Current cost: X, Max budget: Y", "type": "budget_exceeded",
  "param": null, "code": "<status>"}}`. Blocked and expired keys get 401.
* Budgets reset on calendar boundaries (UTC): `1d`/`24h` at midnight, `7d` on Monday, `30d`/`1mo` on the 1st
  of the month; other durations roll from now. The clock is `server.now`, which a test may replace.
* `/v1/models` lists the proxy's model names (a key limited to some models sees those).

Every request is recorded with the hash of the key it carried (`server.requests`); `inject()` queues canned
replies for the next matching requests; `latency` delays every reply (the benchmark's 50 ms).
"""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import ThreadingHTTPServer
from typing import Any

from litellm_http import Recorded, Sse, hash_token, make_server

from capit_tui.sandbox.inference import (  # the reply bodies and event streams of each API
    REPLY_TEXT,
    _anthropic_message,
    _chat_completion,
    _chat_stream,
    _Ctx,
    _messages_stream,
    _response_object,
    _responses_stream,
)

KEY_CHARS = string.ascii_letters + string.digits
MODELS = ("claude-sonnet-4-5", "gpt-4o-mini", "gpt-5.1-codex")
ADMIN_ONLY = ("/key/generate", "/key/update", "/key/delete", "/key/block", "/key/unblock", "/key/list")
__all__ = ["LiteLLMServer", "Recorded", "REPLY_TEXT", "hash_token", "next_reset"]


def next_reset(duration: str, now: datetime) -> datetime:
    """When a budget of this duration next resets (budget_reset_and_tz, UTC)."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if duration in ("1d", "24h"):
        return day + timedelta(days=1)
    if duration in ("7d", "1w"):
        return day + timedelta(days=7 - day.weekday())
    if duration in ("30d", "1mo"):
        days = monthrange(day.year, day.month)[1]
        return day.replace(day=1) + timedelta(days=days)
    m = re.fullmatch(r"(\d+)(s|m|h|d|w)", duration)
    if m is None:
        raise ValueError(duration)
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    return now + timedelta(seconds=int(m.group(1)) * unit)


def _duration_seconds(text: str) -> int:
    m = re.fullmatch(r"(\d+)(s|m|h|d|w|mo)", text)
    if m is None:
        raise ValueError(text)
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2_592_000}[m.group(2)]
    return int(m.group(1)) * unit


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(timezone.utc).isoformat()


def proxy_error(status: int, message: str, kind: str, param: str | None = None) -> tuple[int, dict[str, Any]]:
    """LiteLLM's ProxyException body."""
    return status, {"error": {"message": message, "type": kind, "param": param, "code": str(status)}}


@dataclass
class Fault:
    method: str
    path: str
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    delay: float = 0.0


class LiteLLMServer:
    """A threaded HTTP server on 127.0.0.1 that answers like a LiteLLM proxy with a database."""

    def __init__(self, *, cost_per_call: Decimal = Decimal("0.01"), budget_status: int = 429,
                 models: tuple[str, ...] = MODELS, latency: float = 0.0):
        self.master_key = "sk-" + secrets.token_urlsafe(24)
        self.cost_per_call = cost_per_call
        self.budget_status = budget_status
        self.models = models
        self.latency = latency
        self.keys: dict[str, dict[str, Any]] = {}  # by hash, in creation order
        self.admins: set[str] = set()  # hashes of admin virtual keys
        self.requests: list[Recorded] = []
        self.now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
        self._faults: list[Fault] = []
        self._seq = 0
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> LiteLLMServer:
        self._httpd = make_server(self)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="litellm-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LiteLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------ test helpers

    def add_key(self, alias: str | None = None, *, max_budget: float | None = None,
                budget_duration: str | None = None, spend: float = 0.0, blocked: bool = False,
                expires: datetime | None = None, models: list[str] | None = None, admin: bool = False,
                metadata: dict[str, Any] | None = None, secret: str | None = None) -> tuple[str, dict[str, Any]]:
        """A virtual key as /key/generate makes it: (its secret, its stored object)."""
        with self._lock:
            now = self.now()
            key = secret or "sk-" + "".join(secrets.choice(KEY_CHARS) for _ in range(22))
            h = hash_token(key)
            self._seq += 1
            row: dict[str, Any] = {
                "token": h, "key_name": f"sk-...{key[-4:]}", "key_alias": alias, "spend": spend,
                "max_budget": max_budget, "expires": _iso(expires), "models": list(models or []),
                "aliases": {}, "config": {}, "user_id": "default_user_id" if admin else None, "team_id": None,
                "max_parallel_requests": None, "metadata": dict(metadata or {}), "tpm_limit": None,
                "rpm_limit": None, "budget_duration": budget_duration,
                "budget_reset_at": _iso(next_reset(budget_duration, now)) if budget_duration else None,
                "allowed_cache_controls": [], "permissions": {}, "model_spend": {}, "model_max_budget": {},
                "soft_budget_cooldown": False, "blocked": blocked, "litellm_budget_table": None,
                "org_id": None, "created_at": _iso(now + timedelta(microseconds=self._seq)),
                "created_by": "default_user_id", "updated_at": _iso(now), "updated_by": "default_user_id",
                "last_active": None,
            }
            self.keys[h] = row
            if admin:
                self.admins.add(h)
            return key, row

    def spend(self, key_hash: str, amount: float) -> None:
        with self._lock:
            self.keys[key_hash]["spend"] = float(Decimal(str(self.keys[key_hash]["spend"])) + Decimal(str(amount)))

    def inject(self, method: str, path: str, status: int = 500, *, json_body: Any = None, text: str | None = None,
               raw: bytes | None = None, headers: dict[str, str] | None = None, times: int = 1,
               delay: float = 0.0) -> None:
        """Answer the next `times` requests to `method path` ("*" = any) with this reply, after `delay` s."""
        if raw is not None:
            body, ctype = raw, "application/json"
        elif text is not None:
            body, ctype = text.encode(), "text/html; charset=utf-8"
        else:
            body = json.dumps(json_body if json_body is not None else {"error": {"message": "injected"}}).encode()
            ctype = "application/json"
        with self._lock:
            self._faults.append(Fault(method.upper(), path, status, body, ctype, dict(headers or {}), times, delay))

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests
                    if (method is None or r.method == method) and (path is None or r.path == path)]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.method in (method, "*") and f.path in (path, "*"):
                    f.times -= 1
                    if f.times <= 0:
                        self._faults.remove(f)
                    return f
        return None

    # ------------------------------------------------------------ the proxy

    def _resets(self) -> None:
        """The proxy's budget-reset job: every key whose budget_reset_at has passed starts a new window."""
        now = self.now()
        for row in self.keys.values():
            at = row.get("budget_reset_at")
            if at and row.get("budget_duration") and datetime.fromisoformat(at) <= now:
                row["spend"] = 0.0
                row["budget_reset_at"] = _iso(next_reset(row["budget_duration"], now))

    def _who(self, headers: dict[str, str]) -> str | None:
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else headers.get("x-api-key", "").strip()
        return token or None

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: Any) -> tuple[int, Any]:
        if path in ("/health/liveliness", "/") and method in ("GET", "HEAD"):
            return 200, "I'm alive!"
        token = self._who(headers)
        with self._lock:
            self._resets()
            if token is None:
                return proxy_error(401, "Authentication Error, No api key passed in.", "auth_error", "None")
            is_master = token == self.master_key
            h = hash_token(token)
            row = self.keys.get(h)
            if not is_master and row is None:
                return proxy_error(401, "Authentication Error, Invalid proxy server token passed. Received API "
                                   f"Key = sk-...{token[-4:]}, Key Hash (Token) ={h}. Unable to find token in "
                                   "cache or `LiteLLM_VerificationTokenTable`", "auth_error", "None")
            admin = is_master or h in self.admins
            if path in ADMIN_ONLY and not admin:
                return proxy_error(401, "Authentication Error, Only proxy admin can be used to generate, delete, "
                                   f"update info for new keys/users/teams. Route={path}. Your role=unknown. "
                                   "Your user_id=None", "auth_error", "None")
            if path.startswith("/key/"):
                return self._manage(method, path, query, body, h, admin, is_master)
            assert row is not None or is_master
            return self._inference(method, path, headers, body, None if is_master else row)

    # ------------------------------------------------------------ key management

    def _find(self, key: Any) -> dict[str, Any] | None:
        if not isinstance(key, str) or not key:
            return None
        return self.keys.get(hash_token(key) if key.startswith("sk-") else key)

    def _manage(self, method: str, path: str, query: dict[str, list[str]], body: Any, caller: str,
                admin: bool, is_master: bool) -> tuple[int, Any]:
        if path == "/key/info" and method == "GET":
            asked = (query.get("key") or [None])[0]
            if asked is None:
                if is_master:
                    return proxy_error(404, "Key not found in database", "not_found", "key")
                asked = caller
            row = self._find(asked)
            if row is None:
                return proxy_error(404, f"Key not found in database. key={asked[:12]}", "not_found", "key")
            if not admin and row["token"] != caller:
                return proxy_error(403, "You are not allowed to access this key's info.", "auth_error", "key")
            info = {k: v for k, v in row.items() if k != "token"}
            return 200, {"key": asked, "info": info}
        if path == "/key/list" and method == "GET":
            return self._list(query)
        if method != "POST":
            return 405, {"detail": "Method Not Allowed"}
        if not isinstance(body, dict):
            return 422, {"detail": [{"type": "model_attributes_type", "loc": ["body"],
                                     "msg": "Input should be a valid dictionary or object", "input": body}]}
        if path == "/key/generate":
            return self._generate(body)
        if path == "/key/update":
            row = self._find(body.get("key"))
            if row is None:
                return proxy_error(404, f"Team not found, passed key={str(body.get('key'))[:12]}", "not_found",
                                   "key")
            return self._apply(row, body)
        if path in ("/key/block", "/key/unblock"):
            row = self._find(body.get("key"))
            if row is None:
                return proxy_error(404, "Key not found.", "not_found", "key")
            row["blocked"] = path == "/key/block"
            row["updated_at"] = _iso(self.now())
            return 200, dict(row)
        if path == "/key/delete":
            wanted = body.get("keys") or []
            rows = [self._find(k) for k in wanted]
            if not wanted or any(r is None for r in rows):
                return proxy_error(404, f"Failed to delete all keys. Tried to delete: {len(wanted)}. Deleted: 0",
                                   "not_found", "keys")
            for r in rows:
                assert r is not None
                del self.keys[r["token"]]
                self.admins.discard(r["token"])
            return 200, {"deleted_keys": list(wanted)}
        return 404, {"detail": "Not Found"}

    def _list(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        def q(name: str, default: str) -> str:
            return (query.get(name) or [default])[0]

        try:
            page, size = int(q("page", "1")), int(q("size", "10"))
        except ValueError:
            return 422, {"detail": [{"type": "int_parsing", "loc": ["query", "page"], "msg": "Input should be a "
                                     "valid integer"}]}
        if page < 1 or not 1 <= size <= 100:
            return 422, {"detail": [{"type": "less_than_equal", "loc": ["query", "size" if page >= 1 else "page"],
                                     "msg": "Input should be less than or equal to 100"}]}
        rows = list(reversed(self.keys.values()))  # newest first
        alias = q("key_alias", "")
        if alias:
            rows = [r for r in rows if r.get("key_alias") == alias]
        total = len(rows)
        chunk = rows[(page - 1) * size: page * size]
        full = q("return_full_object", "false") == "true"
        return 200, {"keys": [dict(r) if full else r["token"] for r in chunk], "total_count": total,
                     "current_page": page, "total_pages": -(-total // size) if total else 0}

    def _generate(self, body: dict[str, Any]) -> tuple[int, Any]:
        alias = body.get("key_alias")
        if alias is not None and any(r.get("key_alias") == alias for r in self.keys.values()):
            return proxy_error(400, f"Unique key aliases across all keys are required, key_alias={alias} already "
                               "exists", "bad_request_error", "key_alias")
        expires = None
        if body.get("duration"):
            try:
                expires = self.now() + timedelta(seconds=_duration_seconds(str(body["duration"])))
            except ValueError:
                return proxy_error(400, f"Invalid duration {body['duration']}", "bad_request_error", "duration")
        duration = body.get("budget_duration")
        if duration is not None:
            try:
                next_reset(str(duration), self.now())
            except ValueError:
                return proxy_error(400, f"Invalid budget_duration {duration}", "bad_request_error",
                                   "budget_duration")
        key, row = self.add_key(alias, max_budget=body.get("max_budget"), budget_duration=duration,
                                expires=expires, models=body.get("models"), metadata=body.get("metadata"),
                                blocked=bool(body.get("blocked")))
        reply = {k: v for k, v in row.items() if k not in ("token",)}
        reply.update({"key": key, "token_id": row["token"], "token": row["token"], "duration": body.get("duration")})
        return 200, reply

    def _apply(self, row: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
        for name in ("key_alias", "max_budget", "models", "metadata", "blocked"):
            if name in body:
                row[name] = body[name] if name != "models" else list(body[name] or [])
        if "budget_duration" in body:
            d = body["budget_duration"]
            row["budget_duration"] = d
            row["budget_reset_at"] = _iso(next_reset(d, self.now())) if d else None
        row["updated_at"] = _iso(self.now())
        return 200, dict(row)

    # ------------------------------------------------------------ inference

    def _inference(self, method: str, path: str, headers: dict[str, str], body: Any,
                   row: dict[str, Any] | None) -> tuple[int, Any]:
        p = path.removeprefix("/v1")
        if p == "/models" and method == "GET":
            names = [m for m in self.models if row is None or not row["models"] or m in row["models"]]
            return 200, {"data": [{"id": m, "object": "model", "created": 1677610602, "owned_by": "openai"}
                                  for m in names], "object": "list"}
        api = {"/chat/completions": "chat", "/responses": "responses", "/messages": "messages"}.get(p)
        if api is None or method != "POST":
            if p == "/messages/count_tokens" and method == "POST":
                return 200, {"input_tokens": 10}
            return 404, {"detail": "Not Found"}
        now = self.now()
        if row is not None:
            if row["blocked"]:
                return proxy_error(401, "Authentication Error, Key is blocked. Update via `/key/unblock` if you're "
                                   "admin.", "auth_error", "None")
            if row["expires"] and datetime.fromisoformat(row["expires"]) <= now:
                return proxy_error(401, f"Authentication Error - Expired Key. Key Expiry time {row['expires']} "
                                   f"and current time {now.isoformat()}", "expired_key", "token")
            budget = row["max_budget"]
            if budget is not None and row["spend"] >= budget:
                return proxy_error(self.budget_status, f"Budget has been exceeded! Current cost: {row['spend']}, "
                                   f"Max budget: {budget}", "budget_exceeded")
        if not isinstance(body, dict):
            return proxy_error(400, "Invalid JSON body", "bad_request_error")
        model = str(body.get("model") or self.models[0])
        if row is not None and row["models"] and model not in row["models"]:
            return proxy_error(401, f"Authentication Error, key not allowed to access model. This key can only "
                               f"access models={row['models']}. Tried to access {model}", "key_model_access_denied",
                               "model")
        if row is not None:
            row["spend"] = float(Decimal(str(row["spend"])) + self.cost_per_call)
            row["last_active"] = _iso(now)
        ctx = _Ctx(f"chatcmpl-{secrets.token_hex(8)}", f"msg_{secrets.token_hex(12)}", model, int(now.timestamp()),
                   12, 8, self.cost_per_call, body)
        stream = body.get("stream") is True
        if api == "chat":
            return (200, Sse(_chat_stream(ctx))) if stream else (200, _chat_completion(ctx))
        if api == "responses":
            return (200, Sse(_responses_stream(ctx))) if stream else (200, _response_object(ctx, "completed"))
        return (200, Sse(_messages_stream(ctx))) if stream else (200, _anthropic_message(ctx))
