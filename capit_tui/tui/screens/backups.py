"""Backups: every backup capit-tui made before changing an agent's files, newest first.

Enter previews the diff back to a backup's files; y restores them through the same core as
`capit-tui backups restore` (agent_status.restore_preview / restore_apply, i.e. changes.apply), which
backs up the files as they are now first, so a restore can itself be undone from this screen.

`RestoreReviewScreen` and `review_restore()` are shared with the Agents screen's `u`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Header, Label, Static

from capit_tui.tui.table_nav import TableNav, nav_bindings
from capit_tui.core.agent_status import agent_home, backup_key_labels, tilde_text
from capit_tui.core.restore import NothingToRestore, RestorePreview, restore_apply
from capit_tui.core.backups import Backup, BackupError
from capit_tui.core.keys import display_name
from capit_tui.tui.widgets.diff_view import DiffView
from capit_tui.tui.widgets.modebar import ModeBar

WIDE = 120

NARROW_COLUMNS = (("when", "When (UTC)"), ("reason", "Reason"), ("agents", "Agents"), ("files", "Files"),
                  ("key", "Replaced by"))
WIDE_COLUMNS = (("id", "ID"), ("when", "When (UTC)"), ("reason", "Reason"), ("agents", "Agents"),
                ("files", "Files"), ("key", "Replaced by"))

EMPTY = ("No backups yet. capit-tui makes one before every change to an agent's files (each install and "
         "each restore), so whatever it changes can be put back from here.")


def when(b: Backup) -> str:
    return b.created_at.strftime("%Y-%m-%d %H:%M")


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


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


# ---------------------------------------------------------------- the review modal


class RestoreReviewScreen(ModalScreen[bool]):
    """The diff back to a backup's files (masked, paths under the agent home as ~), y restores."""

    DEFAULT_CSS = """
    RestoreReviewScreen { align: center middle; }
    RestoreReviewScreen > #dialog { width: 110; max-width: 96%; height: 92%; border: thick $warning;
        background: $surface; padding: 0 1; }
    RestoreReviewScreen #title { text-style: bold; width: 1fr; }
    RestoreReviewScreen .line { color: $text-muted; }
    RestoreReviewScreen #error { background: $error 20%; color: $text; padding: 0 1; }
    RestoreReviewScreen #buttons { height: auto; align: right middle; margin-right: 1; }
    RestoreReviewScreen Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Restore", id="restore-yes"),
        Binding("n,escape", "answer(False)", "Cancel", id="restore-no"),
        Binding("j", "scroll(1)", show=False, id="restore-down"),
        Binding("k", "scroll(-1)", show=False, id="restore-up"),
    ]

    def __init__(self, title: str, rp: RestorePreview, home: Any, *, error: str | None = None):
        super().__init__()
        self.title_text = title
        self.rp = rp
        self.home = home
        self.error = error

    def compose(self) -> ComposeResult:
        b = self.rp.backup
        files = plural(self.rp.changes, "file")
        reason = b.meta.get("reason", "change")
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="title", markup=False)
            if reason == "install":
                before = "an install"
            elif reason == "restore":
                before = f"the restore of backup {b.meta['restored']}" if b.meta.get("restored") else "a restore"
            else:
                before = str(reason)
            yield Static(f"Puts {files} back as in backup {b.id}, made before {before} on {when(b)} UTC. "
                         "The files as they are now are backed up first, so this can be undone.",
                         classes="line", markup=False)
            keys = backup_key_labels(b, agent=self.rp.agent)
            if keys:
                yield Static(f"Replaced by {', '.join(keys)}.", classes="line", markup=False)
            if self.error:
                yield Static(tilde_text(self.error, self.home), id="error", markup=False)
            yield DiffView(tilde_text(self.rp.diff(), self.home), id="diff")
            with Horizontal(id="buttons"):
                yield Button("Restore (y)", id="yes", variant="warning", compact=True)
                yield Button("Cancel (n)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one(DiffView).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def action_scroll(self, lines: int) -> None:
        view = self.query_one(DiffView)
        view.scroll_relative(y=lines, animate=False)


def review_restore(app: Any, make: Callable[[], RestorePreview], title: str,
                   done: Callable[[Backup | None], None] | None = None, *, error: str | None = None) -> None:
    """Preview a restore in the review modal; on y write it. A file changed meanwhile -> preview again.

    `make` builds a fresh preview (it reads the files now); `done` gets the undo backup, or None.
    """
    finish = done or (lambda b: None)
    try:
        rp = make()
    except (BackupError, NothingToRestore) as exc:
        app.notify(str(exc), title="Nothing restored", severity="error", markup=False)
        finish(None)
        return
    if not rp.changes:
        app.notify(f"The files already match backup {rp.backup.id}; nothing to restore.",
                   title="Nothing to restore", markup=False)
        finish(None)
        return
    home = agent_home(app.agent_env)

    def answered(yes: bool | None) -> None:
        from capit_tui.core.changes import ApplyError, StaleError

        if not yes:
            finish(None)
            return
        try:
            undo = restore_apply(app.store, rp)
        except StaleError as exc:
            review_restore(app, make, title, done, error=str(exc))
            return
        except (ApplyError, BackupError, OSError) as exc:
            app.notify(tilde_text(str(exc), home), title="Not restored", severity="error", timeout=20,
                       markup=False)
            finish(None)
            return
        restored = [c for c in rp.plan.changes if c.after is not None]
        removed = [c for c in rp.plan.changes if c.after is None]
        what = f"Restored {plural(len(restored), 'file')}"
        if removed:
            what += f" and removed {plural(len(removed), 'file')} that did not exist before"
        app.notify(f"{what} from backup {rp.backup.id}. The files as they were just now are in backup {undo.id}.",
                   title="Restored", markup=False)
        finish(undo)

    app.push_screen(RestoreReviewScreen(title, rp, home, error=error), answered)


# ---------------------------------------------------------------- the screen


class BackupsScreen(TableNav, Screen):
    CSS_PATH = "backups.tcss"
    BINDINGS = [
        Binding("enter", "restore", "Preview restore", id="backup-restore", priority=True),
    ] + nav_bindings("backups")

    def __init__(self) -> None:
        super().__init__()
        self.wide: bool | None = None
        self.backups: list[Backup] = []

    def compose(self) -> ComposeResult:
        yield Header(icon="$")
        yield ModeBar("backups")
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

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#backups", DataTable)

    # ------------------------------------------------------------ rendering

    def cells(self, b: Backup) -> dict[str, Any]:
        return {
            "id": b.id,
            "when": when(b),
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
        app: Any = self.app
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
        app: Any = self.app
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
        app: Any = self.app
        from capit_tui.core.agent_status import agent_statuses, installed_secrets
        from capit_tui.core.restore import restore_preview

        def make() -> RestorePreview:
            secrets = installed_secrets(agent_statuses(app.agent_env, app.ledger))
            return restore_preview(app.store, b.id, secrets=secrets)

        who = ", ".join(b.agents) or "the files"
        review_restore(app, make, f"Restore {who} to backup {b.id}?", lambda undo: self.rebuild())

