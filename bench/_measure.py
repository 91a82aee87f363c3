"""Measurement helpers shared by the benchmarks: the longest stall of an asyncio event loop, and peak
RSS (this process's, or a finished child's from its rusage).

    meter = StallMeter(); meter.start()   # inside the loop to watch
    ... work ...
    await meter.stop(); meter.max_gap      # seconds; meter.gaps: (gap, when) of gaps over 50 ms
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time


class StallMeter:
    """Sleeps 1 ms at a time in the running loop and records the longest gap between wake-ups: how long
    the loop could not run anything else (what a user of the TUI would feel as a frozen screen)."""

    def __init__(self, threshold: float = 0.05) -> None:
        self.threshold = threshold
        self.max_gap = 0.0
        self.gaps: list[tuple[float, float]] = []
        self.ticks = 0
        self.t0 = time.perf_counter()
        self._stop = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def reset(self) -> None:
        self.max_gap, self.gaps, self.ticks, self.t0 = 0.0, [], 0, time.perf_counter()

    async def _run(self) -> None:
        last = time.perf_counter()
        while not self._stop:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gap, last = now - last, now
            self.ticks += 1
            self.max_gap = max(self.max_gap, gap)
            if gap > self.threshold:
                self.gaps.append((round(gap, 4), round(now - self.t0, 3)))

    async def stop(self) -> None:
        self._stop = True
        if self._task is not None:
            await self._task


def peak_rss_mb(usage: resource.struct_rusage | None = None) -> float:
    """Peak resident memory in MB: of this process, or from a child's rusage (os.wait4).

    For this process Linux's VmHWM is read first: ru_maxrss keeps the high-water mark of the process
    image before exec, so a child forked from a bigger parent reports at least the parent's size."""
    if usage is None:
        try:
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except (OSError, ValueError, IndexError):
            pass
    r = usage if usage is not None else resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
