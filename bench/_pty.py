"""Run a full-screen program in a pseudo-terminal and time what appears on its screen."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from dataclasses import dataclass, field
from typing import Sequence

from _common import strip_ansi


@dataclass
class ScreenTimes:
    first_output: float | None = None  # exec -> first byte on the terminal
    first_paint: float | None = None  # exec -> the app's header text drawn
    data: float | None = None  # exec -> a row of data (the pattern) drawn
    data_cpu: float | None = None  # CPU (user + sys, all threads) the process had used at `data`
    exit: float | None = None  # 'q' sent -> process gone
    rc: int | None = None
    transcript: bytes = field(default=b"", repr=False)


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def run_in_pty(argv: Sequence[str], env: dict[str, str], data_pattern: re.Pattern[bytes], *,
               paint_marker: bytes = b"capit-tui", cols: int = 160, rows: int = 48, timeout: float = 30.0,
               quit_keys: bytes = b"q", keep_transcript: bool = False) -> ScreenTimes:
    """Exec `argv` on a fresh pty of cols x rows; read until `data_pattern` shows (ANSI stripped); quit."""
    master, slave = os.openpty()
    _set_size(slave, rows, cols)
    times = ScreenTimes()
    buf = bytearray()
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(argv), env=env, cwd=env.get("HOME"), stdin=slave, stdout=slave, stderr=slave,
                            close_fds=True,
                            start_new_session=True, preexec_fn=_make_controlling)
    os.close(slave)
    try:
        deadline = t0 + timeout
        scanned = 0
        while time.perf_counter() < deadline and times.data is None:
            r, _, _ = select.select([master], [], [], 0.05)
            if not r:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            now = time.perf_counter() - t0
            buf += chunk
            if times.first_output is None:
                times.first_output = now
            # Only re-scan the tail: a match may straddle two reads.
            text = strip_ansi(bytes(buf[max(0, scanned - 4096):]))
            if times.first_paint is None and paint_marker in text:
                times.first_paint = now
            if data_pattern.search(text):
                times.data = now
                times.data_cpu = _cpu_of(proc.pid)
                if times.first_paint is None:
                    times.first_paint = now
            scanned = len(buf)
        # Quit the way a user does, then make sure it is gone.
        tq = time.perf_counter()
        with contextlib.suppress(OSError):
            os.write(master, quit_keys)
        end = tq + 10.0
        while time.perf_counter() < end and proc.poll() is None:
            r, _, _ = select.select([master], [], [], 0.005)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    chunk = b""
                if keep_transcript:
                    buf += chunk
        if proc.poll() is not None:
            times.exit = time.perf_counter() - tq
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        times.rc = proc.returncode
        if keep_transcript:
            times.transcript = bytes(buf)
        return times
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        os.close(master)


def _cpu_of(pid: int) -> float | None:
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _make_controlling() -> None:
    """In the child: start_new_session already called setsid(); make the pty its controlling terminal."""
    with contextlib.suppress(OSError):
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
