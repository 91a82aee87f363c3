"""The LiteLLM proxy (self-hosted): capped virtual keys through its `/key/*` API.

Facts used (reference/platforms.md section 2; the proxy's own OpenAPI, litellm 1.108.7, vendored as
tests/data/litellm-openapi-subset.yaml):

* Auth is `Authorization: Bearer <key>`. The master key (general_settings.master_key / LITELLM_MASTER_KEY)
  or a proxy admin's virtual key can manage keys; a plain virtual key can call models and read its own
  `GET /key/info`, and is refused (401) on the management routes.
* `GET /key/list?page=&size=&return_full_object=true`: page is 1-based, size 1..100; the reply is
  `{keys, total_count, current_page, total_pages}`, newest first.
* `POST /key/generate` takes key_alias, max_budget (USD), budget_duration, duration (expiry, "86400s"),
  metadata and models; the reply carries the secret (`key`, shown once) and the hash (`token_id`).
* `POST /key/update` (the same fields, `key` = raw or hashed), `POST /key/block` / `/key/unblock` (`{key}`),
  `POST /key/delete` (`{keys: [...]}`), `GET /key/info?key=` (`{key, info}`).
* `spend` is the spend of the current budget window: the proxy sets it back to 0 at `budget_reset_at`
  (`1d` at midnight, `7d` on Monday, `30d` on the 1st, in the proxy's timezone).
* Over its budget a key is refused at inference with `{"error": {"type": "budget_exceeded", "message":
  "Budget has been exceeded! ..."}}`: status 400 in 2024-2025 releases, 429 from mid-2026.
* Without a database the proxy answers 500 "DB not connected" to key management.

Agents use `<base>/v1` (OpenAI-style: chat completions, responses) and `<base>` (Anthropic-style: Claude
Code adds /v1/messages).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from capit_tui.core.model import Balance, CappedKey, IssuedKey, KeyInfo
from capit_tui.core.money import to_json_number
from capit_tui.core.text import clean_text
from capit_tui.platforms.base import (
    UNSET,
    AuthRejected,
    BadRequest,
    CreateUncertain,
    MalformedResponse,
    NotFound,
    NotManagementKey,
    Platform,
    PlatformError,
    ServerError,
)
from capit_tui.platforms.http import _what
from capit_tui.platforms.litellm_wire import (
    CREATED_BY,
    MAX_PAGES,
    PAGE_SIZE,
    budget_duration,
    error_text,
    expiry_duration,
    key_id,
    to_key,
)
from capit_tui.platforms.paging import WINDOW, CountHints, PagingStopped, sliding_pages
from capit_tui.platforms.transport import Reply

MAX_MODELS = 5_000  # GET /v1/models: past that a proxy is sending junk


class LiteLLMPlatform(Platform):
    """A LiteLLM proxy. Caps reset daily (1d), weekly (7d) or monthly (30d), or never."""

    kind = "litellm"

    def __init__(self, name: str, base_url: str, management_key: str, *, page_window: int = WINDOW,
                 remember_count: bool = True, **kwargs: Any):
        base = base_url.strip().rstrip("/")
        if base.endswith("/v1"):  # the proxy's root is wanted; /v1 is where agents go
            base = base[:-3]
        super().__init__(name, base, management_key, **kwargs)
        self.manage_url = f"{self.base_url}/ui"  # the proxy's admin UI (Virtual Keys)
        self.page_window = max(1, page_window)
        self.remember_count = remember_count

    # ------------------------------------------------------------ endpoints for agents

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def anthropic_base_url(self) -> str | None:
        return self.base_url  # Claude Code appends /v1/messages

    # ------------------------------------------------------------ the key we hold

    async def check_management_key(self) -> KeyInfo:
        """`GET /key/info` tells whether the proxy knows the key at all (401: it does not; 404: a master key,
        which is not a database key); one `GET /key/list` row tells whether it may manage keys."""
        label = ""
        try:
            resp = await self._send("GET", "/key/info")
        except NotFound:
            label = "master key"
        else:
            body = self._json(resp, "GET /key/info")
            info = body.get("info") if isinstance(body, dict) else None
            if not isinstance(info, dict):
                raise self._malformed("GET /key/info")
            label = str(info.get("key_alias") or info.get("key_name") or "")
        try:
            await self._send("GET", "/key/list", params={"page": 1, "size": 1, "return_full_object": "true"})
        except AuthRejected as exc:  # the proxy knows the key (GET /key/info) but will not let it manage keys
            raise NotManagementKey(self._plain_key_sentence(), platform=self.name) from exc
        return KeyInfo(is_management_key=True, label=label, limit=None, usage=Decimal(0))

    async def balance(self) -> Balance | None:
        return None  # a proxy has no credit of its own: the upstream providers bill

    async def list_models(self) -> list[str]:
        """The model names the proxy routes (`GET /v1/models`), what agents must ask for."""
        resp = await self._send("GET", "/v1/models")
        body = self._json(resp, "GET /v1/models")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or len(data) > MAX_MODELS:
            raise self._malformed("GET /v1/models")
        names = [clean_text(m["id"], 120) for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
        return sorted(dict.fromkeys(n for n in names if n))

    # ------------------------------------------------------------ listing

    async def list_keys(self, on_page: Callable[[list[CappedKey]], None] | None = None) -> list[CappedKey]:
        """Every key, 100 a page, pages in a sliding window (platforms/paging.py), the count remembered."""
        hints = CountHints(self.kind, self.base_url) if self.remember_count else None
        try:
            keys = await sliding_pages(self._page, page_size=PAGE_SIZE, max_pages=MAX_PAGES,
                                       window=self.page_window, hint=hints.get(None) if hints else None,
                                       ident=lambda k: k.id, on_page=on_page)
        except PagingStopped as stop:
            if stop.why == "endless":
                raise MalformedResponse(
                    f"{self.name} kept sending full pages of keys past {MAX_PAGES * PAGE_SIZE:,}; capit-tui "
                    "stopped listing. Check the base URL.", platform=self.name) from None
            raise MalformedResponse(
                f"{self.name} sent the same keys again for page {stop.page + 1} (it ignores paging); "
                "capit-tui stopped listing.", platform=self.name) from None
        if hints is not None:
            hints.set(None, len(keys))
            hints.save()
        return keys

    async def _page(self, page: int) -> list[CappedKey]:
        resp = await self._send("GET", "/key/list", params={
            "page": page + 1, "size": PAGE_SIZE, "return_full_object": "true"})
        body = self._json(resp, "GET /key/list")
        raw = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(raw, list):
            raise self._malformed("GET /key/list")
        if any(isinstance(k, str) for k in raw):
            raise MalformedResponse(
                f"{self.name} listed key hashes without their budgets (it ignores return_full_object); "
                "upgrade the proxy.", platform=self.name)
        return [to_key(k, self.name) for k in raw]

    # ------------------------------------------------------------ single keys

    async def get_key(self, key_id: str) -> CappedKey:
        kid = _id(key_id, self.name)
        resp = await self._send("GET", "/key/info", params={"key": kid})
        body = self._json(resp, "GET /key/info")
        info = body.get("info") if isinstance(body, dict) else None
        if not isinstance(info, dict):
            raise self._malformed("GET /key/info")
        return to_key(info, self.name, key_hash=kid)

    async def create_key(self, name: str, limit: Decimal | None, reset: str | None,
                         expires_at: datetime | None = None, models: list[str] | None = None) -> IssuedKey:
        """A new virtual key. Never retried after it may have reached the proxy; if its reply is lost,
        the key is looked up by its alias and deleted (its secret is gone), and CreateUncertain says so."""
        self.check_reset(reset, self.name)
        if not isinstance(name, str) or not name.strip():
            raise BadRequest(f"A key on {self.name} needs a name.", platform=self.name)
        name = name.strip()
        if limit is not None and limit <= 0:
            raise BadRequest(f"A cap on {self.name} must be above $0; ask for no cap to make an unlimited key.",
                             platform=self.name)
        body: dict[str, Any] = {
            "key_alias": name,
            "max_budget": to_json_number(limit),
            "budget_duration": budget_duration(reset) if limit is not None else None,
            "duration": expiry_duration(expires_at) if expires_at is not None else None,
            "metadata": {"created_by": CREATED_BY},
        }
        if models:
            body["models"] = [str(m) for m in models]
        started = datetime.now(timezone.utc)
        try:
            resp = await self._send("POST", "/key/generate", json_body=body)
            payload = self._json(resp, "POST /key/generate")
        except (CreateUncertain, MalformedResponse) as exc:
            await self._clean_up_uncertain_create(name, started, exc)
            raise  # unreachable: the clean-up raises
        secret = payload.get("key") if isinstance(payload, dict) else None
        if not isinstance(secret, str) or not secret.startswith("sk-"):
            kid = key_id(payload) if isinstance(payload, dict) else None
            if kid:
                try:
                    await self.delete_key(kid)
                except PlatformError:
                    pass
            raise MalformedResponse(
                f"{self.name} created the key '{clean_text(name, 60)}' but did not return its secret; capit-tui "
                "deleted that key again. Try once more.", platform=self.name)
        # The hash is the key's id; LiteLLM's hash_token is SHA-256 of the secret, should a reply lack it.
        kid = key_id(payload) or hashlib.sha256(secret.encode()).hexdigest()
        return IssuedKey(secret=secret, key=to_key(payload, self.name, key_hash=kid))

    async def _clean_up_uncertain_create(self, name: str, started: datetime, exc: PlatformError) -> None:
        """The create may have reached the proxy with its secret lost: find keys of that alias made since
        just before it, and delete them."""
        try:
            resp = await self._send("GET", "/key/list", params={
                "key_alias": name, "return_full_object": "true", "size": PAGE_SIZE, "page": 1})
            body = self._json(resp, "GET /key/list")
            raw = body.get("keys") if isinstance(body, dict) else None
            found = [to_key(k, self.name) for k in raw or [] if isinstance(k, dict)]
        except PlatformError:
            raise CreateUncertain(
                f"{exc} The key '{clean_text(name, 60)}' may have been created anyway; run `capit-tui keys "
                "list` and revoke it if it is there.", platform=self.name) from None
        await self._delete_lost_create(name, started, exc, found)

    async def update_key(self, key_id: str, *, name: Any = UNSET, limit: Any = UNSET,
                         reset: Any = UNSET, disabled: Any = UNSET) -> CappedKey:
        kid = _id(key_id, self.name)
        if reset is not UNSET:
            self.check_reset(reset, self.name)
        body: dict[str, Any] = {"key": kid}
        if name is not UNSET:
            if not isinstance(name, str) or not name.strip():
                raise BadRequest(f"A key on {self.name} needs a name.", platform=self.name)
            body["key_alias"] = name.strip()
        if limit is not UNSET:
            if limit is not None and limit <= 0:
                raise BadRequest(f"A cap on {self.name} must be above $0; ask for no cap to make an unlimited "
                                 "key.", platform=self.name)
            body["max_budget"] = to_json_number(limit)
        if reset is not UNSET:
            body["budget_duration"] = budget_duration(reset)
        if len(body) > 1:  # setting the same fields twice is harmless: safe to retry
            await self._send("POST", "/key/update", json_body=body, idempotent=True)
        if disabled is not UNSET:
            await self._send("POST", "/key/block" if disabled else "/key/unblock", json_body={"key": kid},
                             idempotent=True)
        return await self.get_key(kid)

    async def delete_key(self, key_id: str) -> None:
        kid = _id(key_id, self.name)
        resp = await self._send("POST", "/key/delete", json_body={"keys": [kid]}, idempotent=True)
        body = self._json(resp, "POST /key/delete")
        deleted = body.get("deleted_keys") if isinstance(body, dict) else None
        if not isinstance(deleted, list):
            raise self._malformed("POST /key/delete")
        if not deleted:
            raise NotFound(f"{self.name} has no key {kid[:12]}… to delete.", platform=self.name)

    # ------------------------------------------------------------ errors

    def _malformed(self, what: str) -> MalformedResponse:
        return MalformedResponse(
            f"{self.name} sent a reply to {what} that is not a LiteLLM proxy's answer. Check that "
            f"{self.base_url} is the proxy's address.", platform=self.name)

    def _plain_key_sentence(self) -> str:
        return (f"That is a plain virtual key of {self.name}, which can call models but not manage keys: "
                "paste the proxy's master key (general_settings.master_key or LITELLM_MASTER_KEY) or a proxy "
                "admin's virtual key instead.")

    def _error_for(self, resp: Reply, method: str, path: str) -> PlatformError:
        status = resp.status_code
        try:
            body = resp.json()
        except ValueError:
            body = None
        detail = error_text(body, self._management_key) if body is not None else ""
        said = f" ({detail})" if detail else ""
        low = detail.lower()
        admin_only = ("proxy admin" in low or "not allowed to access this route" in low
                      or "not allowed to call this route" in low)
        if status in (401, 403) and admin_only:
            return NotManagementKey(self._plain_key_sentence(), platform=self.name)
        if status in (401, 403):
            return AuthRejected(
                f"{self.name} rejected the key ({status}{': ' + detail if detail else ''}). Check it: capit-tui "
                "needs the proxy's master key or a proxy admin's virtual key.", platform=self.name, status=status)
        if status == 404 and path.startswith("/key/"):
            return NotFound(f"{self.name} has no such key ({_what(method, path)}{said}).", platform=self.name)
        if status >= 500 and "db not connected" in low:
            return ServerError(
                f"{self.name} has no database connected{said}, so it cannot keep virtual keys. Start the proxy "
                "with DATABASE_URL set to a PostgreSQL database.", platform=self.name, status=status)
        if status in (400, 409, 422) and detail:
            return BadRequest(f"{self.name} refused {_what(method, path)}: {detail}.", platform=self.name,
                              status=status)
        return super()._error_for(resp, method, path)


def _id(key_id: Any, platform: str) -> str:
    s = str(key_id).strip()
    if not s or any(ch.isspace() or not ch.isprintable() for ch in s) or len(s) > 200:
        raise NotFound(f"{platform} has no key with id {clean_text(s, 40)!r}.", platform=platform)
    return s
