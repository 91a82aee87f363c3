"""OpenRouter's key-management API (management key required), and OpenRouter-compatible servers.

Facts used (see shared/reference/openrouter-api.md):
- GET /keys returns at most 100 keys a page, newest first, no total count: page with `offset` (in a
  sliding window, platforms/paging.py) and stop at the first short page; `include_disabled=true` and
  `include_expired=true` to see disabled and expired keys (an expired key is listed as expired, not
  lost); by default only the default workspace, so list /workspaces and ask per workspace (a server
  without /workspaces: default only).
- POST /keys answers 201 with the secret as the top-level `key`, beside `data`.
- GET /key tells whether the key we hold is a management key (`is_management_key`).
- Every key object carries `expires_at` and `last_used_at` (null until a call is charged to it).
- GET /activity: the last 30 completed UTC days, one row per day and model (no paging), one key with
  `api_key_hash`; today shows from tomorrow on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from capit_tui.core.history import ActivityRow
from capit_tui.core.model import Balance, CappedKey, IssuedKey, KeyInfo, parse_time
from capit_tui.core.money import to_decimal, to_json_number
from capit_tui.core.text import clean_text
from capit_tui.platforms.base import (
    UNSET,
    BadRequest,
    CreateUncertain,
    MalformedResponse,
    NotFound,
    NotManagementKey,
    Platform,
    PlatformError,
)
from capit_tui.platforms.http import gather_all
from capit_tui.platforms.paging import WINDOW, CountHints, PagingStopped, sliding_pages

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
PAGE_SIZE = 100
MAX_PAGES = 2_000  # 200 000 keys: past that a server is sending endless pages
MAX_ACTIVITY_ROWS = 30 * 1_000  # 30 days of 1 000 models: past that a server is sending junk


class OpenRouterPlatform(Platform):
    kind = "openrouter"
    manage_url = "https://openrouter.ai/settings/management-keys"

    def __init__(self, name: str, base_url: str, management_key: str, *, page_window: int = WINDOW,
                 remember_count: bool = True, **kwargs: Any):
        super().__init__(name, base_url, management_key, **kwargs)
        self.page_window = max(1, page_window)  # page requests in flight at once
        self.remember_count = remember_count  # keep each workspace's key count in the data dir as a hint

    @property
    def openai_base_url(self) -> str:
        return self.base_url

    @property
    def anthropic_base_url(self) -> str | None:
        # Claude Code appends /v1/messages itself: https://openrouter.ai/api
        if self.base_url.endswith("/v1"):
            return self.base_url[: -len("/v1")]
        return self.base_url

    # ------------------------------------------------------------ key checks and balance

    async def check_management_key(self) -> KeyInfo:
        resp = await self._send("GET", "/key")
        data = self._data(resp, "GET /key")
        if not isinstance(data, dict):
            raise MalformedResponse(f"{self.name} sent an unexpected reply to GET /key.", platform=self.name)
        is_mgmt = bool(data.get("is_management_key") or data.get("is_provisioning_key"))
        info = KeyInfo(
            is_management_key=is_mgmt,
            label=str(data.get("label") or ""),
            limit=_dec(data.get("limit")),
            usage=_dec(data.get("usage")) or Decimal(0),
        )
        if not is_mgmt:
            raise NotManagementKey(
                f"That is an inference key, not a management key: it can call models but cannot create "
                f"or cap keys. Create a management key at {self.manage_url} and paste that instead.",
                platform=self.name)
        return info

    async def balance(self) -> Balance | None:
        resp = await self._send("GET", "/credits")
        data = self._data(resp, "GET /credits")
        if not isinstance(data, dict):
            return None
        return Balance(_dec(data.get("total_credits")), _dec(data.get("total_usage")))

    async def activity(self, key_hash: str | None = None, day: date | None = None) -> list[ActivityRow]:
        """GET /activity: spend per completed UTC day and model over the last 30 days (today is not in it),
        for one key when `key_hash` is given. Rows past MAX_ACTIVITY_ROWS, or not readable, are refused."""
        params: dict[str, Any] = {}
        if key_hash is not None:
            params["api_key_hash"] = key_hash
        if day is not None:
            params["date"] = day.isoformat()
        resp = await self._send("GET", "/activity", params=params)
        data = self._data(resp, "GET /activity")
        if not isinstance(data, list) or len(data) > MAX_ACTIVITY_ROWS:
            raise MalformedResponse(f"{self.name} sent an unexpected list of activity.", platform=self.name)
        rows: list[ActivityRow] = []
        for raw in data:
            try:
                when = date.fromisoformat(str(raw["date"])[:10])
                usage = _dec(raw.get("usage"))
                requests = raw.get("requests", 0)
                if usage is None or usage < 0 or not isinstance(requests, int) or isinstance(requests, bool):
                    raise ValueError
            except (TypeError, KeyError, ValueError):
                raise MalformedResponse(f"{self.name} sent an activity row capit-tui cannot read.",
                                        platform=self.name) from None
            rows.append(ActivityRow(when, clean_text(raw.get("model") or "unknown", 120), usage, max(requests, 0)))
        return rows

    # ------------------------------------------------------------ listing

    async def list_workspaces(self) -> list[str | None]:
        """Workspace ids the key can see; [None] (the default workspace) when the server has none."""
        ids: list[str | None] = []
        offset = 0
        for _ in range(MAX_PAGES):
            try:
                resp = await self._send("GET", "/workspaces", params={"offset": offset, "limit": 100})
            except NotFound:
                return [None]
            body = self._json(resp, "GET /workspaces")
            items = body.get("data") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise MalformedResponse(f"{self.name} sent an unexpected list of workspaces.", platform=self.name)
            ids.extend(str(w["id"]) for w in items if isinstance(w, dict) and w.get("id"))
            total = body.get("total_count")
            offset += len(items)
            if not items or len(items) < 100 or (isinstance(total, int) and offset >= total):
                return ids or [None]
        raise MalformedResponse(f"{self.name} kept sending pages of workspaces; capit-tui stopped listing them.",
                                platform=self.name)

    async def list_keys(self, on_page: Callable[[list[CappedKey]], None] | None = None) -> list[CappedKey]:
        """Every key of every workspace. The default workspace's pages start beside GET /workspaces
        (most accounts have only that one); the other workspaces follow once its first page says which
        id it has. `on_page` gets each page's new keys as soon as the pages before it are in (for a
        front end to show the first rows early); a failure later still fails the whole listing."""
        hints = CountHints(self.kind, self.base_url) if self.remember_count else None
        shown: set[str] = set()

        def emit(chunk: list[CappedKey]) -> None:
            fresh = [k for k in chunk if k.id not in shown]
            shown.update(k.id for k in fresh)
            if fresh and on_page is not None:
                on_page(fresh)

        first_page: asyncio.Future[list[CappedKey]] = asyncio.get_running_loop().create_future()
        default = asyncio.ensure_future(self._list_workspace_keys(None, hints, emit, first_page))
        try:
            workspaces = await self.list_workspaces()
            if workspaces == [None]:
                keys = await default
            else:
                await asyncio.wait({first_page, default}, return_when=asyncio.FIRST_COMPLETED)
                seen_in_default = {k.workspace_id for k in first_page.result()} if first_page.done() else set()
                if default.done():
                    default.result()  # its failure is the listing's
                # The default workspace is listed already: the one its keys name, or the only one there is.
                others = [] if len(workspaces) == 1 else [
                    w for w in workspaces if not (len(seen_in_default) == 1 and w in seen_in_default)]
                chunks = await gather_all([_awaited(default),
                                           *(self._list_workspace_keys(w, hints, emit) for w in others)])
                seen: set[str] = set()
                keys = []
                for chunk in chunks:
                    for k in chunk:
                        if k.id not in seen:
                            seen.add(k.id)
                            keys.append(k)
        finally:
            if not default.done():
                default.cancel()
            await asyncio.gather(default, return_exceptions=True)
            if not first_page.done():
                first_page.cancel()
        if hints is not None:
            hints.save()
        return keys

    async def _list_workspace_keys(self, workspace_id: str | None, hints: CountHints | None,
                                   emit: Callable[[list[CappedKey]], None],
                                   first_page: asyncio.Future[list[CappedKey]] | None = None) -> list[CappedKey]:
        """One workspace's keys in a sliding window (platforms/paging.py), the count hint used and
        corrected; stops at the first short page."""

        async def fetch(page: int) -> list[CappedKey]:
            items = await self._page(workspace_id, page)
            if page == 0 and first_page is not None and not first_page.done():
                first_page.set_result(items)
            return items

        try:
            keys = await sliding_pages(fetch, page_size=PAGE_SIZE, max_pages=MAX_PAGES, window=self.page_window,
                                       hint=hints.get(workspace_id) if hints is not None else None,
                                       ident=lambda k: k.id, on_page=emit)
        except PagingStopped as stop:
            if stop.why == "endless":
                raise MalformedResponse(
                    f"{self.name} kept sending full pages of keys past {MAX_PAGES * PAGE_SIZE:,}; capit-tui "
                    "stopped listing. No account should hold that many keys: check the base URL.",
                    platform=self.name) from None
            raise MalformedResponse(
                f"{self.name} sent the same keys again for offset {stop.page * PAGE_SIZE} (it ignores paging); "
                "capit-tui stopped listing.", platform=self.name) from None
        if hints is not None:
            hints.set(workspace_id, len(keys))
        return keys

    async def _page(self, workspace_id: str | None, page: int) -> list[CappedKey]:
        """One page of keys, parsed as soon as it arrives: 10 000 keys are read 100 at a time while
        other pages are still on the wire, not in one block that would hold up the TUI's event loop."""
        params: dict[str, Any] = {"include_disabled": "true", "include_expired": "true", "offset": page * PAGE_SIZE}
        if workspace_id:
            params["workspace_id"] = workspace_id
        resp = await self._send("GET", "/keys", params=params)
        data = self._data(resp, "GET /keys")
        if not isinstance(data, list):
            raise MalformedResponse(f"{self.name} sent an unexpected list of keys.", platform=self.name)
        return [self._key(raw) for raw in data]

    # ------------------------------------------------------------ single keys

    async def get_key(self, key_id: str) -> CappedKey:
        resp = await self._send("GET", f"/keys/{key_id}")
        return self._key(self._data(resp, "GET /keys/{hash}"))

    async def create_key(self, name: str, limit: Decimal | None, reset: str | None,
                         expires_at: datetime | None = None, workspace_id: str | None = None) -> IssuedKey:
        """A new key; `expires_at` (UTC) is set at creation only: OpenRouter cannot change it later.
        `workspace_id` files it in that workspace (default: the default workspace)."""
        if not name or not name.strip():
            raise BadRequest("A key needs a name.", platform=self.name)
        body: dict[str, Any] = {"name": name, "limit": to_json_number(limit), "limit_reset": reset}
        if expires_at is not None:  # UTC with whole seconds: minute precision and other zones are refused
            body["expires_at"] = expires_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if workspace_id:
            body["workspace_id"] = workspace_id
        started = datetime.now(timezone.utc)
        try:
            resp = await self._send("POST", "/keys", json_body=body)
        except CreateUncertain as exc:
            await self._clean_up_uncertain_create(name, started, exc)
            raise  # unreachable: the clean-up raises
        try:
            payload = self._json(resp, "POST /keys")
        except MalformedResponse as exc:
            # A 2xx that is not JSON (a proxy's page): the key may exist, with its secret lost.
            await self._clean_up_uncertain_create(name, started, exc)
            raise  # unreachable: the clean-up raises
        secret = payload.get("key") if isinstance(payload, dict) else None
        if not isinstance(secret, str) or not secret:
            # Created, but the secret is lost: a key nobody can use. Delete it rather than leave it.
            data = payload.get("data") if isinstance(payload, dict) else None
            if isinstance(data, dict) and data.get("hash"):
                try:
                    await self.delete_key(str(data["hash"]))
                except PlatformError:
                    pass
            raise MalformedResponse(
                f"{self.name} created the key '{name}' but did not return its secret; capit-tui deleted "
                "that key again. Try once more.", platform=self.name)
        return IssuedKey(secret=secret, key=self._key(payload.get("data")))

    async def _clean_up_uncertain_create(self, name: str, started: datetime, exc: PlatformError) -> None:
        """The create may have reached the server. Its secret is lost either way: find and delete it."""
        try:
            keys = await self.list_keys()
        except PlatformError:
            raise CreateUncertain(
                f"{exc} The key '{name}' may have been created anyway; run `capit-tui keys list` and "
                "revoke it if it is there.", platform=self.name) from None
        await self._delete_lost_create(name, started, exc, keys)

    async def update_key(self, key_id: str, *, name: Any = UNSET, limit: Any = UNSET,
                         reset: Any = UNSET, disabled: Any = UNSET) -> CappedKey:
        body: dict[str, Any] = {}
        if name is not UNSET:
            body["name"] = name
        if limit is not UNSET:
            body["limit"] = to_json_number(limit)
        if reset is not UNSET:
            body["limit_reset"] = reset
        if disabled is not UNSET:
            body["disabled"] = bool(disabled)
        resp = await self._send("PATCH", f"/keys/{key_id}", json_body=body, idempotent=True)
        return self._key(self._data(resp, "PATCH /keys/{hash}"))

    async def delete_key(self, key_id: str) -> None:
        await self._send("DELETE", f"/keys/{key_id}", idempotent=False)

    # ------------------------------------------------------------ parsing

    def _data(self, resp: Any, what: str) -> Any:
        body = self._json(resp, what)
        if not isinstance(body, dict) or "data" not in body:
            raise MalformedResponse(f"{self.name} sent an unexpected reply to {what}.", platform=self.name)
        return body["data"]

    def _key(self, raw: Any) -> CappedKey:
        if not isinstance(raw, dict) or not raw.get("hash"):
            raise MalformedResponse(f"{self.name} sent a key without an id.", platform=self.name)
        try:
            return CappedKey(
                platform=self.name,
                id=str(raw["hash"]),
                name=str(raw.get("name") or ""),
                label=str(raw.get("label") or ""),
                disabled=bool(raw.get("disabled")),
                limit=_dec(raw.get("limit")),
                limit_reset=raw.get("limit_reset") or None,
                limit_remaining=_dec(raw.get("limit_remaining")),
                usage=_dec(raw.get("usage")) or Decimal(0),
                usage_daily=_dec(raw.get("usage_daily")) or Decimal(0),
                usage_weekly=_dec(raw.get("usage_weekly")) or Decimal(0),
                usage_monthly=_dec(raw.get("usage_monthly")) or Decimal(0),
                created_at=parse_time(raw.get("created_at")),
                updated_at=parse_time(raw.get("updated_at")),
                workspace_id=raw.get("workspace_id"),
                expires_at=parse_time(raw.get("expires_at")),
                last_used_at=parse_time(raw.get("last_used_at")),
            )
        except (TypeError, ValueError):
            raise MalformedResponse(f"{self.name} sent a key with fields capit-tui cannot read.",
                                    platform=self.name) from None


async def _awaited(task: asyncio.Future[list[CappedKey]]) -> list[CappedKey]:
    return await task


def _dec(value: Any) -> Decimal | None:
    return to_decimal(value)
