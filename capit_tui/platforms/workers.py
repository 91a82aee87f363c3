"""The worker threads HTTP requests run on, and `fetch`, which awaits one from the event loop.

The transport (`platforms.transport`) is blocking `http.client`; each request runs here on a daemon thread,
so the loop never blocks, a request hanging when a command ends never holds the process, and signals stay
with the main thread.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from capit_tui.platforms.transport import Reply, Request, TimedOut, Transport


class _Workers:
    """Daemon threads that run transports' requests (daemons, so a request hanging at exit or on Ctrl-C
    never holds the process). Grows to `most` threads as requests wait; idle ones stay for the next."""

    def __init__(self, most: int = 32):
        import queue

        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Callable[[bool, Any], None]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._most = most
        self._threads = 0
        self._idle = 0
        self._waiting = 0

    def submit(self, job: Callable[[], Any], done: Callable[[bool, Any], None]) -> None:
        with self._lock:
            self._waiting += 1
            if self._waiting > self._idle and self._threads < self._most:
                self._threads += 1
                threading.Thread(target=self._run, name="capit-http", daemon=True).start()
        self._queue.put((job, done))

    def _run(self) -> None:
        import signal

        if hasattr(signal, "pthread_sigmask"):
            # Signals are the main thread's: with them blocked here, the kernel delivers Ctrl-C, SIGTERM and
            # the terminal's resize there, so a main thread holding them for a moment (cli/parser.py) holds them.
            signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        while True:
            with self._lock:
                self._idle += 1
            job, done = self._queue.get()
            with self._lock:
                self._idle -= 1
                self._waiting -= 1
            try:
                result = job()
            except BaseException as exc:  # handed to the awaiting coroutine, raised there
                done(False, exc)
            else:
                done(True, result)


_workers = _Workers()


def _after_fork() -> None:  # a forked child has none of its parent's threads
    global _workers
    _workers = _Workers()


os.register_at_fork(after_in_child=_after_fork)


async def fetch(transport: Transport, request: Request) -> Reply:
    """Run `transport.handle(request)` on a worker thread and await its reply. At the request's deadline
    the socket is shut and TimedOut raised; a cancelled caller leaves the request to finish unseen."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[Reply] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if not waiter.done():
            if ok:
                waiter.set_result(value)
            else:
                waiter.set_exception(value)

    def done(ok: bool, value: Any) -> None:  # on the worker thread
        try:
            loop.call_soon_threadsafe(settle, ok, value)
        except RuntimeError:  # the loop has closed: nobody is waiting for this reply
            pass

    def job() -> Reply:
        if waiter.cancelled():
            raise TimedOut(sent=False)
        return transport.handle(request)

    _workers.submit(job, done)
    try:
        async with asyncio.timeout(max(0.0, request.deadline - time.monotonic()) + 0.05):
            return await waiter
    except TimeoutError:
        request.abandon()
        raise TimedOut("the whole reply did not arrive in time", sent=True) from None
