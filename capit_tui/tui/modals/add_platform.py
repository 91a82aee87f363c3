"""Add a platform: pick one (or a new gateway), paste its management key, check it live, store it.

The same steps as `capit-tui platforms add`, through `capit_tui.core.platform_setup`; the form's pieces
(GatewayFields, CheckLine, StorageChoice) are the ones the first-run setup uses too.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from capit_tui.core import platform_setup as setup
from capit_tui.core.platform_setup import Added, PlatformStatus, SetupError, error_sentence
from capit_tui.core.settings import PlatformConfig, Settings
from capit_tui.tui.widgets.platform_form import CUSTOM, CheckLine, GatewayFields, StorageChoice
from capit_tui.tui.widgets.secret_input import SecretInput


class AddPlatformScreen(ModalScreen[Added | None]):
    """Pick a platform (or a new gateway), paste its management key, check it live, store it.

    Dismisses with `platform_setup.Added` once the key passed the check and was stored; None if cancelled.
    """

    CSS_PATH = "add_platform.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="add_platform.cancel")]

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
            added = setup.store_with_consent(self.settings, cfg, key, needs_consent=choice.needs_consent,
                                             consented=choice.consented)
        except Exception as exc:
            if isinstance(exc, setup.KeyringRefused):
                choice.keyring_refused(cfg.name)  # the file is offered from now on
            line.show("error", f"The key works. {error_sentence(exc)}")
            if choice.needs_consent:
                choice.focus_consent()
            return
        self.dismiss(added)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "platform-check")
        self.dismiss(None)
