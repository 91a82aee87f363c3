"""Listing a paged collection in a sliding window, and the key count each listing remembers.

`sliding_pages` keeps up to `window` page requests in flight. It launches freely up to the page the
count hint says is the last (the first short one); past that it speculates slowly (1, 2, 4, 8 pages
beyond the last full page read), so a small account costs few requests and a big one fills the
window within a few round trips. The first short page seen stops the launches and cancels every page
beyond it. Pages are read in order (the repeated-page check and `on_page` see them as the server
numbered them), each page's retries are `fetch`'s own, and a page that fails fails the listing, the
pages still in flight cancelled.

`CountHints` is the remembered count: one small JSON file in the data dir, `{"<kind> <base url>":
{"<workspace or ''>": count}}`, no secret in it. A wrong hint costs requests, never keys: too low and
the listing goes on past it, too high and the short page cancels the rest; either way it is corrected.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")

WINDOW = 16
"""Page requests in flight at once: enough to hide a 50 ms round trip behind 16 pages; under the
usual HTTP/2 concurrent-stream limits should the transport ever speak it; one connection each."""
FIRST_WINDOW = 4
"""Pages asked at once when no count is remembered (the same 4 the batches asked before)."""
SPECULATE_MAX = 8
"""At most this many pages are asked beyond the last full page read when no count says they exist, so
a listing without a hint asks at most 7 pages past its short one (10 000 keys: <= 109 requests)."""


class PagingStopped(Exception):
    """The server keeps paging past `max_pages` (endless) or sent a page it had sent before
    (it ignores the offset). The adapter words it."""

    def __init__(self, why: str, page: int):
        super().__init__(why)
        self.why = why  # "endless" | "repeat"
        self.page = page


class _Window(Generic[T]):
    def __init__(self, fetch: Callable[[int], Awaitable[list[T]]], *, page_size: int, max_pages: int,
                 window: int, hint: int | None, ident: Callable[[T], str],
                 on_page: Callable[[list[T]], None] | None):
        self.fetch, self.page_size, self.max_pages = fetch, page_size, max_pages
        self.window, self.ident, self.on_page = max(1, window), ident, on_page
        # Pages up to (not including) `limit` may be launched. With a hint: every page up to the one
        # that should be short; without: the first few.
        expected = hint // page_size + 1 if hint is not None else min(FIRST_WINDOW, self.window)
        self.limit = min(max_pages, max(1, expected))
        self.expected = self.limit
        self.speculate = 1
        self.next = 0
        self.done_at: int | None = None  # the first short page seen so far
        self.tasks: dict[int, asyncio.Task[list[T]]] = {}
        self.page_of: dict[asyncio.Task[list[T]], int] = {}
        self.cancelled: list[asyncio.Task[list[T]]] = []
        self.results: dict[int, list[T]] = {}
        self.seen: set[str] = set()
        self.keys: list[T] = []

    def _launch(self) -> None:
        stop = self.limit if self.done_at is None else min(self.limit, self.done_at + 1)
        while len(self.tasks) < self.window and self.next < stop:
            p = self.next
            task = asyncio.ensure_future(self.fetch(p))
            self.tasks[p], self.page_of[task] = task, p
            self.next += 1

    def _consume(self, p: int, items: list[T]) -> None:
        """Page p, in order: the repeated-page check, new items kept (a key created while paging
        shifts the offsets by one), and how far to launch now."""
        ids = [self.ident(i) for i in items]
        if self.done_at is None or p < self.done_at:
            if items and all(i in self.seen for i in ids):
                raise PagingStopped("repeat", p)
        fresh = [item for item, i in zip(items, ids, strict=True) if i not in self.seen]
        self.seen.update(ids)
        self.keys.extend(fresh)
        if self.on_page is not None and fresh:
            self.on_page(fresh)
        if len(items) >= self.page_size and (self.done_at is None or p < self.done_at):
            if p + 1 >= self.max_pages:
                raise PagingStopped("endless", p)
            if p + 1 >= self.expected:  # past what was expected: speculate 1, 2, 4 ... pages ahead
                self.limit = max(self.limit, min(self.max_pages, p + 1 + self.speculate))
                self.speculate = min(self.window, SPECULATE_MAX, self.speculate * 2)

    async def run(self) -> list[T]:
        consumed = 0
        try:
            self._launch()
            while self.tasks:
                finished, _ = await asyncio.wait(self.tasks.values(), return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    p = self.page_of.pop(task, None)
                    if p is None:  # beyond a short page found in this same round: cancelled
                        continue
                    del self.tasks[p]
                    items = task.result()  # a page's failure (after its retries) fails the listing
                    self.results[p] = items
                    if len(items) < self.page_size and (self.done_at is None or p < self.done_at):
                        self.done_at = p
                        self._cancel(beyond=p)
                while consumed in self.results and (self.done_at is None or consumed <= self.done_at):
                    self._consume(consumed, self.results.pop(consumed))
                    consumed += 1
                if self.done_at is not None and consumed > self.done_at:
                    break
                self._launch()
        finally:
            await self._cancel_all()
        return self.keys

    def _cancel(self, beyond: int) -> None:
        for q in [q for q in self.tasks if q > beyond]:
            task = self.tasks.pop(q)
            del self.page_of[task]
            task.cancel()  # nothing of theirs is kept: the short page ends the listing
            self.cancelled.append(task)

    async def _cancel_all(self) -> None:
        """Cancel what is still in flight and wait for it to unwind (its connection goes back to the
        pool, and no failure is left unretrieved)."""
        pending = list(self.tasks.values()) + self.cancelled
        self.tasks.clear()
        self.cancelled = []
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


async def sliding_pages(fetch: Callable[[int], Awaitable[list[T]]], *, page_size: int, max_pages: int,
                        ident: Callable[[T], str], window: int = WINDOW, hint: int | None = None,
                        on_page: Callable[[list[T]], None] | None = None) -> list[T]:
    """Every item of a collection served `page_size` at a time (`fetch(p)` asks for page p, offset
    p * page_size), up to and including the first short page, each item once. Raises what `fetch`
    raises, or PagingStopped."""
    return await _Window(fetch, page_size=page_size, max_pages=max_pages, window=window, hint=hint,
                         ident=ident, on_page=on_page).run()


# ---------------------------------------------------------------- the remembered count


HINTS_FILE = "listing-counts.json"


class CountHints:
    """How many keys each workspace of a platform held at its last listing (a hint, not a secret).
    Read once when made; `save` writes only what changed. Any trouble reading or writing is ignored:
    without a hint the listing just speculates more."""

    def __init__(self, kind: str, base_url: str, path: Path | None = None):
        self.path = path
        self.scope = f"{kind} {base_url}"
        self._all: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self._changed = False
        try:
            if self.path is None:
                from capit_tui.core.paths import data_dir

                self.path = data_dir() / HINTS_FILE
            raw = json.loads(self.path.read_bytes()) if self.path.stat().st_size < 256 * 1024 else {}
        except (OSError, ValueError):
            raw = {}
        if isinstance(raw, dict):
            self._all = raw
            mine = raw.get(self.scope)
            if isinstance(mine, dict):
                self.counts = {str(k): v for k, v in mine.items() if isinstance(v, int) and 0 <= v < 10**7}

    def get(self, workspace: str | None) -> int | None:
        return self.counts.get(workspace or "")

    def set(self, workspace: str | None, count: int) -> None:
        if self.counts.get(workspace or "") != count:
            self.counts[workspace or ""] = count
            self._changed = True

    def save(self) -> None:
        if not self._changed or self.path is None:
            return
        self._all[self.scope] = self.counts
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp.write_bytes(json.dumps(self._all, sort_keys=True).encode())
            os.replace(tmp, self.path)
            self._changed = False
        except OSError:
            try:
                tmp.unlink()
            except OSError:
                pass
