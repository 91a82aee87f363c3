"""What each column of the Keys table shows for a key (`key_cells`), and how wide each cell is without
building it (`cell_widths`: a tenth of the time, for 100 000 keys). The columns themselves, and which fit
a width, are keys_columns.py's; the screen that shows them is screens/keys.py."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rich.text import Text

from capit_tui.core.durations import age_text
from capit_tui.core.history import per_hour
from capit_tui.core.model import CappedKey
from capit_tui.core.money import format_usd
from capit_tui.core.text import cell_width, display_name, fit_list, middle_ellipsis
from capit_tui.tui.keys_columns import Layout
from capit_tui.tui.spend_bar import cap_label, percent_text, spend_bar, status_text

Held = Mapping[tuple[str, str], list[str]]  # the ledger's holders_by_key() (its `.was`: who held a key before)
Burns = Mapping[tuple[str, str], Any]  # each key's core.history.Burn
MARK = "✓ "  # before the name of a marked key (space on the Keys screen): read without colour


def agents_cell(holders: list[str], width: int | None, was: list[str] | None = None) -> Text:
    """The agents holding a key, in `width` cells: `claude, codex`, `claude +2` or `3 agents`; '-' for none.
    A key capit-tui installed that no agent holds any more reads `none (was claude)`, in yellow."""
    if not holders:
        if was:  # `none (was claude)` where it fits, else `none`: the key detail names who held it
            full = "none (was " + ", ".join(was) + ")"
            return Text(full if cell_width(full) <= (width or 10_000) else "none", style="yellow")
        return Text("-", style="dim")
    return Text(fit_list(holders, width or 10_000, "agent"))


def name_cell(name: str, width: int | None, marked: bool = False) -> Text:
    """The name cut in the middle to `width` cells (whole with None); a marked key's starts with `✓ `
    (in bold), its name cut to the cells left so the mark always shows."""
    if not marked:
        return Text(middle_ellipsis(name, width) if width else display_name(name))
    rest = max(1, width - len(MARK)) if width else None
    text = Text(MARK, style="bold")
    text.append(middle_ellipsis(name, rest) if rest else display_name(name))
    return text


def key_cells(k: CappedKey, held: Held, layout: Layout | None, bar: int, now: datetime,
              burns: Burns, marked: bool = False) -> dict[str, Text]:
    """The row of `k`: cut to the layout's widths (whole with no layout). A key capit-tui installed that no
    agent holds any more (replaced, or restored away) reads "none (was claude)". A `marked` key's name
    starts with `✓ `."""
    holders = held.get((k.platform, k.id), [])
    was = getattr(held, "was", {}).get((k.platform, k.id), [])
    width = (lambda c: layout.width(c) or None) if layout is not None else (lambda c: None)
    return {
        "name": name_cell(k.name, width("name"), marked),
        "platform": Text(display_name(k.platform)),  # every cell from a platform is Text: never markup
        "cap": Text(cap_label(k), justify="right"),
        "spent": Text(format_usd(k.spent), justify="right"),
        "bar": spend_bar(k, bar),
        "pct": percent_text(k),
        "today": Text(format_usd(k.usage_daily), justify="right"),
        "month": Text(format_usd(k.usage_monthly), justify="right"),
        "status": status_text(k, now),
        "agents": agents_cell(holders, width("agents"), was),
        "last_used": Text(age_text(k.last_used_at, now), style="" if k.last_used_at else "dim"),
        "created": Text(k.created_at.date().isoformat() if k.created_at else "-"),  # YYYY-MM-DD, quicker than strftime
        "burn": Text(per_hour(getattr(burns.get((k.platform, k.id)), "last_hour", None)), justify="right"),
    }


def measure_cells(rows: list[dict[str, Text]], needs: dict[str, int] | None = None) -> dict[str, int]:
    """How wide each column's widest cell is (cells built with no layout: names and lists whole)."""
    out = dict(needs or {})
    for cells in rows:
        for c, cell in cells.items():
            out[c] = max(out.get(c, 0), cell_width(cell.plain))
    return out


def cell_widths(k: CappedKey, now: datetime, held: Held, bar: int, burns: Burns) -> tuple[int, ...]:
    """The width of each of `k`'s cells built whole (as `measure_cells` of `key_cells` with no layout says),
    in COLUMNS order, without building them."""
    def w(s: str) -> int:
        return len(s) if s.isascii() else cell_width(s)  # ASCII: one cell each (controls become '?')

    ident = (k.platform, k.id)
    was = getattr(held, "was", {})
    if ident in held or ident in was:
        agents = w(agents_cell(held.get(ident, []), None, was.get(ident, [])).plain)
    else:
        agents = 1  # '-'
    pct = k.percent
    return (w(k.name) if k.name.isascii() else w(display_name(k.name)),
            w(k.platform) if k.platform.isascii() else w(display_name(k.platform)),
            w(cap_label(k)), len(format_usd(k.spent)), bar,
            1 if pct is None else len(f"{pct:.0f}%") if pct < 1000 else 5,
            len(format_usd(k.usage_daily)), len(format_usd(k.usage_monthly)), len(k.flagged_status(now)),
            agents, len(age_text(k.last_used_at, now)), 10 if k.created_at else 1,
            len(per_hour(getattr(burns.get(ident), "last_hour", None))))
