"""The review before a restore: the diff back to a backup's files, masked, with paths under the agent
home as `~`; y restores through the same core as `capit-tui backups restore` (core.restore: restore_preview /
restore_apply, i.e. changes.apply, then the ledger follows the files), which backs up the files as they are
now first, so a restore can itself be undone. A file changed since the preview: previewed again, with the reason.

Used by the Backups screen (enter) and the Agents screen (u).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from capit_tui.core.agent_status import agent_home, backup_key_labels
from capit_tui.core.backups import Backup, BackupError
from capit_tui.core.restore import NothingToRestore, RestorePreview, restore_apply
from capit_tui.core.text import plural, tilde_text, timestamp
from capit_tui.tui.widgets.diff_view import DiffView

if TYPE_CHECKING:
    from capit_tui.tui.app import CapitApp


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
        Binding("y", "answer(True)", "Restore", id="restore.yes"),
        Binding("n,escape", "answer(False)", "Cancel", id="restore.no"),
        Binding("j", "scroll(1)", show=False, id="restore.down"),
        Binding("k", "scroll(-1)", show=False, id="restore.up"),
    ]

    def __init__(self, title: str, rp: RestorePreview, home: Path, *, error: str | None = None):
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
            made = timestamp(b.created_at)
            yield Static(f"Puts {files} back as in backup {b.id}, made before {before} on {made} UTC. "
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


def review_restore(app: CapitApp, make: Callable[[], RestorePreview], title: str,
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
            undo = restore_apply(app.store, rp, app.ledger, app.agent_env)
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
        offer_revoke_removed(app, rp)
        finish(undo)

    app.push_screen(RestoreReviewScreen(title, rp, home, error=error), answered)


def offer_revoke_removed(app: CapitApp, rp: RestorePreview) -> None:
    """After a restore: a capit key it took out of the agents' files that no agent holds any more is still
    live. Offer to revoke it (through the app's revoke, the Keys screen's path)."""
    from capit_tui.core.replaced import orphaned
    from capit_tui.tui.modals.confirm import ConfirmScreen

    configured = {c.name for c in app.platforms}
    gone = [r for r in orphaned(rp.held, app.ledger, app.agent_env) if r.platform in configured]
    if not gone:
        return
    for r in gone:
        r.key = app.spend.keys.get((r.platform, r.key_id))
    body = [f"{r.name} ({r.cap_text}) was in {', '.join(r.agents)}'s files. capit-tui issued it, no agent holds "
            "it now, and it can still spend." for r in gone]

    def answered(yes: bool | None) -> None:
        if yes:
            for r in gone:
                app.revoke_key(r.capped())

    title = "Revoke the key the restore removed?" if len(gone) == 1 else "Revoke the keys the restore removed?"
    app.push_screen(ConfirmScreen(title, body, yes="Revoke", no="Keep", danger=True), answered)
