"""Install capped keys into agents, all or nothing.

1. preview(): plan every file edit with a placeholder key of the real shape; the diffs can be shown
   before any key exists.
2. execute(): issue one key per agent (each agent its own budget), plan again with the real keys,
   check no file changed since the preview, back up every file, write them all atomically, record
   the install in the ledger. If anything fails after a key was issued, the files are put back and
   the keys just issued are revoked, and the error says exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from capit_tui.agents.base import Agent, Endpoint
from capit_tui.core.backups import Backup, BackupStore
from capit_tui.core.changes import ApplyError, Plan, PlanError, StaleError, apply, plan_edits
from capit_tui.core.fsutil import UnsafeFile
from capit_tui.core.keys import Configured, default_name
from capit_tui.core.ledger import Install, Ledger, now_iso
from capit_tui.core.model import Budget, IssuedKey
from capit_tui.core.redact import mask, placeholder_like
from capit_tui.errors import CapitError


class InstallError(CapitError):
    """The install did not happen (or was undone). The message says what state things are in."""


@dataclass
class Preview:
    platform: Configured
    openai_base_url: str
    anthropic_base_url: str | None
    model: str | None
    agents: list[Agent]  # file-edit agents, in order
    manual: list[Agent]  # agents that get a key and steps, no file edit
    key_names: dict[str, str]
    plan: Plan
    placeholder: str = field(repr=False, default="")
    warnings: list[str] = field(default_factory=list)
    unsupported: dict[str, str] = field(default_factory=dict)  # agent -> why it cannot be installed here

    def diff(self) -> str:
        return self.plan.diff()

    def endpoint(self, secret: str) -> Endpoint:
        return Endpoint(self.platform.name, self.openai_base_url, self.anthropic_base_url, secret, self.model,
                        self.platform.config.kind)


@dataclass
class AgentResult:
    agent: Agent
    issued: IssuedKey
    files: list[Path]


@dataclass
class Result:
    installed: list[AgentResult]
    manual: list[tuple[Agent, IssuedKey, list[str]]]
    backup: Backup | None


def key_name(agent: str, base: str | None, today: date | None = None) -> str:
    return f"{base}-{agent}" if base else default_name(agent, today)


def placeholder_for(kind: str) -> str:
    return placeholder_like("sk-", 51) if kind == "oneapi" else placeholder_like()


def preview(c: Configured, agents: list[Agent], *, name: str | None = None, model: str | None = None,
            today: date | None = None) -> Preview:
    """Plan all edits with a placeholder key. Raises PlanError (nothing written) on a bad file."""
    p = c.open()  # opens no connection: the adapter only knows its endpoints until a request is made
    openai_base, anthropic_base = p.openai_base_url, p.anthropic_base_url
    placeholder = placeholder_for(c.config.kind)
    pv = Preview(c, openai_base, anthropic_base, model, [], [], {}, Plan([]), placeholder)
    edits: list[tuple[str, Any]] = []
    for a in agents:
        pv.key_names[a.name] = key_name(a.name, name, today)
        if a.support != "file":
            pv.manual.append(a)
            continue
        try:
            agent_edits = a.plan_install(pv.endpoint(placeholder))
        except ValueError as exc:
            pv.unsupported[a.name] = str(exc)
            continue
        except UnsafeFile as exc:  # a FIFO, a link to another user's file, ... read while planning
            raise PlanError(f"{exc} Nothing was changed.") from None
        pv.agents.append(a)
        edits.extend((a.name, e) for e in agent_edits)
        pv.warnings.extend(f"{a.title}: {w}" for w in a.warnings())
    pv.plan = plan_edits(edits, [placeholder])
    return pv


async def execute(pv: Preview, limit: Decimal | None, reset: str | None, *,
                  store: BackupStore | None = None, ledger: Ledger | None = None,
                  progress: Callable[[str], None] = lambda s: None,
                  write: Callable[[Path, bytes, int], None] | None = None) -> Result:
    from capit_tui.platforms.base import PlatformError

    if pv.unsupported:
        name, why = next(iter(pv.unsupported.items()))
        raise InstallError(f"Cannot install into {name}: {why} Nothing was issued.")
    store = store or BackupStore()
    ledger = ledger or Ledger()
    issued: dict[str, IssuedKey] = {}
    async with pv.platform.open() as p:
        try:
            for a in pv.agents + pv.manual:
                progress(f"Issuing {pv.key_names[a.name]} on {pv.platform.name}")
                issued[a.name] = await p.create_key(pv.key_names[a.name], limit, reset)
        except PlatformError as exc:
            undone = await _revoke(p, issued)
            raise InstallError(f"Issuing the key for {a.title} failed: {exc}{undone} No file was changed.") from None

        secrets = [k.secret for k in issued.values()]
        edits: list[tuple[str, Any]] = []
        backup = None
        try:
            for a in pv.agents:
                try:
                    edits.extend((a.name, e) for e in a.plan_install(pv.endpoint(issued[a.name].secret)))
                except UnsafeFile as exc:
                    raise PlanError(f"{exc} Nothing was changed.") from None
            plan = plan_edits(edits, secrets + [pv.placeholder])
            _same_files(pv.plan, plan)
            if plan.changes:
                progress("Backing up and writing " + ", ".join(str(c.path) for c in plan.changes))
                backup = apply(plan, store, {
                    "reason": "install",
                    "agents": [a.name for a in pv.agents],
                    "agent_files": {a.name: [str(c.path) for c in plan.for_agent(a.name)] for a in pv.agents},
                    "agent_home": str(pv.agents[0].home),
                    "platform": pv.platform.name,
                    "keys": {a.name: {"id": issued[a.name].key.id, "name": issued[a.name].key.name,
                                      "masked": mask(issued[a.name].secret)} for a in pv.agents},
                }, write=write)
        except (PlanError, StaleError, ApplyError) as exc:
            undone = await _revoke(p, issued)
            raise InstallError(f"{exc}{undone}") from None

    results = []
    for a in pv.agents:
        k = issued[a.name]
        files = [c.path for c in plan.for_agent(a.name)]
        ledger.record(Install(now_iso(), a.name, pv.platform.name, k.key.id, k.key.name, mask(k.secret),
                              [str(f) for f in files], backup.id if backup else None))
        results.append(AgentResult(a, k, files))
    manual = [(a, issued[a.name], a.manual_steps(pv.endpoint(issued[a.name].secret))) for a in pv.manual]
    return Result(results, manual, backup)


def _same_files(before: Plan, after: Plan) -> None:
    """The real plan must touch the same files, starting from the same bytes, as the preview."""
    old = {c.path: c.before for c in before.changes}
    for c in after.changes:
        if c.path in old and old[c.path] != c.before:
            raise StaleError(f"{c.path} changed since the preview, so nothing was written. "
                             "Look at the new diff and confirm again.")
    if set(old) - {c.path for c in after.changes}:
        missing = sorted(set(old) - {c.path for c in after.changes})
        raise StaleError(f"{missing[0]} changed since the preview, so nothing was written.")


async def _revoke(p: Any, issued: dict[str, IssuedKey]) -> str:
    from capit_tui.platforms.base import PlatformError

    if not issued:
        return ""
    failed = []
    for k in issued.values():
        try:
            await p.delete_key(k.key.id)
        except PlatformError:
            failed.append(k.key.name)
    if failed:
        return (f" The key{'s' if len(failed) > 1 else ''} {', '.join(failed)} could not be revoked; "
                "revoke with `capit-tui keys revoke NAME`.")
    names = ", ".join(k.key.name for k in issued.values())
    many = len(issued) > 1
    return f" The key{'s' if many else ''} just issued ({names}) {'were' if many else 'was'} revoked."


@dataclass
class IssueRequest:
    """What the new-key form asks for: the review shows it, then issues it (`execute`, or one key alone)."""

    platform: Configured
    limit: Decimal | None  # None: no cap (only with the explicit checkbox)
    reset: str | None  # None: never resets
    name: str | None  # the base name the user typed; None: capit-<agent>-<date> per agent
    key_name: str  # the key's name when no agent is chosen
    model: str | None
    agents: list[Agent]
    preview: Preview | None  # None when no agent is chosen: no file changes
    home: Path  # the agents' home, shown as ~

    @property
    def budget(self) -> Budget:
        return Budget(self.limit, self.reset)

    @property
    def cap_text(self) -> str:
        return self.budget.describe() if self.limit is not None else "NO cap"
