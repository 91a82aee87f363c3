"""Crash driver for tests/reliability/test_reliability_crash.py: one full CLI install, killed with SIGKILL on cue.

The install is the real one (`capit_tui.cli.main`: settings, preview, issue, backup, atomic writes,
ledger) for Claude Code, Codex and OpenCode under a throwaway HOME. Only the platform is replaced:
an in-process transport (transports.Answer) that mints a deterministic secret per key name and tag, so two runs
with the same tag write the same bytes. (The platform part is not the crash-critical part; the file
write path is.)

Kill points are deterministic: every file-system primitive of the write path (mkdir, chmod, fchmod,
mkstemp, a write/flush/close of the temp file, fsync, open/close of a folder for its fsync, replace,
rename, unlink, rmtree) goes through a counting wrapper, and the process SIGKILLs itself just before
the N-th call. N = 0 runs to the end and reports how many calls there were and what they were.

Two ways to run it:

  python driver.py run            one run in this (fresh) interpreter; CRASH_HOME, CRASH_TAG,
                                  CRASH_AT (N), CRASH_OUT (JSON report) in the environment.
  python driver.py serve          a fork server: imports everything once, then for each JSON line on
                                  stdin ({"home", "tag", "kill_at", "kill_after"}) forks a child that
                                  does one run, and answers one JSON line on stdout. `kill_after`
                                  (seconds) makes the server SIGKILL the child that long after its
                                  first write-path call (a random-time kill).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

BASE_URL = "https://crash.capit.invalid/api/v1"  # answered in-process (plain http off loopback is refused)
MANAGEMENT_KEY = "sk-or-v1-" + "6d" * 32  # the sandbox-shaped management key of these runs
AGENTS = ("claude", "codex", "opencode")
ARGS = ["openrouter", "5.00", "--reset", "monthly", "--name", "crash",
        *(x for a in AGENTS for x in ("--agent", a)), "--yes"]


def secret_for(tag: str, name: str) -> str:
    return "sk-or-v1-" + hashlib.sha256(f"{tag}:{name}".encode()).hexdigest()


def preload() -> None:
    """Import everything the install touches, so a forked child starts warm."""
    import asyncio  # noqa: F401
    import tempfile  # noqa: F401

    import capit_tui.agents as agents_mod
    import capit_tui.cli  # noqa: F401
    import capit_tui.core.backups  # noqa: F401
    import capit_tui.core.changes  # noqa: F401
    import capit_tui.core.demo  # noqa: F401
    import capit_tui.core.install  # noqa: F401
    import capit_tui.core.keys  # noqa: F401
    import capit_tui.core.ledger  # noqa: F401
    import capit_tui.core.money  # noqa: F401
    import capit_tui.core.settings  # noqa: F401
    import capit_tui.core.vault  # noqa: F401
    import capit_tui.edits as edits
    import capit_tui.platforms.openrouter  # noqa: F401
    import capit_tui.platforms.transport  # noqa: F401

    agents_mod.all_agents({})
    for fmt, text in (("json", "{}"), ("jsonc", "{}"), ("toml", "a = 1\n"), ("json5", "{}")):
        edits.load(text, fmt, filename="x")
    import platformdirs  # noqa: F401
    import tomli_w  # noqa: F401


# ---------------------------------------------------------------- the fake platform


def transport(tag: str):
    from transports import Answer

    from capit_tui.platforms.transport import Reply, Request

    def handle(request: Request) -> Reply:
        path = request.path
        if request.method == "POST" and path.endswith("/keys"):
            body = json.loads(request.content)
            secret = secret_for(tag, body["name"])
            data = {"hash": hashlib.sha256(secret.encode()).hexdigest(), "name": body["name"], "label": "",
                    "disabled": False, "limit": body.get("limit"), "limit_reset": body.get("limit_reset"),
                    "limit_remaining": body.get("limit"), "usage": 0, "usage_daily": 0, "usage_weekly": 0,
                    "usage_monthly": 0, "created_at": "2026-11-21T12:00:00Z", "updated_at": None}
            return Reply(201, json={"key": secret, "data": data})
        if request.method == "DELETE" and "/keys/" in path:
            return Reply(200, json={"deleted": True})
        if request.method == "GET" and path.endswith("/keys"):
            return Reply(200, json={"data": []})
        return Reply(404, json={"error": {"message": "not here"}})

    return Answer(handle)


# ---------------------------------------------------------------- counting wrappers


class Points:
    """Counts write-path primitives; SIGKILLs this process just before call number `kill_at`."""

    def __init__(self, kill_at: int, on_first=None):
        self.kill_at = kill_at
        self.n = 0
        self.trace: list[str] = []
        self.depth = 0
        self.on_first = on_first
        self.started: float | None = None

    def tick(self, name: str, arg: object = None) -> None:
        if self.n == 0:
            self.started = time.perf_counter()
            if self.on_first is not None:
                self.depth += 1  # its own os.write is not a kill point
                try:
                    self.on_first()
                finally:
                    self.depth -= 1
        self.n += 1
        if self.n == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(10)  # never reached
        where = ""
        if isinstance(arg, (str, os.PathLike)):
            where = os.path.basename(os.fspath(arg)) or os.fspath(arg)
        self.trace.append(f"{name}:{where}" if where else name)


def install_wrappers(points: Points) -> None:
    import shutil
    import tempfile

    def wrap(owner, attr, name=None, label_arg=True):
        real = getattr(owner, attr)
        label = name or attr

        def wrapper(*args, **kwargs):
            if points.depth:
                return real(*args, **kwargs)
            points.tick(label, args[0] if (args and label_arg) else None)
            points.depth += 1
            try:
                return real(*args, **kwargs)
            finally:
                points.depth -= 1

        wrapper.__wrapped__ = real  # type: ignore[attr-defined]
        setattr(owner, attr, wrapper)

    for attr in ("mkdir", "chmod", "fchmod", "fsync", "replace", "rename", "unlink", "remove", "rmdir",
                 "open", "close", "write"):
        wrap(os, attr)
    wrap(tempfile, "mkstemp", label_arg=False)
    wrap(shutil, "rmtree")

    real_fdopen = os.fdopen

    class File:
        """The temp file: its write, flush and close are kill points too."""

        def __init__(self, fh):
            self._fh = fh

        def write(self, data):
            if points.depth:
                return self._fh.write(data)
            points.tick("write-file")
            return self._fh.write(data)

        def flush(self):
            if not points.depth:
                points.tick("flush")
            return self._fh.flush()

        def fileno(self):
            return self._fh.fileno()

        def close(self):
            if not points.depth:
                points.tick("close-file")
            return self._fh.close()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()
            return False

        def __getattr__(self, item):
            return getattr(self._fh, item)

    def fdopen(fd, *args, **kwargs):
        fh = real_fdopen(fd, *args, **kwargs)
        if points.depth:
            return fh
        points.tick("fdopen")
        return File(fh)

    os.fdopen = fdopen


# ---------------------------------------------------------------- one run


# What would leak the developer's own setup into a run (as tests/conftest.py strips them).
LEAKY_PREFIXES = ("CAPIT_", "OPENROUTER_", "ANTHROPIC_", "OPENAI_", "CLAUDE_", "CODEX_", "OPENCODE_",
                  "OPENCLAW_", "HERMES_", "LLM_", "AIDER_", "XDG_", "GEMINI_", "QWEN_")


def child_env(home: str) -> None:
    h = Path(home)
    for name in list(os.environ):
        if name.startswith(LEAKY_PREFIXES):
            del os.environ[name]
    os.environ.update({
        "HOME": str(h), "USERPROFILE": str(h),
        "XDG_CONFIG_HOME": str(h / ".config"), "XDG_DATA_HOME": str(h / ".local" / "share"),
        "XDG_STATE_HOME": str(h / ".local" / "state"), "XDG_CACHE_HOME": str(h / ".cache"),
        "CAPIT_OPENROUTER_BASE_URL": BASE_URL, "CAPIT_OPENROUTER_MANAGEMENT_KEY": MANAGEMENT_KEY,
        "CAPIT_NO_KEYRING": "1", "PATH": "/nonexistent",
    })


def run_once(home: str, tag: str, kill_at: int, on_first=None, out_path: str | None = None) -> int:
    """Do the install; returns the CLI's exit status (unless killed on the way)."""
    child_env(home)
    from capit_tui import cli
    from capit_tui.core import keys as service

    real_open = service.Configured.open

    def open_(self, **kwargs):
        kwargs.setdefault("transport", transport(tag))
        return real_open(self, **kwargs)

    service.Configured.open = open_  # type: ignore[method-assign]
    points = Points(kill_at, on_first)
    log = open(os.path.join(home, "..", f"cli-{tag}-{kill_at}.log"), "w")  # noqa: SIM115
    sys.stdout.flush()
    sys.stderr.flush()
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = log
    install_wrappers(points)
    try:
        rc = cli.main(list(ARGS))
    finally:
        points.depth += 1  # disarmed: reporting is not part of the write path
        elapsed = time.perf_counter() - points.started if points.started else 0.0
        sys.stdout, sys.stderr = old_out, old_err
    log.close()
    report = {"rc": rc, "count": points.n, "trace": points.trace, "elapsed": elapsed}
    if out_path:
        Path(out_path).write_text(json.dumps(report))
    return rc


def serve() -> None:
    preload()
    for line in sys.stdin:
        job = json.loads(line)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: one run, then _exit (no cleanup that a crash would skip either)
            os.close(r)
            code = 70
            try:
                def ready(w: int = w) -> None:
                    os.write(w, b"R")

                report_path = os.path.join(job["home"], "..", f"report-{os.getpid()}.json")
                code = run_once(job["home"], job["tag"], int(job.get("kill_at") or 0), ready, report_path)
                os.write(w, report_path.encode())
            except BaseException as exc:  # report, never hang the server
                os.write(w, f"!{type(exc).__name__}: {exc}".encode())
            finally:
                os._exit(code if isinstance(code, int) else 70)
        os.close(w)
        first = os.read(r, 1)
        delay = job.get("kill_after")
        killed_by_us = False
        if first == b"R" and delay is not None:
            time.sleep(float(delay))
            try:
                os.kill(pid, signal.SIGKILL)
                killed_by_us = True
            except ProcessLookupError:
                pass
        rest = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            rest += chunk
        os.close(r)
        _, status = os.waitpid(pid, 0)
        answer: dict = {"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                        "rc": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                        "reached_write_path": first == b"R", "kill_sent": killed_by_us}
        text = (first if first != b"R" else b"") + rest
        if text.startswith(b"!"):
            answer["error"] = text[1:].decode(errors="replace")
        elif text:
            report_path = text.decode()
            answer.update(json.loads(Path(report_path).read_text()))
            os.unlink(report_path)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


def main() -> None:
    if sys.argv[1:] == ["serve"]:
        serve()
    elif sys.argv[1:] == ["run"]:
        rc = run_once(os.environ["CRASH_HOME"], os.environ.get("CRASH_TAG", "A"),
                      int(os.environ.get("CRASH_AT", "0")), out_path=os.environ.get("CRASH_OUT"))
        sys.exit(rc)
    else:
        sys.exit("usage: driver.py serve | run")


if __name__ == "__main__":
    main()
