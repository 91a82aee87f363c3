"""A one-api / new-api management server on loopback, for tests.

Written from the one-api source (songquanpeng/one-api at 8df4a26: middleware/auth.go, controller/token.go,
model/token.go, model/user.go) and new-api (Calcium-Ion/new-api at ef8ae4d and later copies), as
summarised in reference/platforms.md section 1:

* `UserAuth`: `Authorization: <access token>` with one `Bearer ` stripped. No header -> HTTP 401
  `{"success": false, ...}`; a wrong token -> HTTP 200 `{"success": false, ...}`. new-api also wants
  `New-Api-User: <user id>` (401 when missing, malformed or not the token's user).
* Business errors are HTTP 200 + `success: false`.
* `GET /api/token/?p=` lists newest first (`id desc`). one-api: `p` is 0-based and the page size is
  the fixed ItemsPerPage (10). Newer new-api: `p` is 1-based (p < 1 reads as 1), `page_size`/`ps`/`size`
  up to 100, reply `{items, total, page, page_size}`.
* `POST /api/token/` makes a 48-character key (no `sk-`); one-api returns the token, key included;
  new-api (April 2025) returns only `success`. Names over 30 bytes are refused.
* `PUT /api/token/` copies name, expired_time, remain_quota, unlimited_quota, models, subnet (new-api:
  model_limits_enabled, model_limits, allow_ips, group) from the body, so omitted fields become zero
  values; it never changes status. `?status_only=<anything>` changes only the status. Enabling is
  refused while the token is exhausted (status 4, remain_quota <= 0, capped) or expired.
* Newer new-api masks keys in GET replies and reveals one with `POST /api/token/{id}/key`.
* `POST /v1/chat/completions` with `Authorization: Bearer sk-<key>` (one-api `TokenAuth`): an unknown,
  disabled, expired or exhausted token -> 401; a model outside the token's own list -> 403. one-api
  (middleware/auth.go): `models` non-empty and the model not in it (exact names, split on ",") ->
  `{"error": {"message": "该令牌无权使用模型：<model>", "type": "one_api_error"}}` (`abortWithMessage`).
  new-api (middleware/distributor.go): `model_limits_enabled` and the model not in `model_limits` ->
  `{"error": {"message": "该令牌无权访问模型 <model>", "type": "new_api_error"}}`. A served call costs
  `CHAT_COST` quota units, charged to the token (what `spend` does).

Everything received is recorded in `server.requests` for assertions, and `inject()` queues canned
failures (500, 429 with Retry-After, non-JSON ...) for the next matching requests.
"""

from __future__ import annotations

import json
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

KEY_CHARS = string.ascii_letters + string.digits
CHAT_COST = 1_000  # quota units per served chat call ($0.002)

ONEAPI_FIELDS = ("models", "subnet")
NEWAPI_FIELDS = ("model_limits_enabled", "model_limits", "allow_ips", "group")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, raw text if not JSON, None if empty


@dataclass
class Fault:
    method: str
    path: str
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


class OneApiServer:
    """A threaded HTTP server on 127.0.0.1 that behaves like one-api's management API."""

    def __init__(self, *, flavor: str = "oneapi", page_size: int = 10, list_shape: str | None = None,
                 page_base: int | None = None, honour_size: bool | None = None,
                 return_key_on_create: bool | None = None, mask_keys: bool | None = None,
                 quota_per_unit: int = 500_000, user_id: int = 1, user_quota: int = 50_000_000,
                 user_used_quota: int = 0):
        assert flavor in ("oneapi", "newapi")
        newapi = flavor == "newapi"
        self.flavor = flavor
        self.new_api = newapi
        self.page_size = page_size
        self.list_shape = list_shape or ("paged" if newapi else "plain")
        self.page_base = page_base if page_base is not None else (1 if newapi else 0)
        self.honour_size = honour_size if honour_size is not None else newapi
        self.return_key_on_create = return_key_on_create if return_key_on_create is not None else not newapi
        self.mask_keys = mask_keys if mask_keys is not None else newapi
        self.quota_per_unit = quota_per_unit
        self.access_token = secrets.token_hex(16)  # one-api: a UUID without dashes, char(32)
        self.user: dict[str, Any] = {
            "id": user_id, "username": "alice", "display_name": "Alice", "role": 1, "status": 1,
            "email": "", "quota": user_quota, "used_quota": user_used_quota, "request_count": 0,
            "group": "default", "aff_code": "abcd",
        }
        self.tokens: dict[int, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self._faults: list[Fault] = []
        self.before: Callable[[Recorded], None] | None = None
        """Called with each request (under the lock) before it is answered: lets a test spend
        quota between two of the adapter's requests."""
        self._next_id = 1
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> "OneApiServer":
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="oneapi-server", daemon=True)
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

    def __enter__(self) -> "OneApiServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------ test helpers

    def add_token(self, name: str, *, remain_quota: int = 0, unlimited_quota: bool = False,
                  used_quota: int = 0, status: int = 1, expired_time: int = -1,
                  created_time: int | None = None, **extra: Any) -> dict[str, Any]:
        with self._lock:
            now = int(time.time())
            token: dict[str, Any] = {
                "id": self._next_id,
                "user_id": self.user["id"],
                "key": "".join(secrets.choice(KEY_CHARS) for _ in range(48)),
                "status": status,
                "name": name,
                "created_time": created_time if created_time is not None else now,
                "accessed_time": now,
                "expired_time": expired_time,
                "remain_quota": remain_quota,
                "unlimited_quota": unlimited_quota,
                "used_quota": used_quota,
            }
            if self.new_api:
                token.update({"model_limits_enabled": False, "model_limits": "", "allow_ips": "",
                              "group": ""})
            else:
                token.update({"models": "", "subnet": ""})
            token.update(extra)
            self.tokens[self._next_id] = token
            self._next_id += 1
            return dict(token)

    def spend(self, token_id: int, units: int) -> None:
        """What one relayed request costing `units` does to the token and the user."""
        with self._lock:
            t = self.tokens[token_id]
            t["remain_quota"] -= units
            t["used_quota"] += units
            self.user["quota"] -= units
            self.user["used_quota"] += units
            if not t["unlimited_quota"] and t["remain_quota"] <= 0:
                t["status"] = 4  # what ValidateUserToken does on the next request

    def inject(self, method: str, path: str, status: int = 500, *, json_body: Any = None,
               text: str | None = None, headers: dict[str, str] | None = None, times: int = 1) -> None:
        """Answer the next `times` requests to `method path` (path without query; "*" = any) with this."""
        if text is not None:
            body, ctype = text.encode(), "text/html; charset=utf-8"
        else:
            payload = json_body if json_body is not None else {"success": False, "message": "injected"}
            body, ctype = json.dumps(payload).encode(), "application/json; charset=utf-8"
        with self._lock:
            self._faults.append(Fault(method.upper(), path, status, body, ctype, dict(headers or {}), times))

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests
                    if (method is None or r.method == method) and (path is None or r.path == path)]

    # ------------------------------------------------------------ the API

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.method in (method, "*") and f.path in (path, "*"):
                    f.times -= 1
                    if f.times <= 0:
                        self._faults.remove(f)
                    return f
        return None

    def _auth(self, headers: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
        auth = headers.get("authorization", "")
        if not auth:
            return 401, {"success": False, "message": "无权进行此操作，未登录且未提供 access token"}
        token = auth.replace("Bearer ", "", 1)  # model.ValidateAccessToken
        if token != self.access_token:
            return 200, {"success": False, "message": "无权进行此操作，access token 无效"}
        if self.new_api:
            uid = headers.get("new-api-user", "")
            if not uid:
                return 401, {"success": False, "message": "无权进行此操作，未提供 New-Api-User"}
            try:
                n = int(uid)
            except ValueError:
                return 401, {"success": False, "message": "无权进行此操作，New-Api-User 格式错误"}
            if n != self.user["id"]:
                return 401, {"success": False, "message": "无权进行此操作，New-Api-User 与登录用户不匹配"}
        if self.user["status"] != 1:
            return 200, {"success": False, "message": "用户已被封禁"}
        return None

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: Any) -> tuple[int, Any]:
        """The reply as (status, JSON object) or (status, str for a non-JSON body)."""
        if path == "/v1/chat/completions" and method == "POST":
            return self._chat(headers, body)
        if not path.startswith("/api/"):
            if method == "GET":  # the web UI catches every other path
                return 200, "<!doctype html><html><body>one-api</body></html>"
            return 404, "404 page not found"
        if path == "/api/status" and method == "GET":
            return 200, ok({"quota_per_unit": self.quota_per_unit, "system_name": "One API"})
        refused = self._auth(headers)
        if refused is not None:
            return refused
        with self._lock:
            if path == "/api/user/self" and method == "GET":
                user = {k: v for k, v in self.user.items()}
                return 200, ok(user)
            if path in ("/api/token/", "/api/token"):
                if method == "GET":
                    return 200, self._list(query, list(self.tokens.values()))
                if method == "POST":
                    return 200, self._create(body)
                if method == "PUT":
                    return 200, self._update(body, query)
            if path == "/api/token/search" and method == "GET":
                kw = first(query, "keyword")
                found = [t for t in self.tokens.values() if str(t["name"]).startswith(kw)]
                if self.list_shape == "paged":
                    return 200, self._list(query, found)
                return 200, ok([self._shown(t) for t in sorted(found, key=lambda t: -t["id"])])
            parts = path.removeprefix("/api/token/").split("/")
            if path.startswith("/api/token/") and parts[0]:
                try:
                    tid = int(parts[0])
                except ValueError:
                    return 200, fail(f'strconv.Atoi: parsing "{parts[0]}": invalid syntax')
                if len(parts) == 1 and method == "GET":
                    t = self.tokens.get(tid)
                    return 200, ok(self._shown(t)) if t else fail("record not found")
                if len(parts) == 1 and method == "DELETE":
                    if tid not in self.tokens:
                        return 200, fail("record not found")
                    del self.tokens[tid]
                    return 200, ok(None, with_data=False)
                if parts[1:] == ["key"] and method == "POST" and self.new_api:
                    t = self.tokens.get(tid)
                    return 200, ok({"key": t["key"]}) if t else fail("record not found")
        return 404, "404 page not found"

    def _chat(self, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        kind = "new_api_error" if self.new_api else "one_api_error"

        def refuse(status: int, message: str) -> tuple[int, Any]:
            return status, {"error": {"message": message, "type": kind, "code": ""}}

        key = headers.get("authorization", "").removeprefix("Bearer ").strip().removeprefix("sk-")
        model = str(body.get("model") or "") if isinstance(body, dict) else ""
        with self._lock:
            t = next((t for t in self.tokens.values() if t["key"] == key), None)
            if t is None:
                return refuse(401, "无效的令牌")
            if t["status"] != 1 or (not t["unlimited_quota"] and t["remain_quota"] <= 0):
                return refuse(401, "该令牌状态不可用")
            if self.new_api:
                allowed = [m for m in str(t.get("model_limits") or "").split(",") if m]
                if t.get("model_limits_enabled") and not allowed:
                    return refuse(403, "该令牌无权访问任何模型")
                if t.get("model_limits_enabled") and model not in allowed:
                    return refuse(403, f"该令牌无权访问模型 {model}")
            elif t.get("models") and model not in str(t["models"]).split(","):
                return refuse(403, f"该令牌无权使用模型：{model}")
            self.spend(t["id"], CHAT_COST)
        return 200, {"id": "chatcmpl-test", "object": "chat.completion", "model": model,
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                  "finish_reason": "stop"}]}

    def _shown(self, t: dict[str, Any]) -> dict[str, Any]:
        out = dict(t)
        if self.mask_keys:
            k = out["key"]
            out["key"] = k[:4] + "**********" + k[-4:]
        return out

    def _list(self, query: dict[str, list[str]], tokens: list[dict[str, Any]]) -> dict[str, Any]:
        ordered = sorted(tokens, key=lambda t: -t["id"])
        size = self.page_size
        if self.honour_size:
            for name in ("page_size", "ps", "size"):
                n = atoi(first(query, name))
                if n > 0:
                    size = min(n, 100)
                    break
        p = atoi(first(query, "p"))
        if self.page_base == 1:
            p = max(p, 1)
            start = (p - 1) * size
        else:
            p = max(p, 0)
            start = p * size
        page = [self._shown(t) for t in ordered[start:start + size]]
        if self.list_shape == "paged":
            return ok({"items": page, "total": len(ordered), "page": p, "page_size": size})
        return ok(page)

    def _bind(self, body: Any) -> tuple[dict[str, Any] | None, str | None]:
        """gin's ShouldBindJSON into model.Token: wrong JSON types are an error, missing fields zero."""
        if not isinstance(body, dict):
            return None, "invalid request"
        ints = ("id", "status", "expired_time", "remain_quota", "used_quota", "created_time", "accessed_time",
                "user_id")
        for k in ints:
            v = body.get(k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                return None, f"json: cannot unmarshal {type(v).__name__} into Go struct field Token.{k} of type int64"
        for k in ("unlimited_quota", "model_limits_enabled"):
            v = body.get(k)
            if v is not None and not isinstance(v, bool):
                return None, f"json: cannot unmarshal {type(v).__name__} into Go struct field Token.{k} of type bool"
        for k in ("name", "key", "models", "subnet", "model_limits", "allow_ips", "group"):
            v = body.get(k)
            if v is not None and not isinstance(v, str):
                return None, f"json: cannot unmarshal {type(v).__name__} into Go struct field Token.{k} of type string"
        zero = {"id": 0, "status": 0, "name": "", "expired_time": 0, "remain_quota": 0,
                "unlimited_quota": False, "models": None, "subnet": None,
                "model_limits_enabled": False, "model_limits": "", "allow_ips": None, "group": ""}
        return {k: (body[k] if body.get(k) is not None else z) for k, z in zero.items()}, None

    def _name_error(self, name: str) -> dict[str, Any] | None:
        if len(name.encode("utf-8")) > 30:  # Go len(): bytes
            return fail("参数错误：令牌名称过长" if not self.new_api else "令牌名称过长")
        return None

    def _create(self, body: Any) -> dict[str, Any]:
        tok, err = self._bind(body)
        if err or tok is None:
            return fail(err or "invalid request")
        bad = self._name_error(tok["name"])
        if bad:
            return bad
        fields = ({k: tok[k] for k in NEWAPI_FIELDS} if self.new_api else {k: tok[k] for k in ONEAPI_FIELDS})
        t = self.add_token(tok["name"], remain_quota=tok["remain_quota"],
                           unlimited_quota=tok["unlimited_quota"], expired_time=tok["expired_time"], **fields)
        if self.return_key_on_create:
            return ok(t)
        return ok(None, with_data=False)

    def _update(self, body: Any, query: dict[str, list[str]]) -> dict[str, Any]:
        tok, err = self._bind(body)
        if err or tok is None:
            return fail(err or "invalid request")
        bad = self._name_error(tok["name"])
        if bad:
            return bad
        if tok["id"] == 0:
            return fail("id 或 userId 为空！")
        clean = self.tokens.get(tok["id"])
        if clean is None:
            return fail("record not found")
        if tok["status"] == 1:
            if (clean["status"] == 3 and clean["expired_time"] <= time.time()
                    and clean["expired_time"] != -1):
                return fail("令牌已过期，无法启用，请先修改令牌过期时间，或者设置为永不过期")
            if clean["status"] == 4 and clean["remain_quota"] <= 0 and not clean["unlimited_quota"]:
                return fail("令牌可用额度已用尽，无法启用，请先修改令牌剩余额度，或者设置为无限额度")
        if first(query, "status_only") != "":
            clean["status"] = tok["status"]
        else:
            for k in ("name", "expired_time", "remain_quota", "unlimited_quota"):
                clean[k] = tok[k]
            for k in (NEWAPI_FIELDS if self.new_api else ONEAPI_FIELDS):
                clean[k] = tok[k]
        return ok(dict(clean))


def ok(data: Any, *, with_data: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"success": True, "message": ""}
    if with_data:
        out["data"] = data
    return out


def fail(message: str) -> dict[str, Any]:
    return {"success": False, "message": message}


def first(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    return values[0] if values else ""


def atoi(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        return 0  # strconv.Atoi error ignored: zero


def _make_handler(server: OneApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "one-api-test"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
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
            rec = Recorded(self.command, parts.path, query, headers, body)
            with server._lock:
                server.requests.append(rec)
                if server.before is not None:
                    server.before(rec)
            fault = server._take_fault(self.command, parts.path)
            if fault is not None:
                self._reply(fault.status, fault.body, fault.content_type, fault.headers)
                return
            status, payload = server.handle(self.command, parts.path, query, headers, body)
            if isinstance(payload, str):
                ctype = "text/html; charset=utf-8" if payload.startswith("<") else "text/plain; charset=utf-8"
                self._reply(status, payload.encode(), ctype, {})
            else:
                self._reply(status, json.dumps(payload, ensure_ascii=False).encode(),
                            "application/json; charset=utf-8", {})

        def _reply(self, status: int, body: bytes, ctype: str, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler
