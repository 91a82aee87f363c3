import os
import stat

import pytest

from capit_tui.core import settings, vault
from capit_tui.core.settings import PlatformConfig, Settings, SettingsError

MGMT = "sk-or-v1-" + "9" * 64


def test_presets_and_env_base_url(monkeypatch):
    s = settings.load()
    assert s.platform("openrouter").base_url == "https://openrouter.ai/api/v1"
    monkeypatch.setenv("CAPIT_OPENROUTER_BASE_URL", "http://127.0.0.1:9/api/v1/")
    assert s.platform("openrouter").base_url == "http://127.0.0.1:9/api/v1"
    assert s.platform("aihubmix").kind == "oneapi"


def test_settings_round_trip_is_private(isolated_home):
    s = Settings(platforms={"gw": PlatformConfig("gw", "oneapi", "https://gw.example", quota_per_usd=1000)},
                 default_reset="weekly", refresh_interval=10)
    path = settings.save(s)
    assert path.is_relative_to(isolated_home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    back = settings.load()
    assert back.platforms["gw"].quota_per_usd == 1000
    assert back.default_reset == "weekly" and back.refresh_interval == 10


@pytest.mark.parametrize("body,fragment", [
    ("[defaults\nreset=", "not valid TOML"),
    ("[defaults]\nreset = 'hourly'", "defaults.reset"),
    ("[defaults]\nrefresh_interval = 0", "refresh_interval"),
    ("[platforms.x]\nkind = 'nope'\nbase_url='http://a'", "kind"),
    ("[platforms.x]\nkind = 'oneapi'\nbase_url='ftp://a'", "base_url"),
])
def test_bad_settings_are_refused_with_the_path(body, fragment):
    p = settings.settings_path()
    p.parent.mkdir(parents=True)
    p.write_text(body)
    with pytest.raises(SettingsError) as err:
        settings.load()
    assert fragment in str(err.value) and str(p) in str(err.value)


def test_vault_env_beats_keyring(monkeypatch):
    assert vault.lookup("openrouter") is None
    vault.store("openrouter", MGMT)
    assert vault.lookup("openrouter").source == "keyring"
    monkeypatch.setenv("CAPIT_OPENROUTER_MANAGEMENT_KEY", "sk-or-v1-env")
    found = vault.lookup("openrouter")
    assert found.source == "env" and found.key == "sk-or-v1-env"
    assert MGMT not in repr(vault.lookup("openrouter"))


def test_vault_without_keyring_needs_consent(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    import keyring.core

    keyring.core._keyring_backend = None
    with pytest.raises(vault.NoKeyringError, match="--store-in-file"):
        vault.store("openrouter", MGMT)
    assert not vault.credentials_path().exists()
    where = vault.store("openrouter", MGMT, allow_file=True)
    path = vault.credentials_path()
    assert str(path) in where
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert vault.lookup("openrouter").source == "file"
    assert vault.remove("openrouter") == [str(path)]
    assert vault.lookup("openrouter") is None


def test_vault_refuses_blank_keys():
    with pytest.raises(vault.VaultError):
        vault.store("openrouter", "  ")
    with pytest.raises(vault.VaultError):
        vault.store("openrouter", "sk-or-v1 with space")


def test_fake_keyring_is_in_use_not_the_real_one():
    import keyring

    assert type(keyring.get_keyring()).__name__ == "FileKeyring"
    assert os.environ["HOME"].endswith("home")
