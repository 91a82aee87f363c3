"""`Sandbox`, the façade tests, benchmarks and `--demo` hold: build it (seeded or empty), start and stop
it, and set its state directly (keys, spend, faults, clock); and `serve()`, which runs one in the
foreground for `capit-tui sandbox serve`. The requests themselves are answered in the other rooms."""

from __future__ import annotations

import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO

from capit_tui.core.model import parse_reset
from capit_tui.core.money import to_decimal
from capit_tui.sandbox import seeding
from capit_tui.sandbox.activity import ActivityLog
from capit_tui.sandbox.faults import Faults, parse_fault
from capit_tui.sandbox.guardrails import Guardrails
from capit_tui.sandbox.http import RecordedRequest, Server
from capit_tui.sandbox.state import ZERO, KeysView, Store, new_secret, sha256_hex
from capit_tui.sandbox.wire import API_PREFIX

__all__ = ["Sandbox", "serve"]


class Sandbox:
    """An OpenRouter look-alike on 127.0.0.1. `start()` serves in a daemon thread; `stop()` ends it."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, management_key: str | None = None,
                 seed_keys: int = 0, seed: int = 1234, clock: Callable[[], datetime] | None = None,
                 latency_ms: float = 0, cost_per_call: Decimal = Decimal("0.01"),
                 traffic: bool = False, traffic_interval: float = 3.0, workspaces: int = 1,
                 page_size: int = 100):
        self.host = host
        self.port = port
        self.seed = seed
        self.management_key = management_key or seeding.derived_management_key(seed)
        self._management_hash = sha256_hex(self.management_key)
        self.latency_ms = float(latency_ms)
        self.cost_per_call = to_decimal(cost_per_call) or ZERO
        self.traffic = traffic
        self.traffic_interval = float(traffic_interval)
        self.page_size = int(page_size)

        self._stop = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._traffic_thread: threading.Thread | None = None

        self.store = Store(seed, clock, mint=self._new_secret)
        """The account's keys and workspaces; its lock also guards `requests` and `inference_calls`."""
        self.guardrails = Guardrails()
        """The account's guardrails and which key holds which (guarded by the store's lock)."""
        self.activity = ActivityLog()
        """Every charged inference call, per day, key and model, for GET /activity."""
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        self.inference_calls: list[tuple[str, str]] = []
        self.seed_secrets: dict[str, str] = {}
        """hash -> secret of each seeded key (so a test can make inference calls with one)."""

        seeding.make_workspaces(self.store, max(1, int(workspaces)), seed)
        if seed_keys:
            self.seed_secrets.update(seeding.seed_keys(self.store, int(seed_keys), seed))
        self.total_credits: Decimal = (self.store.total_usage // 50 + 2) * 50

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        self._stop.clear()
        self._server = Server((self.host, self.port), self, self._stop)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"capit-sandbox-{self.port}", daemon=True)
        self._thread.start()
        if self.traffic:
            self._traffic_thread = threading.Thread(target=seeding.traffic_loop, args=(self, self._stop),
                                                    name="capit-sandbox-traffic", daemon=True)
            self._traffic_thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._traffic_thread is not None:
            self._traffic_thread.join(timeout=5)
            self._traffic_thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Sandbox(origin={self.origin!r}, keys={len(self.store.keys)})"

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin + API_PREFIX

    @property
    def anthropic_base_url(self) -> str:
        return self.origin + "/api"

    @property
    def management_key_hash(self) -> str:
        return self._management_hash

    @property
    def keys(self) -> Mapping[str, dict[str, Any]]:
        """hash -> key object as GET /keys/{hash} would show it now (read-only)."""
        return KeysView(self.store)

    @property
    def user_id(self) -> str:
        return self.store.user_id

    @property
    def workspaces(self) -> list[dict[str, Any]]:
        """The workspace objects as GET /workspaces shows them, oldest (the default one) first."""
        return self.store.workspaces

    @property
    def default_workspace_id(self) -> str:
        return self.store.default_workspace_id

    # ------------------------------------------------------------ state for tests

    def set_clock(self, fn: Callable[[], datetime] | None) -> None:
        """Replace the clock (None = real UTC time). It is read on every request."""
        self.store.set_clock(fn)

    def add_key(self, name: str, *, limit: Decimal | int | float | str | None = None, reset: str | None = None,
                disabled: bool = False, workspace_id: str | None = None,
                spend: Decimal | int | float | str = 0, expires_at: datetime | None = None) -> tuple[str, str]:
        """Create a key directly; returns (secret, hash). `reset` takes daily|weekly|monthly|never|None;
        `expires_at` may be in the past (an expired key); `spend` is charged now, a use of the key."""
        lim = to_decimal(limit)
        if lim is not None and lim < 0:
            raise ValueError("limit must be >= 0")
        rst = parse_reset(reset)
        store = self.store
        with store.lock:
            ws = workspace_id or store.default_workspace_id
            if not store.has_workspace(ws):
                raise ValueError(f"unknown workspace {ws!r}")
            now = store.now()
            secret = store.mint(store.secrets)
            key = store.insert(secret, name=name, limit=lim, reset=rst, disabled=disabled, workspace_id=ws,
                               created_at=now, expires_at=expires_at)
            amount = to_decimal(spend) or ZERO
            if amount:
                store.charge(key, amount, now)
            return secret, key.hash

    def spend(self, key_hash: str, amount: Decimal | int | float | str) -> None:
        """Charge `amount` dollars to a key as if by inference, at the clock's now."""
        value = to_decimal(amount) or ZERO
        with self.store.lock:
            key = self.store.keys[key_hash]
            self.store.charge(key, value, self.store.now())

    def inject_fault(self, route: str, kind: str | int, *, times: int = 1, after: int = 0,
                     retry_after: float = 1.0, stall_seconds: float = 30.0) -> None:
        """Make matching requests fail. `route` is "METHOD /path-glob" ("*" for any method).

        `after` lets that many matching requests through first; `times` <= 0 means every matching
        request until clear_faults(). Kinds: 429 (with Retry-After), 500, 502, 503, 401, stall
        (answer after stall_seconds), notjson (200 with HTML), drop (close, no response), reset (TCP RST).
        """
        self.faults.add(parse_fault(route, kind, times=times, after=after, retry_after=retry_after,
                                    stall_seconds=stall_seconds))

    def clear_faults(self) -> None:
        self.faults.clear()

    def _new_secret(self, rng: random.Random) -> str:
        """The secret of a new key, drawn from `rng`: every key the sandbox makes (seeded, by add_key
        or by POST /keys) gets its secret here, so a subclass can note them all."""
        return new_secret(rng)


def serve(port: int = 8787, seed_keys: int = 40, latency_ms: float = 0, traffic: bool = False,
          management_key: str | None = None, out: TextIO | None = None, *, host: str = "127.0.0.1",
          seed: int = 1234, workspaces: int = 1) -> int:
    """Run a sandbox in the foreground until Ctrl-C (or SIGTERM); print how to point capit-tui at it."""
    out = out if out is not None else sys.stdout
    sb = Sandbox(host=host, port=port, seed_keys=seed_keys, latency_ms=latency_ms, traffic=traffic,
                 management_key=management_key, seed=seed, workspaces=workspaces)
    sb.start()
    previous = None
    if threading.current_thread() is threading.main_thread():
        def _terminate(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        print(f"capit-tui sandbox (OpenRouter-compatible) listening on {sb.base_url}", file=out)
        print(f"Anthropic-style base URL: {sb.anthropic_base_url}", file=out)
        print("Point capit-tui at it with:", file=out)
        print(f"export CAPIT_OPENROUTER_BASE_URL={sb.base_url}", file=out)
        print(f"export CAPIT_OPENROUTER_MANAGEMENT_KEY={sb.management_key}", file=out)
        print("Press Ctrl-C to stop.", file=out, flush=True)
        while sb.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        try:
            print("capit-tui sandbox stopped.", file=out, flush=True)
        except (OSError, ValueError):
            pass
    return 0
