"""Test transports over capit-tui's own (capit_tui.platforms.transport): the seam every adapter takes.

A transport is anything with `handle(request) -> Reply`, run on capit-tui's worker threads. `Answer` answers
in-process from a function; `rerouted` sends a request to another origin (the loopback sandbox), deadline and all.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from capit_tui.platforms.transport import Reply, Request


class Answer:
    """Every request answered in-process by `fn(request) -> Reply` (nothing is sent anywhere)."""

    def __init__(self, fn: Callable[[Request], Reply]):
        self.fn = fn

    def handle(self, request: Request) -> Reply:
        return self.fn(request)

    def close(self) -> None:
        pass


def rerouted(request: Request, origin: str) -> Request:
    """The same request (method, path, query, headers, body, timeouts, deadline) sent to `origin`."""
    u, o = urlsplit(request.url), urlsplit(origin)
    return Request(request.method, urlunsplit((o.scheme, o.netloc, u.path, u.query, "")), headers=request.headers,
                   content=request.content, timeout=request.timeout, deadline=request.deadline, limit=request.limit)
