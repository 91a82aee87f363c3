"""The pieces of the add-a-platform form, used by the Add platform dialog and the first-run setup alike:
the fields of a new gateway, the live check's line, and where the key will be kept.

They hold no rules: the config, the check and the storing are `capit_tui.core.platform_setup`'s. The screen
sets them (attributes down); StorageChoice tells it when the box is ticked (`StorageChoice.Changed`).
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Checkbox, Input, Label, LoadingIndicator, Select, Static

from capit_tui.core import platform_setup as setup
from capit_tui.core.platform_setup import SetupError
from capit_tui.core.settings import PlatformConfig, Settings
from capit_tui.core.text import tilde
from capit_tui.tui.widgets.checks import Check

CUSTOM = "__custom__"  # the choice "a new gateway" in a list of platforms
LITELLM = "__litellm__"  # the choice "a LiteLLM proxy": a new gateway of kind litellm
KIND_OPTIONS = [("one-api / new-api gateway", "oneapi"), ("OpenRouter-compatible", "openrouter"),
                ("LiteLLM proxy (self-hosted)", "litellm")]


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

    def set_kind(self, kind: str, name: str = "", url_hint: str = "") -> None:
        """Start the fields as a gateway of this kind (the LiteLLM choice: kind litellm, a name to keep)."""
        self.query_one("#gw-kind", Select).value = kind
        name_input = self.query_one("#gw-name", Input)
        if name and not name_input.value:
            name_input.value = name
        if url_hint:
            self.query_one("#gw-url", Input).placeholder = url_hint

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
    """Where the key will be kept: the keyring, or a 0600 file only when the box is ticked.

    Posts `StorageChoice.Changed` when the user ticks or unticks the box.
    """

    DEFAULT_CSS = """
    StorageChoice { height: auto; }
    StorageChoice > Static { height: auto; }
    StorageChoice > Checkbox { margin-top: 1; }
    StorageChoice.-keyring > Checkbox { display: none; }
    """

    class Changed(Message):
        """The consent to keep the key in the file was given or taken back."""

        def __init__(self, choice: StorageChoice, consented: bool) -> None:
            super().__init__()
            self.choice = choice
            self.consented = consented

        @property
        def control(self) -> StorageChoice:
            return self.choice

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.storage = setup.storage()
        self.refused = ""  # the keyring refused the key: offer the file as well

    def compose(self) -> ComposeResult:
        yield Static("", id="storage-text", markup=False)
        yield Check("", id="consent", compact=True)

    def on_mount(self) -> None:
        self.describe()

    def describe(self, platform: str = "") -> None:
        self.storage = setup.storage()
        from capit_tui.core import vault

        keyring = self.storage.keyring and not self.refused
        self.set_class(keyring, "-keyring")
        env = vault.env_var(platform) if platform else "CAPIT_<PLATFORM>_MANAGEMENT_KEY"
        path = tilde(self.storage.file)  # named in the text, which wraps: the box's own label stays short
        if keyring:
            backend = self.storage.detail.split("keyring.backends.")[-1]
            text = f"The key will be kept in the system keyring ({backend})."
        elif self.refused:
            text = f"{self.refused} Or keep it in {path}, a file only you can read (mode 0600):"
        else:
            text = (f"There is no system keyring here ({self.storage.detail}). capit-tui can keep the key in "
                    f"{path}, a file only you can read (mode 0600), or you can set {env} in your environment "
                    "instead.")
        self.query_one("#storage-text", Static).update(text)
        self.query_one("#consent", Checkbox).label = "Keep it in that file"

    @on(Checkbox.Changed, "#consent")
    def _consent_changed(self, event: Checkbox.Changed) -> None:
        event.stop()  # the box is this widget's own business; the screen hears StorageChoice.Changed
        self.post_message(self.Changed(self, event.value))

    @property
    def needs_consent(self) -> bool:
        return not self.storage.keyring or bool(self.refused)

    @property
    def consented(self) -> bool:
        return self.query_one("#consent", Checkbox).value

    def focus_consent(self) -> None:
        self.query_one("#consent", Checkbox).focus()

    def keyring_refused(self, platform: str) -> None:
        self.refused = "The system keyring refused to store the key; unlock it and try again."
        self.describe(platform)


__all__ = ["CUSTOM", "KIND_OPTIONS", "LITELLM", "CheckLine", "GatewayFields", "StorageChoice"]
