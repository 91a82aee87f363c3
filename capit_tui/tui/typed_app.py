"""Typed access to the running CapitApp for screens, modals and widgets: `app = capit_app()` in a class body.

Toad writes `app = getters.app(ToadApp)`. Here that would import app.py at run time from every screen,
while app.py opens the screens: the two would import each other. So CapitApp is named for the type
checker only; at run time this is Textual's own `getters.app`, checking for an App.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import getters
from textual.app import App

if TYPE_CHECKING:
    from capit_tui.tui.app import CapitApp


def capit_app() -> getters.app[CapitApp]:
    """The class attribute that makes `self.app` a CapitApp (typed), the app this node runs in."""
    return cast("getters.app[CapitApp]", getters.app(App))


__all__ = ["capit_app"]
