"""Platforms: every known platform (presets and settings.toml), where its management key comes from, its
balance and how many keys it holds; add (the Add platform dialog, which checks the key live), test, remove.

Everything goes through `capit_tui.core.platform_setup`, the same steps as `capit-tui platforms add/test/remove`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text
from textual import getters, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from capit_tui.core import platform_setup as setup
from capit_tui.core.platform_setup import Added, PlatformStatus, error_sentence, short_error
from capit_tui.core.spend_watch import Update
from capit_tui.core.text import display_url
from capit_tui.tui.modals.add_platform import AddPlatformScreen
from capit_tui.tui.table_nav import TableNav, nav_bindings
from capit_tui.tui.typed_app import capit_app
from capit_tui.tui.widgets.modebar import ModeBar
from capit_tui.tui.widgets.panic_banner import PanicBanner

WIDE = 110  # columns from which the table shows kind and the management-key page
LOADING = "loading"

NARROW_COLUMNS = (("name", "Name"), ("url", "Base URL"), ("source", "Key from"), ("balance", "Balance"),
                  ("keys", "Keys"))
WIDE_COLUMNS = (("name", "Name"), ("kind", "Kind"), ("url", "Base URL"), ("source", "Key from"),
                ("balance", "Balance"), ("keys", "Keys"), ("manage", "Management keys are made at"))


class PlatformsScreen(TableNav, Screen):
    CSS_PATH = "platforms.tcss"
    BINDINGS = [
        Binding("a", "add", "Add", id="platforms.add"),
        Binding("t", "test", "Test", id="platforms.test"),
        Binding("d,delete", "remove", "Remove", id="platforms.remove"),
        Binding("r", "refresh", "Refresh", id="platforms.refresh"),
    ] + nav_bindings("platforms")

    app = capit_app()
    table = getters.query_one("#platforms", DataTable)

    def __init__(self) -> None:
        super().__init__()
        self.balances: dict[str, Any] = {}  # name -> LOADING | Balance | None | Exception
        self.wide: bool | None = None
        self.message: Text | None = None  # the last action's result

    def compose(self) -> ComposeResult:
        yield Header(icon="$")
        yield ModeBar("platforms")
        yield PanicBanner()
        table: DataTable[Any] = DataTable(id="platforms", cursor_type="row", zebra_stripes=True)
        yield table
        with Vertical(id="detail-box"):
            yield Static("", id="detail")
        yield Static("", id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        app = self.app
        app.spend_signal.subscribe(self, self.on_spend)
        app.platforms_signal.subscribe(self, self.on_platforms)
        self.rebuild()
        self.table.focus()
        self.fetch_balances()

    # ------------------------------------------------------------ data

    def statuses(self) -> list[PlatformStatus]:
        app = self.app
        return setup.statuses(app.settings, app.platforms)

    def status_of(self, name: str) -> PlatformStatus | None:
        return next((st for st in self.statuses() if st.name == name), None)

    def selected(self) -> PlatformStatus | None:
        name = self.row_key()
        return self.status_of(name) if name is not None else None

    def balance_cell(self, st: PlatformStatus) -> Text:
        if not st.configured:
            return Text("-", style="dim", justify="right")
        value = self.balances.get(st.name, LOADING)
        if value == LOADING:
            return Text("—", style="dim", justify="right")
        if isinstance(value, BaseException):
            return Text(f"⚠ {short_error(value)}", style="bold red", justify="right")
        return Text(setup.balance_text(value), justify="right")

    def keys_cell(self, st: PlatformStatus) -> Text:
        app = self.app
        if not st.configured:
            return Text("-", style="dim", justify="right")
        spend = app.spend
        if st.name in spend.errors:
            return Text("⚠", style="bold red", justify="right")
        count = sum(1 for (platform, _) in spend.keys if platform == st.name)
        if spend.last_refresh is None or (app.refreshing and not count):
            return Text("—", style="dim", justify="right")
        return Text(str(count), justify="right")

    def cells(self, st: PlatformStatus) -> dict[str, Any]:
        cfg = st.config
        wide = bool(self.wide)
        return {
            "name": Text(st.name),
            "kind": cfg.kind,
            "url": Text(cfg.base_url if wide else display_url(cfg.base_url), overflow="ellipsis",
                        no_wrap=True),
            "source": Text(st.source) if st.source else Text("-", style="dim"),
            "balance": self.balance_cell(st),
            "keys": self.keys_cell(st),
            "manage": Text(setup.manage_hint(cfg) if cfg.manage_url or cfg.kind == "oneapi" else "-",
                           style="dim"),
        }

    # ------------------------------------------------------------ rendering

    def rebuild(self) -> None:
        table = self.table
        wide = self.size.width >= WIDE if self.size.width else False
        current = self.selected()
        columns = WIDE_COLUMNS if wide else NARROW_COLUMNS
        with self.app.batch_update():
            self.clear_for(wide, columns)
            for st in self.statuses():
                cells = self.cells(st)
                table.add_row(*(cells[c] for c, _ in columns), key=st.name)
        if current is not None and current.name in table.rows:
            table.move_cursor(row=table.get_row_index(current.name), animate=False)
        self.update_detail()
        self.update_status()

    def update_row(self, name: str) -> None:
        if not self.is_mounted or name not in self.table.rows:
            return
        st = self.status_of(name)
        if st is None:
            return
        cells = self.cells(st)
        for c in ("balance", "keys"):
            self.table.update_cell(name, c, cells[c], update_width=True)

    def update_detail(self) -> None:
        st = self.selected()
        detail = self.query_one("#detail", Static)
        if st is None:
            detail.update("")
            return
        cfg = st.config
        text = Text()
        text.append(setup.title(st.name), style="bold")
        text.append(f" · {setup.KIND_TITLES.get(cfg.kind, cfg.kind)} · {cfg.base_url}\n")
        if st.source is None:
            text.append("Not configured. ", style="bold")
            text.append(f"Press a to add its management key; create one at {setup.manage_hint(cfg)}.")
        else:
            where = {"env": "from the environment (" + _env_var(st.name) + ")", "keyring": "in the system keyring",
                     "file": "in the 0600 credentials file"}.get(st.source, st.source)
            text.append(f"Management key {where}. ")
            text.append("t tests it; d forgets it" if st.source != "env" else "t tests it")
            text.append(f"; new management keys are made at {setup.manage_hint(cfg)}.")
        detail.update(text)

    def update_status(self) -> None:
        sts = self.statuses()
        n_conf = sum(1 for st in sts if st.configured)
        text = Text(f"{len(sts)} known platforms, {n_conf} configured", style="dim")
        if not n_conf:
            text.append(" · press a to add a management key", style="dim")
        if self.message is not None:
            text.append("\n")
            text.append_text(self.message)
        errors = [(name, v) for name, v in self.balances.items() if isinstance(v, BaseException)]
        for name, exc in errors:
            sentence = error_sentence(exc)
            text.append(f"\n⚠ {sentence if name in sentence else f'{name}: {sentence}'}", style="bold red")
        status = self.query_one("#status", Static)
        status.update(text)
        status.set_class(bool(errors) or bool(self.message is not None and self.message.style == "bold red"),
                         "-error")

    def say(self, message: str, *, error: bool = False) -> None:
        self.message = Text(message, style="bold red" if error else "")
        self.update_status()

    def on_resize(self) -> None:
        wide = self.size.width >= WIDE
        if wide != self.wide:
            self.rebuild()

    @on(DataTable.RowHighlighted, "#platforms")
    def highlighted(self) -> None:
        self.update_detail()
        self.refresh_bindings()  # t and d depend on the row

    # ------------------------------------------------------------ app signals

    def on_spend(self, update: Update) -> None:
        if not self.is_mounted:
            return
        for st in self.statuses():
            self.update_row(st.name)

    def on_platforms(self, _: None) -> None:
        if not self.is_mounted:
            return
        app = self.app
        names = {c.name for c in app.platforms}
        self.balances = {n: v for n, v in self.balances.items() if n in names}
        self.rebuild()
        self.fetch_balances()

    # ------------------------------------------------------------ balances

    @work(exclusive=True, group="platform-balances", exit_on_error=False)
    async def fetch_balances(self) -> None:
        app = self.app
        names = [c.name for c in app.platforms]
        for name in names:
            self.balances[name] = LOADING
            self.update_row(name)

        async def one(name: str) -> None:
            try:
                self.balances[name] = await app.platform(name).balance()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # PlatformError: its sentence goes to the status line
                self.balances[name] = exc
            self.update_row(name)

        await asyncio.gather(*(one(n) for n in names))
        self.update_status()

    # ------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "test":
            st = self.selected()
            return True if st is not None and st.configured else None
        if action == "remove":
            st = self.selected()
            app = self.app
            return True if st is not None and (st.configured or st.name in app.settings.platforms) else None
        return True

    def action_refresh(self) -> None:
        self.fetch_balances()
        self.app.action_refresh()

    def action_add(self) -> None:
        app = self.app
        st = self.selected()
        pre = st.name if st is not None and not st.configured else None

        def done(added: Added | None) -> None:
            if added is None:
                return
            app.set_platforms(setup.with_platform(app.platforms, added.platform))
            self.say(added.sentence())
            self.app.notify(added.sentence(), title="Platform added", markup=False)
            if added.platform.name in self.table.rows:
                self.table.move_cursor(row=self.table.get_row_index(added.platform.name), animate=False)

        self.app.push_screen(AddPlatformScreen(self.statuses(), app.settings, preselect=pre), done)

    def action_test(self) -> None:
        st = self.selected()
        if st is None or not st.configured:
            return
        self.say(f"Testing {st.name}: checking the key, the balance and the keys …")
        self.test_platform(st)

    @work(exclusive=True, group="platform-test", exit_on_error=False)
    async def test_platform(self, st: PlatformStatus) -> None:
        app = self.app
        try:
            probed = await setup.probe(app.platform(st.name))
        except Exception as exc:
            sentence = error_sentence(exc)
            self.say(sentence if st.name in sentence else f"{st.name}: {sentence}", error=True)
            self.app.notify(error_sentence(exc), title=f"{st.name} failed the test", severity="error",
                            markup=False)
            return
        self.balances[st.name] = probed.balance
        self.update_row(st.name)
        sentence = setup.probe_sentence(st.name, st.source or "-", probed)
        self.say(sentence)
        self.app.notify(sentence, title="Platform OK", markup=False)

    def action_remove(self) -> None:
        st = self.selected()
        app = self.app
        if st is None:
            return
        if st.source == "env":
            reason = setup.env_only_reason(st.name)
            self.say(reason, error=True)
            self.app.notify(reason, title="Not removed", severity="warning", markup=False)
            return
        if not st.configured and st.name not in app.settings.platforms:
            return
        from capit_tui.tui.modals.confirm import ConfirmScreen

        where = {"keyring": "the system keyring", "file": "the 0600 credentials file"}.get(st.source or "",
                                                                                          "settings.toml")
        body = [f"capit-tui forgets {st.name}'s management key (in {where}) and stops showing its keys.",
                ("Keys already issued keep working, and agents keep using them. Revoke them first if you "
                 "want them gone.")]

        def done(yes: bool | None) -> None:
            if yes:
                self.remove_platform(st.name)

        self.app.push_screen(ConfirmScreen(f"Remove {st.name}?", body, yes="Remove", no="Keep", danger=True),
                             done)

    def remove_platform(self, name: str) -> None:
        app = self.app
        try:
            removed = setup.remove(app.settings, name)
        except Exception as exc:
            self.say(error_sentence(exc), error=True)
            return
        self.balances.pop(name, None)
        app.set_platforms(setup.without_platform(app.platforms, name))
        self.say(removed.sentence())
        self.app.notify(removed.sentence(), title="Platform removed", markup=False)
        if not app.platforms:
            self.app.notify(setup.NO_PLATFORM_HINT, severity="warning", markup=False)



def _env_var(name: str) -> str:
    from capit_tui.core import vault

    return vault.env_var(name)
