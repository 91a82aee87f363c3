"""What every platform implements (the `Platform` protocol) and the typed errors it raises.

One transport per platform (`platforms.transport`: http.client on worker threads) with timeouts.
Reads (GET) retry with backoff and honour Retry-After within a bound; a 429 is retried for any method
because the server did not act on it; a create is never retried after it may have reached the server
(it could make two keys). The pieces of that plumbing live in `platforms.http` (retry policy, timeouts,
deadline) and `platforms.transport` (connections, size bound); `Platform._send` puts them together.
"""

from __future__ import annotations

import asyncio
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, ClassVar, NoReturn

from capit_tui.core import http_policy
from capit_tui.core.model import RESETS, UNSET, Balance, CappedKey, IssuedKey, KeyInfo
from capit_tui.core.redact import redact
from capit_tui.core.text import clean_text
from capit_tui.errors import CapitError
from capit_tui.platforms.http import (
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT,
    RetryPolicy,
    _error_message,
    _seconds,
    _transport_reason,
    _what,
    as_timeout,
    default_timeout,
    request_deadline,
    retry_after_seconds,
)
from capit_tui.platforms.transport import (
    MAX_BODY,
    HttpTransport,
    Reply,
    Request,
    TimedOut,
    Timeout,
    TooLarge,
    Transport,
    TransportError,
)
from capit_tui.platforms.workers import fetch

# ---------------------------------------------------------------- errors


class PlatformError(CapitError):
    """A platform call failed. `str(err)` is one or two plain sentences, safe to show: no secrets."""

    kind = "error"
    status: int | None = None

    def __init__(self, message: str, *, platform: str = "", status: int | None = None):
        super().__init__(clean_text(redact(message), 600))  # it may quote the platform: cleaned here, once
        self.platform = platform
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        return str(self)


class AuthRejected(PlatformError):
    kind = "auth"
    status = 401


class NotManagementKey(PlatformError):
    kind = "not-management-key"
    status = 403


class Forbidden(PlatformError):
    kind = "forbidden"
    status = 403


class NotFound(PlatformError):
    kind = "not-found"
    status = 404


class BadRequest(PlatformError):
    kind = "bad-request"
    status = 400


class RateLimited(PlatformError):
    kind = "rate-limited"
    status = 429

    def __init__(self, message: str, *, platform: str = "", retry_after: float | None = None):
        super().__init__(message, platform=platform)
        self.retry_after = retry_after


class ServerError(PlatformError):
    kind = "server"


class NetworkError(PlatformError):
    kind = "network"


class MalformedResponse(PlatformError):
    kind = "malformed"


class Unsupported(PlatformError):
    """The platform cannot do what was asked (e.g. a reset period on a one-api gateway)."""

    kind = "unsupported"


class PlainHttpRefused(PlatformError):
    """The base URL is plain http:// to another machine and allow_http is not set: nothing is sent."""

    kind = "insecure"


class CreateUncertain(PlatformError):
    """A create may or may not have happened (timeout, dropped connection, 5xx after sending)."""

    kind = "create-uncertain"


# ---------------------------------------------------------------- the protocol


class Platform(ABC):
    """A place that mints capped keys. Async; one HTTP transport each; close with `aclose()`."""

    kind: ClassVar[str] = ""
    reset_periods: ClassVar[tuple[str, ...]] = RESETS
    """The reset periods this platform enforces on a cap; () when its caps are lifetime totals."""
    supports_reset: ClassVar[bool] = True  # set from reset_periods for every subclass
    key_models: ClassVar[bool] = False
    """Whether a key holds its own model allowlist (`create_key(..., models=)`, `update_key(..., models=)`,
    `CappedKey.allowed_models`): one-api/new-api tokens do. OpenRouter limits models by guardrails instead."""
    manage_url: str = ""  # where a person creates a management key (a class default, set per instance too)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.supports_reset = bool(cls.reset_periods)

    @classmethod
    def check_reset(cls, reset: str | None, name: str) -> None:
        """The one place that answers "can this platform reset a cap this often?": raises Unsupported
        with the sentence every front end shows when it cannot."""
        if reset is None or reset in cls.reset_periods:
            return
        if not cls.reset_periods:
            raise Unsupported(f"{name}'s caps never reset: a cap there is a lifetime total.", platform=name)
        raise Unsupported(f"{name} cannot reset a cap {reset}; it offers {', '.join(cls.reset_periods)} or never.",
                          platform=name)

    def __init__(self, name: str, base_url: str, management_key: str, *,
                 timeout: Timeout | float = DEFAULT_TIMEOUT,
                 retry: RetryPolicy = DEFAULT_RETRY,
                 transport: Transport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 allow_http: bool = False):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._management_key = management_key
        # HTTPS only off loopback (core/http_policy.py): a refused adapter can still be built and shown,
        # but it sends nothing; an allowed plain-http one carries its warning.
        self.allow_http = allow_http
        self.warnings: list[str] = []
        self._refused: str | None = None
        try:
            found = http_policy.check(name, self.base_url, allow_http)
        except http_policy.PlainHttpRefused as exc:
            self._refused = str(exc)
        else:
            self.warnings = [found] if found else []
        self.retry = retry
        self._sleep = sleep
        self.requests_sent = 0
        self._timeout = default_timeout() if timeout is DEFAULT_TIMEOUT else as_timeout(timeout)
        self._deadline = request_deadline() if timeout is DEFAULT_TIMEOUT else _seconds(timeout)
        self._transport = transport
        self._http: Transport | None = None
        self._headers: dict[str, str] = {}

    def _refuse_plain_http(self) -> None:
        if self._refused is not None:
            raise PlainHttpRefused(self._refused, platform=self.name)

    @property
    def _client(self) -> Transport:
        """The platform's one transport, made on first use (building an adapter opens nothing)."""
        self._refuse_plain_http()  # no transport, so no request, for a refused plain-http base URL
        if self._http is None:
            self._headers = self._auth_headers(self._management_key) | {"User-Agent": "capit-tui"}
            self._http = self._transport if self._transport is not None else HttpTransport()
        return self._http

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r})"

    def _auth_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    # The endpoints an agent is pointed at, for a key issued here.
    @property
    @abstractmethod
    def openai_base_url(self) -> str: ...

    @property
    def anthropic_base_url(self) -> str | None:
        """Anthropic-style base (Claude Code adds /v1/messages itself), None if not offered."""
        return None

    @abstractmethod
    async def check_management_key(self) -> KeyInfo:
        """Raise AuthRejected / NotManagementKey unless the key we hold can manage keys."""

    @abstractmethod
    async def balance(self) -> Balance | None: ...

    @abstractmethod
    async def list_keys(self, on_page: Callable[[list[CappedKey]], None] | None = None) -> list[CappedKey]:
        """Every key, disabled ones too, across every workspace the management key can see.

        `on_page`, when given, is called with each batch of keys as it is read (each key once, before
        the listing returns), so a front end can show the first rows early. The listing can still fail
        after that: what `on_page` saw is then not the whole account."""

    @abstractmethod
    async def get_key(self, key_id: str) -> CappedKey: ...

    @abstractmethod
    async def create_key(self, name: str, limit: Decimal | None, reset: str | None) -> IssuedKey: ...

    @abstractmethod
    async def update_key(self, key_id: str, *, name: Any = UNSET, limit: Any = UNSET,
                         reset: Any = UNSET, disabled: Any = UNSET) -> CappedKey: ...

    @abstractmethod
    async def delete_key(self, key_id: str) -> None: ...

    async def aclose(self) -> None:
        if self._http is not None:
            self._http.close()  # closes idle kept-alive connections only: nothing blocks
            self._http = None

    async def __aenter__(self) -> "Platform":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------ HTTP plumbing

    async def _send(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                    json_body: Any = None, idempotent: bool | None = None) -> Reply:
        """Send with the retry policy; return a 2xx response or raise a typed PlatformError."""
        self._refuse_plain_http()
        if idempotent is None:
            idempotent = method in ("GET", "HEAD")
        attempt = 0
        while True:
            try:
                self.requests_sent += 1
                resp = await self._bounded(method, path, params, json_body)
            except TooLarge:
                raise MalformedResponse(
                    f"{self.name} sent more than {MAX_BODY // (1024 * 1024)} MB in reply to {_what(method, path)}; "
                    "capit-tui stopped reading it.", platform=self.name) from None
            except TimedOut as exc:
                err: PlatformError = NetworkError(
                    f"{self.name} did not answer in time ({_what(method, path)}). "
                    "Check your connection and try again.", platform=self.name)
                if attempt + 1 < self.retry.attempts and (idempotent or not exc.sent):
                    await self._sleep(self.retry.backoff(attempt))
                    attempt += 1
                    continue
                raise self._uncertain(method, idempotent, err) if exc.sent else err from None
            except TransportError as exc:
                err = NetworkError(
                    f"Could not reach {self.name} at {self.base_url} ({_transport_reason(exc)}). "
                    "Check your connection, or the base URL in settings.", platform=self.name)
                if attempt + 1 < self.retry.attempts and (idempotent or not exc.sent):
                    await self._sleep(self.retry.backoff(attempt))
                    attempt += 1
                    continue
                raise self._uncertain(method, idempotent, err) if exc.sent else err from None

            if resp.status_code < 400:
                return resp
            if resp.status_code == 429:
                wait = retry_after_seconds(resp)
                if attempt + 1 < self.retry.attempts and (wait is None or wait <= self.retry.max_retry_after):
                    await self._sleep(wait if wait is not None else self.retry.backoff(attempt))
                    attempt += 1
                    continue
                hint = f" It asked to wait {wait:.0f} s." if wait else ""
                raise RateLimited(
                    f"{self.name} is rate limiting capit-tui.{hint} Try again in a minute.",
                    platform=self.name, retry_after=wait)
            if resp.status_code >= 500 and idempotent and attempt + 1 < self.retry.attempts:
                await self._sleep(self.retry.backoff(attempt))
                attempt += 1
                continue
            err = self._error_for(resp, method, path)
            if resp.status_code >= 500 and not idempotent and method == "POST":
                raise self._uncertain(method, idempotent, err)
            raise err

    async def _bounded(self, method: str, path: str, params: dict[str, Any] | None, json_body: Any) -> Reply:
        """One request whose whole reply must arrive within the deadline and within MAX_BODY bytes."""
        client = self._client
        request = Request.build(method, self.base_url, path, params=params, json=json_body, headers=self._headers,
                                timeout=self._timeout, deadline=time.monotonic() + self._deadline)
        return await fetch(client, request)

    async def _delete_lost_create(self, name: str, started: Any, exc: PlatformError,
                                  found: list[CappedKey]) -> NoReturn:
        """After a create whose answer was lost: delete the keys named `name` made since just before it
        (`found`: the platform's keys of that name, however it lists them), then raise CreateUncertain
        saying what was seen and what to do. Nothing found does not prove nothing was made: a server still
        working on the request (a timeout) can create the key after this look."""
        from datetime import timedelta

        shown = clean_text(name, 60)
        window = started - timedelta(minutes=2)
        orphans = [k for k in found if k.name == name and (k.created_at is None or k.created_at >= window)]
        removed = 0
        for k in orphans:
            try:
                await self.delete_key(k.id)
                removed += 1
            except PlatformError:
                pass
        if orphans and removed < len(orphans):
            raise CreateUncertain(
                f"{exc} A key named '{shown}' was created without its secret reaching capit-tui and could "
                "not be deleted; revoke it with `capit-tui keys revoke`.", platform=self.name) from None
        tail = (" A half-made key was found and deleted." if removed else
                f" No key was created as far as capit-tui can see; if a key named '{shown}' shows up in "
                "`capit-tui keys list`, revoke it.")
        raise CreateUncertain(f"{exc}{tail}", platform=self.name) from None

    def _uncertain(self, method: str, idempotent: bool, err: PlatformError) -> PlatformError:
        if method != "POST" or idempotent:
            return err
        return CreateUncertain(str(err), platform=self.name)

    def _error_for(self, resp: Reply, method: str, path: str) -> PlatformError:
        """Map an error response to a typed error. Subclasses may refine (see one-api)."""
        status = resp.status_code
        detail = _error_message(resp)
        what = _what(method, path)
        mentions_mgmt = "management key" in detail.lower() or "provisioning key" in detail.lower()
        if status in (401, 403) and mentions_mgmt:
            return NotManagementKey(
                f"The key for {self.name} is not a management key, so it cannot manage keys. "
                f"Create a management key at {self.manage_url or 'the platform dashboard'}.",
                platform=self.name)
        if status == 401:
            return AuthRejected(
                f"{self.name} rejected the management key (401{': ' + detail if detail else ''}). "
                f"Check it, or create a new one at {self.manage_url or 'the platform dashboard'}.",
                platform=self.name)
        if status == 403:
            return Forbidden(f"{self.name} refused {what} (403{': ' + detail if detail else ''}).",
                             platform=self.name)
        if status == 404:
            return NotFound(f"{self.name} has no such key or endpoint ({what}).", platform=self.name)
        if status in (400, 409, 422):
            return BadRequest(f"{self.name} refused {what}: {detail or 'bad request'}.",
                              platform=self.name, status=status)
        if status >= 500:
            return ServerError(
                f"{self.name} had a server error ({status}) on {what}. Try again shortly.",
                platform=self.name, status=status)
        return PlatformError(f"{self.name} answered {status} to {what}{': ' + detail if detail else ''}.",
                             platform=self.name, status=status)

    def _json(self, resp: Reply, what: str) -> Any:
        try:
            return resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            raise MalformedResponse(
                f"{self.name} sent a reply to {what} that is not JSON; it may be down or behind a proxy. "
                "Try again later.", platform=self.name) from None
