"""Secrets never leak: the management key, every issued key and the keys already in the agents' files
appear nowhere but in the agents' config files (0600), the backups (0600 blobs in 0700 folders) and the
keyring (here the fake keyring file), or the consented credentials file when asked for.

Captured and searched: the CLI's stdout and stderr (subprocess), the `logging` module at DEBUG on the
root logger, Textual's log file (TEXTUAL_LOG), a screenshot of the TUI at every step, every
notification, the str() and repr() of every exception that passes through capit-tui's code (a trace
function), and every file under the test HOME afterwards. The one exception is `issue` with no agent,
which prints the new key once on stdout (and the TUI's copy to the clipboard of that key).
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import re
import stat
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from capit_tui import agents as agents_mod
from capit_tui.sandbox import Sandbox

TESTS = Path(__file__).parents[1]
CAPIT = (TESTS.parent / "capit_tui").resolve()

MANAGEMENT_KEY = "sk-or-v1-" + hashlib.sha256(b"capit management key under test").hexdigest()
WRONG_KEY = "sk-or-v1-" + hashlib.sha256(b"a management key the platform does not know").hexdigest()
OLD_OPENROUTER_KEY = "sk-or-v1-" + hashlib.sha256(b"the key opencode had before").hexdigest()
OLD_ANTHROPIC_KEY = "sk-ant-api03-" + "Zq8" * 30 + "tail"
SECRET_SHAPE = re.compile(r"sk-or-v1-[0-9a-f]{64}|sk-ant-api03-[A-Za-z0-9_\-]{40,}")


class RecordingSandbox(Sandbox):
    """The sandbox, noting every secret it mints (so a leak of a key revoked at once is caught too)."""

    def __init__(self, **kw):
        self.minted: list[str] = []
        super().__init__(**kw)

    def _new_secret(self, rng):
        secret = super()._new_secret(rng)
        self.minted.append(secret)
        return secret


@pytest.fixture
def sb():
    with RecordingSandbox(management_key=MANAGEMENT_KEY, seed_keys=3) as s:
        yield s


def all_secrets(sb: RecordingSandbox) -> set[str]:
    return {MANAGEMENT_KEY, WRONG_KEY, OLD_OPENROUTER_KEY, OLD_ANTHROPIC_KEY, *sb.minted}


def seed_agents(home: Path) -> None:
    """Claude Code, Codex and OpenCode with files of their own; two of them hold keys already."""
    claude = home / ".claude" / "settings.json"
    claude.parent.mkdir(parents=True)
    claude.write_text(json.dumps({"model": "sonnet", "env": {"ANTHROPIC_API_KEY": OLD_ANTHROPIC_KEY}}, indent=2))
    claude.chmod(0o644)
    codex = home / ".codex" / "config.toml"
    codex.parent.mkdir(parents=True)
    codex.write_text('# mine\nmodel = "gpt-5"\n')
    codex.chmod(0o644)
    auth = home / ".local" / "share" / "opencode" / "auth.json"
    auth.parent.mkdir(parents=True)
    auth.write_text(json.dumps({"openrouter": {"type": "api", "key": OLD_OPENROUTER_KEY}}))
    auth.chmod(0o644)


def found_in(text: str, secrets: set[str]) -> list[str]:
    return sorted(s[:12] + "…" + s[-4:] for s in secrets if s in text)


class Leaks:
    def __init__(self, secrets_of):
        self.secrets_of = secrets_of  # called at check time: keys minted later count too
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def check(self, allowed: dict[str, set[str]] | None = None) -> None:
        secrets = self.secrets_of()
        problems = []
        for where, text in self.texts:
            hits = found_in(text, secrets - (allowed or {}).get(where, set()))
            if hits:
                problems.append(f"{where}: {hits}")
        assert not problems, "secrets leaked:\n" + "\n".join(problems)


# ---------------------------------------------------------------- the CLI, as a user runs it


def test_cli_flows_print_no_secret_and_files_are_private(sb, isolated_home, tmp_path):
    seed_agents(isolated_home)
    base = {"CAPIT_OPENROUTER_BASE_URL": sb.base_url, "CAPIT_HTTP_TIMEOUT": "2"}
    leaks = Leaks(lambda: all_secrets(sb))
    handed_over: dict[str, str] = {}

    def run(label: str, *args: str, input: str = "", env: dict | None = None, ok: bool = True) -> str:
        proc = subprocess.run([sys.executable, "-m", "capit_tui", *args], input=input, capture_output=True,
                              text=True, env={**os.environ, **base, **(env or {})}, timeout=60)
        assert "Traceback" not in proc.stderr, proc.stderr
        if ok:
            assert proc.returncode == 0, (label, proc.stderr)
        else:
            assert proc.returncode in (1, 2), (label, proc.returncode, proc.stderr)
        leaks.add(f"{label} stdout", proc.stdout)
        leaks.add(f"{label} stderr", proc.stderr)
        return proc.stdout

    run("platforms add", "platforms", "add", "openrouter", input=MANAGEMENT_KEY + "\n")
    run("platforms list", "platforms", "list")
    run("platforms list json", "platforms", "list", "--json")
    run("platforms test", "platforms", "test", "openrouter")
    run("keys list", "keys", "list")
    run("keys list json", "keys", "list", "--json")
    out = run("issue", "openrouter", "5", "--name", "handover")
    handed_over["issue stdout"] = out.strip()
    out = run("issue json", "openrouter", "2.50", "--json", "--name", "handover-json")
    handed_over["issue json stdout"] = json.loads(out)["secret"]
    run("dry run", "openrouter", "5", "--agent", "claude,codex,opencode", "--dry-run")
    run("install", "openrouter", "5", "--agent", "claude", "--agent", "codex", "--agent", "opencode",
        "--name", "inst", "--yes")
    run("agents", "agents")
    run("agents json", "agents", "--json")
    run("backups list", "backups", "list")
    run("backups list json", "backups", "list", "--json")
    run("cap", "keys", "cap", "inst-claude", "7", "--yes")
    run("disable", "keys", "disable", "inst-codex", "--yes")
    run("enable", "keys", "enable", "inst-codex", "--yes")
    run("install again", "openrouter", "3", "--agent", "claude", "--name", "again", "--yes")
    run("restore", "backups", "restore", "--latest", "--yes")
    sb.inject_fault("POST /api/v1/keys", "500", times=1, after=1)
    run("failed install", "openrouter", "5", "--agent", "claude", "--agent", "codex", "--name", "bad", "--yes",
        ok=False)
    sb.inject_fault("POST /api/v1/keys", "401", times=1)
    run("issue 401", "openrouter", "5", ok=False)
    wrong = {"CAPIT_OPENROUTER_MANAGEMENT_KEY": WRONG_KEY}
    run("wrong key list", "keys", "list", env=wrong, ok=False)
    run("wrong key issue", "openrouter", "5", env=wrong, ok=False)
    run("add wrong key", "platforms", "add", "openrouter", input=WRONG_KEY + "\n", ok=False)
    run("add inference key", "platforms", "add", "openrouter", input=handed_over["issue stdout"] + "\n",
        ok=False)
    run("revoke", "keys", "revoke", "inst-*", "--yes")
    run("revoke handover", "keys", "revoke", "handover*", "--yes")
    run("add to file", "platforms", "add", "openrouter", "--store-in-file", input=MANAGEMENT_KEY + "\n",
        env={"CAPIT_NO_KEYRING": "1"})
    run("keys list from file", "keys", "list", env={"CAPIT_NO_KEYRING": "1"})

    # `issue` with no agent hands the key over on stdout, alone: that and nothing else.
    assert handed_over["issue stdout"] in sb.minted
    leaks.check(allowed={k: {v} for k, v in handed_over.items()})

    scan_home(isolated_home, all_secrets(sb), tmp_path, credentials_expected=True)


# ---------------------------------------------------------------- in-process: logs, exceptions, screens


class ExceptionRecorder:
    """str() and repr() of every exception that passes through a frame of capit-tui's own code
    (the platform side, the sandbox, is left out), in every thread."""

    IGNORE = (StopIteration, StopAsyncIteration, GeneratorExit)

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self._ids: set[int] = set()

    def _global(self, frame, event, arg):
        if event != "call":
            return None
        name = frame.f_code.co_filename
        if name.startswith(str(CAPIT)) and not name.endswith("sandbox.py"):
            frame.f_trace_lines = False
            return self._local
        return None

    def _local(self, frame, event, arg):
        if event == "exception":
            exc = arg[1]
            if isinstance(exc, BaseException) and not isinstance(exc, self.IGNORE) and id(exc) not in self._ids:
                self._ids.add(id(exc))
                where = f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"
                try:
                    text = f"{exc}\n{exc!r}\n{exc.args!r}"
                except Exception as err:  # an exception that cannot even be shown
                    text = f"<unprintable: {err!r}>"
                self.seen.append((f"{type(exc).__name__} at {where}", text))
        return self._local

    def __enter__(self) -> "ExceptionRecorder":
        threading.settrace(self._global)
        sys.settrace(self._global)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(None)
        threading.settrace(None)


class ErrorClassRecorder:
    """Cheaper, for the TUI (where a trace function slows every frame): str() and repr() of every
    exception of a class capit-tui defines (PlatformError and its kinds, InstallError, ApplyError,
    PlanError, ServiceError, MoneyError, ...), recorded as each is made."""

    def __init__(self, monkeypatch) -> None:
        self.seen: list[tuple[str, str]] = []
        self._ids: set[int] = set()
        for cls in self.classes():
            monkeypatch.setattr(cls, "__init__", self._wrap(cls, cls.__init__))

    @staticmethod
    def classes() -> list[type]:
        import importlib
        import pkgutil

        import capit_tui

        for mod in pkgutil.walk_packages(capit_tui.__path__, "capit_tui."):
            if ".screens" not in mod.name and not mod.name.endswith(("app", "__main__")):
                importlib.import_module(mod.name)
        found, stack = set(), [BaseException]
        while stack:
            for sub in stack.pop().__subclasses__():
                if sub not in found:
                    found.add(sub)
                    stack.append(sub)
        return sorted((c for c in found if c.__module__.startswith("capit_tui")), key=lambda c: c.__qualname__)

    def _wrap(self, cls, init):
        def __init__(exc, *args, **kwargs):
            init(exc, *args, **kwargs)
            if id(exc) not in self._ids and type(exc).__init__ is __init__:  # once, by its own class
                self._ids.add(id(exc))
                self.seen.append((f"{type(exc).__name__} made", f"{exc}\n{exc!r}\n{exc.args!r}"))

        return __init__


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured(monkeypatch, tmp_path, request):
    """Root logger at DEBUG into a list, Textual's log into a file, and the exception recorder."""
    import textual.constants

    handler = Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    log_file = tmp_path / "textual.log"
    monkeypatch.setattr(textual.constants, "LOG_FILE", str(log_file))
    if request.node.get_closest_marker("asyncio") or request.node.name.startswith("test_tui"):
        yield handler, log_file, ErrorClassRecorder(monkeypatch)
    else:
        recorder = ExceptionRecorder()
        with recorder:
            yield handler, log_file, recorder
    root.removeHandler(handler)
    root.setLevel(old_level)


def check_captured(leaks: Leaks, handler: Capture, log_file: Path, recorder: ExceptionRecorder) -> None:
    assert handler.lines, "nothing was logged at DEBUG: the capture is not working"
    leaks.add("logging", "\n".join(handler.lines))
    if log_file.exists():
        leaks.add("textual log", log_file.read_text(errors="replace"))
    assert recorder.seen, "no exception was seen: the recorder is not working"
    for where, text in recorder.seen:
        leaks.add(f"exception {where}", text)


def test_in_process_cli_logs_and_exceptions(sb, isolated_home, tmp_path, monkeypatch, capsys, captured):
    from capit_tui import cli

    handler, log_file, recorder = captured
    seed_agents(isolated_home)
    monkeypatch.setenv("CAPIT_OPENROUTER_BASE_URL", sb.base_url)
    monkeypatch.setenv("CAPIT_OPENROUTER_MANAGEMENT_KEY", MANAGEMENT_KEY)
    monkeypatch.setenv("CAPIT_HTTP_TIMEOUT", "2")
    leaks = Leaks(lambda: all_secrets(sb))

    def run(label: str, *args: str, code: int = 0) -> str:
        assert cli.main(list(args)) == code, label
        out, err = capsys.readouterr()
        leaks.add(f"{label} stdout", out)
        leaks.add(f"{label} stderr", err)
        return out

    run("keys list", "keys", "list")
    run("install", "openrouter", "5", "--agent", "claude", "--agent", "codex", "--agent", "opencode",
        "--name", "inst", "--yes")
    run("install again", "openrouter", "4", "--agent", "claude", "--agent", "opencode", "--name", "again",
        "--yes")
    run("agents", "agents", "--json")
    run("restore", "backups", "restore", "--latest", "--yes")
    sb.inject_fault("POST /api/v1/keys", "500", times=1, after=1)
    run("failed install", "openrouter", "5", "--agent", "claude", "--agent", "codex", "--name", "bad", "--yes",
        code=1)
    sb.inject_fault("POST /api/v1/keys", "notjson", times=1)
    run("notjson", "openrouter", "5", code=1)
    # the file changed between the preview and the write: refused, keys revoked
    from capit_tui.core.install import InstallError, execute, preview
    from capit_tui.core.keys import configured_platforms
    from capit_tui.core.settings import load

    (c,) = configured_platforms(load(), "openrouter")
    pv = preview(c, [agents_mod.get("codex")], name="stale")
    (isolated_home / ".codex" / "config.toml").write_text('model = "o3"\n')
    import asyncio

    with pytest.raises(InstallError) as err:
        asyncio.run(execute(pv, Decimal(5), "monthly"))
    leaks.add("stale install error", f"{err.value}\n{err.value!r}")
    monkeypatch.setenv("CAPIT_OPENROUTER_MANAGEMENT_KEY", WRONG_KEY)
    run("wrong key", "keys", "list", code=1)
    monkeypatch.setenv("CAPIT_OPENROUTER_MANAGEMENT_KEY", MANAGEMENT_KEY)
    run("revoke", "keys", "revoke", "*", "--yes", "--all")  # every key: --yes alone is refused

    assert {"InstallError", "AuthRejected", "CreateUncertain"} <= {where.split()[0] for where, _ in recorder.seen}
    check_captured(leaks, handler, log_file, recorder)
    leaks.check()
    scan_home(isolated_home, all_secrets(sb), tmp_path)


def loopback_only(monkeypatch, sb: Sandbox) -> None:
    """Every preset platform the screens might check points at loopback: the sandbox, or a closed port."""
    from capit_tui.core.settings import PRESETS

    for name, cfg in PRESETS.items():
        monkeypatch.setenv(f"{cfg.env_prefix()}_BASE_URL", sb.base_url if name == "openrouter" else "http://127.0.0.1:9")
    monkeypatch.setenv("CAPIT_HTTP_TIMEOUT", "2")


def shown(app) -> str:
    svg = app.export_screenshot()
    svg = re.sub(r"<style.*?</style>", "", svg, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


async def test_tui_flows_show_no_secret(sb, isolated_home, tmp_path, monkeypatch, captured):
    from textual.widgets import SelectionList
    from tui_support import no_blink, settle

    from capit_tui.core.keys import Configured
    from capit_tui.core.settings import PlatformConfig, Settings
    from capit_tui.tui.app import CapitApp
    from capit_tui.tui.newkey.result import ResultScreen
    from capit_tui.tui.newkey.review import ReviewScreen

    handler, log_file, recorder = captured
    no_blink(monkeypatch)
    loopback_only(monkeypatch, sb)
    seed_agents(isolated_home)
    leaks = Leaks(lambda: all_secrets(sb))
    copied: list[str] = []
    platform = Configured(PlatformConfig("openrouter", "openrouter", sb.base_url), "keyring", MANAGEMENT_KEY)
    app = CapitApp(platforms=[platform], settings=Settings(), auto_refresh=False,
                   agent_env={"HOME": str(isolated_home), "PATH": "/nonexistent"})
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)

    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        async def step(label: str) -> None:
            await settle(pilot)
            leaks.add(f"screen: {label}", app.export_screenshot() + "\n" + shown(app))

        await step("keys")
        # issue into the three agents through the form and the review
        await pilot.press("n")
        await step("form")
        await pilot.press(*"5", "ctrl+s")
        await step("review")
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("j")
        await step("review, second file")
        await pilot.press("j")
        await step("review, third file")
        await pilot.press("y")
        await step("result")
        assert isinstance(app.screen, ResultScreen)
        await pilot.press("escape")
        await step("keys after install")
        # a key with no agent: shown once, masked; copied (the one handover), never revealed here
        await pilot.press("n")
        await settle(pilot)
        app.screen.query_one("#agents", SelectionList).deselect_all()
        await pilot.press(*"2", "ctrl+s")
        await step("review, no agent")
        await pilot.press("y")
        await step("result, no agent")
        # control: when the user asks to see it (v), the screenshot does show it, so the search works
        await pilot.press("v")
        await settle(pilot)
        revealed = shown(app)
        assert any(secret in revealed for secret in sb.minted), "the screenshot search cannot see a key"
        await pilot.press("v")
        await pilot.press("c")
        await step("copied")
        await pilot.press("escape")
        await step("back")
        # a failed install: keys revoked, the error shown
        sb.inject_fault("POST /api/v1/keys", "500", times=1, after=1)
        await pilot.press("n")
        await pilot.press(*"3", "ctrl+s")
        await settle(pilot)
        await pilot.press("y")
        await step("install error")
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("escape")
        await step("keys again")
        # the other screens
        for key, label in (("2", "agents"), ("4", "backups"), ("3", "platforms")):
            await pilot.press(key)
            await step(label)
        await pilot.press("4", "enter")
        await step("restore review")
        await pilot.press("escape")
        await pilot.press("2", "enter")
        await step("agent details")
        await pilot.press("escape")
        # keys: details, the cap modal, revoke a key an agent holds, then restore its old config
        await pilot.press("1")
        await settle(pilot)
        keys = app.screen
        inst = next(k for k in app.spend.keys.values() if app.holders(k))
        from capit_tui.tui.widgets.key_table import KeyTable

        table = keys.query_one("#keys", KeyTable)
        table.move_cursor(row=table.get_row_index(f"{inst.platform}\x1f{inst.id}"))
        await pilot.press("enter")
        await step("key details")
        await pilot.press("escape")
        await pilot.press("e")
        await step("cap modal")
        await pilot.press("escape")
        await pilot.press("d")
        await step("revoke confirm")
        await pilot.press("y")
        await step("restore offer")
        await pilot.press("y")
        await step("restored")
        for n in app._notifications:
            leaks.add(f"notification {n.title}", f"{n.title}\n{n.message}")

    assert len(copied) == 1 and copied[0] in sb.minted
    assert any("sk-or-v1-…" in text for where, text in leaks.texts if where == "screen: result")
    assert {"InstallError", "CreateUncertain"} <= {where.split()[0] for where, _ in recorder.seen}
    check_captured(leaks, handler, log_file, recorder)
    leaks.check()
    scan_home(isolated_home, all_secrets(sb), tmp_path)


# ---------------------------------------------------------------- where secrets may rest


def scan_home(home: Path, secrets: set[str], tmp_path: Path, credentials_expected: bool = False) -> None:
    """Every file under HOME holding a secret is an agent's config, a backup blob or the consented
    credentials file; each is 0600, a backup folder 0700. The fake keyring file is 0600 too."""
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_DATA_HOME": str(home / ".local" / "share"), "PATH": "/nonexistent"}
    agent_files = {str(f) for a in agents_mod.all_agents(env) for f in a.files()}
    data = home / ".local" / "share" / "capit-tui"
    backups = data / "backups"
    credentials = home / ".config" / "capit-tui" / "credentials.toml"
    user_old = {OLD_ANTHROPIC_KEY, OLD_OPENROUTER_KEY}
    problems = []
    for path in sorted(p for p in home.rglob("*") if p.is_file() and not p.is_symlink()):
        text = path.read_bytes().decode("utf-8", errors="replace")
        held = {s for s in secrets if s in text}
        if not held:
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if str(path) in agent_files:
            # A file holding a key capit-tui wrote is private; a restore puts back the user's own file
            # (and its mode) exactly as it was.
            if held - user_old and mode != 0o600:
                problems.append(f"{path}: agent file with a key, mode {mode:o}")
        elif path.parent.parent == backups and path.name.startswith("file-"):
            if mode != 0o600 or stat.S_IMODE(path.parent.stat().st_mode) != 0o700:
                problems.append(f"{path}: backup blob {mode:o} in a {stat.S_IMODE(path.parent.stat().st_mode):o} folder")
        elif path == credentials and credentials_expected:
            if held != {MANAGEMENT_KEY} or mode != 0o600 or stat.S_IMODE(path.parent.stat().st_mode) != 0o700:
                problems.append(f"{path}: credentials {mode:o}")
        else:
            problems.append(f"{path.relative_to(home)} holds {found_in(text, held)}")
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", errors="replace")
        for m in SECRET_SHAPE.finditer(text):  # anything secret-shaped we did not know of
            if m.group(0) not in secrets and m.group(0) != "sk-or-v1-" + "0" * 64:
                problems.append(f"{path.relative_to(home)}: an unknown secret-shaped string")
    if backups.exists():
        assert stat.S_IMODE(backups.stat().st_mode) == 0o700
        for folder in backups.iterdir():
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert credentials.exists() == credentials_expected
    keyring_file = Path(os.environ["CAPIT_TEST_KEYRING_FILE"])
    if keyring_file.exists():
        assert stat.S_IMODE(keyring_file.stat().st_mode) == 0o600
    assert not problems, "\n".join(problems)


def test_committed_snapshots_hold_no_whole_secret():
    """The SVG snapshots of the TUI show masked keys only (sk-or-v1-…abcd), never a whole one."""
    snaps = TESTS / "tui" / "__snapshots__"
    hits = []
    for path in snaps.rglob("*") if snaps.exists() else []:
        if path.is_file():
            raw = path.read_text(errors="replace")
            text = raw + "\n" + html.unescape(re.sub(r"<[^>]+>", "", raw)).replace("\xa0", " ")
            for m in SECRET_SHAPE.finditer(text):
                if m.group(0) != "sk-or-v1-" + "0" * 64:
                    hits.append(f"{path.relative_to(snaps)}: {m.group(0)[:14]}…")
    assert not hits, hits


async def test_tui_add_platform_keeps_the_typed_key_out_of_sight(sb, isolated_home, tmp_path, monkeypatch, captured):
    """The management key typed into 3 Platforms > a: hidden on screen, not echoed by a refusal, and
    (reported, tui/widgets/platform_form.py) not in Textual's log, where Input.Changed/Submitted and the
    check worker's description carry it in their reprs."""
    from textual.widgets import Input, Select
    from tui_support import no_blink, settle

    from capit_tui.core.keys import Configured
    from capit_tui.core.settings import PlatformConfig, Settings
    from capit_tui.tui.app import CapitApp
    from capit_tui.tui.modals.add_platform import AddPlatformScreen

    handler, log_file, recorder = captured
    no_blink(monkeypatch)
    loopback_only(monkeypatch, sb)
    leaks = Leaks(lambda: all_secrets(sb))
    platform = Configured(PlatformConfig("openrouter", "openrouter", sb.base_url), "keyring", MANAGEMENT_KEY)
    app = CapitApp(platforms=[platform], settings=Settings(), auto_refresh=False,
                   agent_env={"HOME": str(isolated_home), "PATH": "/nonexistent"})
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AddPlatformScreen)
        screen.query_one("#platform", Select).value = "openrouter"  # the sandbox, never the real one
        await settle(pilot)
        box = screen.query_one("#key", Input)
        assert box.password
        box.value = WRONG_KEY
        await settle(pilot)
        leaks.add("screen: key typed", app.export_screenshot() + "\n" + shown(app))
        await pilot.press("enter")
        await settle(pilot)
        said = shown(app)
        leaks.add("screen: key refused", app.export_screenshot() + "\n" + said)
        assert "rejected" in said or "not" in said
        await pilot.press("escape")
        await settle(pilot)
        for n in app._notifications:
            leaks.add(f"notification {n.title}", f"{n.title}\n{n.message}")
    leaks.add("logging", "\n".join(handler.lines))
    for where, text in recorder.seen:
        leaks.add(f"exception {where}", text)
    leaks.check()  # screens, notifications, logging, exceptions: clean
    assert WRONG_KEY not in (tmp_path / "keyring.json").read_text() if (tmp_path / "keyring.json").exists() else True
    textual_log = log_file.read_text(errors="replace") if log_file.exists() else ""
    assert WRONG_KEY not in textual_log, "the typed management key reached Textual's log (TEXTUAL_LOG)"
