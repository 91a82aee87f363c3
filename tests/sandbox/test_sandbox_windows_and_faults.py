"""Spend windows that reset at midnight UTC, on Mondays and on the 1st; and every kind of injected
fault (errors, 429 with Retry-After, stalls, non-JSON, dropped and reset connections)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from decimal import Decimal

import httpx
import pytest
from openapi_contract import validate_response
from sandbox_support import Clock, call, client

from capit_tui.sandbox import Sandbox

# ---------------------------------------------------------------- spend windows


def test_windows_reset_at_midnight_monday_and_month(sb: Sandbox, clock: Clock) -> None:
    caps = {r: sb.add_key(f"cap-{r}", limit=Decimal("2"), reset=r)[1] for r in ("daily", "weekly", "monthly", None)}
    for h in caps.values():
        sb.spend(h, Decimal("1.00"))  # Sunday 23:30

    def view(h: str) -> tuple[float, float, float, float, float]:
        with client(sb, sb.management_key) as m:
            k = call(m, "GET", f"/keys/{h}")["data"]
        return k["usage_daily"], k["usage_weekly"], k["usage_monthly"], k["usage"], k["limit_remaining"]

    assert view(caps["daily"]) == (1, 1, 1, 1, 1)
    clock.now = datetime(2026, 11, 30, 0, 10, tzinfo=timezone.utc)  # Monday: new day and new week
    assert view(caps["daily"]) == (0, 0, 1, 1, 2)
    assert view(caps["weekly"]) == (0, 0, 1, 1, 2)
    assert view(caps["monthly"]) == (0, 0, 1, 1, 1)
    assert view(caps[None]) == (0, 0, 1, 1, 1)
    for h in caps.values():
        sb.spend(h, Decimal("0.5"))
    assert view(caps["weekly"]) == (0.5, 0.5, 1.5, 1.5, 1.5)
    clock.now = datetime(2026, 12, 1, 0, 1, tzinfo=timezone.utc)  # Tuesday, new month
    assert view(caps["daily"]) == (0, 0.5, 0, 1.5, 2)
    assert view(caps["weekly"]) == (0, 0.5, 0, 1.5, 1.5)
    assert view(caps["monthly"]) == (0, 0.5, 0, 1.5, 2)
    assert view(caps[None]) == (0, 0.5, 0, 1.5, 0.5)
    clock.now = datetime(2026, 12, 7, 0, 0, tzinfo=timezone.utc)  # next Monday
    assert view(caps["weekly"]) == (0, 0, 0, 1.5, 2)

# ---------------------------------------------------------------- faults


@pytest.mark.parametrize("kind", ["500", "502", "503", "401"])
def test_error_faults(sb: Sandbox, kind: str) -> None:
    sb.inject_fault("GET /api/v1/keys*", kind)
    with client(sb, sb.management_key) as m:
        r = m.get("/keys")
        assert r.status_code == int(kind) and r.json()["error"]["code"] == int(kind)
        if kind in ("500", "401"):
            validate_response("GET", "/keys", r.status_code, r.json())
        assert m.get("/keys").status_code == 200  # times=1 by default
    assert [r.status for r in sb.requests] == [int(kind), 200]


def test_429_fault_with_retry_after_and_after_and_times(sb: Sandbox) -> None:
    sb.inject_fault("GET /api/v1/keys", "429", times=2, after=2, retry_after=7)
    with client(sb, sb.management_key) as m:
        statuses = [m.get("/keys") for _ in range(5)]
        assert m.get("/credits").status_code == 200  # another route is untouched
    assert [r.status_code for r in statuses] == [200, 200, 429, 429, 200]
    assert statuses[2].headers["retry-after"] == "7"
    validate_response("GET", "/keys", 429, statuses[2].json())


def test_fault_route_globs_and_clear(sb: Sandbox) -> None:
    _, h = sb.add_key("a")
    sb.inject_fault("* /api/v1/keys/*", "503", times=0)  # every matching request until cleared
    with client(sb, sb.management_key) as m:
        assert m.get("/keys").status_code == 200
        assert m.get(f"/keys/{h}").status_code == 503
        assert m.patch(f"/keys/{h}", json={"name": "b"}).status_code == 503
        assert m.get(f"/keys/{h}").status_code == 503
        sb.clear_faults()
        assert m.get(f"/keys/{h}").status_code == 200
    with pytest.raises(ValueError):
        sb.inject_fault("GET /x", "teapot")


def test_stall_fault_exceeds_a_client_timeout(sb: Sandbox) -> None:
    sb.inject_fault("GET /api/v1/key", "stall", stall_seconds=2.0)
    with client(sb, sb.management_key, timeout=0.25) as m:
        t = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            m.get("/key")
        assert time.monotonic() - t < 1.5
        assert m.get("/key").status_code == 200
    sb.inject_fault("GET /api/v1/key", "stall", stall_seconds=0.3)
    with client(sb, sb.management_key) as m:
        t = time.monotonic()
        assert m.get("/key").status_code == 200
        assert time.monotonic() - t >= 0.3


def test_notjson_drop_and_reset_faults(sb: Sandbox) -> None:
    sb.inject_fault("GET /api/v1/keys", "notjson")
    with client(sb, sb.management_key) as m:
        r = m.get("/keys")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        with pytest.raises(json.JSONDecodeError):
            r.json()
    sb.inject_fault("GET /api/v1/keys", "drop")
    with client(sb, sb.management_key) as m:
        with pytest.raises(httpx.RemoteProtocolError):
            m.get("/keys")
        assert m.get("/keys").status_code == 200
    sb.inject_fault("POST /api/v1/keys", "reset")
    with client(sb, sb.management_key) as m:
        with pytest.raises(httpx.ReadError):
            m.post("/keys", json={"name": "maybe"})
        assert m.get("/keys").status_code == 200
    assert [r.status for r in sb.requests] == [200, None, 200, None, 200]
    assert sb.requests[3].json == {"name": "maybe"}
    assert len(sb.keys) == 0  # a faulted create never reaches the handler


def test_faults_mid_way_through_paging(clock: Clock) -> None:
    with Sandbox(clock=clock, seed_keys=350) as sb, client(sb, sb.management_key) as m:
        sb.inject_fault("GET /api/v1/keys", "500", after=2)
        codes = [m.get("/keys", params={"offset": str(o), "include_disabled": "true"}).status_code
                 for o in (0, 100, 200, 200, 300)]
    assert codes == [200, 200, 500, 200, 200]
