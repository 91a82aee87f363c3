"""The confirmations before revoking, re-capping and disabling/enabling one key, shared by every screen that
lists keys (Keys, Team): each asks, then calls the app's one path (`CapitApp.revoke_key`, `update_key`)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from capit_tui.core.keys import reset_periods
from capit_tui.core.model import CappedKey
from capit_tui.core.money import format_usd
from capit_tui.core.text import display_name

if TYPE_CHECKING:
    from capit_tui.tui.app import CapitApp


def ask_revoke(app: CapitApp, key: CappedKey) -> None:
    from capit_tui.tui.modals.confirm import ConfirmScreen

    holders = app.holders(key)
    body = [f"{display_name(key.name, 60)} on {key.platform} ({key.budget.describe()}, "
            f"{format_usd(key.spent)} spent) will be deleted. This cannot be undone."]
    if holders:
        body.append(f"Held by {', '.join(holders)}: "
                    f"{'they' if len(holders) > 1 else 'it'} will be refused from now on. "
                    "You will be offered to restore the old configs.")
    else:
        body.append("No agent installed by capit-tui holds it.")

    def done(yes: bool | None) -> None:
        if yes:
            app.revoke_key(key)

    app.push_screen(ConfirmScreen(f"Revoke {display_name(key.name, 40)}?", body, yes="Revoke",
                                  no="Keep", danger=True), done)


def ask_toggle(app: CapitApp, key: CappedKey) -> None:
    from capit_tui.tui.modals.confirm import ConfirmScreen

    if key.disabled:
        title, body = f"Enable {display_name(key.name, 40)}?", ["Agents holding it can spend again."]
    else:
        title, body = (f"Disable {display_name(key.name, 40)}?",
                       ["Agents holding it are refused until you enable it again. The key is kept."])

    def done(yes: bool | None) -> None:
        if yes:
            app.update_key(key, disabled=not key.disabled)

    app.push_screen(ConfirmScreen(title, body, yes="Enable" if key.disabled else "Disable"), done)


def ask_cap(app: CapitApp, key: CappedKey) -> None:
    from capit_tui.tui.modals.cap import CapScreen

    def done(result: tuple[Decimal, str | None] | None) -> None:
        if result is not None:
            limit, reset = result
            app.update_key(key, limit=limit, reset=reset)

    can_reset = bool(reset_periods(next(c for c in app.platforms if c.name == key.platform)))
    app.push_screen(CapScreen(key, supports_reset=can_reset), done)
