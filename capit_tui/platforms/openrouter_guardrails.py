"""OpenRouter's guardrails (model allowlists shared by keys) and workspace names, for teams (core/team*.py).

Facts used (shared/reference/openrouter-api.md §5): `GET /guardrails` pages with offset/limit (at most 100)
and `total_count`, per workspace (`workspace_id`, default: the default workspace); `POST /guardrails`
answers 201 `{data}`; `PATCH /guardrails/{id}` replaces array fields (the full `allowed_models` is sent);
`POST /guardrails/{id}/assignments/keys` with `{key_hashes}` assigns, and a key holds one guardrail, so
assigning replaces its old one; `…/assignments/keys/remove` unassigns; `GET …/assignments/keys` pages.

Functions over an open OpenRouterPlatform (its one client, retries and bounds): a platform without
guardrails answers 404 to the listing, which reads as "no guardrails here" (`GuardrailsMissing`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from capit_tui.core.text import clean_text
from capit_tui.platforms.base import MalformedResponse, NotFound, Platform, Unsupported

PAGE = 100
MAX_PAGES = 200  # 20 000 guardrails or assignments: past that a server is sending endless pages
ASSIGN_BATCH = 100  # key hashes per assignment request


@dataclass(frozen=True)
class Guardrail:
    id: str
    name: str
    allowed_models: tuple[str, ...]
    workspace_id: str | None = None


class GuardrailsMissing(Unsupported):
    """The server has no /guardrails (an OpenRouter-compatible server that is not OpenRouter)."""


async def _pages(p: Platform, path: str, what: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    offset = 0
    for _ in range(MAX_PAGES):
        resp = await p._send("GET", path, params={**(params or {}), "offset": offset, "limit": PAGE})
        body = p._json(resp, what)
        items = body.get("data") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise MalformedResponse(f"{p.name} sent an unexpected reply to {what}.", platform=p.name)
        out.extend(i for i in items if isinstance(i, dict))
        offset += len(items)
        total = body.get("total_count")
        if len(items) < PAGE or (isinstance(total, int) and offset >= total):
            return out
    raise MalformedResponse(f"{p.name} kept sending pages for {what}; capit-tui stopped reading.", platform=p.name)


def _guardrail(p: Platform, raw: Any) -> Guardrail:
    if not isinstance(raw, dict) or not raw.get("id") or not isinstance(raw.get("name"), str):
        raise MalformedResponse(f"{p.name} sent a guardrail capit-tui cannot read.", platform=p.name)
    models = raw.get("allowed_models") or []
    if not isinstance(models, list):
        raise MalformedResponse(f"{p.name} sent a guardrail whose allowed_models is not a list.", platform=p.name)
    return Guardrail(clean_text(raw["id"], 80), clean_text(raw["name"], 200),
                     tuple(clean_text(m, 200) for m in models if isinstance(m, str)),
                     raw.get("workspace_id") if isinstance(raw.get("workspace_id"), str) else None)


async def list_guardrails(p: Platform, workspace_id: str | None = None) -> list[Guardrail]:
    params = {"workspace_id": workspace_id} if workspace_id else {}
    try:
        rows = await _pages(p, "/guardrails", "GET /guardrails", params)
    except NotFound:
        raise GuardrailsMissing(f"{p.name} has no guardrails, so it cannot limit a key's models.",
                                platform=p.name) from None
    return [_guardrail(p, r) for r in rows]


async def create_guardrail(p: Platform, name: str, models: list[str], workspace_id: str | None = None,
                           description: str | None = None) -> Guardrail:
    body: dict[str, Any] = {"name": name, "allowed_models": list(models)}
    if description:
        body["description"] = description
    if workspace_id:
        body["workspace_id"] = workspace_id
    resp = await p._send("POST", "/guardrails", json_body=body)
    return _guardrail(p, _data(p, resp, "POST /guardrails"))


async def set_models(p: Platform, guardrail_id: str, models: list[str]) -> Guardrail:
    """The guardrail's allowed models become exactly `models` (PATCH replaces arrays)."""
    resp = await p._send("PATCH", f"/guardrails/{guardrail_id}", json_body={"allowed_models": list(models)},
                         idempotent=True)
    return _guardrail(p, _data(p, resp, "PATCH /guardrails/{id}"))


async def delete_guardrail(p: Platform, guardrail_id: str) -> None:
    try:
        await p._send("DELETE", f"/guardrails/{guardrail_id}", idempotent=True)
    except NotFound:
        pass  # gone already: what was asked


async def assigned_keys(p: Platform, guardrail_id: str) -> set[str]:
    """The hashes of the keys that hold this guardrail."""
    rows = await _pages(p, f"/guardrails/{guardrail_id}/assignments/keys", "GET /guardrails/{id}/assignments/keys")
    return {str(r["key_hash"]) for r in rows if r.get("key_hash")}


async def assign_keys(p: Platform, guardrail_id: str, key_hashes: list[str]) -> None:
    """Each key holds this guardrail from now on (replacing the one it held), in batches."""
    for i in range(0, len(key_hashes), ASSIGN_BATCH):
        await p._send("POST", f"/guardrails/{guardrail_id}/assignments/keys",
                      json_body={"key_hashes": key_hashes[i:i + ASSIGN_BATCH]}, idempotent=True)


async def unassign_keys(p: Platform, guardrail_id: str, key_hashes: list[str]) -> None:
    for i in range(0, len(key_hashes), ASSIGN_BATCH):
        await p._send("POST", f"/guardrails/{guardrail_id}/assignments/keys/remove",
                      json_body={"key_hashes": key_hashes[i:i + ASSIGN_BATCH]}, idempotent=True)


async def workspace_names(p: Platform) -> dict[str, str]:
    """Workspace name -> id (and slug -> id); {} when the server has no workspaces."""
    try:
        rows = await _pages(p, "/workspaces", "GET /workspaces")
    except NotFound:
        return {}
    out: dict[str, str] = {}
    for r in rows:
        if r.get("id"):
            for field in ("slug", "name"):
                if isinstance(r.get(field), str):
                    out[clean_text(r[field], 200)] = str(r["id"])
    return out


def _data(p: Platform, resp: Any, what: str) -> Any:
    body = p._json(resp, what)
    if not isinstance(body, dict) or "data" not in body:
        raise MalformedResponse(f"{p.name} sent an unexpected reply to {what}.", platform=p.name)
    return body["data"]
