"""Putting an agent's files back from a backup: one path for the CLI (`backups restore`), the Backups
and Agents screens, and the offer after a revoke.

`restore_preview()` plans the changes back to a backup's files (optionally only one agent's) and
gives the masked diff; `restore_apply()` writes them through `changes.apply` (the current files are
backed up first, so a restore can itself be undone) and then brings the ledger in line with what the
restored files hold: an agent whose files now hold an earlier capit key is recorded as holding it
again; one whose files hold no capit key is recorded as holding none. The preview also notes the capit
keys the agents hold before (`held`): after the restore, `core.replaced.orphaned(rp.held)` says which of them
no agent holds any more, for the front ends to offer to revoke.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from capit_tui.core.backup_check import check_agent_files, check_layout
from capit_tui.core.backups import Backup, BackupStore, file_mode
from capit_tui.core.changes import ApplyError, FileChange, Plan, StaleError, apply, read_bytes
from capit_tui.core.ledger import Ledger
from capit_tui.core.recovery import settle_ledger, settle_restore
from capit_tui.core.replaced import Held, held_by_names
from capit_tui.errors import CapitError


class NothingToRestore(CapitError):
    """The backup holds no file of that agent (the message says so)."""


def restore_plan(backup: Backup) -> Plan:
    """The changes that put every file of a backup back as it was (a file that did not exist is removed).
    A manifest naming a relative path, a `..`, or a copy outside its folder is refused (BackupError)."""
    check_layout(backup)
    changes = []
    for f in backup.files:
        now = read_bytes(f.target)
        old = backup.content(f)
        if now == old:
            continue
        changes.append(FileChange("restore", f.path, f.target, now, old, file_mode(f.target),
                                  force_mode=f.mode if f.existed else None))
    return Plan(changes)


@dataclass
class RestorePreview:
    backup: Backup
    plan: Plan
    agent: str | None = None  # only this agent's files
    secrets: list[str] = field(default_factory=list, repr=False)  # extra secrets to mask in the diff
    held: list[Held] = field(default_factory=list)  # capit keys the restored agents hold now (core.replaced)

    @property
    def changes(self) -> int:
        return len(self.plan.changes)

    @property
    def agents(self) -> list[str]:
        return [self.agent] if self.agent else self.backup.agents

    def diff(self) -> str:
        """The masked unified diff from the files now back to the backup's files."""
        return "".join(c.diff(self.secrets) for c in self.plan.changes)

    def meta(self) -> dict[str, Any]:
        b = self.backup
        return {"reason": "restore", "restored": b.id, "agents": self.agents,
                "agent_files": b.meta.get("agent_files", {}), "agent_home": b.meta.get("agent_home")}


def restore_preview(store: BackupStore, backup: Backup | str, agent: str | None = None,
                    secrets: Iterable[str] = (), env: Mapping[str, str] | None = None,
                    ledger: Ledger | None = None) -> RestorePreview:
    """What restoring `backup` (all files, or only `agent`'s) would change. Reads files; writes nothing.

    Raises BackupError (no such or damaged backup, or a manifest naming a file that is not one of its
    agents' files) and NothingToRestore (the backup has no file of agent).
    """
    b = store.get(backup) if isinstance(backup, str) else backup
    check_agent_files(b, env)
    plan = restore_plan(b)
    if agent:
        if agent not in b.agents:
            raise NothingToRestore(f"Backup {b.id} holds no files of {agent}.")
        mine = set(b.meta.get("agent_files", {}).get(agent, []))
        plan = Plan([c for c in plan.changes if str(c.path) in mine])
    rp = RestorePreview(b, plan, agent, [s for s in secrets if s])
    if rp.changes:
        rp.held = held_by_names(rp.agents, ledger, env)
    return rp


def restore_apply(store: BackupStore, rp: RestorePreview, ledger: Ledger | None = None,
                  env: Mapping[str, str] | None = None) -> Backup:
    """Write the previewed restore, then record in the ledger which capit key (if any) each restored
    agent's files hold now. The files as they are now go into a new backup first (returned).

    Raises StaleError if a file changed since the preview (nothing written) and ApplyError if a write
    failed (the files already written are put back when possible; the message says).
    """
    from capit_tui.core import lock
    from capit_tui.core.journal import FileNote, Journal, digest

    ledger = ledger or Ledger()
    with lock.held(f"restoring {', '.join(rp.agents) or 'files'} from backup {rp.backup.id}"):
        if not rp.changes:
            return apply(rp.plan, store, rp.meta())
        journal = Journal()
        entry = journal.new("restore", agents=rp.agents, restored=rp.backup.id, files=[
            FileNote(str(c.path), str(c.target), digest(c.before), digest(c.after), c.agent)
            for c in rp.plan.changes])

        def noted(b: Backup) -> None:
            entry.backup = b.id
            journal.save(entry)

        try:
            journal.save(entry)
            undo = apply(rp.plan, store, rp.meta(), on_backup=noted)
            entry.state = "written"
            journal.save(entry)
            settle_ledger(ledger, rp.agents, rp.backup.id, env)
            journal.finish(entry)
        except StaleError:
            journal.finish(entry)  # nothing was written
            raise
        except ApplyError as exc:
            if exc.restored:
                journal.finish(entry)  # every file written was put back; else the next start does it
            raise
        except BaseException as exc:  # an interruption (or a bug): undo it now, as the next start would
            exc.add_note(settle_restore(entry, journal, store, ledger, env)[1])
            raise
    return undo
