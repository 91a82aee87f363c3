"""`capit-tui watch --pool PERIOD:AMOUNT [--pool-match GLOB] [--enforce]`: the pooled budget's part of a
watch poll. The rule (the pooled spend, its crossings, when to stop and release) is core.pool; this module
words the pool events and, with --enforce, stops the pooled keys through core.panic (by = "pool:<period>")
and re-enables them when the window resets.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from capit_tui.cli.output import err
from capit_tui.core import pool as core_pool
from capit_tui.core import watch
from capit_tui.core.keys import Configured, lifetime_platforms
from capit_tui.core.model import CappedKey
from capit_tui.core.money import format_usd
from capit_tui.core.settings import Settings
from capit_tui.core.text import clean_text, display_name, joined, plural
from capit_tui.errors import CapitError, UsageError

MOST_NAMED = 5


def pools_asked(ns: argparse.Namespace, settings: Settings) -> list[core_pool.Pool]:
    """The pools to watch: --pool (each with --pool-match, and --enforce), else settings.toml's [[pool]]
    tables (--enforce enforcing them all; else each its own `enforce`). UsageError for a bad one."""
    try:
        if ns.pool:
            match = core_pool.check_match(ns.pool_match) if ns.pool_match is not None else "*"
            pools = [core_pool.parse_pool(text, match) for text in ns.pool]
        else:
            if ns.pool_match is not None:
                raise ValueError("--pool-match selects the keys of a --pool; give --pool PERIOD:AMOUNT too")
            pools = list(settings.pools)
        pools = core_pool.one_per_period(pools)
    except ValueError as bad:
        raise UsageError(str(bad).rstrip(".")) from None
    if ns.enforce:
        if not pools:
            raise UsageError("--enforce stops the keys of a pooled budget; give --pool PERIOD:AMOUNT (or a "
                             "[[pool]] in settings.toml)")
        pools = [core_pool.Pool(p.period, p.amount, p.match, True) for p in pools]
    return pools


def start_line(pools: Sequence[core_pool.Pool], interval: int, at: Sequence[Decimal]) -> str:
    shown = "; ".join(f"{_name(p)}: {format_usd(p.amount)}" for p in pools)
    said = f"Pooled {plural(len(pools), 'budget')} ({shown}), alerting at {joined([f'{t}%' for t in at])}."
    if any(p.enforce for p in pools):
        said += (f" Enforced by capit-tui polling every {interval} s, not by the platform: a key can go on "
                 "spending for up to one interval plus the platform's own spend lag before it is disabled, "
                 "and only while this watch runs.")
    return said


def _name(p: core_pool.Pool) -> str:
    keys = "every key" if p.match == "*" else f"keys matching '{display_name(p.match, 40)}'"
    return f"{p.period} pool ({keys})"


# ---------------------------------------------------------------- one poll


async def pool_round(pools: Sequence[core_pool.Pool], platforms: list[Configured], state: watch.WatchState,
                     keys: list[CappedKey], now: datetime, at: Sequence[Decimal]) -> list[core_pool.PoolCheck]:
    """Check every pool against a whole listing: per pool its events so far (crossings and resets),
    whether it is at or past a threshold, and whether to stop or release its keys (`act`)."""
    from capit_tui.core.stops import StopRecord, StopsError

    lifetime = lifetime_platforms(platforms)
    try:
        held = await asyncio.to_thread(StopRecord().load)
    except StopsError as exc:
        err(str(exc))
        held = []
    checks = []
    for p in pools:
        spend = await asyncio.to_thread(core_pool.pool_spend, p, keys, now, lifetime=lifetime)
        checks.append(core_pool.check(state.pools, spend, now, at, enforce=p.enforce, held=held))
    _forget(state, pools)
    return checks


def say_empty(checks: Sequence[core_pool.PoolCheck], said: set[str]) -> None:
    """A pool that pools no key can never reach its amount (a typo in its glob, say): said on stderr once
    while it stays so (`said`: the periods said already, kept by the caller across polls)."""
    for c in checks:
        p = c.spend.pool
        if c.spend.keys:
            said.discard(p.period)
        elif p.period not in said:
            said.add(p.period)
            which = "no key is listed" if p.match == "*" else \
                f"no key's name matches '{display_name(p.match, 40)}' (case-sensitive)"
            err(f"The {_name(p)} pools no key: {which}, so it stays at $0 and nothing is "
                f"{'enforced' if p.enforce else 'said'} until a key matches.")


def _forget(state: watch.WatchState, pools: Sequence[core_pool.Pool]) -> None:
    for period in [p for p in state.pools if p not in {q.period for q in pools}]:
        del state.pools[period]


async def act(checks: list[core_pool.PoolCheck], platforms: list[Configured], state: watch.WatchState,
              now: datetime) -> list[watch.Event]:
    """With --enforce: stop the keys of a pool that reached 100%, release those of a pool whose window
    reset (each through core.panic, under the lock and the journal); the events that say so."""
    from capit_tui.core.panic import panic, undo_panic

    events = []
    for c in checks:
        p = c.spend.pool
        try:
            if c.release:
                undone = await undo_panic(platforms, by=p.by)
                left = [(k, why) for t in undone.tallies for k, why in t.left]
                failed = [(k, why) for t in undone.tallies for k, why in t.failed]
                failed += [(CappedKey(t.platform, "", t.platform), t.error) for t in undone.tallies if t.error]
                if undone.done or left or failed:
                    events.append(watch.Event("pool-released", "", now, pool=c.spend, count=undone.done,
                                              reason=_left(left, failed, "still disabled")))
            if c.enforce:
                stopped = await panic(platforms, by=p.by, only=p.pools)
                failed = [(k, why) for t in stopped.tallies for k, why in t.failed]
                failed += [(CappedKey(t.platform, "", t.platform), t.error) for t in stopped.tallies if t.error]
                core_pool.enforced(state.pools, p, stopped.complete)
                if stopped.done or failed:
                    events.append(watch.Event("pool-stopped", "", now, pool=c.spend, count=stopped.done,
                                              reason=_left([], failed, "still enabled")))
        except CapitError as exc:  # the lock kept by another capit-tui, a damaged record: the next poll tries again
            err(f"The {p.period} pool's keys could not be {'stopped' if c.enforce else 're-enabled'} now "
                f"({clean_text(exc, 300)}); the next poll tries again.")
    return events


def _left(left: Sequence[tuple[CappedKey, str]], failed: Sequence[tuple[CappedKey, str | None]], state: str) -> str:
    from capit_tui.cli.panic import why_left

    parts = []
    if failed:
        named = [f"'{display_name(k.name, 40)}' on {k.platform}: {why}" if k.id else str(why)
                 for k, why in failed[:MOST_NAMED]]
        more = f" and {len(failed) - MOST_NAMED} more" if len(failed) > MOST_NAMED else ""
        parts.append(f"{plural(len(failed), 'key')} {state} ({'; '.join(named)}{more})")
    if left:
        named = [f"'{display_name(k.name, 40)}' {why_left(why)}" for k, why in left[:MOST_NAMED]]
        more = f" and {len(left) - MOST_NAMED} more" if len(left) > MOST_NAMED else ""
        parts.append(f"{plural(len(left), 'key')} left as {'they are' if len(left) > 1 else 'it is'} "
                     f"({', '.join(named)}{more})")
    return "; ".join(parts)


# ---------------------------------------------------------------- wording


def describe(event: watch.Event) -> str:
    """One sentence for a pool event (terminal, CAPIT_MESSAGE, the webhook's text)."""
    s = event.pool
    assert s is not None
    p = s.pool
    name = f"The {_name(p)}"
    spent = f"{format_usd(s.spent)} of {format_usd(p.amount)} spent ({s.percent}%) across {plural(s.keys, 'key')}"
    if s.from_first:
        spent += (f", {plural(s.from_first, 'key')} counted from when capit-tui first saw "
                  f"{'them' if s.from_first > 1 else 'it'} in this window")
    if event.kind == "pool-threshold":
        return f"{name} passed {event.threshold}%: {spent}."
    if event.kind == "pool-capped":
        then = ("capit-tui disables the pooled keys now (--enforce)" if p.enforce else
                "no platform stops the keys at a pooled budget; watch --enforce would disable them")
        return f"{name} reached {format_usd(p.amount)}: {spent}; {then}."
    if event.kind == "pool-reset":
        return f"{name} started a new {p.period} window: {spent}."
    if event.kind == "pool-stopped":
        said = (f"{name}: disabled {plural(event.count or 0, 'pooled key')} at {format_usd(s.spent)} of "
                f"{format_usd(p.amount)}; capit-tui re-enables them when the {p.period} window resets")
        return said + (f". {event.reason}." if event.reason else ".")
    said = f"{name} is under its budget in a new window: re-enabled {plural(event.count or 0, 'key')} it had disabled"
    return said + (f". {event.reason}." if event.reason else ".")
