"""The nouns every part of capit-tui shares. Frozen dataclasses, Decimal money, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from capit_tui.core.money import CENT, format_usd, percent, to_json_number
from capit_tui.core.redact import mask
from capit_tui.core.text import clean_text


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()
"""An update field left alone (None means 'set to null', e.g. remove a cap)."""

_ZERO = Decimal(0)
_NEW_DICT: Any = object()  # CappedKey(extra=...) not given: a new dict for each key (the field's default_factory)

EXPIRES_SOON = timedelta(days=7)
"""A key expiring within this long is flagged (the Keys table, `keys list`)."""

RESETS = ("daily", "weekly", "monthly")
"""Reset periods a platform may enforce; None means the cap never resets (a lifetime total)."""


def parse_reset(text: str | None) -> str | None:
    """'daily'|'weekly'|'monthly' -> itself; 'never'|'none'|'total'|None -> None."""
    if text is None:
        return None
    t = text.strip().lower()
    if t in RESETS:
        return t
    if t in ("never", "none", "total", "lifetime", ""):
        return None
    raise ValueError(f"Unknown reset period {text!r}: use daily, weekly, monthly or never.")


def reset_label(reset: str | None) -> str:
    return reset if reset else "never"


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 from a platform ('2025-08-24T10:30:00Z', '...363244+00:00') or Unix seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            return None
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())  # Python 3.11 reads a trailing 'Z' itself
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt
    return None


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    if dt.tzinfo is not timezone.utc:  # what platforms send is UTC already: no conversion to make
        dt = dt.astimezone(timezone.utc)
    return dt.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Budget:
    """A cap: dollars (None = uncapped) and how often it resets (None = never)."""

    limit: Decimal | None
    reset: str | None = "monthly"

    def describe(self) -> str:
        """'$5.00 daily cap', '$5.00 cap that never resets', 'no cap'."""
        if self.limit is None:
            return "no cap"
        if self.reset is None:
            return f"{format_usd(self.limit)} cap that never resets"
        return f"{format_usd(self.limit)} {self.reset} cap"


@dataclass(frozen=True, init=False)
class CappedKey:
    """One API key on one platform, as the platform reports it. Holds no secret.

    Its `__init__` is written out below rather than generated: a frozen dataclass's sets each of its 20
    fields through `object.__setattr__`, half of the time it takes to build a key from a listing (10 000
    keys a `keys list`). Same parameters, order and defaults as the fields (a test compares them)."""

    platform: str
    id: str
    name: str
    label: str = ""
    disabled: bool = False
    limit: Decimal | None = None
    limit_reset: str | None = None
    limit_remaining: Decimal | None = None
    usage: Decimal = Decimal(0)
    usage_daily: Decimal = Decimal(0)
    usage_weekly: Decimal = Decimal(0)
    usage_monthly: Decimal = Decimal(0)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    workspace_id: str | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    """When the platform last charged a call to the key; None when it never has (or does not say)."""
    allowed_models: tuple[str, ...] | None = None
    """The key's own model allowlist (one-api/new-api tokens): None = any model (or the platform has no such
    list on its keys); () = none at all. OpenRouter's guardrails are not keys' fields and are not shown here."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __init__(self, platform: str, id: str, name: str, label: str = "", disabled: bool = False,
                 limit: Decimal | None = None, limit_reset: str | None = None,
                 limit_remaining: Decimal | None = None, usage: Decimal = _ZERO, usage_daily: Decimal = _ZERO,
                 usage_weekly: Decimal = _ZERO, usage_monthly: Decimal = _ZERO, created_at: datetime | None = None,
                 updated_at: datetime | None = None, workspace_id: str | None = None,
                 expires_at: datetime | None = None, last_used_at: datetime | None = None,
                 allowed_models: tuple[str, ...] | None = None, extra: Any = _NEW_DICT) -> None:
        vars(self).update(
            platform=platform, id=id, name=name, label=label, disabled=disabled, limit=limit,
            limit_reset=limit_reset, limit_remaining=limit_remaining, usage=usage, usage_daily=usage_daily,
            usage_weekly=usage_weekly, usage_monthly=usage_monthly, created_at=created_at, updated_at=updated_at,
            workspace_id=workspace_id, expires_at=expires_at, last_used_at=last_used_at,
            allowed_models=allowed_models, extra={} if extra is _NEW_DICT else extra)
        self.__post_init__()

    def __post_init__(self) -> None:
        # Every string here came from a platform: cleaned once, so no front end can print an escape.
        d = vars(self)
        for name in ("platform", "id", "name", "label", "limit_reset", "workspace_id"):
            value = d[name]
            if value is not None:
                cleaned = clean_text(value, 200)
                if cleaned != value:
                    d[name] = cleaned
        if self.allowed_models is not None:
            d["allowed_models"] = tuple(clean_text(m, 200) for m in self.allowed_models)

    def order(self) -> tuple[str, float, str, str]:
        """Where the key sorts in a listing: by platform, newest first, then name and id. Made once per key
        (the listing's own sort makes it, and the app's table reads it again for every key it loads)."""
        d = vars(self)
        found = d.get("_order")
        if found is None:
            created = self.created_at
            found = d["_order"] = (self.platform, -(created.timestamp() if created else 0), self.name, self.id)
        return found

    @property
    def budget(self) -> Budget:
        return Budget(self.limit, self.limit_reset)

    @property
    def spent(self) -> Decimal:
        """Spend that counts against the cap now: the current window's.

        `limit - limit_remaining` when both are known (what the platform itself enforces), else the
        usage of the reset window (lifetime usage for a cap that never resets).
        """
        if self.limit is not None and self.limit_remaining is not None:
            if self.limit_remaining <= 0:
                # the platform floors what remains at 0, but the last request overshoots the cap: the
                # window's usage says by how much (a $1 key can have spent $1.20)
                return max(self.limit - self.limit_remaining, self.window_usage)
            spent = self.limit - self.limit_remaining
            return spent if spent > 0 else Decimal(0)
        return self.window_usage

    @property
    def remaining(self) -> Decimal | None:
        """What is left of the cap, derived from the spend as shown (rounded once, to the cent), so the
        two shown side by side add up to the cap; negative when the key overshot it."""
        if self.limit is None:
            return None
        return self.limit - self.spent.quantize(CENT, rounding=ROUND_HALF_UP)

    @property
    def over_cap(self) -> bool:
        return self.limit is not None and self.spent > self.limit

    @property
    def window_usage(self) -> Decimal:
        return {
            "daily": self.usage_daily,
            "weekly": self.usage_weekly,
            "monthly": self.usage_monthly,
        }.get(self.limit_reset or "", self.usage)

    @property
    def percent(self) -> Decimal | None:
        return percent(self.spent, self.limit)

    def is_expired(self, now: datetime | None = None) -> bool:
        """Past its `expires_at`: the platform refuses it, whatever its cap (it cannot be re-enabled)."""
        return self.expires_at is not None and (now or datetime.now(timezone.utc)) >= self.expires_at

    @property
    def expired(self) -> bool:
        return self.is_expired()

    def expires_soon(self, now: datetime | None = None, within: timedelta = EXPIRES_SOON) -> bool:
        """Not expired yet, but it will be within `within` (7 days): the front ends flag it."""
        now = now or datetime.now(timezone.utc)
        return self.expires_at is not None and not self.is_expired(now) and self.expires_at - now <= within

    def flagged_status(self, now: datetime | None = None) -> str:
        """The status a table shows: 'expiring' for an active key that expires within 7 days, else `status_at`."""
        s = self.status_at(now)
        return "expiring" if s == "active" and self.expires_soon(now) else s

    def unused_for(self, age: timedelta, now: datetime | None = None) -> bool:
        """Not used in the last `age`: never used, or last used that long ago or longer."""
        if self.last_used_at is None:
            return True
        return (now or datetime.now(timezone.utc)) - self.last_used_at >= age

    @property
    def status(self) -> str:
        """'expired', 'disabled', 'capped' or 'active': the word every front end shows for the key."""
        return self.status_at(None)

    def status_at(self, now: datetime | None) -> str:
        """The status as of `now` (a front end with its own clock passes it; None = the real time)."""
        return self._status(self.is_expired(now), self.spent)

    def _status(self, expired: bool, spent: Decimal) -> str:
        if expired:
            return "expired"
        if self.disabled:
            return "disabled"
        if self.limit is not None and spent >= self.limit:
            return "capped"
        return "active"

    def to_json(self) -> dict[str, Any]:
        spent = self.spent  # worked out once here (status, percent and over_cap each asked for it again)
        expired = self.is_expired()  # one clock reading for "status" and "expired"
        limit = self.limit
        return {
            "platform": self.platform,
            "id": self.id,
            "name": self.name,
            "label": self.label,
            "disabled": self.disabled,
            "status": self._status(expired, spent),
            "limit": to_json_number(limit),
            "limit_reset": self.limit_reset,
            "limit_remaining": to_json_number(self.limit_remaining),
            "spent": to_json_number(spent),
            "percent": to_json_number(percent(spent, limit)),
            "over_cap": limit is not None and spent > limit,
            "usage": to_json_number(self.usage),
            "usage_daily": to_json_number(self.usage_daily),
            "usage_weekly": to_json_number(self.usage_weekly),
            "usage_monthly": to_json_number(self.usage_monthly),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "workspace_id": self.workspace_id,
            "expires_at": iso(self.expires_at),
            "expired": expired,
            "last_used_at": iso(self.last_used_at),
        }


@dataclass(frozen=True)
class IssuedKey:
    """A key just created: the only moment its secret exists in capit-tui's hands."""

    secret: str = field(repr=False)
    key: CappedKey

    def __repr__(self) -> str:  # never let a traceback or a log line show the secret
        return f"IssuedKey(secret={mask(self.secret)!r}, key={self.key!r})"


@dataclass(frozen=True)
class KeyInfo:
    """What a platform says about the key we hold (GET /key): is it a management key?"""

    is_management_key: bool
    label: str = ""
    limit: Decimal | None = None
    usage: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", clean_text(self.label, 200))  # the platform's text, cleaned once


@dataclass(frozen=True)
class Balance:
    """Account credit: what was bought and what was used (None when a platform does not say)."""

    total_credits: Decimal | None
    total_usage: Decimal | None

    @property
    def remaining(self) -> Decimal | None:
        if self.total_credits is None or self.total_usage is None:
            return None
        return self.total_credits - self.total_usage
