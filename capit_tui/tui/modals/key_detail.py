"""One key in detail: its spend windows, the spend seen this session, the agents and files holding it."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Sparkline, Static

from capit_tui.core.model import CappedKey, iso
from capit_tui.core.money import format_usd
from capit_tui.core.text import display_name
from capit_tui.tui.spend_bar import percent_text, spend_bar
from capit_tui.tui.typed_app import capit_app


class KeyDetailScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    KeyDetailScreen { align: center middle; }
    KeyDetailScreen > VerticalScroll { width: 76; max-width: 96%; height: auto; max-height: 96%;
        border: thick $primary; background: $surface; padding: 0 1; }
    KeyDetailScreen #name { text-style: bold; }
    KeyDetailScreen Sparkline { height: 2; margin: 0 0 1 0; }
    KeyDetailScreen .head { color: $text-muted; margin-top: 1; }
    KeyDetailScreen .warn { color: $warning; }
    """
    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="key_detail.close")]

    app = capit_app()

    def __init__(self, key: CappedKey):
        super().__init__()
        self.key = key

    def compose(self) -> ComposeResult:
        app = self.app
        k = self.key
        with VerticalScroll():
            now = app.now()
            yield Label(f"{display_name(k.name, 60)}  ({k.platform}, {k.status_at(now)})", id="name", markup=False)
            t = Table.grid(padding=(0, 2))
            t.add_column(style="dim")
            t.add_column()
            t.add_row("cap", Text(k.budget.describe()))
            t.add_row("spent now", Text(f"{format_usd(k.spent)}  ") + spend_bar(k, 20) + Text(" ") + percent_text(k))
            if k.remaining is not None:  # derived from the spend as shown, so the two add up to the cap
                t.add_row("remaining", Text(format_usd(k.remaining)))
            # a Rich table parses a str cell as markup: platform text goes in as Text, always
            for label, value in (("today", format_usd(k.usage_daily)), ("this week", format_usd(k.usage_weekly)),
                                 ("this month", format_usd(k.usage_monthly)), ("all time", format_usd(k.usage)),
                                 ("id", k.id), ("label", k.label or "-"), ("created", iso(k.created_at) or "-"),
                                 ("updated", iso(k.updated_at) or "-"),
                                 ("last used", iso(k.last_used_at) or "never"),
                                 ("expires", _expiry(k, now))):
                t.add_row(label, Text(value))
            yield Static(t)
            history = [float(v) for v in app.spend.history.get((k.platform, k.id), [])]
            yield Label(f"spend seen this session ({len(history)} refreshes)", classes="head")
            yield Sparkline(history or [0.0])
            installs = app.ledger.installs_of(k.platform, k.id)
            yield Label("installed in", classes="head")
            if installs:
                for i in installs:
                    files = ", ".join(i.files) or "no file"
                    state = " (revoked)" if i.revoked else ""
                    yield Static(f"{i.agent}{state}: {files}  (backup {i.backup_id or '-'}, {i.time})", markup=False)
                if not app.holders(k) and not k.disabled:
                    yield Static("No agent holds it any more, and it can still spend: d on Keys revokes it.",
                                 markup=False, classes="warn")
            else:
                yield Static("No agent installed by capit-tui holds this key.", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)


def _expiry(k: CappedKey, now: datetime) -> str:
    if k.expires_at is None:
        return "never"
    return f"{iso(k.expires_at)}{' (expired)' if k.is_expired(now) else ''}"
