"""One key in detail: its spend windows, its spend over time (the local history, which outlives the session,
and the platform's own per-day activity where it has one), its burn rate and where that leads, and the
agents and files holding it."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Sparkline, Static

from capit_tui.core.history import Burn, History, burn_rate, per_hour, project
from capit_tui.core.model import CappedKey, iso
from capit_tui.core.money import format_usd
from capit_tui.core.text import display_name, plural
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
            history = History()
            try:
                samples = history.samples(k.platform, k.id, since=now - timedelta(days=1), until=now)
            finally:
                history.close()
            burn = burn_rate(samples, now)
            yield Label(f"spend over the last day ({plural(len(samples), 'sample')}, local history)", classes="head")
            yield Sparkline([float(s.spent) for s in samples] or [0.0])
            yield Static(Text(_burn_line(burn, project(k, burn, now).describe())), id="burn")
            if self.has_activity():
                yield Label("per day, the last 30 completed UTC days (the platform's activity)", classes="head")
                yield Sparkline([0.0], id="activity-days")
                yield Static(Text("loading…"), id="activity")
                self.load_activity()
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

    def has_activity(self) -> bool:
        """The key's platform keeps per-day history (an adapter with `activity`: OpenRouter)."""
        if self.key.platform not in {c.name for c in self.app.platforms}:
            return False
        return callable(getattr(self.app.platform(self.key.platform), "activity", None))

    @work(exclusive=True, group="key-activity", exit_on_error=False)
    async def load_activity(self) -> None:
        """The platform's per-day spend of this key (OpenRouter GET /activity), summed per day."""
        k = self.key
        adapter: Any = self.app.platform(k.platform)
        try:
            rows = await adapter.activity(k.id)
        except Exception as exc:  # noqa: BLE001 - a platform error is worded, never raised into the view
            self.query_one("#activity", Static).update(Text(f"could not be read: {exc}"))
            return
        days: dict[Any, float] = {}
        for r in rows:
            days[r.day] = days.get(r.day, 0.0) + float(r.usage)
        total = sum((r.usage for r in rows), Decimal(0))
        first = self.app.now().date() - timedelta(days=30)
        self.query_one("#activity-days", Sparkline).data = [days.get(first + timedelta(days=i), 0.0)
                                                            for i in range(30)]
        calls = sum(r.requests for r in rows)
        self.query_one("#activity", Static).update(Text(
            f"{format_usd(total)} in {plural(calls, 'call')} on {plural(len(days), 'day')}" if rows
            else "no spend in the last 30 completed days"))

    def action_close(self) -> None:
        self.dismiss(None)


def _burn_line(burn: Burn, projection: str) -> str:
    if burn.last_hour is None and burn.last_day is None:
        return "burn rate: not enough history yet (it needs a few refreshes over some minutes)"
    return (f"burn {per_hour(burn.last_hour)} over the last hour, {per_hour(burn.last_day)} over the last day"
            f" ({projection})")


def _expiry(k: CappedKey, now: datetime) -> str:
    if k.expires_at is None:
        return "never"
    return f"{iso(k.expires_at)}{' (expired)' if k.is_expired(now) else ''}"
