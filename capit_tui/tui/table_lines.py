"""KeyTable's rows as segments: each row once as a line of few segments, then a styled strip of it per
zebra stripe and cursor state. Drawing a row is most of what a filter keystroke costs, and everything
after this (the row's colours, Textual's per-line filters and crops) costs per segment: a row of a
dozen plain cells is one segment here, not three per cell (the padding each side, then the text).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

PAD = 1  # one blank cell each side of every column, as DataTable

EMPTY = Text()


def row_line(cells: Mapping[str, Text], columns: Sequence[tuple[str, str, int]],
             console: Console) -> tuple[list[Segment], int]:
    """One row as segments, and its width in cells: every cell padded, aligned by its `justify` and cut
    to its column. Unstyled text runs on into one segment with the padding around it."""
    out: list[Segment] = []
    append = out.append
    plain: list[str] = []  # unstyled text not yet in a segment
    length = 0
    for column, _, width in columns:
        cell = cells.get(column) or EMPTY
        text = cell.plain
        # Printable ASCII is one cell a character: len() in C, not Rich's cell_len (most cells are).
        used = len(text) if text.isascii() and text.isprintable() else cell_len(text)
        room = width - used
        if room < 0:
            cell = cell.copy()
            cell.truncate(width, overflow="crop")
            text = cell.plain
            used = cell_len(text)
            room = 0
        justify = cell.justify
        left = room if justify == "right" else room // 2 if justify == "center" else 0
        plain.append(" " * (PAD + left))
        length += PAD + used + room + PAD
        if cell.spans:
            for segment in cell.render(console):
                if segment.style or segment.control:
                    if plain:
                        append(Segment("".join(plain)))
                        plain = []
                    append(segment)
                else:
                    plain.append(segment.text)
        elif text:  # one style for the whole cell (most cells): no need for Text.render
            style = cell.style
            if style:
                if plain:
                    append(Segment("".join(plain)))
                    plain = []
                append(Segment(text, style if isinstance(style, Style) else console.get_style(style)))
            else:
                plain.append(text)
        plain.append(" " * (room - left + PAD))
    if plain:
        append(Segment("".join(plain)))
    return out, length
