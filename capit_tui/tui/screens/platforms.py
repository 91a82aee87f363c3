"""Platforms: every known platform (presets and settings.toml), where its management key comes from, its
balance and how many keys it holds; add (a form that checks the key live), test, remove.

Everything goes through `capit_tui.core.platform_setup`, the same steps as `capit-tui platforms add/test/remove`.
The widgets for the add form (GatewayFields, CheckLine, StorageChoice) are shared with the onboarding screen.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from capit_tui.tui.table_nav import TableNav, nav_bindings
from capit_tui.tui.widgets.secret_input import SecretInput
from textual.widgets import Button, Checkbox, DataTable, Footer, Header, Input, Label, LoadingIndicator, Select, Static

from capit_tui.core import platform_setup as setup
from capit_tui.core.platform_setup import Added, PlatformStatus, SetupError
from capit_tui.core.settings import PlatformConfig, Settings
from capit_tui.tui.widgets.modebar import ModeBar

WIDE = 110  # columns from which the table shows kind and the management-key page
CUSTOM = "__custom__"
LOADING = "loading"

NARROW_COLUMNS = (("name", "Name"), ("url", "Base URL"), ("source", "Key from"), ("balance", "Balance"),
                  ("keys", "Keys"))
WIDE_COLUMNS = (("name", "Name"), ("kind", "Kind"), ("url", "Base URL"), ("source", "Key from"),
                ("balance", "Balance"), ("keys", "Keys"), ("manage", "Management keys are made at"))

SHORT_ERRORS = {"server": "server error", "auth": "key rejected", "not-management-key": "not a mgmt key",
                "network": "unreachable", "rate-limited": "rate limited", "malformed": "bad reply",
                "forbidden": "refused", "not-found": "not found"}
KIND_OPTIONS = [("one-api / new-api gateway", "oneapi"), ("OpenRouter-compatible", "openrouter")]


def short_error(exc: BaseException) -> str:
    return SHORT_ERRORS.get(getattr(exc, "kind", ""), "error")


def error_sentence(exc: BaseException) -> str:
    """What to show for a failure: a platform's or the vault's own sentence, else the type of error."""
    from capit_tui.platforms.base import PlatformError
    from capit_tui.core.vault import VaultError

    if isinstance(exc, (PlatformError, VaultError, SetupError)):
        return str(exc)
    return f"capit-tui hit an unexpected {type(exc).__name__}; please report it."


# ---------------------------------------------------------------- pieces shared with onboarding


class GatewayFields(Vertical):
    """Name, kind, base URL and (new-api) user id of a platform that is not a preset."""

    DEFAULT_CSS = """
    GatewayFields { height: auto; }
    GatewayFields > .row { height: 1; }
    GatewayFields > .row > Label { width: 11; }
    GatewayFields > .row > Input, GatewayFields > .row > Select { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("Name")
            yield Input(placeholder="a short name, e.g. mygateway", id="gw-name", compact=True)
        with Horizontal(classes="row"):
            yield Label("Kind")
            yield Select(KIND_OPTIONS, value="oneapi", allow_blank=False, id="gw-kind", compact=True)
        with Horizontal(classes="row"):
            yield Label("Base URL")
            yield Input(placeholder="https://gateway.example.com", id="gw-url", compact=True)
        with Horizontal(classes="row"):
            yield Label("User id")
            yield Input(placeholder="new-api gateways only; optional", id="gw-user", compact=True)

    def config(self, s: Settings) -> PlatformConfig:
        """The new platform's config, or SetupError with the sentence to show."""
        name = setup.check_name(self.query_one("#gw-name", Input).value)
        if name in s.known_platforms():
            raise SetupError(f"'{name}' is already known; pick it from the list instead of adding it again.")
        url = setup.check_base_url(self.query_one("#gw-url", Input).value)
        kind = str(self.query_one("#gw-kind", Select).value)
        return setup.resolve(s, name, kind=kind, base_url=url, user_id=self.query_one("#gw-user", Input).value)

    def focus_first(self) -> None:
        self.query_one("#gw-name", Input).focus()


class CheckLine(Horizontal):
    """The live check's state: a spinner while the platform answers, then its sentence (or a tick)."""

    DEFAULT_CSS = """
    CheckLine { height: auto; min-height: 1; }
    CheckLine > LoadingIndicator { width: 6; height: 1; min-height: 1; display: none; }
    CheckLine.-busy > LoadingIndicator { display: block; }
    CheckLine > Static { width: 1fr; height: auto; }
    CheckLine.-error > Static { color: $error; text-style: bold; }
    CheckLine.-ok > Static { color: $success; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(classes="-empty", **kw)

    def compose(self) -> ComposeResult:
        yield LoadingIndicator()
        yield Static("", markup=False)

    def show(self, state: str, text: str = "") -> None:
        """state: "" (nothing), "busy", "ok" or "error"."""
        for s in ("busy", "ok", "error"):
            self.set_class(state == s, f"-{s}")
        self.set_class(not state and not text, "-empty")
        prefix = {"ok": "✓ ", "error": "✗ "}.get(state, "")
        self.query_one(Static).update(prefix + text if text else "")

    @property
    def busy(self) -> bool:
        return self.has_class("-busy")


class StorageChoice(Vertical):
    """Where the key will be kept: the keyring, or a 0600 file only when the box is ticked."""

    DEFAULT_CSS = """
    StorageChoice { height: auto; }
    StorageChoice > Static { height: auto; }
    StorageChoice > Checkbox { margin-top: 1; }
    StorageChoice.-keyring > Checkbox { display: none; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.storage = setup.storage()
        self.refused = ""  # the keyring refused the key: offer the file as well

    def compose(self) -> ComposeResult:
        yield Static("", id="storage-text", markup=False)
        yield Checkbox("", id="consent", compact=True)

    def on_mount(self) -> None:
        self.describe()

    def describe(self, platform: str = "") -> None:
        self.storage = setup.storage()
        from capit_tui.core import vault

        keyring = self.storage.keyring and not self.refused
        self.set_class(keyring, "-keyring")
        env = vault.env_var(platform) if platform else "CAPIT_<PLATFORM>_MANAGEMENT_KEY"
        if keyring:
            backend = self.storage.detail.split("keyring.backends.")[-1]
            text = f"The key will be kept in the system keyring ({backend})."
        elif self.refused:
            text = f"{self.refused} Or keep it in a file only you can read:"
        else:
            text = (f"There is no system keyring here ({self.storage.detail}). capit-tui can keep the key in a "
                    f"file only you can read, or you can set {env} in your environment instead.")
        self.query_one("#storage-text", Static).update(text)
        self.query_one("#consent", Checkbox).label = f"Keep it in {setup.tilde(self.storage.file)} (mode 0600)"

    @property
    def needs_consent(self) -> bool:
        return not self.storage.keyring or bool(self.refused)

    @property
    def consented(self) -> bool:
        return self.query_one("#consent", Checkbox).value

    def keyring_refused(self, platform: str) -> None:
        self.refused = "The system keyring refused to store the key; unlock it and try again."
        self.describe(platform)


def store_key(s: Settings, cfg: PlatformConfig, key: str, choice: StorageChoice) -> Added:
    """Store a checked key where `choice` says; raise SetupError (nothing stored) without consent."""
    from capit_tui.core.vault import NoKeyringError, env_var

    if choice.needs_consent and not choice.consented:
        raise SetupError("Nothing was stored: tick the box to keep the key in the file, or set "
                         f"{env_var(cfg.name)} instead.")
    try:
        return setup.store(s, cfg, key, allow_file=choice.needs_consent and choice.consented)
    except NoKeyringError:
        choice.keyring_refused(cfg.name)
        raise SetupError("The system keyring refused to store the key, so nothing was stored. Unlock it and "
                         "try again, or tick the box to keep it in a file.") from None


# ---------------------------------------------------------------- the add form


class AddPlatformScreen(ModalScreen["Added | None"]):
    """Pick a platform (or a new gateway), paste its management key, check it live, store it.

    Dismisses with `platform_setup.Added` once the key passed the check and was stored; None if cancelled.
    """

    CSS_PATH = "platforms.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="add-platform-cancel")]

    def __init__(self, statuses: list[PlatformStatus], settings: Settings, preselect: str | None = None):
        super().__init__()
        self.statuses = {st.name: st for st in statuses}
        self.settings = settings
        first_free = next((st.name for st in statuses if not st.configured), CUSTOM)
        self.choice = preselect if preselect in self.statuses or preselect == CUSTOM else first_free
        self.checked: tuple[PlatformConfig, str] | None = None

    def options(self) -> list[tuple[str, str]]:
        out = []
        for name, st in self.statuses.items():
            label = setup.title(name)
            if st.source == "env":
                label += " (key from the environment)"
            elif st.configured:
                label += " (replace its key)"
            out.append((label, name))
        out.append(("A new gateway…", CUSTOM))
        return out

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield Label("Add a platform", id="title")
            with Horizontal(classes="row", id="platform-row"):
                yield Label("Platform")
                yield Select(self.options(), value=self.choice, allow_blank=False, id="platform", compact=True)
            yield GatewayFields(id="gateway")
            yield Static("", id="where", markup=False)
            with Horizontal(classes="row", id="key-row"):
                yield Label("Key")
                yield SecretInput(placeholder="paste the management key, then enter", id="key",
                            compact=True)
            yield CheckLine(id="check")
            yield StorageChoice(id="storage")
            with Horizontal(id="buttons"):
                yield Button("Check and add", id="add", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.show_choice()
        self.query_one("#key", Input).focus()

    # ------------------------------------------------------------ the form

    def show_choice(self) -> None:
        custom = self.choice == CUSTOM
        self.query_one(GatewayFields).display = custom
        where = self.query_one("#where", Static)
        if custom:
            where.update("Its management key is the gateway's system access token (its Settings page).")
        else:
            st = self.statuses[self.choice]
            text = f"Create a management key at {setup.manage_hint(st.config)} and paste it here."
            if st.source == "env":
                from capit_tui.core import vault

                text += (f" {vault.env_var(st.name)} is set, so capit-tui keeps using that key until you "
                         "unset it.")
            where.update(text)
        self.query_one(StorageChoice).describe("" if custom else self.choice)
        self.query_one(CheckLine).show("")
        self.checked = None

    @on(Select.Changed, "#platform")
    def platform_changed(self, event: Select.Changed) -> None:
        self.choice = str(event.value)
        self.show_choice()
        if self.choice == CUSTOM:
            self.query_one(GatewayFields).focus_first()

    @on(Input.Changed)
    def forget_check(self, event: Input.Changed) -> None:
        if self.checked is not None or self.query_one(CheckLine).has_class("-error"):
            self.checked = None
            self.query_one(CheckLine).show("")

    def config(self) -> PlatformConfig:
        if self.choice == CUSTOM:
            return self.query_one(GatewayFields).config(self.settings)
        return self.statuses[self.choice].config

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "key" and not self.query_one("#key", Input).value.strip():
            self.focus_next()
            return
        self.add()

    @on(Button.Pressed, "#add")
    def add(self) -> None:
        line = self.query_one(CheckLine)
        if line.busy:
            return
        try:
            cfg = self.config()
            key = setup.clean_key(self.query_one("#key", Input).value)
        except SetupError as exc:
            line.show("error", str(exc))
            return
        self.check_and_store(cfg, key)

    @work(exclusive=True, group="platform-check", exit_on_error=False,
          description="checking the management key")
    async def check_and_store(self, cfg: PlatformConfig, key: str) -> None:
        line = self.query_one(CheckLine)
        button = self.query_one("#add", Button)
        choice = self.query_one(StorageChoice)
        if self.checked != (cfg, key):
            line.show("busy", f"Checking the key with {cfg.base_url} …")
            button.disabled = True
            try:
                await setup.check_key(cfg, key)
            except Exception as exc:  # the platform's own sentence: rejected, not a management key, ...
                line.show("error", f"{error_sentence(exc)} Nothing was stored.")
                return
            finally:
                button.disabled = False
            self.checked = (cfg, key)
        try:
            added = store_key(self.settings, cfg, key, choice)
        except Exception as exc:
            line.show("error", f"The key works. {error_sentence(exc)}")
            if choice.needs_consent:
                choice.query_one("#consent", Checkbox).focus()
            return
        self.dismiss(added)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "platform-check")
        self.dismiss(None)


# ---------------------------------------------------------------- the screen


class PlatformsScreen(TableNav, Screen):
    CSS_PATH = "platforms.tcss"
    BINDINGS = [
        Binding("a", "add", "Add", id="platform-add"),
        Binding("t", "test", "Test", id="platform-test"),
        Binding("d,delete", "remove", "Remove", id="platform-remove"),
        Binding("r", "refresh", "Refresh", id="platforms-refresh"),
    ] + nav_bindings("platforms")

    def __init__(self) -> None:
        super().__init__()
        self.balances: dict[str, Any] = {}  # name -> LOADING | Balance | None | Exception
        self.wide: bool | None = None
        self.message: Text | None = None  # the last action's result

    def compose(self) -> ComposeResult:
        yield Header(icon="$")
        yield ModeBar("platforms")
        table: DataTable[Any] = DataTable(id="platforms", cursor_type="row", zebra_stripes=True)
        yield table
        with Vertical(id="detail-box"):
            yield Static("", id="detail")
        yield Static("", id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        app: Any = self.app
        app.spend_signal.subscribe(self, self.on_spend)
        app.platforms_signal.subscribe(self, self.on_platforms)
        self.rebuild()
        self.table.focus()
        self.fetch_balances()

    # ------------------------------------------------------------ data

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#platforms", DataTable)

    def statuses(self) -> list[PlatformStatus]:
        app: Any = self.app
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
        app: Any = self.app
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
            "url": Text(cfg.base_url if wide else setup.display_url(cfg.base_url), overflow="ellipsis",
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

    def on_spend(self, update: Any) -> None:
        if not self.is_mounted:
            return
        for st in self.statuses():
            self.update_row(st.name)

    def on_platforms(self, _: Any) -> None:
        if not self.is_mounted:
            return
        app: Any = self.app
        names = {c.name for c in app.platforms}
        self.balances = {n: v for n, v in self.balances.items() if n in names}
        self.rebuild()
        self.fetch_balances()

    # ------------------------------------------------------------ balances

    @work(exclusive=True, group="platform-balances", exit_on_error=False)
    async def fetch_balances(self) -> None:
        app: Any = self.app
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
            app: Any = self.app
            return True if st is not None and (st.configured or st.name in app.settings.platforms) else None
        return True

    def action_refresh(self) -> None:
        self.fetch_balances()
        self.app.action_refresh()  # type: ignore[attr-defined]

    def action_add(self) -> None:
        app: Any = self.app
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
        app: Any = self.app
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
        app: Any = self.app
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
        app: Any = self.app
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
