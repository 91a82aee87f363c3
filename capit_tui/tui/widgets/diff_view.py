"""A unified diff, coloured, in a scrollable view. The text it gets is already masked (changes.py)."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static


def render_diff(diff: str) -> Text:
    """Colour a unified diff line by line; +/- stay visible, so colour is never the only signal."""
    out = Text()
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith("#") or line.startswith("\\"):
            style = "dim italic"
        else:
            style = ""
        out.append(line + "\n", style=style)
    if not diff:
        out.append("(no change)", style="dim")
    return out


class DiffView(VerticalScroll):
    DEFAULT_CSS = """
    DiffView { height: 1fr; border: round $panel; padding: 0 1; }
    DiffView > Static { width: auto; }
    """

    def __init__(self, diff: str = "", **kwargs: object):
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._diff = diff

    def compose(self):
        yield Static(render_diff(self._diff), markup=False)

    def show(self, diff: str) -> None:
        self._diff = diff
        self.query_one(Static).update(render_diff(diff))
        self.scroll_home(animate=False)
