"""Keys (home): every key on every platform with its spend against the cap, refreshed in the background.

The table is a KeyTable (the Line API): it draws only the rows on screen, so 100 000 keys load, scroll
and filter without holding up the app. The rows (KeyRows) are kept as row keys in display order and
changed in place by a refresh; keys streamed in page by page (`extend`) show before the listing ends.
The cursor (a row key), the filter and the marks (space; kept by row key, a key gone drops out) survive a
refresh. `R` rotates the marked keys, or the key under the cursor (newkey/rotate_review.py).
"""

from __future__ import annotations

import gc
from datetime import datetime

from rich.text import Text
from textual import getters, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Static

from capit_tui.core.model import CappedKey
from capit_tui.core.spend_watch import Update
from capit_tui.core.text import display_name, joined, plural
from capit_tui.tui.key_actions import ask_cap, ask_revoke, ask_toggle
from capit_tui.tui.keys_cells import agents_cell, cell_widths, key_cells, measure_cells
from capit_tui.tui.keys_columns import COLUMNS, Layout, bar_width, fit_columns
from capit_tui.tui.keys_listing import KeyRows, ident
from capit_tui.tui.table_nav import TableNav, nav_bindings
from capit_tui.tui.typed_app import capit_app
from capit_tui.tui.widgets.key_table import KeyTable
from capit_tui.tui.widgets.modebar import ModeBar
from capit_tui.tui.widgets.panic_banner import PanicBanner
from capit_tui.tui.widgets.pool_line import PoolLine

__all__ = ["KeysScreen", "agents_cell", "ident"]

MEASURE_AT_ONCE = 200  # keys whose widths are measured before the first paint: a screenful, and more
MEASURE_CHUNK = 500  # the rest, a chunk a tick: ~10 ms (KeysScreen.widths) on a slow, loaded machine
PREPARE_CHUNK = 10_000  # the filter's lowercase strings made in the same tick: ~5-10 ms
COLUMN_IDS = tuple(c.id for c in COLUMNS)


class KeysScreen(TableNav, Screen):
    CSS_PATH = "keys.tcss"
    BINDINGS = [
        Binding("d,delete", "revoke", "Revoke", id="keys.revoke"),
        Binding("e", "edit_cap", "Cap", id="keys.cap"),
        Binding("x", "toggle_key", "Disable", id="keys.toggle"),
        Binding("R", "rotate", "Rotate", show=False, id="keys.rotate"),  # in the help (?), not the footer
        Binding("space", "mark", "Mark", show=False, id="keys.mark"),
        Binding("slash", "filter", "Filter", id="keys.filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="keys.clear_filter"),  # else the marks
    ] + nav_bindings("keys")

    app = capit_app()
    table = getters.query_one("#keys", KeyTable)
    filter_box = getters.query_one("#filter", Input)

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self.wide: bool | None = None  # TableNav's; this screen sizes its columns with `layout`
        self.columns_fit: Layout | None = None  # the columns shown and their widths (keys_columns.fit_columns)
        self.needs: dict[str, int] = {}  # each column's widest cell, whole, over the keys measured so far
        self.bar = 0  # the spend bar's width
        self.rows = KeyRows()
        self.marks: set[str] = set()  # row keys of the marked keys (space), in no order
        self.held: dict[tuple[str, str], list[str]] = {}  # the ledger's holders_by_key(), read once a listing
        self.streaming = False  # rows shown from pages (`extend`) before the listing they belong to is applied
        self._unmeasured: list[str] = []  # row keys whose widths are not in `needs` yet
        self._measuring: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="$")
        yield ModeBar("keys")
        yield PanicBanner()
        yield PoolLine()
        yield Input(placeholder="filter by name or platform (esc clears)", id="filter")
        yield KeyTable(id="keys", zebra_stripes=True)
        yield Static("", id="empty")
        yield Static("", id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.filter_box.display = False
        self.table.set_cells(self.row_cells)
        self.app.spend_signal.subscribe(self, self.on_spend)
        self.app.keys_page_signal.subscribe(self, self.extend)
        self.load()
        self.table.focus()

    # ------------------------------------------------------------ rendering

    def cells(self, k: CappedKey, held: dict[tuple[str, str], list[str]] | None = None) -> dict[str, Text]:
        """The row of `k` at the current layout (keys_cells.key_cells); `held` is the ledger's holders_by_key(),
        read once for many rows."""
        if held is None:
            held = self.app.ledger.holders_by_key()
        return key_cells(k, held, self.columns_fit, self.bar, self.app.now(), self.app.burns,
                         ident(k) in self.marks)

    def row_cells(self, row: str) -> dict[str, Text]:
        """What KeyTable asks for: one row's cells, built when the row comes into view."""
        return self.cells(self.rows.keys[row], self.held)

    @staticmethod
    def measure(rows: list[dict[str, Text]], needs: dict[str, int] | None = None) -> dict[str, int]:
        return measure_cells(rows, needs)

    def widths(self, k: CappedKey, now: datetime) -> tuple[int, ...]:
        return cell_widths(k, now, self.held, self.bar, self.app.burns)

    def measure_keys(self, rows: list[str]) -> None:
        """Widen `needs` for these rows: the widest cell of each column."""
        keys, now = self.rows.keys, self.app.now()
        found = [self.widths(keys[r], now) for r in rows if r in keys]
        if not found:
            return
        needs = self.needs
        for column, widest in zip(COLUMN_IDS, map(max, zip(*found, strict=True)), strict=True):
            if widest > needs.get(column, 0):
                needs[column] = widest

    def queue_measure(self, rows: list[str], *, now: int = MEASURE_AT_ONCE) -> None:
        """Measure the first `now` of these rows at once, and as many spread over the rest (so the columns
        are most likely right from the first paint); the rest a chunk per tick (columns may widen);
        meanwhile the filter's lowercase strings are made, a chunk per tick too."""
        self.measure_keys(rows[:now] + rows[now::max(1, (len(rows) - now) // now)])
        self._unmeasured.extend(rows[now:])
        if self._measuring is None:
            # From the frame after this one: the first rows are painted before any more is measured.
            self._measuring = self.set_interval(0.01, self._measure_more, pause=True)
            self.call_after_refresh(self._measuring.resume)

    def _measure_more(self) -> None:
        # The filter's strings first (~1 us a key): ready for a keystroke within a few ticks even at
        # 100 000 keys, while the widths (~20 us a key) go on for longer.
        prepared = self.rows.prepare(PREPARE_CHUNK)
        if self._unmeasured:
            chunk, self._unmeasured = self._unmeasured[:MEASURE_CHUNK], self._unmeasured[MEASURE_CHUNK:]
            self.measure_keys(chunk)
            self.relayout()
        elif prepared and self._measuring is not None:
            self._measuring.stop()
            self._measuring = None

    def relayout(self) -> None:
        """Give the table the columns that fit the width (when they changed) and the rows shown."""
        self.bar = bar_width(self.size.width)
        if self.needs:
            self.needs["bar"] = self.bar
        layout = fit_columns(self.size.width or 80, self.needs)
        if layout != self.columns_fit:
            self.columns_fit = layout
            self.table.set_columns([(c.id, c.label, w) for c, w in layout.columns])

    def load(self) -> None:
        """The whole listing anew (first draw, a new listing, keys added or removed in numbers)."""
        # Tens of thousands of small objects (sort keys, row keys) are made here and none is ever part of a
        # cycle: with the collector on, they set off a full collection that walks every key (~0.1 s at
        # 10 000 keys). It runs again at the end, after `applied` has frozen what is kept.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._load()
        finally:
            if was_enabled:
                gc.enable()

    def _load(self) -> None:
        self.held = self.app.ledger.holders_by_key()
        self.bar = bar_width(self.size.width)
        self.rows.load(self.app.spend.keys.values())
        self.rows.set_filter(self.filter_text)
        self.marks &= self.rows.keys.keys()
        self.streaming = False
        self.needs, self._unmeasured = {}, []
        shown = self.rows.shown()
        if self.rows.filter:  # the rows on screen first, so their columns are right from the first paint
            first = set(shown)
            shown += [r for r in self.rows.order if r not in first]
        self.queue_measure(shown)
        self.columns_fit = None
        self.table.invalidate()
        self.relayout()
        self.show_rows()
        self.applied()

    def show_rows(self, fallback: int | None = 0) -> None:
        # No refresh_bindings here: which keys the footer shows does not depend on the rows (check_action
        # lets every action through and says why when there is no key), and each call rebuilt the whole
        # footer after the frame, on every filter keystroke and refresh.
        self.table.set_rows(self.rows.shown(), fallback=fallback)
        self.update_status()
        self.show_state()

    @staticmethod
    def applied() -> None:
        # The keys just applied are long-lived and hold no reference cycles: freezing them moves them out
        # of the collector's generations, so a full collection no longer walks every key (at 100 000 keys
        # each one held the event loop for ~0.1 s). Whatever later drops them is freed by refcounting.
        gc.freeze()

    def extend(self, keys: list[CappedKey]) -> None:
        """Keys from a listing still under way (a page): shown where they sort, before the last page.
        The listing, once applied (`on_spend`), replaces them."""
        if not self.is_mounted or not keys:
            return
        self.streaming = True
        touched = self.rows.put(keys)
        self.table.invalidate(touched)
        self.queue_measure(touched, now=MEASURE_CHUNK if self.columns_fit is not None else MEASURE_AT_ONCE)
        self.relayout()
        self.show_rows(fallback=None)

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
        if self.streaming and len(self.rows):
            pass  # the first pages of a listing: shown while the rest arrive
        elif not app.platforms:
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
        return self.table.cursor_key

    def restore_cursor(self, row: str | None) -> None:
        self.move_to_row(row)

    def on_spend(self, update: Update) -> None:
        """Apply a refresh in place: changed rows rebuilt when next drawn, new rows added, gone rows removed."""
        if not self.is_mounted:
            return
        spend = self.app.spend.keys
        added = [f"{p}\x1f{k}" for p, k in update.added]
        changed = [f"{p}\x1f{k}" for p, k in update.changed]
        if self.streaming or len(added) + len(changed) > max(64, len(self.rows) // 4):
            self.load()  # the listing a stream of pages was part of, or most keys new: anew in one pass
            return
        if not (added or changed or update.removed):
            self.show_rows(fallback=None)  # "refreshing…", or a refresh that changed nothing
            return
        if added or changed:
            self.held = self.app.ledger.holders_by_key()
            self.table.invalidate()  # holders may have moved between keys: on-screen rows are built again
        self.rows.remove(f"{p}\x1f{k}" for p, k in update.removed)
        self.marks &= self.rows.keys.keys()  # a revoked or vanished key is no longer marked
        touched = self.rows.put(spend[(p, k)] for p, k in update.added + update.changed if (p, k) in spend)
        self.queue_measure(touched)
        self.relayout()
        self.show_rows(fallback=None)
        self.applied()

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
        if self.streaming:  # a listing still arriving, page by page
            parts.append(f"{plural(len(self.rows), 'key')} so far")
        elif loaded:
            keys_text = f"{plural(n, 'key')} on {plural(len(loaded), 'platform')}"
            if self.filter_text:
                keys_text = f"{shown} of {keys_text} match '{self.filter_text}'"
            parts.append(keys_text)
        if self.marks:
            parts.append(f"{len(self.marks)} marked")
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
        if bar_width(self.size.width) != self.bar:
            self.table.invalidate()  # the spend bar's width is in the cells
        self.relayout()

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

    @on(KeyTable.RowSelected, "#keys")
    def open_details(self, event: KeyTable.RowSelected) -> None:
        key = self.selected()
        if key is not None:
            from capit_tui.tui.modals.key_detail import KeyDetailScreen

            self.app.push_screen(KeyDetailScreen(key))

    def action_revoke(self) -> None:
        key = self.key_or_why("revoke")
        if key is not None:
            ask_revoke(self.app, key)

    def action_mark(self) -> None:
        """Mark or unmark the key under the cursor, then move down (as a file manager does)."""
        row = self.cursor_ident()
        if row is None:
            self.key_or_why("mark")
            return
        self.marks.symmetric_difference_update({row})
        self.table.invalidate([row])
        self.table.action_cursor_down()
        self.update_status()

    def clear_marks(self) -> None:
        marked, self.marks = list(self.marks), set()
        self.table.invalidate(marked)
        self.update_status()

    def marked(self) -> list[CappedKey]:
        """The marked keys in display order (those a filter hides included: the status line counts them)."""
        keys, marks = self.rows.keys, self.marks
        return [keys[r] for r in self.rows.order if r in marks]

    def action_rotate(self) -> None:
        keys = self.marked()
        if not keys:
            key = self.key_or_why("rotate")
            keys = [key] if key is not None else []
        if keys:
            self.plan_rotation(keys)

    @work(thread=True, exclusive=True, group="rotate-plan", exit_on_error=False)
    def plan_rotation(self, keys: list[CappedKey]) -> None:
        """Plan off the UI thread (it reads the agents' files): nothing is issued or written."""
        from capit_tui.core.agent_status import agent_home
        from capit_tui.errors import CapitError
        from capit_tui.tui.newkey.rotate_review import RotateReviewScreen, plan

        app = self.app
        try:
            rotations = plan(app, keys)
        except CapitError as exc:
            title = f"{display_name(keys[0].name, 40)} was not rotated" if len(keys) == 1 else "Nothing was rotated"
            app.call_from_thread(app.notify, str(exc), title=title, severity="error", markup=False)
            return
        app.call_from_thread(app.push_screen,
                             RotateReviewScreen(rotations, agent_home(app.agent_env), on_start=self.clear_marks))

    def action_toggle_key(self) -> None:
        key = self.key_or_why("disable or enable")
        if key is not None:
            ask_toggle(self.app, key)

    def action_edit_cap(self) -> None:
        key = self.key_or_why("re-cap")
        if key is not None:
            ask_cap(self.app, key)

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
        self.rows.set_filter(text)
        self.show_rows()

    @on(Input.Submitted, "#filter")
    def filter_done(self, event: Input.Submitted) -> None:
        self.table.focus()

    def action_clear_filter(self) -> None:
        """Esc: clear the filter; with none, clear the marks."""
        box = self.filter_box
        if not (self.filter_text or box.display):
            if self.marks:
                self.clear_marks()
            return
        box.value = ""
        box.display = False
        self.filter_text = ""
        self.rows.set_filter("")
        self.show_rows(fallback=0)
        self.table.focus()

