"""Agents: every coding agent capit knows, found ones first, with the key each one uses now.

Same facts as `capit-tui agents` (agent_status.agent_statuses): found (binary / config only / no),
install (file / manual), its config files under the agent home shown as `~`, the key its files hold
(masked) and which capit key that is (the ledger's current install, matched by the masked form),
with that key's spend against its cap from the live spend watch.

i installs a key into the selected agent (the new-key form, preselected); u restores the agent's
previous config from the latest backup holding its files (diff first, y restores, n cancels);
enter shows the details (`modals/agent_detail.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import getters, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from capit_tui.core.agent_status import AgentStatus, agent_home, agent_statuses
from capit_tui.core.restore import RestorePreview
from capit_tui.core.spend_watch import Update
from capit_tui.core.text import cell_width, display_name, middle_ellipsis, tilde
from capit_tui.tui.modals.agent_detail import AgentDetailScreen
from capit_tui.tui.spend_bar import spend_text
from capit_tui.tui.table_nav import TableNav, nav_bindings
from capit_tui.tui.typed_app import capit_app
from capit_tui.tui.widgets.modebar import ModeBar
from capit_tui.tui.widgets.panic_banner import PanicBanner

WIDE = 120

NARROW_COLUMNS = (("program", "Program"), ("found", "Found"), ("key", "Key in use"), ("capit", "capit key"),
                  ("spend", "Spent/cap"))
WIDE_COLUMNS = (("program", "Program"), ("found", "Found"), ("install", "Install"), ("files", "Config files"),
                ("key", "Key in use"), ("capit", "capit key"), ("spend", "Spent of cap"), ("warnings", "Warnings"))


def found_text(st: AgentStatus) -> Text:
    return Text(st.found, style={"binary": "green", "config only": "", "no": "dim"}[st.found])


class AgentsScreen(TableNav, Screen):
    CSS_PATH = "agents.tcss"
    BINDINGS = [
        Binding("i", "install", "Install", id="agents.install", tooltip="Issue a capped key and install it"),
        Binding("u", "restore", "Restore", id="agents.restore", tooltip="Put back the config it had before"),
        Binding("enter", "details", "Details", id="agents.details", priority=True),
    ] + nav_bindings("agents")

    app = capit_app()
    table = getters.query_one("#agents", DataTable)

    def __init__(self) -> None:
        super().__init__()
        self.wide: bool | None = None
        self.statuses: dict[str, AgentStatus] = {}
        self.has_backup: dict[str, bool] = {}
        self.capit_width: int | None = None  # the capit key column: what the others leave (None: whole)
        self._home: Path | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="$")
        yield ModeBar("agents")
        yield PanicBanner()
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
            key = Text("unknown" if st.key_unknown else "-", style="dim")
        else:
            key = st.key.masked
        name_width = min(self.capit_width or 32, 32)
        capit = Text(middle_ellipsis(st.capit.key_name, name_width)) if st.capit else Text("-", style="dim")
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
            self.capit_width = None
            self.capit_width = self.room_for_capit([self.cells(st) for st in self.statuses.values()], columns)
            for st in self.statuses.values():
                cells = self.cells(st)
                table.add_row(*(cells[c] for c, _ in columns), key=st.name)
        if current is not None and current in table.rows:
            table.move_cursor(row=table.get_row_index(current), animate=False)
        self.update_status()
        self.refresh_bindings()

    def room_for_capit(self, rows: list[dict[str, Any]], columns: tuple[tuple[str, str], ...]) -> int:
        """The width the capit key names may take: what the other columns leave (they are never cut, so
        that a spend such as `$0.03/$3.00` is whole), between 12 and 32 cells; names are cut in the middle."""
        def widest(c: str, label: str) -> int:
            return max([cell_width(label)] + [cell_width(getattr(r[c], "plain", str(r[c]))) for r in rows])

        others = sum(widest(c, label) + 2 for c, label in columns if c != "capit")
        height = self.table.size.height
        scrollbar = 1 if not height or len(rows) + 1 > height else 0  # rows and the header: more than fit
        return max(12, min(32, (self.size.width or 80) - scrollbar - others - 2))

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
        from capit_tui.core.agent_status import installed_secrets
        from capit_tui.core.restore import restore_preview
        from capit_tui.tui.modals.restore_review import review_restore

        b = app.store.latest(st.name)
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
