"""The LiteLLM proxy's wire format: virtual keys as `/key/*` sends them, read into `CappedKey`s; reset periods
<-> `budget_duration`; expiry -> `duration`; and the proxy's error bodies read into one short, safe line.

Nothing here sends a request: `litellm.LiteLLMPlatform` does. The facts are in its docstring.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from capit_tui.core.model import CappedKey, parse_time
from capit_tui.core.money import to_decimal
from capit_tui.core.redact import redact
from capit_tui.core.text import clean_text
from capit_tui.platforms.base import MalformedResponse

PAGE_SIZE = 100  # GET /key/list: `size` is 1..100 (the contract's maximum)
MAX_PAGES = 2_000  # 200 000 keys: past that a proxy is sending endless pages
CREATED_BY = "capit-tui"

# budget_duration <-> reset period. LiteLLM resets `1d`/`24h` at midnight, `7d` on Monday, `30d` on the 1st of
# the month (in litellm_settings.timezone; budget_reset_and_tz). capit-tui writes 1d/7d/30d; it reads the
# spellings that mean the same calendar window. Any other duration (`12h`, `2d`) is shown as it is.
DURATION_OF = {"daily": "1d", "weekly": "7d", "monthly": "30d"}
RESET_OF = {"1d": "daily", "24h": "daily", "7d": "weekly", "1w": "weekly", "30d": "monthly", "1mo": "monthly"}
_DURATION = re.compile(r"^\d{1,6}(s|m|h|d|w|mo)$")


def budget_duration(reset: str | None) -> str | None:
    """'daily' -> '1d', 'weekly' -> '7d', 'monthly' -> '30d', None (never) -> None."""
    return None if reset is None else DURATION_OF[reset]


def reset_of(duration: Any) -> str | None:
    """A key's `budget_duration` as capit-tui's reset period, or as it is when it is another window."""
    if duration is None or duration == "":
        return None
    text = clean_text(str(duration), 20).strip()
    return RESET_OF.get(text.lower(), text)


def expiry_duration(expires_at: datetime, now: datetime | None = None) -> str:
    """An expiry time as LiteLLM's `duration` (seconds from now, at least 1: "86400s")."""
    now = now or datetime.now(timezone.utc)
    return f"{max(1, int((expires_at - now).total_seconds()))}s"


def _money(value: Any, field: str, platform: str) -> Decimal | None:
    try:
        d = to_decimal(value)
    except (TypeError, ValueError):
        raise MalformedResponse(f"{platform} sent a {field} that is not a number.", platform=platform) from None
    if d is not None and not d.is_finite():
        raise MalformedResponse(f"{platform} sent a {field} that is not a number.", platform=platform)
    return d


def key_id(raw: dict[str, Any]) -> str | None:
    """The key's id: its hash (`token`; `token_id` in a /key/generate reply)."""
    for field in ("token", "token_id"):
        value = raw.get(field)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def to_key(raw: Any, platform: str, *, key_hash: str | None = None) -> CappedKey:
    """A virtual key object (from /key/list, /key/info's `info`, /key/generate) as a CappedKey.

    spend -> spend in the current window (LiteLLM resets it at `budget_reset_at`), max_budget -> cap,
    budget_duration -> reset, key_alias -> name, blocked -> disabled, expires -> expiry."""
    if not isinstance(raw, dict):
        raise MalformedResponse(f"{platform} sent a key capit-tui cannot read.", platform=platform)
    kid = key_hash or key_id(raw)
    if not kid:
        raise MalformedResponse(f"{platform} sent a key without its hash (token).", platform=platform)
    spend = _money(raw.get("spend"), "spend", platform) or Decimal(0)
    limit = _money(raw.get("max_budget"), "max_budget", platform)
    remaining = None if limit is None else max(limit - spend, Decimal(0))
    meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
    extra: dict[str, Any] = {
        "budget_duration": raw.get("budget_duration"),
        "budget_reset_at": raw.get("budget_reset_at"),
        "total_spend": raw.get("total_spend"),
        "models": raw.get("models") if isinstance(raw.get("models"), list) else [],
        "created_by": meta.get("created_by") if isinstance(meta, dict) else None,
        "key_masked": clean_text(raw.get("key_name") or "", 60),
    }
    try:
        return CappedKey(
            platform=platform,
            id=kid,
            name=str(raw.get("key_alias") or ""),
            label=str(raw.get("key_name") or ""),  # LiteLLM's own masked form of the secret, e.g. sk-...abcd
            disabled=bool(raw.get("blocked")),
            limit=limit,
            limit_reset=reset_of(raw.get("budget_duration")),
            limit_remaining=remaining,
            usage=spend,
            # One counter, reset at the window's end: it is the spend of the current window.
            usage_daily=spend,
            usage_weekly=spend,
            usage_monthly=spend,
            created_at=parse_time(raw.get("created_at")),
            updated_at=parse_time(raw.get("updated_at")),
            expires_at=parse_time(raw.get("expires")),
            last_used_at=parse_time(raw.get("last_active")),
            extra=extra,
        )
    except (TypeError, ValueError):
        raise MalformedResponse(f"{platform} sent a key with fields capit-tui cannot read.",
                                platform=platform) from None


def next_reset(key: CappedKey) -> datetime | None:
    """When the proxy next sets the key's spend back to 0 (`budget_reset_at`), if it says."""
    return parse_time(key.extra.get("budget_reset_at"))


def error_text(body: Any, *secrets: str) -> str:
    """The proxy's own words from an error body, short and safe: LiteLLM's `{"error": {"message", "type"}}`
    (ProxyException), FastAPI's `{"detail": "..."}` or `{"detail": [{"msg": ...}]}` (422)."""
    msg = ""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            msg = str(err.get("message") or "")
        elif isinstance(err, str):
            msg = err
        detail = body.get("detail")
        if not msg and isinstance(detail, str):
            msg = detail
        elif not msg and isinstance(detail, dict):
            inner = detail.get("error")
            msg = str(inner if inner is not None else detail.get("message") or "")
        elif not msg and isinstance(detail, list) and detail and isinstance(detail[0], dict):
            first = detail[0]
            loc = ".".join(str(p) for p in first.get("loc", []) if p != "body")
            msg = f"{loc}: {first.get('msg', '')}" if loc else str(first.get("msg", ""))
        if not msg and isinstance(body.get("message"), str):
            msg = body["message"]
    return clean_text(redact(" ".join(msg.split())[:200], *secrets), 200)


def error_type(body: Any) -> str:
    """LiteLLM's `error.type` (auth_error, budget_exceeded, not_found, bad_request_error, ...), or ''."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("type") or "")
    return ""
