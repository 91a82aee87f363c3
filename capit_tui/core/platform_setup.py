"""Adding, testing and removing a platform's management key: what `capit-tui platforms add/test/remove/list`
and the TUI (Platforms screen, first-run onboarding) both do, through the same steps.

The order never changes: resolve the platform's config -> check the pasted key live -> store it (the keyring,
or the 0600 file only with consent) -> save settings for a platform the presets do not describe. Nothing is
stored before the check passes. No Textual and no printing here; every error is a sentence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from capit_tui.core import http_policy, vault
from capit_tui.core import settings as settings_mod
from capit_tui.core.keys import Configured
from capit_tui.core.model import Balance, KeyInfo
from capit_tui.core.settings import KINDS, NAME_RE, PRESETS, PlatformConfig, Settings
from capit_tui.core.text import tilde
from capit_tui.errors import CapitError

KIND_TITLES = {"openrouter": "OpenRouter-compatible", "oneapi": "one-api / new-api gateway",
               "litellm": "LiteLLM proxy (self-hosted)"}
TITLES = {"openrouter": "OpenRouter", "aihubmix": "AIHubMix"}
BLURBS = {
    "openrouter": "hundreds of models; caps reset daily, weekly or monthly",
    "aihubmix": "a one-api gateway; caps are lifetime totals",
}


def title(name: str) -> str:
    """What people call a platform: OpenRouter, AIHubMix, or the name it was added under."""
    return TITLES.get(name, name)


NO_PLATFORM_HINT = ("No platform is set up, so there are no keys to show. Press 3 for Platforms, then a to add a "
                    "management key (or run `capit-tui platforms add openrouter`).")
"""What to tell someone who has no platform yet (onboarding skipped, or the last one removed)."""


class SetupError(CapitError):
    """A platform cannot be added or removed as asked; the message says why in a sentence."""


# ---------------------------------------------------------------- what is known, what is configured


@dataclass(frozen=True)
class PlatformStatus:
    config: PlatformConfig
    source: str | None  # where its management key comes from: env | keyring | file | None (not configured)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def configured(self) -> bool:
        return self.source is not None

    @property
    def preset(self) -> bool:
        return self.name in PRESETS


def statuses(s: Settings, configured: list[Configured] | None = None) -> list[PlatformStatus]:
    """Every known platform (presets first, then settings.toml's) with where its key comes from.

    `configured` is the list the caller already uses (the TUI's `app.platforms`); None looks each key up.
    """
    known = s.known_platforms()
    if configured is None:
        out = []
        for name, cfg in known.items():
            found = vault.lookup(name)
            out.append(PlatformStatus(cfg, found.source if found else None))
        return out
    by_name = {c.name: c for c in configured}
    out = []
    for name, cfg in known.items():
        c = by_name.get(name)
        if c is None:
            out.append(PlatformStatus(cfg, None))
        else:  # the config in use; where to make management keys comes from what is known
            used = c.config if c.config.manage_url else replace(c.config, manage_url=cfg.manage_url)
            out.append(PlatformStatus(used, c.source))
    out.extend(PlatformStatus(c.config, c.source) for c in configured if c.name not in known)
    return out


# ---------------------------------------------------------------- the config to add


def check_name(name: str) -> str:
    n = name.strip().lower()
    if not n:
        raise SetupError("Give the platform a short name, e.g. mygateway.")
    if not NAME_RE.match(n):
        raise SetupError("A platform name is lower-case letters, digits, '-' or '_', starting with a letter "
                         "(e.g. mygateway).")
    return n


def check_base_url(url: str) -> str:
    u = url.strip().rstrip("/")
    if not u.startswith(("http://", "https://")) or len(u) <= len("https://"):
        raise SetupError("The base URL must start with http:// or https:// (e.g. https://gateway.example.com).")
    if any(ch.isspace() for ch in u):
        raise SetupError("The base URL contains spaces; paste it again.")
    return u


def resolve(s: Settings, name: str, *, kind: str | None = None, base_url: str | None = None,
            quota_per_usd: int | None = None, user_id: str | None = None,
            allow_http: bool = False) -> PlatformConfig:
    """The config to add: a known platform (presets, settings.toml) with any overrides, or a new gateway,
    which needs a kind and a base URL.

    A plain http:// base URL to another machine is refused (SetupError) unless `allow_http` (the user's
    --allow-http, then kept in settings.toml), CAPIT_<NAME>_ALLOW_HTTP=1 or the settings already allow it;
    an allowed one is warned about through http_policy.warnings."""
    n = check_name(name)
    if kind is not None and kind not in KINDS:
        raise SetupError(f"The kind is openrouter, oneapi or litellm, not {kind!r}.")
    user_id = (user_id or "").strip() or None
    cfg = s.known_platforms().get(n)
    if cfg is None:
        if not kind or not base_url:
            raise SetupError(f"'{n}' is not a preset ({', '.join(sorted(PRESETS))}): give its kind and base URL.")
        cfg = PlatformConfig(n, kind, check_base_url(base_url),
                             quota_per_usd=quota_per_usd or (500_000 if kind == "oneapi" else None),
                             user_id=user_id, allow_http=allow_http or http_policy.env_allows(n))
        return _checked_http(cfg)
    changes: dict[str, Any] = {}
    if kind and kind != cfg.kind:
        changes["kind"] = kind
    if base_url:
        changes["base_url"] = check_base_url(base_url)
    if quota_per_usd:
        changes["quota_per_usd"] = quota_per_usd
    if user_id:
        changes["user_id"] = user_id
    if allow_http:
        changes["allow_http"] = True
    cfg = replace(cfg, **changes)
    check_base_url(cfg.base_url)
    return _checked_http(cfg)


def _checked_http(cfg: PlatformConfig) -> PlatformConfig:
    try:
        http_policy.check(cfg.name, cfg.base_url, cfg.allow_http)
    except http_policy.PlainHttpRefused as exc:
        raise SetupError(str(exc)) from None
    return cfg


def manage_hint(cfg: PlatformConfig) -> str:
    """Where a person creates a management key for this platform."""
    if cfg.manage_url:
        return cfg.manage_url
    if cfg.kind == "oneapi":
        return f"{cfg.base_url}/setting (Generate System Access Token)"
    if cfg.kind == "litellm":
        return f"the proxy's master key (general_settings.master_key or LITELLM_MASTER_KEY), or {cfg.base_url}/ui"
    return "the platform's dashboard"


# ---------------------------------------------------------------- where the key will be kept


@dataclass(frozen=True)
class Storage:
    keyring: bool  # a usable system keyring: the key goes there
    detail: str  # the keyring backend, or why there is none
    file: Path  # the 0600 file used only with the user's consent

    def describe(self) -> str:
        if self.keyring:
            return f"the system keyring ({self.detail})"
        return f"{tilde(self.file)} (mode 0600, readable only by you)"


def storage() -> Storage:
    usable, detail = vault.keyring_status()
    return Storage(usable, detail, vault.credentials_path())


# ---------------------------------------------------------------- check, store, remove, test


def clean_key(key: str) -> str:
    k = key.strip()
    if not k:
        raise SetupError("Paste the management key first. Nothing was stored.")
    if any(ch.isspace() for ch in k):
        raise SetupError("The key contains spaces or line breaks; paste it again. Nothing was stored.")
    return k


async def check_key(cfg: PlatformConfig, key: str, **open_kwargs: Any) -> KeyInfo:
    """Ask the platform whether `key` is a management key. Raises the platform's typed error (its message
    is the sentence to show: rejected, or an inference key with the URL where management keys are made)."""
    from capit_tui.platforms import make_platform

    async with make_platform(cfg, clean_key(key), **open_kwargs) as p:
        return await p.check_management_key()


def should_save(s: Settings, cfg: PlatformConfig) -> bool:
    """Whether settings.toml must describe this platform: not a preset, or a preset changed on purpose.

    A value that only comes from CAPIT_<NAME>_BASE_URL is not written down: the environment stays an override.
    """
    base = s.platforms.get(cfg.name) or PRESETS.get(cfg.name)
    if base is None:
        return True
    return cfg != base and cfg != _moved_by_env(base)


def _moved_by_env(cfg: PlatformConfig) -> PlatformConfig:
    """`cfg` as CAPIT_<NAME>_BASE_URL moves it (what Settings.known_platforms applies)."""
    return settings_mod.with_env(cfg)


@dataclass(frozen=True)
class Added:
    platform: Configured  # what the app uses from now on
    stored_in: str  # "the system keyring" or the file
    env_overrides: bool  # CAPIT_<NAME>_MANAGEMENT_KEY is set and wins over what was just stored

    def sentence(self) -> str:
        text = f"{self.platform.name} is ready: its management key is stored in {self.stored_in}."
        if self.env_overrides:
            text += (f" Note: {vault.env_var(self.platform.name)} is set in your environment and is used "
                     "instead while it is set.")
        return text


def store(s: Settings, cfg: PlatformConfig, key: str, *, allow_file: bool = False) -> Added:
    """Store a key that passed `check_key`: the keyring, else the 0600 file only if `allow_file`.
    Saves settings.toml when the platform is not a preset. Raises vault.NoKeyringError without consent."""
    k = clean_key(key)
    if should_save(s, cfg):
        settings_mod.load(s.path)  # a wrong value in settings.toml stops here, with its line, before the key is kept
    where = vault.store(cfg.name, k, allow_file=allow_file)
    if should_save(s, cfg):
        settings_mod.put_platform(cfg, s.path)
        s.platforms[cfg.name] = cfg
    found = vault.lookup(cfg.name)
    source = found.source if found else ("keyring" if "keyring" in where else "file")
    used = found.key if found else k
    return Added(Configured(cfg, source, used), where, source == "env")


def with_platform(platforms: list[Configured], c: Configured) -> list[Configured]:
    """The configured list with `c` added or replacing the one of the same name, in name order."""
    return sorted([p for p in platforms if p.name != c.name] + [c], key=lambda p: p.name)


def without_platform(platforms: list[Configured], name: str) -> list[Configured]:
    return [p for p in platforms if p.name != name]


def env_only_reason(name: str) -> str:
    var = vault.env_var(name)
    return (f"{name}'s management key comes from {var} in your environment, so capit-tui cannot remove it. "
            f"Unset {var} and restart capit-tui.")


@dataclass(frozen=True)
class Removed:
    name: str
    removed_from: list[str]  # the keyring, the file, settings.toml
    env_still_set: bool

    def sentence(self) -> str:
        if not self.removed_from:
            text = f"No stored key for {self.name}; nothing to remove."
        else:
            text = f"Removed {self.name} from {', '.join(self.removed_from)}. Keys already issued keep working."
        if self.env_still_set:
            text += f" Note: {vault.env_var(self.name)} is still set in your environment."
        return text


def remove(s: Settings, name: str) -> Removed:
    """Forget a platform's stored key (keyring and file) and drop it from settings.toml."""
    n = name.lower()
    if n not in s.known_platforms():
        raise SetupError(f"Unknown platform '{n}'.")
    in_settings = n in s.platforms
    if in_settings:  # first: a settings.toml it cannot edit stops the removal before the key is forgotten
        settings_mod.drop_platform(n, s.path)
        del s.platforms[n]
    where = vault.remove(n)
    if in_settings:
        where = where + ["settings.toml"]
    return Removed(n, where, bool(os.environ.get(vault.env_var(n), "").strip()))


@dataclass(frozen=True)
class Probed:
    info: KeyInfo
    balance: Balance | None
    key_count: int


async def probe(adapter: Any) -> Probed:
    """The management key still works, the balance, and how many keys it manages (an open adapter)."""
    info = await adapter.check_management_key()
    balance = await adapter.balance()
    keys = await adapter.list_keys()
    return Probed(info, balance, len(keys))


def probe_sentence(name: str, source: str, t: Probed) -> str:
    from capit_tui.core.money import format_usd

    remaining = format_usd(t.balance.remaining, none="unknown") if t.balance is not None else "unknown"
    plural = "s" if t.key_count != 1 else ""
    return f"{name}: management key OK (from {source}); {t.key_count} key{plural}; balance {remaining}."


def balance_text(b: Balance | None) -> str:
    from capit_tui.core.money import format_usd

    if b is None:
        return "unknown"
    return format_usd(b.remaining, none="unknown")


__all__ = [
    "BLURBS", "KIND_TITLES", "NO_PLATFORM_HINT", "TITLES", "Added", "PlatformStatus", "Probed", "Removed",
    "SetupError", "Storage", "balance_text", "check_base_url", "check_key", "check_name", "clean_key",
    "env_only_reason", "manage_hint", "probe", "probe_sentence", "remove", "resolve",
    "should_save", "statuses", "storage", "store", "title", "with_platform", "without_platform",
]


# ---------------------------------------------------------------- storing with consent (the TUI's forms)


class KeyringRefused(SetupError):
    """The system keyring refused the key and the file was not allowed, so nothing was stored."""


def store_with_consent(s: Settings, cfg: PlatformConfig, key: str, *, needs_consent: bool,
                       consented: bool) -> Added:
    """`store` for a form with a consent box: the keyring, or the 0600 file when the form `needs_consent`
    (no keyring, or it refused) and the user `consented`. Nothing is stored without consent (SetupError);
    KeyringRefused when the keyring refuses, so the form can offer the file."""
    if needs_consent and not consented:
        raise SetupError("Nothing was stored: tick the box to keep the key in the file, or set "
                         f"{vault.env_var(cfg.name)} instead.")
    try:
        return store(s, cfg, key, allow_file=needs_consent and consented)
    except vault.NoKeyringError:
        raise KeyringRefused("The system keyring refused to store the key, so nothing was stored. Unlock it and "
                             "try again, or tick the box to keep it in a file.") from None


# ---------------------------------------------------------------- failures in words (the TUI's forms and tables)

SHORT_ERRORS = {"server": "server error", "auth": "key rejected", "not-management-key": "not a mgmt key",
                "network": "unreachable", "rate-limited": "rate limited", "malformed": "bad reply",
                "forbidden": "refused", "not-found": "not found"}


def short_error(exc: BaseException) -> str:
    """A failure in a few words, for a narrow table cell: `key rejected`, `unreachable`, ..."""
    return SHORT_ERRORS.get(getattr(exc, "kind", ""), "error")


def error_sentence(exc: BaseException) -> str:
    """What to show for a failure: a platform's, the vault's or settings.toml's own sentence, else the type of
    error."""
    from capit_tui.platforms.base import PlatformError

    if isinstance(exc, (PlatformError, vault.VaultError, SetupError, settings_mod.SettingsError)):
        return str(exc)
    return f"capit-tui hit an unexpected {type(exc).__name__}; please report it."
