"""The panic stop and its undo: disable every enabled key capit-tui can see, as fast as the platforms
allow, recording each in the record of stopped keys (core/stops.py); and re-enable exactly those again.

`panic(platforms)` holds the lock throughout. It lists every key (core.keys.list_all_keys), records each
enabled key as `disabling` and saves a journal entry (kind "panic") before the first disable is sent, then
disables them with core.keys.set_disabled, up to paging.WINDOW requests in flight per platform. Each key
ends `stopped`, or leaves the record named with its reason (still enabled). A SIGKILL half-way leaves the
journal entry and the `disabling` keys: the next start (core/recovery.py -> `resume`) disables them.

A key already disabled is counted, not recorded; unless another stopper (a pooled budget) holds it, in
which case this stopper holds it too, so neither one's undo re-enables a key the other still wants stopped.

`undo_panic(platforms)` re-enables the keys this stopper recorded, by the rule of stops.releasable, and
drops each from the record once it is enabled (or left alone: revoked, re-enabled since, held by another
stopper). A key that fails to enable stays recorded for the next undo. No printing here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from capit_tui.core.journal import Entry, Journal, iso
from capit_tui.core.keys import Configured, failure_reason, list_all_keys, set_disabled
from capit_tui.core.model import CappedKey
from capit_tui.core.stops import DISABLING, ENABLING, PANIC, STOPPED, Ident, Stop, StopRecord, holders, releasable
from capit_tui.core.text import display_name, plural


@dataclass
class Tally:
    """One platform's part of a panic or an undo."""

    platform: str
    done: list[CappedKey] = field(default_factory=list)  # disabled (panic) or re-enabled (undo)
    already: int = 0  # panic: keys disabled before it
    failed: list[tuple[CappedKey, str]] = field(default_factory=list)  # and why, one sentence
    left: list[tuple[CappedKey, str]] = field(default_factory=list)  # undo: left alone, and why (see releasable)
    gone: int = 0  # panic: keys revoked between the listing and their disable
    error: str | None = None  # the platform could not be listed (or opened): nothing was done there


@dataclass
class Outcome:
    by: str
    at: str
    tallies: list[Tally]

    @property
    def done(self) -> int:
        return sum(len(t.done) for t in self.tallies)

    @property
    def failed(self) -> int:
        return sum(len(t.failed) for t in self.tallies)

    @property
    def already(self) -> int:
        return sum(t.already for t in self.tallies)

    @property
    def complete(self) -> bool:
        """Every key was handled: none failed, every platform answered."""
        return not any(t.failed or t.error for t in self.tallies)


def _window() -> int:
    from capit_tui.platforms.paging import WINDOW

    return WINDOW


Op = Callable[[Any, CappedKey], Awaitable[Any]]


async def in_window(keys: list[CappedKey], open_platform: Callable[[str], Any], op: Op,
                    window: int | None = None) -> dict[Ident, BaseException | None]:
    """Run `op(platform, key)` on every key, up to `window` at once per platform (one client each, opened
    by `open_platform(name)` and closed here). Per key: None when done, else the PlatformError it met (or,
    when its platform could not be opened, that exception)."""
    from capit_tui.platforms.base import PlatformError

    size = max(1, window or _window())
    by_platform: dict[str, list[CappedKey]] = {}
    for k in keys:
        by_platform.setdefault(k.platform, []).append(k)
    results: dict[Ident, BaseException | None] = {}

    async def one_platform(name: str, todo: list[CappedKey]) -> None:
        try:
            p = open_platform(name)
        except Exception as exc:  # noqa: BLE001 - no settings or no management key: every key of it failed
            for k in todo:
                results[(k.platform, k.id)] = exc
            return
        queue = iter(todo)

        async def worker() -> None:
            for k in queue:  # shared: each key is taken once, by whichever worker is free
                try:
                    await op(p, k)
                except PlatformError as exc:
                    results[(k.platform, k.id)] = exc
                else:
                    results[(k.platform, k.id)] = None

        try:
            await asyncio.gather(*(worker() for _ in range(min(size, len(todo)))))
        finally:
            await p.aclose()

    await asyncio.gather(*(one_platform(n, ks) for n, ks in by_platform.items()))
    return results


def _opener(platforms: list[Configured]) -> Callable[[str], Any]:
    by_name = {c.name: c for c in platforms}
    return lambda name: by_name[name].open()


def _reason(platform: str, exc: BaseException) -> str:
    return failure_reason(platform, exc)


# ---------------------------------------------------------------- the panic


async def panic(platforms: list[Configured], *, by: str = PANIC, record: StopRecord | None = None,
                journal: Journal | None = None, window: int | None = None,
                only: Callable[[CappedKey], bool] | None = None) -> Outcome:
    """Disable every enabled key on `platforms` (see the module's doc), or only the keys `only` picks (a
    pooled budget stops its pooled keys: the others are neither disabled nor counted). Never raises for one
    key or one platform; raises LockTimeout (nothing done) when another capit-tui keeps the lock."""
    from capit_tui.core import lock
    from capit_tui.platforms.base import NotFound

    record = record or StopRecord()
    journal = journal or Journal()
    async with lock.held_async("stopping every key (panic)" if by == PANIC else f"stopping the keys of {by}"):
        stops = record.load()  # a damaged record stops the panic before anything is sent
        listing = await list_all_keys(platforms)
        if only is not None:
            listing.keys = [k for k in listing.keys if only(k)]
        now = iso()
        tallies = {c.name: Tally(c.name) for c in platforms}
        for name, exc in listing.errors.items():
            tallies[name].error = _reason(name, exc)
        held = holders(stops)
        todo: list[CappedKey] = []
        for k in listing.keys:
            mine = by in held.get((k.platform, k.id), set())
            if k.disabled:
                tallies[k.platform].already += 1
                if held.get((k.platform, k.id)) and not mine:  # another stopper's key: held by this one too
                    stops.append(Stop(k.platform, k.id, k.name, by, now, STOPPED))
                continue
            if mine:  # re-enabled since this stopper stopped it: its old entry is replaced
                stops = [s for s in stops if not (s.by == by and s.ident == (k.platform, k.id))]
            todo.append(k)
            stops.append(Stop(k.platform, k.id, k.name, by, now, DISABLING))
        if not todo:
            record.save(stops)
            return Outcome(by, now, list(tallies.values()))
        entry = journal.new("panic", ", ".join(sorted({k.platform for k in todo})), by=by)
        journal.save(entry)
        record.save(stops)  # from here an interruption is finished at the next start
        results = await in_window(todo, _opener(platforms), lambda p, k: set_disabled(p, k, True), window)
        keys = {(k.platform, k.id): k for k in todo}
        dropped: set[Ident] = set()
        for ident, failure in results.items():
            t, k = tallies[ident[0]], keys[ident]
            if failure is None:
                t.done.append(k)
            elif isinstance(failure, NotFound):
                t.gone += 1
                dropped.add(ident)
            else:
                t.failed.append((k, _reason(k.platform, failure)))
                dropped.add(ident)
        record.save(_settled(stops, by, dropped))
        journal.finish(entry)
    return Outcome(by, now, list(tallies.values()))


def _settled(stops: list[Stop], by: str, dropped: set[Ident]) -> list[Stop]:
    """This stopper's `disabling` keys become `stopped`, except the dropped ones (gone, or still enabled)."""
    out = []
    for s in stops:
        if s.by == by and s.state == DISABLING:
            if s.ident in dropped:
                continue
            s.state = STOPPED
        out.append(s)
    return out


async def resume(entry: Entry, open_platform: Callable[[str], Any], journal: Journal,
                 record: StopRecord | None = None) -> tuple[bool, str]:
    """An interrupted panic, at the next start: disable what the record says was meant. Returns (settled,
    the sentence for the user). The caller holds the lock."""
    from capit_tui.platforms.base import NotFound

    record = record or StopRecord()
    by = entry.by or PANIC
    stops = record.load()
    pending = [s for s in stops if s.by == by and s.state == DISABLING]
    keys = [CappedKey(s.platform, s.id, s.name) for s in pending]
    results = await in_window(keys, open_platform, lambda p, k: set_disabled(p, k, True))
    retry = {i for i, exc in results.items() if exc is not None and _transient(exc)}
    gone = {i for i, exc in results.items() if isinstance(exc, NotFound)}
    failed = {i for i, exc in results.items() if exc is not None and i not in retry and i not in gone}
    out = []
    for s in stops:
        if s.by == by and s.state == DISABLING and s.ident not in retry:
            if s.ident in gone or s.ident in failed:
                continue
            s.state = STOPPED
        out.append(s)
    record.save(out)
    dropped, unreachable = gone | failed, retry
    done = len(results) - len(dropped) - len(unreachable)
    what = "The panic stop" if by == PANIC else f"The stop of the {by.partition(':')[2]} pool"
    said = f"{what} did not finish; it was finished now: {plural(done, 'more key')} disabled"
    if failed:
        names = ", ".join(f"{display_name(s.name, 40)} on {s.platform}" for s in pending if s.ident in failed)
        said += (f". {plural(len(failed), 'key')} could not be disabled and {'are' if len(failed) > 1 else 'is'} "
                 f"still enabled ({names}); run `capit-tui panic` again")
    if unreachable:
        said += (f". {plural(len(unreachable), 'key')} could not be reached now (the platform is down, or its "
                 "settings or management key are gone); capit-tui will try again at the next start")
        journal.save(entry)
        return False, said + "."
    journal.finish(entry)
    return True, said + "."


def _transient(exc: BaseException) -> bool:
    """A failure worth trying again at the next start: the platform unreachable, overloaded or not set up."""
    from capit_tui.platforms.base import NetworkError, PlatformError, RateLimited, ServerError

    return isinstance(exc, (NetworkError, RateLimited, ServerError)) or not isinstance(exc, PlatformError)


# ---------------------------------------------------------------- the undo


async def undo_panic(platforms: list[Configured], *, by: str = PANIC, record: StopRecord | None = None,
                     window: int | None = None) -> Outcome:
    """Re-enable the keys `by` stopped, on `platforms` (keys of other platforms stay recorded)."""
    from capit_tui.core import lock

    record = record or StopRecord()
    async with lock.held_async("re-enabling the keys the panic stopped" if by == PANIC
                               else f"re-enabling the keys {by} stopped"):
        stops = record.load()
        names = {c.name for c in platforms}
        mine = [s for s in stops if s.by == by and s.platform in names]
        now = iso()
        tallies = {n: Tally(n) for n in sorted({s.platform for s in mine})}
        if not mine:
            return Outcome(by, now, [])
        listing = await list_all_keys([c for c in platforms if c.name in tallies])
        for name, exc in listing.errors.items():
            tallies[name].error = _reason(name, exc)
        found = {(k.platform, k.id): k for k in listing.keys}
        held = holders(stops)
        release: list[Stop] = []
        drop: set[Ident] = set()
        for s in mine:
            if s.platform in listing.errors:
                continue  # kept for the next undo
            k = found.get(s.ident)
            shown = k or CappedKey(s.platform, s.id, s.name)
            if s.state == ENABLING and k is not None and not k.disabled:  # an interrupted undo got this far
                tallies[s.platform].done.append(shown)
                drop.add(s.ident)
                continue
            why = releasable(s, held, None if k is None else k.disabled)
            if why is None:
                release.append(s)
            else:
                tallies[s.platform].left.append((shown, why))
                drop.add(s.ident)
        for s in release:
            s.state = ENABLING
        record.save(stops)
        keys = [found[s.ident] for s in release]
        results = await in_window(keys, _opener(platforms), lambda p, k: set_disabled(p, k, False), window)
        for s in release:
            failure = results.get(s.ident)
            if failure is None:
                tallies[s.platform].done.append(found[s.ident])
                drop.add(s.ident)
            else:
                s.state = STOPPED
                tallies[s.platform].failed.append((found[s.ident], _reason(s.platform, failure)))
        record.save([s for s in stops if not (s.by == by and s.ident in drop)])
    return Outcome(by, now, list(tallies.values()))


def recorded(by: str = PANIC, record: StopRecord | None = None) -> list[Stop]:
    """The keys `by` holds stopped now (no lock: a read of one atomically written file)."""
    return [s for s in (record or StopRecord()).load() if s.by == by]
