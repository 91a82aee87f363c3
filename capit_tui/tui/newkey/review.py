"""The review of a new key before anything happens.

Every file change as a masked unified diff, one file at a time (j/k), with the key names, the cap,
where the old files are backed up, the warnings and the manual agents. `y` runs `install.execute`
(the CLI's core: issue, write all or nothing, ledger) in a worker, then shows what was done
(`result.ResultScreen`); `n`/Esc goes back to the form having issued nothing. A failed install shows
the error exactly as the core words it (it says whether files were restored and keys revoked).
"""

from __future__ import annotations

from rich.text import Text
from textual import work

from capit_tui.core.install import IssueRequest
from capit_tui.core.text import joined, plural, tilde
from capit_tui.tui.newkey.diff_review import DiffReviewScreen
from capit_tui.tui.newkey.result import Done, ResultScreen


class ReviewScreen(DiffReviewScreen):
    """The layout, keys and states are DiffReviewScreen's (review.tcss); this says what a new key does."""

    def __init__(self, request: IssueRequest):
        pv = request.preview
        super().__init__(list(pv.plan.changes) if pv is not None else [], request.home,
                         {a.name: a.title for a in pv.agents} if pv is not None else {})
        self.request = request

    # ------------------------------------------------------------ layout

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

    def no_files_text(self) -> str:
        manual = len(self.request.preview.manual) if self.request.preview else 0
        return ("No file will change; "
                + ("each key will be shown once, with the steps to install it." if manual > 1
                   else "the key will be shown once, with the steps to install it." if manual
                   else "the key will be shown once."))

    def run(self) -> None:
        self.install()

    @work(exclusive=True, group="install", exit_on_error=False)
    async def install(self) -> None:
        from capit_tui.core.install import InstallError, execute
        from capit_tui.core.issuing import issue_shown
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

    def succeeded(self, done: Done) -> None:
        self.app.switch_screen(ResultScreen(done))


__all__ = ["ReviewScreen"]
