"""One root for every failure capit-tui explains to a person.

`CapitError`: `str(err)` is one or two plain sentences, safe to show (no secrets, no control
characters from outside); `hint` is an optional next step. Each room raises its own subclass
(PlatformError, SettingsError, VaultError, BackupError, PlanError, InstallError, ...), and the front
ends catch only this root: the CLI maps it to exit status 1 and `UsageError` to 2; the TUI shows the
sentence in a toast or beside the field. Anything else escaping is a bug, reported as one.
"""

from __future__ import annotations


class CapitError(Exception):
    """A failure the message explains; `hint` says what to do next, when there is something to do."""

    hint: str | None = None

    def __init__(self, message: str = "", *, hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self)


class UsageError(CapitError):
    """The command was typed wrong (exit status 2 in the CLI)."""


class Refused(CapitError):
    """The user answered no, or gave no answer: nothing was done (exit status 1)."""


__all__ = ["CapitError", "Refused", "UsageError"]
