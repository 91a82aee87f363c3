"""A key held by several agents, as capit-tui leaves it: one real key on the sandbox, written into each
agent's files by the core's own plan/apply, and recorded in the ledger. For the rotation tests."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import httpx

from capit_tui import agents as agents_mod
from capit_tui.core.backups import BackupStore
from capit_tui.core.changes import apply, plan_edits
from capit_tui.core.install import preview
from capit_tui.core.keys import Configured
from capit_tui.core.ledger import Install, Ledger, now_iso
from capit_tui.core.redact import mask
from capit_tui.core.settings import PlatformConfig
from capit_tui.sandbox import Sandbox

CHAT = {"model": "openai/gpt-5.1", "messages": [{"role": "user", "content": "hi"}]}


def configured(sb: Sandbox) -> Configured:
    return Configured(PlatformConfig("openrouter", "openrouter", sb.base_url), "env", sb.management_key)


def hold(sb: Sandbox, agent_names: list[str], name: str = "old-key", *, limit: Decimal | int = 5,
         reset: str | None = "weekly", expires_at: datetime | None = None,
         model: str | None = None, c: Configured | None = None) -> tuple[str, str]:
    """Issue `name` on the sandbox and install it into every named agent (pointed at `c`, the sandbox as
    configured by default; `model` written into their model fields, as --model does). Returns (secret, hash)."""
    secret, h = sb.add_key(name, limit=limit, reset=reset, expires_at=expires_at)
    c = c or configured(sb)
    agents = [agents_mod.get(n) for n in agent_names]
    pv = preview(c, agents, model=model)
    edits = [(a.name, e) for a in agents for e in a.plan_install(pv.endpoint(secret))]
    plan = plan_edits(edits, [secret])
    b = apply(plan, BackupStore(), {"reason": "install", "agents": agent_names, "platform": c.name})
    Ledger().record_all([Install(now_iso(), a.name, c.name, h, name, mask(secret),
                                 [str(x.path) for x in plan.for_agent(a.name)], b.id) for a in agents])
    return secret, h


def answers(sb: Sandbox, secret: str) -> int:
    """The status the sandbox answers an inference call made with `secret` (200 works, 401 refused)."""
    r = httpx.post(f"{sb.base_url}/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {secret}"},
                   trust_env=False, timeout=10)
    return r.status_code


def held_secret(agent: str) -> str | None:
    k = agents_mod.get(agent).installed_key()
    return k.secret if k is not None else None
