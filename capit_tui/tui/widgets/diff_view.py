"""A unified diff, coloured, in a scrollable view. The text it gets is already masked (changes.py).

A line wider than the view is wrapped, never clipped: its rest goes on the next rows, each starting with
the continuation mark `↪` where the +/- column is (Claude's whole `env` object is one long line).
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from capit_tui.core.text import cell_width

CONTINUED = "↪"


def line_style(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "bold"
    if line.startswith("@@"):
        return "cyan"
    if line.startswith("+"):
        return "green"
    if line.startswith("-"):
        return "red"
    if line.startswith(("#", "\\")):
        return "dim italic"
    return ""


def wrap_line(line: str, width: int) -> list[str]:
    """`line` in rows of at most `width` cells; the rows after the first leave one cell for the mark."""
    rows: list[str] = []
    room, row, used = width, "", 0
    for ch in line:
        w = cell_width(ch)
        if used + w > room and row:
            rows.append(row)
            room, row, used = max(1, width - 1), "", 0
        row += ch
        used += w
    rows.append(row)
    return rows


def render_diff(diff: str, width: int | None = None) -> Text:
    """Colour a unified diff line by line; +/- stay visible, so colour is never the only signal. With a
    `width`, longer lines wrap onto rows marked `↪`."""
    out = Text()
    for line in diff.splitlines():
        style = line_style(line)
        rows = wrap_line(line, width) if width and width > 2 and cell_width(line) > width else [line]
        out.append(rows[0] + "\n", style=style)
        for row in rows[1:]:
            out.append(CONTINUED, style="dim")
            out.append(row + "\n", style=style)
    if not diff:
        out.append("(no change)", style="dim")
    return out


class DiffView(VerticalScroll):
    DEFAULT_CSS = """
    DiffView { height: 1fr; border: round $panel; padding: 0 1; scrollbar-gutter: stable; }
    DiffView > Static { width: auto; }
    """

    def __init__(self, diff: str = "", **kwargs: object):
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._diff = diff
        self._width = 0

    def compose(self):
        yield Static(render_diff(self._diff), markup=False)

    def wrap_width(self) -> int | None:
        width = self.scrollable_content_region.width  # the gutter is kept: a scrollbar never re-wraps it
        return width if width > 0 else None

    def on_resize(self) -> None:
        width = self.wrap_width() or 0
        if width != self._width:
            self._width = width
            self.query_one(Static).update(render_diff(self._diff, width or None))

    def show(self, diff: str) -> None:
        self._diff = diff
        self.query_one(Static).update(render_diff(diff, self.wrap_width()))
        self.scroll_home(animate=False)
