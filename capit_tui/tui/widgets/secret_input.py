"""An Input for a secret: drawn as dots, and its messages never show the value in a repr or a log."""

from __future__ import annotations

from textual.widgets import Input


class _Hidden:
    def __rich_repr__(self):  # Textual's log (TEXTUAL_LOG, devtools) prints messages with this
        yield "input", getattr(self, "input", None)
        yield "value", "<hidden>"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(value=<hidden>)"


class SecretInput(Input):
    """Input(password=True) whose Changed/Submitted/Blurred messages hide the value they carry.

    Handlers written for Input.Changed etc. still receive them (they are subclasses)."""

    class Changed(_Hidden, Input.Changed):
        pass

    class Submitted(_Hidden, Input.Submitted):
        pass

    class Blurred(_Hidden, Input.Blurred):
        pass

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("password", True)
        super().__init__(*args, **kwargs)

    def __rich_repr__(self):
        yield "id", self.id
