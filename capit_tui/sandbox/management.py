"""The key-management API, in the shapes of OpenRouter's OpenAPI spec: `/key` (and `/auth/key`),
`/credits`, `/keys`, `/keys/{hash}` and `/workspaces`, with the parsers that check their query
parameters and body fields. Every handler takes the sandbox and the `Request`, and returns a `Resp`."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from capit_tui.core.model import RESETS, parse_time
from capit_tui.sandbox.auth import authenticate, refuse_unless_management
from capit_tui.sandbox.state import SandboxKey, Store, key_label
from capit_tui.sandbox.wire import Bad, Request, Resp, error, int_param, json_resp, num

if TYPE_CHECKING:
    from capit_tui.sandbox.server import Sandbox


def get_current_key(sb: Sandbox, req: Request) -> Resp:
    store = sb.store
    with store.lock:
        who = authenticate(sb, req.token, management=False)
        if isinstance(who, Resp):
            return who
        rate_limit = {"requests": -1, "interval": "10s",
                      "note": "This field is deprecated and safe to ignore."}
        if who is None:
            data: dict[str, Any] = {
                "label": key_label(sb.management_key), "limit": None, "limit_remaining": None,
                "limit_reset": None, "include_byok_in_limit": False,
                "usage": 0, "usage_daily": 0, "usage_weekly": 0, "usage_monthly": 0,
                "byok_usage": 0, "byok_usage_daily": 0, "byok_usage_weekly": 0, "byok_usage_monthly": 0,
                "is_free_tier": False, "is_management_key": True, "is_provisioning_key": True,
                "creator_user_id": store.user_id, "expires_at": None, "rate_limit": rate_limit,
            }
        else:
            k = who.to_api(store.now())
            data = {name: k[name] for name in (
                "label", "limit", "limit_remaining", "limit_reset", "include_byok_in_limit",
                "usage", "usage_daily", "usage_weekly", "usage_monthly", "byok_usage",
                "byok_usage_daily", "byok_usage_weekly", "byok_usage_monthly", "creator_user_id",
                "expires_at")}
            data |= {"is_free_tier": False, "is_management_key": False, "is_provisioning_key": False,
                     "rate_limit": rate_limit}
        return json_resp(200, {"data": data})


def get_credits(sb: Sandbox, req: Request) -> Resp:
    with sb.store.lock:
        refused = refuse_unless_management(sb, req.token)
        if refused is not None:
            return refused
        return json_resp(200, {"data": {"total_credits": num(sb.total_credits),
                                        "total_usage": num(sb.store.total_usage)}})


# ---------------------------------------------------------------- keys


def list_keys(sb: Sandbox, req: Request) -> Resp:
    store, query = sb.store, req.query
    with store.lock:
        refused = refuse_unless_management(sb, req.token)
        if refused is not None:
            return refused
        try:
            inc = query.get("include_disabled", "false").strip().lower()
            if inc not in ("true", "false"):
                raise Bad("include_disabled must be 'true' or 'false'")
            offset = int_param(query.get("offset"), "offset", default=0, minimum=0)
            ws = _workspace_param(store, query.get("workspace_id"))
        except Bad as exc:
            return error(400, str(exc))
        keys: Iterable[SandboxKey] = store.ordered(ws)
        if inc != "true":
            keys = (k for k in keys if not k.disabled)
        now = store.now()
        page = [k.to_api(now) for k in itertools.islice(keys, offset, offset + sb.page_size)]
        return json_resp(200, {"data": page})


def create_key(sb: Sandbox, req: Request) -> Resp:
    store, body = sb.store, req.body
    with store.lock:
        refused = refuse_unless_management(sb, req.token)
        if refused is not None:
            return refused
        try:
            if req.bad_json or not isinstance(body, dict):
                raise Bad("Request body must be a JSON object")
            name = body.get("name")
            if not isinstance(name, str) or not name.strip():
                raise Bad("name is required and must be a non-empty string")
            limit = _limit_field(body.get("limit")) if "limit" in body else None
            reset = _reset_field(body.get("limit_reset")) if "limit_reset" in body else None
            byok = _bool_field(body, "include_byok_in_limit", default=False)
            ws = _workspace_param(store, body.get("workspace_id"))
            creator = body.get("creator_user_id")
            if creator is not None and (not isinstance(creator, str) or not creator):
                raise Bad("creator_user_id must be a non-empty string or null")
            expires = None
            if body.get("expires_at") is not None:
                expires = _expiry_field(body["expires_at"], store.now())
        except Bad as exc:
            return error(400, str(exc))
        secret = store.mint(store.secrets)
        key = store.insert(secret, name=name, limit=limit, reset=reset, disabled=False, workspace_id=ws,
                           created_at=store.now(), expires_at=expires, creator_user_id=creator,
                           include_byok_in_limit=byok)
        return json_resp(201, {"data": key.to_api(store.now()), "key": secret})


def _the_key(sb: Sandbox, req: Request) -> Resp | SandboxKey:
    """The key `/keys/{hash}` names, or the refusal: authentication first, then 404."""
    refused = refuse_unless_management(sb, req.token)
    if refused is not None:
        return refused
    key = sb.store.keys.get(req.params["hash"])
    return error(404, "Key not found") if key is None else key


def get_key(sb: Sandbox, req: Request) -> Resp:
    with sb.store.lock:
        key = _the_key(sb, req)
        if isinstance(key, Resp):
            return key
        return json_resp(200, {"data": key.to_api(sb.store.now())})


def delete_key(sb: Sandbox, req: Request) -> Resp:
    with sb.store.lock:
        key = _the_key(sb, req)
        if isinstance(key, Resp):
            return key
        sb.store.delete(key.hash)
        return json_resp(200, {"deleted": True})


def patch_key(sb: Sandbox, req: Request) -> Resp:
    body = req.body
    with sb.store.lock:
        key = _the_key(sb, req)
        if isinstance(key, Resp):
            return key
        # Validate everything before changing anything.
        try:
            if req.bad_json or not isinstance(body, dict):
                raise Bad("Request body must be a JSON object")
            changes: dict[str, Any] = {}
            if "name" in body:
                if not isinstance(body["name"], str) or not body["name"].strip():
                    raise Bad("name must be a non-empty string")
                changes["name"] = body["name"]
            if "disabled" in body:
                changes["disabled"] = _bool_field(body, "disabled", default=False)
            if "limit" in body:
                changes["limit"] = _limit_field(body["limit"])
            if "limit_reset" in body:
                changes["limit_reset"] = _reset_field(body["limit_reset"])
            if "include_byok_in_limit" in body:
                changes["include_byok_in_limit"] = _bool_field(body, "include_byok_in_limit", default=False)
        except Bad as exc:
            return error(400, str(exc))
        for name, value in changes.items():
            setattr(key, name, value)
        key.updated_at = sb.store.now()
        return json_resp(200, {"data": key.to_api(sb.store.now())})


# ---------------------------------------------------------------- workspaces


def list_workspaces(sb: Sandbox, req: Request) -> Resp:
    with sb.store.lock:
        refused = refuse_unless_management(sb, req.token)
        if refused is not None:
            return refused
        try:
            offset = int_param(req.query.get("offset"), "offset", default=0, minimum=0)
            limit = int_param(req.query.get("limit"), "limit", default=50, minimum=1, maximum=100)
        except Bad as exc:
            return error(400, str(exc))
        workspaces = sb.store.workspaces
        return json_resp(200, {"data": workspaces[offset:offset + limit], "total_count": len(workspaces)})


def create_workspace(sb: Sandbox, req: Request) -> Resp:
    store, body = sb.store, req.body
    with store.lock:
        refused = refuse_unless_management(sb, req.token)
        if refused is not None:
            return refused
        if req.bad_json or not isinstance(body, dict):
            return error(400, "Request body must be a JSON object")
        name, slug = body.get("name"), body.get("slug")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            return error(400, "name is required (1-100 characters)")
        if not isinstance(slug, str) or len(slug) > 50 or not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", slug):
            return error(400, "slug is required: lower-case letters, digits and single hyphens")
        if any(w["slug"] == slug for w in store.workspaces):
            return error(400, f"A workspace with slug {slug!r} already exists")
        ws = store.add_workspace(
            id=str(uuid.UUID(int=store.ids.getrandbits(128), version=4)),
            guardrail=str(uuid.UUID(int=store.ids.getrandbits(128), version=5)),
            name=name, slug=slug, created_at=store.now(), description=body.get("description"),
            default_text_model=body.get("default_text_model"),
            default_image_model=body.get("default_image_model"),
            default_provider_sort=body.get("default_provider_sort"),
        )
        return json_resp(201, {"data": ws})


# ---------------------------------------------------------------- parameter and field parsers


def _workspace_param(store: Store, value: Any) -> str:
    if value is None or value == "":
        return store.default_workspace_id
    if not _is_uuid(value):
        raise Bad("workspace_id must be a UUID")
    if not store.has_workspace(value):
        raise Bad(f"Workspace {value} not found")
    return value


def _is_uuid(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def _limit_field(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Bad("limit must be a number or null")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise Bad("limit must be a number or null") from None
    if not d.is_finite() or d < 0:
        raise Bad("limit must be a number >= 0 or null")
    return d


def _reset_field(value: Any) -> str | None:
    if value is None:
        return None
    if value not in RESETS:
        raise Bad("limit_reset must be one of daily, weekly, monthly or null")
    return value


def _bool_field(body: dict[str, Any], name: str, *, default: bool) -> bool:
    if name not in body:
        return default
    if not isinstance(body[name], bool):
        raise Bad(f"{name} must be a boolean")
    return body[name]


def _expiry_field(value: Any, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise Bad("expires_at must be an ISO 8601 UTC date-time or null")
    s = value.strip()
    if not (s.endswith("Z") or s.endswith("+00:00")):
        raise Bad("expires_at must be in UTC (end with Z)")
    when = parse_time(s)
    if when is None:
        raise Bad("expires_at must be an ISO 8601 UTC date-time or null")
    if when <= now:
        raise Bad("expires_at must be in the future")
    return when
