"""Fault injection: the faults a test arms ("METHOD /path-glob" -> 429, 5xx, 401, a stall, a non-JSON
page, a dropped or reset connection), which request each one catches, and the reply it makes."""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass
from typing import Any

from capit_tui.sandbox.wire import Resp, error

FAULT_KINDS = ("429", "500", "502", "503", "401", "stall", "notjson", "drop", "reset")


@dataclass
class Fault:
    method: str
    path: str
    kind: str
    times: int
    after: int
    retry_after: float
    stall_seconds: float

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method == method) and fnmatch.fnmatchcase(path, self.path)


def parse_fault(route: str, kind: str | int, *, times: int, after: int, retry_after: float,
                stall_seconds: float) -> Fault:
    """A fault from `Sandbox.inject_fault`'s arguments; ValueError for an unknown kind."""
    kind = str(kind).strip().lower()
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
    parts = str(route).split(None, 1)
    method, path = ("*", parts[0]) if len(parts) == 1 else (parts[0].upper(), parts[1].strip())
    return Fault(method, path, kind, int(times), max(0, int(after)), float(retry_after), float(stall_seconds))


class Faults:
    """The armed faults, in the order they were armed; the first that matches a request takes it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> int:
        """Disarm them all; returns how many there were."""
        with self._lock:
            n = len(self._faults)
            self._faults.clear()
            return n

    def to_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [vars(f).copy() for f in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        """The fault this request meets, if any, counting it against `after` and `times`."""
        with self._lock:
            for f in list(self._faults):
                if not f.matches(method, path):
                    continue
                if f.after > 0:
                    f.after -= 1
                    continue
                if f.times > 0:
                    f.times -= 1
                    if f.times == 0:
                        self._faults.remove(f)
                return f
        return None


def fault_response(fault: Fault, anthropic: bool) -> Resp:
    """The reply for any kind but "stall" (which the request handler waits out itself)."""
    kind = fault.kind
    if kind == "429":
        ra = fault.retry_after
        header = str(int(ra)) if float(ra).is_integer() else format(ra, "g")
        return error(429, "Rate limit exceeded", anthropic=anthropic,
                     headers={"Retry-After": header, "X-RateLimit-Remaining": "0"})
    if kind in ("500", "502", "503", "401"):
        return error(int(kind), anthropic=anthropic)
    if kind == "notjson":
        html = ("<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
                "<body><h1>Bad Gateway</h1><p>capit-tui sandbox: injected non-JSON reply.</p></body></html>")
        return Resp(200, html.encode(), {"Content-Type": "text/html; charset=utf-8"})
    return Resp(0, close=kind)  # drop | reset
