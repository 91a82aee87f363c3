"""The review of a new key before anything happens.

Every file change as a masked unified diff, one file at a time (j/k), with the key names, the cap,
where the old files are backed up, the warnings and the manual agents. `y` runs `install.execute`
(the CLI's core: issue, write all or nothing, ledger) in a worker, then shows what was done
(`result.ResultScreen`); `n`/Esc goes back to the form having issued nothing. A failed install shows
the error exactly as the core words it (it says whether files were restored and keys revoked).
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Header, LoadingIndicator, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from capit_tui.core.install import IssueRequest
from capit_tui.core.redact import redact
from capit_tui.core.text import joined, plural, tilde, tilde_text
from capit_tui.tui.newkey.result import Done, ResultScreen
from capit_tui.tui.typed_app import capit_app
from capit_tui.tui.widgets.diff_view import DiffView


class ReviewScreen(Screen):
    CSS_PATH = "review.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    BINDINGS = [
        Binding("y", "apply", "Apply", id="review.apply"),
        Binding("n,escape", "back", "Back", id="review.back", tooltip="Back to the form; nothing is issued"),
        Binding("j,down", "move(1)", "Next file", id="review.next_file"),
        Binding("k,up", "move(-1)", "Prev file", id="review.prev_file"),
        Binding("pagedown,space", "page(1)", show=False, id="review.page_down"),
        Binding("pageup", "page(-1)", show=False, id="review.page_up"),
    ]

    app = capit_app()

    def __init__(self, request: IssueRequest):
        super().__init__()
        self.request = request
        self.state = "review"  # review | running | error
        self.sub_title = "Review before anything is issued"
        pv = request.preview
        self.changes = list(pv.plan.changes) if pv is not None else []

    # ------------------------------------------------------------ layout

    def t(self, text: str) -> str:
        return tilde_text(text, self.request.home)

    def summary(self) -> Text:
        o = self.request
        pv = o.preview
        out = Text()
        if pv is None:
            out.append(f"One key on {o.platform.name}: ", style="bold")
            out.append(o.key_name, style="bold")
            out.append(f", {o.cap_text}.")
            return out
        agents = pv.agents + pv.manual
        out.append(f"{plural(len(agents), 'key')} on {o.platform.name}, {o.cap_text}"
                   f"{' each' if len(agents) > 1 else ''}: ", style="bold")
        out.append(", ".join(f"{pv.key_names[a.name]} for {a.title}" for a in agents) + ".")
        if o.model:
            out.append(f" Model {o.model}.")
        return out

    def notes(self) -> Text:
        o = self.request
        pv = o.preview
        app = self.app
        out = Text()
        if o.limit is None:
            out.append("NO cap: an agent stuck in a loop can spend your whole balance.\n", style="bold red")
        if pv is None:
            return out
        if self.changes:
            out.append(f"The old files are backed up first to {tilde(app.store.root, o.home)} "
                       "(restore from 4 Backups).\n", style="dim")
        for a in pv.agents:
            if not pv.plan.for_agent(a.name):
                out.append(f"{a.title}: its files already say this; only the new key would change.\n", style="dim")
        if pv.manual:
            titles = joined([a.title for a in pv.manual])
            out.append(f"{titles}: no file edit can install "
                       f"{'their keys; each is' if len(pv.manual) > 1 else 'its key; it is'} "
                       "shown once after, with the steps.\n", style="italic")
        for line in pv.model_lines():
            out.append(f"{line}\n")
        for w in pv.warnings:
            out.append(f"⚠ {self.t(w)}\n", style="yellow")
        for r in pv.replaces:
            out.append(f"Replaces {r.name} (issued by capit-tui); you can revoke it after install.\n", style="yellow")
        out.rstrip()
        return out

    def file_prompt(self, i: int) -> Text:
        c = self.changes[i]
        pv = self.request.preview
        title = next((a.title for a in (pv.agents if pv else []) if a.name == c.agent), c.agent)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{title}  ", style="bold")
        text.append(tilde(c.path, self.request.home))
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
                        manual = len(self.request.preview.manual) if self.request.preview else 0
                        yield Static("No file will change; "
                                     + ("each key will be shown once, with the steps to install it." if manual > 1
                                        else "the key will be shown once, with the steps to install it." if manual
                                        else "the key will be shown once."), id="no-files")
                with Horizontal(id="progress"):
                    yield LoadingIndicator()
                    yield Static("", id="progress-text", markup=False)
            with VerticalScroll(id="error-view"):
                yield Static("The install failed", id="error-title")
                yield Static("", id="error-message", markup=False)
                yield Static("esc or n: back to the form (look at the diff again before another try)",
                             id="error-help")
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
        view.border_title = f"{index + 1}/{len(self.changes)} {tilde(c.path, self.request.home)}"
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
            return  # a second y must never start (and so cancel) another install
        self.set_state("running")
        self.sub_title = "Installing…"
        self.query_one("#progress").display = True
        self.progress("Issuing…")
        self.install()

    def progress(self, message: str) -> None:
        self.query_one("#progress-text", Static).update(self.t(message) + "…")

    @work(exclusive=True, group="install", exit_on_error=False)
    async def install(self) -> None:
        from capit_tui.core.install import InstallError, execute, issue_shown
        from capit_tui.errors import CapitError
        from capit_tui.platforms.base import PlatformError

        o = self.request
        app = self.app
        try:
            if o.preview is None:
                # under the lock and journaled like the CLI's: a key nobody was shown is revoked
                self.progress(f"Issuing {o.key_name} on {o.platform.name}")
                shown: list[Done] = []
                await issue_shown(o.platform, o.key_name, o.limit, o.reset,
                                  lambda issued: shown.append(Done.single(o, issued)), expires_at=o.expires_at)
                done = shown[0]
            else:
                result = await execute(o.preview, o.limit, o.reset, store=app.store, ledger=app.ledger,
                                       progress=self.progress, expires_at=o.expires_at)
                done = Done.from_result(o, result)
                del result
                from capit_tui.core.replaced import look_up, orphaned

                done.replaced = await look_up(orphaned(o.preview.held, app.ledger, app.agent_env),
                                              {c.name: c for c in app.platforms})
        except InstallError as exc:
            self.failed(str(exc))
            return
        except PlatformError as exc:
            self.failed(f"Issuing {o.key_name} on {o.platform.name} failed: {exc} No file was changed.")
            return
        except CapitError as exc:  # another capit-tui held the lock too long, a journal it could not write
            self.failed(str(exc))
            return
        self.app.call_later(self.succeeded, done)

    def failed(self, message: str) -> None:
        self.query_one("#progress").display = False
        self.query_one("#error-message", Static).update(self.t(redact(message)))
        self.query_one("#switcher", ContentSwitcher).current = "error-view"
        self.sub_title = "Install failed"
        self.set_state("error")

    @on(Worker.StateChanged)
    def worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "install" and event.state == WorkerState.ERROR and self.state == "running":
            err = event.worker.error
            self.failed(f"The install stopped unexpectedly ({type(err).__name__}: {err}). Check the Keys screen "
                        "for a key that was issued, and the Backups screen for the files.")

    def succeeded(self, done: Done) -> None:
        self.app.switch_screen(ResultScreen(done))


__all__ = ["ReviewScreen"]
