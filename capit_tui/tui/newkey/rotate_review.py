"""`R` on the Keys screen: the review of one or more keys' rotation, then what was done.

The keys are planned off the UI thread by the core (`plan`: core.rotate.plan_rotations, nothing issued).
The review is the new key's (diff_review.DiffReviewScreen: summary, the files, each file's masked diff,
j/k, `y` applies, `n`/Esc backs out having issued nothing), and one `y` rotates every key in turn:
a key agents hold by core.rotate.rotate (new key issued, written into its agents, old key revoked; a failure
is undone and worded by the core), a key no agent holds by core.rotate.issue_replacement (its new key
is shown once on the result screen, and `r` there revokes the old one: nothing is revoked unasked).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work

from capit_tui.core.redact import mask, redact
from capit_tui.core.replaced import Replaced
from capit_tui.core.text import display_name, joined, plural, tilde
from capit_tui.tui.newkey.diff_review import DiffReviewScreen
from capit_tui.tui.newkey.result import Done, Handover, Line, ResultScreen

if TYPE_CHECKING:
    from capit_tui.core.model import CappedKey, IssuedKey
    from capit_tui.core.rotate import Rotated, Rotation
    from capit_tui.tui.app import CapitApp

LISTED = 3  # keys named one a line in the summary; the rest are counted


def plan(app: CapitApp, keys: Sequence[CappedKey]) -> list[Rotation]:
    """Each key's rotation (reads the agents' files: call it off the UI thread). Raises CapitError."""
    from capit_tui.core.rotate import plan_rotations

    return plan_rotations(list(keys), {c.name: c for c in app.platforms}, taken=list(app.spend.keys.values()),
                          ledger=app.ledger, env=app.agent_env, today=app.today)


def name(text: str) -> str:
    return display_name(text, 60)


class RotateReviewScreen(DiffReviewScreen):
    doing = "The rotation"
    running_title = "Rotating…"
    failed_title = "Rotation failed"
    error_title = "The rotation failed"
    error_help = "esc or n: back to the Keys screen"

    def __init__(self, rotations: list[Rotation], home: Path | None, on_start: Callable[[], None] | None = None):
        """`on_start` is called when `y` starts the rotation (the Keys screen clears its marks)."""
        super().__init__([c for r in rotations if r.preview is not None for c in r.preview.plan.changes], home,
                         {a.name: a.title for r in rotations for a in r.agents})
        self.rotations = rotations
        self.on_start = on_start
        self.sub_title = "Review before anything is issued or revoked"

    # ------------------------------------------------------------ what the review says

    def where(self, r: Rotation) -> str:
        return f"into {', '.join(a.title for a in r.agents)}" if r.held else "shown once (no agent holds it)"

    def summary(self) -> Text:
        rs = self.rotations
        platforms = sorted({r.platform.name for r in rs})
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(f"Rotate {plural(len(rs), 'key')}{' on ' + platforms[0] if len(platforms) == 1 else ''}:",
                   style="bold")
        shown = rs if len(rs) <= LISTED else rs[:LISTED - 1]
        for r in shown:
            out.append(f"\n{name(r.old.name)} → ", style="bold")
            out.append(name(r.new_name), style="bold")
            out.append(f" ({r.cap_text}{', ' + r.platform.name if len(platforms) > 1 else ''}), {self.where(r)}.")
        if len(shown) < len(rs):
            rest = rs[len(shown):]
            out.append(f"\n… and {plural(len(rest), 'more key')}: {', '.join(name(r.old.name) for r in rest)}.")
        return out

    def notes(self) -> Text:
        out = Text()
        for r in self.rotations:
            for note in r.notes:
                out.append(f"⚠ {self.t(note)}\n", style="yellow")
        loose = [name(r.old.name) for r in self.rotations if not r.held]
        if loose:
            out.append(f"{joined(loose)}: the old key{'s keep' if len(loose) > 1 else ' keeps'} working until you "
                       "press r on the next screen.\n", style="italic")
        if self.changes:
            out.append("Each old key is revoked once its agents hold the new one (a failure puts the files back); "
                       f"the files are backed up first to {tilde(self.app.store.root, self.home)}.\n", style="dim")
        out.rstrip()
        return out

    def no_files_text(self) -> str:
        n = len(self.rotations)
        return (f"No file will change; {'each new key' if n > 1 else 'the new key'} will be shown once, "
                f"then r revokes the old {'ones' if n > 1 else 'one'}.")

    # ------------------------------------------------------------ y: every key in turn

    def run(self) -> None:
        if self.on_start is not None:
            self.on_start()
        self.rotate_all()

    @work(exclusive=True, group="install", exit_on_error=False)
    async def rotate_all(self) -> None:
        from capit_tui.core.rotate import issue_replacement, rotate
        from capit_tui.errors import CapitError

        app = self.app
        rs = self.rotations
        lines: list[Line] = []
        handovers: list[Handover] = []
        replaced: list[Replaced] = []
        gone: list[tuple[str, str]] = []
        failed = 0
        for i, r in enumerate(rs, 1):
            step = f"{i}/{len(rs)}: " if len(rs) > 1 else ""
            try:
                if r.held:
                    done = await rotate(r, store=app.store, ledger=app.ledger,
                                        progress=lambda m, step=step: self.progress(step + m))
                    lines.append(self.rotated_line(done))
                    gone.append((r.old.platform, r.old.id))
                else:
                    self.progress(f"{step}Issuing {r.new_name} on {r.platform.name} to replace {r.old.name}")
                    await issue_replacement(r, lambda issued, r=r: handovers.append(self.handover(r, issued)))
                    lines.append(Line(Text(f"{name(r.old.name)} → {name(r.new_name)}, shown once (above)",
                                           style="bold"),
                                      [r.cap_text, "no agent holds it, so no file was changed",
                                       f"{name(r.old.name)} still works until you revoke it (r)"]))
                    replaced.append(Replaced(r.old.platform, r.old.id, r.old.name, r.old_masked, [], r.old,
                                             by=r.new_name))
            except CapitError as exc:
                lines.append(Line(Text(f"{name(r.old.name)} was not rotated", style="bold red"),
                                  [self.t(redact(str(exc)))]))
                failed += 1
        for ident in gone:
            app.spend.forget(ident)
        if gone:
            from capit_tui.core.spend_watch import Update

            app.spend_signal.publish(Update([], [], gone, []))
        ok = len(rs) - failed
        headline = (f"Rotated {plural(ok, 'key')}" if not failed
                    else f"Rotated {ok} of {plural(len(rs), 'key')}; {failed} not (below)")
        app.call_later(self.succeeded, Done(headline, lines, handovers, replaced, ok=not failed))

    def rotated_line(self, done: Rotated) -> Line:
        r = done.rotation
        head = Text(f"{name(r.old.name)} → {name(done.issued.key.name)}", style="bold")
        head.append(f" ({mask(done.issued.secret)}) in {', '.join(a.title for a in r.agents)}")
        details = [r.cap_text] + [f"wrote {tilde(f, self.home)}" for files in done.files.values() for f in files]
        if done.backup is not None:
            details.append(f"backup of the old files: {done.backup.id}, in {tilde(done.backup.folder, self.home)} "
                           "(restore it from 4 Backups)")
        details.append(f"{name(r.old.name)} was revoked")
        return Line(head, details)

    @staticmethod
    def handover(r: Rotation, issued: IssuedKey) -> Handover:
        old = name(r.old.name)
        return Handover(f"{name(issued.key.name)} ({r.cap_text}), replacing {old}", issued.secret,
                        ["Store it now (a password manager, your CI's secret store): it is not shown again.",
                         f"{old} keeps working until you revoke it: r revokes it now, or later from the Keys "
                         "screen."])

    def succeeded(self, done: Done) -> None:
        self.app.switch_screen(ResultScreen(done))


__all__ = ["RotateReviewScreen", "plan"]
