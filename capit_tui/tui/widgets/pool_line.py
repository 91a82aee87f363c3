"""The line above the keys table when settings.toml names pooled budgets ([[pool]]): "Pool daily (capit-*):
$12.40 of $20.00 (62.0%) across 5 keys — enforced by capit-tui watch", one line a pool. The sum is
core.pool's (the platforms' per-window figures; the local history for a platform that keeps one lifetime
counter, read in a thread); only `capit-tui watch` enforces a pool, and only one whose table says
`enforce = true` (or run with --enforce), so the line says "not enforced" otherwise."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import work
from textual.widgets import Static

from capit_tui.core.keys import lifetime_platforms
from capit_tui.core.model import CappedKey
from capit_tui.core.money import format_usd
from capit_tui.core.pool import CAP, Pool, PoolSpend, pool_spend
from capit_tui.core.text import display_name, plural
from capit_tui.tui.typed_app import capit_app

WARN = 80


def pool_name(p: Pool) -> str:
    return f"Pool {p.period}" + ("" if p.match == "*" else f" ({display_name(p.match, 30)})")


def pool_text(s: PoolSpend) -> str:
    p = s.pool
    how = "enforced by capit-tui watch" if p.enforce else "not enforced"
    return (f"{pool_name(p)}: {format_usd(s.spent)} of {format_usd(p.amount)} ({s.percent}%) across "
            f"{plural(s.keys, 'key')} — {how}")


class PoolLine(Static):
    DEFAULT_CSS = """
    PoolLine { height: auto; padding: 0 1; display: none; }
    PoolLine.-on { display: block; }
    PoolLine.-warn { color: $warning; }
    PoolLine.-over { color: $text; background: $error 30%; text-style: bold; }
    """
    app = capit_app()

    def __init__(self) -> None:
        super().__init__("", markup=False, id="pool-line")

    def on_mount(self) -> None:
        self.app.spend_signal.subscribe(self, lambda _update: self.recount())
        self.recount()

    def recount(self) -> None:
        pools = list(self.app.settings.pools)
        if not pools:
            self.set_class(False, "-on")
            return
        self.set_class(True, "-on")
        if self.app.spend.last_refresh is None:
            self.update(Text("\n".join(f"{pool_name(p)}: {format_usd(p.amount)} — not counted yet" for p in pools)))
            return
        keys = list(self.app.spend.keys.values())
        lifetime = lifetime_platforms(self.app.platforms)
        if any(k.platform in lifetime for k in keys):
            self.count_from_history(pools, keys, lifetime, self.app.now())  # SQLite: off the UI thread
        else:
            self.show([pool_spend(p, keys, self.app.now()) for p in pools])

    @work(thread=True, exclusive=True, group="pool-line")
    def count_from_history(self, pools: list[Pool], keys: list[CappedKey], lifetime: set[str],
                           now: datetime) -> None:
        spends = [pool_spend(p, keys, now, lifetime=lifetime) for p in pools]
        self.app.call_from_thread(self.show, spends)

    def show(self, spends: list[PoolSpend]) -> None:
        self.update(Text("\n".join(pool_text(s) for s in spends)))
        top = max((s.percent for s in spends), default=0)
        self.set_class(top >= CAP, "-over")
        self.set_class(WARN <= top < CAP, "-warn")
