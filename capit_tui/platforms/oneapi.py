"""one-api / new-api gateways (AIHubMix and friends): capped keys through the `/api/token/` API.

Source facts (songquanpeng/one-api at 8df4a26, Calcium-Ion/new-api at ef8ae4d, newer new-api copies;
see reference/platforms.md section 1):

* The management key is a "system access token" (a 32-character UUID from the Settings page), sent
  as `Authorization: <token>`; one-api strips one `Bearer ` so we send `Bearer <token>`. new-api also
  wants `New-Api-User: <numeric user id>`.
* Every business error is HTTP 200 with `{"success": false, "message": ...}`; a missing header is
  HTTP 401. So the `success` field is checked on every reply, whatever the status code.
* Money is in quota units: 500 000 units = $1 by default (`QuotaPerUnit`, also on `GET /api/status`).
* A token's cap is a lifetime counter: `remain_quota` goes down and `used_quota` goes up with each
  request, so the cap a person set is `remain_quota + used_quota`. There are no reset periods.
* `PUT /api/token/` copies name, expired_time, remain_quota, unlimited_quota, models and subnet
  (new-api: model_limits*, allow_ips, group) from the body onto the stored token, so a partial body
  wipes fields. It never changes `status`; that takes `PUT /api/token/?status_only=1`.
* Status: 1 enabled, 2 disabled, 3 expired, 4 exhausted (set by the server when a request finds
  `remain_quota <= 0`). Enabling is refused while the token is exhausted or expired.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx

from capit_tui.core.model import Balance, CappedKey, IssuedKey, KeyInfo, parse_time
from capit_tui.core.money import format_usd, to_decimal
from capit_tui.core.redact import mask, redact
from capit_tui.platforms.base import (
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT,
    UNSET,
    AuthRejected,
    BadRequest,
    CreateUncertain,
    Forbidden,
    MalformedResponse,
    NotFound,
    NotManagementKey,
    Platform,
    PlatformError,
    RetryPolicy,
    _error_message,
    _what,
)

AIHUBMIX_PRESET = {"kind": "oneapi", "base_url": "https://aihubmix.com", "quota_per_usd": 500000}
"""AIHubMix: a one-api gateway; 500 000 quota units = $1 on every AIHubMix docs page."""

AIHUBMIX_MANAGE_URL = "https://aihubmix.com/setting"

TOKEN_PATH = "/api/token/"
MAX_NAME_BYTES = 30  # one-api `validateToken`: Go's len(), so bytes of UTF-8, not characters
PAGE_SIZE = 100  # asked for; one-api ignores it (fixed ItemsPerPage, 10), new-api caps it at 100
MAX_PAGES = 1000

STATUS_ENABLED = 1
STATUS_DISABLED = 2
STATUS_EXPIRED = 3
STATUS_EXHAUSTED = 4

_LONG_RUN = re.compile(r"[A-Za-z0-9]{32,}")


class OneApiPlatform(Platform):
    """A one-api or new-api gateway. Caps are lifetime totals: they never reset."""

    kind = "oneapi"
    reset_periods = ()
    manage_url = AIHUBMIX_MANAGE_URL

    def __init__(self, name: str, base_url: str, management_key: str, *,
                 timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
                 retry: RetryPolicy = DEFAULT_RETRY,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 quota_per_usd: int = 500_000,
                 user_id: str | int | None = None,
                 anthropic: bool | None = None,
                 allow_http: bool = False):
        if isinstance(quota_per_usd, bool) or int(quota_per_usd) <= 0:
            raise ValueError("quota_per_usd must be a positive whole number of quota units per dollar")
        self.quota_per_usd = int(quota_per_usd)
        self._q = Decimal(self.quota_per_usd)
        uid = None if user_id is None else str(user_id).strip()
        self.user_id = uid or None
        base = base_url.strip().rstrip("/")
        if base.endswith("/v1"):  # the gateway origin is wanted; /v1 is where agents go
            base = base[:-3]
        host = (urlsplit(base).hostname or "").lower()
        self._is_aihubmix = host == "aihubmix.com" or host.endswith(".aihubmix.com")
        # AIHubMix documents ANTHROPIC_BASE_URL=https://aihubmix.com for Claude Code and new-api
        # serves POST /v1/messages; upstream one-api has no Anthropic route.
        self._anthropic = anthropic if anthropic is not None else (self._is_aihubmix or self.user_id is not None)
        if not self._is_aihubmix:
            # one-api's web UI has its "Generate system access token" button on /setting.
            self.manage_url = f"{base}/setting"
        super().__init__(name, base, management_key, timeout=timeout, retry=retry,
                         transport=transport, sleep=sleep, allow_http=allow_http)

    def _auth_headers(self, key: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {key}"}
        if self.user_id is not None:
            headers["New-Api-User"] = self.user_id
        return headers

    # ------------------------------------------------------------ endpoints for agents

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def anthropic_base_url(self) -> str | None:
        return self.base_url if self._anthropic else None

    # ------------------------------------------------------------ account

    async def check_management_key(self) -> KeyInfo:
        user = await self._call("GET", "/api/user/self", what="checking the system access token")
        if not isinstance(user, dict):
            raise self._malformed("checking the system access token")
        label = str(user.get("display_name") or user.get("username") or "")
        return KeyInfo(is_management_key=True, label=label, limit=None,
                       usage=self._usd(user.get("used_quota"), "used_quota"))

    async def balance(self) -> Balance | None:
        user = await self._call("GET", "/api/user/self", what="reading the account balance")
        if not isinstance(user, dict):
            raise self._malformed("reading the account balance")
        # one-api's user `quota` is what is left: each request takes from `quota` and adds to
        # `used_quota`, a top-up adds to `quota`. So credit ever bought = quota + used_quota.
        remaining = self._usd(user.get("quota"), "quota")
        used = self._usd(user.get("used_quota"), "used_quota")
        return Balance(total_credits=remaining + used, total_usage=used)

    async def quota_per_unit_from_server(self) -> int | None:
        """What the gateway says a dollar is worth in quota units (`GET /api/status`), if it says."""
        try:
            status = await self._call("GET", "/api/status", what="reading the gateway status")
        except PlatformError:
            return None
        if not isinstance(status, dict):
            return None
        try:
            value = to_decimal(status.get("quota_per_unit"))
        except (TypeError, ValueError):
            return None
        if value is None or value <= 0 or value != value.to_integral_value():
            return None
        return int(value)

    # ------------------------------------------------------------ keys

    async def list_keys(self) -> list[CappedKey]:
        return [self._to_key(t) for t in await self._list_tokens()]

    async def get_key(self, key_id: str) -> CappedKey:
        return self._to_key(await self._get_token(key_id))

    async def create_key(self, name: str, limit: Decimal | None, reset: str | None) -> IssuedKey:
        self.check_reset(reset, self.name)
        name = self._check_name(name)
        remain = 0 if limit is None else self._units(limit)
        body = {
            "name": name,
            "remain_quota": remain,
            "unlimited_quota": limit is None,
            "expired_time": -1,
            "models": "",
            "subnet": "",
        }
        # Never retried after it may have reached the server (base `_send`): it could make two keys.
        data = await self._call("POST", TOKEN_PATH, json_body=body, what=f"creating key {name!r}")
        token = data if isinstance(data, dict) and data.get("id") is not None else None
        if token is None:
            # Some versions (new-api of April 2025) answer only {success: true}: find the token.
            try:
                token = await self._find_created(name, remain, limit is None)
            except CreateUncertain:
                raise
            except PlatformError as exc:
                raise CreateUncertain(
                    f"{self.name} created key {name!r} but capit-tui could not read it back ({exc}). "
                    f"Check the keys on {self.manage_url} before trying again.", platform=self.name) from None
        secret = self._plain_key(token)
        if secret is None:
            secret = await self._reveal_or_revoke(token, name)
        return IssuedKey(secret=secret, key=self._to_key(token))

    async def update_key(self, key_id: str, *, name: Any = UNSET, limit: Any = UNSET,
                         reset: Any = UNSET, disabled: Any = UNSET) -> CappedKey:
        if reset is not UNSET:
            self.check_reset(reset, self.name)
        if name is not UNSET:
            name = self._check_name(name)
        new_units: int | None = None
        if limit is not UNSET and limit is not None:
            new_units = self._units(limit)

        token = await self._get_token(key_id)
        tid = token["id"]
        body = self._put_body(token)
        fields_changed = False
        if name is not UNSET and name != token.get("name"):
            body["name"] = name
            fields_changed = True
        if limit is not UNSET:
            if limit is None:
                body["unlimited_quota"] = True
            else:
                assert new_units is not None
                body["unlimited_quota"] = False
                # The cap is remain + used: keep what was spent, leave the rest to spend.
                body["remain_quota"] = new_units - self._int(token.get("used_quota"))
            fields_changed = fields_changed or (
                body["unlimited_quota"] != bool(token.get("unlimited_quota"))
                or body["remain_quota"] != self._int(token.get("remain_quota")))

        status = self._int(token.get("status"))
        usable_after = bool(body["unlimited_quota"]) or self._int(body["remain_quota"]) > 0
        want_status: int | None = None
        if disabled is True:
            want_status = STATUS_DISABLED
        elif disabled is False:
            want_status = STATUS_ENABLED
        elif limit is not UNSET and status == STATUS_EXHAUSTED and usable_after:
            # The server marked the key exhausted; a higher cap makes it usable again, as people expect.
            want_status = STATUS_ENABLED
        if want_status == STATUS_ENABLED and status != STATUS_ENABLED:
            if not usable_after:
                raise BadRequest(
                    f"Key {tid} on {self.name} has used up its cap, so it cannot be enabled. "
                    "Raise the cap first (or in the same change), then enable it.", platform=self.name)
            expired = self._int(token.get("expired_time"))
            if expired != -1 and 0 < expired <= time.time():
                raise BadRequest(
                    f"Key {tid} on {self.name} has expired, so it cannot be enabled. "
                    f"Change its expiry on {self.manage_url} first.", platform=self.name)

        if fields_changed:
            await self._put(body, status_only=False, what=f"updating key {tid}")
        if want_status is not None and want_status != status:
            status_body = dict(body)  # the whole object, in case a gateway ignores status_only
            status_body["status"] = want_status
            await self._put(status_body, status_only=True,
                            what=f"{'disabling' if want_status == STATUS_DISABLED else 'enabling'} key {tid}")

        fresh = await self._get_token(key_id)
        if new_units is not None:
            # Spend that landed between our GET and our PUT escaped the new cap (remain was worked
            # out from the older used_quota): the cap is remain + used, so put it right.
            for _ in range(2):
                used_now = self._int(fresh.get("used_quota"))
                if self._int(fresh.get("remain_quota")) + used_now == new_units or fresh.get("unlimited_quota"):
                    break
                body = self._put_body(fresh)
                body["remain_quota"] = new_units - used_now
                await self._put(body, status_only=False, what=f"updating key {tid}")
                fresh = await self._get_token(key_id)
        return self._to_key(fresh)

    async def delete_key(self, key_id: str) -> None:
        tid = self._token_id(key_id)
        await self._call("DELETE", f"{TOKEN_PATH}{tid}", what=f"deleting key {tid}")

    # ------------------------------------------------------------ token helpers

    async def _get_token(self, key_id: str) -> dict[str, Any]:
        tid = self._token_id(key_id)
        data = await self._call("GET", f"{TOKEN_PATH}{tid}", what=f"reading key {tid}")
        if not isinstance(data, dict) or data.get("id") is None:
            raise self._malformed(f"reading key {tid}")
        return data

    async def _list_tokens(self) -> list[dict[str, Any]]:
        """Every token, following pages until the gateway has nothing new to give.

        The rule, because one-api family servers page differently and say little about it:
          * ask for `p` (one-api: 0-based page) plus `size`, `page_size` and `num` = 100 (one-api
            ignores them and serves its fixed ItemsPerPage, 10; new-api honours `size`/`page_size`
            up to 100; AIHubMix documents `num`);
          * a paged reply `{items, total, page}` (newer new-api, 1-based `p`) is followed from the
            page it says it served, until `total` ids are seen or a page is empty;
          * a plain list is followed with p = 0, 1, 2, ... until a page is empty, shorter than the
            first page, or brings no id not already seen (a server that ignores `p`). If p=1 repeats
            p=0 exactly, the server counts from 1 (it read p=0 as 1), so carry on from p=2.
        Ids are de-duplicated, so a key created while paging (which shifts the newest-first pages)
        is not listed twice.
        """
        seen: dict[str, dict[str, Any]] = {}
        p = 0
        first_len: int | None = None
        first_ids: list[str] | None = None
        probed = False
        for _ in range(MAX_PAGES):
            data = await self._call("GET", TOKEN_PATH, what="listing keys", params={
                "p": p, "size": PAGE_SIZE, "page_size": PAGE_SIZE, "num": PAGE_SIZE})
            items, total, served = self._page(data, "listing keys")
            ids = [str(t["id"]) for t in items]
            new = [t for t, i in zip(items, ids, strict=True) if i not in seen]
            for t in new:
                seen[str(t["id"])] = t
            if not items or not new:
                if (total is None and p == 1 and not probed and first_ids is not None
                        and ids == first_ids and items):
                    probed, p = True, 2
                    continue
                break
            if total is not None:
                if len(seen) >= total:
                    break
                p = (served if served is not None else p) + 1
                continue
            if first_len is None:
                first_len, first_ids = len(items), ids
            elif len(items) < first_len:
                break
            p += 1
        else:
            raise MalformedResponse(
                f"{self.name} kept sending pages of keys after {MAX_PAGES} pages; capit-tui stopped "
                "listing. Check the base URL, or delete unused keys.", platform=self.name)
        return list(seen.values())

    def _page(self, data: Any, what: str) -> tuple[list[dict[str, Any]], int | None, int | None]:
        total = served = None
        if isinstance(data, dict) and "items" in data and isinstance(data["items"], list | type(None)):
            items = data.get("items") or []
            total = self._opt_int(data.get("total"))
            served = self._opt_int(data.get("page"))
        elif isinstance(data, list):
            items = data
        elif data is None:
            items = []
        else:
            raise self._malformed(what)
        if not all(isinstance(t, dict) and t.get("id") is not None for t in items):
            raise self._malformed(what)
        return items, total, served

    async def _find_created(self, name: str, remain: int, unlimited: bool) -> dict[str, Any]:
        """The token a create just made, when the create answered only `success: true`."""
        candidates: list[dict[str, Any]] = []
        try:
            data = await self._call("GET", f"{TOKEN_PATH}search", params={"keyword": name},
                                    what="finding the new key")
            candidates, _, _ = self._page(data, "finding the new key")
        except PlatformError:
            candidates = []
        matching = [t for t in candidates if self._matches(t, name, remain, unlimited)]
        if not matching:
            data = await self._call("GET", TOKEN_PATH, params={"p": 0}, what="finding the new key")
            page, _, _ = self._page(data, "finding the new key")
            matching = [t for t in page if self._matches(t, name, remain, unlimited)]
        if not matching:
            raise CreateUncertain(
                f"{self.name} said it created key {name!r} but capit-tui cannot find it. "
                f"Check the keys on {self.manage_url} before trying again.", platform=self.name)
        newest = max(matching, key=lambda t: self._int(t.get("id")))
        return await self._get_token(str(newest["id"]))

    def _matches(self, t: dict[str, Any], name: str, remain: int, unlimited: bool) -> bool:
        if t.get("name") != name or bool(t.get("unlimited_quota")) != unlimited:
            return False
        return unlimited or self._int(t.get("remain_quota")) + self._int(t.get("used_quota")) == remain

    async def _reveal_or_revoke(self, token: dict[str, Any], name: str) -> str:
        """The secret of a token whose key came back masked or missing (newer new-api).

        Tries `GET /api/token/{id}`, then `POST /api/token/{id}/key`. A key nobody can read is
        useless and still spendable, so if both fail it is deleted again and the error says so.
        """
        tid = str(token["id"])
        try:
            secret = self._plain_key(await self._get_token(tid))
            if secret is None:
                data = await self._call("POST", f"{TOKEN_PATH}{tid}/key", idempotent=True,
                                        what=f"reading the secret of key {tid}")
                secret = self._plain_key(data) if isinstance(data, dict) else None
            if secret is not None:
                return secret
            problem = "did not return its secret"
        except PlatformError as exc:
            problem = f"did not return its secret ({exc})"
        try:
            await self.delete_key(tid)
        except PlatformError:
            raise PlatformError(
                f"{self.name} created key {name!r} (id {tid}) but {problem}, and deleting it failed. "
                f"Delete it by hand on {self.manage_url}.", platform=self.name) from None
        raise PlatformError(
            f"{self.name} created key {name!r} but {problem}, so capit-tui deleted it again. "
            "Try again later.", platform=self.name)

    async def _put(self, body: dict[str, Any], *, status_only: bool, what: str) -> None:
        # The whole object goes back every time, so re-sending it changes nothing more: safe to retry.
        await self._call("PUT", TOKEN_PATH, params={"status_only": 1} if status_only else None,
                         json_body=body, idempotent=True, what=what)

    @staticmethod
    def _put_body(token: dict[str, Any]) -> dict[str, Any]:
        """The token as read, for a full PUT: every field kept, the secret left out."""
        body = {k: v for k, v in token.items() if k != "key"}
        return body

    def _to_key(self, t: dict[str, Any]) -> CappedKey:
        remain = self._int(t.get("remain_quota"))
        used_units = self._int(t.get("used_quota"))
        unlimited = bool(t.get("unlimited_quota"))
        status = self._int(t.get("status"), default=STATUS_ENABLED)
        used = self._usd(used_units, "used_quota")
        key = t.get("key")
        label = ""
        if isinstance(key, str) and key:
            label = mask(key if key.startswith("sk-") else "sk-" + key)
        # Status 4 (exhausted) on a capped key is the cap at work: report it as capped (the model
        # derives that from the numbers), not as switched off. Any other status but 1 is off.
        capped_out = not unlimited and remain <= 0
        disabled = status != STATUS_ENABLED and not (status == STATUS_EXHAUSTED and capped_out)
        extra = {k: v for k, v in t.items() if k != "key"}
        extra["key_masked"] = label
        return CappedKey(
            platform=self.name,
            id=str(t.get("id")),
            name=str(t.get("name") or ""),
            label=label,
            disabled=disabled,
            limit=None if unlimited else self._usd(remain + used_units, "remain_quota"),
            limit_reset=None,
            limit_remaining=None if unlimited else self._usd(remain, "remain_quota"),
            usage=used,
            # one-api keeps one lifetime counter per token: there are no daily/weekly/monthly
            # windows, so each window shows the lifetime spend.
            usage_daily=used,
            usage_weekly=used,
            usage_monthly=used,
            created_at=parse_time(t.get("created_time")),
            updated_at=None,
            extra=extra,
        )

    @staticmethod
    def _plain_key(t: dict[str, Any]) -> str | None:
        key = t.get("key")
        if not isinstance(key, str) or not key.strip() or "*" in key or "…" in key:
            return None
        key = key.strip()
        return key if key.startswith("sk-") else "sk-" + key

    # ------------------------------------------------------------ checks and units

    def _check_name(self, name: Any) -> str:
        if not isinstance(name, str) or not name.strip():
            raise BadRequest(f"A key on {self.name} needs a name.", platform=self.name)
        name = name.strip()
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:
            raise BadRequest(
                f"The key name {name[:40]!r} is too long for {self.name}: one-api gateways allow "
                f"{MAX_NAME_BYTES} bytes (30 plain letters). Choose a shorter name.", platform=self.name)
        return name

    def _token_id(self, key_id: Any) -> int:
        s = str(key_id).strip()
        if not s.isdigit() or int(s) <= 0:
            raise NotFound(f"{self.name} has no key with id {s[:40]!r}: one-api key ids are numbers.",
                           platform=self.name)
        return int(s)

    def _units(self, limit: Any) -> int:
        try:
            dollars = to_decimal(limit)
        except (TypeError, ValueError):
            raise BadRequest(f"The cap {limit!r} is not an amount in dollars.", platform=self.name) from None
        if dollars is None or dollars <= 0:
            raise BadRequest(
                f"A cap on {self.name} must be above $0; ask for no cap to make an unlimited key.",
                platform=self.name)
        units = int((dollars * self._q).to_integral_value(rounding=ROUND_DOWN))
        if units <= 0:
            raise BadRequest(f"The cap {format_usd(dollars)} is below one quota unit on {self.name}.",
                             platform=self.name)
        return units

    def _usd(self, units: Any, field: str) -> Decimal:
        if units is None:
            return Decimal(0)
        try:
            value = to_decimal(units)
        except (TypeError, ValueError):
            raise MalformedResponse(f"{self.name} sent a {field} that is not a number.",
                                    platform=self.name) from None
        assert value is not None
        return value / self._q

    @staticmethod
    def _int(value: Any, default: int = 0) -> int:
        if value is None or isinstance(value, bool):
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            try:
                return int(Decimal(str(value)))
            except Exception:
                return default

    @staticmethod
    def _opt_int(value: Any) -> int | None:
        if value is None or isinstance(value, bool):
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    # ------------------------------------------------------------ HTTP and errors

    async def _call(self, method: str, path: str, *, what: str, params: dict[str, Any] | None = None,
                    json_body: Any = None, idempotent: bool | None = None) -> Any:
        """One request; the `data` of a `success: true` reply, else a typed error."""
        resp = await self._send(method, path, params=params, json_body=json_body, idempotent=idempotent)
        body = self._json(resp, what)
        if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
            raise self._malformed(what)
        if not body["success"]:
            raise self._business_error(str(body.get("message") or ""), method, path, what)
        return body.get("data")

    def _malformed(self, what: str) -> MalformedResponse:
        return MalformedResponse(
            f"{self.name} sent a reply to {what} that is not a one-api answer. "
            f"Check that {self.base_url} is the gateway's address.", platform=self.name)

    def _server_text(self, message: str) -> str:
        """The gateway's own words, short, with our token and anything key-shaped masked."""
        text = redact(" ".join(message.split())[:200], self._management_key)
        return _LONG_RUN.sub(lambda m: mask(m.group(0)), text)

    def _auth_error(self, detail: str) -> PlatformError:
        said = f" ({detail})" if detail else ""
        if "new-api-user" in detail.lower():
            if self.user_id is None:
                return AuthRejected(
                    f"{self.name} is a new-api gateway and wants your numeric user id with the token{said}. "
                    "Add the user id from your profile page to this platform's settings.", platform=self.name)
            return AuthRejected(
                f"{self.name} did not accept user id {self.user_id} with this token{said}. "
                "Check the user id on your profile page.", platform=self.name)
        if self._management_key.startswith("sk-"):
            return NotManagementKey(
                f"{self.name} rejected the management key{said}: an sk- key is for models, not for "
                f"managing keys. Generate a system access token on {self.manage_url}.", platform=self.name)
        return AuthRejected(
            f"{self.name} rejected the system access token{said}. "
            f"Generate a new one with “Generate System Access Token” on {self.manage_url}.", platform=self.name)

    def _business_error(self, message: str, method: str, path: str, what: str) -> PlatformError:
        detail = self._server_text(message)
        low = detail.lower()
        said = f" ({detail})" if detail else ""
        if "权限不足" in detail or "封禁" in detail or "banned" in low or "permission" in low:
            return Forbidden(f"{self.name} refused {what}{said}. The account may be limited or disabled.",
                             platform=self.name)
        if ("无权" in detail or "未登录" in detail or "access token" in low or "new-api-user" in low
                or "unauthorized" in low or "not logged in" in low):
            return self._auth_error(detail)
        if ("not found" in low or "不存在" in detail or "not exist" in low or "为空" in detail
                or "no such" in low):
            return NotFound(f"{self.name} found no such key while {what}{said}.", platform=self.name)
        if "用尽" in detail or "exhausted" in low:
            return BadRequest(
                f"{self.name} refused {what}: the key has used up its cap{said}. Raise the cap first.",
                platform=self.name)
        if "过期" in detail or "expired" in low:
            return BadRequest(
                f"{self.name} refused {what}: the key has expired{said}. Change its expiry on "
                f"{self.manage_url} first.", platform=self.name)
        if "名称过长" in detail or "too long" in low:
            return BadRequest(
                f"{self.name} refused {what}: the key name is too long{said}. Use at most "
                f"{MAX_NAME_BYTES} letters.", platform=self.name)
        return BadRequest(f"{self.name} refused {what}{said or ' without saying why'}.",
                          platform=self.name, status=200)

    def _error_for(self, resp: httpx.Response, method: str, path: str) -> PlatformError:
        status = resp.status_code
        detail = self._server_text(_error_message(resp))
        if status == 401 or (status == 403 and ("无权" in detail or "access token" in detail.lower())):
            return self._auth_error(detail)
        if status == 404 and path.startswith(TOKEN_PATH):
            return NotFound(f"{self.name} has no such key ({_what(method, path)}).", platform=self.name)
        err = super()._error_for(resp, method, path)
        # The base message may quote the server: make sure our token never rides along.
        text = redact(str(err), self._management_key)
        if text != str(err):
            err = type(err)(text, platform=self.name, status=err.status)
        return err
