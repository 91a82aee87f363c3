"""Fixtures of the sandbox tests: a settable clock, at Sunday 2026-11-29 23:30 UTC, and a sandbox reading it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandbox_support import Clock

from capit_tui.sandbox import Sandbox


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sb(clock: Clock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock) as sandbox:
        yield sandbox
