"""A checkbox and a list of checkboxes whose state reads without colour: `[x]` ticked, `[ ]` not.

Textual draws both states as the same `▐X▌`, told apart only by its colour (ToggleButton.BUTTON_INNER);
on a monochrome terminal, for a colour-blind reader or in a screenshot, a box looked ticked either way.
"""

from __future__ import annotations

from typing import Generic

from rich.segment import Segment
from textual.content import Content
from textual.strip import Strip
from textual.widgets import Checkbox, SelectionList
from textual.widgets.selection_list import SelectionType

TICKED, UNTICKED = "x", " "


class Check(Checkbox):
    """A Checkbox drawn `[x]` / `[ ]` (the colour stays, as a second signal)."""

    @property
    def _button(self) -> Content:
        style = self.get_visual_style("toggle--button")
        return Content.assemble("[", (TICKED if self.value else UNTICKED, style), "]")


class CheckList(SelectionList[SelectionType], Generic[SelectionType]):
    """A SelectionList whose every line starts `[x]` or `[ ]` (same width as Textual's `▐X▌`)."""

    def render_line(self, y: int) -> Strip:
        line = super().render_line(y)
        segments = list(line)
        if len(segments) < 4:
            return line
        index = self.scroll_offset.y + y
        try:
            value = self.get_option_at_index(index).value
        except Exception:  # past the last option: nothing to mark
            return line
        left, inner, right = segments[:3]
        ticked = value in self._selected
        marks = [Segment("[", left.style), Segment(TICKED if ticked else UNTICKED, inner.style),
                 Segment("]", right.style)]
        return Strip(marks + segments[3:], line.cell_length)
