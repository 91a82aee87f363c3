"""The Keys table's rows without Textual: every key in display order, its row key, and the filter.

Built once per listing and then changed in place: a refresh that changes a few keys touches a few
entries, keys streamed in page by page are inserted where they sort, and a filter keystroke searches
lowercase strings made once per key (only the previous matches when the filter grew).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from operator import itemgetter
from typing import Any

from capit_tui.core.keys import sort_key
from capit_tui.core.model import CappedKey


def ident(key: CappedKey) -> str:
    return f"{key.platform}\x1f{key.id}"


def haystack(key: CappedKey) -> str:
    """What the filter searches: the name and the platform, lowercase (a newline, which no filter
    can hold, keeps a match from spanning the two)."""
    return f"{key.name}\n{key.platform}".lower()


class KeyRows:
    def __init__(self) -> None:
        self.keys: dict[str, CappedKey] = {}  # row key -> key
        self.order: list[str] = []  # row keys in display order
        self._sorts: list[tuple[Any, ...]] = []  # sort_key of each, same order
        self._hay_made: list[str] | None = None  # haystack of each, same order (see `prepare`)
        self._hay_partial: list[str] = []  # the first ones made, while `prepare` goes on
        self.filter = ""
        self._matches: list[int] | None = None  # indices into order matching the filter (None: no filter)

    def __len__(self) -> int:
        return len(self.order)

    def load(self, keys: Iterable[CappedKey]) -> None:
        """Every key anew, sorted (a listing arrives sorted already: then this is one pass)."""
        pairs = [(sort_key(k), k) for k in keys]
        pairs.sort(key=itemgetter(0))  # in C, and one pass when the listing is sorted already (it mostly is)
        self._sorts = [s for s, _ in pairs]
        self.order = [ident(k) for _, k in pairs]
        self.keys = dict(zip(self.order, (k for _, k in pairs), strict=True))
        self._hay_made, self._hay_partial = None, []
        self._refilter()

    def put(self, keys: Iterable[CappedKey]) -> list[str]:
        """Add new keys where they sort and replace changed ones (moved if their place changed).
        Returns the row keys of those whose cells may differ."""
        self._hay_partial = []  # rows move: a `prepare` under way starts again
        touched = []
        for k in keys:
            row = ident(k)
            old = self.keys.get(row)
            s = sort_key(k)
            if old is not None:
                i = self._position(old, row)
                if self._sorts[i] == s:
                    self.keys[row] = k
                    if self._hay_made is not None:
                        self._hay_made[i] = haystack(k)
                    touched.append(row)
                    continue
                self._drop(i)
            i = bisect_left(self._sorts, s)
            self._sorts.insert(i, s)
            self.order.insert(i, row)
            if self._hay_made is not None:
                self._hay_made.insert(i, haystack(k))
            self.keys[row] = k
            touched.append(row)
        self._refilter()
        return touched

    def remove(self, rows: Iterable[str]) -> None:
        gone = {r for r in rows if r in self.keys}
        if not gone:
            return
        self._hay_partial = []
        keep = [i for i, r in enumerate(self.order) if r not in gone]
        self.order = [self.order[i] for i in keep]
        self._sorts = [self._sorts[i] for i in keep]
        if self._hay_made is not None:
            self._hay_made = [self._hay_made[i] for i in keep]
        for r in gone:
            del self.keys[r]
        self._refilter()

    def set_filter(self, text: str) -> None:
        """Show the keys whose name or platform holds `text` (any case); '' shows every key."""
        f = text.lower()
        if f and self._matches is not None and self.filter and f.startswith(self.filter.lower()):
            hay = self._hay
            self._matches = [i for i in self._matches if f in hay[i]]  # a longer filter: the last matches only
            self.filter = text
            return
        self.filter = text
        self._refilter()

    def shown(self) -> list[str]:
        """The row keys the table shows, in order (a new list each time)."""
        if self._matches is None:
            return list(self.order)
        order = self.order
        return [order[i] for i in self._matches]

    # ------------------------------------------------------------ helpers

    def prepare(self, n: int) -> bool:
        """Make up to `n` more of the filter's lowercase strings ahead of the first filter (a chunk a
        tick, so the first keystroke does not make them all); True once every one is made."""
        if self._hay_made is not None:
            return True
        done = self._hay_partial
        if len(done) > len(self.order):
            done.clear()
        keys, order = self.keys, self.order
        done.extend(haystack(keys[r]) for r in order[len(done):len(done) + n])
        if len(done) == len(order):
            self._hay_made, self._hay_partial = done, []
            return True
        return False

    @property
    def _hay(self) -> list[str]:
        if self._hay_made is None:
            self.prepare(len(self.order))
        assert self._hay_made is not None
        return self._hay_made

    @_hay.setter
    def _hay(self, value: list[str]) -> None:
        self._hay_made = value

    def _refilter(self) -> None:
        f = self.filter.lower()
        self._matches = [i for i, h in enumerate(self._hay) if f in h] if f else None

    def _position(self, key: CappedKey, row: str) -> int:
        i = bisect_left(self._sorts, sort_key(key))
        if i < len(self.order) and self.order[i] == row:
            return i
        return self.order.index(row)  # not where it sorts (cannot happen unless sort_key changed): look

    def _drop(self, i: int) -> None:
        del self._sorts[i], self.order[i]
        if self._hay_made is not None:
            del self._hay_made[i]
