"""Build the app for pilot tests and snapshots: a seeded sandbox with a fixed clock, agents under the
test's HOME, no auto-refresh, no cursor blink. Everything deterministic."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from transports import rerouted

from capit_tui.core.keys import Configured
from capit_tui.core.settings import PlatformConfig, Settings
from capit_tui.platforms.transport import HttpTransport, Reply, Request
from capit_tui.sandbox import Sandbox

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=timezone.utc)
TODAY = date(2026, 11, 21)


def fixed_clock() -> datetime:
    return NOW


def sandbox(seed_keys: int = 12, **kw: Any) -> Sandbox:
    return Sandbox(seed_keys=seed_keys, seed=7, clock=fixed_clock, **kw).start()


def configured(sb: Sandbox, name: str = "openrouter") -> Configured:
    return Configured(PlatformConfig(name, "openrouter", sb.base_url), "keyring", sb.management_key)


def make_app(sb: Sandbox | None, home: Path, **kw: Any):
    from capit_tui.tui.app import CapitApp

    platforms = [configured(sb)] if sb is not None else []
    kw.setdefault("auto_refresh", False)
    settings = kw.pop("settings", None) or Settings()
    return CapitApp(platforms=platforms, settings=settings, clock=fixed_clock, today=TODAY,
                    agent_env={"HOME": str(home), "PATH": "/nonexistent"}, **kw)


def no_blink(monkeypatch) -> None:
    from textual.widgets import Input

    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


async def settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def spend_to(sb: Sandbox, key_hash: str, amount: Decimal) -> None:
    sb.spend(key_hash, amount)


class Routed:
    """Send every request to the loopback sandbox, whatever host the URL names.

    Snapshots show the base URL the agents are pointed at; the sandbox's port changes every run, so the
    platform is configured as https://sandbox.capit.test/api/v1 (a name that never resolves) and this
    transport carries its requests to 127.0.0.1:<port>. Nothing leaves the machine.
    """

    def __init__(self, port: int):
        self.port = port
        self.inner = HttpTransport()

    def handle(self, request: Request) -> Reply:
        return self.inner.handle(rerouted(request, f"http://127.0.0.1:{self.port}"))

    def close(self) -> None:
        self.inner.close()


class RoutedConfigured(Configured):
    port: int = 0

    def open(self, **kwargs):
        kwargs.setdefault("transport", Routed(self.port))
        return super().open(**kwargs)


def routed(sb: Sandbox, name: str = "openrouter") -> RoutedConfigured:
    """The sandbox as a platform at https://sandbox.capit.test/api/v1 (the URL snapshots show)."""
    c = RoutedConfigured(PlatformConfig(name, "openrouter", "https://sandbox.capit.test/api/v1"), "keyring",
                         sb.management_key)
    c.port = sb.port
    return c
