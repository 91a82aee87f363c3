"""What the headless `keys list` path leaves out at start-up: any third-party HTTP client (httpx,
httpcore, anyio), the CA file for a plain http:// base URL, tomlkit (settings are only read; with no
settings or credentials file, not even tomllib), the agents, backups and recovery modules (a listing
skips the housekeeping, and asking whether anything needs recovering is the journal's) and the cycle
collector's passes; and that an https:// one still checks certificates."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys

from capit_tui.platforms.transport import HttpTransport, Request, tls_context
from capit_tui.sandbox import Sandbox

LEFT_OUT = ("tomlkit", "tomllib", "capit_tui.core.settings_toml", "capit_tui.agents", "capit_tui.core.backups", "capit_tui.core.recovery",
            "capit_tui.core.leftovers", "capit_tui.edits",
            # pools only for a settings file with [[pool]]; `secrets` only when a journal entry is written
            "capit_tui.core.pool", "capit_tui.core.spend_watch", "secrets")


def loaded_by_keys_list(prefixes: tuple[str, ...]) -> list[str]:
    """The modules whose names start with one of `prefixes` that a `keys list --json` of 3 keys has loaded."""
    probe = ("import sys\nfrom capit_tui.cli import main\n"
             "assert main(['keys', 'list', '--json']) == 0\n"
             f"print(' '.join(m for m in sys.modules if m.startswith({prefixes!r})), file=sys.stderr)")
    with Sandbox(seed_keys=3) as sb:
        env = {**os.environ, "CAPIT_OPENROUTER_MANAGEMENT_KEY": sb.management_key,
               "CAPIT_OPENROUTER_BASE_URL": sb.base_url}
        proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count('"id"') == 3
    return proc.stderr.split()


def test_keys_list_loads_no_toml_agents_backups_or_recovery():
    assert loaded_by_keys_list(LEFT_OUT) == []


def test_keys_list_loads_no_async_http_client_and_no_ca_file_for_plain_http():
    """The one transport is the standard library's http.client: httpx, httpcore, anyio and h11 (a fifth of a
    1 000-key listing's time, bench/RESULTS.md §0) are not loaded, nor certifi's CA file for a loopback URL, nor
    the idna codec for an ASCII host name."""
    assert loaded_by_keys_list(("httpx", "httpcore", "anyio", "h11", "certifi", "encodings.idna")) == []


def test_plain_http_makes_no_tls_context_and_https_checks_certificates():
    with Sandbox(seed_keys=1) as sb:
        t = HttpTransport()
        reply = t.handle(Request.build("GET", sb.base_url, "/keys",
                                       headers={"Authorization": f"Bearer {sb.management_key}"}))
        t.close()
    assert reply.status_code == 200
    assert t._tls is None  # no CA file read for http://
    ctx = tls_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] > 0  # certifi's bundle (or the system's): certificates are checked


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
