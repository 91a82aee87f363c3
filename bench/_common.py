"""Shared plumbing for the benchmarks: an isolated environment, a sandbox on loopback in its own process,
timed runs of commands, medians, tables, machine facts and the results file run_all.py turns into
RESULTS.md.

Nothing here reaches beyond 127.0.0.1, reads the user's HOME or keyring, or runs unbounded: every loop
has a count and every wait a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS_DIR = BENCH / ".results"
CACHE = Path(os.environ.get("CAPIT_BENCH_CACHE") or Path.home() / ".cache" / "capit-tui" / "bench")

# Variables that would leak a developer's setup (or this machine's quirks) into a measurement.
_LEAKY_PREFIXES = ("CAPIT_", "OPENROUTER_", "ANTHROPIC_", "OPENAI_", "XDG_", "PYTHON")
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def python() -> str:
    """The interpreter of the environment capit-tui is installed in (the one running the benchmark)."""
    return sys.executable


def capit_tui_exe() -> str:
    """The console script of that environment: what a user types."""
    here = Path(sys.executable).parent / "capit-tui"
    if here.exists():
        return str(here)
    found = shutil.which("capit-tui")
    if not found:
        sys.exit("capit-tui is not installed in this Python environment: run the benchmarks with the "
                 "project's venv python (e.g. /work/venv/bin/python bench/startup.py).")
    return found


def require_capit_tui() -> None:
    try:
        import capit_tui  # noqa: F401
    except ImportError:
        sys.exit("capit_tui is not importable: run the benchmarks with the project's venv python, "
                 "e.g. /work/venv/bin/python bench/startup.py")


# ---------------------------------------------------------------- environment


def isolated_env(home: Path, *, pycache: Path | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A child environment with a throwaway HOME and XDG dirs, a null keyring and no proxies.

    Byte-code is cached under `pycache` (PYTHONPYCACHEPREFIX) so that repeated runs measure what a user
    sees from the second run on, without writing __pycache__ folders into the work tree; this machine
    sets PYTHONDONTWRITEBYTECODE=1, which would otherwise recompile capit_tui on every run.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(_LEAKY_PREFIXES) and k not in _PROXIES}
    home.mkdir(parents=True, exist_ok=True)
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "TMPDIR": str(home / "tmp"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        "CAPIT_NO_KEYRING": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "PYTHONPYCACHEPREFIX": str(pycache or CACHE / "pycache"),
        "CAPIT_DATA_DIR": str(home / ".local" / "share" / "capit-tui"),
        "CAPIT_CONFIG_DIR": str(home / ".config" / "capit-tui"),
        "TERM": env.get("TERM") or "xterm-256color",
    })
    (home / "tmp").mkdir(exist_ok=True)
    if os.environ.get("CAPIT_BENCH_PYTHONPATH"):  # measure another copy of capit_tui (an A/B of a change)
        env["PYTHONPATH"] = os.environ["CAPIT_BENCH_PYTHONPATH"]
    if extra:
        env.update(extra)
    return env


@contextlib.contextmanager
def temp_home(prefix: str = "capit-bench-") -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------- the sandbox, in its own process


@dataclass
class SandboxProc:
    proc: subprocess.Popen
    base_url: str
    management_key: str = field(repr=False)
    seed_keys: int
    latency_ms: float
    seed_seconds: float

    @property
    def env(self) -> dict[str, str]:
        return {"CAPIT_OPENROUTER_BASE_URL": self.base_url, "CAPIT_OPENROUTER_MANAGEMENT_KEY": self.management_key}

    @property
    def origin(self) -> str:
        return self.base_url.split("/api/", 1)[0]

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.origin + "/_sandbox" + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.management_key}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def list_raw(self, offset: int = 0) -> list[dict[str, Any]]:
        req = urllib.request.Request(f"{self.base_url}/keys?include_disabled=true&offset={offset}",
                                     headers={"Authorization": f"Bearer {self.management_key}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())["data"]

    def clear_requests(self) -> None:
        self.admin("DELETE", "/requests")

    def requests(self) -> list[dict[str, Any]]:
        return self.admin("GET", "/requests")


@contextlib.contextmanager
def sandbox(env: dict[str, str], *, seed_keys: int = 40, latency_ms: float = 0,
            timeout: float = 120) -> Iterator[SandboxProc]:
    """`capit-tui sandbox serve --port 0` in a child process (so its threads never share the measured
    process's GIL); stopped with SIGTERM when the block ends."""
    cmd = [python(), "-m", "capit_tui", "sandbox", "serve", "--port", "0", "--seed-keys", str(seed_keys),
           "--latency-ms", str(latency_ms)]
    t0 = time.perf_counter()
    errlog = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, env=env, cwd=env.get("HOME"), stdout=subprocess.PIPE, stderr=errlog,
                            bufsize=0, start_new_session=True)
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        out = b""
        base = key = None
        deadline = time.monotonic() + timeout
        while not (base and key) and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], min(1.0, max(0.0, deadline - time.monotonic())))
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out += chunk
            for line in out.decode(errors="replace").splitlines():
                if line.startswith("export CAPIT_OPENROUTER_BASE_URL="):
                    base = line.split("=", 1)[1].strip()
                if line.startswith("export CAPIT_OPENROUTER_MANAGEMENT_KEY="):
                    key = line.split("=", 1)[1].strip()
        if not (base and key):
            errlog.seek(0)
            raise RuntimeError(f"the sandbox did not start: {errlog.read().decode(errors='replace')[-400:]}")
        yield SandboxProc(proc, base, key, seed_keys, latency_ms, time.perf_counter() - t0)
    finally:
        stop_process(proc)
        errlog.close()


def stop_process(proc: subprocess.Popen, grace: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace)


def seed_ledger(env: dict[str, str], sb: SandboxProc, platform: str = "openrouter", rounds: int = 2) -> int:
    """A ledger as a user who installed keys into three agents a couple of times has: `rounds` installs
    each of claude, codex and opencode, holding the newest keys on the sandbox. Returns the entries."""
    from capit_tui.core.ledger import Install, Ledger

    keys = sb.list_raw(0)[: 3 * rounds]
    ledger = Ledger(Path(env["CAPIT_DATA_DIR"]) / "ledger.json")
    n = 0
    for r in range(rounds):
        for j, agent in enumerate(("claude", "codex", "opencode")):
            k = keys[(r * 3 + j) % len(keys)]
            ledger.record(Install(f"2026-11-0{r + 1}T10:00:0{j}Z", agent, platform, k["hash"], k["name"],
                                  "sk-or-v1-…" + k["hash"][-4:], [f"/home/u/.{agent}/config"], f"b{r}{j}"))
            n += 1
    return n


# ---------------------------------------------------------------- timing


@dataclass
class Run:
    wall: float  # seconds, exec to exit
    cpu: float  # user + sys seconds of the child (and its children)
    rc: int
    stdout: bytes
    stderr: bytes
    maxrss_mb: float = 0.0  # the child's peak resident memory (ru_maxrss: at least the parent's size at fork)


def run_timed(argv: Sequence[str], env: dict[str, str], *, cwd: Path | None = None, timeout: float = 120,
              stdin: bytes | None = None) -> Run:
    """Exec `argv`, wait for it, and return its wall and CPU time. Output goes to files, as a shell redirect.

    The wait is a blocking wait4() (which also gives the child's own CPU time), not subprocess's timed
    wait: that one polls with sleeps of up to 50 ms and would add up to 50 ms to a measurement. A timer
    kills the child if it runs past `timeout`.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(argv), env=env, cwd=cwd or env.get("HOME"), stdout=out, stderr=err,
                                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            if stdin is not None and proc.stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.write(stdin)
                proc.stdin.close()
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if timed_out.is_set():
            raise subprocess.TimeoutExpired(list(argv), timeout)
        out.seek(0)
        err.seek(0)
        return Run(wall, usage.ru_utime + usage.ru_stime, proc.returncode, out.read(), err.read(),
                   usage.ru_maxrss / 1024)


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def spread(xs: Sequence[float]) -> tuple[float, float]:
    """(min, p90-ish max) for a small sample: the min and the second-largest value."""
    if not xs:
        return float("nan"), float("nan")
    s = sorted(xs)
    return s[0], s[-2] if len(s) > 2 else s[-1]


def fmt_s(x: float | None, unit: str = "s") -> str:
    if x is None or x != x:
        return "-"
    if unit == "ms":
        return f"{x * 1000:.1f} ms" if x < 0.01 else f"{x * 1000:.0f} ms"
    return f"{x:.3f} s"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: set[int] | None = None) -> str:
    """A plain-text table (also valid Markdown)."""
    right = right if right is not None else set(range(1, len(headers)))
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                                 for i, c in enumerate(r)) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


# ---------------------------------------------------------------- machine facts and results


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    import httpx
    import textual

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram": ram,
        "python": platform.python_version(),
        "textual": getattr(textual, "__version__", "?"),
        "httpx": httpx.__version__,
        "os": f"{platform.system()} {platform.release()}",
        "loadavg": os.getloadavg(),
    }


LOAD_AT_START = os.getloadavg()[0]  # when the benchmark's process started


def save_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    data = {"benchmark": name, "date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": machine(),
            "load_at_start": LOAD_AT_START, "load_at_end": os.getloadavg()[0], **data}
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def load_results(name: str) -> dict[str, Any] | None:
    path = RESULTS_DIR / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


_ANSI = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|P[^\x1b]*\x1b\\|[()][A-Za-z0-9]|[=>78NOM])")


def strip_ansi(data: bytes) -> bytes:
    return _ANSI.sub(b"", data)


def load_note() -> str:
    la = os.getloadavg()
    return f"load average {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} on {os.cpu_count()} cores"
