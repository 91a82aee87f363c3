"""Live spend bookkeeping for the TUI, without Textual: the latest keys, which keys a refresh added,
changed or removed, and which just crossed 80% or 100% of their cap (for toasts). The spend over time
(the key detail's sparkline, the burn rate) is core.history's, recorded on disk.

The threshold rule itself (which keys count, which thresholds a key has reached) is `watched()` and
`reached()` here; `core.watch` (the `watch` command's alerts) applies the same two."""

from __future__ import annotations

import gc
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from capit_tui.core.model import CappedKey

THRESHOLDS = (Decimal(80), Decimal(100))


def same(old: CappedKey, new: CappedKey) -> bool:
    """`old == new`, quicker for the common case of a refresh, where most keys are equal: the same object,
    or every attribute equal (one dictionary comparison in C, half the dataclass's own `==`) is the same
    key; only otherwise (a change, or only the uncompared `extra` differs) does `==` itself decide."""
    return old is new or old.__dict__ == new.__dict__ or old == new


def watched(key: CappedKey, now: datetime | None = None) -> bool:
    """A key whose spend is measured against thresholds: it has a cap, and it is neither disabled nor
    expired (a key the platform refuses anyway cannot run up its cap)."""
    return key.limit is not None and key.status_at(now) not in ("disabled", "expired")


def reached(percent: Decimal | None, thresholds: Iterable[Decimal]) -> list[Decimal]:
    """The thresholds (percent of the cap) a key at `percent` has reached, lowest first; none for no cap."""
    if percent is None:
        return []
    return sorted(t for t in thresholds if t <= percent)


@dataclass(frozen=True)
class Crossing:
    key: CappedKey
    threshold: Decimal  # 80 or 100


@dataclass
class Update:
    added: list[tuple[str, str]]
    changed: list[tuple[str, str]]
    removed: list[tuple[str, str]]
    crossings: list[Crossing]


@dataclass
class SpendWatch:
    keys: dict[tuple[str, str], CappedKey] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    last_refresh: datetime | None = None
    refreshes: int = 0

    def apply(self, keys: list[CappedKey], errors: dict[str, str], when: datetime,
              platforms_ok: set[str] | None = None) -> Update:
        """Merge a fresh listing. Keys of a platform that failed this time are kept as they were.
        One dictionary look-up and one comparison per key; only the changed keys are looked at further."""
        # A (platform, id) tuple per key, none part of a cycle: with the collector on, tens of thousands of
        # them set off a dozen collections while the Keys screen waits (~3 ms at 10 000 keys).
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._apply(keys, errors, when)
        finally:
            if was_enabled:
                gc.enable()

    def _apply(self, keys: list[CappedKey], errors: dict[str, str], when: datetime) -> Update:
        failed = set(errors)
        new = {(k.platform, k.id): k for k in keys}
        old_keys = self.keys
        added, changed, crossings = [], [], []
        get = old_keys.get
        if not old_keys:  # the first listing (the one the Keys screen waits for): every key is new
            added = list(new)
        for ident, k in new.items() if old_keys else ():
            old = get(ident)
            if old is None:
                added.append(ident)
            elif not same(old, k):
                changed.append(ident)
                crossings.extend(self._crossed(old, k, when))
        if failed:
            removed = [ident for ident in old_keys if ident not in new and ident[0] not in failed]
            merged = {ident: k for ident, k in old_keys.items() if ident[0] in failed}
            merged.update(new)
        else:
            removed = [ident for ident in old_keys if ident not in new] if len(new) != len(old_keys) or added \
                else []
            merged = new
        self.keys = merged
        self.errors = dict(errors)
        self.last_refresh = when
        self.refreshes += 1
        return Update(added, changed, removed, crossings)

    @staticmethod
    def _crossed(old: CappedKey, new: CappedKey, when: datetime) -> list[Crossing]:
        if old.percent is None or not watched(new, when):
            return []
        before = reached(old.percent, THRESHOLDS)
        return [Crossing(new, t) for t in reached(new.percent, THRESHOLDS) if t not in before]

    def forget(self, ident: tuple[str, str]) -> None:
        self.keys.pop(ident, None)

    def put(self, key: CappedKey) -> None:
        """A key changed by an action of ours (re-cap, disable): show it before the next refresh."""
        self.keys[(key.platform, key.id)] = key
