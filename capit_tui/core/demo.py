"""`--demo`: everything on the built-in sandbox, with config, data and agent files under a throwaway
demo folder. Nothing of the user's is read or written: no keyring, no real HOME, no real platforms.

The demo folder is removed when the demo ends, also on SIGHUP (its terminal closed) and SIGTERM. It
records the demo's process (`OWNER_FILE`: pid and start time), so the next demo removes the folders of
demos that were killed outright (SIGKILL, a crash): `prune_stale_demos()`.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from capit_tui.core.fsutil import read_regular
from capit_tui.core.settings import PlatformConfig, Settings, save

DEMO_PLATFORM = "sandbox"
STANDS_IN_FOR = "openrouter"  # the README's commands name openrouter: in the demo the sandbox answers them
PREFIX = "capit-demo-"
OWNER_FILE = "demo.pid"
UNMARKED_AFTER = 24 * 3600.0  # a demo folder with no owner record (an older capit-tui): removed after a day


@contextmanager
def demo_environment(seed_keys: int = 40, traffic: bool = True, team: bool = False) -> Iterator[Path]:
    """`team`: the sample team is applied on the sandbox too (the app's demo: its Team screen); its file is
    written beside the demo's folders either way."""
    from capit_tui.sandbox import Sandbox

    prune_stale_demos()
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    (root / OWNER_FILE).write_text(owner_record(os.getpid()))
    saved = dict(os.environ)
    handlers = _exit_on_hangup()
    try:
        sandbox = Sandbox(seed_keys=seed_keys, traffic=traffic).start()
    except BaseException:
        _restore_handlers(handlers)
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        for name in list(os.environ):
            if name.startswith("CAPIT_") and (name.endswith("_MANAGEMENT_KEY") or name.endswith("_BASE_URL")):
                del os.environ[name]
        os.environ["CAPIT_CONFIG_DIR"] = str(root / "config")
        os.environ["CAPIT_DATA_DIR"] = str(root / "data")
        os.environ["CAPIT_AGENT_HOME"] = str(root / "home")
        os.environ["CAPIT_NO_KEYRING"] = "1"
        os.environ["CAPIT_DEMO"] = "1"
        os.environ["CAPIT_SANDBOX_MANAGEMENT_KEY"] = sandbox.management_key
        (root / "home").mkdir(parents=True)
        cfg = PlatformConfig(DEMO_PLATFORM, "openrouter", sandbox.base_url, sandbox=True)
        save(Settings(platforms={DEMO_PLATFORM: cfg}), Path(os.environ["CAPIT_CONFIG_DIR"]) / "settings.toml")
        seed_agent_files(root / "home")
        (root / TEAM_FILE).write_text(SAMPLE_TEAM)
        if team:
            seed_team(root, sandbox, cfg)
        yield root
    finally:
        try:
            sandbox.stop()
        finally:
            os.environ.clear()
            os.environ.update(saved)
            shutil.rmtree(root, ignore_errors=True)
            _restore_handlers(handlers)


TEAM_FILE = "team.toml"
SAMPLE_TEAM = """# A sample team (capit-tui --demo): `team plan|apply|status` and the Team screen (5) read it.
[team]
name = "platform"
platform = "openrouter"
default = { cap = "25.00", reset = "weekly", tier = "standard" }

[tiers.standard]
models = ["openai/gpt-5-mini", "anthropic/claude-haiku-4.5"]
[tiers.senior]
models = ["anthropic/claude-sonnet-4.5", "openai/gpt-5.1-codex"]

[[members]]
name = "alice"
tier = "senior"
cap = "60.00"
[[members]]
name = "bob"
[[members]]
name = "carol"
reset = "monthly"
[[members]]
name = "dave"
tier = "senior"
cap = "40.00"
[[members]]
name = "erin"
"""
TEAM_SPEND = {"alice": "41.20", "bob": "3.75", "carol": "22.10", "dave": "9.40", "erin": "0"}


def seed_team(root: Path, sandbox: Any, cfg: PlatformConfig) -> None:
    """The demo's sample team: its file beside the demo's folders, applied on the sandbox (keys, tiers as
    guardrails, the record), some spend on each key, and then erin's cap changed as if by hand (drift to see).
    A failure here leaves the demo without its team, never without the demo."""
    import asyncio

    from capit_tui.core import team_file
    from capit_tui.core.keys import Configured
    from capit_tui.core.team_apply import apply

    path = root / TEAM_FILE

    async def go() -> None:
        team = team_file.load(path)
        team.platform = DEMO_PLATFORM
        async with Configured(cfg, "env", sandbox.management_key).open() as p:
            await apply(team, p, secrets_dir=root / "team-secrets")
            for key in await p.list_keys():
                member = key.name.removeprefix("platform-")
                if key.name.startswith("platform-") and member in TEAM_SPEND:
                    if TEAM_SPEND[member] != "0":
                        sandbox.spend(key.id, TEAM_SPEND[member])
                    if member == "erin":
                        from decimal import Decimal

                        await p.update_key(key.id, limit=Decimal("15.00"))

    outcome: list[BaseException] = []

    def run() -> None:  # its own thread: the caller may be inside an event loop already
        try:
            asyncio.run(go())
        except Exception as exc:  # noqa: BLE001 - the demo goes on without its team
            outcome.append(exc)

    worker = threading.Thread(target=run, name="demo-team")
    worker.start()
    worker.join()


def demo_team_file() -> Path | None:
    """The sample team's file, under --demo."""
    if not in_demo() or not os.environ.get("CAPIT_CONFIG_DIR"):
        return None
    path = Path(os.environ["CAPIT_CONFIG_DIR"]).parent / TEAM_FILE
    return path if path.is_file() else None


def in_demo() -> bool:
    """This process runs under --demo (demo_environment sets CAPIT_DEMO)."""
    return os.environ.get("CAPIT_DEMO") == "1"


def stand_in(platform: str) -> str:
    """The platform a command named `platform` uses: under --demo, the sandbox for openrouter (it is
    OpenRouter-compatible, and nothing may reach the real one); otherwise the name as given."""
    if in_demo() and platform.strip().lower() == STANDS_IN_FOR:
        return DEMO_PLATFORM
    return platform


# ---------------------------------------------------------------- ending cleanly, and after others


def _exit_on_hangup() -> dict[int, Any]:
    """SIGHUP and SIGTERM end the demo through its `finally` (SystemExit), so its folder is removed.
    Only the main thread can set handlers; elsewhere (a test's thread) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    old: dict[int, Any] = {}

    def handler(signum: int, _frame: object) -> None:
        for sig in old:
            signal.signal(sig, signal.SIG_IGN)  # a second signal must not cut the cleanup short
        raise SystemExit(128 + signum)

    for sig in (getattr(signal, "SIGHUP", None), signal.SIGTERM):
        if sig is None:
            continue
        try:
            old[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):
            pass
    return old


def _restore_handlers(old: dict[int, Any]) -> None:
    for sig, h in old.items():
        try:
            signal.signal(sig, h if h is not None else signal.SIG_DFL)
        except (ValueError, OSError):
            pass


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell it from a later one with its pid."""
    try:
        raw = read_regular(Path(f"/proc/{pid}/stat"), limit=4096)
    except (OSError, ValueError):
        return None
    if not raw:
        return None
    fields = raw.decode("ascii", "replace").rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def owner_record(pid: int) -> str:
    return f"{pid} {_start_time(pid) or '-'}\n"


def _alive(record: str) -> bool | None:
    """Whether the process a record names still runs; None when the record does not parse."""
    parts = record.split()
    if len(parts) != 2 or not parts[0].isdigit():
        return None
    pid = int(parts[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return None
    started = _start_time(pid)
    return not (parts[1] != "-" and started is not None and started != parts[1])


def prune_stale_demos(tmp: Path | None = None, *, now: float | None = None) -> int:
    """Remove the demo folders (ours, in the temp folder) whose demo process is gone. Never raises."""
    tmp = Path(tmp or tempfile.gettempdir())
    now = time.time() if now is None else now
    n = 0
    try:
        entries = [e for e in os.scandir(tmp) if e.name.startswith(PREFIX)]
    except OSError:
        return 0
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
                continue
            try:
                record = (read_regular(Path(entry.path) / OWNER_FILE, follow=False, limit=200) or b"").decode()
            except (ValueError, UnicodeDecodeError):
                record = ""
            alive = _alive(record)
            if alive or (alive is None and now - st.st_mtime < UNMARKED_AFTER):
                continue
            shutil.rmtree(entry.path)
            n += 1
        except Exception:  # noqa: BLE001 - someone else's folder, a race: leave it
            continue
    return n


SAMPLE_FILES = {
    ".claude/settings.json": """{
  "permissions": {
    "allow": ["Bash(npm run test:*)", "Read(~/.zshrc)"]
  },
  "model": "sonnet",
  "env": {
    "BASH_DEFAULT_TIMEOUT_MS": "120000"
  }
}
""",
    ".codex/config.toml": """# Codex settings (demo sample)
model = "gpt-5.1-codex"
approval_policy = "on-request"

[profiles.fast]
model = "gpt-5.1-codex-mini"

[mcp_servers.docs]
command = "npx"
args = ["-y", "docs-mcp"]
""",
    ".config/opencode/opencode.json": """{
  "$schema": "https://opencode.ai/config.json",
  // demo sample: a theme and one MCP server
  "theme": "tokyonight",
  "mcp": {
    "fs": {"type": "local", "command": ["npx", "-y", "fs-mcp"]}
  }
}
""",
    ".hermes/.env": """# Hermes secrets (demo sample)
export TELEGRAM_BOT_TOKEN=demo-not-a-real-token
""",
    ".hermes/config.yaml": """model:
  provider: auto   # picks OpenRouter when its key is present
  default: anthropic/claude-sonnet-4.5
terminal:
  backend: local
""",
}


def seed_agent_files(home: Path) -> None:
    """Sample configs for a few agents, so the demo's diffs show a real file being edited."""
    for rel, text in SAMPLE_FILES.items():
        path = home / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
