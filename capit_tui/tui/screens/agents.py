"""Agents: every coding agent capit knows, found ones first, with the key each one uses now.

Same facts as `capit-tui agents` (agent_status.agent_statuses): found (binary / config only / no),
install (file / manual), its config files under the agent home shown as `~`, the key its files hold
(masked) and which capit key that is (the ledger's current install, matched by the masked form),
with that key's spend against its cap from the live spend watch.

i installs a key into the selected agent (the new-key form, preselected); u restores the agent's
previous config from the latest backup holding its files (diff first, y restores, n cancels);
enter shows the details.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import getters, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Label, Static

from capit_tui.tui.table_nav import TableNav, nav_bindings
from capit_tui.core.agent_status import AgentStatus, RestorePreview, agent_home, agent_statuses
from capit_tui.core.model import CappedKey
from capit_tui.core.money import format_usd
from capit_tui.core.spend_watch import Update
from capit_tui.core.text import display_name, tilde
from capit_tui.tui.typed_app import capit_app
from capit_tui.tui.widgets.modebar import ModeBar
from capit_tui.tui.spend_bar import STYLE, level

WIDE = 120

NARROW_COLUMNS = (("program", "Program"), ("found", "Found"), ("key", "Key in use"), ("capit", "capit key"),
                  ("spend", "Spent/cap"))
WIDE_COLUMNS = (("program", "Program"), ("found", "Found"), ("install", "Install"), ("files", "Config files"),
                ("key", "Key in use"), ("capit", "capit key"), ("spend", "Spent of cap"), ("warnings", "Warnings"))


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


def found_text(st: AgentStatus) -> Text:
    return Text(st.found, style={"binary": "green", "config only": "", "no": "dim"}[st.found])


class AgentsScreen(TableNav, Screen):
    CSS_PATH = "agents.tcss"
    BINDINGS = [
        Binding("i", "install", "Install", id="agent-install", tooltip="Issue a capped key and install it"),
        Binding("u", "restore", "Restore", id="agent-restore", tooltip="Put back the config it had before"),
        Binding("enter", "details", "Details", id="agent-details", priority=True),
    ] + nav_bindings("agents")

    app = capit_app()
    table = getters.query_one("#agents", DataTable)

    def __init__(self) -> None:
        super().__init__()
        self.wide: bool | None = None
        self.statuses: dict[str, AgentStatus] = {}
        self.has_backup: dict[str, bool] = {}
        self._home: Path | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="$")
        yield ModeBar("agents")
        yield DataTable(id="agents", cursor_type="row", zebra_stripes=True)
        yield Static("", id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.app.spend_signal.subscribe(self, self.on_spend)
        self.rebuild()
        self.table.focus()

    def on_screen_resume(self) -> None:
        # back from a modal (an install, a restore) or from another mode: the files may have changed
        if self.is_mounted:
            self.rebuild()

    def on_resize(self) -> None:
        if (self.size.width >= WIDE) != self.wide:
            self.rebuild()

    @property
    def home(self) -> Path:
        if self._home is None:
            self._home = agent_home(self.app.agent_env)
        return self._home

    # ------------------------------------------------------------ rendering

    def scan(self) -> None:
        app = self.app
        self._home = agent_home(app.agent_env)
        found = agent_statuses(app.agent_env, app.ledger, found_first=True)
        self.statuses = {s.name: s for s in found}
        try:
            backups = app.store.list()
        except OSError:
            backups = []
        held = {a for b in backups for a in b.agents}
        self.has_backup = {name: name in held for name in self.statuses}

    def cells(self, st: AgentStatus) -> dict[str, Any]:
        app = self.app
        wide = bool(self.wide)
        a = st.agent
        home = self.home
        if a.support != "file":
            key: Text | str = Text(a.support, style="dim italic")
        elif st.key is None:
            key = Text("-", style="dim")
        else:
            key = st.key.masked
        capit = Text(display_name(st.capit.key_name, 32 if wide else 24)) if st.capit else Text("-", style="dim")
        files = [tilde(f, home) for f in st.files]
        files_text = (files[0] + (f" +{len(files) - 1}" if len(files) > 1 else "")) if files else "-"
        flag = bool(st.warnings) and not wide  # narrow: a ⚠ after the name; the status line says why
        program = Text(display_name(a.title, 20 if wide else (11 if flag else 13)))
        if flag:
            program.append(" ⚠", style="bold yellow")
        warnings = (Text(display_name(st.warnings[0], 40) + (f" (+{len(st.warnings) - 1})" if len(st.warnings) > 1
                                                              else ""), style="yellow")
                    if st.warnings else Text("-", style="dim"))
        return {
            "program": program,
            "found": found_text(st),
            "install": a.support,
            "files": files_text,
            "key": key,
            "capit": capit,
            "spend": spend_text(st, app.spend.keys, short=not wide),
            "warnings": warnings,
        }

    def rebuild(self) -> None:
        app = self.app
        table = self.table
        wide = self.size.width >= WIDE if self.size.width else False
        current = self.cursor_name()
        self.scan()
        columns = WIDE_COLUMNS if wide else NARROW_COLUMNS
        with app.batch_update():
            self.clear_for(wide, columns)
            for st in self.statuses.values():
                cells = self.cells(st)
                table.add_row(*(cells[c] for c, _ in columns), key=st.name)
        if current is not None and current in table.rows:
            table.move_cursor(row=table.get_row_index(current), animate=False)
        self.update_status()
        self.refresh_bindings()

    def on_spend(self, update: Update) -> None:
        """A spend refresh: update the spend cells in place (a new key may mean a new install: rescan)."""
        if not self.is_mounted or not self.table.columns:
            return
        if update.added:
            self.rebuild()
            return
        keys = self.app.spend.keys
        with self.app.batch_update():
            for name, st in self.statuses.items():
                if st.capit is not None and name in self.table.rows:
                    self.table.update_cell(name, "spend", spend_text(st, keys, short=not self.wide))

    def update_status(self) -> None:
        st = self.selected()
        text = Text()
        found = sum(1 for s in self.statuses.values() if s.detection.found)
        if st is None:
            text.append(f"{found} of {len(self.statuses)} agents found", style="dim")
        else:
            files = ", ".join(tilde(f, self.home) for f in st.files) or "no config file"
            text.append(f"{st.agent.title}: ", style="bold")
            text.append(files if st.agent.support == "file" else f"manual: {st.agent.notes}", style="dim")
            for w in st.warnings[:1]:
                text.append(f"\n⚠ {w}", style="yellow")
        self.query_one("#status", Static).update(text)

    @on(DataTable.RowHighlighted, "#agents")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.update_status()
        self.refresh_bindings()

    def cursor_name(self) -> str | None:
        return self.row_key()

    def selected(self) -> AgentStatus | None:
        name = self.cursor_name()
        return self.statuses.get(name) if name else None

    # ------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        st = self.selected()
        if action == "install":
            return True if st is not None and st.agent.support in ("file", "manual") else None
        if action == "restore":
            return True if st is not None and self.has_backup.get(st.name) else None
        if action == "details":
            return True if st is not None else None
        return True

    def action_install(self) -> None:
        st = self.selected()
        if st is not None:
            self.app.action_new_key(agents=[st.name])

    def action_restore(self) -> None:
        st = self.selected()
        if st is None:
            return
        app = self.app
        from capit_tui.core.agent_status import installed_secrets, latest_backup_for, restore_preview
        from capit_tui.tui.modals.restore_review import review_restore

        b = latest_backup_for(app.store, st.name)
        if b is None:
            app.notify(f"No backup holds {st.agent.title}'s files yet: capit-tui makes one before every change.",
                       title="Nothing to restore", markup=False)
            return

        def make() -> RestorePreview:
            secrets = installed_secrets(agent_statuses(app.agent_env, app.ledger))
            return restore_preview(app.store, b.id, st.name, secrets=secrets)

        review_restore(app, make, f"Restore {st.agent.title}'s previous config?", lambda undo: self.rebuild())

    @on(DataTable.RowSelected, "#agents")
    def row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_details()  # a click on the highlighted row

    def action_details(self) -> None:
        st = self.selected()
        if st is None:
            return
        app = self.app

        def done(action: str | None) -> None:
            if action == "install":
                self.action_install()
            elif action == "restore":
                self.action_restore()

        app.push_screen(AgentDetailScreen(st, self.home, app.spend.keys, self.has_backup.get(st.name, False)), done)



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
        Binding("escape,enter,q", "close", "Close", id="agent-detail-close"),
        Binding("i", "pick('install')", "Install key", id="agent-detail-install"),
        Binding("u", "pick('restore')", "Restore previous", id="agent-detail-restore"),
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
