"""Spend shown as text: a bar of spent/cap coloured by level, a cap label, and an agent's key's spend."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.text import Text

from capit_tui.core.model import CappedKey
from capit_tui.core.money import format_usd

if TYPE_CHECKING:
    from capit_tui.core.agent_status import AgentStatus

SHORT_RESET = {"daily": "/day", "weekly": "/wk", "monthly": "/mo", None: " total"}


def level(pct: Decimal | None) -> str:
    if pct is None:
        return "none"
    if pct >= 100:
        return "over"
    if pct >= 80:
        return "high"
    if pct >= 50:
        return "mid"
    return "low"


STYLE = {"none": "dim", "low": "green", "mid": "yellow", "high": "dark_orange", "over": "bold red"}


def spend_bar(key: CappedKey, width: int = 10) -> Text:
    """██████░░░░ for the part of the cap spent; '(no cap)' for an uncapped key."""
    pct = key.percent
    if pct is None:
        return Text("no cap".center(width), style="dim")
    filled = min(width, int(pct * width / 100 + Decimal("0.5")))
    if pct > 0 and filled == 0:
        filled = 1
    style = STYLE[level(pct)]
    return Text("█" * filled, style=style) + Text("░" * (width - filled), style="dim")


def cap_label(key: CappedKey) -> str:
    if key.limit is None:
        return "none"
    return f"{format_usd(key.limit)}{SHORT_RESET.get(key.limit_reset, '')}"


def percent_text(key: CappedKey) -> Text:
    pct = key.percent
    if pct is None:
        return Text("-", style="dim")
    shown = f"{pct:.0f}%" if pct < 1000 else ">999%"
    return Text(shown, style=STYLE[level(pct)])


def status_text(key: CappedKey, now: datetime | None = None) -> Text:
    """The key's status word as of `now` (the app's clock, so a snapshot never ages), styled."""
    s = key.flagged_status(now)  # 'expiring' for an active key that expires within 7 days
    return Text(s, style={"active": "green", "capped": "bold red", "disabled": "dim", "expired": "red",
                          "expiring": "yellow"}.get(s, ""))


def spend_text(st: AgentStatus, keys: dict[tuple[str, str], CappedKey], *, short: bool = False) -> Text:
    """`$1.20 of $5.00` for the capit key the agent holds; '-' when it holds none; '…' before a refresh."""
    ident = st.capit_ident
    if ident is None:
        return Text("-", style="dim")
    k = keys.get(ident)
    if k is None:
        return Text("…", style="dim")
    sep = "/" if short else " of "
    if k.limit is None:
        return Text(f"{format_usd(k.spent)}{sep}no cap", style="dim")
    return Text(f"{format_usd(k.spent)}{sep}{format_usd(k.limit)}", style=STYLE[level(k.percent)])
