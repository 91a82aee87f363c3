"""capit-tui's own settings: settings.toml in the user config dir (tomllib reads, tomli-w writes).

[defaults]
reset = "monthly"          # reset period for new keys
refresh_interval = 30      # seconds between spend refreshes in the TUI

[platforms.openrouter]     # a preset: only overrides need to be written
base_url = "https://openrouter.ai/api/v1"

[platforms.mygateway]      # any one-api / new-api gateway
kind = "oneapi"
base_url = "https://gateway.example.com"
quota_per_usd = 500000
allow_http = false         # true only if base_url is plain http:// on purpose (warned about on every run)
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomli_w

from capit_tui.core.fsutil import atomic_write, ensure_private_dir
from capit_tui.core.http_policy import env_allows
from capit_tui.core.model import RESETS
from capit_tui.core.paths import APP as APP
from capit_tui.core.paths import config_dir as config_dir
from capit_tui.core.paths import data_dir as data_dir
from capit_tui.errors import CapitError

KINDS = ("openrouter", "oneapi")
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class SettingsError(CapitError):
    """settings.toml cannot be read or a value in it is wrong; the message says which and where."""


@dataclass(frozen=True)
class PlatformConfig:
    name: str
    kind: str
    base_url: str
    quota_per_usd: int | None = None  # one-api quota units per dollar
    user_id: str | None = None  # new-api's New-Api-User header
    manage_url: str = ""
    sandbox: bool = False
    allow_http: bool = False  # plain http:// to another machine, allowed on purpose (core/http_policy.py)

    def env_prefix(self) -> str:
        return env_prefix(self.name)


PRESETS: dict[str, PlatformConfig] = {
    "openrouter": PlatformConfig("openrouter", "openrouter", "https://openrouter.ai/api/v1",
                                 manage_url="https://openrouter.ai/settings/management-keys"),
    "aihubmix": PlatformConfig("aihubmix", "oneapi", "https://aihubmix.com", quota_per_usd=500_000,
                               manage_url="https://aihubmix.com/setting"),
}


@dataclass
class Settings:
    platforms: dict[str, PlatformConfig] = field(default_factory=dict)  # written in settings.toml
    default_reset: str | None = "monthly"
    refresh_interval: float = 30.0
    path: Path | None = None

    def known_platforms(self) -> dict[str, PlatformConfig]:
        """Presets, then the file's platforms, each with CAPIT_<NAME>_BASE_URL applied."""
        merged = dict(PRESETS)
        merged.update(self.platforms)
        return {name: with_env(cfg) for name, cfg in merged.items()}

    def platform(self, name: str) -> PlatformConfig | None:
        return self.known_platforms().get(name.lower())


def env_prefix(name: str) -> str:
    return "CAPIT_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def with_env(cfg: PlatformConfig) -> PlatformConfig:
    """`cfg` as CAPIT_<NAME>_BASE_URL moves it (and CAPIT_<NAME>_ALLOW_HTTP=1 allows plain http for it)."""
    url = os.environ.get(f"{cfg.env_prefix()}_BASE_URL")
    if url:
        cfg = replace(cfg, base_url=url.rstrip("/"))
    if env_allows(cfg.name) and not cfg.allow_http:
        cfg = replace(cfg, allow_http=True)
    return cfg


def settings_path() -> Path:
    return config_dir() / "settings.toml"


def load(path: Path | None = None) -> Settings:
    path = path or settings_path()
    if not path.exists():
        return Settings(path=path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML ({exc}). Fix or remove it; capit-tui changed nothing.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"Could not read {path}: {exc}.") from None
    return _from_doc(doc, path)


def _from_doc(doc: dict[str, Any], path: Path) -> Settings:
    s = Settings(path=path)
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise SettingsError(f"{path}: [defaults] must be a table.")
    reset = defaults.get("reset", "monthly")
    if reset in ("never", "none"):
        s.default_reset = None
    elif reset in RESETS:
        s.default_reset = reset
    else:
        raise SettingsError(f"{path}: defaults.reset must be daily, weekly, monthly or never, not {reset!r}.")
    interval = defaults.get("refresh_interval", 30)
    if not isinstance(interval, (int, float)) or isinstance(interval, bool) or not 2 <= interval <= 3600:
        raise SettingsError(f"{path}: defaults.refresh_interval must be a number of seconds from 2 to 3600.")
    s.refresh_interval = float(interval)
    platforms = doc.get("platforms", {})
    if not isinstance(platforms, dict):
        raise SettingsError(f"{path}: [platforms] must be a table.")
    for name, table in platforms.items():
        if not isinstance(table, dict):
            raise SettingsError(f"{path}: [platforms.{name}] must be a table.")
        s.platforms[name] = _platform_from(name, table, path)
    return s


def _platform_from(name: str, table: dict[str, Any], path: Path) -> PlatformConfig:
    if not NAME_RE.match(name):
        raise SettingsError(f"{path}: platform name {name!r} must be lower-case letters, digits, - or _.")
    preset = PRESETS.get(name)
    kind = table.get("kind", preset.kind if preset else None)
    if kind not in KINDS:
        raise SettingsError(f"{path}: [platforms.{name}] needs kind = \"openrouter\" or \"oneapi\".")
    base_url = table.get("base_url", preset.base_url if preset else None)
    if not isinstance(base_url, str) or not re.match(r"^https?://", base_url):
        raise SettingsError(f"{path}: [platforms.{name}] needs a base_url starting with http:// or https://.")
    q = table.get("quota_per_usd", preset.quota_per_usd if preset else (500_000 if kind == "oneapi" else None))
    if q is not None and (not isinstance(q, int) or isinstance(q, bool) or q <= 0):
        raise SettingsError(f"{path}: [platforms.{name}] quota_per_usd must be a positive whole number.")
    user_id = table.get("user_id")
    allow_http = table.get("allow_http", False)
    if not isinstance(allow_http, bool):
        raise SettingsError(f"{path}: [platforms.{name}] allow_http must be true or false.")
    return PlatformConfig(name=name, kind=kind, base_url=base_url.rstrip("/"), quota_per_usd=q,
                          user_id=str(user_id) if user_id is not None else None,
                          manage_url=str(table.get("manage_url", preset.manage_url if preset else "")),
                          allow_http=allow_http)


def save(s: Settings, path: Path | None = None) -> Path:
    path = path or s.path or settings_path()
    doc: dict[str, Any] = {
        "defaults": {
            "reset": s.default_reset or "never",
            "refresh_interval": (int(s.refresh_interval) if float(s.refresh_interval).is_integer()
                                 else s.refresh_interval),
        }
    }
    plats: dict[str, Any] = {}
    for name, cfg in s.platforms.items():
        table: dict[str, Any] = {"kind": cfg.kind, "base_url": cfg.base_url}
        if cfg.quota_per_usd is not None:
            table["quota_per_usd"] = cfg.quota_per_usd
        if cfg.user_id is not None:
            table["user_id"] = cfg.user_id
        if cfg.manage_url:
            table["manage_url"] = cfg.manage_url
        if cfg.allow_http:
            table["allow_http"] = True
        plats[name] = table
    if plats:
        doc["platforms"] = plats
    from capit_tui.core import lock

    with lock.held("saving its settings"):
        ensure_private_dir(path.parent)
        atomic_write(path, tomli_w.dumps(doc).encode("utf-8"), mode=0o600)
    return path
