"""Change a key's cap and reset period, validated as you type."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from capit_tui.core.model import CappedKey
from capit_tui.core.money import MoneyError, parse_cap
from capit_tui.core.text import display_name

RESET_OPTIONS = [("daily", "daily"), ("weekly", "weekly"), ("monthly", "monthly"), ("never (lifetime total)", "never")]


class CapScreen(ModalScreen[Any]):
    """Dismisses with (limit: Decimal, reset: str | None) or None when cancelled."""

    DEFAULT_CSS = """
    CapScreen { align: center middle; }
    CapScreen > Vertical { width: 64; max-width: 95%; height: auto; border: thick $primary;
        background: $surface; padding: 1 2; }
    CapScreen #title { text-style: bold; margin-bottom: 1; }
    CapScreen .error { color: $error; height: auto; width: 100%; }
    CapScreen #buttons { height: auto; align: right middle; margin-top: 1; }
    CapScreen Button { margin-left: 2; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cap.cancel")]

    def __init__(self, key: CappedKey, *, supports_reset: bool = True):
        super().__init__()
        self.key = key
        self.supports_reset = supports_reset

    def compose(self) -> ComposeResult:
        k = self.key
        with Vertical():
            yield Label(f"New cap for {display_name(k.name, 40)}", id="title", markup=False)
            yield Static(f"Now: {k.budget.describe()}.", markup=False)
            yield Label("Cap in dollars")
            yield Input(value=f"{k.limit:.2f}" if k.limit is not None else "", id="cap",
                        placeholder="e.g. 5.00")
            yield Label("", id="cap-error", classes="error")
            yield Label("Resets")
            reset = k.limit_reset or "never"
            lifetime = [("never (this platform's caps never reset)", "never")]
            yield Select(RESET_OPTIONS if self.supports_reset else lifetime,
                         value=reset if self.supports_reset else "never", allow_blank=False, id="reset",
                         disabled=not self.supports_reset)
            with Horizontal(id="buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cap", Input).focus()

    def _parse(self) -> Decimal | None:
        error = self.query_one("#cap-error", Label)
        text = self.query_one("#cap", Input).value
        try:
            value = parse_cap(text)
        except MoneyError as exc:
            message = str(exc)
            if text.strip().lower().lstrip("$") in ("0", "0.0", "0.00", "none", "no cap", "unlimited"):
                message = ("A cap must be a positive amount. capit-tui does not remove caps from here: "
                           "a key without a cap can spend your whole balance.")
            error.update(message)
            return None
        error.update("")
        return value

    @on(Input.Changed, "#cap")
    def validate_cap(self) -> None:
        self._parse()

    @on(Input.Submitted, "#cap")
    @on(Button.Pressed, "#save")
    def save(self) -> None:
        limit = self._parse()
        if limit is None:
            self.query_one("#cap", Input).focus()
            return
        reset = self.query_one("#reset", Select).value
        self.dismiss((limit, None if reset in ("never", Select.NULL) else reset))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
