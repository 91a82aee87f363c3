"""Guardrails: `/guardrails` (list, create), `/guardrails/{id}` (get, update, delete) and the key
assignments under `/guardrails/{id}/assignments/keys` (list, bulk assign, bulk unassign via `/remove`).

A key holds at most one guardrail (assigning replaces it). The sandbox keeps every policy field a
guardrail takes and enforces two of them on inference: `allowed_models` (403, see `model_refusal`) and,
through `budgets`, `limit_usd` shows in the key's budgets on `GET /key`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from capit_tui.core.model import iso
from capit_tui.sandbox.auth import refuse_unless_management
from capit_tui.sandbox.fields import (
    bool_field,
    limit_field,
    optional_str,
    reset_field,
    str_list,
    workspace_param,
)
from capit_tui.sandbox.state import Store
from capit_tui.sandbox.wire import Bad, Request, Resp, error, int_param, json_resp, num

if TYPE_CHECKING:
    from capit_tui.sandbox.server import Sandbox

REGIONS = ("global", "europe", "us")
_LISTS = ("allowed_models", "ignored_models", "allowed_providers", "ignored_providers")
_FLAGS = ("enforce_zdr", "enforce_zdr_anthropic", "enforce_zdr_google", "enforce_zdr_openai", "enforce_zdr_other",
          "enforce_zdr_xai", "allow_safety_retention_google", "allow_safety_retention_other",
          "enable_free_model_publication", "enable_free_model_training", "enable_paid_model_training")
_FILTERS = ("content_filters", "content_filter_builtins")


@dataclass
class Assignment:
    id: str
    key_hash: str
    guardrail_id: str
    assigned_by: str | None
    created_at: datetime


@dataclass
class Guardrails:
    """The account's guardrails (id -> API object, oldest first) and key assignments (key hash -> one)."""

    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    assigned: dict[str, Assignment] = field(default_factory=dict)

    def of_key(self, key_hash: str) -> dict[str, Any] | None:
        a = self.assigned.get(key_hash)
        return self.by_id.get(a.guardrail_id) if a is not None else None

    def forget_key(self, key_hash: str) -> None:
        self.assigned.pop(key_hash, None)


def model_refusal(guardrail: dict[str, Any] | None, model: str) -> str | None:
    """Why a guardrail refuses `model` (None when it allows it): it lists `allowed_models` without it."""
    if guardrail is None:
        return None
    allowed = guardrail.get("allowed_models")
    if not allowed or model in allowed:
        return None
    return f"Model {model} is not allowed by guardrail '{guardrail['name']}'"


# ---------------------------------------------------------------- guardrails


def list_guardrails(sb: Sandbox, req: Request) -> Resp:
    with sb.store.lock:
        refused = refuse_unless_management(sb, req.token)
        if refused is not None:
            return refused
        try:
            offset = int_param(req.query.get("offset"), "offset", default=0, minimum=0)
            limit = int_param(req.query.get("limit"), "limit", default=50, minimum=1, maximum=100)
            ws = workspace_param(sb.store, req.query.get("workspace_id"))
        except Bad as exc:
            return error(400, str(exc))
        rows = [g for g in sb.guardrails.by_id.values() if g["workspace_id"] == ws]
        return json_resp(200, {"data": rows[offset:offset + limit], "total_count": len(rows)})


def create_guardrail(sb: Sandbox, req: Request) -> Resp:
    store = sb.store
    with store.lock:
        refused = refuse_unless_management(sb, req.token)
        if refused is not None:
            return refused
        try:
            body = _object(req)
            name = body.get("name")
            if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
                raise Bad("name is required (1-200 characters)")
            fields = _policy(body)
            ws = workspace_param(store, body.get("workspace_id"))
        except Bad as exc:
            return error(400, str(exc))
        g: dict[str, Any] = {"id": str(uuid.UUID(int=store.ids.getrandbits(128), version=4)), "name": name,
                             "description": None, "limit_usd": None, "reset_interval": None,
                             **{n: None for n in _LISTS + ("allowed_data_regions",) + _FLAGS + _FILTERS},
                             "include_byok_in_budgets": False, "workspace_id": ws,
                             "created_at": iso(store.now()), "updated_at": None}
        g.update(fields)
        sb.guardrails.by_id[g["id"]] = g
        return json_resp(201, {"data": g})


def get_guardrail(sb: Sandbox, req: Request) -> Resp:
    with sb.store.lock:
        g = _the_guardrail(sb, req)
        return g if isinstance(g, Resp) else json_resp(200, {"data": g})


def update_guardrail(sb: Sandbox, req: Request) -> Resp:
    with sb.store.lock:
        g = _the_guardrail(sb, req)
        if isinstance(g, Resp):
            return g
        try:
            body = _object(req)
            changes = _policy(body)
            if "name" in body:
                if not isinstance(body["name"], str) or not 1 <= len(body["name"].strip()) <= 200:
                    raise Bad("name must be 1-200 characters")
                changes["name"] = body["name"]
        except Bad as exc:
            return error(400, str(exc))
        g.update(changes)
        g["updated_at"] = iso(sb.store.now())
        return json_resp(200, {"data": g})


def delete_guardrail(sb: Sandbox, req: Request) -> Resp:
    with sb.store.lock:
        g = _the_guardrail(sb, req)
        if isinstance(g, Resp):
            return g
        del sb.guardrails.by_id[g["id"]]
        for key_hash in [h for h, a in sb.guardrails.assigned.items() if a.guardrail_id == g["id"]]:
            del sb.guardrails.assigned[key_hash]
        return json_resp(200, {"deleted": True})


# ---------------------------------------------------------------- key assignments


def list_key_assignments(sb: Sandbox, req: Request) -> Resp:
    with sb.store.lock:
        g = _the_guardrail(sb, req)
        if isinstance(g, Resp):
            return g
        try:
            offset = int_param(req.query.get("offset"), "offset", default=0, minimum=0)
            limit = int_param(req.query.get("limit"), "limit", default=50, minimum=1, maximum=100)
        except Bad as exc:
            return error(400, str(exc))
        rows = [_assignment(sb.store, a) for a in sb.guardrails.assigned.values()
                if a.guardrail_id == g["id"] and a.key_hash in sb.store.keys]
        return json_resp(200, {"data": rows[offset:offset + limit], "total_count": len(rows)})


def assign_keys(sb: Sandbox, req: Request) -> Resp:
    store = sb.store
    with store.lock:
        g = _the_guardrail(sb, req)
        if isinstance(g, Resp):
            return g
        try:
            hashes = _key_hashes(store, req)
        except Bad as exc:
            return error(400, str(exc))
        count = 0
        for h in hashes:
            current = sb.guardrails.assigned.get(h)
            if current is not None and current.guardrail_id == g["id"]:
                continue
            sb.guardrails.assigned[h] = Assignment(str(uuid.UUID(int=store.ids.getrandbits(128), version=4)), h,
                                                   g["id"], store.user_id, store.now())
            count += 1
        return json_resp(200, {"assigned_count": count})


def unassign_keys(sb: Sandbox, req: Request) -> Resp:
    with sb.store.lock:
        g = _the_guardrail(sb, req)
        if isinstance(g, Resp):
            return g
        try:
            hashes = _key_hashes(sb.store, req)
        except Bad as exc:
            return error(400, str(exc))
        count = 0
        for h in hashes:
            current = sb.guardrails.assigned.get(h)
            if current is not None and current.guardrail_id == g["id"]:
                del sb.guardrails.assigned[h]
                count += 1
        return json_resp(200, {"unassigned_count": count})


# ---------------------------------------------------------------- helpers


def _the_guardrail(sb: Sandbox, req: Request) -> Resp | dict[str, Any]:
    refused = refuse_unless_management(sb, req.token)
    if refused is not None:
        return refused
    g = sb.guardrails.by_id.get(req.params.get("id", ""))
    return error(404, "Guardrail not found") if g is None else g


def _object(req: Request) -> dict[str, Any]:
    if req.bad_json or not isinstance(req.body, dict):
        raise Bad("Request body must be a JSON object")
    return req.body


def _policy(body: dict[str, Any]) -> dict[str, Any]:
    """The policy fields present in a create or update body, checked (nothing is changed on a 400)."""
    out: dict[str, Any] = {}
    if "description" in body:
        out["description"] = optional_str(body, "description")
    if "limit_usd" in body:
        out["limit_usd"] = num(limit_field(body["limit_usd"], "limit_usd"))
    if "reset_interval" in body:
        out["reset_interval"] = reset_field(body["reset_interval"], "reset_interval")
    for name in _LISTS:
        if name in body:
            out[name] = str_list(body, name)
    if "allowed_data_regions" in body:
        out["allowed_data_regions"] = str_list(body, "allowed_data_regions", choices=REGIONS)
    for name in _FLAGS:
        if name in body:
            if body[name] is not None and not isinstance(body[name], bool):
                raise Bad(f"{name} must be a boolean or null")
            out[name] = body[name]
    for name in _FILTERS:
        if name in body:
            value = body[name]
            if value is not None and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
                raise Bad(f"{name} must be an array of objects or null")
            out[name] = value
    if "include_byok_in_budgets" in body:
        out["include_byok_in_budgets"] = bool_field(body, "include_byok_in_budgets", default=False)
    return out


def _key_hashes(store: Store, req: Request) -> list[str]:
    body = _object(req)
    hashes = body.get("key_hashes")
    if not isinstance(hashes, list) or not hashes or not all(isinstance(h, str) for h in hashes):
        raise Bad("key_hashes must be a non-empty array of key hashes")
    unknown = [h for h in hashes if h not in store.keys]
    if unknown:
        raise Bad(f"Unknown key hash: {unknown[0][:16]}")
    return list(dict.fromkeys(hashes))


def _assignment(store: Store, a: Assignment) -> dict[str, Any]:
    key = store.keys[a.key_hash]
    return {"id": a.id, "key_hash": a.key_hash, "guardrail_id": a.guardrail_id, "key_name": key.name,
            "key_label": key.label, "assigned_by": a.assigned_by, "created_at": iso(a.created_at)}

