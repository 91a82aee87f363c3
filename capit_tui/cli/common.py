"""What several verbs parse the same way: the settings, a cap, a reset period, a list of agents."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any, TypeVar

from capit_tui.core.settings import Settings
from capit_tui.errors import UsageError

T = TypeVar("T")


def load_settings() -> Settings:
    """The settings, at the start of a command; from here on the core's warnings (a platform on plain
    HTTP) are printed on stderr, each once in this command."""
    from capit_tui.cli.output import warn
    from capit_tui.core.http_policy import warnings
    from capit_tui.core.settings import load

    warnings.reset()
    warnings.subscribe(warn)
    return load()


def demo_stand_in(ns: Any, attr: str) -> None:
    """Under --demo, a platform named openrouter (in `ns.<attr>`) becomes the sandbox, said once on stderr."""
    from capit_tui.cli.output import info
    from capit_tui.core.demo import DEMO_PLATFORM, stand_in

    given = getattr(ns, attr, None)
    if isinstance(given, str) and stand_in(given) != given:
        setattr(ns, attr, stand_in(given))
        info(f"Demo: the {DEMO_PLATFORM} platform stands in for {given}; nothing is sent to {given}.")


def parse_cap_or_usage(text: str, *, no_cap: str) -> Decimal:
    """A cap typed on the command line; a refused one is a usage error. `no_cap` says how this verb asks
    for no cap at all, added to the core's sentence when $0 was typed."""
    from capit_tui.core.money import MoneyError, parse_cap

    try:
        return parse_cap(text)
    except MoneyError as exc:
        message = str(exc).rstrip(".")
        if exc.zero:
            message += f", or {no_cap} if you really want a key without a spending limit"
        raise UsageError(message) from None


def parse_reset_or_usage(text: str) -> str | None:
    """daily | weekly | monthly | never (None)."""
    from capit_tui.core.model import parse_reset

    try:
        return parse_reset(text)
    except ValueError as exc:
        raise UsageError(str(exc).rstrip(".")) from None


def agents_named(names: list[str]) -> list:
    """The agents `--agent` names (repeated or comma-separated), each once, in the order given."""
    from capit_tui import agents as agents_mod

    out, seen = [], set()
    for n in names:
        for part in n.split(","):
            part = part.strip().lower()
            if not part or part in seen:
                continue
            seen.add(part)
            try:
                out.append(agents_mod.get(part))
            except KeyError:
                raise UsageError(f"unknown agent '{part}'; known agents: {', '.join(agents_mod.names())}") from None
    return out


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run(make()), with Ctrl-C and SIGTERM held back while the event loop is being built (one
    landing there leaves a half-made loop that Python complains about on the way out). A Ctrl-C that
    came meanwhile is raised once the loop is whole, before the command's coroutine is even made;
    after that, asyncio.run's own handling applies (the command's task is cancelled and cleans up)."""
    import asyncio
    import signal

    runner = asyncio.Runner()
    try:
        if hasattr(signal, "pthread_sigmask"):
            held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            try:
                runner.get_loop()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
        return runner.run(make())
    finally:
        runner.close()
