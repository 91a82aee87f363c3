"""The look and the keys of a review before anything is issued: a summary on top, notes under it, every
file change as an OptionList beside (or above) the selected file's masked diff (j/k between files), a
progress line while `y` runs, and an error view that quotes the core's sentence.

Two screens are built on it: the new key's review (review.ReviewScreen) and a rotation's review
(rotate_review.RotateReviewScreen). Each says what to show (`summary`, `notes`, `no_files_text`, the
file list's titles) and what `y` does (`run`, a worker in the group "install", which the app will not quit
in the middle of); this class owns the layout (review.tcss), the states and the bindings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Header, LoadingIndicator, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from capit_tui.core.redact import redact
from capit_tui.core.text import tilde, tilde_text
from capit_tui.tui.typed_app import capit_app
from capit_tui.tui.widgets.diff_view import DiffView


class DiffReviewScreen(Screen):
    CSS_PATH = "review.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    BINDINGS = [
        Binding("y", "apply", "Apply", id="review.apply"),
        Binding("n,escape", "back", "Back", id="review.back", tooltip="Back: nothing is issued"),
        Binding("j,down", "move(1)", "Next file", id="review.next_file"),
        Binding("k,up", "move(-1)", "Prev file", id="review.prev_file"),
        Binding("pagedown,space", "page(1)", show=False, id="review.page_down"),
        Binding("pageup", "page(-1)", show=False, id="review.page_up"),
    ]

    app = capit_app()

    # The words of each state (the new key's review: an install; a rotation's: a rotation).
    doing = "The install"
    running_title = "Installing…"
    failed_title = "Install failed"
    error_title = "The install failed"
    error_help = "esc or n: back to the form (look at the diff again before another try)"

    def __init__(self, changes: list[Any], home: Path | None, titles: dict[str, str]):
        """`changes`: the planned file changes (core.changes.Change), `home`: what `~` stands for in paths,
        `titles`: each agent's title by its name (for the file list)."""
        super().__init__()
        self.changes = changes
        self.home = home
        self.titles = titles
        self.state = "review"  # review | running | error
        self.sub_title = "Review before anything is issued"

    # ------------------------------------------------------------ what a review says (subclasses)

    def summary(self) -> Text:
        raise NotImplementedError

    def notes(self) -> Text:
        return Text()

    def no_files_text(self) -> str:
        return "No file will change."

    def run(self) -> None:
        """What `y` starts: a worker (group "install") that ends in `failed` or a switch to a result."""
        raise NotImplementedError

    # ------------------------------------------------------------ layout

    def t(self, text: str) -> str:
        return tilde_text(text, self.home)

    def file_prompt(self, i: int) -> Text:
        c = self.changes[i]
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{self.titles.get(c.agent, c.agent)}  ", style="bold")
        text.append(tilde(c.path, self.home))
        text.append("  ")
        text.append("new file" if c.is_new else "edit", style="dim")
        return text

    def compose(self) -> ComposeResult:
        yield Header(icon="$")
        with ContentSwitcher(initial="review-body", id="switcher"):
            with Vertical(id="review-body"):
                yield Static(self.summary(), id="summary")
                yield Static(self.notes(), id="notes")
                with Vertical(id="panes"):
                    if self.changes:
                        files = OptionList(*(Option(self.file_prompt(i), id=str(i)) for i in range(len(self.changes))),
                                           id="files", compact=True)
                        files.can_focus = False
                        yield files
                        view = DiffView(id="diff")
                        view.can_focus = False
                        yield view
                    else:
                        yield Static(self.no_files_text(), id="no-files")
                with Horizontal(id="progress"):
                    yield LoadingIndicator()
                    yield Static("", id="progress-text", markup=False)
            with VerticalScroll(id="error-view"):
                yield Static(self.error_title, id="error-title")
                yield Static("", id="error-message", markup=False)
                yield Static(self.error_help, id="error-help")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#notes").display = bool(self.notes().plain)
        self.query_one("#progress").display = False
        if self.changes:
            self.query_one("#files", OptionList).highlighted = 0
            self.show_file(0)

    # ------------------------------------------------------------ moving between files

    def show_file(self, index: int) -> None:
        if not self.changes:
            return
        c = self.changes[index]
        view = self.query_one("#diff", DiffView)
        view.border_title = f"{index + 1}/{len(self.changes)} {tilde(c.path, self.home)}"
        view.show(self.t(c.diff()))

    @on(OptionList.OptionHighlighted, "#files")
    def file_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.show_file(event.option_index)

    def action_move(self, step: int) -> None:
        if not self.changes or self.state != "review":
            return
        files = self.query_one("#files", OptionList)
        current = files.highlighted or 0
        files.highlighted = max(0, min(len(self.changes) - 1, current + step))

    def action_page(self, pages: int) -> None:
        if self.changes:
            view = self.query_one("#diff", DiffView)
            if pages > 0:
                view.scroll_page_down(animate=False)
            else:
                view.scroll_page_up(animate=False)

    @property
    def current_file(self) -> int | None:
        if not self.changes:
            return None
        return self.query_one("#files", OptionList).highlighted

    # ------------------------------------------------------------ bindings by state

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "apply":
            return self.state == "review"
        if action in ("move", "page"):
            return bool(self.changes) and self.state == "review"
        if action == "back":
            return None if self.state == "running" else True
        return True

    def set_state(self, state: str) -> None:
        self.state = state
        self.refresh_bindings()

    def action_back(self) -> None:
        if self.state == "running":
            return  # an install cannot be stopped half way; it finishes or undoes itself
        self.dismiss(None)

    # ------------------------------------------------------------ apply

    def action_apply(self) -> None:
        if self.state != "review":
            return  # a second y must never start (and so cancel) another run
        self.set_state("running")
        self.sub_title = self.running_title
        self.query_one("#progress").display = True
        self.progress("Issuing…")
        self.run()

    def progress(self, message: str) -> None:
        self.query_one("#progress-text", Static).update(self.t(message) + "…")

    def failed(self, message: str) -> None:
        self.query_one("#progress").display = False
        self.query_one("#error-message", Static).update(self.t(redact(message)))
        self.query_one("#switcher", ContentSwitcher).current = "error-view"
        self.sub_title = self.failed_title
        self.set_state("error")

    @on(Worker.StateChanged)
    def worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "install" and event.state == WorkerState.ERROR and self.state == "running":
            err = event.worker.error
            self.failed(f"{self.doing} stopped unexpectedly ({type(err).__name__}: {err}). Check the Keys screen "
                        "for a key that was issued, and the Backups screen for the files.")


__all__ = ["DiffReviewScreen"]
