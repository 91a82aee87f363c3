"""Every key binding, grouped by screen."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

SECTIONS = [
    ("Everywhere", [
        ("1 2 3 4", "Keys, Agents, Platforms, Backups"),
        ("n", "new capped key: a form, then the diff review"),
        ("r", "refresh spend now"),
        ("ctrl+p", "command palette"),
        ("?  q", "this help, quit"),
    ]),
    ("Keys", [
        ("↑ ↓  j k", "move;  enter: details of the key"),
        ("d", "revoke (asks; offers to restore old configs)"),
        ("e  x", "change the cap;  disable / enable"),
        ("/  esc", "filter by name;  clear the filter"),
    ]),
    ("Agents", [("i  u", "install a key;  restore the previous config"), ("enter", "details of the agent")]),
    ("Platforms", [("a  t  d  r", "add;  test;  remove;  refresh balances")]),
    ("Backups", [("enter", "preview the diff back, then restore")]),
    ("Review", [("j k  y  n", "next/previous file;  apply;  cancel")]),
    ("Result", [("v  c  esc", "reveal the key;  copy it;  close")]),
]
FOOTNOTE = "Every binding has an id, so it can be remapped. The mouse works too."


def help_text() -> Text:
    out = Text()
    for title, rows in SECTIONS:
        out.append(f"{title}\n", style="bold")
        for keys, what in rows:
            out.append(f"  {keys:<11}", style="bold")
            out.append(f"{what}\n")
        out.append("\n")
    out.append(FOOTNOTE, style="dim")
    return out



class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 74; max-width: 95%; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 1 2; }
    """
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help-close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_text())

    def action_close(self) -> None:
        self.dismiss(None)
