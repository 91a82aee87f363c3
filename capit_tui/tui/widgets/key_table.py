"""KeyTable: a table on Textual's Line API that stays quick at 100 000 rows.

DataTable measures every row it is given and keeps a renderable per cell; at 10 000 keys that held the
event loop for over a second. Here the owner hands over the row keys in display order and a function
that builds one row's cells; the table builds cells only for the rows on screen (`render_line`), caches
one strip per row (dropped when the row, the cursor or the stripe under it changes) and knows its height
from `virtual_size`. The cursor is kept as a row key, so it survives new rows, a filter and a refresh.

The API is the few DataTable calls the screens and tests use: `row_count`, `cursor_row`, `move_cursor(row=)`,
`get_row_index(key)`, `get_cell(row_key, column_id)`, a `RowSelected` message on enter or on a click on the
cursor row, and the actions `cursor_up/down`, `page_up/down`, `cursor_top/bottom`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Offset, Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from capit_tui.tui.table_lines import PAD, row_line

CACHED_ROWS = 512  # rows whose cells are kept: a few screens' worth
CACHED_LINES = 4096  # rows kept drawn (unstyled, then styled): a filter keystroke that brings back rows
# seen before (a shorter filter, a longer one, zebra stripes swapped) draws them from here

Cells = dict[str, Text]


class KeyTable(ScrollView, can_focus=True):
    """Rows of Text cells under a header row, one line each, with a row cursor and zebra stripes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,ctrl+home", "cursor_top", "Top", show=False),
        Binding("end,ctrl+end", "cursor_bottom", "Bottom", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "keytable--header",
        "keytable--cursor",
        "keytable--even-row",
        "keytable--odd-row",
    }

    # DataTable's look, so the Keys screen reads as before.
    DEFAULT_CSS = """
    KeyTable {
        background: $surface;
        color: $foreground;
        scrollbar-size-vertical: 1;  /* keys_columns.SCROLLBAR: the columns are fitted leaving it one cell */
        &:focus {
            background-tint: $foreground 5%;
            & > .keytable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .keytable--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark > .keytable--even-row {
            background: $surface-darken-1 40%;
        }
        & > .keytable--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .keytable--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .keytable--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .keytable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    class RowSelected(Message):
        """Enter on the cursor row, or a click on it."""

        def __init__(self, table: KeyTable, row_key: str, cursor_row: int) -> None:
            super().__init__()
            self.table = table
            self.row_key = row_key
            self.cursor_row = cursor_row

        @property
        def control(self) -> KeyTable:
            return self.table

    def __init__(self, *, zebra_stripes: bool = True, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.zebra_stripes = zebra_stripes
        self.show_cursor = True
        self._columns: tuple[tuple[str, str, int], ...] = ()  # (id, label, cell width)
        self._rows: list[str] = []
        self._index: dict[str, int] | None = None  # row key -> index, built when first asked
        self._cells_of: Callable[[str], Cells] = lambda key: {}
        self._cells: LRUCache[str, Cells] = LRUCache(CACHED_ROWS)
        self._lines: LRUCache[str, tuple[list[Segment], int]] = LRUCache(CACHED_LINES)
        self._strips: LRUCache[str, dict[tuple[int, bool, int, int], Strip]] = LRUCache(CACHED_LINES)
        self._header: Strip | None = None
        self._header_width = 0
        self._base: Style | None = None
        self._cursor = 0
        self._cursor_key: str | None = None
        self._styles_seen = 0  # bumped when styles change: every cached strip is stale
        self._frame: tuple[int, Offset, Style, int] | None = None  # see render_lines

    # ------------------------------------------------------------ what the owner gives

    def set_columns(self, columns: Sequence[tuple[str, str, int]]) -> None:
        """The columns shown, in order: (id, label, cell width). Every row is drawn again."""
        self._columns = tuple(columns)
        self.invalidate()
        self._resize()

    def set_cells(self, cells_of: Callable[[str], Cells]) -> None:
        """How to build one row's cells from its key; asked only for rows about to be drawn."""
        self._cells_of = cells_of
        self.invalidate()

    def set_rows(self, rows: list[str], *, fallback: int | None = 0) -> None:
        """The row keys in display order (the list is kept, not copied: give a new one for each change).
        The cursor stays on its key when the key is still there; otherwise it goes to row `fallback`
        (None: the same index, so a removed row leaves the cursor on its neighbour)."""
        self._rows = rows
        self._index = None
        old = self._cursor
        key = self._cursor_key
        index = None
        if key is not None:
            try:  # one scan in C: quicker than building the index for one look-up (filter keystrokes)
                index = rows.index(key)
            except ValueError:
                index = None
        if index is None:
            index = old if fallback is None else fallback
        self._set_cursor(index)
        self._resize()
        self.refresh()
        self.call_after_refresh(self.scroll_to_cursor)

    def invalidate(self, keys: Sequence[str] | None = None) -> None:
        """Forget the built cells (of `keys`, or of every row) so they are asked for again."""
        if keys is None:
            self._cells.clear()
            self._lines.clear()
            self._strips.clear()
            self._header = None
            self.refresh()
            return
        for key in keys:
            self._cells.discard(key)
            self._lines.discard(key)
            self._strips.discard(key)
        # Only the lines on screen need drawing again; the rest are built when scrolled to.
        top = self.scroll_offset.y
        for y in range(self.size.height):
            i = top + y - 1
            if 0 <= i < len(self._rows) and self._rows[i] in keys:
                self.refresh_line(i + 1)

    # ------------------------------------------------------------ what callers read (DataTable's names)

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> list[str]:
        return self._rows

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for c, _, _ in self._columns)

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def cursor_key(self) -> str | None:
        return self._cursor_key

    def has_row(self, key: str) -> bool:
        return self._find(key) is not None

    def get_row_index(self, key: str) -> int:
        index = self._find(key)
        if index is None:
            raise RowDoesNotExist(f"no row with key {key!r}")
        return index

    def get_cell(self, row_key: str, column_id: str) -> Text:
        """The cell shown in `column_id` of the row `row_key` (built if it was not yet)."""
        if self._find(row_key) is None or column_id not in self.columns:
            raise CellDoesNotExist(f"no cell at {row_key!r}, {column_id!r}")
        return self._row_cells(row_key)[column_id]

    def get_row_at(self, index: int) -> list[Text]:
        """The cells of the row at `index`, in column order."""
        if not 0 <= index < len(self._rows):
            raise RowDoesNotExist(f"no row at {index}")
        cells = self._row_cells(self._rows[index])
        return [cells.get(c) or Text() for c in self.columns]

    @property
    def column_widths(self) -> dict[str, int]:
        """Each column's cell width (padding not included), in display order."""
        return {c: w for c, _, w in self._columns}

    def move_cursor(self, *, row: int | None = None, column: int | None = None, animate: bool = False,
                    scroll: bool = True) -> None:
        """Put the cursor on row `row` (clamped to the rows there are); `column` is ignored (a row cursor)."""
        if row is None:
            return
        self._set_cursor(row)
        if scroll:
            self.scroll_to_cursor()

    def scroll_to_cursor(self) -> None:
        """Scroll just enough for the cursor row to be in view, under the header."""
        shown = max(1, self.scrollable_content_region.height - 1)
        top = self.scroll_offset.y
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, immediate=True)
        elif self._cursor >= top + shown:
            self.scroll_to(y=self._cursor - shown + 1, animate=False, immediate=True)

    # ------------------------------------------------------------ keys and mouse

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self._cursor + 1)

    def action_cursor_top(self) -> None:
        self.move_cursor(row=0)

    def action_cursor_bottom(self) -> None:
        self.move_cursor(row=len(self._rows) - 1)

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def action_page_down(self) -> None:
        """A page down, the cursor keeping its place on screen (as DataTable)."""
        page = self._page()
        self.scroll_to(y=self.scroll_offset.y + page, animate=False, immediate=True)
        self.move_cursor(row=self._cursor + page)

    def action_page_up(self) -> None:
        page = self._page()
        self.scroll_to(y=max(0, self.scroll_offset.y - page), animate=False, immediate=True)
        self.move_cursor(row=self._cursor - page)

    def action_select_cursor(self) -> None:
        if self._rows and self.show_cursor:
            self.post_message(self.RowSelected(self, self._rows[self._cursor], self._cursor))

    async def _on_click(self, event: events.Click) -> None:
        """A click moves the cursor to the row; a click on the cursor row selects it (as DataTable)."""
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return  # the header, or the scrollbar
        index = self.scroll_offset.y + offset.y - 1
        if not 0 <= index < len(self._rows):
            return
        again = index == self._cursor
        self.move_cursor(row=index)
        if again:
            self.action_select_cursor()
        event.stop()

    def _on_focus(self, event: events.Focus) -> None:
        self._restyle()

    def _on_blur(self, event: events.Blur) -> None:
        self._restyle()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._restyle()

    def _on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self.scroll_to_cursor)

    # ------------------------------------------------------------ drawing

    def render_lines(self, crop: Region) -> list[Strip]:
        # Textual asks render_line for each line of the frame; the widget's size, scroll offset and base
        # style are read once for them all (each `self.size` walks up to the screen's map).
        self._frame = (self.size.width, self.scroll_offset, self._base_style(), self._full_width())
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def render_line(self, y: int) -> Strip:
        width, (scroll_x, scroll_y), base, full = self._frame or (
            self.size.width, self.scroll_offset, self._base_style(), self._full_width())
        if y == 0:
            strip = self._header_strip(width, full)
        else:
            index = scroll_y + y - 1
            if index >= len(self._rows):
                return Strip.blank(width, base)
            strip = self._row_strip(index, width, full)
        if scroll_x == 0 and strip.cell_length == width:
            return strip  # the usual case: no crop, no copy
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _base_style(self) -> Style:
        """The widget's own style (its background, focused or not): `rich_style` walks every ancestor's
        styles, so it is read once per change of style, not once a line."""
        if self._base is None:
            self._base = self.rich_style
        return self._base

    def _full_width(self) -> int:
        """How wide a row's strip is: the columns, or the widget when wider (the row's colour goes on to
        the right edge, as DataTable's)."""
        return max(self.virtual_size.width, self.size.width)

    def _header_strip(self, width: int, full: int) -> Strip:
        if self._header is None or self._header_width != width:
            style = self.get_component_rich_style("keytable--header")
            line = self._line({c: Text(label) for c, label, _ in self._columns})
            self._header = Strip(Segment.apply_style(line, style)).adjust_cell_length(full, style)
            self._header_width = width
        return self._header

    def _row_strip(self, index: int, width: int, full: int) -> Strip:
        key = self._rows[index]
        cursor = index == self._cursor and self.show_cursor
        stripe = index % 2 if self.zebra_stripes else -1
        state = (stripe, cursor, self._styles_seen, width)
        drawn = self._strips.get(key)
        if drawn is not None:
            hit = drawn.get(state)
            if hit is not None:
                return hit
            if len(drawn) > 3:  # states of older styles or widths
                drawn.clear()
        else:
            drawn = self._strips[key] = {}
        line, length = self._row_line(key)
        if stripe == 0:
            row_style = self.get_component_rich_style("keytable--even-row")
        elif stripe == 1:
            row_style = self.get_component_rich_style("keytable--odd-row")
        else:
            row_style = self._base_style()
        if cursor:
            # The cursor's colours win over a cell's own (DataTable's "css" priority); its bold does not.
            mark = self.get_component_rich_style("keytable--cursor")
            row_style += mark
            segments = list(Segment.apply_style(line, row_style, Style(color=mark.color, bgcolor=mark.bgcolor)))
        else:
            segments = list(Segment.apply_style(line, row_style))
        if length < full:  # the row's colour goes on to the right edge: one strip made, not two
            segments.append(Segment(" " * (full - length), row_style))
            strip = Strip(segments, full)
        else:
            strip = Strip(segments, length).adjust_cell_length(full, row_style)
        drawn[state] = strip
        return strip

    def _line(self, cells: Cells) -> list[Segment]:
        """One row as segments: every cell padded, aligned by its `justify` and cut to its column."""
        return row_line(cells, self._columns, self.app.console)[0]

    def _row_line(self, key: str) -> tuple[list[Segment], int]:
        line = self._lines.get(key)
        if line is None:
            line = self._lines[key] = row_line(self._row_cells(key), self._columns, self.app.console)
        return line

    def _row_cells(self, key: str) -> Cells:
        cells = self._cells.get(key)
        if cells is None:
            cells = self._cells_of(key)
            self._cells[key] = cells
        return cells

    # ------------------------------------------------------------ bookkeeping

    def _find(self, key: str | None) -> int | None:
        if key is None:
            return None
        if self._index is None:
            self._index = {k: i for i, k in enumerate(self._rows)}
        return self._index.get(key)

    def _set_cursor(self, row: int) -> None:
        n = len(self._rows)
        old = self._cursor
        self._cursor = max(0, min(row, n - 1)) if n else 0
        self._cursor_key = self._rows[self._cursor] if n else None
        if old != self._cursor:
            self.refresh_line(old + 1)
            self.refresh_line(self._cursor + 1)

    def _resize(self) -> None:
        width = sum(w + 2 * PAD for _, _, w in self._columns)
        self.virtual_size = Size(width, len(self._rows) + 1)

    def _restyle(self) -> None:
        self._styles_seen += 1
        self._header = None
        self._base = None
        self.refresh()
