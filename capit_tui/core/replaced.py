"""The key a write replaced: after an install or a restore puts another key (or none) into an agent's files,
the capit-issued key those files held before may be held by no agent any more, yet still be live and able
to spend. This module finds such keys ("orphaned replaced keys") and revokes them through the one revoke
path (`core.keys.revoke`: under the lock, the ledger marked).

1. `held_by(agents)`, before the write: the capit keys those agents' files hold now (the ledger's current
   install for the agent, matched by masked form as the Agents view does), each with a fingerprint of the
   secret (a SHA-256 digest held in memory, never shown).
2. `orphaned(held)`, after the write (or, with `rewritten`, before it, to say what a write would leave):
   those keys that no agent's files hold now, compared by fingerprint over every agent's files, and that
   the ledger does not mark revoked. A key an agent's file that cannot be read safely might hold is never
   offered (a key in use must not be revoked by mistake).
3. `look_up()` asks each key's platform for its cap (a key already gone there is dropped), and
   `revoke_replaced()` revokes them.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from capit_tui.core.fsutil import UnsafeFile
from capit_tui.core.ledger import Ledger
from capit_tui.core.model import CappedKey

if TYPE_CHECKING:
    from capit_tui.agents.base import Agent
    from capit_tui.core.keys import Configured, Outcome


def fingerprint(secret: str) -> str:
    """What two agents' keys are compared by: a digest, so no comparison ever handles a secret's text twice."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Held:
    """A capit-issued key one agent's files held before a write."""

    agent: str
    platform: str
    key_id: str
    name: str
    masked: str
    fingerprint: str = field(repr=False)


@dataclass
class Replaced:
    """A capit-issued key that a write took out of `agents`' files and that no agent holds any more."""

    platform: str
    key_id: str
    name: str
    masked: str
    agents: list[str]  # the agents whose files held it before the write
    key: CappedKey | None = None  # as its platform reports it (the cap), once `look_up` found it
    by: str | None = None  # a rotated key no agent held: its replacement's name (then `agents` is empty)

    def capped(self) -> CappedKey:
        """The key to revoke: as the platform reported it, else what the ledger knows of it."""
        return self.key or CappedKey(self.platform, self.key_id, self.name)

    @property
    def cap_text(self) -> str:
        """'$5.00 monthly cap', 'no cap', or 'cap unknown' when its platform was not asked."""
        return self.key.budget.describe() if self.key is not None else "cap unknown"

    @property
    def revoke_command(self) -> str:
        """The command that revokes this key later: by its hash (16 hex characters pick one key), on its platform."""
        return f"capit-tui keys revoke {self.key_id[:16]} --platform {self.platform}"


def held_by(agents: Iterable[Agent], ledger: Ledger | None = None) -> list[Held]:
    """The capit keys these agents' files hold now (read from the files; a file that cannot be read holds
    no known key). Only file agents: capit-tui writes no file of the others."""
    current = (ledger or Ledger()).current()
    out = []
    for a in agents:
        if a.support != "file":
            continue
        try:
            k = a.installed_key()
        except Exception:  # noqa: BLE001 - an unreadable or damaged file holds no key we know
            continue
        i = current.get(a.name)
        if k is None or not k.secret or i is None or not i.key_id or i.revoked or i.masked != k.masked:
            continue
        out.append(Held(a.name, i.platform, i.key_id, i.key_name, i.masked, fingerprint(k.secret)))
    return out


def held_by_names(names: Iterable[str], ledger: Ledger | None = None,
                  env: Mapping[str, str] | None = None) -> list[Held]:
    """`held_by` for agents named as a backup names them (an unknown name is left out)."""
    from capit_tui import agents as agents_mod

    found = []
    for n in names:
        try:
            found.append(agents_mod.get(n, env))
        except KeyError:
            continue
    return held_by(found, ledger)


def orphaned(held: Iterable[Held], ledger: Ledger | None = None, env: Mapping[str, str] | None = None, *,
             rewritten: Iterable[str] = ()) -> list[Replaced]:
    """The keys of `held` that no agent's files hold now and that the ledger does not mark revoked.
    `rewritten` names agents whose files are about to lose their key (a preview): they count as holding none."""
    held = list(held)
    if not held:
        return []
    now = _fingerprints_now(env, set(rewritten))
    if now is None:
        return []
    revoked = {(i.platform, i.key_id) for i in (ledger or Ledger()).entries() if i.revoked}
    out: dict[tuple[str, str], Replaced] = {}
    for h in held:
        ident = (h.platform, h.key_id)
        if h.fingerprint in now or ident in revoked:
            continue
        r = out.setdefault(ident, Replaced(h.platform, h.key_id, h.name, h.masked, []))
        if h.agent not in r.agents:
            r.agents.append(h.agent)
    return list(out.values())


def _fingerprints_now(env: Mapping[str, str] | None, skip: set[str]) -> set[str] | None:
    """The fingerprints of the keys every file agent's files hold now; None when a file could not be read
    safely (a FIFO, a link to another user's file): then nobody can say that no agent holds a key."""
    from capit_tui import agents as agents_mod

    out = set()
    for a in agents_mod.all_agents(env):
        if a.support != "file" or a.name in skip:
            continue
        try:
            k = a.installed_key()
        except UnsafeFile:
            return None
        except Exception:  # noqa: BLE001 - a file that does not parse makes its agent use no key of ours
            continue
        if k is not None and k.secret:
            out.add(fingerprint(k.secret))
    return out


async def look_up(replaced: list[Replaced], platforms: Mapping[str, Configured],
                  **open_kwargs: Any) -> list[Replaced]:
    """Each key as its platform reports it now (`key`, for its cap). A key its platform no longer has is
    left out (there is nothing to revoke); one whose platform is not configured, or did not answer within
    one request's deadline (the install is done: this only words the offer, it must not hold it up), is
    kept without `key`."""
    from capit_tui.platforms.base import NotFound, PlatformError, request_deadline

    out = []
    for r in replaced:
        c = platforms.get(r.platform)
        if c is not None:
            try:
                async with c.open(**open_kwargs) as p:
                    r.key = await asyncio.wait_for(p.get_key(r.key_id), request_deadline())
            except NotFound:
                continue
            except (PlatformError, TimeoutError):
                pass
        out.append(r)
    return out


async def revoke_replaced(replaced: list[Replaced], platforms: Mapping[str, Configured],
                          ledger: Ledger | None = None) -> list[Outcome]:
    """Revoke each key through `core.keys.revoke` (under the lock, marked revoked in the ledger). A key
    on a platform that is not configured is not touched (the caller says so)."""
    from capit_tui.core.keys import for_each_key, revoke

    ledger = ledger or Ledger()
    keys = [r.capped() for r in replaced if r.platform in platforms]
    return await for_each_key(keys, dict(platforms), lambda p, k: revoke(p, k, ledger))


__all__ = ["Held", "Replaced", "fingerprint", "held_by", "held_by_names", "look_up", "orphaned",
           "revoke_replaced"]
