"""One lock for every write: keys issued for an install, revokes, agent files, restores, the ledger,
settings and backups. Two capit-tui processes never write at once.

`held(doing)` (sync) and `held_async(doing)` are context managers on an exclusive lock of the file
`lock` in the data dir: `fcntl.flock` on POSIX, `msvcrt.locking` on Windows. The holder writes its pid
and what it is doing into that file, so a second process can say what it waits for. The waiter polls
for a bounded time (CAPIT_LOCK_WAIT seconds, default 30), reports once through the `waiting` callback
(the core never prints: the CLI says it on stderr, the TUI in a notification), then gives up with a
LockTimeout sentence. The lock dies with its process (the kernel drops it), so a crash never leaves it
stuck.

Re-entrant: a nested `held` in the same flow of control (the same thread, or an asyncio task started
inside the held block: a ContextVar says who holds it) passes straight through. Another thread or task
of this process waits like another process would. Sync code on a thread that runs an event loop (the
TUI) must not wait long, since it freezes the loop: it waits at most 2 s for another process, and fails
at once with LockBusy when the holder is another task of this very process.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capit_tui.errors import CapitError

WAIT_ENV = "CAPIT_LOCK_WAIT"
DEFAULT_WAIT = 30.0
POLL = 0.05
IN_LOOP_WAIT = 2.0
SAY_AFTER = 1.0  # a wait is said once it has lasted this long (half the limit when that is shorter)
LOCK_NAME = "lock"
_WIN_OFFSET = 1 << 20  # msvcrt locks are mandatory: lock a byte far past the holder's note


class LockTimeout(CapitError):
    """Another capit-tui kept the lock for the whole wait; nothing was done."""


class LockBusy(LockTimeout):
    """The lock is held elsewhere and this caller cannot wait for it (sync code on an event loop)."""


@dataclass
class _Hold:
    fd: int
    depth: int
    doing: str


_guard = threading.Lock()
_hold: _Hold | None = None  # this process's hold of the file lock, if any
_mine: ContextVar[_Hold | None] = ContextVar("capit_lock_hold", default=None)
_reporter: Callable[[str], None] | None = None


def set_waiting_reporter(fn: Callable[[str], None] | None) -> None:
    """How a front end says "waiting for another capit-tui" (once per wait) when the caller gives none."""
    global _reporter
    _reporter = fn


def lock_path() -> Path:
    from capit_tui.core.paths import data_dir

    return data_dir() / LOCK_NAME


def wait_seconds() -> float:
    raw = os.environ.get(WAIT_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_WAIT
    except ValueError:
        return DEFAULT_WAIT
    return value if value >= 0 else DEFAULT_WAIT


def holds() -> bool:
    """True when this flow of control holds the lock (a write here needs no other)."""
    h = _mine.get()
    return h is not None and h is _hold


@contextlib.contextmanager
def held(doing: str, *, wait: float | None = None, waiting: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lock for the block; waits up to `wait` seconds (CAPIT_LOCK_WAIT) for another holder."""
    if holds():
        with _nested_cm():
            yield
        return
    limit = wait_seconds() if wait is None else wait
    in_loop = _loop_running()
    if in_loop:  # a sync wait here freezes the loop: a short one for another process, none for this one
        limit = min(limit, IN_LOOP_WAIT)
    start = time.monotonic()
    deadline = start + limit
    said = False
    while True:
        h = _try_take(doing)
        if h is not None:
            break
        if in_loop and _hold is not None:
            raise LockBusy(_gave_up(0, busy=True))
        if time.monotonic() >= deadline:
            raise (LockBusy if in_loop else LockTimeout)(_gave_up(limit, busy=in_loop))
        if not said and _time_to_say(start, limit):
            said = True
            _say(waiting, limit)
        time.sleep(POLL)
    token = _mine.set(h)
    try:
        yield
    finally:
        _mine.reset(token)
        _release(h)


@contextlib.asynccontextmanager
async def held_async(doing: str, *, wait: float | None = None,
                     waiting: Callable[[str], None] | None = None) -> AsyncIterator[None]:
    """The same for async code: waits with asyncio.sleep, so the event loop keeps running."""
    if holds():
        with _nested_cm():
            yield
        return
    limit = wait_seconds() if wait is None else wait
    start = time.monotonic()
    deadline = start + limit
    said = False
    while True:
        h = _try_take(doing)
        if h is not None:
            break
        if time.monotonic() >= deadline:
            raise LockTimeout(_gave_up(limit, busy=False))
        if not said and _time_to_say(start, limit):
            said = True
            _say(waiting, limit)
        await _asyncio().sleep(POLL)
    token = _mine.set(h)
    try:
        yield
    finally:
        _mine.reset(token)
        _release(h)


@contextlib.contextmanager
def _nested_cm() -> Iterator[None]:
    h = _mine.get()
    assert h is not None
    with _guard:
        h.depth += 1
    try:
        yield
    finally:
        _release(h)


def holder() -> tuple[int | None, str]:
    """(pid, what it is doing) as the holder wrote them; (None, "") when unknown."""
    try:
        raw = lock_path().read_bytes()[:4096]
        note = json.loads(raw.split(b"\0", 1)[0].decode("utf-8"))
        pid = note.get("pid")
        doing = note.get("doing")
        return (pid if isinstance(pid, int) else None), (doing if isinstance(doing, str) else "")
    except (OSError, ValueError, AttributeError):
        return None, ""


def describe_holder() -> str:
    pid, doing = holder()
    who = f"another capit-tui (pid {pid})" if pid and pid != os.getpid() else "another capit-tui"
    if pid == os.getpid():
        who = "this capit-tui"
    return f"{who} is {doing}" if doing else f"{who} is writing"


# ---------------------------------------------------------------- the file lock


def _try_take(doing: str) -> _Hold | None:
    global _hold
    with _guard:
        if _hold is not None:
            return None  # another thread or task of this process holds it
        fd = _open()
        if not _lock_fd(fd):
            os.close(fd)
            return None
        _hold = _Hold(fd, 1, doing)
    _write_note(fd, doing)
    return _hold


def _release(h: _Hold) -> None:
    global _hold
    with _guard:
        h.depth -= 1
        if h.depth > 0:
            return
        if _hold is h:
            _hold = None
    try:
        _unlock_fd(h.fd)
    finally:
        os.close(h.fd)


def _open() -> int:
    from capit_tui.core.fsutil import ensure_private_dir

    path = lock_path()
    ensure_private_dir(path.parent)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def _write_note(fd: int, doing: str) -> None:
    note = json.dumps({"pid": os.getpid(), "doing": doing}).encode("utf-8")
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, note)
    except OSError:
        pass  # the note only words the waiter's sentence


if sys.platform != "win32":
    import fcntl

    def _lock_fd(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            return False
        return True

    def _unlock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

else:
    import msvcrt

    def _lock_fd(fd: int) -> bool:
        os.lseek(fd, _WIN_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock_fd(fd: int) -> None:
        os.lseek(fd, _WIN_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


# ---------------------------------------------------------------- words


def _time_to_say(start: float, limit: float) -> bool:
    """A wait is said only once it has lasted SAY_AFTER (or half the limit, when shorter): two pieces of
    one app meeting at the lock for a moment (a spend sample and a ledger write) are no news to anyone."""
    return time.monotonic() - start >= min(SAY_AFTER, limit / 2)


def _say(waiting: Callable[[str], None] | None, limit: float) -> None:
    fn = waiting or _reporter
    if fn is None or limit <= 0:
        return
    try:
        fn(f"{_capital(describe_holder())}; waiting up to {limit:.0f} s for it to finish…")
    except Exception:  # noqa: BLE001 - a front end failing to word the wait must not stop the wait
        pass


def _gave_up(limit: float, *, busy: bool) -> str:
    if busy:
        return f"{_capital(describe_holder())}; try again when it has finished. Nothing was done."
    return (f"{_capital(describe_holder())} and still was after {limit:.0f} s, so nothing was done. "
            "Try again when it has finished.")


def _capital(s: str) -> str:
    return s[:1].upper() + s[1:]


def _asyncio() -> Any:
    import asyncio

    return asyncio


def _loop_running() -> bool:
    asyncio = sys.modules.get("asyncio")  # not imported: no loop can be running (and the CLI stays quick)
    if asyncio is None:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
