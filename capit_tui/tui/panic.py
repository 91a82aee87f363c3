"""`!` from any screen: the panic stop (one confirmation naming the count of enabled keys and platforms),
and, while the panic's keys are stopped, its undo (one confirmation naming the count). The rules are the
core's (core/panic.py); this mixin of CapitApp words them, keeps `stopped` (what the banner shows, read
from the record of stopped keys at start and after each change) and refreshes the keys after either."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from capit_tui.core.stops import PANIC, StopRecord, StopsError, Summary, summary
from capit_tui.core.text import display_name, joined, plural

if TYPE_CHECKING:
    from capit_tui.core.panic import Outcome

MOST_NAMED = 5  # failed keys named in a notification


class PanicActions:
    """Mixed into CapitApp (which has notify, push_screen, run_worker, platforms, spend, action_refresh)."""

    stopped: Summary | None = None

    def read_stops(self: Any) -> None:
        """The banner's state from the record (at start, after a repair, after a panic or an undo)."""
        try:
            found = summary(StopRecord().load(), PANIC, {c.name for c in self.platforms})
        except StopsError as exc:
            self.notify(str(exc), title="Stopped keys", severity="error", markup=False)
            return
        self.stopped = found if found.count else None
        self.stops_signal.publish(self.stopped)

    async def let_go_by_hand(self: Any, key: Any) -> None:
        """The user disabled or enabled `key` by hand: no stopper holds it any more (core.stops.let_go, in a
        thread: it may wait for the lock), and the banner counts what the panic still holds."""
        import asyncio

        from capit_tui.core.stops import let_go
        from capit_tui.errors import CapitError

        try:
            if await asyncio.to_thread(let_go, [(key.platform, key.id)]):
                self.read_stops()
        except CapitError as exc:
            self.notify(str(exc), title="Stopped keys", severity="warning", markup=False)

    async def start_repairs(self: Any) -> None:
        """Start-up: finish an interrupted run (an interrupted panic included), then show what is stopped."""
        from capit_tui.core.recovery import at_start

        try:
            await at_start(lambda m: self.notify(m, markup=False))
        finally:
            self.read_stops()

    def action_panic(self: Any) -> None:
        from capit_tui.tui.modals.confirm import ConfirmScreen

        if not self.platforms:
            self.notify("No platform is configured, so there is no key to stop.", severity="warning")
            return
        if any(w.group == "panic" and w.is_running for w in self.workers):
            self.notify("The panic (or its undo) is still running.", severity="warning")
            return
        if self.stopped is not None and self.stopped.count:
            s = self.stopped
            body = [f"Re-enable the {plural(s.count, 'key')} the panic disabled on {joined(list(s.platforms))}?",
                    "Keys re-enabled, revoked or stopped by something else since are left alone."]

            def undo(yes: bool | None) -> None:
                if yes:
                    self.run_worker(self._undo(), group="panic", exit_on_error=False)

            self.push_screen(ConfirmScreen("Undo the panic?", body, yes="Re-enable", no="Keep stopped"), undo)
            return
        names = [c.name for c in self.platforms]
        enabled = sum(1 for k in self.spend.keys.values() if not k.disabled and k.platform in names)
        loading = " (the keys are still loading: the panic lists them itself)" if self.refreshing else ""
        body = [f"Disable {plural(enabled, 'enabled key')} on {joined(names)}{loading}?",
                "Agents using them are refused until you undo it (! again). Keys are disabled, never deleted."]

        def stop(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._panic(), group="panic", exit_on_error=False)

        self.push_screen(ConfirmScreen("Stop every key?", body, yes="Stop all", no="Cancel", danger=True), stop)

    async def _panic(self: Any) -> None:
        from capit_tui.core.panic import panic

        self.notify("Disabling every enabled key…", title="Panic", markup=False)
        try:
            outcome = await panic(list(self.platforms))
        except Exception as exc:  # noqa: BLE001 - the lock busy, a damaged record: said, nothing done
            self.notify(str(exc), title="Nothing was stopped", severity="error", markup=False)
            return
        finally:
            self.read_stops()
        self._said(outcome, "disabled", "still enabled")
        self.action_refresh()

    async def _undo(self: Any) -> None:
        from capit_tui.core.panic import undo_panic

        try:
            outcome = await undo_panic(list(self.platforms))
        except Exception as exc:  # noqa: BLE001
            self.notify(str(exc), title="Nothing was re-enabled", severity="error", markup=False)
            return
        finally:
            self.read_stops()
        self._said(outcome, "re-enabled", "still disabled")
        self.action_refresh()

    def _said(self: Any, outcome: Outcome, done: str, state: str) -> None:
        lines = []
        for t in outcome.tallies:
            if t.error is not None:
                lines.append(f"{t.platform}: nothing was {done}: {t.error}")
                continue
            parts = [f"{plural(len(t.done), 'key')} {done}"]
            if t.already:
                parts.append(f"{t.already} already disabled")
            if t.left:
                parts.append(f"{len(t.left)} left alone")
            parts.append(f"{len(t.failed)} failed")
            lines.append(f"{t.platform}: {', '.join(parts)}")
            for k, reason in t.failed[:MOST_NAMED]:
                lines.append(f"  {display_name(k.name, 40)} is {state}: {reason}")
            if len(t.failed) > MOST_NAMED:
                lines.append(f"  … and {len(t.failed) - MOST_NAMED} more")
        title = "Panic" if done == "disabled" else "Panic undone"
        self.notify("\n".join(lines) or f"Nothing to {'stop' if done == 'disabled' else 'undo'}.", title=title,
                    severity="information" if outcome.complete else "error", markup=False,
                    timeout=10 if outcome.complete else 30)
