"""What was done after a new key's review: per agent, the key and the files written, and the backup.

A key that no file edit can install (a manual agent, or no agent chosen) is shown here once, in a
SecretCard: masked until `v`, copied with `c` (OSC 52). Closing drops the secret and returns to the screen
the new key was asked from (Keys after `n`, Agents after `i`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from capit_tui.core.install import IssueRequest, Result
from capit_tui.core.model import IssuedKey
from capit_tui.core.money import format_usd
from capit_tui.core.redact import mask
from capit_tui.core.replaced import Replaced
from capit_tui.core.text import display_name, joined, plural, tilde, tilde_text
from capit_tui.tui.typed_app import capit_app


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
    replaced: list[Replaced] = field(default_factory=list)  # capit keys the install left no agent holding
    ok: bool = True  # False: something failed (the lines say what); the headline is not a tick

    @staticmethod
    def amount(o: IssueRequest) -> str:
        """The cap with its reset: `$3.00 monthly`, `$3.00 lifetime` (never resets), `uncapped`."""
        if o.limit is None:
            return "uncapped"
        return f"{format_usd(o.limit)} {o.reset or 'lifetime'}"

    @classmethod
    def single(cls, o: IssueRequest, issued: IssuedKey) -> Done:
        k = issued.key
        line = Line(Text(f"Key {k.name} issued on {o.platform.name} ({o.cap_text})", style="bold"),
                    [f"id {k.id[:12]}", "no file was changed"])
        steps = ["Store it now (a password manager, your CI's secret store): it is not shown again.",
                 f"If it is lost, revoke it from the Keys screen ({k.name}) and issue another."]
        return cls(f"Issued {k.name} on {o.platform.name}", [line],
                   [Handover(f"{k.name} ({o.cap_text})", issued.secret, steps)])

    @classmethod
    def from_result(cls, o: IssueRequest, result: Result) -> Done:
        amount = cls.amount(o)
        lines: list[Line] = []
        for r in result.installed:
            head = Text()
            head.append(f"{amount} {o.platform.name} key installed into {r.agent.name}", style="bold")
            head.append(f" ({r.issued.key.name}, {mask(r.issued.secret)})")
            details = [f"wrote {tilde(f, o.home)}" for f in r.files] + ([r.model.line] if r.model else [])
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
    """The one widget a new secret appears in: masked until revealed; the secret is dropped on close.

    It hands the secret over itself (`copy_secret`, to the clipboard) and posts `SecretCard.Copied`, which
    does not carry it.
    """

    class Copied(Message):
        """The card's key was put on the clipboard."""

        def __init__(self, card: SecretCard) -> None:
            super().__init__()
            self.card = card

        @property
        def control(self) -> SecretCard:
            return self.card

    def __init__(self, handover: Handover):
        super().__init__(classes="card")
        self.border_title = Text(handover.title)  # names come from a platform: never markup
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

    def copy_secret(self) -> None:
        """Put the key on the clipboard (OSC 52), the one way it leaves this card."""
        if self._secret is None:
            return
        self.app.copy_to_clipboard(self._secret)
        self.copied = True
        self.post_message(self.Copied(self))

    def forget(self) -> None:
        self._secret = None
        self.revealed = False
        if self.is_mounted:
            self.query_one(".secret", Static).update(self.line())
            self.query_one(".once", Static).update("")


class ResultScreen(Screen):
    CSS_PATH = "result.tcss"
    BINDINGS = [
        Binding("v", "reveal", "Reveal", id="result.reveal"),
        Binding("c", "copy", "Copy", id="result.copy"),
        Binding("escape,q", "close", "Close", id="result.close"),
        # `n` is the app's "new key": not on top of a key shown once.
        Binding("n", "ignore", show=False, id="result.no_new"),
        Binding("r", "revoke_replaced", "Revoke replaced key", id="result.revoke_replaced"),
    ]

    app = capit_app()

    def __init__(self, done: Done):
        super().__init__()
        self.sub_title = "Done"
        self.headline = done.headline
        self.ok = done.ok
        self.lines = done.lines
        self.replaced = done.replaced
        self.revoking = False
        self.cards = [SecretCard(h) for h in done.handovers]
        for h in done.handovers:
            h.secret = ""  # the card holds the only copy

    def compose(self) -> ComposeResult:
        yield Header(icon="$")
        with VerticalScroll(id="result"):
            yield Static(f"{'✓' if self.ok else '⚠'} {self.headline}", id="headline", markup=False,
                         classes="" if self.ok else "-failed")
            yield from self.cards  # first: a key shown once is what needs doing now
            for line in self.lines:
                with Vertical(classes="done-line"):
                    yield Static(line.head)
                    if line.details:
                        yield Static("\n".join(line.details), classes="details", markup=False)
            if self.replaced:
                yield Static(self.replaced_text(), id="replaced", classes="done-line")
        yield Footer(compact=True)

    def replaced_text(self, said: str = "r revokes it (or keep it: revoke it later from the Keys screen).") -> Text:
        text = Text()
        for r in self.replaced:
            text.append(f"Replaced {display_name(r.name, 60)} ({r.cap_text}): ", style="bold yellow")
            if r.by is not None:
                text.append(f"rotated to {display_name(r.by, 60)}; held by no agent, it can still spend.\n")
            else:
                text.append(f"issued by capit-tui, held by no agent now ({', '.join(r.agents)} had it); "
                            "it can still spend.\n")
        text.append(said, style="dim")
        return text

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
        if action == "revoke_replaced":
            return bool(self.replaced) and not self.revoking
        return True

    def action_reveal(self) -> None:
        card = self.card()
        if card is not None:
            card.toggle()

    def action_copy(self) -> None:
        card = self.card()
        if card is not None:
            card.copy_secret()

    @on(SecretCard.Copied)
    def copied(self) -> None:
        self.notify("Copied the key to the clipboard (OSC 52). Paste it now; it is not shown again.",
                    title="copied", markup=False)

    def action_ignore(self) -> None:
        pass

    @work(group="revoke-replaced", exit_on_error=False)
    async def action_revoke_replaced(self) -> None:
        """Revoke the replaced keys through the core's one revoke path (the ledger marks them revoked)."""
        from capit_tui.core.replaced import revoke_replaced

        app = self.app
        self.revoking = True
        self.refresh_bindings()
        todo = self.replaced
        outcomes = await revoke_replaced(todo, {c.name: c for c in app.platforms}, app.ledger)
        failed = [o for o in outcomes if o.error is not None]
        said = "; ".join(f"{o.key.name} was not revoked: {o.error}" for o in failed)
        done = [o.key.name for o in outcomes if o.error is None]
        if done:
            said = f"Revoked {joined(done)}." + (f" {said}" if said else "")
        self.replaced = [r for r in todo if any(o.key.id == r.key_id for o in failed)]
        self.revoking = False
        self.query_one("#replaced", Static).update(Text(said, style="bold" if not failed else "bold red"))
        self.refresh_bindings()

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
        """Drop every secret, then go back to the screen of the mode the flow began in (Keys after `n`,
        Agents after `i`) and refresh the spend."""
        for c in self.cards:
            c.forget()
        self.cards = []
        app = self.app

        async def home() -> None:
            while len(app.screen_stack) > 1:
                await app.pop_screen()
            app.refresh_spend()

        app.call_later(home)


__all__ = ["Done", "Handover", "Line", "ResultScreen", "SecretCard"]
