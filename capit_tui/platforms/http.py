"""The HTTP plumbing every platform adapter shares: retry policy, timeouts and the whole-request
deadline, Retry-After, concurrent fan-out, and short descriptions of what went wrong. The transport
itself (connections, the size bound, the worker threads) is `platforms.transport`.
`base.Platform._send` puts these together; nothing here knows about platforms.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from capit_tui.core.redact import redact
from capit_tui.platforms.transport import Reply, Timeout, TransportError

T = TypeVar("T")


# ---------------------------------------------------------------- retry policy


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # total tries for a retryable request
    base_delay: float = 0.5  # seconds; doubles each try, with jitter
    max_delay: float = 8.0
    max_retry_after: float = 30.0  # a Retry-After longer than this is reported, not waited out

    def backoff(self, attempt: int) -> float:
        d = min(self.max_delay, self.base_delay * (2**attempt))
        return d * (0.75 + random.random() * 0.5)


DEFAULT_RETRY = RetryPolicy()
DEFAULT_TIMEOUT = Timeout(connect=5.0, read=15.0)
TIMEOUT_ENV = "CAPIT_HTTP_TIMEOUT"


def default_timeout() -> Timeout:
    """DEFAULT_TIMEOUT, or CAPIT_HTTP_TIMEOUT seconds (a positive number) for every phase of a request.

    Read when an adapter is built, so a slow link (or a test) can move it without code."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if raw:
        try:
            seconds = float(raw)
        except ValueError:
            seconds = math.nan
        if math.isfinite(seconds) and seconds > 0:
            return Timeout(connect=seconds, read=seconds)
    return DEFAULT_TIMEOUT


DEFAULT_DEADLINE = 30.0


def request_deadline() -> float:
    """Seconds one request may take from sending to the last byte of its reply (not just between
    bytes): CAPIT_HTTP_TIMEOUT when set, else 30 s. A server that trickles its reply is cut off here."""
    t = default_timeout()
    return DEFAULT_DEADLINE if t is DEFAULT_TIMEOUT else float(t.read or DEFAULT_DEADLINE)


def retry_after_seconds(resp: Reply) -> float | None:
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


async def gather_all(coros: Iterable[Awaitable[T]]) -> list[T]:
    """Run concurrently; on the first failure cancel the rest and raise that failure (not a group)."""
    tasks: list[asyncio.Task[T]] = []
    try:
        async with asyncio.TaskGroup() as tg:
            for c in coros:
                tasks.append(tg.create_task(c))  # type: ignore[arg-type]
    except BaseExceptionGroup as group:
        first = group.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [t.result() for t in tasks]


def as_timeout(timeout: Timeout | float) -> Timeout:
    return timeout if isinstance(timeout, Timeout) else Timeout(connect=float(timeout), read=float(timeout))


def _seconds(timeout: Timeout | float) -> float:
    """The longest phase of a timeout, as the deadline for a whole request (at least 1 s)."""
    if isinstance(timeout, Timeout):
        phases = [s for s in (timeout.connect, timeout.read) if s]
        return max(phases, default=DEFAULT_DEADLINE) * 2
    return max(1.0, float(timeout) * 2)


def _what(method: str, path: str) -> str:
    return f"{method} {path}"


def _transport_reason(exc: TransportError) -> str:
    return exc.reason


def _error_message(resp: Reply) -> str:
    """The server's own error text, short and with anything secret-shaped masked."""
    try:
        body = resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        text = resp.text.strip().splitlines()[0] if resp.text.strip() else ""
        return redact(text[:160])
    msg = ""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            msg = str(err.get("message") or "")
        elif isinstance(err, str):
            msg = err
        if not msg and isinstance(body.get("message"), str):
            msg = body["message"]
    return redact(msg[:200])
