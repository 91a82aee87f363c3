"""The seeded account is deterministic and realistic, and the traffic simulator keeps spending."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any

from sandbox_support import SECRET_RE, T0, Clock

from capit_tui.sandbox import Sandbox


def _snapshot(sb: Sandbox) -> list[tuple[Any, ...]]:
    return [(k["hash"], k["name"], k["limit"], k["limit_reset"], k["disabled"], k["usage"], k["usage_daily"],
             k["created_at"], k["workspace_id"]) for k in sb.keys.values()]


def test_seeding_is_deterministic_and_realistic(clock: Clock) -> None:
    a = Sandbox(clock=clock, seed_keys=200, seed=7)
    b = Sandbox(clock=Clock(), seed_keys=200, seed=7)
    c = Sandbox(clock=clock, seed_keys=200, seed=8)
    assert _snapshot(a) == _snapshot(b)
    assert [k[1] for k in _snapshot(a)] != [k[1] for k in _snapshot(c)]
    assert a.management_key == b.management_key != c.management_key
    assert SECRET_RE.match(a.management_key)
    assert Sandbox(management_key="sk-or-v1-" + "ab" * 32).management_key == "sk-or-v1-" + "ab" * 32

    keys = list(a.keys.values())
    names = [k["name"] for k in keys]
    assert len(set(names)) == len(names)
    assert any(n.startswith("capit-") and re.search(r"-\d{8}$", n) for n in names)
    assert {k["limit_reset"] for k in keys} == {"daily", "weekly", "monthly", None}
    capped = [k for k in keys if k["limit"] is not None]
    assert all(1 <= k["limit"] <= 50 for k in capped)
    assert any(k["limit"] is None for k in keys) and any(k["disabled"] for k in keys)
    near = [k for k in capped if (k["limit"] - k["limit_remaining"]) >= 0.8 * k["limit"]]
    assert near, "some keys sit at 80-100% of their cap"
    for k in keys:
        assert k["usage_daily"] <= min(k["usage_weekly"], k["usage_monthly"])
        assert max(k["usage_daily"], k["usage_weekly"], k["usage_monthly"]) <= k["usage"] + 1e-9
        created = datetime.fromisoformat(k["created_at"].replace("Z", "+00:00"))
        assert T0 - timedelta(weeks=9) < created < T0
        assert SECRET_RE.match(a.seed_secrets[k["hash"]])
    assert any(k["usage"] > k["usage_monthly"] for k in keys), "some spend lies in earlier windows"


def test_traffic_simulator_spends(clock: Clock) -> None:
    with Sandbox(clock=clock, seed_keys=20, traffic=True, traffic_interval=0.05) as sb:
        before = {h: k["usage"] for h, k in sb.keys.items()}
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            time.sleep(0.05)
            after = {h: k["usage"] for h, k in sb.keys.items()}
            if after != before:
                break
        changed = [h for h in before if after[h] != before[h]]
        assert changed and all(after[h] > before[h] for h in changed)
        assert not any(sb.keys[h]["disabled"] for h in changed)
    assert sb._traffic_thread is None  # stopped with the server
