"""One agent in detail: where it is, its files, the key it uses, notes, warnings and what to do next.

Dismisses with "install" or "restore" (i, u) for the Agents screen to do, or None.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from capit_tui.core.agent_status import AgentStatus
from capit_tui.core.model import CappedKey
from capit_tui.core.text import tilde
from capit_tui.tui.spend_bar import spend_text


class AgentDetailScreen(ModalScreen[str | None]):
    """One agent: where it is, its files, the key it uses, notes, warnings and what to do next."""

    DEFAULT_CSS = """
    AgentDetailScreen { align: center middle; }
    AgentDetailScreen > VerticalScroll { width: 90; max-width: 96%; height: auto; max-height: 96%;
        border: thick $primary; background: $surface; padding: 0 1; }
    AgentDetailScreen #name { text-style: bold; }
    AgentDetailScreen .head { color: $text-muted; margin-top: 1; }
    AgentDetailScreen .warning { color: $warning; }
    AgentDetailScreen #keys-hint { color: $text-muted; margin-top: 1; }
    """
    BINDINGS = [
        Binding("escape,enter,q", "close", "Close", id="agent_detail.close"),
        Binding("i", "pick('install')", "Install key", id="agent_detail.install"),
        Binding("u", "pick('restore')", "Restore previous", id="agent_detail.restore"),
    ]

    def __init__(self, st: AgentStatus, home: Path, keys: dict[tuple[str, str], CappedKey], has_backup: bool):
        super().__init__()
        self.st = st
        self.home = home
        self.keys = keys
        self.has_backup = has_backup

    def compose(self) -> ComposeResult:
        st, a, d = self.st, self.st.agent, self.st.detection
        with VerticalScroll():
            yield Label(f"{a.title} ({a.name})", id="name", markup=False)
            t = Table.grid(padding=(0, 2))
            t.add_column(style="dim")
            t.add_column()
            if d.binary:
                found = f"program at {tilde(d.binary, self.home)}"
            elif d.config_exists:
                found = "config folder only (the program is not on PATH)"
            else:
                found = "not found"
            t.add_row("found", found)
            t.add_row("install", "file edit: capit-tui writes its config files" if a.support == "file"
                      else f"{a.support}: the key is shown once with the exact steps")
            if st.config_dir is not None:
                t.add_row("config folder", tilde(st.config_dir, self.home))
            for i, f in enumerate(st.files):
                state = "" if f.exists() else "  (does not exist yet)"
                t.add_row("files" if i == 0 else "", tilde(f, self.home) + state)
            if st.key is not None:
                t.add_row("key in use", st.key.masked)
                t.add_row("base URL", st.key.base_url or "(the vendor's default)")
                t.add_row("read from", tilde(st.key.source, self.home))
            elif a.support == "file":
                t.add_row("key in use", "none in its files")
            if st.capit is not None:
                c = st.capit
                t.add_row("capit key", f"{c.key_name} on {c.platform}")
                t.add_row("spent", spend_text(st, self.keys))
                t.add_row("old config", f"in backup {c.backup_id}" if c.backup_id else "none (no file changed)")
            elif st.key is not None:
                t.add_row("capit key", "not one capit-tui installed")
            yield Static(t)
            if a.notes:
                yield Label("notes", classes="head")
                yield Static(a.notes, markup=False)
            if st.warnings:
                yield Label("warnings", classes="head")
                for w in st.warnings:
                    yield Static(f"⚠ {w}", classes="warning", markup=False)
            steps = [] if a.support != "file" else a.after_install()
            if steps:
                yield Label("after an install", classes="head")
                for s in steps:
                    yield Static(s, markup=False)
            hint = "i  install a capped key"
            if a.support == "manual":
                hint += " (issued, then shown once with the exact steps to paste it)"
            if self.has_backup:
                hint += "    u  restore the previous config"
            hint += "    esc  close"
            yield Static(hint, id="keys-hint", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_pick(self, what: str) -> None:
        if what == "restore" and not self.has_backup:
            return
        if what == "install" and self.st.agent.support not in ("file", "manual"):
            return
        self.dismiss(what)
