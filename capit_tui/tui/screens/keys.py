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

from capit_tui.core.durations import age_text
from capit_tui.core.history import per_hour
from capit_tui.core.keys import reset_periods
from capit_tui.core.model import CappedKey
from capit_tui.core.money import format_usd
from capit_tui.core.spend_watch import Update
from capit_tui.core.text import cell_width, display_name, fit_list, joined, middle_ellipsis, plural
from capit_tui.tui.keys_columns import Layout, bar_width, fit_columns
from capit_tui.tui.spend_bar import cap_label, percent_text, spend_bar, status_text
from capit_tui.tui.table_nav import TableNav, nav_bindings
from capit_tui.tui.typed_app import capit_app
from capit_tui.tui.widgets.modebar import ModeBar


def ident(key: CappedKey) -> str:
    return f"{key.platform}\x1f{key.id}"


def agents_cell(holders: list[str], width: int | None, was: list[str] | None = None) -> Text:
    """The agents holding a key, in `width` cells: `claude, codex`, `claude +2` or `3 agents`; '-' for none.
    A key capit-tui installed that no agent holds any more reads `none (was claude)`, in yellow."""
    if not holders:
        if was:  # `none (was claude)` where it fits, else `none`: the key detail names who held it
            full = "none (was " + ", ".join(was) + ")"
            return Text(full if cell_width(full) <= (width or 10_000) else "none", style="yellow")
        return Text("-", style="dim")
    return Text(fit_list(holders, width or 10_000, "agent"))


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
        self.wide: bool | None = None  # TableNav's; this screen sizes its columns with `layout`
        self.columns_fit: Layout | None = None  # the columns shown and their widths (keys_columns.fit_columns)
        self.table_layout: Layout | None = None  # the columns the table was last given
        self.needs: dict[str, int] = {}  # each column's widest cell, whole
        self.bar = 0  # the spend bar's width

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
        """The row of `k` at the current layout; `held` is the ledger's holders_by_key(), read once for many
        rows. A key capit-tui installed that no agent holds any more (replaced, or restored away) reads
        "none (was claude)"."""
        if held is None:
            held = self.app.ledger.holders_by_key()
        holders = held.get((k.platform, k.id), [])
        was = getattr(held, "was", {}).get((k.platform, k.id), [])
        layout = self.columns_fit
        width = (lambda c: layout.width(c) or None) if layout is not None else (lambda c: None)
        name = width("name")
        return {
            "name": Text(middle_ellipsis(k.name, name) if name else display_name(k.name)),
            "platform": Text(display_name(k.platform)),  # every cell from a platform is Text: never markup
            "cap": Text(cap_label(k), justify="right"),
            "spent": Text(format_usd(k.spent), justify="right"),
            "bar": spend_bar(k, self.bar),
            "pct": percent_text(k),
            "today": Text(format_usd(k.usage_daily), justify="right"),
            "month": Text(format_usd(k.usage_monthly), justify="right"),
            "status": status_text(k, self.app.now()),
            "agents": agents_cell(holders, width("agents"), was),
            "last_used": Text(age_text(k.last_used_at, self.app.now()),
                              style="" if k.last_used_at else "dim"),
            "created": Text(k.created_at.strftime("%Y-%m-%d") if k.created_at else "-"),
            "burn": Text(per_hour(getattr(self.app.burns.get((k.platform, k.id)), "last_hour", None)),
                         justify="right"),
        }

    @staticmethod
    def measure(rows: list[dict[str, Any]], needs: dict[str, int] | None = None) -> dict[str, int]:
        """How wide each column's widest cell is (cells built with no layout: names and lists whole)."""
        out = dict(needs or {})
        for cells in rows:
            for c, cell in cells.items():
                out[c] = max(out.get(c, 0), cell_width(cell.plain))
        return out

    def rebuild(self) -> None:
        """Build every row (first draw, a filter change, a change of the columns that fit)."""
        table = self.table
        current = self.cursor_ident()
        app = self.app
        held = app.ledger.holders_by_key()
        keys = self.visible_keys()
        self.columns_fit = None
        self.bar = bar_width(self.size.width)
        self.needs = self.measure([self.cells(k, held) for k in keys])
        layout = fit_columns(self.size.width or 80, self.needs)
        with app.batch_update():
            if self.table_layout != layout or not table.columns:
                table.clear(columns=True)
                for column, w in layout.columns:
                    table.add_column(column.label, width=w, key=column.id)
                self.table_layout = layout
            else:
                table.clear()
            self.columns_fit = layout
            for k in keys:
                cells = self.cells(k, held)
                table.add_row(*(cells[c] for c in layout.ids), key=ident(k))
        self.restore_cursor(current)
        self.update_status()
        self.show_state()
        self.refresh_bindings()

    def failed_first(self) -> dict[str, str]:
        """The platforms whose keys never loaded this session, and why (the last error of each)."""
        app = self.app
        return {name: err for name, err in app.spend.errors.items() if name not in app.loaded_platforms}

    def show_state(self) -> None:
        """The table; or, with nothing to show, why: no platform, no key yet, or keys that could not load."""
        app = self.app
        empty = self.query_one("#empty", Static)
        failed = self.failed_first()
        loaded = app.spend.last_refresh is not None
        state = "table"
        if not app.platforms:
            from capit_tui.core.platform_setup import NO_PLATFORM_HINT

            empty.update(NO_PLATFORM_HINT)
            state = "empty"
        elif not app.spend.keys and failed:
            text = Text()
            text.append(f"Could not load the keys of {joined(sorted(failed))}.", style="bold")
            for err in failed.values():
                text.append(f"\n{err}")
            text.append("\nPress ")
            text.append("r", style="bold")
            text.append(" to retry.")
            empty.update(text)
            state = "error"
        elif not app.spend.keys and loaded:
            empty.update(Text.assemble("No keys yet. Press ", ("n", "bold"), " to issue your first capped key."))
            state = "empty"
        empty.set_class(state == "error", "-error")
        empty.display = state != "table"
        self.table.display = state == "table"

    def cursor_ident(self) -> str | None:
        return self.row_key()

    def restore_cursor(self, row: str | None) -> None:
        self.move_to_row(row)

    def on_spend(self, update: Update) -> None:
        """Apply a refresh in place: changed cells updated, new rows added, gone rows removed."""
        if not self.is_mounted:
            return
        table = self.table
        layout = self.columns_fit
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
                if row in table.rows and row in visible and layout is not None:
                    self.columns_fit = None
                    whole = self.cells(visible[row], held)
                    self.columns_fit = layout
                    grown = self.measure([whole], self.needs)
                    if fit_columns(self.size.width or 80, grown) != layout:
                        needs_rebuild = True  # a wider amount: the columns change, nothing is clipped
                        continue
                    cells = self.cells(visible[row], held)
                    for c in layout.ids:
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
            self.show_state()
            self.refresh_bindings()

    def update_status(self) -> None:
        """One line of counts, then one line per platform that failed (cut with '…'; the whole sentence
        is the line's tooltip, and the error state shows it when nothing loaded)."""
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
        failed = self.failed_first()
        loaded = [c.name for c in app.platforms if c.name in app.loaded_platforms]
        if loaded:
            keys_text = f"{plural(n, 'key')} on {plural(len(loaded), 'platform')}"
            if self.filter_text:
                keys_text = f"{shown} of {keys_text} match '{self.filter_text}'"
            parts.append(keys_text)
        if failed:
            parts.append(f"could not load {joined(sorted(failed))}")
        text = Text(" · ".join(parts), style="dim", no_wrap=True, overflow="ellipsis")
        whole = [text.plain]
        for name, err in spend.errors.items():
            if name in failed and not spend.keys:
                continue  # the error state says it, in full
            line = (f"⚠ {err} Could not load its keys; r retries." if name in failed
                    else f"⚠ {err} Showing the last spend seen.")
            whole.append(line)
            text.append("\n" + line, style="bold red")
        status = self.query_one("#status", Static)
        status.update(text)
        status.tooltip = "\n".join(whole) if spend.errors else None
        status.set_class(bool(spend.errors), "-error")

    def on_resize(self) -> None:
        if (self.columns_fit is None or bar_width(self.size.width) != self.bar
                or fit_columns(self.size.width, self.needs) != self.columns_fit):
            self.rebuild()

    # ------------------------------------------------------------ selection and actions

    def selected(self) -> CappedKey | None:
        row = self.cursor_ident()
        if row is None:
            return None
        platform, key_id = row.split("\x1f", 1)
        return self.app.spend.keys.get((platform, key_id))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return True  # d/e/x with no key under the cursor say why (`key_or_why`), rather than nothing

    def why_no_key(self, doing: str) -> str:
        """Why there is no key to act on: a filter that matches none, no keys yet, or keys not loaded."""
        if self.filter_text:
            return f"No key matches '{self.filter_text}': nothing to {doing}. Esc clears the filter."
        if self.failed_first() and not self.app.spend.keys:
            return f"No keys are loaded: nothing to {doing}. r retries."
        return f"There is no key yet: nothing to {doing}. n issues one."

    def key_or_why(self, doing: str) -> CappedKey | None:
        """The key under the cursor; with none, a toast says why and None."""
        key = self.selected()
        if key is None:
            self.app.notify(self.why_no_key(doing), title="No key selected", severity="warning", markup=False)
        return key

    @on(DataTable.RowSelected, "#keys")
    def open_details(self, event: DataTable.RowSelected) -> None:
        key = self.selected()
        if key is not None:
            from capit_tui.tui.modals.key_detail import KeyDetailScreen

            self.app.push_screen(KeyDetailScreen(key))

    def action_revoke(self) -> None:
        key = self.key_or_why("revoke")
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
        key = self.key_or_why("disable or enable")
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
        key = self.key_or_why("re-cap")
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

