"""One budget pooled across keys ("$20 a day across all of them"), which no platform enforces across keys:
`capit-tui watch --pool daily:20` sums the spend of the pooled keys in the pool's window, says when the sum
crosses a threshold, and with --enforce stops the pooled keys at 100% and re-enables them when the window
resets. No printing here: cli/watch.py words and acts, the TUI shows the line above the keys table.

A pool is a period (daily, weekly, monthly: OpenRouter's windows, from midnight UTC, Monday 00:00 UTC, the
1st 00:00 UTC: core.watch.window_start), an amount in dollars and a glob on key names (`match`, default
every key). Its spend in its window is the sum over the pooled keys of each key's spend in that window:

  - a platform that counts per window (OpenRouter) says it: usage_daily / usage_weekly / usage_monthly;
  - a platform that keeps one lifetime counter (one-api) does not, so it comes from the local spend history
    (core.history): the key's usage now less its usage at the last sample at or before the window's start.
    A key first seen inside the window counts from its first sample (what it spent before capit-tui first
    saw it is not known), and PoolSpend.from_first says how many keys were counted so.

Disabled and expired keys are pooled too: what they spent in the window was spent.

The crossing rule is core.watch's for a key, applied to the sum: a threshold fires once per crossing per
window, remembered in the watch state (`WatchState.pools`), a new window (or the pooled spend of the keys
seen both times falling: the platform reset before our clock) re-arms it. Enforcement (see `check`) goes
through core.panic with `by = "pool:<period>"`, so the record of stopped keys (core/stops.py) keeps a
manual panic and the pool from undoing each other's work.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from capit_tui.core.model import CappedKey, iso
from capit_tui.core.money import MoneyError, parse_cap, percent
from capit_tui.core.spend_watch import reached
from capit_tui.core.text import clean_text

if TYPE_CHECKING:
    from capit_tui.core.history import History
    from capit_tui.core.stops import Stop
    from capit_tui.core.watch import Event

PERIODS = ("daily", "weekly", "monthly")
CAP = Decimal(100)
DEFAULT_AT = (Decimal(80), CAP)
"""A pool's thresholds when `watch` is given no --at (with --at, the pools share the keys' thresholds)."""
BY_PREFIX = "pool:"


@dataclass(frozen=True)
class Pool:
    period: str  # one of PERIODS
    amount: Decimal
    match: str = "*"  # a glob on key names (fnmatch, case-sensitive)
    enforce: bool = False  # settings.toml's `enforce = true`: watch stops the pooled keys at 100%

    @property
    def by(self) -> str:
        """The stopper's name in the record of stopped keys."""
        return BY_PREFIX + self.period

    def pools(self, key: CappedKey) -> bool:
        return fnmatch.fnmatchcase(key.name, self.match)


def parse_pool(text: str, match: str = "*") -> Pool:
    """`daily:20.00` (or `weekly:$300`) -> a Pool; ValueError with one sentence otherwise."""
    shown = clean_text(text, 60)
    period, sep, amount = text.partition(":")
    period = period.strip().lower()
    if not sep or period not in PERIODS:
        raise ValueError(f"--pool '{shown}' needs PERIOD:AMOUNT, the period daily, weekly or monthly, such as "
                         "daily:20.00")
    return Pool(period, pool_amount(amount, f"--pool '{shown}'"), match)


def pool_amount(text: Any, where: str) -> Decimal:
    try:
        return parse_cap(str(text))
    except MoneyError as bad:
        if bad.zero:  # the cap's own words speak of an uncapped key; a pool of $0 is no budget at all
            said = "a pooled budget of $0 is spent before any key is used; give a positive amount"
        else:
            said = (str(bad).replace("The cap", "the amount", 1).replace("caps are whole cents", "amounts are whole "
                    "cents", 1).rstrip("."))
        raise ValueError(f"{where}: {said}") from None


def check_match(match: str, where: str = "--pool-match") -> str:
    """A pool's glob on key names (--pool-match, settings.toml's `match`), or ValueError: it must be a
    non-empty line of text with no control character (it reaches the terminal and --exec's environment)."""
    if not match.strip() or clean_text(match, 200) != match:
        raise ValueError(f"{where} needs a glob on key names, such as 'capit-*'")
    return match


def one_per_period(pools: Iterable[Pool]) -> list[Pool]:
    """The pools, or ValueError when two share a period (each period is one stopper: pool:<period>)."""
    out: list[Pool] = []
    for p in pools:
        if any(q.period == p.period for q in out):
            raise ValueError(f"two {p.period} pools: give one pool per period")
        out.append(p)
    return out


# ---------------------------------------------------------------- the pooled spend


def window_figure(key: CappedKey, period: str) -> Decimal:
    """What a platform that counts per window says the key spent in `period`'s current window."""
    return {"daily": key.usage_daily, "weekly": key.usage_weekly, "monthly": key.usage_monthly}[period]


@dataclass(frozen=True)
class PoolSpend:
    pool: Pool
    spent: Decimal
    keys: int  # pooled keys
    per_key: dict[str, Decimal] = field(default_factory=dict, compare=False)  # "platform/id" -> spend in window
    from_history: int = 0  # keys whose window spend came from the local history
    from_first: int = 0  # of those, first seen inside the window: counted from their first sample

    @property
    def percent(self) -> Decimal:
        shown = percent(self.spent, self.pool.amount)  # Decimal("0.0") is falsy: test for None, not truth
        return Decimal("0.0") if shown is None else shown


def pool_spend(pool: Pool, keys: Iterable[CappedKey], now: datetime, *, lifetime: Collection[str] = (),
               history: History | None = None) -> PoolSpend:
    """The pool's spend in its current window (see the module's doc). `lifetime`: the platforms whose keys
    carry no window figures (core.keys.lifetime_platforms); `history` is read for those only (None: the
    user's history file)."""
    from capit_tui.core.watch import window_start

    start = window_start(pool.period, now)
    assert start is not None
    pooled = [k for k in keys if pool.pools(k)]
    per_key: dict[str, Decimal] = {}
    from_history = from_first = 0
    own = None
    try:
        for k in pooled:
            if k.platform in lifetime:
                if history is None:
                    from capit_tui.core.history import History

                    own = history = History()
                from_history += 1
                base = history.last_before(k.platform, k.id, start)
                if base is None:
                    from_first += 1
                    first = history.samples(k.platform, k.id, since=start, until=now)
                    base_usage = first[0].usage if first else k.usage
                else:
                    base_usage = base.usage
                spent = max(k.usage - base_usage, Decimal(0))
            else:
                spent = window_figure(k, pool.period)
            per_key[f"{k.platform}/{k.id}"] = spent
    finally:
        if own is not None:
            own.close()
    return PoolSpend(pool, sum(per_key.values(), Decimal(0)), len(pooled), per_key, from_history, from_first)


# ---------------------------------------------------------------- crossings and enforcement


@dataclass
class PoolCheck:
    spend: PoolSpend
    events: list[Event]
    alerting: bool  # at or past a threshold now (`--once` exits 3)
    enforce: bool  # stop the pooled keys now (core.panic.panic with by=pool.by and only=pool.pools)
    release: bool  # re-enable what this pool stopped (core.panic.undo_panic with by=pool.by)


def check(records: dict[str, dict[str, Any]], spend: PoolSpend, now: datetime,
          thresholds: Iterable[Decimal] = DEFAULT_AT, *, enforce: bool = False,
          held: Iterable[Stop] = ()) -> PoolCheck:
    """Compare the pool's spend now with what was said before (`records`: WatchState.pools, updated here);
    the events to say, and whether to stop or release its keys.

    Enforcement: when the pool reaches 100% with `enforce`, its keys are to be stopped, once per window
    (again on the next poll only while a stop did not complete: see `enforced`). Release: when the record
    holds keys this pool stopped (`held`) and the pool is below 100% in a window after the one they were
    stopped in, or its window has just reset."""
    from capit_tui.core.journal import parse_iso
    from capit_tui.core.watch import RESET_GRACE, Event, window_start

    pool = spend.pool
    levels = tuple(sorted(set(thresholds) | {CAP}))
    start = window_start(pool.period, now)
    assert start is not None
    window = iso(start) or ""
    rec = records.get(pool.period)
    if rec is not None and (rec.get("match") != pool.match or rec.get("amount") != str(pool.amount)):
        rec = None  # another pool under the same period: nothing said of it yet
    events: list[Event] = []
    reset = False
    if rec is not None:
        if rec.get("window") != window:
            last = _dec(rec.get("spent"))
            if last > 0 and spend.spent >= last and now - start < RESET_GRACE:
                window = str(rec.get("window"))  # the platform has not reset yet: still the old window
            else:
                reset = True
        elif _fell(rec.get("keys"), spend.per_key):  # the platform reset before our clock said so
            reset = True
        if reset:
            if rec.get("fired") or rec.get("enforced"):
                events.append(Event("pool-reset", "", now, pool=spend))
            rec = None
    fired = {_dec(t) for t in (rec or {}).get("fired", [])}
    now_reached = set(reached(spend.percent, levels))
    new = now_reached - fired
    if new:
        top = max(new)
        events.append(Event("pool-capped" if top >= CAP else "pool-threshold", "", now, threshold=top, pool=spend))
    enforced = (rec or {}).get("enforced", "")
    at_cap = spend.percent >= CAP
    stopped = [s for s in held if s.by == pool.by]
    since = min((t for t in (parse_iso(s.at) for s in stopped) if t is not None), default=None)
    release = bool(stopped) and not at_cap and (reset or (since is not None and since < start))
    records[pool.period] = {
        "window": window, "spent": str(spend.spent), "fired": [str(t) for t in sorted(now_reached)],
        "match": pool.match, "amount": str(pool.amount), "enforced": enforced, "checked": iso(now) or "",
        "enforcing": enforce, "keys": {k: str(v) for k, v in spend.per_key.items() if v > 0},
    }
    return PoolCheck(spend, events, bool(now_reached), enforce and at_cap and enforced != "done", release)


def enforced(records: dict[str, dict[str, Any]], pool: Pool, complete: bool) -> None:
    """Remember that the pool's keys were stopped in this window ("done"), or that some could not be
    ("partial": the next poll tries again)."""
    rec = records.get(pool.period)
    if rec is not None:
        rec["enforced"] = "done" if complete else "partial"


def _fell(before: Any, now: dict[str, Decimal]) -> bool:
    """The keys seen both times spent less in all than before (a revoked key's spend leaving the sum is
    not a reset)."""
    if not isinstance(before, dict):
        return False
    common = [k for k in before if k in now]
    return bool(common) and sum((now[k] for k in common), Decimal(0)) < sum((_dec(before[k]) for k in common),
                                                                           Decimal(0))


def _dec(value: Any) -> Decimal:
    from capit_tui.core.watch import _decimal

    return _decimal(value)
