"""one-api / new-api gateways (AIHubMix and friends): capped keys through the `/api/token/` API.

The wire format (token fields, quota units, pages, error messages) is read and written in
`oneapi_wire`; this module holds the adapter, which sends the requests.

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
* A token can hold its own model allowlist, which the gateway enforces at inference (403): one-api's
  `models` (a comma list, empty = any model), new-api's `model_limits_enabled` + `model_limits`. We write
  new-api's shape when the gateway is new-api (a user id is set: new-api wants `New-Api-User`), one-api's
  otherwise; an update writes the shape the token was read in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from capit_tui.core.model import Balance, CappedKey, IssuedKey, KeyInfo
from capit_tui.core.money import to_decimal
from capit_tui.core.redact import redact
from capit_tui.platforms.base import (
    UNSET,
    BadRequest,
    CreateUncertain,
    MalformedResponse,
    NotFound,
    Platform,
    PlatformError,
)
from capit_tui.platforms.http import DEFAULT_RETRY, DEFAULT_TIMEOUT, RetryPolicy, _error_message, _what
from capit_tui.platforms.oneapi_wire import (
    PAGE_SIZE,
    STATUS_DISABLED,
    STATUS_ENABLED,
    STATUS_EXHAUSTED,
    TOKEN_PATH,
    Page,
    as_int,
    auth_error,
    business_error,
    check_models,
    check_name,
    follow_pages,
    is_new_api_token,
    matches,
    parse_page,
    plain_key,
    put_body,
    same_models,
    server_text,
    set_models,
    to_units,
    to_usd,
    token_id,
    token_models,
    token_to_key,
)
from capit_tui.platforms.transport import Reply, Timeout, Transport

AIHUBMIX_PRESET = {"kind": "oneapi", "base_url": "https://aihubmix.com", "quota_per_usd": 500000}
"""AIHubMix: a one-api gateway; 500 000 quota units = $1 on every AIHubMix docs page."""

AIHUBMIX_MANAGE_URL = "https://aihubmix.com/setting"


class OneApiPlatform(Platform):
    """A one-api or new-api gateway. Caps are lifetime totals: they never reset."""

    kind = "oneapi"
    reset_periods = ()
    key_models = True  # a token holds its own model allowlist (see the module's doc)
    manage_url = AIHUBMIX_MANAGE_URL

    def __init__(self, name: str, base_url: str, management_key: str, *,
                 timeout: Timeout | float = DEFAULT_TIMEOUT,
                 retry: RetryPolicy = DEFAULT_RETRY,
                 transport: Transport | None = None,
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
        self._new_api = self.user_id is not None  # only new-api wants New-Api-User
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

    async def list_keys(self, on_page: Callable[[list[CappedKey]], None] | None = None) -> list[CappedKey]:
        """Pages are followed one after another (`oneapi_wire.follow_pages`: the family pages in ways
        that only the previous page tells apart), so `on_page` gets the whole listing at once."""
        keys = [self._to_key(t) for t in await self._list_tokens()]
        if on_page is not None and keys:
            on_page(keys)
        return keys

    async def get_key(self, key_id: str) -> CappedKey:
        return self._to_key(await self._get_token(key_id))

    async def create_key(self, name: str, limit: Decimal | None, reset: str | None,
                         expires_at: datetime | None = None,
                         models: Sequence[str] | None = None) -> IssuedKey:
        """A new token; `expires_at` becomes its `expired_time` (Unix seconds; -1 never expires); `models`
        its model allowlist (None: any model)."""
        self.check_reset(reset, self.name)
        name = check_name(name, self.name)
        allowed = None if models is None else check_models(models, self.name)
        remain = 0 if limit is None else self._units(limit)
        body: dict[str, Any] = {
            "name": name,
            "remain_quota": remain,
            "unlimited_quota": limit is None,
            "expired_time": -1 if expires_at is None else int(expires_at.timestamp()),
        }
        set_models(body, allowed, new_api=self._new_api)
        if not self._new_api:
            body["subnet"] = ""
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
        if allowed is not None and not same_models(token_models(token), allowed):
            await self._delete_unkept(str(token["id"]), name)
        secret = plain_key(token)
        if secret is None:
            secret = await self._reveal_or_revoke(token, name)
        return IssuedKey(secret=secret, key=self._to_key(token))

    async def _delete_unkept(self, tid: str, name: str) -> None:
        """A token made with a model list the gateway did not keep could call any model: it goes again."""
        said = (f"{self.name} did not keep the model list of the new key {name!r} (an older gateway without "
                "per-key model limits?)")
        try:
            await self.delete_key(tid)
        except PlatformError:
            raise PlatformError(f"{said}, and deleting it failed. Delete key {tid} by hand on {self.manage_url}.",
                                platform=self.name) from None
        raise PlatformError(f"{said}, so capit-tui deleted it again.", platform=self.name)

    async def update_key(self, key_id: str, *, name: Any = UNSET, limit: Any = UNSET,
                         reset: Any = UNSET, disabled: Any = UNSET, models: Any = UNSET) -> CappedKey:
        """`models`: the token's model allowlist (a list of names; None: any model)."""
        if models is not UNSET and models is not None:
            models = check_models(models, self.name)
        if reset is not UNSET:
            self.check_reset(reset, self.name)
        if name is not UNSET:
            name = check_name(name, self.name)
        new_units: int | None = None
        if limit is not UNSET and limit is not None:
            new_units = self._units(limit)

        token = await self._get_token(key_id)
        tid = token["id"]
        body = put_body(token)
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
                body["remain_quota"] = new_units - as_int(token.get("used_quota"))
            fields_changed = fields_changed or (
                body["unlimited_quota"] != bool(token.get("unlimited_quota"))
                or body["remain_quota"] != as_int(token.get("remain_quota")))
        if models is not UNSET and not same_models(token_models(token), models):
            set_models(body, models, new_api=is_new_api_token(token))
            fields_changed = True

        status = as_int(token.get("status"))
        usable_after = bool(body["unlimited_quota"]) or as_int(body["remain_quota"]) > 0
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
            expired = as_int(token.get("expired_time"))
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
                used_now = as_int(fresh.get("used_quota"))
                if as_int(fresh.get("remain_quota")) + used_now == new_units or fresh.get("unlimited_quota"):
                    break
                body = put_body(fresh)
                body["remain_quota"] = new_units - used_now
                await self._put(body, status_only=False, what=f"updating key {tid}")
                fresh = await self._get_token(key_id)
        if models is not UNSET and not same_models(token_models(fresh), models):
            raise PlatformError(f"{self.name} did not keep the model list of key {tid} (an older gateway without "
                                f"per-key model limits?); set it on {self.manage_url}.", platform=self.name)
        return self._to_key(fresh)

    async def delete_key(self, key_id: str) -> None:
        tid = token_id(key_id, self.name)
        await self._call("DELETE", f"{TOKEN_PATH}{tid}", what=f"deleting key {tid}")

    # ------------------------------------------------------------ token helpers

    async def _get_token(self, key_id: str) -> dict[str, Any]:
        tid = token_id(key_id, self.name)
        data = await self._call("GET", f"{TOKEN_PATH}{tid}", what=f"reading key {tid}")
        if not isinstance(data, dict) or data.get("id") is None:
            raise self._malformed(f"reading key {tid}")
        return data

    async def _list_tokens(self) -> list[dict[str, Any]]:
        """Every token, following pages by the rule in `oneapi_wire.follow_pages`."""

        async def fetch(p: int) -> Page:
            data = await self._call("GET", TOKEN_PATH, what="listing keys", params={
                "p": p, "size": PAGE_SIZE, "page_size": PAGE_SIZE, "num": PAGE_SIZE})
            return self._page(data, "listing keys")

        return await follow_pages(fetch, self.name)

    def _page(self, data: Any, what: str) -> Page:
        page = parse_page(data)
        if page is None:
            raise self._malformed(what)
        return page

    def _to_key(self, t: dict[str, Any]) -> CappedKey:
        return token_to_key(t, self.name, self._q)

    def _units(self, limit: Any) -> int:
        return to_units(limit, self._q, self.name)

    def _usd(self, units: Any, field: str) -> Decimal:
        return to_usd(units, field, self._q, self.name)

    async def _find_created(self, name: str, remain: int, unlimited: bool) -> dict[str, Any]:
        """The token a create just made, when the create answered only `success: true`."""
        candidates: list[dict[str, Any]] = []
        try:
            data = await self._call("GET", f"{TOKEN_PATH}search", params={"keyword": name},
                                    what="finding the new key")
            candidates, _, _ = self._page(data, "finding the new key")
        except PlatformError:
            candidates = []
        matching = [t for t in candidates if matches(t, name, remain, unlimited)]
        if not matching:
            data = await self._call("GET", TOKEN_PATH, params={"p": 0}, what="finding the new key")
            page, _, _ = self._page(data, "finding the new key")
            matching = [t for t in page if matches(t, name, remain, unlimited)]
        if not matching:
            raise CreateUncertain(
                f"{self.name} said it created key {name!r} but capit-tui cannot find it. "
                f"Check the keys on {self.manage_url} before trying again.", platform=self.name)
        newest = max(matching, key=lambda t: as_int(t.get("id")))
        return await self._get_token(str(newest["id"]))

    async def _reveal_or_revoke(self, token: dict[str, Any], name: str) -> str:
        """The secret of a token whose key came back masked or missing (newer new-api).

        Tries `GET /api/token/{id}`, then `POST /api/token/{id}/key`. A key nobody can read is
        useless and still spendable, so if both fail it is deleted again and the error says so.
        """
        tid = str(token["id"])
        try:
            secret = plain_key(await self._get_token(tid))
            if secret is None:
                data = await self._call("POST", f"{TOKEN_PATH}{tid}/key", idempotent=True,
                                        what=f"reading the secret of key {tid}")
                secret = plain_key(data) if isinstance(data, dict) else None
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

    # ------------------------------------------------------------ HTTP and errors

    async def _call(self, method: str, path: str, *, what: str, params: dict[str, Any] | None = None,
                    json_body: Any = None, idempotent: bool | None = None) -> Any:
        """One request; the `data` of a `success: true` reply, else a typed error."""
        resp = await self._send(method, path, params=params, json_body=json_body, idempotent=idempotent)
        body = self._json(resp, what)
        if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
            raise self._malformed(what)
        if not body["success"]:
            raise business_error(server_text(str(body.get("message") or ""), self._management_key), what,
                                 platform=self.name, user_id=self.user_id,
                                 management_key=self._management_key, manage_url=self.manage_url)
        return body.get("data")

    def _malformed(self, what: str) -> MalformedResponse:
        return MalformedResponse(
            f"{self.name} sent a reply to {what} that is not a one-api answer. "
            f"Check that {self.base_url} is the gateway's address.", platform=self.name)

    def _error_for(self, resp: Reply, method: str, path: str) -> PlatformError:
        status = resp.status_code
        detail = server_text(_error_message(resp), self._management_key)
        if status == 401 or (status == 403 and ("无权" in detail or "access token" in detail.lower())):
            return auth_error(detail, platform=self.name, user_id=self.user_id,
                              management_key=self._management_key, manage_url=self.manage_url)
        if status == 404 and path.startswith(TOKEN_PATH):
            return NotFound(f"{self.name} has no such key ({_what(method, path)}).", platform=self.name)
        err = super()._error_for(resp, method, path)
        # The base message may quote the server: make sure our token never rides along.
        text = redact(str(err), self._management_key)
        if text != str(err):
            err = type(err)(text, platform=self.name, status=err.status)
        return err
