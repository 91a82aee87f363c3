"""A lived-in account from a seed: the derived management key, workspaces, keys with realistic names,
caps, resets and spend spread over past windows (some near their cap, some disabled), and the traffic
simulator that keeps charging live keys while the sandbox runs. Same seed, same account."""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from capit_tui.sandbox.state import ZERO, Store, window_start

if TYPE_CHECKING:
    from capit_tui.sandbox.server import Sandbox

AGENT_NAMES = ("claude", "codex", "opencode", "aider", "hermes", "openclaw", "qwen", "llm")
PLAIN_NAMES = (
    "ci-bot", "codex-nightly", "staging-gateway", "prod-backend", "eval-harness", "research-notebook",
    "demo", "alice-laptop", "bob-desktop", "pr-review-bot", "docs-writer", "data-pipeline",
    "hackathon", "support-triage", "migration-script", "load-test", "claude-code-team", "cursor-trial",
)
WORKSPACE_NAMES = ("Default Workspace", "Production", "Research", "CI", "Staging", "Experiments",
                   "Data", "Support")
_PLACES = Decimal("0.0001")


def derived_management_key(seed: int) -> str:
    return "sk-or-v1-" + hashlib.sha256(f"capit-tui sandbox management key {seed}".encode()).hexdigest()


def make_workspaces(store: Store, n: int, seed: int) -> None:
    """Add `n` workspaces to an empty store; the first is the default one."""
    rng = random.Random(f"{seed}:workspaces")
    now = store.now()
    for i in range(n):
        name = WORKSPACE_NAMES[i] if i < len(WORKSPACE_NAMES) else f"Workspace {i + 1}"
        slug = "default" if i == 0 else "-".join(name.lower().split())
        created = (now - timedelta(days=90 - min(i, 60), seconds=rng.randint(0, 86_399))).replace(microsecond=0)
        store.add_workspace(
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            guardrail=str(uuid.UUID(int=rng.getrandbits(128), version=5)),
            name=name, slug=slug, created_at=created,
            description=None if i == 0 else f"{name} keys",
        )


def seed_keys(store: Store, n: int, seed: int) -> dict[str, str]:
    """Deterministic, realistic keys: names, caps, resets, disabled ones, some near their cap.
    Returns hash -> secret of each key made."""
    rng = random.Random(f"{seed}:keys")
    now = store.now().replace(microsecond=0)
    ws_ids = [w["id"] for w in store.workspaces]
    used: dict[str, int] = {}
    secrets: dict[str, str] = {}
    for _ in range(n):
        created = now - timedelta(seconds=rng.randint(3600, 56 * 86400))
        if rng.random() < 0.45:
            name = f"capit-{rng.choice(AGENT_NAMES)}-{created:%Y%m%d}"
        else:
            name = rng.choice(PLAIN_NAMES)
        used[name] = used.get(name, 0) + 1
        if used[name] > 1:
            name = f"{name}-{used[name]}"
        limit = None if rng.random() < 0.2 else Decimal(rng.choice((1, 2, 3, 5, 5, 10, 10, 15, 20, 25, 30, 40, 50)))
        reset = rng.choices(("daily", "weekly", "monthly", None), weights=(2, 2, 4, 2))[0]
        disabled = rng.random() < 0.1
        if len(ws_ids) == 1 or rng.random() < 0.5:
            ws = ws_ids[0]
        else:
            ws = rng.choice(ws_ids[1:])
        updated = None if rng.random() < 0.4 else created + (now - created) * rng.random()
        expires = now + timedelta(days=rng.randint(7, 120)) if rng.random() < 0.05 else None
        secret = store.mint(rng)
        key = store.insert(secret, name=name, limit=limit, reset=reset, disabled=disabled, workspace_id=ws,
                           created_at=created, updated_at=updated.replace(microsecond=0) if updated else None,
                           expires_at=expires)
        secrets[key.hash] = secret

        # What the current window holds: 80-100% of the cap for some, a little for most.
        if limit is not None:
            frac = (Decimal(1) if rng.random() < 0.25 else Decimal(str(round(rng.uniform(0.8, 0.99), 4)))) \
                if rng.random() < 0.2 else Decimal(str(round(rng.uniform(0.0, 0.6), 4)))
            in_window = (limit * frac).quantize(_PLACES)
        else:
            in_window = (Decimal(rng.randint(0, 3000)) / 100).quantize(_PLACES)
        start = max(window_start(reset, now, created), created)
        events: list[tuple[datetime, Decimal]] = []
        if reset is not None and created < start:  # spend from earlier windows: lifetime only
            history = (Decimal(rng.randint(0, 4000)) / 100).quantize(_PLACES)
            events += _split(rng, history, created, start - timedelta(seconds=1))
        events += _split(rng, in_window, start, now)
        for at, amount in sorted(events, key=lambda e: e[0]):
            store.charge(key, amount, at)
    return secrets


def _split(rng: random.Random, total: Decimal, lo: datetime, hi: datetime) -> list[tuple[datetime, Decimal]]:
    if total <= 0 or hi < lo:
        return []
    parts = rng.randint(1, 4)
    cuts = sorted(Decimal(str(round(rng.random(), 4))) for _ in range(parts - 1))
    bounds = [Decimal(0), *cuts, Decimal(1)]
    span = (hi - lo).total_seconds()
    out = []
    done = ZERO
    for i in range(parts):
        amount = (total * bounds[i + 1]).quantize(_PLACES) - done if i < parts - 1 else total - done
        done += amount
        if amount > 0:
            out.append((lo + timedelta(seconds=int(span * rng.random())), amount))
    return out


def traffic_loop(sb: Sandbox, stop: threading.Event) -> None:
    """Every `sb.traffic_interval` seconds until `stop` is set, charge 1-3 live keys a few cents each."""
    rng = random.Random(f"{sb.seed}:traffic")
    store = sb.store
    while not stop.wait(sb.traffic_interval):
        with store.lock:
            now = store.now()
            live = [k for k in store.keys.values()
                    if not k.disabled and not k.expired(now) and (k.limit is None or (k.remaining(now) or 0) > 0)]
            if not live:
                continue
            for key in rng.sample(live, min(len(live), rng.randint(1, 3))):
                store.charge(key, Decimal(rng.randint(1, 9)) / 100, now)
