"""What every endpoint takes and gives back: the parsed `Request`, the reply (`Resp`: JSON, an error in
OpenRouter's or Anthropic's shape, a stream, or a dropped connection), the JSON encoding, and the error
messages worded as OpenRouter words them. The bottom layer of the sandbox: it imports no other room."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from capit_tui.core.model import iso
from capit_tui.core.money import to_json_number

API_PREFIX = "/api/v1"
ADMIN_PREFIX = "/_sandbox"

# Messages as OpenRouter words them (reference/openrouter-api.md §3, §7).
MSG_MISSING_AUTH = "Missing Authentication header"
MSG_USER_NOT_FOUND = "User not found."
MSG_NOT_MANAGEMENT = "Only management keys can perform this operation"
MSG_MANAGEMENT_INFERENCE = "Management keys cannot be used for inference. Use an API key instead."

_STATUS_TEXT = {
    400: "Invalid request parameters",
    401: MSG_USER_NOT_FOUND,
    403: "Forbidden",
    404: "Resource not found",
    405: "Method not allowed",
    429: "Rate limit exceeded",
    500: "Internal Server Error",
    502: "Provider returned error",
    503: "Service temporarily unavailable",
}
_ANTHROPIC_ERROR_TYPE = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
}


def num(value: Decimal | None) -> int | float | None:
    return to_json_number(value)


def json_default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return to_json_number(o)
    if isinstance(o, datetime):
        return iso(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=json_default).encode("utf-8")


@dataclass(frozen=True)
class Request:
    """One request as the endpoints see it: `token` is the credential it carries, if any, and
    `params` the path parameters the router matched (the hash in `/keys/{hash}`)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    body: Any
    bad_json: bool
    token: str | None
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Resp:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterable[bytes] | None = None
    close: str | None = None  # "drop" | "reset": no response at all


def json_resp(status: int, obj: Any, headers: dict[str, str] | None = None) -> Resp:
    return Resp(status, dumps(obj), {"Content-Type": "application/json", **(headers or {})})


def error(status: int, message: str | None = None, *, anthropic: bool = False,
          headers: dict[str, str] | None = None) -> Resp:
    msg = message or _STATUS_TEXT.get(status, "Error")
    if anthropic:
        body: dict[str, Any] = {
            "type": "error",
            "error": {"type": _ANTHROPIC_ERROR_TYPE.get(status, "api_error"), "message": msg, "code": status},
        }
    else:
        body = {"error": {"code": status, "message": msg}}
    return json_resp(status, body, headers)


class Bad(Exception):
    """A request we refuse with 400 and this message."""


def int_param(value: str | None, name: str, *, default: int, minimum: int | None = None,
              maximum: int | None = None) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise Bad(f"{name} must be an integer") from None
    if minimum is not None and n < minimum:
        raise Bad(f"{name} must be >= {minimum}")
    if maximum is not None and n > maximum:
        raise Bad(f"{name} must be <= {maximum}")
    return n
