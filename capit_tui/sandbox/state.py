"""What the sandbox holds: the `Store` of one account's keys and workspaces (behind one lock, dated by
one injectable clock), each `SandboxKey` with its spend per reset window, the window arithmetic
(`window_start`, day/week/month buckets) and how secrets become hashes and labels."""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from capit_tui.core.model import iso
from capit_tui.sandbox.wire import num

ZERO = Decimal(0)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def key_label(secret: str) -> str:
    """'sk-or-v1-abc...123': the masked label OpenRouter shows for a key."""
    body = secret[len("sk-or-v1-"):] if secret.startswith("sk-or-v1-") else secret
    return f"sk-or-v1-{body[:3]}...{body[-3:]}"


def new_secret(rng: random.Random) -> str:
    return "sk-or-v1-" + f"{rng.getrandbits(256):064x}"


def _day(t: datetime) -> date:
    return t.date()


def _week(t: datetime) -> date:
    d = t.date()
    return d - timedelta(days=d.weekday())


def _month(t: datetime) -> tuple[int, int]:
    return (t.year, t.month)


def window_start(reset: str | None, now: datetime, created: datetime | None = None) -> datetime:
    """Start of the current reset window (midnight UTC; weeks start Monday); lifetime = created."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if reset == "daily":
        return midnight
    if reset == "weekly":
        return midnight - timedelta(days=now.weekday())
    if reset == "monthly":
        return midnight.replace(day=1)
    return created if created is not None else datetime.min.replace(tzinfo=timezone.utc)


@dataclass
class SandboxKey:
    """One inference key. Spend is kept as running totals per window bucket (no event log), so
    listing 10 000 keys costs one dict per key; a window that is not the current one reads as 0."""

    hash: str
    name: str
    label: str
    workspace_id: str
    created_at: datetime
    seq: int
    disabled: bool = False
    limit: Decimal | None = None
    limit_reset: str | None = None
    include_byok_in_limit: bool = False
    updated_at: datetime | None = None
    expires_at: datetime | None = None
    creator_user_id: str | None = None
    external_user: str | None = None
    last_used_at: datetime | None = None
    usage: Decimal = ZERO
    day: date | None = None
    day_usage: Decimal = ZERO
    week: date | None = None
    week_usage: Decimal = ZERO
    month: tuple[int, int] | None = None
    month_usage: Decimal = ZERO

    def charge(self, amount: Decimal, at: datetime) -> None:
        """Add spend made at `at` (a use of the key: `last_used_at` moves up to it). Spend older than a
        window's bucket counts only toward older totals."""
        self.usage += amount
        if self.last_used_at is None or at > self.last_used_at:
            self.last_used_at = at
        d, w, m = _day(at), _week(at), _month(at)
        if self.day == d:
            self.day_usage += amount
        elif self.day is None or d > self.day:
            self.day, self.day_usage = d, amount
        if self.week == w:
            self.week_usage += amount
        elif self.week is None or w > self.week:
            self.week, self.week_usage = w, amount
        if self.month == m:
            self.month_usage += amount
        elif self.month is None or m > self.month:
            self.month, self.month_usage = m, amount

    def windows(self, now: datetime) -> tuple[Decimal, Decimal, Decimal]:
        """(daily, weekly, monthly) spend as of `now`."""
        return (
            self.day_usage if self.day == _day(now) else ZERO,
            self.week_usage if self.week == _week(now) else ZERO,
            self.month_usage if self.month == _month(now) else ZERO,
        )

    def window_spend(self, now: datetime) -> Decimal:
        daily, weekly, monthly = self.windows(now)
        return {"daily": daily, "weekly": weekly, "monthly": monthly}.get(self.limit_reset or "", self.usage)

    def remaining(self, now: datetime) -> Decimal | None:
        if self.limit is None:
            return None
        left = self.limit - self.window_spend(now)
        return left if left > 0 else ZERO

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def to_api(self, now: datetime) -> dict[str, Any]:
        daily, weekly, monthly = self.windows(now)
        return {
            "hash": self.hash,
            "name": self.name,
            "label": self.label,
            "disabled": self.disabled,
            "limit": num(self.limit),
            "limit_remaining": num(self.remaining(now)),
            "limit_reset": self.limit_reset,
            "include_byok_in_limit": self.include_byok_in_limit,
            "usage": num(self.usage),
            "usage_daily": num(daily),
            "usage_weekly": num(weekly),
            "usage_monthly": num(monthly),
            "byok_usage": 0,
            "byok_usage_daily": 0,
            "byok_usage_weekly": 0,
            "byok_usage_monthly": 0,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "expires_at": iso(self.expires_at),
            "creator_user_id": self.creator_user_id,
            "external_user": self.external_user,
            "last_used_at": iso(self.last_used_at),
            "workspace_id": self.workspace_id,
        }


class Store:
    """One account: its user id, workspaces and keys, and the spend charged to them.

    `lock` (re-entrant) guards all of it, and the sandbox's request log too; `now()` reads the clock,
    which is injectable and read afresh on every call. `ids` and `secrets` are the seeded randomness
    for new workspace/generation ids and new key secrets; `mint(rng)` makes every new key's secret.
    """

    def __init__(self, seed: int, clock: Callable[[], datetime] | None = None,
                 mint: Callable[[random.Random], str] = new_secret):
        self.lock = threading.RLock()
        self.clock: Callable[[], datetime] = clock or utcnow
        self.mint = mint
        self.keys: dict[str, SandboxKey] = {}
        self.workspaces: list[dict[str, Any]] = []
        self.total_usage = ZERO
        self.ids = random.Random(f"{seed}:ids")
        self.secrets = random.Random(f"{seed}:secrets")
        self._order: dict[str, list[SandboxKey]] | None = None  # per workspace, newest first
        self._seq = 0
        rng = random.Random(f"{seed}:account")
        self.user_id = "user_" + "".join(rng.choice("0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyz")
                                         for _ in range(27))

    # ------------------------------------------------------------ clock

    def set_clock(self, fn: Callable[[], datetime] | None) -> None:
        with self.lock:
            self.clock = fn or utcnow

    def now(self) -> datetime:
        t = self.clock()
        if t.tzinfo is None:
            t = t.replace(tzinfo=timezone.utc)
        return t.astimezone(timezone.utc)

    # ------------------------------------------------------------ keys

    def insert(self, secret: str, *, name: str, limit: Decimal | None, reset: str | None, disabled: bool,
               workspace_id: str, created_at: datetime, updated_at: datetime | None = None,
               expires_at: datetime | None = None, creator_user_id: str | None = None,
               include_byok_in_limit: bool = False, external_user: str | None = None) -> SandboxKey:
        self._seq += 1
        key = SandboxKey(
            hash=sha256_hex(secret), name=name, label=key_label(secret), workspace_id=workspace_id,
            created_at=created_at, seq=self._seq, disabled=disabled, limit=limit, limit_reset=reset,
            include_byok_in_limit=include_byok_in_limit, updated_at=updated_at, expires_at=expires_at,
            creator_user_id=creator_user_id or self.user_id, external_user=external_user,
        )
        self.keys[key.hash] = key
        self._order = None
        return key

    def delete(self, key_hash: str) -> None:
        del self.keys[key_hash]
        self._order = None

    def moved(self) -> None:
        """A key changed workspace: the per-workspace order is rebuilt on the next listing."""
        self._order = None

    def charge(self, key: SandboxKey, amount: Decimal, at: datetime) -> None:
        key.charge(amount, at)
        self.total_usage += amount

    def ordered(self, workspace_id: str) -> list[SandboxKey]:
        """A workspace's keys, newest first (as GET /keys pages them)."""
        if self._order is None:
            order: dict[str, list[SandboxKey]] = {}
            for k in sorted(self.keys.values(), key=lambda k: (k.created_at, k.seq), reverse=True):
                order.setdefault(k.workspace_id, []).append(k)
            self._order = order
        return self._order.get(workspace_id, [])

    # ------------------------------------------------------------ workspaces

    @property
    def default_workspace_id(self) -> str:
        return str(self.workspaces[0]["id"])

    def has_workspace(self, workspace_id: Any) -> bool:
        return any(w["id"] == workspace_id for w in self.workspaces)

    def add_workspace(self, *, id: str, guardrail: str, name: str, slug: str, created_at: datetime,
                      description: str | None, **extra: Any) -> dict[str, Any]:
        """Append a workspace object in the API's shape; `extra` fills optional fields that are not None."""
        ws = {
            "id": id,
            "default_guardrail_id": guardrail,
            "name": name,
            "slug": slug,
            "description": description,
            "default_text_model": None,
            "default_image_model": None,
            "default_provider_sort": None,
            "is_observability_io_logging_enabled": False,
            "is_observability_broadcast_enabled": False,
            "is_data_discount_logging_enabled": False,
            "io_logging_sampling_rate": 1,
            "io_logging_api_key_ids": None,
            "include_byok_in_budgets": False,
            "created_at": iso(created_at),
            "updated_at": None,
            "created_by": self.user_id,
        }
        for k, v in extra.items():
            if k in ws and v is not None:
                ws[k] = v
        self.workspaces.append(ws)
        return ws


class KeysView(Mapping[str, dict[str, Any]]):
    """Read-only view of a store's keys: hash -> the key object as the API shows it now."""

    def __init__(self, store: Store):
        self._store = store

    def __getitem__(self, key_hash: str) -> dict[str, Any]:
        with self._store.lock:
            return self._store.keys[key_hash].to_api(self._store.now())

    def __iter__(self) -> Iterator[str]:
        with self._store.lock:
            return iter(list(self._store.keys))

    def __len__(self) -> int:
        return len(self._store.keys)

    def __contains__(self, key_hash: object) -> bool:
        return key_hash in self._store.keys
