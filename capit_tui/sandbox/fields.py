"""The parsers every management endpoint shares: query parameters and body fields checked the way
OpenRouter checks them, each refusing with `Bad` (a 400) and the message it answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from capit_tui.core.model import RESETS, parse_time
from capit_tui.sandbox.state import Store
from capit_tui.sandbox.wire import Bad


def workspace_param(store: Store, value: Any) -> str:
    if value is None or value == "":
        return store.default_workspace_id
    if not is_uuid(value):
        raise Bad("workspace_id must be a UUID")
    if not store.has_workspace(value):
        raise Bad(f"Workspace {value} not found")
    return value


def is_uuid(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def limit_field(value: Any, name: str = "limit") -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Bad(f"{name} must be a number or null")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise Bad(f"{name} must be a number or null") from None
    if not d.is_finite() or d < 0:
        raise Bad(f"{name} must be a number >= 0 or null")
    return d


def reset_field(value: Any, name: str = "limit_reset") -> str | None:
    if value is None:
        return None
    if value not in RESETS:
        raise Bad(f"{name} must be one of daily, weekly, monthly or null")
    return value


def bool_field(body: dict[str, Any], name: str, *, default: bool) -> bool:
    if name not in body:
        return default
    if not isinstance(body[name], bool):
        raise Bad(f"{name} must be a boolean")
    return body[name]


def expiry_field(value: Any, now: datetime) -> datetime:
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


def bool_query(query: dict[str, str], name: str) -> bool:
    """A boolean query parameter ('true' | 'false', default false)."""
    value = query.get(name, "false").strip().lower()
    if value not in ("true", "false"):
        raise Bad(f"{name} must be 'true' or 'false'")
    return value == "true"


def optional_str(body: dict[str, Any], name: str, *, max_len: int = 1000) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise Bad(f"{name} must be a string of at most {max_len} characters or null")
    return value


def str_list(body: dict[str, Any], name: str, *, choices: tuple[str, ...] | None = None) -> list[str] | None:
    """A list of non-empty strings (or null); `choices` limits what each may be."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise Bad(f"{name} must be an array of non-empty strings or null")
    if choices is not None and any(v not in choices for v in value):
        raise Bad(f"{name} may hold only {', '.join(choices)}")
    return list(value)


def external_field(value: Any) -> str | None:
    """POST /keys `external`: {user, api_key?}, a reference to the user in the caller's own system."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("user"), str) or not value["user"].strip():
        raise Bad("external must be an object with a non-empty string user")
    if "api_key" in value and not isinstance(value["api_key"], str):
        raise Bad("external.api_key must be a string")
    if len(value["user"]) > 256:
        raise Bad("external.user must be at most 256 characters")
    return value["user"]
