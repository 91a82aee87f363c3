"""Management keys: the OS keyring (service "capit-tui"), else a 0600 file only with consent.

Lookup order for a platform's management key:
1. CAPIT_<PLATFORM>_MANAGEMENT_KEY in the environment (scripts, CI);
2. the OS keyring;
3. the consented file store, <config dir>/credentials.toml (0600 in a 0700 folder).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from capit_tui.core import lock
from capit_tui.core.fsutil import atomic_write, ensure_private_dir
from capit_tui.core.settings import config_dir, env_prefix
from capit_tui.errors import CapitError

SERVICE = "capit-tui"


class VaultError(CapitError):
    """A management key could not be stored or read; the message says why and what to do."""


class NoKeyringError(VaultError):
    pass


@dataclass(frozen=True)
class Found:
    key: str
    source: str  # "env" | "keyring" | "file"

    def __repr__(self) -> str:
        return f"Found(source={self.source!r})"


def env_var(platform: str) -> str:
    return f"{env_prefix(platform)}_MANAGEMENT_KEY"


def credentials_path() -> Path:
    return config_dir() / "credentials.toml"


def _username(platform: str) -> str:
    return f"{platform}:management-key"


def keyring_status() -> tuple[bool, str]:
    """(usable, backend description). Usable means a real backend, not the fail/null one."""
    if os.environ.get("CAPIT_NO_KEYRING"):
        return False, "the keyring is switched off (CAPIT_NO_KEYRING)"
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
    except Exception as exc:  # a broken keyring install must not crash capit-tui
        return False, f"keyring unavailable ({type(exc).__name__})"
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if isinstance(backend, fail.Keyring) or "null" in type(backend).__module__:
        return False, "no keyring backend on this system"
    return True, name


def lookup(platform: str) -> Found | None:
    value = os.environ.get(env_var(platform), "").strip()
    if value:
        return Found(value, "env")
    usable, _ = keyring_status()
    if usable:
        try:
            import keyring

            value = keyring.get_password(SERVICE, _username(platform)) or ""
        except Exception:
            value = ""
        if value:
            return Found(value, "keyring")
    value = _read_file().get(platform, "")
    if value:
        return Found(value, "file")
    return None


def store(platform: str, key: str, *, allow_file: bool = False) -> str:
    """Store in the keyring; into the 0600 file only if allow_file. Returns a description of where."""
    if not key or any(ch.isspace() for ch in key):
        raise VaultError("The management key is empty or contains spaces; paste it again.")
    usable, why = keyring_status()
    if usable:
        try:
            import keyring

            keyring.set_password(SERVICE, _username(platform), key)
            _remove_from_file(platform)
            return "the system keyring"
        except Exception as exc:
            if not allow_file:
                raise NoKeyringError(
                    f"The system keyring refused to store the key ({type(exc).__name__}). Unlock it and "
                    "try again, or pass --store-in-file to keep it in a file only you can read.") from None
    elif not allow_file:
        raise NoKeyringError(
            f"There is no system keyring here ({why}). Pass --store-in-file to keep the key in "
            f"{credentials_path()} (readable only by you), or set {env_var(platform)} instead.")
    with lock.held("storing a management key"):
        data = _read_file()
        data[platform] = key
        _write_file(data)
    return f"{credentials_path()} (mode 0600)"


def remove(platform: str) -> list[str]:
    """Forget the stored key everywhere we store it. Returns where it was removed from."""
    removed: list[str] = []
    usable, _ = keyring_status()
    if usable:
        try:
            import keyring

            if keyring.get_password(SERVICE, _username(platform)):
                keyring.delete_password(SERVICE, _username(platform))
                removed.append("the system keyring")
        except Exception:
            pass
    if _remove_from_file(platform):
        removed.append(str(credentials_path()))
    return removed


def _read_file() -> dict[str, str]:
    path = credentials_path()
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise VaultError(f"Could not read {path}: {exc.strerror}.") from None
    import tomllib  # here, not with the module: without a credentials file no command needs it

    try:
        doc = tomllib.loads(raw)
    except tomllib.TOMLDecodeError:
        raise VaultError(f"{path} is not valid TOML; fix or remove it.") from None
    keys = doc.get("management_keys", {})
    return {str(k): str(v) for k, v in keys.items() if isinstance(v, str)} if isinstance(keys, dict) else {}


def _write_file(data: dict[str, str]) -> None:
    import tomli_w

    path = credentials_path()
    ensure_private_dir(path.parent)
    body = "# capit-tui management keys, stored here because no system keyring was available.\n"
    body += tomli_w.dumps({"management_keys": data}) if data else ""
    atomic_write(path, body.encode("utf-8"), mode=0o600)


def _remove_from_file(platform: str) -> bool:
    if not credentials_path().exists():
        return False
    with lock.held("removing a management key"):
        data = _read_file()
        if platform not in data:
            return False
        del data[platform]
        _write_file(data)
    return True
