"""Fixtures every TUI test shares: a seeded sandbox on 127.0.0.1 (`sb`), and no cursor blink (so every
picture is the same on every run)."""

from __future__ import annotations

import pytest
from tui_support import no_blink, sandbox


@pytest.fixture
def sb():
    s = sandbox()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _no_blink(monkeypatch):
    no_blink(monkeypatch)
