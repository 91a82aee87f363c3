"""HTTPS only off loopback: the one rule about where a management key may travel in clear text.

A platform's base URL may be plain `http://` only to this machine (127.0.0.0/8, ::1, localhost: the sandbox
and the tests). To any other host it is refused with a sentence, unless the user opted in for that platform
(`capit-tui platforms add NAME --allow-http`, kept as `allow_http = true` in settings.toml, or
CAPIT_<NAME>_ALLOW_HTTP=1 beside CAPIT_<NAME>_BASE_URL); then it works and is warned about on every run.

`check()` is the rule. The platform adapters apply it when they are built and again before each request
(platforms/base.py), `platform_setup.resolve` and `keys.configured_platforms` apply it early, so a refusal
comes before any question is asked. Warnings go to `warnings`, a hook the front ends subscribe to (the CLI
prints each once per command on stderr; the TUI can show them). No printing here.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from capit_tui.errors import CapitError

TRUE = ("1", "true", "yes", "on")


class PlainHttpRefused(CapitError):
    """A base URL is plain http:// to another machine and the user did not allow it; nothing was sent."""


def env_var(name: str) -> str:
    """CAPIT_<NAME>_ALLOW_HTTP: the environment's opt-in for one platform."""
    return "CAPIT_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_ALLOW_HTTP"


def env_allows(name: str) -> bool:
    return os.environ.get(env_var(name), "").strip().lower() in TRUE


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and the name localhost."""
    h = host.strip().strip("[]").rstrip(".").lower()
    if h == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def plain_http_host(url: str) -> str | None:
    """The host, when `url` is plain http:// to a machine other than this one; else None."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return None  # not a URL at all: refused elsewhere, with its own sentence
    if parts.scheme.lower() != "http":
        return None
    return None if is_loopback(host) else (host or url)


def refusal(name: str, url: str) -> str:
    return (f"capit-tui will not send {name}'s management key over plain HTTP to {plain_http_host(url)}: anyone "
            f"on the network between could read it. Use an https:// base URL; or, to accept the risk, add the "
            f"platform with `capit-tui platforms add {name} --allow-http` (or set {env_var(name)}=1).")


def warning(name: str, url: str) -> str:
    return (f"{name} uses plain HTTP ({url}): its management key and the keys it issues cross the network "
            f"unencrypted, because allow_http is set for it (settings.toml or {env_var(name)}). "
            "Switch to https:// when the platform offers it.")


def check(name: str, url: str, allow_http: bool) -> str | None:
    """Raise PlainHttpRefused for plain http to another machine without consent. With consent, return the
    warning (and pass it to `warnings`); for https or loopback, None."""
    if plain_http_host(url) is None:
        return None
    if not allow_http:
        raise PlainHttpRefused(refusal(name, url))
    text = warning(name, url)
    warnings.emit(text)
    return text


class Warnings:
    """Sentences the core wants a person to read, for whichever front end is listening.

    Each sentence is passed on once until `reset()` (the CLI resets per command); a listener that
    subscribes late first gets the ones already emitted.
    """

    def __init__(self) -> None:
        self._seen: list[str] = []
        self._listeners: list[Callable[[str], None]] = []

    @property
    def seen(self) -> list[str]:
        return list(self._seen)

    def emit(self, text: str) -> None:
        if text in self._seen:
            return
        self._seen.append(text)
        for listener in list(self._listeners):
            listener(text)

    def subscribe(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call `listener(sentence)` for each warning, the ones already emitted first. Returns the
        unsubscribe function. Subscribing the same listener twice has no effect."""
        if listener not in self._listeners:
            self._listeners.append(listener)
            for text in self._seen:
                listener(text)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def reset(self) -> None:
        """Forget the warnings passed on (a new command starts); listeners stay."""
        self._seen.clear()


warnings = Warnings()
