"""The budgets `GET /key` reports for a key: its own limit (scope `key_limit`) and the budget of the
guardrail assigned to it (scope `api_key`, with the guardrail's id), each with what was spent in its
window and when that window resets; the effective budget is the one with the least left."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from capit_tui.sandbox.state import ZERO, SandboxKey, window_start
from capit_tui.sandbox.wire import num


def resets_at(reset: str | None, now: datetime) -> datetime | None:
    """When the current window ends (midnight UTC; weeks start Monday); None for a limit that never resets."""
    if reset is None:
        return None
    start = window_start(reset, now)
    if reset == "daily":
        return start + timedelta(days=1)
    if reset == "weekly":
        return start + timedelta(days=7)
    return (start + timedelta(days=32)).replace(day=1)


def _spend(key: SandboxKey, reset: str | None, now: datetime) -> Decimal:
    daily, weekly, monthly = key.windows(now)
    return {"daily": daily, "weekly": weekly, "monthly": monthly}.get(reset or "", key.usage)


def _budget(scope: str, limit: Decimal, reset: str | None, spent: Decimal, now: datetime, *,
            include_byok: bool, guardrail_id: str | None) -> dict[str, Any]:
    left = limit - spent
    return {
        "scope": scope,
        "limit_usd": num(limit),
        "spend_usd": num(spent),
        "remaining_usd": num(left if left > 0 else ZERO),
        "reset_interval": reset,
        "resets_at": resets_at(reset, now),
        "include_byok": include_byok,
        "guardrail_id": guardrail_id,
        "budget_id": None,
    }


def key_budgets(key: SandboxKey, guardrail: Mapping[str, Any] | None, now: datetime) -> list[dict[str, Any]]:
    """Every budget that applies to `key` now, its own limit first."""
    out: list[dict[str, Any]] = []
    if key.limit is not None:
        out.append(_budget("key_limit", key.limit, key.limit_reset, key.window_spend(now), now,
                           include_byok=key.include_byok_in_limit, guardrail_id=None))
    if guardrail is not None and guardrail.get("limit_usd") is not None:
        reset = guardrail.get("reset_interval")
        out.append(_budget("api_key", Decimal(str(guardrail["limit_usd"])), reset, _spend(key, reset, now), now,
                           include_byok=bool(guardrail.get("include_byok_in_budgets")),
                           guardrail_id=str(guardrail["id"])))
    return out


def effective_budget(budgets: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The budget that binds: the one with the least left (the first such, so the key's own on a tie)."""
    if not budgets:
        return None
    return min(budgets, key=lambda b: Decimal(str(b["remaining_usd"])))
