"""What every screen built around one table (`self.table`, a DataTable or the Keys screen's KeyTable) does
the same way: j/k/g/G, and which row (by its key) is under the cursor, kept across rebuilds."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding, BindingType
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from capit_tui.tui.widgets.key_table import KeyTable


def nav_bindings(prefix: str) -> list[BindingType]:
    """j/k/g/G for a table screen, with ids `<prefix>.down|up|top|bottom` so each can be remapped."""
    return [
        Binding("j", "cursor_down", show=False, id=f"{prefix}.down"),
        Binding("k", "cursor_up", show=False, id=f"{prefix}.up"),
        Binding("g", "cursor_top", show=False, id=f"{prefix}.top"),
        Binding("G", "cursor_bottom", show=False, id=f"{prefix}.bottom"),
    ]


class TableNav:
    table: DataTable[Any] | KeyTable
    wide: bool | None

    def clear_for(self, wide: bool, columns: tuple[tuple[str, str], ...]) -> None:
        """Empty the table for a rebuild; set its columns again when the width class changed."""
        table = self.table
        assert isinstance(table, DataTable), "a KeyTable is given its columns with set_columns"
        if wide != self.wide or not table.columns:
            table.clear(columns=True)
            self.wide = wide
            for key, label in columns:
                table.add_column(label, key=key)
        else:
            table.clear()

    def row_key(self) -> str | None:
        """The key of the row under the cursor, or None for an empty table."""
        table = self.table
        if isinstance(table, KeyTable):
            return table.cursor_key
        if not table.row_count:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except CellDoesNotExist:
            return None

    def move_to_row(self, key: str | None) -> None:
        """Put the cursor back on the row with this key, if it is still there."""
        if key is None:
            return
        try:
            index = self.table.get_row_index(key)
        except RowDoesNotExist:
            return
        self.table.move_cursor(row=index, animate=False)

    def action_cursor_down(self) -> None:
        self.table.action_cursor_down()

    def action_cursor_up(self) -> None:
        self.table.action_cursor_up()

    def action_cursor_top(self) -> None:
        self.table.move_cursor(row=0)

    def action_cursor_bottom(self) -> None:
        self.table.move_cursor(row=max(0, self.table.row_count - 1))
