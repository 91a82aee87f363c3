"""The line under the mode bar while keys are stopped by a panic: "STOPPED: 12 keys disabled by panic at
14:02 UTC — ! to undo". Red, and readable without colour (the capital STOPPED says it). Hidden otherwise.
The app holds what it shows (`app.stopped`, read from the record of stopped keys) and signals changes."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from capit_tui.core.stops import Summary
from capit_tui.core.text import joined, plural
from capit_tui.tui.typed_app import capit_app


def banner_text(s: Summary | None) -> str:
    if s is None or not s.count:
        return ""
    when = f" at {s.at:%H:%M} UTC" if s.at is not None else ""
    where = f" on {joined(list(s.platforms))}" if len(s.platforms) > 1 else ""
    return f"STOPPED: {plural(s.count, 'key')} disabled by {s.by}{when}{where} — ! to undo"


class PanicBanner(Static):
    DEFAULT_CSS = """
    PanicBanner { height: auto; padding: 0 1; background: $error; color: $text; text-style: bold; display: none; }
    PanicBanner.-on { display: block; }
    """
    app = capit_app()

    def __init__(self) -> None:
        super().__init__("", markup=False)

    def on_mount(self) -> None:
        self.app.stops_signal.subscribe(self, self.show)
        self.show(self.app.stopped)

    def show(self, summary: Summary | None) -> None:
        text = banner_text(summary)
        self.update(Text(text))
        self.set_class(bool(text), "-on")
