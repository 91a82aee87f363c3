"""The one-api / new-api wire format: tokens as the `/api/token/` API sends them, read into `CappedKey`s;
dollars <-> quota units; reply pages; and the gateways' error messages mapped to typed errors.

Nothing here sends a request. `oneapi.OneApiPlatform` sends the requests and passes in what these
need to know about it (its name, its quota units per dollar, where its keys are managed).
The source facts behind all this are in `oneapi`'s docstring.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from decimal import ROUND_DOWN, Decimal
from typing import Any

from capit_tui.core.model import CappedKey, parse_time
from capit_tui.core.money import format_usd, to_decimal
from capit_tui.core.redact import mask, redact
from capit_tui.platforms.base import (
    AuthRejected,
    BadRequest,
    Forbidden,
    MalformedResponse,
    NotFound,
    NotManagementKey,
    PlatformError,
)

TOKEN_PATH = "/api/token/"
MAX_NAME_BYTES = 30  # one-api `validateToken`: Go's len(), so bytes of UTF-8, not characters
PAGE_SIZE = 100  # asked for; one-api ignores it (fixed ItemsPerPage, 10), new-api caps it at 100
MAX_PAGES = 1000

STATUS_ENABLED = 1
STATUS_DISABLED = 2
STATUS_EXPIRED = 3
STATUS_EXHAUSTED = 4

_LONG_RUN = re.compile(r"[A-Za-z0-9]{32,}")

Page = tuple[list[dict[str, Any]], int | None, int | None]
"""A page of tokens: the tokens, the `total` the gateway reports (if any), the page it says it served."""

# ------------------------------------------------------------ numbers


def as_int(value: Any, default: int = 0) -> int:
    if value is None or isinstance(value, bool):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(Decimal(str(value)))
        except Exception:
            return default


def opt_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def to_units(limit: Any, quota: Decimal, platform: str) -> int:
    """A cap in dollars as whole quota units (rounded down); BadRequest if it is not a positive amount."""
    try:
        dollars = to_decimal(limit)
    except (TypeError, ValueError):
        raise BadRequest(f"The cap {limit!r} is not an amount in dollars.", platform=platform) from None
    if dollars is None or dollars <= 0:
        raise BadRequest(
            f"A cap on {platform} must be above $0; ask for no cap to make an unlimited key.",
            platform=platform)
    units = int((dollars * quota).to_integral_value(rounding=ROUND_DOWN))
    if units <= 0:
        raise BadRequest(f"The cap {format_usd(dollars)} is below one quota unit on {platform}.",
                         platform=platform)
    return units


def to_usd(units: Any, field: str, quota: Decimal, platform: str) -> Decimal:
    """Quota units from a reply as dollars; MalformedResponse if they are not a number."""
    if units is None:
        return Decimal(0)
    try:
        value = to_decimal(units)
    except (TypeError, ValueError):
        raise MalformedResponse(f"{platform} sent a {field} that is not a number.",
                                platform=platform) from None
    assert value is not None
    return value / quota


# ------------------------------------------------------------ checks on what we send


def check_name(name: Any, platform: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BadRequest(f"A key on {platform} needs a name.", platform=platform)
    name = name.strip()
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise BadRequest(
            f"The key name {name[:40]!r} is too long for {platform}: one-api gateways allow "
            f"{MAX_NAME_BYTES} bytes (30 plain letters). Choose a shorter name.", platform=platform)
    return name


def check_models(models: Sequence[str], platform: str) -> tuple[str, ...]:
    """A model allowlist as the gateway stores it (one comma list): each name trimmed, no blanks, no commas."""
    names = tuple(dict.fromkeys(str(m).strip() for m in models))
    if not names or any(not m or "," in m for m in names):
        raise BadRequest(f"A key's model list on {platform} needs one or more model names, none blank and none "
                         "with a comma in it.", platform=platform)
    return names


def token_id(key_id: Any, platform: str) -> int:
    s = str(key_id).strip()
    if not s.isdigit() or int(s) <= 0:
        raise NotFound(f"{platform} has no key with id {s[:40]!r}: one-api key ids are numbers.",
                       platform=platform)
    return int(s)


# ------------------------------------------------------------ tokens


def parse_page(data: Any) -> Page | None:
    """The tokens in a listing reply (a paged `{items, total, page}`, a plain list, or null); None if malformed."""
    total = served = None
    if isinstance(data, dict) and "items" in data and isinstance(data["items"], list | type(None)):
        items = data.get("items") or []
        total = opt_int(data.get("total"))
        served = opt_int(data.get("page"))
    elif isinstance(data, list):
        items = data
    elif data is None:
        items = []
    else:
        return None
    if not all(isinstance(t, dict) and t.get("id") is not None for t in items):
        return None
    return items, total, served


async def follow_pages(fetch: Callable[[int], Awaitable[Page]], platform: str) -> list[dict[str, Any]]:
    """Every token, asking `fetch` for page after page until the gateway has nothing new to give.

    The rule, because one-api family servers page differently and say little about it:
      * ask for `p` (one-api: 0-based page) plus `size`, `page_size` and `num` = 100 (one-api
        ignores them and serves its fixed ItemsPerPage, 10; new-api honours `size`/`page_size`
        up to 100; AIHubMix documents `num`);
      * a paged reply `{items, total, page}` (newer new-api, 1-based `p`) is followed from the
        page it says it served, until `total` ids are seen or a page is empty;
      * a plain list is followed with p = 0, 1, 2, ... until a page is empty, shorter than the
        first page, or brings no id not already seen (a server that ignores `p`). If p=1 repeats
        p=0 exactly, the server counts from 1 (it read p=0 as 1), so carry on from p=2.
    Ids are de-duplicated, so a key created while paging (which shifts the newest-first pages)
    is not listed twice.
    """
    seen: dict[str, dict[str, Any]] = {}
    p = 0
    first_len: int | None = None
    first_ids: list[str] | None = None
    probed = False
    for _ in range(MAX_PAGES):
        items, total, served = await fetch(p)
        ids = [str(t["id"]) for t in items]
        new = [t for t, i in zip(items, ids, strict=True) if i not in seen]
        for t in new:
            seen[str(t["id"])] = t
        if not items or not new:
            if (total is None and p == 1 and not probed and first_ids is not None
                    and ids == first_ids and items):
                probed, p = True, 2
                continue
            break
        if total is not None:
            if len(seen) >= total:
                break
            p = (served if served is not None else p) + 1
            continue
        if first_len is None:
            first_len, first_ids = len(items), ids
        elif len(items) < first_len:
            break
        p += 1
    else:
        raise MalformedResponse(
            f"{platform} kept sending pages of keys after {MAX_PAGES} pages; capit-tui stopped "
            "listing. Check the base URL, or delete unused keys.", platform=platform)
    return list(seen.values())


def matches(t: dict[str, Any], name: str, remain: int, unlimited: bool) -> bool:
    """Whether token `t` looks like the one a create with these fields just made."""
    if t.get("name") != name or bool(t.get("unlimited_quota")) != unlimited:
        return False
    return unlimited or as_int(t.get("remain_quota")) + as_int(t.get("used_quota")) == remain


def _split(value: Any) -> tuple[str, ...]:
    if not isinstance(value, str):
        return ()
    return tuple(dict.fromkeys(m.strip() for m in value.split(",") if m.strip()))


def is_new_api_token(t: dict[str, Any]) -> bool:
    """Whether a token as read has new-api's model fields (`model_limits*`) rather than one-api's `models`."""
    return "model_limits_enabled" in t or "model_limits" in t


def token_models(t: dict[str, Any]) -> tuple[str, ...] | None:
    """The token's model allowlist; None = any model.

    one-api: `models`, a comma list, empty or null = any model (middleware TokenAuth `isModelInList`).
    new-api: `model_limits` (a comma list) counts only when `model_limits_enabled`; enabled and empty = no
    model at all (middleware/distributor.go: "该令牌无权访问任何模型")."""
    if is_new_api_token(t):
        return _split(t.get("model_limits")) if t.get("model_limits_enabled") else None
    return _split(t.get("models")) or None


def set_models(body: dict[str, Any], models: Sequence[str] | None, new_api: bool) -> None:
    """Write an allowlist (None = any model) into a create or PUT body, in one-api's or new-api's shape."""
    joined = ",".join(models or ())
    if new_api:
        body["model_limits_enabled"] = bool(models)
        body["model_limits"] = joined
    else:
        body["models"] = joined


def same_models(a: Sequence[str] | None, b: Sequence[str] | None) -> bool:
    return (a is None) == (b is None) and set(a or ()) == set(b or ())


def put_body(token: dict[str, Any]) -> dict[str, Any]:
    """The token as read, for a full PUT: every field kept, the secret left out."""
    body = {k: v for k, v in token.items() if k != "key"}
    return body


def plain_key(t: dict[str, Any]) -> str | None:
    """The token's secret as an `sk-` key, or None when it is missing or masked."""
    key = t.get("key")
    if not isinstance(key, str) or not key.strip() or "*" in key or "…" in key:
        return None
    key = key.strip()
    return key if key.startswith("sk-") else "sk-" + key


def token_to_key(t: dict[str, Any], platform: str, quota: Decimal) -> CappedKey:
    remain = as_int(t.get("remain_quota"))
    used_units = as_int(t.get("used_quota"))
    unlimited = bool(t.get("unlimited_quota"))
    status = as_int(t.get("status"), default=STATUS_ENABLED)
    used = to_usd(used_units, "used_quota", quota, platform)
    key = t.get("key")
    label = ""
    if isinstance(key, str) and key:
        label = mask(key if key.startswith("sk-") else "sk-" + key)
    # Status 4 (exhausted) on a capped key is the cap at work: report it as capped (the model
    # derives that from the numbers), not as switched off. Any other status but 1 is off.
    capped_out = not unlimited and remain <= 0
    disabled = status != STATUS_ENABLED and not (status == STATUS_EXHAUSTED and capped_out)
    extra = {k: v for k, v in t.items() if k != "key"}
    extra["key_masked"] = label
    return CappedKey(
        platform=platform,
        id=str(t.get("id")),
        name=str(t.get("name") or ""),
        label=label,
        disabled=disabled,
        limit=None if unlimited else to_usd(remain + used_units, "remain_quota", quota, platform),
        limit_reset=None,
        limit_remaining=None if unlimited else to_usd(remain, "remain_quota", quota, platform),
        usage=used,
        # one-api keeps one lifetime counter per token: there are no daily/weekly/monthly
        # windows, so each window shows the lifetime spend.
        usage_daily=used,
        usage_weekly=used,
        usage_monthly=used,
        created_at=parse_time(t.get("created_time")),
        updated_at=None,
        expires_at=parse_time(as_int(t.get("expired_time"), default=-1)),  # -1: never (parse_time: None)
        allowed_models=token_models(t),
        extra=extra,
    )


# ------------------------------------------------------------ errors


def server_text(message: str, management_key: str) -> str:
    """The gateway's own words, short, with our token and anything key-shaped masked."""
    text = redact(" ".join(message.split())[:200], management_key)
    return _LONG_RUN.sub(lambda m: mask(m.group(0)), text)


def auth_error(detail: str, *, platform: str, user_id: str | None, management_key: str,
               manage_url: str) -> PlatformError:
    """The error for a rejected token (or new-api user id), saying what to fix."""
    said = f" ({detail})" if detail else ""
    if "new-api-user" in detail.lower():
        if user_id is None:
            return AuthRejected(
                f"{platform} is a new-api gateway and wants your numeric user id with the token{said}. "
                "Add the user id from your profile page to this platform's settings.", platform=platform)
        return AuthRejected(
            f"{platform} did not accept user id {user_id} with this token{said}. "
            "Check the user id on your profile page.", platform=platform)
    if management_key.startswith("sk-"):
        return NotManagementKey(
            f"{platform} rejected the management key{said}: an sk- key is for models, not for "
            f"managing keys. Generate a system access token on {manage_url}.", platform=platform)
    return AuthRejected(
        f"{platform} rejected the system access token{said}. "
        f"Generate a new one with “Generate System Access Token” on {manage_url}.", platform=platform)


def business_error(detail: str, what: str, *, platform: str, user_id: str | None, management_key: str,
                   manage_url: str) -> PlatformError:
    """The error for a `success: false` reply, from the gateway's (already masked) message `detail`."""
    low = detail.lower()
    said = f" ({detail})" if detail else ""
    if "权限不足" in detail or "封禁" in detail or "banned" in low or "permission" in low:
        return Forbidden(f"{platform} refused {what}{said}. The account may be limited or disabled.",
                         platform=platform)
    if ("无权" in detail or "未登录" in detail or "access token" in low or "new-api-user" in low
            or "unauthorized" in low or "not logged in" in low):
        return auth_error(detail, platform=platform, user_id=user_id, management_key=management_key,
                          manage_url=manage_url)
    if ("not found" in low or "不存在" in detail or "not exist" in low or "为空" in detail
            or "no such" in low):
        return NotFound(f"{platform} found no such key while {what}{said}.", platform=platform)
    if "用尽" in detail or "exhausted" in low:
        return BadRequest(
            f"{platform} refused {what}: the key has used up its cap{said}. Raise the cap first.",
            platform=platform)
    if "过期" in detail or "expired" in low:
        return BadRequest(
            f"{platform} refused {what}: the key has expired{said}. Change its expiry on "
            f"{manage_url} first.", platform=platform)
    if "名称过长" in detail or "too long" in low:
        return BadRequest(
            f"{platform} refused {what}: the key name is too long{said}. Use at most "
            f"{MAX_NAME_BYTES} letters.", platform=platform)
    return BadRequest(f"{platform} refused {what}{said or ' without saying why'}.",
                      platform=platform, status=200)
