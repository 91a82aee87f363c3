"""`GET /activity`: the account's inference, one row per UTC day, model and endpoint (and workspace with
`group_by=workspace`), for the last 30 completed UTC days — today's calls show from tomorrow on.

Every charged inference call is recorded here (`ActivityLog.record`) as running totals per row, so the
log grows with days x models, not with calls."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from capit_tui.sandbox.auth import refuse_unless_management
from capit_tui.sandbox.fields import workspace_param
from capit_tui.sandbox.state import ZERO
from capit_tui.sandbox.wire import Bad, Request, Resp, error, json_resp, num

if TYPE_CHECKING:
    from capit_tui.sandbox.server import Sandbox

PROVIDER = "CapitSandbox"
DAYS = 30
_ENDPOINTS = uuid.UUID("6b1d3c1e-0000-4000-8000-00000000ca91")


@dataclass
class Row:
    requests: int = 0
    usage: Decimal = ZERO
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class ActivityLog:
    """(day, key hash, workspace id, model) -> running totals."""

    rows: dict[tuple[date, str, str, str], Row] = field(default_factory=dict)

    def record(self, at: datetime, key_hash: str, workspace_id: str, model: str, *, cost: Decimal,
               prompt_tokens: int, completion_tokens: int) -> None:
        row = self.rows.setdefault((at.date(), key_hash, workspace_id, model), Row())
        row.requests += 1
        row.usage += cost
        row.prompt_tokens += prompt_tokens
        row.completion_tokens += completion_tokens

    def requests_on(self, day: date, key_hash: str, suffix: str) -> int:
        """Calls a key made on `day` to models whose id ends with `suffix` (":free" for the free-model quota)."""
        return sum(r.requests for (d, h, _, m), r in self.rows.items() if d == day and h == key_hash
                   and m.endswith(suffix))


def get_activity(sb: Sandbox, req: Request) -> Resp:
    store, query = sb.store, req.query
    with store.lock:
        refused = refuse_unless_management(sb, req.token)
        if refused is not None:
            return refused
        today = store.now().date()
        first = today - timedelta(days=DAYS)
        try:
            day = _date_param(query.get("date"), first, today)
            group = query.get("group_by") or None
            if group not in (None, "workspace"):
                raise Bad("group_by must be 'workspace'")
            ws = workspace_param(store, query["workspace_id"]) if query.get("workspace_id") else None
            key_hash = query.get("api_key_hash") or None
            if key_hash is not None and not re.fullmatch(r"[0-9a-f]{64}", key_hash):
                raise Bad("api_key_hash must be a SHA-256 hex string")
        except Bad as exc:
            return error(400, str(exc))
        if query.get("user_id") and query["user_id"] != store.user_id:
            return json_resp(200, {"data": []})
        totals: dict[tuple[date, str, str | None], Row] = {}
        for (d, h, w, model), row in sb.activity.rows.items():
            if not first <= d < today or (day is not None and d != day) or (ws is not None and w != ws) \
                    or (key_hash is not None and h != key_hash):
                continue
            t = totals.setdefault((d, model, w if group else None), Row())
            t.requests += row.requests
            t.usage += row.usage
            t.prompt_tokens += row.prompt_tokens
            t.completion_tokens += row.completion_tokens
        data = [_item(d, model, w, t) for (d, model, w), t in sorted(totals.items(), key=_order)]
        return json_resp(200, {"data": data})


def _order(item: tuple[tuple[date, str, str | None], Row]) -> tuple[int, str, str]:
    (d, model, w), _ = item
    return (-d.toordinal(), model, w or "")  # newest day first


def _item(d: date, model: str, workspace_id: str | None, t: Row) -> dict[str, Any]:
    item: dict[str, Any] = {
        "date": d.isoformat(), "model": model, "model_permaslug": model,
        "endpoint_id": str(uuid.uuid5(_ENDPOINTS, model)), "provider_name": PROVIDER,
        "usage": num(t.usage), "byok_usage_inference": 0, "requests": t.requests,
        "prompt_tokens": t.prompt_tokens, "completion_tokens": t.completion_tokens,
        "reasoning_tokens": 0, "cached_tokens": 0,
    }
    if workspace_id is not None:
        item["workspace_id"] = workspace_id
    return item


def _date_param(value: str | None, first: date, today: date) -> date | None:
    if not value:
        return None
    try:
        d = date.fromisoformat(value)
    except ValueError:
        raise Bad("date must be a UTC date as YYYY-MM-DD") from None
    if not first <= d < today:
        raise Bad(f"date must be one of the last {DAYS} completed UTC days")
    return d
