"""Every rule about keys, once, for the CLI and the TUI alike: find the configured platforms, list every
key, pick keys by name/hash/glob, ask what a platform can reset, and issue, revoke (the ledger updated),
disable/enable and re-cap. No printing and no Textual here: the front ends word the outcomes."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from capit_tui.core import http_policy, vault
from capit_tui.core import settings as settings_mod
from capit_tui.core.ledger import Ledger
from capit_tui.core.model import UNSET, CappedKey, IssuedKey
from capit_tui.core.settings import PlatformConfig, Settings
from capit_tui.core.text import clean_text, display_name, has_control
from capit_tui.errors import CapitError

if TYPE_CHECKING:
    from capit_tui.platforms.base import Platform, PlatformError


class ServiceError(CapitError):
    """A failure the message explains in a sentence or two (exit status 1 in the CLI)."""


@dataclass
class Configured:
    config: PlatformConfig
    source: str  # where its management key came from: env | keyring | file
    _key: str = field(repr=False, default="")

    @property
    def name(self) -> str:
        return self.config.name

    def open(self, **kwargs: Any):
        from capit_tui.platforms import make_platform

        return make_platform(self.config, self._key, **kwargs)


def configured_platforms(s: Settings, only: str | None = None) -> list[Configured]:
    """Known platforms whose management key is found (env, keyring or the consented file)."""
    known = s.known_platforms()
    if only is not None:
        cfg = known.get(only.lower())
        if cfg is None:
            raise ServiceError(
                f"Unknown platform '{only}'. Known platforms: {', '.join(sorted(known))}; add another with "
                "`capit-tui platforms add NAME --kind oneapi --base-url URL`.")
        http_policy.check(cfg.name, cfg.base_url, cfg.allow_http)  # refused before anything is asked
        found = vault.lookup(cfg.name)
        if found is None:
            raise ServiceError(
                f"No management key for {cfg.name}. Run `capit-tui platforms add {cfg.name}`, or set "
                f"{vault.env_var(cfg.name)}.")
        return [Configured(cfg, found.source, found.key)]
    out = []
    for name in sorted(known):
        found = vault.lookup(name)
        if found is not None:
            out.append(Configured(known[name], found.source, found.key))
    return out


@dataclass
class Listing:
    keys: list[CappedKey]
    errors: dict[str, Exception]  # platform -> what went wrong there
    requests: int = 0
    asked: list[str] = field(default_factory=list)  # the platforms asked, in order

    @property
    def failed_everywhere(self) -> bool:
        """Every platform asked failed: no key list at all, which is not an empty account."""
        return bool(self.errors) and all(name in self.errors for name in self.asked)

    def reasons(self) -> dict[str, str]:
        """Per failed platform, why, in one clean sentence or two that names the platform once."""
        return {name: failure_reason(name, exc) for name, exc in self.errors.items()}


def failure_reason(platform: str, exc: BaseException) -> str:
    """A platform's error as said to a person: its message, which names the platform already
    ("openrouter sent a reply ..."), or "<platform>: <message>" when it does not."""
    text = clean_text(str(exc), 600).strip() or type(exc).__name__
    return text if text.lower().startswith(platform.lower()) else f"{platform}: {text}"


PageCallback = Callable[[str, list[CappedKey]], None]
"""on_page(platform name, keys): a batch of keys just read, before the listing is whole."""


async def list_all_keys(platforms: list[Configured], *, on_page: PageCallback | None = None,
                        **open_kwargs: Any) -> Listing:
    """Every key on every platform, fetched concurrently. One platform failing does not hide the others.
    `on_page` sees each batch of keys as it is read (see `list_keys_on`)."""
    opened = [c.open(**open_kwargs) for c in platforms]
    try:
        return await list_keys_on(opened, on_page=on_page)
    finally:
        for p in opened:
            await p.aclose()


async def list_keys_on(opened: list[Any], *, on_page: PageCallback | None = None) -> Listing:
    """The same over adapters the caller keeps open (the TUI keeps one client per platform).

    `on_page(platform, keys)` is called with each batch of keys as the platform's pages come in, each
    key once, so a front end can show the first rows before the last page (a platform listing in
    pages calls it per page, in the platform's order). It is a preview: a platform that fails later
    is in `errors` of the Listing returned, and only that Listing (sorted) is the whole answer."""
    from capit_tui.platforms.base import NetworkError, PlatformError

    async def one(p: Any) -> tuple[list[CappedKey], Exception | None, int]:
        before = p.requests_sent
        limit = listing_deadline()
        cb = None if on_page is None else (lambda keys: on_page(p.name, keys))
        try:
            async with asyncio.timeout(limit):
                return await p.list_keys(on_page=cb), None, p.requests_sent - before
        except PlatformError as exc:
            return [], exc, p.requests_sent - before
        except TimeoutError:
            return [], NetworkError(f"{p.name} did not finish listing its keys within {limit:.0f} s; it may be "
                                    "overloaded or sending endless pages.", platform=p.name), p.requests_sent - before

    results = await asyncio.gather(*(one(p) for p in opened))
    listing = Listing([], {}, asked=[p.name for p in opened])
    for p, (keys, err, n) in zip(opened, results, strict=True):
        listing.keys.extend(keys)
        listing.requests += n
        if err is not None:
            listing.errors[p.name] = err
    listing.keys.sort(key=sort_key)
    return listing


def listing_deadline() -> float:
    """How long listing one platform's keys may take in all: 120 s, or, when CAPIT_HTTP_TIMEOUT is set,
    six requests' worth plus the retries' back-off (a user who lowers the timeout wants a quicker answer)."""
    from capit_tui.platforms.http import DEFAULT_RETRY, TIMEOUT_ENV, request_deadline

    if not os.environ.get(TIMEOUT_ENV, "").strip():
        return 120.0
    backoff = sum(DEFAULT_RETRY.max_delay if a > 3 else DEFAULT_RETRY.base_delay * 2**a * 1.25
                  for a in range(DEFAULT_RETRY.attempts))
    return 6 * request_deadline() + backoff


def sort_key(k: CappedKey) -> tuple:
    return k.order()


# ---------------------------------------------------------------- picking keys


HASH_PREFIX_MIN = 8
BULK_MOST = 5  # more keys than this in one revoke needs --all (or the count typed back), even with --yes


@dataclass(frozen=True)
class Selection:
    keys: list[CappedKey]
    how: str  # "name" | "hash" | "glob"
    everything: bool = False  # the pattern matches every key (e.g. '*')

    @property
    def too_many(self) -> bool:
        """Too wide for a plain yes: every key there is (more than one), or more than BULK_MOST keys.
        A front end then asks for the count typed back, or an explicit --all."""
        n = len(self.keys)
        return n > BULK_MOST or (self.everything and n > 1)


def select(keys: list[CappedKey], selector: str) -> Selection:
    """Pick keys by exact name, by hash prefix (>= 8 hex characters) or by glob (* ? [...])."""
    sel = selector.strip()
    if not sel:
        raise ServiceError("Name a key: its exact name, the first 8 or more characters of its hash, or a glob.")
    if has_control(sel):
        raise ServiceError("The key name contains control characters; type it again.")
    exact = [k for k in keys if k.name == sel]
    if exact:
        return Selection(exact, "name")
    if any(ch in sel for ch in "*?["):
        matched = [k for k in keys if fnmatch.fnmatchcase(k.name, sel)]
        return Selection(matched, "glob", everything=bool(keys) and len(matched) == len(keys))
    if re.fullmatch(r"[0-9a-fA-F]+", sel) or sel.isdigit():
        by_id = [k for k in keys if k.id == sel]
        if by_id:
            return Selection(by_id, "hash")
        if len(sel) >= HASH_PREFIX_MIN:
            return Selection([k for k in keys if k.id.lower().startswith(sel.lower())], "hash")
        if re.fullmatch(r"[0-9a-fA-F]+", sel) and any(k.id.lower().startswith(sel.lower()) for k in keys):
            raise ServiceError(
                f"'{sel}' is too short to pick a key by its hash: give at least {HASH_PREFIX_MIN} characters.")
    return Selection([], "name")


def clean_name(name: str) -> str:
    """A key name as we will send it: no control characters, no surrounding space, at most 100 chars."""
    n = name.strip()
    if not n:
        raise ServiceError("The key name is empty.")
    if has_control(n):
        raise ServiceError("The key name contains control characters; use letters, digits, '-' or '_'.")
    if len(n) > 100:
        raise ServiceError(f"The key name is {len(n)} characters long; keep it to 100 or fewer.")
    return n


def default_name(agent: str | None = None, today: date | None = None) -> str:
    today = today or date.today()
    stamp = today.strftime("%Y%m%d")
    return f"capit-{agent}-{stamp}" if agent else f"capit-{stamp}"


class NameTaken(ServiceError):
    """A name typed for a new key is already a key's name on that platform (revoke-by-name would then
    match both). The front end adds how to go ahead anyway (the CLI: --allow-duplicate)."""

    def __init__(self, name: str, platform: str, clashes: list[CappedKey]):
        first, shown = clashes[0], display_name(name, 60)
        when = f", created {first.created_at:%Y-%m-%d}" if first.created_at else ""
        super().__init__(f"A key named '{shown}' already exists on {platform} (id {first.id[:12]}{when})."
                         if len(clashes) == 1 else
                         f"{len(clashes)} keys named '{shown}' already exist on {platform}.")
        self.name, self.platform, self.clashes = name, platform, clashes


def taken_names(keys: Iterable[CappedKey], platform: str) -> set[str]:
    """The names of the keys on `platform` (a new key there should not reuse one)."""
    return {k.name for k in keys if k.platform == platform}


def check_name_free(keys: Iterable[CappedKey], platform: str, name: str) -> None:
    """The one rule for a name the user chose: refused (NameTaken) when a key on `platform` has it."""
    clashes = [k for k in keys if k.platform == platform and k.name == name]
    if clashes:
        raise NameTaken(name, platform, clashes)


def unique_name(base: str, taken: Collection[str]) -> str:
    """A generated name made free: `base`, else `base-2`, `base-3`, ... (within the 100-character limit)."""
    if base not in taken:
        return base
    n = 2
    while True:
        tail = f"-{n}"
        name = base[: 100 - len(tail)] + tail
        if name not in taken:
            return name
        n += 1


# ---------------------------------------------------------------- what a platform can do


def reset_periods(c: Configured | PlatformConfig) -> tuple[str, ...]:
    """The reset periods a platform enforces ((): lifetime caps), asked of its adapter class."""
    from capit_tui.platforms import adapter_class

    cfg = c.config if isinstance(c, Configured) else c
    return adapter_class(cfg.kind).reset_periods


def lifetime_platforms(platforms: Iterable[Configured]) -> set[str]:
    """The platforms with no per-window spend figures (one lifetime counter a key, as one-api keeps): a
    pooled budget (core.pool) takes their window's spend from the local history."""
    return {c.name for c in platforms if not reset_periods(c)}


def reset_for_new_key(c: Configured, asked: Any, default: str | None) -> str | None:
    """The reset period a new key gets: the one asked for (None: never; refused with the platform's
    sentence when it cannot reset that often), else (UNSET: not asked) the settings' default where the
    platform has it, else never."""
    from capit_tui.platforms import adapter_class

    if asked is not UNSET:
        adapter_class(c.config.kind).check_reset(asked, c.name)
        return asked
    return default if default in reset_periods(c) else None


# ---------------------------------------------------------------- actions on keys


async def issue_key(c: Configured, name: str, limit: Decimal | None, reset: str | None,
                    **open_kwargs: Any) -> IssuedKey:
    async with c.open(**open_kwargs) as p:
        return await p.create_key(name, limit, reset)


async def revoke(p: Platform, key: CappedKey, ledger: Ledger) -> list[str]:
    """Delete a key on its platform and mark it revoked in the ledger, under the lock. A key already
    gone counts as revoked. Returns the agents that were using it (their files now hold a dead key)."""
    from capit_tui.core import lock
    from capit_tui.platforms.base import NotFound

    async with lock.held_async(f"revoking the key {key.name}"):
        holders = ledger.holders(key.platform, key.id)
        try:
            await p.delete_key(key.id)
        except NotFound:
            pass  # already gone: the outcome the user asked for
        ledger.mark_revoked(key.platform, key.id)
    return holders


async def set_disabled(p: Platform, key: CappedKey, disabled: bool) -> CappedKey:
    """Disable or enable a key (the agents holding it keep it; the platform refuses or serves it)."""
    return await p.update_key(key.id, disabled=disabled)


async def set_cap(p: Platform, key: CappedKey, limit: Decimal | None, reset: Any = UNSET) -> CappedKey:
    """A new cap (None removes it) and, when given, a new reset period (checked against the platform)."""
    if reset is not UNSET:
        p.check_reset(reset, p.name)
    return await p.update_key(key.id, limit=limit, reset=reset)


@dataclass
class Outcome:
    """What happened to one key of a bulk action: `error` is None when it was done."""

    key: CappedKey
    error: PlatformError | None = None
    updated: CappedKey | None = None
    holders: list[str] = field(default_factory=list)  # revoke: the agents that were using it


async def for_each_key(keys: list[CappedKey], platforms: dict[str, Configured],
                       op: Callable[[Platform, CappedKey], Awaitable[Any]]) -> list[Outcome]:
    """Run `op` on each key, one platform client per platform; a failure on one key does not stop the rest."""
    from capit_tui.platforms.base import PlatformError

    outcomes: list[Outcome] = []
    opened: dict[str, Platform] = {}
    try:
        for k in keys:
            p = opened.get(k.platform) or opened.setdefault(k.platform, platforms[k.platform].open())
            try:
                result = await op(p, k)
            except PlatformError as exc:
                outcomes.append(Outcome(k, exc))
                continue
            outcomes.append(Outcome(k, None, result if isinstance(result, CappedKey) else None,
                                    result if isinstance(result, list) else []))
    finally:
        for p in opened.values():
            await p.aclose()
    return outcomes


def load_settings() -> Settings:
    return settings_mod.load()
