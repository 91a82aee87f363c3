"""Every key binding, grouped by screen: the keys in effect (after [keymap]) and the id that remaps each."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

Sections = list[tuple[str, list[tuple[str, str, str]]]]
"""(group title, [(keys as shown, what it does, binding id)]), built by tui/keymap.py help_sections."""

FOOTNOTE = ("Remap any key in settings.toml: a [keymap] table of binding id = \"keys\", e.g. "
            "\"keys.revoke\" = \"ctrl+d\" (several keys: \"d,delete\"). The mouse works too.")


def help_renderable(sections: Sections) -> Group:
    parts: list[Text | Table] = []
    id_width = max((len(row[2]) for _title, rows in sections for row in rows), default=0)
    for title, rows in sections:
        parts.append(Text(title, style="bold"))
        table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
        table.add_column("keys", style="bold", width=12, no_wrap=True, overflow="ellipsis")
        table.add_column("what", ratio=1)
        table.add_column("id", style="dim", no_wrap=True, width=id_width)
        for keys, what, binding_id in rows:
            table.add_row(Text(keys), Text(what), Text(binding_id))
        parts.extend([table, Text("")])
    parts.append(Text(FOOTNOTE, style="dim"))
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 78; max-width: 95%; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 1 2; }
    """
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def __init__(self, sections: Sections) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_renderable(self.sections), id="help-body")

    def action_close(self) -> None:
        self.dismiss(None)
