"""Keys (home): every key on every platform with its spend against the cap, refreshed in the background.

Rows are keyed by (platform, id) and updated in place; the cursor and the filter survive a refresh.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.text import Text
from textual import getters, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from capit_tui.core.keys import reset_periods
from capit_tui.core.model import CappedKey, reset_label
from capit_tui.core.money import format_usd
from capit_tui.core.spend_watch import Update
from capit_tui.core.text import display_name, plural
from capit_tui.tui.spend_bar import cap_label, percent_text, spend_bar, status_text
from capit_tui.tui.table_nav import TableNav, nav_bindings
from capit_tui.tui.typed_app import capit_app
from capit_tui.tui.widgets.modebar import ModeBar

WIDE = 120  # columns from which the table shows every field

NARROW_COLUMNS = (("name", "Name"), ("cap", "Cap"), ("spent", "Spent"), ("bar", "Spend"), ("pct", "%"),
                  ("status", "Status"), ("agents", "Agents"))
WIDE_COLUMNS = (("name", "Name"), ("platform", "Platform"), ("cap", "Cap"), ("reset", "Reset"),
                ("spent", "Spent"), ("bar", "Spend"), ("pct", "%"), ("today", "Today"), ("month", "Month"),
                ("status", "Status"), ("agents", "Agents"), ("created", "Created"))


def ident(key: CappedKey) -> str:
    return f"{key.platform}\x1f{key.id}"


class KeysScreen(TableNav, Screen):
    CSS_PATH = "keys.tcss"
    BINDINGS = [
        Binding("d,delete", "revoke", "Revoke", id="keys.revoke"),
        Binding("e", "edit_cap", "Cap", id="keys.cap"),
        Binding("x", "toggle_key", "Disable", id="keys.toggle"),
        Binding("slash", "filter", "Filter", id="keys.filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="keys.clear_filter"),
    ] + nav_bindings("keys")

    app = capit_app()
    table = getters.query_one("#keys", DataTable)
    filter_box = getters.query_one("#filter", Input)

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self.wide: bool | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="$")
        yield ModeBar("keys")
        yield Input(placeholder="filter by name or platform (esc clears)", id="filter")
        table: DataTable[Any] = DataTable(id="keys", cursor_type="row", zebra_stripes=True)
        table.show_cursor = True
        yield table
        yield Static("", id="empty")
        yield Static("", id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.filter_box.display = False
        self.app.spend_signal.subscribe(self, self.on_spend)
        self.rebuild()
        self.table.focus()

    # ------------------------------------------------------------ rendering

    def visible_keys(self) -> list[CappedKey]:
        from capit_tui.core.keys import sort_key

        keys = sorted(self.app.spend.keys.values(), key=sort_key)
        f = self.filter_text.lower()
        if f:
            keys = [k for k in keys if f in k.name.lower() or f in k.platform.lower()]
        return keys

    def cells(self, k: CappedKey, held: dict[tuple[str, str], list[str]] | None = None) -> dict[str, Any]:
        """The row of `k`; `held` is the ledger's holders_by_key(), read once for many rows. A key capit-tui
        installed that no agent holds any more (replaced, or restored away) reads "none (was claude)"."""
        if held is None:
            held = self.app.ledger.holders_by_key()
        holders = held.get((k.platform, k.id), [])
        was = getattr(held, "was", {}).get((k.platform, k.id), [])
        wide = bool(self.wide)
        return {
            "name": Text(display_name(k.name, 40 if wide else 20)),
            "platform": Text(k.platform),  # every cell from a platform is Text: never parsed as markup
            "cap": Text(cap_label(k) if not wide else format_usd(k.limit), justify="right"),
            "reset": Text(reset_label(k.limit_reset)),
            "spent": Text(format_usd(k.spent), justify="right"),
            "bar": spend_bar(k, 16 if wide else 10),
            "pct": percent_text(k),
            "today": Text(format_usd(k.usage_daily), justify="right"),
            "month": Text(format_usd(k.usage_monthly), justify="right"),
            "status": status_text(k),
            "agents": (Text(",".join(holders)) if holders else
                       Text(f"none (was {','.join(was)})", style="yellow") if was else Text("-", style="dim")),
            "created": Text(k.created_at.strftime("%Y-%m-%d") if k.created_at else "-"),
        }

    def rebuild(self) -> None:
        """Build every row (first draw, a filter change, a width class change)."""
        table = self.table
        wide = self.size.width >= WIDE if self.size.width else False
        current = self.cursor_ident()
        columns = WIDE_COLUMNS if wide else NARROW_COLUMNS
        with self.app.batch_update():
            self.clear_for(wide, columns)
            held = self.app.ledger.holders_by_key()
            for k in self.visible_keys():
                cells = self.cells(k, held)
                table.add_row(*(cells[c] for c, _ in columns), key=ident(k))
        self.restore_cursor(current)
        self.update_status()
        app = self.app
        no_keys = not app.spend.keys and (app.spend.last_refresh is not None or not app.platforms)
        empty = self.query_one("#empty", Static)
        if not app.platforms:
            from capit_tui.core.platform_setup import NO_PLATFORM_HINT

            empty.update(NO_PLATFORM_HINT)
        else:
            empty.update(Text.assemble("No keys yet. Press ", ("n", "bold"), " to issue your first capped key."))
        empty.display = no_keys
        table.display = not no_keys
        self.refresh_bindings()  # d/e/x depend on a row being selected

    def cursor_ident(self) -> str | None:
        return self.row_key()

    def restore_cursor(self, row: str | None) -> None:
        self.move_to_row(row)

    def on_spend(self, update: Update) -> None:
        """Apply a refresh in place: changed cells updated, new rows added, gone rows removed."""
        if not self.is_mounted:
            return
        table = self.table
        columns = WIDE_COLUMNS if self.wide else NARROW_COLUMNS
        visible = {ident(k): k for k in self.visible_keys()}
        current = self.cursor_ident()
        needs_rebuild = False
        held = self.app.ledger.holders_by_key() if update.changed else None
        with self.app.batch_update():
            for platform, key_id in update.removed:
                row = f"{platform}\x1f{key_id}"
                if row in table.rows:
                    table.remove_row(row)
            for platform, key_id in update.changed:
                row = f"{platform}\x1f{key_id}"
                if row in table.rows and row in visible:
                    cells = self.cells(visible[row], held)
                    for c, _ in columns:
                        table.update_cell(row, c, cells[c])
                elif row in visible:
                    needs_rebuild = True
            for platform, key_id in update.added:
                if f"{platform}\x1f{key_id}" in visible:
                    needs_rebuild = True
        if needs_rebuild or (not table.row_count and visible) or (not visible and not self.filter_text):
            self.rebuild()
        else:
            self.restore_cursor(current)
            self.update_status()
            self.refresh_bindings()

    def update_status(self) -> None:
        app = self.app
        spend = app.spend
        n = len(spend.keys)
        shown = self.table.row_count
        parts = []
        if app.refreshing:
            parts.append("refreshing…")
        elif spend.last_refresh is not None:
            parts.append(f"refreshed {spend.last_refresh.strftime('%H:%M:%S')} UTC")
        else:
            parts.append("not refreshed yet")
        plats = len(app.platforms)
        keys_text = f"{plural(n, 'key')} on {plural(plats, 'platform')}"
        if self.filter_text:
            keys_text = f"{shown} of {keys_text} match '{self.filter_text}'"
        parts.append(keys_text)
        text = Text(" · ".join(parts), style="dim")
        for name, err in spend.errors.items():
            text.append(f"\n⚠ {name}: {err} Showing the last spend seen.", style="bold red")
        status = self.query_one("#status", Static)
        status.update(text)
        status.set_class(bool(spend.errors), "-error")

    def on_resize(self) -> None:
        wide = self.size.width >= WIDE
        if wide != self.wide:
            self.rebuild()

    # ------------------------------------------------------------ selection and actions

    def selected(self) -> CappedKey | None:
        row = self.cursor_ident()
        if row is None:
            return None
        platform, key_id = row.split("\x1f", 1)
        return self.app.spend.keys.get((platform, key_id))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("revoke", "edit_cap", "toggle_key"):
            return True if self.selected() is not None else None
        return True

    @on(DataTable.RowSelected, "#keys")
    def open_details(self, event: DataTable.RowSelected) -> None:
        key = self.selected()
        if key is not None:
            from capit_tui.tui.modals.key_detail import KeyDetailScreen

            self.app.push_screen(KeyDetailScreen(key))

    def action_revoke(self) -> None:
        key = self.selected()
        if key is None:
            return
        from capit_tui.tui.modals.confirm import ConfirmScreen

        holders = self.app.holders(key)
        body = [f"{display_name(key.name, 60)} on {key.platform} ({key.budget.describe()}, "
                f"{format_usd(key.spent)} spent) will be deleted. This cannot be undone."]
        if holders:
            body.append(f"Held by {', '.join(holders)}: "
                        f"{'they' if len(holders) > 1 else 'it'} will be refused from now on. "
                        "You will be offered to restore the old configs.")
        else:
            body.append("No agent installed by capit-tui holds it.")

        def done(yes: bool | None) -> None:
            if yes:
                self.app.revoke_key(key)

        self.app.push_screen(ConfirmScreen(f"Revoke {display_name(key.name, 40)}?", body, yes="Revoke",
                                           no="Keep", danger=True), done)

    def action_toggle_key(self) -> None:
        key = self.selected()
        if key is None:
            return
        from capit_tui.tui.modals.confirm import ConfirmScreen

        if key.disabled:
            title, body = f"Enable {display_name(key.name, 40)}?", ["Agents holding it can spend again."]
        else:
            title, body = (f"Disable {display_name(key.name, 40)}?",
                           ["Agents holding it are refused until you enable it again. The key is kept."])

        def done(yes: bool | None) -> None:
            if yes:
                self.app.update_key(key, disabled=not key.disabled)

        self.app.push_screen(ConfirmScreen(title, body, yes="Enable" if key.disabled else "Disable"), done)

    def action_edit_cap(self) -> None:
        key = self.selected()
        if key is None:
            return
        from capit_tui.tui.modals.cap import CapScreen

        def done(result: tuple[Decimal, str | None] | None) -> None:
            if result is not None:
                limit, reset = result
                self.app.update_key(key, limit=limit, reset=reset)

        can_reset = bool(reset_periods(next(c for c in self.app.platforms if c.name == key.platform)))
        self.app.push_screen(CapScreen(key, supports_reset=can_reset), done)

    def action_filter(self) -> None:
        box = self.filter_box
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        text = event.value.strip()
        if text == self.filter_text:
            return  # e.g. the box emptied by action_clear_filter, which has already rebuilt the table
        self.filter_text = text
        self.rebuild()

    @on(Input.Submitted, "#filter")
    def filter_done(self, event: Input.Submitted) -> None:
        self.table.focus()

    def action_clear_filter(self) -> None:
        box = self.filter_box
        if self.filter_text or box.display:
            box.value = ""
            box.display = False
            self.filter_text = ""
            self.rebuild()
            self.table.focus()

