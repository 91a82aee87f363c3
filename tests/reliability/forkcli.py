"""A warm `capit-tui` for the concurrency and interrupt tests: one Python imports capit_tui once, then
forks one child per command, each running `capit_tui.cli.main(args)` exactly as `python -m capit_tui`
does (its own process, pid, environment, file descriptors and lock), with stdout and stderr in files.

Starting a fresh interpreter costs ~0.5 s of CPU per command; a fork of this one costs a few ms, which
is what lets the tests run hundreds of real, concurrent CLI processes in CI. tests/reliability/
test_concurrency.py also runs a few rounds through `python -m capit_tui` itself, to show the two agree.

Protocol (JSON lines on stdin, one answer line each on stdout):
  {"op": "run", "args": [...], "env": {...}, "out": PATH, "err": PATH}  -> {"pid": N}  (returns at once)
  {"op": "wait", "pid": N}                               -> {"rc": N|null, "signal": N|null, "cpu": seconds}
The test signals a child itself (os.kill on its pid) to interrupt it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def preload() -> None:


    import capit_tui.agents as agents_mod
    import capit_tui.cli  # noqa: F401
    import capit_tui.cli.backups  # noqa: F401
    import capit_tui.cli.issue  # noqa: F401
    import capit_tui.cli.keys  # noqa: F401
    import capit_tui.cli.parser  # noqa: F401
    import capit_tui.core.install  # noqa: F401
    import capit_tui.core.recovery  # noqa: F401
    import capit_tui.core.restore  # noqa: F401
    import capit_tui.edits as edits
    import capit_tui.platforms.openrouter  # noqa: F401

    agents_mod.all_agents({})
    for fmt, text in (("json", "{}"), ("jsonc", "{}"), ("toml", "a = 1\n"), ("json5", "{}")):
        edits.load(text, fmt, filename="x")
    # The transport and what it imports on first use (the sandbox is plain http on loopback: no TLS).
    import http.client  # noqa: F401

    import platformdirs  # noqa: F401
    import tomli_w  # noqa: F401
    import tomlkit  # noqa: F401

    import capit_tui.platforms.transport  # noqa: F401


def _child(job: dict) -> None:
    """In the forked child: become `capit-tui ARGS` and exit with its status."""
    code = 70
    try:
        os.environ.clear()
        os.environ.update(job["env"])
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        out = os.open(job["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(job["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        from capit_tui import cli

        code = cli.main(list(job["args"]))
    except KeyboardInterrupt:
        code = 130  # before main() took over the signal (the child had only just started)
    except BaseException as exc:  # noqa: BLE001 - report, never hang the server
        try:
            os.write(2, f"forkcli: {type(exc).__name__}: {exc}\n".encode())
        except OSError:
            pass
    finally:
        # The command is over: a signal landing now (the test's kill racing the child's exit) must not
        # turn this harness's own exit into a traceback. Held signals die with the process.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        os._exit(code if isinstance(code, int) else 70)


def serve() -> None:
    import gc

    preload()
    gc.freeze()  # the children's collector leaves the inherited objects (and their pages) alone
    for line in sys.stdin:
        job = json.loads(line)
        if job["op"] == "run":
            pid = os.fork()
            if pid == 0:
                _child(job)
            answer: dict = {"pid": pid}
        else:
            _, status, usage = os.wait4(int(job["pid"]), 0)
            answer = {"rc": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                      "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                      "cpu": usage.ru_utime + usage.ru_stime}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


class Server:
    """The test's handle on one warm server (thread-safe: one request at a time)."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE.parent)])
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__)), "serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, bufsize=1)
        self._lock = threading.Lock()

    def _ask(self, job: dict) -> dict:
        with self._lock:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        assert line, "the fork server died"
        return json.loads(line)

    def start(self, args: list[str], env: dict[str, str], out: Path, err: Path) -> int:
        return int(self._ask({"op": "run", "args": args, "env": env, "out": str(out), "err": str(err)})["pid"])

    def wait(self, pid: int) -> dict:
        return self._ask({"op": "wait", "pid": pid})

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


class Run:
    """One CLI command started on a server: `finish()` waits and reads what it said."""

    def __init__(self, server: Server, args: list[str], env: dict[str, str], logs: Path, label: str):
        self.server, self.args = server, args
        self.out, self.err = logs / f"{label}.out", logs / f"{label}.err"
        self.pid = server.start(args, env, self.out, self.err)
        self.rc: int | None = None
        self.signal: int | None = None
        self.cpu = 0.0  # seconds of CPU the command used
        self.stdout = self.stderr = ""

    def finish(self) -> Run:
        status = self.server.wait(self.pid)
        self.rc, self.signal, self.cpu = status["rc"], status["signal"], status["cpu"]
        # (a signal that lands before the child opened its files leaves none)
        self.stdout = self.out.read_text(errors="replace") if self.out.exists() else ""
        self.stderr = self.err.read_text(errors="replace") if self.err.exists() else ""
        return self

    def kill(self, sig: int) -> None:
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass


def cli_env(home: Path, base_url: str, management_key: str, **extra: str) -> dict[str, str]:
    """The environment of one isolated capit-tui user: HOME, XDG dirs, no keyring, the sandbox."""
    env = {
        "HOME": str(home), "USERPROFILE": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"), "XDG_CACHE_HOME": str(home / ".cache"),
        "CAPIT_NO_KEYRING": "1", "CAPIT_OPENROUTER_BASE_URL": base_url,
        "CAPIT_OPENROUTER_MANAGEMENT_KEY": management_key, "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE.parent)]),
    }
    env.update(extra)
    return env


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        serve()
    else:
        sys.exit("usage: forkcli.py serve")
