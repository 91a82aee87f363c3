"""Every key binding of the app by its id, for [keymap] in settings.toml and for the help screen.

The core reads [keymap] and words what is wrong (core/settings.py check_keymap); this module knows the
bindings and Textual's key names. At start the valid entries go to `App.set_keymap` and one notification
names each entry that was ignored; the help screen shows the keys in effect, with the id to write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.keys import REPLACED_KEYS, Keys, key_to_character

from capit_tui.core.settings import Settings, check_keymap
from capit_tui.tui.modals.add_platform import AddPlatformScreen
from capit_tui.tui.modals.agent_detail import AgentDetailScreen
from capit_tui.tui.modals.cap import CapScreen
from capit_tui.tui.modals.confirm import ConfirmScreen
from capit_tui.tui.modals.help import HelpScreen
from capit_tui.tui.modals.key_detail import KeyDetailScreen
from capit_tui.tui.modals.restore_review import RestoreReviewScreen
from capit_tui.tui.newkey.diff_review import DiffReviewScreen
from capit_tui.tui.newkey.form import NewKeyScreen
from capit_tui.tui.newkey.result import ResultScreen
from capit_tui.tui.screens.agents import AgentsScreen
from capit_tui.tui.screens.backups import BackupsScreen
from capit_tui.tui.screens.keys import KeysScreen
from capit_tui.tui.screens.onboarding import OnboardingScreen
from capit_tui.tui.screens.platforms import PlatformsScreen
from capit_tui.tui.screens.team import TeamScreen

if TYPE_CHECKING:
    from capit_tui.tui.app import CapitApp

GROUPS: list[tuple[str, list[type]]] = [
    ("Keys", [KeysScreen]),
    ("Agents", [AgentsScreen, AgentDetailScreen]),
    ("Platforms", [PlatformsScreen, AddPlatformScreen]),
    ("Backups", [BackupsScreen, RestoreReviewScreen]),
    ("Team", [TeamScreen]),
    ("New key: form, review, result", [NewKeyScreen, DiffReviewScreen, ResultScreen]),
    ("Dialogs", [ConfirmScreen, CapScreen, KeyDetailScreen, HelpScreen]),
    ("First run", [OnboardingScreen]),
]
"""The screens after "Everywhere" (the app's own bindings), in the order the help shows them."""

FOLLOWS = {"new_key.no_new": "app.new_key", "result.no_new": "app.new_key", "onboarding.no_new": "app.new_key",
           "onboarding.no_refresh": "app.refresh",
           "new_key.quit": "app.quit"}  # the form asks before quitting, on whatever key quits
"""Bindings that only keep an app key quiet on one screen: they move with that key, and are not remapped alone."""

WHAT = {
    "app.keys": "the Keys screen", "app.agents": "the Agents screen", "app.platforms": "the Platforms screen",
    "app.backups": "the Backups screen", "app.team": "the Team screen",
    "app.new_key": "new capped key: a form, then the diff review",
    "app.refresh": "refresh spend now",
    "app.panic": "panic: stop every key (again: undo)", "app.help": "this help", "app.quit": "quit",
    "keys.revoke": "revoke the selected key (asks first)", "keys.cap": "change its cap",
    "keys.toggle": "disable / enable it",
    "keys.rotate": "rotate the marked keys (or this one): new keys in the same agents, the old revoked",
    "keys.mark": "mark / unmark the key, then down", "keys.filter": "filter by name",
    "keys.clear_filter": "clear the filter (with none, the marks)",
    "agents.install": "install a key into the agent", "agents.restore": "restore its previous config",
    "agents.details": "details of the agent",
    "agent_detail.install": "install a key", "agent_detail.restore": "restore the previous config",
    "agent_detail.close": "close",
    "platforms.add": "add a platform", "platforms.test": "test its management key",
    "platforms.remove": "remove it", "platforms.refresh": "refresh balances", "add_platform.cancel": "cancel",
    "team.revoke": "revoke the member's key (asks first)", "team.cap": "change its cap",
    "team.toggle": "disable / enable it",
    "backups.restore": "preview the diff back, then restore", "restore.yes": "restore", "restore.no": "cancel",
    "restore.down": "scroll down", "restore.up": "scroll up",
    "new_key.review": "review the diffs", "new_key.cancel": "cancel",
    "review.apply": "issue the key and write (a rotation: all of it)", "review.back": "back; nothing is issued",
    "review.next_file": "next file", "review.prev_file": "previous file",
    "review.page_down": "page down", "review.page_up": "page up",
    "result.reveal": "reveal the key", "result.copy": "copy it", "result.close": "close",
    "result.revoke_replaced": "revoke the key the install replaced",
    "confirm.yes": "yes", "confirm.no": "no", "confirm.previous": "previous button", "confirm.next": "next button",
    "cap.cancel": "cancel", "key_detail.close": "close", "help.close": "close",
    "onboarding.leave": "leave setup",
}
NAV = {"down": "move down", "up": "move up", "top": "to the first row", "bottom": "to the last row"}


def own_bindings(cls: type) -> list[Binding]:
    """The bindings a class declares itself (not Textual's defaults), each with an id."""
    return [b for b in cls.__dict__.get("BINDINGS", []) if isinstance(b, Binding) and b.id]


def groups(app_cls: type) -> list[tuple[str, list[Binding]]]:
    """("Everywhere", the app's bindings), then each screen group's, without the ones in FOLLOWS."""
    out = [("Everywhere", own_bindings(app_cls))]
    out += [(title, [b for cls in classes for b in own_bindings(cls)]) for title, classes in GROUPS]
    return [(title, [b for b in bs if b.id not in FOLLOWS]) for title, bs in out]


def known_ids(app_cls: type) -> set[str]:
    return {str(b.id) for _title, bs in groups(app_cls) for b in bs}


def what(b: Binding) -> str:
    if b.id in WHAT:
        return WHAT[str(b.id)]
    screen, _, nav = str(b.id).rpartition(".")
    return NAV.get(nav) or (b.description or b.action).lower()


_NAMED = {k.value for k in Keys if not k.value.startswith("<")}


def is_key(key: str) -> bool:
    """Whether Textual knows the key named after any modifiers: one character, a named key, a character name."""
    name = key.rpartition("+")[2] or key
    return len(name) == 1 or name in _NAMED or name in REPLACED_KEYS or key_to_character(name) is not None


def effective(settings: Settings, app_cls: type) -> dict[str, str]:
    """The [keymap] entries that apply (binding id -> keys), those in FOLLOWS included."""
    good, _problems = check_keymap(settings, known_ids(app_cls), is_key)
    for follower, leader in FOLLOWS.items():
        if leader in good:
            good[follower] = good[leader]
    return good


def apply(app: CapitApp) -> None:
    """Apply [keymap] from the app's settings; one notification names every entry that was ignored."""
    settings = app.settings
    if not settings.keymap and not settings.keymap_problems:
        return
    _good, problems = check_keymap(settings, known_ids(type(app)), is_key)
    keymap = effective(settings, type(app))
    if keymap:
        app.set_keymap(keymap)
    if problems:
        app.notify("\n".join(problems), title="Some [keymap] entries were ignored", severity="warning",
                   markup=False, timeout=20)


def help_sections(app: CapitApp) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """For the help screen: per group, (keys in effect as shown on screen, what it does, binding id)."""
    keymap = effective(app.settings, type(app))

    def shown(keys: str) -> str:
        return " ".join(app.get_key_display(Binding(k.strip(), "")) for k in keys.split(","))

    out = []
    for title, bindings in groups(type(app)):
        rows = [(shown(keymap.get(str(b.id), b.key)), what(b), str(b.id)) for b in bindings]
        rows += [(shown(keys), text, "") for keys, text in _EXTRA.get(title, ())]
        out.append((title, rows))
    return out


_EXTRA: dict[str, Iterable[tuple[str, str]]] = {  # keys that are not our bindings: not remapped here
    "Everywhere": [("ctrl+p", "command palette")],
    "Keys": [("enter", "details of the key")],
    "Team": [("enter", "details of the member's key")],
}
