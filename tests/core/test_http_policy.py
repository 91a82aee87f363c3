"""HTTPS only off loopback (issue 9, item 10): a plain http:// base URL to another machine is refused with a
sentence unless the user opts in (`platforms add --allow-http`, kept as allow_http = true; or
CAPIT_<NAME>_ALLOW_HTTP=1), and then warned about on every run. Loopback http stays silent.

The "other machine" in these tests is a made-up name (gw.capit.test) whose requests an in-process transport
forwards to the sandbox on loopback, so the whole path runs, through make_platform, without a network.
"""

from __future__ import annotations

import asyncio
import io
import sys
import tomllib

import pytest
from transports import rerouted

from capit_tui import platforms as platforms_mod
from capit_tui.cli import main
from capit_tui.core import http_policy, settings
from capit_tui.core import platform_setup as setup
from capit_tui.core.keys import Configured, list_keys_on
from capit_tui.core.settings import PlatformConfig, SettingsError
from capit_tui.platforms.base import PlainHttpRefused
from capit_tui.platforms.openrouter import OpenRouterPlatform
from capit_tui.platforms.transport import HttpTransport, Reply, Request
from capit_tui.sandbox import Sandbox

REMOTE = "http://gw.capit.test/api/v1"


class ToSandbox:
    """Every request, whatever its host, answered by the sandbox; `seen` records where each was addressed."""

    def __init__(self, sb: Sandbox):
        self.origin = sb.base_url.split("/api/", 1)[0]
        self.seen: list[str] = []
        self.inner = HttpTransport()

    def handle(self, request: Request) -> Reply:
        self.seen.append(request.url)
        return self.inner.handle(rerouted(request, self.origin))

    def close(self) -> None:
        pass  # shared by every adapter of the test: its connections close with the process


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def transport(sandbox, monkeypatch):
    """Every adapter the code builds (through make_platform, policy and all) talks to the sandbox."""
    t = ToSandbox(sandbox)
    real = platforms_mod.make_platform
    monkeypatch.setattr(platforms_mod, "make_platform", lambda cfg, key, **kw: real(cfg, key, **{"transport": t, **kw}))
    return t


@pytest.fixture(autouse=True)
def fresh_warnings():
    http_policy.warnings.reset()
    yield
    http_policy.warnings.reset()


def run(argv: list[str], monkeypatch, capsys, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------- the rule


@pytest.mark.parametrize("url", ["http://127.0.0.1:8787/api/v1", "http://127.3.4.5", "http://[::1]:9/x",
                                 "http://localhost:8080", "http://LOCALHOST.", "http://[::ffff:127.0.0.1]:1",
                                 "https://gw.example.com", "https://10.0.0.1"])
def test_https_and_loopback_pass_silently(url):
    assert http_policy.check("gw", url, False) is None
    assert http_policy.warnings.seen == []


@pytest.mark.parametrize("url", ["http://gw.example.com", "http://10.0.0.1:3000", "http://0.0.0.0:8787",
                                 "http://[2001:db8::1]/v1", "http://127.0.0.1.nip.io", "http://localhost.evil.example",
                                 "http://127.0.0.1@evil.example/", "HTTP://gw.example.com"])
def test_plain_http_elsewhere_is_refused_with_a_sentence(url):
    with pytest.raises(http_policy.PlainHttpRefused) as err:
        http_policy.check("gw", url, False)
    text = str(err.value)
    assert "plain HTTP" in text and "--allow-http" in text and "CAPIT_GW_ALLOW_HTTP=1" in text
    assert http_policy.check("gw", url, True) is not None  # allowed on purpose: a warning instead


def test_an_adapter_never_sends_a_refused_request(sandbox):
    t = ToSandbox(sandbox)
    p = OpenRouterPlatform("gw", REMOTE, sandbox.management_key, transport=t)  # built directly, no make_platform
    with pytest.raises(PlainHttpRefused, match="plain HTTP"):
        asyncio.run(p.list_keys())
    with pytest.raises(PlainHttpRefused):
        asyncio.run(p.create_key("x", None, None))
    assert t.seen == [] and p.requests_sent == 0

    allowed = OpenRouterPlatform("gw", REMOTE, sandbox.management_key, transport=t, allow_http=True)
    assert asyncio.run(allowed.list_keys()) == []
    assert t.seen and t.seen[0].startswith(REMOTE)
    assert allowed.warnings == http_policy.warnings.seen and "gw uses plain HTTP" in allowed.warnings[0]


def test_a_refused_platform_is_one_error_among_others_in_a_listing(sandbox):
    """What the TUI's refresh shows: the refused platform's sentence, the other platforms' keys."""
    sandbox.add_key("kept")
    good = Configured(PlatformConfig("openrouter", "openrouter", sandbox.base_url), "env", sandbox.management_key)
    bad = Configured(PlatformConfig("gw", "openrouter", REMOTE), "env", sandbox.management_key)

    async def listing():
        opened = [good.open(), bad.open()]
        try:
            return await list_keys_on(opened)
        finally:
            for p in opened:
                await p.aclose()

    got = asyncio.run(listing())
    assert [k.name for k in got.keys] == ["kept"]
    assert "plain HTTP" in str(got.errors["gw"])


def test_warnings_hook_replays_once_and_resets():
    heard: list[str] = []
    http_policy.check("a", "http://a.example", True)
    http_policy.check("a", "http://a.example", True)
    unsubscribe = http_policy.warnings.subscribe(heard.append)
    http_policy.check("b", "http://b.example", True)
    http_policy.check("b", "http://b.example", True)
    assert [w.split(" ")[0] for w in heard] == ["a", "b"]
    http_policy.warnings.reset()
    http_policy.check("a", "http://a.example", True)
    assert len(heard) == 3
    unsubscribe()
    http_policy.check("c", "http://c.example", True)
    assert len(heard) == 3


def test_settings_keep_allow_http_and_refuse_a_non_boolean():
    s = settings.Settings(platforms={"gw": PlatformConfig("gw", "oneapi", "http://gw.example", 1000,
                                                          allow_http=True)})
    path = settings.save(s)
    assert tomllib.loads(path.read_text())["platforms"]["gw"]["allow_http"] is True
    assert settings.load().platforms["gw"].allow_http is True
    path.write_text("[platforms.gw]\nkind = 'oneapi'\nbase_url = 'http://gw.example'\nallow_http = 'yes'\n")
    with pytest.raises(SettingsError, match="allow_http"):
        settings.load()


def test_resolve_refuses_before_a_key_is_asked_for(monkeypatch):
    with pytest.raises(setup.SetupError, match="plain HTTP"):
        setup.resolve(settings.Settings(), "gw", kind="oneapi", base_url="http://gw.example")
    cfg = setup.resolve(settings.Settings(), "gw", kind="oneapi", base_url="http://gw.example", allow_http=True)
    assert cfg.allow_http and http_policy.warnings.seen
    monkeypatch.setenv("CAPIT_GW2_ALLOW_HTTP", "1")
    assert setup.resolve(settings.Settings(), "gw2", kind="oneapi", base_url="http://gw.example").allow_http
    assert not setup.resolve(settings.Settings(), "lo", kind="oneapi", base_url="http://127.0.0.1:9").allow_http


# ---------------------------------------------------------------- `platforms add`


def test_platforms_add_with_http_elsewhere_is_refused(transport, sandbox, monkeypatch, capsys, isolated_home):
    code, out, err = run(["platforms", "add", "gw", "--kind", "openrouter", "--base-url", REMOTE], monkeypatch,
                         capsys, stdin=sandbox.management_key + "\n")
    assert code == 2
    assert "plain HTTP" in err and "--allow-http" in err and "Management key" not in err
    assert sandbox.management_key not in out + err
    assert transport.seen == []
    assert not settings.settings_path().exists()


def test_platforms_add_allow_http_is_kept_and_warned_about_every_run(transport, sandbox, monkeypatch, capsys):
    code, out, err = run(["platforms", "add", "gw", "--kind", "openrouter", "--base-url", REMOTE, "--allow-http"],
                         monkeypatch, capsys, stdin=sandbox.management_key + "\n")
    assert code == 0, err
    assert err.count("capit-tui: warning: gw uses plain HTTP") == 1  # once in the command
    assert err.index("warning:") < err.index("Paste a management key")  # before the key is asked for
    assert transport.seen and all(u.startswith(REMOTE) for u in transport.seen)
    saved = tomllib.loads(settings.settings_path().read_text())["platforms"]["gw"]
    assert saved["allow_http"] is True and saved["base_url"] == REMOTE

    code, out, err = run(["keys", "list", "--platform", "gw"], monkeypatch, capsys)
    assert code == 0, err
    assert err.count("capit-tui: warning: gw uses plain HTTP") == 1  # the next run says it again
    code, out, err = run(["platforms", "test", "gw"], monkeypatch, capsys)
    assert code == 0 and "management key OK" in out and err.count("warning: gw uses plain HTTP") == 1


# ---------------------------------------------------------------- the environment


def test_env_base_url_over_http_is_refused_without_its_opt_in(transport, sandbox, monkeypatch, capsys):
    monkeypatch.setenv("CAPIT_OPENROUTER_BASE_URL", REMOTE)
    monkeypatch.setenv("CAPIT_OPENROUTER_MANAGEMENT_KEY", sandbox.management_key)
    code, out, err = run(["openrouter", "5"], monkeypatch, capsys)
    assert code == 1 and "CAPIT_OPENROUTER_ALLOW_HTTP=1" in err
    code, out, err = run(["keys", "list"], monkeypatch, capsys)
    assert code == 1 and "openrouter: capit-tui will not send openrouter's management key over plain HTTP" in err
    assert transport.seen == []
    assert sandbox.management_key not in out + err

    monkeypatch.setenv("CAPIT_OPENROUTER_ALLOW_HTTP", "1")
    code, out, err = run(["keys", "list"], monkeypatch, capsys)
    assert code == 0, err
    assert err.count("capit-tui: warning: openrouter uses plain HTTP") == 1
    assert transport.seen


def test_loopback_http_is_silent(sandbox, monkeypatch, capsys):
    monkeypatch.setenv("CAPIT_OPENROUTER_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("CAPIT_OPENROUTER_MANAGEMENT_KEY", sandbox.management_key)
    assert sandbox.base_url.startswith("http://127.0.0.1")
    code, out, err = run(["keys", "list"], monkeypatch, capsys)
    assert code == 0 and "warning" not in err
    code, out, err = run(["platforms", "add", "lo", "--kind", "openrouter", "--base-url", sandbox.base_url],
                         monkeypatch, capsys, stdin=sandbox.management_key + "\n")
    assert code == 0 and "warning" not in err
    assert "allow_http" not in settings.settings_path().read_text()
