"""Platform faults: the sandbox answers 429 with Retry-After, 5xx, stalls past the client timeout,
sends a page that is not JSON, resets or drops the connection, or fails a page mid-way through paging.

The CLI (a subprocess: keys list, issue, issue --agent, keys revoke) and the TUI (pilot: refresh,
revoke, the new-key form and review) must end each with the right result or a clear error: never a
traceback, never a half-applied install (the files unchanged, no backup claimed, no key left on the
sandbox), and a create is never retried blindly.

The client timeout is CAPIT_HTTP_TIMEOUT (seconds), kept short here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from capit_tui.core.backups import BackupStore
from capit_tui.core.keys import Configured
from capit_tui.core.ledger import Ledger
from capit_tui.core.settings import PlatformConfig
from capit_tui.platforms.http import RetryPolicy
from capit_tui.platforms.transport import HttpTransport, Reply, Request
from capit_tui.sandbox import Sandbox

TIMEOUT = 0.5  # CAPIT_HTTP_TIMEOUT for every run here
STALL = 1.5  # a stall outlives the client's timeout


@pytest.fixture
def sb():
    with Sandbox() as s:
        yield s


def on(sb: Sandbox) -> dict[str, str]:
    return {"CAPIT_OPENROUTER_BASE_URL": sb.base_url, "CAPIT_OPENROUTER_MANAGEMENT_KEY": sb.management_key,
            "CAPIT_HTTP_TIMEOUT": str(TIMEOUT)}


def cli(sb: Sandbox, *args: str, input: str = "") -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "capit_tui", *args], input=input, capture_output=True,
                          text=True, env={**os.environ, **on(sb)}, timeout=60)
    for stream in (proc.stdout, proc.stderr):
        assert "Traceback" not in stream, stream
        assert "failed unexpectedly" not in stream, stream
    return proc


def clear_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    """Exit 1 and one `capit-tui: ...` line that explains, in words (no exception names)."""
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("capit-tui: ")]
    assert errors, proc.stderr
    text = " ".join(errors)
    for bad in ("Error:", "Exception", "httpx", "httpcore", "Errno", "<html", "\x1b"):
        assert bad not in text, text
    for w in words:
        assert w in text, text
    return text


def key_names(sb: Sandbox) -> set[str]:
    return {k["name"] for k in sb.keys.values()}


def posts(sb: Sandbox, path: str = "/api/v1/keys") -> int:
    return sum(1 for r in sb.requests if r.method == "POST" and r.path == path)


def wait_for_stall(sb: Sandbox) -> None:
    """Let a stalled request finish on the server (it is processed after the stall)."""
    time.sleep(STALL + 0.3)


def assert_stalled_key_accounted_for(sb: Sandbox, text: str, name: str) -> None:
    left = key_names(sb)
    if left:
        assert left == {name}
        assert f"'{name}'" in text and "keys list" in text and "No key was created." not in text, text
    else:
        assert "half-made key was found and deleted" in text, text


# ---------------------------------------------------------------- CLI: keys list


TRANSIENT = [
    pytest.param({"kind": "429", "retry_after": 1}, id="429-retry-after"),
    pytest.param({"kind": "500"}, id="500"),
    pytest.param({"kind": "503"}, id="503"),
    pytest.param({"kind": "stall", "stall_seconds": STALL}, id="stall"),
    pytest.param({"kind": "reset"}, id="reset"),
    pytest.param({"kind": "drop"}, id="drop"),
]


@pytest.mark.parametrize("fault", TRANSIENT)
def test_cli_keys_list_rides_out_one_fault(sb, fault):
    for i in range(3):
        sb.add_key(f"k{i}", limit=Decimal(5))
    fault = dict(fault)
    # A first listing remembers the count, so the one below asks for the one page there is: the fault lands on
    # it, not on a page asked for ahead (requests run at once, and which reaches the sandbox first varies).
    assert cli(sb, "keys", "list", "--json").returncode == 0
    seen = len(sb.requests)
    sb.inject_fault("GET /api/v1/keys*", fault.pop("kind"), times=1, **fault)
    started = time.monotonic()
    p = cli(sb, "keys", "list", "--json")
    assert p.returncode == 0, p.stderr
    assert {k["name"] for k in json.loads(p.stdout)} == {"k0", "k1", "k2"}
    if "retry_after" in fault:
        assert time.monotonic() - started >= 1.0  # Retry-After was honoured
        gets = [r.at for r in sb.requests[seen:] if r.path == "/api/v1/keys"]
        assert (max(gets) - min(gets)).total_seconds() >= 0.9  # the refused page was asked again later


@pytest.mark.parametrize("kind,words", [
    ("notjson", ["not JSON"]),
    ("401", ["rejected the management key"]),
    ("500", ["server error (500)"]),
])
def test_cli_keys_list_lasting_fault_is_a_clear_error(sb, kind, words):
    sb.add_key("k0")
    sb.inject_fault("GET /api/v1/keys*", kind, times=0)
    p = cli(sb, "keys", "list")
    clear_error(p, "openrouter", *words)
    assert p.stdout == ""  # no table that could pass for the whole list


def test_cli_keys_list_page_failing_mid_way(sb):
    for i in range(250):
        sb.add_key(f"k{i:03}")
    # one page fails once: retried, and the list is whole (no key twice, none missing)
    sb.inject_fault("GET /api/v1/keys*", "500", times=1, after=2)
    p = cli(sb, "keys", "list", "--json")
    assert p.returncode == 0, p.stderr
    names = [k["name"] for k in json.loads(p.stdout)]
    assert len(names) == 250 and set(names) == {f"k{i:03}" for i in range(250)}
    # pages after the first keep failing: an error, and no partial list passed off as complete
    sb.clear_faults()
    sb.inject_fault("GET /api/v1/keys*", "500", times=0, after=1)
    p = cli(sb, "keys", "list")
    clear_error(p, "openrouter", "server error")
    assert p.stdout == ""
    sb.clear_faults()
    sb.inject_fault("GET /api/v1/keys*", "notjson", times=0, after=2)
    p = cli(sb, "keys", "list", "--json")
    clear_error(p, "not JSON")
    answer = json.loads(p.stdout)  # an error object, never an empty list that reads as "no keys"
    assert answer["error"].startswith("Could not load") and answer["platforms"][0]["name"] == "openrouter"


# ---------------------------------------------------------------- CLI: issue


def test_cli_issue_429_waits_and_issues_once(sb):
    sb.inject_fault("POST /api/v1/keys", "429", times=1, retry_after=1)
    p = cli(sb, "openrouter", "5", "--name", "after-429")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().startswith("sk-or-v1-")
    assert key_names(sb) == {"after-429"}


@pytest.mark.parametrize("kind,words", [
    ("500", ["server error (500)"]),
    ("502", ["server error (502)"]),
    ("notjson", ["not JSON"]),
    ("reset", ["connection was reset"]),
    ("drop", ["connection was dropped"]),
    ("401", ["rejected the management key"]),
])
def test_cli_issue_fault_is_a_clear_error_and_issues_nothing(sb, kind, words):
    sb.inject_fault("POST /api/v1/keys", kind, times=1)
    p = cli(sb, "openrouter", "5", "--name", "faulty")
    clear_error(p, *words)
    assert p.stdout == ""  # no secret handed over
    assert key_names(sb) == set()
    assert posts(sb) == 1  # a create is never retried blindly


def test_cli_issue_stall_past_the_timeout_is_honest_about_the_key(sb):
    sb.inject_fault("POST /api/v1/keys", "stall", times=1, stall_seconds=STALL)
    p = cli(sb, "openrouter", "5", "--name", "slow-create")
    text = clear_error(p, "did not answer in time")
    assert p.stdout == ""
    assert posts(sb) == 0  # the stalled POST is recorded only once the server answers it
    wait_for_stall(sb)
    # The server made the key after capit-tui gave up (its secret is lost, so it can spend nothing):
    # the message must not claim there is none, and must say which name to look for and where.
    # (Should the clean-up's look come after the stall on a loaded machine, it finds and deletes it.)
    assert_stalled_key_accounted_for(sb, text, "slow-create")


# ---------------------------------------------------------------- CLI: issue into agents (all or nothing)


def agent_files(home: Path) -> dict[str, bytes | None]:
    out = {}
    for rel in (".claude/settings.json", ".codex/config.toml"):
        p = home / rel
        out[rel] = p.read_bytes() if p.exists() else None
    return out


def with_codex(home: Path) -> None:
    (home / ".codex").mkdir()
    (home / ".codex" / "config.toml").write_text('# mine\nmodel = "gpt-5"\n')


INSTALL = ("openrouter", "5", "--name", "inst", "--agent", "claude", "--agent", "codex", "--yes")


def assert_nothing_installed(home: Path, before: dict[str, bytes | None]) -> None:
    assert agent_files(home) == before
    assert BackupStore().list() == []
    assert Ledger().entries() == []
    assert not list(home.rglob("*.capit-tmp"))


@pytest.mark.parametrize("kind", ["500", "notjson", "reset", "drop"])
def test_cli_install_second_create_fails_revokes_the_first(sb, isolated_home, kind):
    with_codex(isolated_home)
    before = agent_files(isolated_home)
    sb.inject_fault("POST /api/v1/keys", kind, times=1, after=1)
    p = cli(sb, *INSTALL)
    text = clear_error(p, "Codex CLI failed", "inst-claude", "was revoked", "No file was changed")
    assert_nothing_installed(isolated_home, before)
    assert key_names(sb) == set(), text  # the first key was revoked: no orphan
    assert posts(sb) == 2


def test_cli_install_stalled_create_leaves_files_and_says_where_the_key_may_be(sb, isolated_home):
    with_codex(isolated_home)
    before = agent_files(isolated_home)
    sb.inject_fault("POST /api/v1/keys", "stall", times=1, after=1, stall_seconds=STALL)
    p = cli(sb, *INSTALL)
    text = clear_error(p, "did not answer in time", "inst-claude", "was revoked", "No file was changed")
    assert_nothing_installed(isolated_home, before)
    wait_for_stall(sb)
    assert_stalled_key_accounted_for(sb, text, "inst-codex")  # made by the server after the timeout


def test_cli_install_rides_out_a_429(sb, isolated_home):
    with_codex(isolated_home)
    sb.inject_fault("POST /api/v1/keys", "429", times=1, retry_after=1)
    p = cli(sb, *INSTALL)
    assert p.returncode == 0, p.stderr
    assert key_names(sb) == {"inst-claude", "inst-codex"}
    assert b"experimental_bearer_token" in (isolated_home / ".codex" / "config.toml").read_bytes()
    assert len(BackupStore().list()) == 1


def test_cli_install_revoke_back_fails_too_names_the_key(sb, isolated_home):
    with_codex(isolated_home)
    before = agent_files(isolated_home)
    sb.inject_fault("POST /api/v1/keys", "500", times=1, after=1)
    sb.inject_fault("DELETE /api/v1/keys/*", "500", times=0)
    p = cli(sb, *INSTALL)
    clear_error(p, "inst-claude could not be revoked", "capit-tui keys revoke", "No file was changed")
    assert_nothing_installed(isolated_home, before)
    assert key_names(sb) == {"inst-claude"}  # left, and the message says so and how to remove it
    sb.clear_faults()
    p = cli(sb, "keys", "list")  # the next start revokes it (the journal kept it), and says so
    assert p.returncode == 0 and "the key inst-claude was revoked" in p.stderr, p.stderr
    assert key_names(sb) == set()


def test_cli_install_backup_cannot_be_made_revokes_and_writes_nothing(sb, isolated_home):
    with_codex(isolated_home)
    before = agent_files(isolated_home)
    data = isolated_home / ".local" / "share" / "capit-tui"
    data.mkdir(parents=True)
    (data / "backups").write_text("a file where the backup folder should be\n")
    p = cli(sb, *INSTALL)
    clear_error(p, "Could not back up", "no file was written", "were revoked")
    assert agent_files(isolated_home) == before
    assert key_names(sb) == set()
    assert Ledger().entries() == []


# ---------------------------------------------------------------- CLI: revoke


def test_cli_revoke_faults(sb):
    sb.add_key("victim")
    sb.add_key("bystander")
    # 429: waited out, then revoked
    sb.inject_fault("DELETE /api/v1/keys/*", "429", times=1, retry_after=1)
    p = cli(sb, "keys", "revoke", "victim", "--yes")
    assert p.returncode == 0, p.stderr
    assert key_names(sb) == {"bystander"}
    # 500 and a reset: not revoked, said so, the key is still there; a second try works
    sb.add_key("victim")
    for kind in ("500", "reset"):
        sb.inject_fault("DELETE /api/v1/keys/*", kind, times=1)
        p = cli(sb, "keys", "revoke", "victim", "--yes")
        clear_error(p, "'victim' on openrouter was not revoked")
        assert key_names(sb) == {"victim", "bystander"}
    # the listing that picks the keys fails: nothing is revoked
    sb.inject_fault("GET /api/v1/keys*", "notjson", times=1)
    p = cli(sb, "keys", "revoke", "victim", "--yes")
    clear_error(p, "Could not list the keys on openrouter, so nothing was revoked")
    assert key_names(sb) == {"victim", "bystander"}
    p = cli(sb, "keys", "revoke", "victim", "--yes")
    assert p.returncode == 0, p.stderr
    assert key_names(sb) == {"bystander"}


# ---------------------------------------------------------------- the not-JSON create reply, for real


class HtmlAfterCreate:
    """Forward to the sandbox; the answer to POST /keys is replaced by a proxy's HTML error page,
    after the key was really created (what a misbehaving proxy in front of the platform does)."""

    def __init__(self) -> None:
        self.inner = HttpTransport()

    def handle(self, request: Request) -> Reply:
        resp = self.inner.handle(request)
        if request.method == "POST" and request.path.endswith("/keys"):
            return Reply(200, headers={"content-type": "text/html"},
                         content=b"<html><body>502 Bad Gateway</body></html>")
        return resp

    def close(self) -> None:
        self.inner.close()


class Via(Configured):
    transport_factory = None
    retry = RetryPolicy(base_delay=0.01)

    def open(self, **kwargs):
        if self.transport_factory is not None:
            kwargs.setdefault("transport", self.transport_factory())
        kwargs.setdefault("retry", self.retry)
        return super().open(**kwargs)


def via(sb: Sandbox, transport_factory=None) -> Via:
    c = Via(PlatformConfig("openrouter", "openrouter", sb.base_url), "env", sb.management_key)
    c.transport_factory = transport_factory
    return c


def test_a_create_answered_with_html_leaves_no_orphan_key(sb, isolated_home):
    import asyncio

    from capit_tui import agents as agents_mod
    from capit_tui.core.install import InstallError, execute, preview
    from capit_tui.core.keys import issue_key
    from capit_tui.platforms.base import PlatformError

    with pytest.raises(PlatformError) as err:
        asyncio.run(issue_key(via(sb, HtmlAfterCreate), "proxied", Decimal(1), None))
    assert "not JSON" in str(err.value)
    assert key_names(sb) == set(), "the key made behind the proxy's error page was left on the platform"
    with_codex(isolated_home)
    before = agent_files(isolated_home)
    pv = preview(via(sb, HtmlAfterCreate), [agents_mod.get("claude"), agents_mod.get("codex")], name="px")
    with pytest.raises(InstallError):
        asyncio.run(execute(pv, Decimal(5), "monthly"))
    assert key_names(sb) == set()
    assert_nothing_installed(isolated_home, before)


# ---------------------------------------------------------------- TUI


@pytest.fixture
def tui_env(monkeypatch):
    from tui_support import no_blink

    no_blink(monkeypatch)
    monkeypatch.setenv("CAPIT_HTTP_TIMEOUT", str(TIMEOUT))


@pytest.fixture
def tsb():
    from tui_support import sandbox

    s = sandbox()
    yield s
    s.stop()


def tui_app(sb: Sandbox, home: Path):
    """The app of tests/support/tui_support.py, with fast retries (the backoff is not what is tested here)."""
    from tui_support import TODAY, fixed_clock

    from capit_tui.core.settings import Settings
    from capit_tui.tui.app import CapitApp

    return CapitApp(platforms=[via(sb)], settings=Settings(), clock=fixed_clock, today=TODAY, auto_refresh=False,
                    agent_env={"HOME": str(home), "PATH": "/nonexistent"})


def status(app) -> str:
    return str(app.screen.query_one("#status").render())


def row_count(app) -> int:
    from capit_tui.tui.widgets.key_table import KeyTable

    return app.screen.query_one("#keys", KeyTable).row_count


def no_crash(app) -> None:
    assert app._exception is None
    for n in app._notifications:
        assert "Traceback" not in n.message and "unexpectedly" not in n.message, n.message


@pytest.mark.parametrize("fault", TRANSIENT + [pytest.param({"kind": "notjson"}, id="notjson")])
async def test_tui_refresh_under_faults(tsb, isolated_home, tui_env, fault):
    from tui_support import settle

    fault = dict(fault)
    kind = fault.pop("kind")
    app = tui_app(tsb, isolated_home)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        assert row_count(app) == 12
        tsb.inject_fault("GET /api/v1/keys*", kind, times=1, **fault)
        await pilot.press("r")
        await settle(pilot)
        if kind == "notjson":  # not retried: shown, and the last spend stays on screen
            assert "not JSON" in status(app) and "last spend seen" in status(app)
            await pilot.press("r")
            await settle(pilot)
        assert "⚠" not in status(app), status(app)
        assert row_count(app) == 12
        no_crash(app)


async def test_tui_refresh_page_failing_mid_way_keeps_the_last_full_list(isolated_home, tui_env):
    from tui_support import sandbox, settle

    sb = sandbox(seed_keys=250)
    try:
        app = tui_app(sb, isolated_home)
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            await settle(pilot)
            assert row_count(app) == 250
            sb.inject_fault("GET /api/v1/keys*", "500", times=0, after=1)
            await pilot.press("r")
            await settle(pilot)
            assert "server error" in status(app) and "last spend seen" in status(app)
            assert row_count(app) == 250 and len(app.spend.keys) == 250  # not a partial list
            sb.clear_faults()
            sb.inject_fault("GET /api/v1/keys*", "reset", times=1, after=2)
            await pilot.press("r")
            await settle(pilot)
            assert "⚠" not in status(app) and row_count(app) == 250
            no_crash(app)
    finally:
        sb.stop()


async def test_tui_revoke_under_faults(tsb, isolated_home, tui_env):
    from tui_support import settle

    app = tui_app(tsb, isolated_home)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        key = app.screen.selected()
        tsb.inject_fault("DELETE /api/v1/keys/*", "500", times=1)
        await pilot.press("d", "y")
        await settle(pilot)
        assert key.id in tsb.keys and row_count(app) == 12
        assert any(n.severity == "error" and "was not revoked" in n.title and "server error" in n.message
                   for n in app._notifications)
        tsb.inject_fault("DELETE /api/v1/keys/*", "429", times=1, retry_after=1)
        await pilot.press("d", "y")
        await settle(pilot)
        assert key.id not in tsb.keys and row_count(app) == 11
        no_crash(app)


def with_agents(home: Path) -> None:
    (home / ".claude").mkdir()
    with_codex(home)


async def tui_install(app, pilot, cap: str = "5") -> str:
    """n, type the cap, review, y: returns the review's error message ('' when it succeeded)."""
    from tui_support import settle

    from capit_tui.tui.newkey.review import ReviewScreen

    await settle(pilot)
    await pilot.press("n")
    await settle(pilot)
    await pilot.press(*cap)
    await pilot.press("ctrl+s")
    await settle(pilot)
    assert isinstance(app.screen, ReviewScreen)
    await pilot.press("y")
    await settle(pilot)
    if getattr(app.screen, "state", None) == "error":
        return str(app.screen.query_one("#error-message").render())
    return ""


@pytest.mark.parametrize("kind", ["500", "reset", "notjson"])
async def test_tui_install_second_create_fails_nothing_is_left(tsb, isolated_home, tui_env, kind):
    with_agents(isolated_home)
    before_files = agent_files(isolated_home)
    before_keys = set(tsb.keys)
    app = tui_app(tsb, isolated_home)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        tsb.inject_fault("POST /api/v1/keys", kind, times=1, after=1)
        message = await tui_install(app, pilot)
        assert "Codex CLI failed" in message and "was revoked" in message and "No file was changed" in message
        no_crash(app)
        assert app.store.list() == [] and app.ledger.entries() == []
    assert set(tsb.keys) == before_keys
    assert agent_files(isolated_home) == before_files


async def test_tui_install_backup_cannot_be_made(tsb, isolated_home, tui_env):
    with_agents(isolated_home)
    before_files = agent_files(isolated_home)
    before_keys = set(tsb.keys)
    data = isolated_home / ".local" / "share" / "capit-tui"
    data.mkdir(parents=True)
    (data / "backups").write_text("not a folder\n")
    app = tui_app(tsb, isolated_home)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        message = await tui_install(app, pilot)
        assert "Could not back up" in message and "were revoked" in message, message
        assert "unexpectedly" not in message
        no_crash(app)
    assert set(tsb.keys) == before_keys
    assert agent_files(isolated_home) == before_files


async def test_tui_install_rides_out_a_429(tsb, isolated_home, tui_env):
    from capit_tui.tui.newkey.result import ResultScreen

    with_agents(isolated_home)
    before_keys = set(tsb.keys)
    app = tui_app(tsb, isolated_home)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        tsb.inject_fault("POST /api/v1/keys", "429", times=1, retry_after=1)
        assert await tui_install(app, pilot) == ""
        assert isinstance(app.screen, ResultScreen)
        no_crash(app)
    assert len(set(tsb.keys) - before_keys) == 2
    assert b"experimental_bearer_token" in (isolated_home / ".codex" / "config.toml").read_bytes()
