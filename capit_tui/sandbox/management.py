"""The key-management API, in the shapes of OpenRouter's OpenAPI spec: `/key` (and `/auth/key`),
`/credits`, `/keys`, `/keys/{hash}` and `/workspaces`, with the parsers that check their query
parameters and body fields. Every handler takes the sandbox and the `Request`, and returns a `Resp`."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from capit_tui.sandbox.auth import authenticate, refuse_unless_management
from capit_tui.sandbox.budgets import effective_budget, key_budgets
from capit_tui.sandbox.fields import (
    bool_field,
    bool_query,
    expiry_field,
    external_field,
    limit_field,
    reset_field,
    workspace_param,
)
from capit_tui.sandbox.guardrails import REGIONS
from capit_tui.sandbox.state import SandboxKey, key_label
from capit_tui.sandbox.wire import Bad, Request, Resp, error, int_param, json_resp, num

if TYPE_CHECKING:
    from capit_tui.sandbox.server import Sandbox


FREE_MODEL_DAILY_REQUESTS = 1000  # the quota of ":free" model calls a day for an account that bought credits


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
                "budgets": [], "effective_budget": None, "allowed_data_regions": list(REGIONS),
                "free_model_daily_requests": {"limit": FREE_MODEL_DAILY_REQUESTS, "used": 0,
                                              "remaining": FREE_MODEL_DAILY_REQUESTS},
                "organization_id": None, "workspace_id": store.default_workspace_id,
            }
        else:
            now = store.now()
            k = who.to_api(now)
            guardrail = sb.guardrails.of_key(who.hash)
            budgets = key_budgets(who, guardrail, now)
            used = sb.activity.requests_on(now.date(), who.hash, ":free")
            data = {name: k[name] for name in (
                "label", "limit", "limit_remaining", "limit_reset", "include_byok_in_limit",
                "usage", "usage_daily", "usage_weekly", "usage_monthly", "byok_usage",
                "byok_usage_daily", "byok_usage_weekly", "byok_usage_monthly", "creator_user_id",
                "expires_at", "workspace_id")}
            data |= {"is_free_tier": False, "is_management_key": False, "is_provisioning_key": False,
                     "rate_limit": rate_limit, "budgets": budgets, "effective_budget": effective_budget(budgets),
                     "allowed_data_regions": (guardrail or {}).get("allowed_data_regions") or list(REGIONS),
                     "free_model_daily_requests": {"limit": FREE_MODEL_DAILY_REQUESTS, "used": used,
                                                   "remaining": max(0, FREE_MODEL_DAILY_REQUESTS - used)},
                     "organization_id": None}
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
            disabled = bool_query(query, "include_disabled")
            expired = bool_query(query, "include_expired")
            offset = int_param(query.get("offset"), "offset", default=0, minimum=0)
            ws = workspace_param(store, query.get("workspace_id"))
        except Bad as exc:
            return error(400, str(exc))
        now = store.now()
        keys: Iterable[SandboxKey] = store.ordered(ws)
        if not disabled:
            keys = (k for k in keys if not k.disabled)
        if not expired:
            keys = (k for k in keys if not k.expired(now))
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
            limit = limit_field(body.get("limit")) if "limit" in body else None
            reset = reset_field(body.get("limit_reset")) if "limit_reset" in body else None
            byok = bool_field(body, "include_byok_in_limit", default=False)
            ws = workspace_param(store, body.get("workspace_id"))
            creator = body.get("creator_user_id")
            if creator is not None and (not isinstance(creator, str) or not creator):
                raise Bad("creator_user_id must be a non-empty string or null")
            expires = None
            if body.get("expires_at") is not None:
                expires = expiry_field(body["expires_at"], store.now())
            external = external_field(body.get("external"))
        except Bad as exc:
            return error(400, str(exc))
        secret = store.mint(store.secrets)
        key = store.insert(secret, name=name, limit=limit, reset=reset, disabled=False, workspace_id=ws,
                           created_at=store.now(), expires_at=expires, creator_user_id=creator,
                           include_byok_in_limit=byok, external_user=external)
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
        sb.guardrails.forget_key(key.hash)
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
                changes["disabled"] = bool_field(body, "disabled", default=False)
            if "limit" in body:
                changes["limit"] = limit_field(body["limit"])
            if "limit_reset" in body:
                changes["limit_reset"] = reset_field(body["limit_reset"])
            if "include_byok_in_limit" in body:
                changes["include_byok_in_limit"] = bool_field(body, "include_byok_in_limit", default=False)
            if "workspace_id" in body:  # moves the key to another workspace
                changes["workspace_id"] = workspace_param(sb.store, body["workspace_id"])
        except Bad as exc:
            return error(400, str(exc))
        for name, value in changes.items():
            setattr(key, name, value)
        if "workspace_id" in changes:
            sb.store.moved()
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
