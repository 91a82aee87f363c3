"""Backups: every backup capit-tui made before changing an agent's files, newest first.

Enter previews the diff back to a backup's files (the restore review, `modals/restore_review.py`); y
restores them through the same core as `capit-tui backups restore`, which backs up the files as they are now
first, so a restore can itself be undone from this screen.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import getters, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from capit_tui.core.agent_status import agent_home, backup_key_labels
from capit_tui.core.backups import Backup
from capit_tui.core.restore import RestorePreview
from capit_tui.core.text import display_name, plural, tilde_text, timestamp
from capit_tui.tui.modals.restore_review import review_restore
from capit_tui.tui.table_nav import TableNav, nav_bindings
from capit_tui.tui.typed_app import capit_app
from capit_tui.tui.widgets.modebar import ModeBar
from capit_tui.tui.widgets.panic_banner import PanicBanner

WIDE = 120

NARROW_COLUMNS = (("when", "When (UTC)"), ("reason", "Reason"), ("agents", "Agents"), ("files", "Files"),
                  ("key", "Replaced by"))
WIDE_COLUMNS = (("id", "ID"), ("when", "When (UTC)"), ("reason", "Reason"), ("agents", "Agents"),
                ("files", "Files"), ("key", "Replaced by"))

EMPTY = ("No backups yet. capit-tui makes one before every change to an agent's files (each install and "
         "each restore), so whatever it changes can be put back from here.")


def fit_labels(labels: list[str], width: int) -> str:
    """As many labels as fit in `width`, then `+N` for the rest (the review names them all)."""
    if not labels:
        return "-"
    text = ", ".join(labels)
    if len(text) <= width:
        return text
    for i in range(len(labels) - 1, 0, -1):
        text = ", ".join(labels[:i]) + f" +{len(labels) - i}"
        if len(text) <= width:
            return text
    more = f" +{len(labels) - 1}" if len(labels) > 1 else ""
    return display_name(labels[0], max(4, width - len(more))) + more


class BackupsScreen(TableNav, Screen):
    CSS_PATH = "backups.tcss"
    BINDINGS = [
        Binding("enter", "restore", "Preview restore", id="backups.restore", priority=True),
    ] + nav_bindings("backups")

    app = capit_app()
    table = getters.query_one("#backups", DataTable)

    def __init__(self) -> None:
        super().__init__()
        self.wide: bool | None = None
        self.backups: list[Backup] = []

    def compose(self) -> ComposeResult:
        yield Header(icon="$")
        yield ModeBar("backups")
        yield PanicBanner()
        table: DataTable[Any] = DataTable(id="backups", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static(EMPTY, id="empty", markup=False)
        yield Static("", id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.rebuild()
        self.table.focus()

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.rebuild()

    def on_resize(self) -> None:
        if self.is_mounted:
            self.rebuild()  # "Replaced by" gets whatever width the other columns leave

    # ------------------------------------------------------------ rendering

    def cells(self, b: Backup) -> dict[str, Any]:
        return {
            "id": b.id,
            "when": timestamp(b.created_at),
            "reason": str(b.meta.get("reason", "-")),
            "agents": ", ".join(b.agents) or "-",
            "files": str(len(b.files)),
        }

    def fit(self, rows: list[tuple[Backup, dict[str, Any]]], columns: tuple[tuple[str, str], ...]) -> None:
        """Give "Replaced by" the width the other columns leave, so the table never scrolls sideways."""
        used = 0
        for c, label in columns:
            if c != "key":
                used += max([len(label)] + [len(r[c]) for _, r in rows]) + 2
        room = max(12, self.size.width - used - 2 - 1)  # its own padding, the scrollbar
        for b, r in rows:
            r["key"] = fit_labels(backup_key_labels(b, masked=bool(self.wide)), room)

    def rebuild(self) -> None:
        app = self.app
        table = self.table
        wide = self.size.width >= WIDE if self.size.width else False
        current = self.cursor_id()
        try:
            self.backups = app.store.list()
        except OSError as exc:
            self.backups = []
            app.notify(f"Cannot read the backups: {exc}", severity="error", markup=False)
        columns = WIDE_COLUMNS if wide else NARROW_COLUMNS
        with app.batch_update():
            self.clear_for(wide, columns)
            rows = [(b, self.cells(b)) for b in self.backups]
            self.fit(rows, columns)
            for b, cells in rows:
                table.add_row(*(cells[c] for c, _ in columns), key=b.id)
        if current is not None and current in table.rows:
            table.move_cursor(row=table.get_row_index(current), animate=False)
        empty = not self.backups
        table.display = not empty
        self.query_one("#empty", Static).display = empty
        self.update_status()
        self.refresh_bindings()

    def update_status(self) -> None:
        app = self.app
        n = len(self.backups)
        where = tilde_text(str(app.store.root) + "/", agent_home(app.agent_env)).rstrip("/")
        text = f"{plural(n, 'backup')}, newest first, in {where}" if n else f"Backups are kept in {where}"
        self.query_one("#status", Static).update(Text(text, style="dim"))

    def cursor_id(self) -> str | None:
        return self.row_key()

    def selected(self) -> Backup | None:
        bid = self.cursor_id()
        return next((b for b in self.backups if b.id == bid), None)

    # ------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "restore":
            if not self.backups:
                return False  # nothing to preview: not in the footer at all
            return True if self.selected() is not None else None
        return True

    @on(DataTable.RowSelected, "#backups")
    def row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_restore()

    def action_restore(self) -> None:
        b = self.selected()
        if b is None:
            return
        app = self.app
        from capit_tui.core.agent_status import agent_statuses, installed_secrets
        from capit_tui.core.restore import restore_preview

        def make() -> RestorePreview:
            secrets = installed_secrets(agent_statuses(app.agent_env, app.ledger))
            return restore_preview(app.store, b.id, secrets=secrets)

        who = ", ".join(b.agents) or "the files"
        review_restore(app, make, f"Restore {who} to backup {b.id}?", lambda undo: self.rebuild())

