"""What the headless `keys list` path leaves out at start-up: httpx's own command-line client (click,
rich, pygments), the CA file for a plain http:// base URL, tomlkit (settings are only read; with no
settings or credentials file, not even tomllib), the agents, backups and recovery modules (a listing
skips the housekeeping, and asking whether anything needs recovering is the journal's) and the cycle
collector's passes; and that an https:// one still checks certificates."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys

from capit_tui.platforms.base import _verify_for
from capit_tui.sandbox import Sandbox

LEFT_OUT = ("tomlkit", "tomllib", "capit_tui.core.settings_toml", "capit_tui.agents", "capit_tui.core.backups", "capit_tui.core.recovery",
            "capit_tui.core.leftovers", "capit_tui.edits",
            # pools only for a settings file with [[pool]]; `secrets` only when a journal entry is written
            "capit_tui.core.pool", "capit_tui.core.spend_watch", "secrets")


def test_keys_list_loads_no_toml_agents_backups_or_recovery():
    probe = ("import sys\nfrom capit_tui.cli import main\n"
             "assert main(['keys', 'list', '--json']) == 0\n"
             f"print(' '.join(m for m in sys.modules if m.startswith({LEFT_OUT!r})), file=sys.stderr)")
    with Sandbox(seed_keys=3) as sb:
        env = {**os.environ, "CAPIT_OPENROUTER_MANAGEMENT_KEY": sb.management_key,
               "CAPIT_OPENROUTER_BASE_URL": sb.base_url}
        proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count('"id"') == 3
    assert proc.stderr.split() == []


def test_the_platform_layer_does_not_load_httpx_command_line_client():
    probe = ("import sys, capit_tui.platforms.openrouter, httpx\n"
             "print(' '.join(m for m in ('httpx._main', 'click', 'pygments') if sys.modules.get(m) is not None))\n"
             "print(callable(httpx.main))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["", "True"]


def test_plain_http_loads_no_ca_file_and_https_keeps_checking_certificates():
    bare = _verify_for("http://127.0.0.1:8080/api/v1")
    assert isinstance(bare, ssl.SSLContext)
    assert bare.cert_store_stats()["x509_ca"] == 0  # trusts nothing: TLS through it would fail closed
    assert bare.verify_mode == ssl.CERT_REQUIRED and bare.check_hostname
    assert _verify_for("https://openrouter.ai/api/v1") is True  # httpx's default: certifi, verified


def test_keys_list_runs_without_the_cycle_collector_and_puts_it_back(monkeypatch, capsys):
    """A listing pauses the cyclic garbage collector (its collections walk every key and row again and
    again) and turns it back on after; other commands leave it on."""
    import gc

    from capit_tui.cli import main
    from capit_tui.core import keys as core_keys

    seen: list[bool] = []
    listed = core_keys.list_all_keys

    async def spied(*args, **kwargs):
        seen.append(gc.isenabled())
        return await listed(*args, **kwargs)

    monkeypatch.setattr(core_keys, "list_all_keys", spied)
    with Sandbox(seed_keys=300) as sb:
        monkeypatch.setenv("CAPIT_OPENROUTER_MANAGEMENT_KEY", sb.management_key)
        monkeypatch.setenv("CAPIT_OPENROUTER_BASE_URL", sb.base_url)
        assert main(["keys", "list", "--json"]) == 0 and gc.isenabled()
        assert main(["keys", "list"]) == 0 and gc.isenabled()
        assert main(["keys", "disable", "no-such-key-anywhere", "--yes"]) == 1 and gc.isenabled()
    assert capsys.readouterr().out.count('"id"') == 300
    assert seen == [False, False, True]  # the two listings without it; `keys disable` lists with it on
