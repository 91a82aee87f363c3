"""The full-screen app: modes (Keys, Agents, Platforms, Backups), global bindings, the command
palette, the background spend refresh, the key actions every screen shares, and the step from the
new-key form to its review (`NewKeyScreen.Ready`).

The app holds no logic the CLI lacks: it calls the same core (keys, install, changes, backups).
Screens reach it typed through `typed_app.capit_app()`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.signal import Signal

from capit_tui.core.backups import BackupStore
from capit_tui.core.history import Burn, record_and_rate
from capit_tui.core.keys import Configured, list_keys_on
from capit_tui.core.ledger import Ledger
from capit_tui.core.leftovers import prune_leftovers
from capit_tui.core.model import UNSET, CappedKey
from capit_tui.core.restore import RestorePreview
from capit_tui.core.settings import Settings
from capit_tui.core.spend_watch import SpendWatch, Update
from capit_tui.core.stops import Summary
from capit_tui.tui.panic import PanicActions

if TYPE_CHECKING:
    from datetime import date

    from textual.notifications import SeverityLevel
    from textual.timer import Timer

    from capit_tui.platforms.base import Platform
    from capit_tui.tui.newkey.form import NewKeyScreen


def _keys_screen() -> Screen:
    from capit_tui.tui.screens.keys import KeysScreen

    return KeysScreen()


def _agents_screen() -> Screen:
    from capit_tui.tui.screens.agents import AgentsScreen

    return AgentsScreen()


def _platforms_screen() -> Screen:
    from capit_tui.tui.screens.platforms import PlatformsScreen

    return PlatformsScreen()


def _backups_screen() -> Screen:
    from capit_tui.tui.screens.backups import BackupsScreen

    return BackupsScreen()


def _team_screen() -> Screen:
    from capit_tui.tui.screens.team import TeamScreen

    return TeamScreen()


# what the header says in --demo; short enough to be whole in an 80-column header
DEMO_SUBTITLE = "DEMO on a sandbox: nothing of yours is touched"
MODE_TITLES = {"keys": "Keys", "agents": "Agents", "platforms": "Platforms", "backups": "Backups", "team": "Team"}


class CapitApp(PanicActions, App[None]):
    TITLE = "capit-tui"
    CSS_PATH = "app.tcss"
    MODES = {"keys": _keys_screen, "agents": _agents_screen, "platforms": _platforms_screen,
             "backups": _backups_screen, "team": _team_screen}
    DEFAULT_MODE = "keys"
    BINDINGS = [
        Binding("1", "switch_mode('keys')", "Keys", id="app.keys", show=False),
        Binding("2", "switch_mode('agents')", "Agents", id="app.agents", show=False),
        Binding("3", "switch_mode('platforms')", "Platforms", id="app.platforms", show=False),
        Binding("4", "switch_mode('backups')", "Backups", id="app.backups", show=False),
        Binding("5", "switch_mode('team')", "Team", id="app.team", show=False),
        Binding("n", "new_key", "New", id="app.new_key"),
        Binding("r", "refresh", "Refresh", id="app.refresh"),
        Binding("exclamation_mark", "panic", "Panic", id="app.panic", show=False),  # the banner and ? say it
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(self, *, platforms: list[Configured] | None = None, settings: Settings | None = None,
                 demo: bool = False, clock: Callable[[], datetime] | None = None,
                 refresh_interval: float | None = None, auto_refresh: bool = True,
                 agent_env: Mapping[str, str] | None = None, store: BackupStore | None = None,
                 ledger: Ledger | None = None, today: date | None = None, team: Path | None = None):
        super().__init__()
        from capit_tui.core import settings as settings_mod

        self.settings = settings or settings_mod.load()
        if platforms is None:
            from capit_tui.core.keys import configured_platforms

            platforms = configured_platforms(self.settings)
        self.platforms: list[Configured] = platforms
        self.team_path: Path | None = team or self.settings.team_file  # the Team screen's file (5)
        self.demo = demo
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.today = today  # a fixed date for key names in tests; None = today
        self.refresh_interval = refresh_interval or self.settings.refresh_interval
        self.live_refresh = auto_refresh
        self.agent_env = agent_env
        self.store = store or BackupStore()
        self.ledger = ledger or Ledger()
        self.spend = SpendWatch()
        self.burns: dict[tuple[str, str], Burn] = {}  # each key's burn rate, from the spend history
        self.spend_signal: Signal[Update] = Signal(self, "spend-updated")
        self.platforms_signal: Signal[None] = Signal(self, "platforms-changed")
        self.keys_page_signal: Signal[list[CappedKey]] = Signal(self, "keys-page")  # see keys_arrived
        self.stops_signal: Signal[Summary | None] = Signal(self, "stops-changed")  # the panic banner (tui/panic.py)
        self.stopped: Summary | None = None  # the keys a panic holds stopped now
        self.refreshing = False
        self.loaded_platforms: set[str] = set()  # platforms whose keys have loaded at least once
        self._opened: dict[str, Platform] = {}
        self._timer: Timer | None = None
        self._unsubscribe_warnings: Callable[[], None] | None = None
        if demo:
            self.sub_title = DEMO_SUBTITLE

    # ------------------------------------------------------------ platforms

    def platform(self, name: str) -> Platform:
        """The long-lived adapter for a platform (one HTTP client each, reused by every refresh)."""
        if name not in self._opened:
            c = next(c for c in self.platforms if c.name == name)
            self._opened[name] = c.open()
        return self._opened[name]

    def set_platforms(self, platforms: list[Configured]) -> None:
        """Use a new list of platforms: adapters of removed or changed platforms are closed, and the keys
        of removed platforms leave the table at once."""
        from capit_tui.core.spend_watch import Update

        new = {c.name: c for c in platforms}
        old = {c.name: c for c in self.platforms}
        for name in list(self._opened):
            if name not in new or new[name] != old.get(name):
                adapter = self._opened.pop(name)
                self.run_worker(adapter.aclose(), group="close")
        self.loaded_platforms &= {n for n in new if new[n] == old.get(n)}
        gone = [ident for ident in self.spend.keys if ident[0] not in new]
        for ident in gone:
            self.spend.forget(ident)
        self.platforms = platforms
        self.platforms_signal.publish(None)
        if gone:
            self.spend_signal.publish(Update([], [], gone, []))
        self.action_refresh()

    def _warn(self, text: str) -> None:
        """A sentence the core wants read (plain HTTP to another machine, ...): a toast that stays a while."""
        self.notify(text, title="Warning", severity="warning", timeout=15, markup=False)

    async def on_unmount(self) -> None:
        if self._unsubscribe_warnings is not None:
            self._unsubscribe_warnings()
        for adapter in self._opened.values():
            try:
                await adapter.aclose()
            except Exception:
                pass

    # ------------------------------------------------------------ start-up

    def on_mount(self) -> None:
        from capit_tui.core.http_policy import warnings

        self.run_worker(lambda: prune_leftovers(self.agent_env), thread=True, group="leftovers", exit_on_error=False)
        self.run_worker(self.start_repairs(), group="recover", exit_on_error=False)  # then reads the stopped keys
        self._unsubscribe_warnings = warnings.subscribe(self._warn)
        if self.settings.keymap or self.settings.keymap_problems:  # [keymap] in settings.toml
            from capit_tui.tui import keymap

            keymap.apply(self)
        if not self.platforms:
            from capit_tui.tui.screens.onboarding import OnboardingScreen

            self.push_screen(OnboardingScreen())
        else:
            self.refresh_spend()

    # ------------------------------------------------------------ the spend refresh

    @work(exclusive=True, group="refresh", exit_on_error=False)
    async def refresh_spend(self) -> None:
        """Fetch every key on every platform. Never overlaps: the next one is scheduled when this ends."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.refreshing = True
        self.spend_signal.publish(Update([], [], [], []))  # lets screens show "refreshing"
        try:
            first = not self.loaded_platforms  # the first load of a long listing shows its pages as they come;
            pages = (lambda _platform, keys: self.keys_arrived(keys)) if first else None  # later, the whole
            listing = await list_keys_on([self.platform(c.name) for c in self.platforms], on_page=pages)
            errors = {name: str(exc) for name, exc in listing.errors.items()}
            self.loaded_platforms.update(c.name for c in self.platforms if c.name not in errors)
            update = self.spend.apply(listing.keys, errors, self.clock())
            self.record_history(listing.keys, self.clock())
        finally:
            self.refreshing = False
            if self.live_refresh and self.platforms:
                self._timer = self.set_timer(self.refresh_interval, self.refresh_spend)
        for c in update.crossings:
            from capit_tui.core.money import format_usd

            level: SeverityLevel = "error" if c.threshold >= 100 else "warning"
            self.notify(f"{c.key.name} has spent {format_usd(c.key.spent)} of its {format_usd(c.key.limit)} cap "
                        f"({c.threshold}%).", title="Cap reached" if c.threshold >= 100 else "80% of cap",
                        severity=level, markup=False)
        self.spend_signal.publish(update)

    def keys_arrived(self, keys: list[CappedKey]) -> None:
        """A page of keys from a listing still under way: the Keys screen shows them before the last page
        (its `extend`); the listing, once applied, replaces them. The listing's page callback; safe to call
        from a thread as well as from the event loop."""
        if threading.get_ident() == self._thread_id:
            self.keys_page_signal.publish(list(keys))
        else:
            self.call_from_thread(self.keys_page_signal.publish, list(keys))

    @work(thread=True, group="history", exit_on_error=False)
    def record_history(self, keys: list[CappedKey], when: datetime) -> None:
        """A spend sample per key (core.history), written off the event loop; then the keys' burn rates."""
        burns = record_and_rate(keys, when)
        self.call_from_thread(self._burned, burns)

    def _burned(self, burns: dict[tuple[str, str], Burn]) -> None:
        changed = [i for i, b in burns.items() if self.burns.get(i) != b and i in self.spend.keys]
        self.burns = burns
        if changed:
            self.spend_signal.publish(Update([], changed, [], []))

    def action_refresh(self) -> None:
        if self.platforms:
            self.refresh_spend()

    def holders(self, key: CappedKey) -> list[str]:
        return self.ledger.holders(key.platform, key.id)

    # ------------------------------------------------------------ actions on keys

    @work(group="key-action", exit_on_error=False)
    async def revoke_key(self, key: CappedKey) -> None:
        from capit_tui.core.keys import revoke
        from capit_tui.platforms.base import PlatformError

        try:
            holders = await revoke(self.platform(key.platform), key, self.ledger)
        except PlatformError as exc:
            self.notify(str(exc), title=f"{key.name} was not revoked", severity="error", markup=False)
            return
        self.spend.forget((key.platform, key.id))
        self.notify(f"Revoked {key.name} on {key.platform}.", title="Revoked", markup=False)
        self.spend_signal.publish(Update([], [], [(key.platform, key.id)], []))
        if holders:
            self.offer_restore(key, holders)
        self.action_refresh()

    def offer_restore(self, key: CappedKey, holders: list[str]) -> None:
        """After a revoke: offer to put back the configs those agents had before this key."""
        from capit_tui.tui.modals.confirm import ConfirmScreen

        installs = [i for i in self.ledger.installs_of(key.platform, key.id) if i.backup_id]
        if not installs:
            return
        backup_id = installs[-1].backup_id
        assert backup_id is not None
        body = [f"{', '.join(holders)} {'were' if len(holders) > 1 else 'was'} using {key.name}, which is now revoked.",
                f"Put back the files they had before, from backup {backup_id}?"]

        def done(yes: bool | None) -> None:
            if yes:
                self.restore_backup(backup_id, holders)

        self.push_screen(ConfirmScreen("Restore the old configs?", body, yes="Restore", no="Keep"), done)

    def restore_backup(self, backup_id: str, agents: list[str]) -> None:
        """Put back the files of `agents` from a backup, one agent at a time, each through the restore
        review (the masked diff first, y to write): the same path as the Agents and Backups screens."""
        from capit_tui.core.agent_status import agent_statuses, installed_secrets
        from capit_tui.core.restore import restore_preview
        from capit_tui.tui.modals.restore_review import review_restore

        queue = list(agents)

        def next_agent(_: object = None) -> None:
            if not queue:
                return
            agent = queue.pop(0)

            def make() -> RestorePreview:
                secrets = installed_secrets(agent_statuses(self.agent_env, self.ledger))
                return restore_preview(self.store, backup_id, agent, secrets=secrets)

            review_restore(self, make, f"Put back {agent}'s files from backup {backup_id}?", next_agent)

        next_agent()

    @work(group="key-action", exit_on_error=False)
    async def update_key(self, key: CappedKey, **changes: Any) -> None:
        from capit_tui.core.keys import set_cap, set_disabled
        from capit_tui.platforms.base import PlatformError

        p = self.platform(key.platform)
        try:
            if "disabled" in changes:
                updated = await set_disabled(p, key, bool(changes["disabled"]))
            else:
                updated = await set_cap(p, key, changes["limit"], changes.get("reset", UNSET))
        except PlatformError as exc:
            self.notify(str(exc), title=f"{key.name} was not changed", severity="error", markup=False)
            return
        self.spend.put(updated)
        self.spend_signal.publish(Update([], [(key.platform, key.id)], [], []))
        if "disabled" in changes:
            await self.let_go_by_hand(key)
            what = "Disabled" if updated.disabled else "Enabled"
        else:
            what = f"New cap {updated.budget.describe()} on"
        self.notify(f"{what} {key.name}.", markup=False)

    # ------------------------------------------------------------ global actions

    def action_new_key(self, agents: Iterable[str] = ()) -> None:
        from capit_tui.tui.newkey.diff_review import DiffReviewScreen
        from capit_tui.tui.newkey.form import NewKeyScreen
        from capit_tui.tui.newkey.result import ResultScreen

        if isinstance(self.screen, (NewKeyScreen, DiffReviewScreen, ResultScreen)):
            return  # already in the new-key flow (or a rotation's review)
        if not self.platforms:
            self.notify("Add a platform first (3 Platforms, then a).", severity="warning")
            return
        self.push_screen(NewKeyScreen(preselect=list(agents)))

    def on_new_key_screen_ready(self, message: NewKeyScreen.Ready) -> None:
        """The form is filled in: open its review (the form and the review never import each other)."""
        from capit_tui.tui.newkey.review import ReviewScreen

        if message.form is self.screen:  # not if the form was left meanwhile
            self.push_screen(ReviewScreen(message.request))

    async def action_quit(self) -> None:
        """Quitting in the middle of an install could leave keys issued and files half-written: refuse."""
        busy = [w for w in self.workers if w.group == "install" and w.is_running]
        if busy:
            self.notify("An install is running. Quit once it has finished (or been undone), so no key is left "
                        "half-installed.", severity="warning")
            return
        self.exit()

    def action_help(self) -> None:
        from capit_tui.tui.keymap import help_sections
        from capit_tui.tui.modals.help import HelpScreen

        self.push_screen(HelpScreen(help_sections(self)))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, title in MODE_TITLES.items():
            yield SystemCommand(f"Go to {title}", f"Show the {title} screen",
                                lambda m=mode: self.switch_mode(m))
        yield SystemCommand("New capped key", "Issue a key with a cap and install it into agents", self.action_new_key)
        yield SystemCommand("Refresh spend", "Fetch every key's spend now", self.action_refresh)
        yield SystemCommand("Panic: stop every key", "Disable every enabled key (asks first); again: undo it",
                            self.action_panic)
        yield SystemCommand("Help", "Every key binding", self.action_help)
        yield from self.selection_commands(screen)

    def selection_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Revoke, cap, disable/enable and restore from the palette: they act on what is selected on the
        screen below the palette, or a toast says why they cannot."""
        from capit_tui.tui.screens.agents import AgentsScreen
        from capit_tui.tui.screens.backups import BackupsScreen
        from capit_tui.tui.screens.keys import KeysScreen

        def on_key(action: str, doing: str) -> Callable[[], None]:
            def run() -> None:
                if isinstance(screen, KeysScreen):
                    getattr(screen, f"action_{action}")()  # with no key under the cursor, it says why
                else:
                    self.notify(f"Select a key on the Keys screen (1) first, then {doing} it.",
                                title="No key selected", severity="warning", markup=False)
            return run

        def restore() -> None:
            if isinstance(screen, BackupsScreen) and screen.selected() is not None:
                screen.action_restore()
            elif isinstance(screen, AgentsScreen) and screen.selected() is not None:
                screen.action_restore()  # an agent with no backup: it says so
            else:
                self.notify("Select an agent (2 Agents) or a backup (4 Backups) first, then restore it.",
                            title="Nothing selected to restore", severity="warning", markup=False)

        yield SystemCommand("Revoke key", "Delete the selected key on its platform (asks first)",
                            on_key("revoke", "revoke"))
        yield SystemCommand("Change cap", "A new cap or reset for the selected key", on_key("edit_cap", "re-cap"))
        yield SystemCommand("Disable or enable key", "Refuse or allow the selected key's agents (the key is kept)",
                            on_key("toggle_key", "disable or enable"))
        yield SystemCommand("Restore old config", "Put back an agent's files from a backup (the diff first)", restore)

    def now(self) -> datetime:
        return self.clock()


def run_app(demo: bool = False, team: Path | None = None) -> int:
    """Start the full-screen app (called by the CLI; `demo_environment` is already in place for --demo, and
    its sample team file is the Team screen's unless `team` names another)."""
    if team is None and demo:
        from capit_tui.core.demo import demo_team_file

        team = demo_team_file()
    app = CapitApp(demo=demo, team=team)
    app.run()
    return 0


__all__ = ["CapitApp", "run_app"]
