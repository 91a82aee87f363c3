"""Which columns the Keys table shows at a terminal width, and how wide each is: a table, not if-chains.

Every column has a priority (0 stays always; the highest number goes first when the terminal is narrow),
the least width its cells may take and, for the two columns that can shorten their text (the name, cut
in the middle; the agents, a list that becomes `claude +2`), the most. The other columns are as wide
as their widest cell: money is never clipped. A new column is one more row in COLUMNS.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from capit_tui.core.text import cell_width

PAD = 2  # DataTable's cell padding, one cell each side
SCROLLBAR = 1  # app.tcss: scrollbar-size-vertical


@dataclass(frozen=True)
class Column:
    id: str
    label: str
    priority: int  # 0: always shown; the highest number is dropped first
    least: int = 0  # the narrowest its cells may be (the label always fits)
    most: int | None = None  # a column that can shorten its text: never wider than this

    @property
    def shortens(self) -> bool:
        return self.most is not None


COLUMNS: tuple[Column, ...] = (
    Column("name", "Name", 0, least=20, most=40),
    Column("platform", "Platform", 6),
    Column("cap", "Cap", 1),
    Column("spent", "Spent", 1),
    Column("bar", "Spend", 3, least=10),
    Column("pct", "%", 4, least=4),
    Column("today", "Today", 9),
    Column("month", "Month", 8),
    Column("status", "Status", 2),
    Column("agents", "Agents", 2, least=8, most=24),
    Column("last_used", "Last used", 7),
    Column("created", "Created", 5),
    Column("burn", "Burn", 10),  # dollars per hour over the last hour (core.history): first to go when narrow
)

BAR_WIDE_FROM = 140  # terminal columns from which the spend bar is 16 cells rather than 10


def bar_width(total: int) -> int:
    return 16 if total >= BAR_WIDE_FROM else 10


@dataclass(frozen=True)
class Layout:
    columns: tuple[tuple[Column, int], ...]  # (column, cell width) in display order

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(c.id for c, _ in self.columns)

    @cached_property
    def widths(self) -> dict[str, int]:
        """Each shown column's cell width, by id (read for every row drawn: one look-up, not a scan)."""
        return {c.id: w for c, w in self.columns}

    def width(self, column_id: str) -> int:
        return self.widths.get(column_id, 0)


def fit_columns(total: int, needs: dict[str, int], columns: tuple[Column, ...] = COLUMNS) -> Layout:
    """The columns that fit in `total` terminal cells, given how wide each column's widest cell is
    (`needs`, by column id). Columns that shorten their text shrink first (to `least`); then the
    lowest-priority columns go, one at a time, until the rest fit."""
    room = max(1, total - SCROLLBAR)

    def wanted(c: Column) -> int:
        w = max(needs.get(c.id, 0), c.least, cell_width(c.label))
        return min(w, max(c.most, c.least, cell_width(c.label))) if c.most is not None else w

    def least(c: Column) -> int:
        return max(c.least, cell_width(c.label)) if c.shortens else wanted(c)

    shown = list(columns)
    while len(shown) > 1 and sum(least(c) + PAD for c in shown) > room:
        shown.remove(max((c for c in shown if c.priority > 0), key=lambda c: c.priority,
                         default=shown[-1]))
    widths = {c.id: least(c) for c in shown}
    spare = room - sum(w + PAD for w in widths.values())
    for c in sorted((c for c in shown if c.shortens), key=lambda c: c.priority):
        grow = max(0, min(spare, wanted(c) - widths[c.id]))
        widths[c.id] += grow
        spare -= grow
    return Layout(tuple((c, widths[c.id]) for c in shown))
