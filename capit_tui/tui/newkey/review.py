"""The review of a new key before anything happens, and what was done after.

ReviewScreen: every file change as a masked unified diff, one file at a time (j/k), with the key
names, the cap, where the old files are backed up, the warnings and the manual agents. `y` runs
`install.execute` (the CLI's core: issue, write all or nothing, ledger) in a worker; `n`/Esc goes
back to the form having issued nothing. A failed install shows the error exactly as the core words
it (it says whether files were restored and keys revoked).

ResultScreen: what was done, per agent, and the backup. A key that no file edit can install (a
manual agent, or no agent chosen) is shown there once, masked until `v`, copied with `c` (OSC 52).
Closing drops the secret and returns to the Keys screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Header, LoadingIndicator, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from capit_tui.core.agent_status import tilde, tilde_text
from capit_tui.core.model import IssuedKey
from capit_tui.core.money import format_usd
from capit_tui.core.redact import mask, redact
from capit_tui.tui.newkey.form import Order
from capit_tui.tui.widgets.diff_view import DiffView


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def joined(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# ---------------------------------------------------------------- the review


class ReviewScreen(Screen):
    CSS_PATH = "review.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    BINDINGS = [
        Binding("y", "apply", "Apply", id="review-apply"),
        Binding("n,escape", "back", "Back", id="review-back", tooltip="Back to the form; nothing is issued"),
        Binding("j,down", "move(1)", "Next file", id="review-next-file"),
        Binding("k,up", "move(-1)", "Prev file", id="review-prev-file"),
        Binding("pagedown,space", "page(1)", show=False, id="review-page-down"),
        Binding("pageup", "page(-1)", show=False, id="review-page-up"),
    ]

    def __init__(self, order: Order):
        super().__init__()
        self.order = order
        self.state = "review"  # review | running | error
        self.sub_title = "Review before anything is issued"
        pv = order.preview
        self.changes = list(pv.plan.changes) if pv is not None else []

    # ------------------------------------------------------------ layout

    def t(self, text: str) -> str:
        return tilde_text(text, self.order.home)

    def summary(self) -> Text:
        o = self.order
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
        o = self.order
        pv = o.preview
        app: Any = self.app
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
        for w in pv.warnings:
            out.append(f"⚠ {self.t(w)}\n", style="yellow")
        out.rstrip()
        return out

    def file_prompt(self, i: int) -> Text:
        c = self.changes[i]
        pv = self.order.preview
        title = next((a.title for a in (pv.agents if pv else []) if a.name == c.agent), c.agent)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{title}  ", style="bold")
        text.append(tilde(c.path, self.order.home))
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
                        manual = len(self.order.preview.manual) if self.order.preview else 0
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
        view.border_title = f"{index + 1}/{len(self.changes)} {tilde(c.path, self.order.home)}"
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
        from capit_tui.core.install import InstallError, execute
        from capit_tui.platforms.base import PlatformError

        o = self.order
        app: Any = self.app
        try:
            if o.preview is None:
                self.progress(f"Issuing {o.key_name} on {o.platform.name}")
                issued = await app.platform(o.platform.name).create_key(o.key_name, o.limit, o.reset)
                done = Done.single(o, issued)
                del issued
            else:
                result = await execute(o.preview, o.limit, o.reset, store=app.store, ledger=app.ledger,
                                       progress=self.progress)
                done = Done.from_result(o, result)
                del result
        except InstallError as exc:
            self.failed(str(exc))
            return
        except PlatformError as exc:
            self.failed(f"Issuing {o.key_name} on {o.platform.name} failed: {exc} No file was changed.")
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


# ---------------------------------------------------------------- what was done


@dataclass
class Handover:
    """A key no file edit installs: shown once on the result screen, then forgotten."""

    title: str
    secret: str = field(repr=False)
    steps: list[str] = field(default_factory=list)


@dataclass
class Line:
    """One thing done, and its details (files written, notes), shown indented below it."""

    head: Text
    details: list[str] = field(default_factory=list)


@dataclass
class Done:
    headline: str
    lines: list[Line]
    handovers: list[Handover]

    @staticmethod
    def amount(o: Order) -> str:
        return format_usd(o.limit) if o.limit is not None else "uncapped"

    @classmethod
    def single(cls, o: Order, issued: IssuedKey) -> Done:
        k = issued.key
        line = Line(Text(f"Key {k.name} issued on {o.platform.name} ({o.cap_text})", style="bold"),
                    [f"id {k.id[:12]}", "no file was changed"])
        steps = ["Store it now (a password manager, your CI's secret store): it is not shown again.",
                 f"If it is lost, revoke it from the Keys screen ({k.name}) and issue another."]
        return cls(f"Issued {k.name} on {o.platform.name}", [line],
                   [Handover(f"{k.name} ({o.cap_text})", issued.secret, steps)])

    @classmethod
    def from_result(cls, o: Order, result: Any) -> Done:
        amount = cls.amount(o)
        lines: list[Line] = []
        for r in result.installed:
            head = Text()
            head.append(f"{amount} {o.platform.name} key installed into {r.agent.name}", style="bold")
            head.append(f" ({r.issued.key.name}, {mask(r.issued.secret)})")
            details = [f"wrote {tilde(f, o.home)}" for f in r.files]
            details += [f"note: {tilde_text(step, o.home)}" for step in r.agent.after_install()]
            lines.append(Line(head, details))
        if result.backup is not None:
            b = result.backup
            lines.append(Line(Text(f"Backup of the old files: {b.id}"),
                              [f"in {tilde(b.folder, o.home)}", "restore it from 4 Backups"]))
        handovers = []
        for a, issued, steps in result.manual:
            handovers.append(Handover(f"{a.title}: {issued.key.name} ({o.cap_text})", issued.secret,
                                      ["No file edit can install this key. To install it by hand:"]
                                      + [f"{i}. {s}" for i, s in enumerate(steps, 1)]))
        n = len(result.installed) + len(result.manual)
        headline = f"Issued {plural(n, 'key')} on {o.platform.name}"
        if result.installed:
            headline += f", installed into {joined([r.agent.title for r in result.installed])}"
        if result.manual:
            headline += f"; {joined([a.title for a, _, _ in result.manual])} by hand (below)"
        return cls(headline, lines, handovers)


class SecretCard(Vertical, can_focus=True):
    """The one widget a new secret appears in: masked until revealed; the secret is dropped on close."""

    def __init__(self, handover: Handover):
        super().__init__(classes="card")
        self.border_title = handover.title
        self._secret: str | None = handover.secret
        self.masked = mask(handover.secret)
        self.steps = handover.steps
        self.revealed = False
        self.copied = False

    def compose(self) -> ComposeResult:
        yield Static(self.line(), classes="secret")
        yield Static(self.once(), classes="once")
        if self.steps:
            yield Static("\n".join(self.steps), classes="steps", markup=False)

    def line(self) -> Text:
        if self.revealed and self._secret:
            return Text(self._secret, style="bold")
        return Text(self.masked, style="bold")

    def once(self) -> str:
        if self.revealed:
            return "Shown only this once: v hides it again, c copies it."
        return "Shown only this once: v reveals it, c copies it."

    def toggle(self) -> None:
        self.revealed = not self.revealed and self._secret is not None
        self.query_one(".secret", Static).update(self.line())
        self.query_one(".once", Static).update(self.once())

    @property
    def secret(self) -> str | None:
        return self._secret

    def forget(self) -> None:
        self._secret = None
        self.revealed = False
        if self.is_mounted:
            self.query_one(".secret", Static).update(self.line())
            self.query_one(".once", Static).update("")


class ResultScreen(Screen):
    CSS_PATH = "review.tcss"
    BINDINGS = [
        Binding("v", "reveal", "Reveal", id="result-reveal"),
        Binding("c", "copy", "Copy", id="result-copy"),
        Binding("escape,q", "close", "Close", id="result-close"),
        # `n` is the app's "new key": not on top of a key shown once.
        Binding("n", "ignore", show=False, id="result-n"),
    ]

    def __init__(self, done: Done):
        super().__init__()
        self.sub_title = "Done"
        self.headline = done.headline
        self.lines = done.lines
        self.cards = [SecretCard(h) for h in done.handovers]
        for h in done.handovers:
            h.secret = ""  # the card holds the only copy

    def compose(self) -> ComposeResult:
        yield Header(icon="$")
        with VerticalScroll(id="result"):
            yield Static(f"✓ {self.headline}", id="headline", markup=False)
            yield from self.cards  # first: a key shown once is what needs doing now
            for line in self.lines:
                with Vertical(classes="done-line"):
                    yield Static(line.head)
                    if line.details:
                        yield Static("\n".join(line.details), classes="details", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        if self.cards:
            self.cards[0].focus(scroll_visible=False)

    def card(self) -> SecretCard | None:
        focused = self.focused
        if isinstance(focused, SecretCard):
            return focused
        return self.cards[0] if self.cards else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("reveal", "copy"):
            return bool(self.cards)
        return True

    def action_reveal(self) -> None:
        card = self.card()
        if card is not None:
            card.toggle()

    def action_copy(self) -> None:
        card = self.card()
        if card is None or card.secret is None:
            return
        self.app.copy_to_clipboard(card.secret)
        card.copied = True
        self.notify("Copied the key to the clipboard (OSC 52). Paste it now; it is not shown again.",
                    title="copied", markup=False)

    def action_ignore(self) -> None:
        pass

    def action_close(self) -> None:
        unsaved = [c for c in self.cards if not (c.copied or c.revealed)]
        if not unsaved:
            self.close()
            return
        from capit_tui.tui.modals.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.close()

        self.app.push_screen(ConfirmScreen(
            "Close without copying the key?",
            [("The key is not shown again. It stays valid on the platform: revoke it from the Keys screen "
              "if you cannot store it.")], yes="Close", no="Back"), answered)

    def close(self) -> None:
        """Drop every secret, then go back to the Keys screen and refresh the spend."""
        for c in self.cards:
            c.forget()
        self.cards = []
        app: Any = self.app

        async def home() -> None:
            while len(app.screen_stack) > 1:
                await app.pop_screen()
            if app.current_mode != "keys":
                await app.switch_mode("keys")
            app.refresh_spend()

        app.call_later(home)


__all__ = ["Done", "Handover", "ResultScreen", "ReviewScreen", "SecretCard"]
