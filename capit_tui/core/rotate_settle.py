"""Finishing or undoing a rotation (core/rotate.py) from its journal entry: the one rule, used by the
rotation itself (a failure or an interruption) and by the next start (core/recovery.py, after a SIGKILL).

- Every file holds the new key (the entry is `written`, or every file holds its new bytes): the rotation
  stands. The ledger records the new key in each agent, then the old key (`entry.retire`) is revoked and
  marked revoked. A platform that cannot be reached keeps the entry, so the next start revokes it; the
  agents already use the new key meanwhile.
- Anything less: every file is put back, the new key is revoked (found by name when its create's reply was
  lost), and the old key is left alone, still working in every agent.

Either way each agent ends with exactly one working key. No printing: each outcome is one sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from capit_tui.core.backups import BackupError, BackupStore
from capit_tui.core.journal import Entry, Journal
from capit_tui.core.ledger import Install, Ledger, now_iso
from capit_tui.core.text import plural
from capit_tui.core.undo import Undone, put_files_back, revoke_keys, tidy, unsure_words, written


def record_rotation(entry: Entry, ledger: Ledger, when: str | None = None) -> int:
    """The ledger gets the new key in every agent of a written rotation (once). Returns how many."""
    have = {(i.agent, i.platform, i.key_id) for i in ledger.entries()}
    old = entry.retire[0].id if entry.retire else None
    new = [Install(when or now_iso(), a, entry.platform, k.id, k.name, k.masked,
                   [f.path for f in entry.files if f.agent == a], entry.backup, extra={"rotated_from": old})
           for k in entry.keys if k.id for a in entry.agents if (a, entry.platform, k.id) not in have]
    if new:
        ledger.record_all(new)
    return len(new)


async def retire_old(p: Any, entry: Entry, ledger: Ledger, out: Undone) -> None:
    """Revoke the old key (already gone counts as revoked) and mark it revoked in the ledger."""
    await revoke_keys(p, entry.retire, set(), out)
    for k in entry.retire:
        if k.name in out.revoked and k.id:
            ledger.mark_revoked(entry.platform, k.id)


def put_back(entry: Entry, store: BackupStore, out: Undone) -> str:
    """The files back to their old bytes; '' when that worked, else why not."""
    try:
        put_files_back(entry, store, out)
        if entry.backup is not None:  # `backups list` shows it as rolled back
            store.mark_rolled_back(entry.backup, now_iso())
    except (BackupError, OSError) as exc:
        return str(exc)
    return ""


def complete_words(entry: Entry, out: Undone) -> str:
    """A rotation whose files were all written: what became of the old key."""
    new = entry.keys[0].name if entry.keys else "the new key"
    old = ", ".join(k.name for k in entry.retire) or "the old key"
    said = f"every agent ({', '.join(entry.agents)}) now uses {new}"
    if out.complete:
        return said + f", and {old} was revoked"
    return (f"{said}, but {old} could not be revoked yet ({out.why.rstrip('.')}); capit-tui will revoke it at "
            "its next start")


def undone_words(entry: Entry, out: Undone) -> str:
    """A rotation put back: the new key revoked (or not yet), the files back, the old key working."""
    old = ", ".join(k.name for k in entry.retire) or "the old key"
    parts = []
    if out.revoked:
        parts.append(f"the new key {', '.join(out.revoked)} was revoked")
    elif not out.failed and not out.unsure:
        parts.append("no new key had been made")
    parts.append(f"{plural(len(out.files_back), 'file')} put back" if out.files_back else "no file had been changed")
    said = " and ".join(parts) + f"; {old} still works"
    if out.files_left:
        said += f" ({', '.join(out.files_left)} changed since, so left as it is)"
    if out.failed:
        said += (f". But the new key {', '.join(out.failed)} could not be revoked ({out.why.rstrip('.')}); "
                 "capit-tui will revoke it at its next start")
    if out.unsure:
        said += f". {unsure_words(out.unsure, entry.platform)}"
    return said


async def settle_rotation(entry: Entry, *, journal: Journal, store: BackupStore, ledger: Ledger,
                          open_platform: Callable[[str], Any], known_ids: set[str]) -> tuple[bool, str]:
    """At the next start (the lock held): finish or undo a rotation a killed process left."""
    what = entry.describe()
    what = what[:1].upper() + what[1:]
    out = Undone()
    finish = written(entry)
    if not finish:
        why = put_back(entry, store, out)
        if why:
            return False, (f"{what} did not finish, and putting its files back failed ({why}); capit-tui will "
                           "try again at the next start.")
    todo = entry.retire if finish else entry.keys
    p = None
    if todo:
        try:
            p = open_platform(entry.platform)
        except Exception as exc:  # noqa: BLE001 - no settings or no management key: say so, keep the entry
            out.failed, out.why = [k.name for k in todo], str(exc)
    if finish:
        entry.state = "written"
        record_rotation(entry, ledger)
    if p is not None:
        try:
            if finish:
                await retire_old(p, entry, ledger, out)
            else:
                await revoke_keys(p, entry.keys, known_ids, out)
        finally:
            await p.aclose()
    tidy(entry, store)
    if out.complete:
        journal.finish(entry)
    else:
        left = out.left
        if finish:
            entry.retire = [k for k in entry.retire if k.name in left]
        else:
            entry.keys, entry.files, entry.backup = [k for k in entry.keys if k.name in left], [], None
        journal.save(entry)
    if finish:
        return out.complete, f"{what} did not finish after writing its files; it was completed: " \
                             f"{complete_words(entry, out)}."
    return out.complete, f"{what} did not finish; it was undone: {undone_words(entry, out)}."
