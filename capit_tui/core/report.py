"""The spend report: what each key (or agent, platform, model) spent over a period, and where each number
came from.

The period runs from a UTC midnight (`7d`: midnight seven days ago, so seven whole days and today so far;
`2026-11-01`: that day's midnight) to now. A key's spend in it comes from:

- the platform, where it keeps per-day history (OpenRouter GET /activity: the last 30 completed UTC days,
  per model): those days from the activity, and today from the key's own `usage_daily`;
- the local history (core.history) otherwise, and for any part of the period older than the platform's
  30 days: the lifetime usage at the period's end less the usage at its start.

Each row says which (`platform`, `history`, or `platform+history`); a row whose local history starts after
the period does says from when (`covered_from`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from capit_tui.core.history import ActivityRow, History
from capit_tui.core.ledger import Ledger
from capit_tui.core.model import CappedKey

ACTIVITY_DAYS = 30  # OpenRouter's /activity holds the last 30 completed UTC days
MAX_ACTIVITY_KEYS = 500  # per platform: one request per key; past that, the rest come from the history
PARALLEL = 4
BY = ("key", "agent", "platform", "model", "member")
NO_MODEL = "(no model breakdown)"
NO_AGENT = "(no agent)"
NO_MEMBER = "(no team member)"


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    @property
    def first_day(self) -> date:
        return self.start.date()


def parse_since(text: str | None, now: datetime) -> Period:
    """'7d' (default), '30d', '2w' or a UTC date 'YYYY-MM-DD' -> the period from that midnight to now.
    ValueError with one sentence otherwise."""
    raw = (text or "7d").strip()
    now = now.replace(microsecond=0)
    midnight = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    m = re.fullmatch(r"(\d{1,4})\s*([dw])", raw, re.IGNORECASE)
    if m:
        days = int(m.group(1)) * (7 if m.group(2).lower() == "w" else 1)
        if not 1 <= days <= 3650:
            raise ValueError(f"'{raw[:40]}' is out of range: give 1d to 3650d.")
        return Period(midnight - timedelta(days=days), now)
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"'{raw[:40]}' is not a period: give days or weeks (7d, 30d, 2w) or a UTC date "
                         "(YYYY-MM-DD).") from None
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    if start > now:
        raise ValueError(f"{day.isoformat()} is in the future.")
    return Period(start, now)


@dataclass
class KeySpend:
    """One key's spend in the period, per model where the platform says (None: no breakdown)."""

    platform: str
    key_id: str
    name: str
    models: dict[str | None, Decimal] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)
    covered_from: datetime | None = None  # the local history starts after the period does

    @property
    def spend(self) -> Decimal:
        return sum(self.models.values(), Decimal(0))

    def add(self, model: str | None, amount: Decimal, source: str) -> None:
        self.models[model] = self.models.get(model, Decimal(0)) + amount
        self.sources.add(source)


@dataclass(frozen=True)
class Row:
    group: str  # the key's name, the agent, the platform or the model
    platform: str  # the key's platform (by key); "" otherwise
    spend: Decimal
    source: str  # platform | history | platform+history | none
    keys: int
    covered_from: datetime | None


@dataclass
class Report:
    period: Period
    by: str
    rows: list[Row]
    errors: dict[str, str]  # platform -> why its keys or its activity could not be read

    @property
    def total(self) -> Decimal:
        return sum((r.spend for r in self.rows), Decimal(0))


def source_of(sources: set[str]) -> str:
    named = [s for s in ("platform", "history") if s in sources]
    return "+".join(named) or "none"


async def key_spend(keys: list[CappedKey], seen: list[tuple[str, str, str]], period: Period,
                    activity: dict[str, Callable[[str], Any]],
                    history: History) -> tuple[list[KeySpend], dict[str, str]]:
    """Each key's spend in the period. `keys`: listed now; `seen`: (platform, id, name) of keys in the
    local history not listed now (revoked since); `activity`: platform -> an async read of one key's
    activity rows (platforms without per-day history are absent)."""
    errors: dict[str, str] = {}
    failed: set[str] = set()  # platforms whose activity could not be read: all their keys use the history
    today = period.end.astimezone(timezone.utc).date()
    act_first = max(period.first_day, today - timedelta(days=ACTIVITY_DAYS))
    act_start = datetime(act_first.year, act_first.month, act_first.day, tzinfo=timezone.utc)
    live = {(k.platform, k.id): k for k in keys}
    todo = [(k.platform, k.id, k.name) for k in keys] + [s for s in seen if (s[0], s[1]) not in live]
    out = [KeySpend(p, i, n) for p, i, n in todo]
    asked: dict[str, int] = {}
    gate = asyncio.Semaphore(PARALLEL)

    async def read(ks: KeySpend) -> list[ActivityRow] | None:
        fetch = activity.get(ks.platform)
        k = live.get((ks.platform, ks.key_id))
        if fetch is None or ks.platform in failed:
            return None
        if k is not None and (k.usage <= 0 or (k.last_used_at is not None and k.last_used_at < period.start)):
            return []  # never used, or not in the period: nothing to ask
        asked[ks.platform] = asked.get(ks.platform, 0) + 1
        if asked[ks.platform] > MAX_ACTIVITY_KEYS:
            errors.setdefault(ks.platform, f"{ks.platform}: more than {MAX_ACTIVITY_KEYS} keys spent in the "
                                           "period; the activity of the first ones was read")
            return None
        async with gate:
            try:
                return list(await fetch(ks.key_id))
            except Exception as exc:  # noqa: BLE001 - the platform's failure: its keys use the history
                from capit_tui.core.keys import failure_reason

                failed.add(ks.platform)
                errors[ks.platform] = failure_reason(ks.platform, exc)
                return None

    rows = await asyncio.gather(*(read(ks) for ks in out))
    for ks, act in zip(out, rows, strict=True):
        k = live.get((ks.platform, ks.key_id))
        if act is not None and ks.platform not in failed:
            for r in act:
                if act_first <= r.day < today:
                    ks.add(r.model, r.usage, "platform")
            if k is not None:
                ks.add(None, k.usage_daily, "platform")  # today so far, as the platform counts it
            else:
                ks.sources.add("platform")
            if period.start < act_start:
                _from_history(ks, history, period.start, act_start, k, upto_live=False)
        else:
            _from_history(ks, history, period.start, period.end, k)
    return out, errors


def _from_history(ks: KeySpend, history: History, start: datetime, end: datetime, live: CappedKey | None,
                  *, upto_live: bool = True) -> None:
    """Lifetime usage at `end` (the live listing when there is one) less the usage at `start`: the last
    sample before it, or nothing for a key created since (it started at $0), else the first sample after it
    (and the row says its numbers start there). `upto_live` False: `end` is not now, read it from the samples."""
    before = history.last_before(ks.platform, ks.key_id, start)
    base = before.usage if before is not None else None
    born = live.created_at if live is not None else None
    if base is None and born is not None and born >= start:
        base = Decimal(0)  # created inside the period: everything it ever spent is in it
    if base is None:
        after = history.samples(ks.platform, ks.key_id, since=start, until=end)
        if after:
            base, ks.covered_from = after[0].usage, after[0].at
        elif live is not None and upto_live:
            ks.add(None, Decimal(0), "history")
            ks.covered_from = end  # never sampled: nothing known before now
            return
        else:
            return
    if live is not None and upto_live:
        last = live.usage
    else:
        later = history.last_before(ks.platform, ks.key_id, end)
        last = later.usage if later is not None else base
    ks.add(None, max(last - base, Decimal(0)), "history")


def group(spends: list[KeySpend], by: str, ledger: Ledger | None = None) -> list[Row]:
    """Sum the keys' spend per key, agent (the ledger's holders, or who held it last), platform or model."""
    held = (ledger or Ledger()).holders_by_key() if by == "agent" else None
    members = _team_members() if by == "member" else {}
    buckets: dict[tuple[str, str], list[tuple[KeySpend, Decimal, str | None]]] = {}
    for ks in spends:
        if by == "model":
            for model, amount in ks.models.items():
                if amount == 0:
                    continue  # a model row says what was spent on it
                buckets.setdefault((model or NO_MODEL, ""), []).append((ks, amount, model))
            continue
        name: tuple[str, str]
        if by == "key":
            name = (ks.name or ks.key_id[:12], ks.platform)
        elif by == "platform":
            name = (ks.platform, "")
        elif by == "member":  # the team records of `team apply` (core/team.py)
            team_member = members.get((ks.platform, ks.key_id))
            name = (f"{team_member[1]} ({team_member[0]})" if team_member else NO_MEMBER, "")
        else:
            assert held is not None
            ident = (ks.platform, ks.key_id)
            agents = held.get(ident) or held.was.get(ident) or []
            name = (", ".join(agents) or NO_AGENT, "")
        buckets.setdefault(name, []).append((ks, ks.spend, None))
    rows = []
    for (label, platform), items in buckets.items():
        sources: set[str] = set()
        froms = [ks.covered_from for ks, _, _ in items if ks.covered_from is not None]
        for ks, _, _ in items:
            sources |= ks.sources
        rows.append(Row(label, platform, sum((a for _, a, _ in items), Decimal(0)), source_of(sources),
                        len({(ks.platform, ks.key_id) for ks, _, _ in items}), max(froms) if froms else None))
    rows.sort(key=lambda r: (-r.spend, r.group, r.platform))
    return rows


def _team_members() -> dict[tuple[str, str], tuple[str, str]]:
    from capit_tui.core.team import all_records

    return all_records()


async def build(platforms: list[Any], period: Period, by: str, *, history: History | None = None,
                ledger: Ledger | None = None) -> Report:
    """The report over open adapters (`platforms`): lists their keys, reads their activity where they
    have it, and the local history for the rest (and for keys revoked since the period began)."""

    if by not in BY:
        raise ValueError(f"--by takes one of {', '.join(BY)}")
    own = history is None
    history = history or History()
    try:
        return await _build(platforms, period, by, history, ledger)
    finally:
        if own:
            history.close()


async def _build(platforms: list[Any], period: Period, by: str, history: History, ledger: Ledger | None) -> Report:
    from capit_tui.core.keys import list_keys_on

    listing = await list_keys_on(platforms)
    errors = listing.reasons()
    names = {p.name for p in platforms}
    seen = [(s.platform, s.key_id, s.name) for s in history.keys_seen(period.start) if s.platform in names]
    activity = {p.name: p.activity for p in platforms if callable(getattr(p, "activity", None))}
    spends, act_errors = await key_spend(listing.keys, seen, period, activity, history)
    for name, reason in act_errors.items():
        errors.setdefault(name, f"{reason} (so its rows, or some, come from the local history)")
    return Report(period, by, group(spends, by, ledger or Ledger()), errors)
