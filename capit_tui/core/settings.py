"""capit-tui's own settings: settings.toml in the user config dir.

It is the user's file: tomllib reads it, a wrong value is refused with its line, and capit-tui's writes (a
platform added or removed) change only their own table or keys (core/settings_toml.py), so comments, order and
tables it does not know stay as they were.

[defaults]
reset = "monthly"          # reset period for new keys
refresh_interval = 30      # seconds between spend refreshes in the TUI

[platforms.openrouter]     # a preset: only overrides need to be written
base_url = "https://openrouter.ai/api/v1"

[platforms.myproxy]        # a LiteLLM proxy (self-hosted): the master key manages its virtual keys
kind = "litellm"
base_url = "https://litellm.example.com"

[platforms.mygateway]      # any one-api / new-api gateway
kind = "oneapi"
base_url = "https://gateway.example.com"
quota_per_usd = 500000
allow_http = false         # true only if base_url is plain http:// on purpose (warned about on every run)

[keymap]                   # the TUI's keys: binding id = "key" or "key,key" (press ? in the app for the ids)
"keys.revoke" = "ctrl+d"

[[pool]]                   # a budget pooled across keys (core/pool.py): `watch` checks it, the TUI shows it
period = "daily"           # daily, weekly or monthly; one pool per period
amount = "20.00"
match = "capit-*"          # which keys, by name (default every key)
enforce = false            # true: `watch` disables the pooled keys at 100% and re-enables them at the reset

[team]                     # the app's Team screen (5) shows this team file (`capit-tui --team FILE` overrides)
file = "~/team.toml"
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capit_tui.core.fsutil import atomic_write, ensure_private_dir
from capit_tui.core.http_policy import env_allows
from capit_tui.core.model import RESETS
from capit_tui.core.paths import APP as APP
from capit_tui.core.paths import config_dir as config_dir
from capit_tui.core.paths import data_dir as data_dir
from capit_tui.errors import CapitError

if TYPE_CHECKING:
    from capit_tui.core.pool import Pool

KINDS = ("openrouter", "oneapi", "litellm")
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


@dataclass(frozen=True)
class KeymapEntry:
    """One line of [keymap]: a binding id and the keys written for it (not yet checked: see check_keymap)."""

    binding_id: str
    keys: Any
    line: int | None


@dataclass
class Settings:
    platforms: dict[str, PlatformConfig] = field(default_factory=dict)  # written in settings.toml
    default_reset: str | None = "monthly"
    refresh_interval: float = 30.0
    path: Path | None = None
    keymap: list[KeymapEntry] = field(default_factory=list)  # [keymap], as written
    keymap_problems: list[str] = field(default_factory=list)  # why [keymap] itself was ignored
    pools: list[Pool] = field(default_factory=list)  # [[pool]]: budgets pooled across keys
    team_file: Path | None = None  # [team] file: the team the app's Team screen shows

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
    return parse(_read(path), path)


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")  # as written: CRLF stays CRLF
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"Could not read {path}: {exc}.") from None


class _Bad(Exception):
    """A wrong value at a path of the file; `parse` adds the line it is on."""

    def __init__(self, where: tuple[str, ...], sentence: str) -> None:
        super().__init__(sentence)
        self.where = where
        self.sentence = sentence


def parse(text: str, path: Path) -> Settings:
    """The settings in `text` (the file at `path`). A wrong value is refused with the line it is on; keys and
    tables capit-tui does not know are left alone (they stay in the file), and [keymap] is only collected:
    its entries are checked by `check_keymap`, where the front end knows its bindings.

    tomllib and the line finder are imported here, not with the module: without a settings file (the
    usual case for a script or a one-off command) `load` needs neither."""
    import tomllib

    from capit_tui.core.settings_toml import line_of

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML ({exc}). Fix or remove it; capit-tui changed nothing.") from None
    try:
        s = _from_doc(doc, path)
    except _Bad as bad:
        line = line_of(text, bad.where)
        at = f"{path}, line {line}" if line else str(path)
        raise SettingsError(f"{at}: {bad.sentence} Fix it; capit-tui changed nothing.") from None
    keymap = doc.get("keymap", {})
    if isinstance(keymap, dict):
        s.keymap = [KeymapEntry(str(k), v, line_of(text, ("keymap", k))) for k, v in keymap.items()]
    else:
        line = line_of(text, ("keymap",))
        s.keymap_problems.append(f"{path}{f', line {line}' if line else ''}: keymap must be a table "
                                 "([keymap] with lines like \"keys.revoke\" = \"ctrl+d\"); it is ignored.")
    return s


def _from_doc(doc: dict[str, Any], path: Path) -> Settings:
    s = Settings(path=path)
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise _Bad(("defaults",), "[defaults] must be a table.")
    reset = defaults.get("reset", "monthly")
    if reset in ("never", "none"):
        s.default_reset = None
    elif reset in RESETS:
        s.default_reset = reset
    else:
        raise _Bad(("defaults", "reset"),
                   f"defaults.reset must be daily, weekly, monthly or never, not {_shown(reset)}.")
    interval = defaults.get("refresh_interval", 30)
    if not isinstance(interval, (int, float)) or isinstance(interval, bool) or not 2 <= interval <= 3600:
        raise _Bad(("defaults", "refresh_interval"),
                   f"defaults.refresh_interval must be a number of seconds from 2 to 3600, not {_shown(interval)}.")
    s.refresh_interval = float(interval)
    platforms = doc.get("platforms", {})
    if not isinstance(platforms, dict):
        raise _Bad(("platforms",), "[platforms] must be a table.")
    for name, table in platforms.items():
        if not isinstance(table, dict):
            raise _Bad(("platforms", name), f"[platforms.{name}] must be a table.")
        s.platforms[name] = _platform_from(name, table)
    s.pools = _pools_from(doc.get("pool", []))
    team = doc.get("team", {})
    if not isinstance(team, dict) or not isinstance(team.get("file", ""), str):
        raise _Bad(("team", "file"), "[team] file must be the path of a team file, such as file = \"~/team.toml\".")
    if team.get("file"):
        named = Path(team["file"]).expanduser()
        s.team_file = named if named.is_absolute() else path.parent / named  # relative: beside settings.toml
    return s


def _is_match(match: str) -> bool:
    from capit_tui.core.pool import check_match

    try:
        check_match(match)
    except ValueError:
        return False
    return True


def _pools_from(value: Any) -> list[Pool]:
    if value == []:
        return []
    # core.pool (and core.spend_watch under it) only for a file with [[pool]]: `keys list` starts without them
    from capit_tui.core.pool import PERIODS, Pool, one_per_period, pool_amount

    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise _Bad(("pool",), "pool must be tables written [[pool]], each with a period and an amount.")
    out = []
    for table in value:
        period = table.get("period")
        if period not in PERIODS:
            raise _Bad(("pool", "period"), f"pool.period must be daily, weekly or monthly, not {_shown(period)}.")
        if isinstance(table.get("amount"), bool) or not isinstance(table.get("amount"), (str, int, float)):
            raise _Bad(("pool", "amount"), f"pool.amount must be an amount in dollars such as \"20.00\", not "
                                  f"{_shown(table.get('amount'))}.")
        match, enforce = table.get("match", "*"), table.get("enforce", False)
        if not isinstance(match, str) or not _is_match(match):
            raise _Bad(("pool", "match"),
                       f"pool.match must be a glob on key names such as \"capit-*\", not {_shown(match)}.")
        if not isinstance(enforce, bool):
            raise _Bad(("pool", "enforce"), f"pool.enforce must be true or false, not {_shown(enforce)}.")
        try:
            out.append(Pool(period, pool_amount(table["amount"], f"the {period} pool"), match, enforce))
        except ValueError as bad:
            raise _Bad(("pool", "amount"), f"{bad}.") from None
    try:
        return one_per_period(out)
    except ValueError as bad:
        raise _Bad(("pool",), f"{bad}.") from None


def _shown(value: Any) -> str:
    """A value from the file in a message: quoted, control characters escaped, at most 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _platform_from(name: str, table: dict[str, Any]) -> PlatformConfig:
    where = ("platforms", name)
    if not NAME_RE.match(name):
        raise _Bad(where, f"platform name {_shown(name)} must be lower-case letters, digits, - or _.")
    preset = PRESETS.get(name)
    kind = table.get("kind", preset.kind if preset else None)
    if kind not in KINDS:
        raise _Bad((*where, "kind"), f"[platforms.{name}] needs kind = \"openrouter\", \"oneapi\" or \"litellm\".")
    base_url = table.get("base_url", preset.base_url if preset else None)
    if not isinstance(base_url, str) or not re.match(r"^https?://", base_url):
        raise _Bad((*where, "base_url"), f"[platforms.{name}] needs a base_url starting with http:// or https://.")
    q = table.get("quota_per_usd", preset.quota_per_usd if preset else (500_000 if kind == "oneapi" else None))
    if q is not None and (not isinstance(q, int) or isinstance(q, bool) or q <= 0):
        raise _Bad((*where, "quota_per_usd"), f"[platforms.{name}] quota_per_usd must be a positive whole number.")
    user_id = table.get("user_id")
    allow_http = table.get("allow_http", False)
    if not isinstance(allow_http, bool):
        raise _Bad((*where, "allow_http"), f"[platforms.{name}] allow_http must be true or false.")
    return PlatformConfig(name=name, kind=kind, base_url=base_url.rstrip("/"), quota_per_usd=q,
                          user_id=str(user_id) if user_id is not None else None,
                          manage_url=str(table.get("manage_url", preset.manage_url if preset else "")),
                          allow_http=allow_http)


# ---------------------------------------------------------------- [keymap]

_MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")
_KEY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def key_syntax_ok(key: str) -> bool:
    """`ctrl+d`, `f2`, `delete`, `G`, `?`: modifiers joined by +, then one key name or one character."""
    *mods, name = key.split("+") if key != "+" else [key]
    if any(m not in _MODIFIERS for m in mods):
        return False
    return (len(name) == 1 and name.isprintable() and not name.isspace() and name != ",") or bool(_KEY_NAME.match(name))


def check_keymap(s: Settings, known_ids: Collection[str],
                 is_key: Callable[[str], bool] = lambda _k: True) -> tuple[dict[str, str], list[str]]:
    """The [keymap] entries to apply (binding id -> "key,key"), and one sentence for each entry that is not
    applied: an id no binding has, or keys that are not a comma-separated list of key names (`is_key` is the
    front end's own test of a name, beside the syntax checked here). A bad entry never stops the app."""
    good: dict[str, str] = {}
    problems = list(s.keymap_problems)
    for e in s.keymap:
        at = f"{s.path}{f', line {e.line}' if e.line else ''}"
        if e.binding_id not in known_ids:
            problems.append(f"{at}: no key binding has the id {_shown(e.binding_id)} (press ? for the ids); "
                            "ignored.")
            continue
        keys = [k.strip() for k in e.keys.split(",")] if isinstance(e.keys, str) else []
        bad = [k for k in keys if not (k and key_syntax_ok(k) and is_key(k))]
        if not keys or bad:
            what = f"{_shown(bad[0])} is not a key name" if bad else "it must be a string of keys"
            problems.append(f"{at}: keymap {_shown(e.binding_id)}: {what} (write e.g. \"ctrl+d\" or "
                            "\"d,delete\"); ignored.")
            continue
        good[e.binding_id] = ",".join(keys)
    return good, problems


# ---------------------------------------------------------------- writing: only what changed, checked, locked

_FIELDS = ("kind", "base_url", "quota_per_usd", "user_id", "manage_url", "allow_http")


def _edit(path: Path | None, change: Callable[[str], str]) -> Path:
    """Apply `change` to the file's text under the lock: a file with a wrong value is refused with its line
    before anything is written; the result is read back and written atomically, 0600, through a symlink."""
    from capit_tui.core import lock
    from capit_tui.core.settings_toml import Unsupported

    path = path or settings_path()
    with lock.held("saving its settings"):
        ensure_private_dir(path.parent)
        target = Path(os.path.realpath(path)) if path.is_symlink() else path
        old = _read(target) if target.exists() else ""
        parse(old, path)
        try:
            new = change(old)
        except Unsupported as exc:
            raise SettingsError(f"{path}: capit-tui cannot make this change without touching other lines ({exc}). "
                                "Edit the file by hand; capit-tui changed nothing.") from None
        if new != old:
            parse(new, path)
            atomic_write(target, new.encode("utf-8"), mode=0o600)
    return path


def _platform_edit(text: str, cfg: PlatformConfig) -> str:
    import tomllib

    from capit_tui.core.settings_toml import add_table, delete_value, set_value

    table = ("platforms", cfg.name)
    values = {f: getattr(cfg, f) for f in _FIELDS}
    current = tomllib.loads(text).get("platforms", {}).get(cfg.name)
    if current is None:
        return add_table(text, table, {f: v for f, v in values.items() if v not in (None, "", False)})
    was = _platform_from(cfg.name, current)
    for f, v in values.items():
        if getattr(was, f) == v:
            continue
        text = delete_value(text, (*table, f)) if v in (None, "", False) else set_value(text, table, f, v)
    return text


def put_platform(cfg: PlatformConfig, path: Path | None = None) -> Path:
    """Write one platform into settings.toml: the values that changed, in place, or a new table at the end."""
    return _edit(path, lambda text: _platform_edit(text, cfg))


def drop_platform(name: str, path: Path | None = None) -> Path:
    """Take one platform's table out of settings.toml; everything else stays as it was."""
    from capit_tui.core.settings_toml import remove_table

    return _edit(path, lambda text: remove_table(text, ("platforms", name)))


def save(s: Settings, path: Path | None = None) -> Path:
    """Make settings.toml say what `s` says (defaults and platforms), changing only what differs."""

    from capit_tui.core.settings_toml import remove_table, set_value

    def change(text: str) -> str:
        was = parse(text, path or settings_path())
        if was.default_reset != s.default_reset:
            text = set_value(text, ("defaults",), "reset", s.default_reset or "never")
        if was.refresh_interval != s.refresh_interval:
            interval = s.refresh_interval
            text = set_value(text, ("defaults",), "refresh_interval",
                             int(interval) if float(interval).is_integer() else interval)
        for cfg in s.platforms.values():
            text = _platform_edit(text, cfg)
        for name in was.platforms:
            if name not in s.platforms:
                text = remove_table(text, ("platforms", name))
        return text

    return _edit(path or s.path, change)
