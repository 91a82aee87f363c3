"""The pieces every settling of an interrupted write is made of (core/recovery.py for installs, issues
and restores, core/rotate_settle.py for rotations): what an undo did (`Undone`), putting files back from
a backup by their digests, revoking the keys a journal entry issued, and sweeping a killed write's temp
files. No printing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from capit_tui.core.backups import Backup, BackupError, BackupStore
from capit_tui.core.fsutil import atomic_write
from capit_tui.core.journal import Entry, FileNote, KeyNote, digest, parse_iso

CLOCK_SKEW = timedelta(minutes=2)  # a lost create is searched for among keys made from this long before


def settle_window() -> timedelta:
    """How long after a create was sent a key may still appear (a server slow to act on it): twice the
    time one request may take. A create without an answer is looked for again until then."""
    from capit_tui.platforms.base import request_deadline

    return timedelta(seconds=2 * request_deadline())


@dataclass
class Report:
    """What was done about an interruption, for the front end to say (set before it is re-raised)."""

    said: str = ""
    completed: bool = False  # the operation stands (an install: every file written and recorded)


@dataclass
class Undone:
    """What undoing (part of) an entry did."""

    files_back: list[str] = field(default_factory=list)  # put back to their old bytes
    files_left: list[str] = field(default_factory=list)  # changed by someone else since: left alone
    revoked: list[str] = field(default_factory=list)  # key names revoked
    not_made: list[str] = field(default_factory=list)  # creates that never made a key
    failed: list[str] = field(default_factory=list)  # key names still live (platform unreachable)
    unsure: list[str] = field(default_factory=list)  # a create got no answer and may still make its key
    why: str = ""  # why they could not be revoked

    @property
    def complete(self) -> bool:
        return not self.failed and not self.unsure

    @property
    def left(self) -> set[str]:
        """The key names still to see to at the next start."""
        return set(self.failed) | set(self.unsure)


def is_interruption(exc: BaseException) -> bool:
    """Ctrl-C, SIGTERM (the CLI raises KeyboardInterrupt for it) or a cancelled task, also when a task
    group (httpx's connect) wrapped it in an exception group."""
    import asyncio

    if isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError)):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(is_interruption(e) for e in exc.exceptions)
    return False


# ---------------------------------------------------------------- files


def file_state(f: FileNote) -> str:
    """'new' (the operation's bytes), 'old' (the bytes before it) or 'other' (changed since)."""
    try:
        now = digest(Path(f.target).read_bytes())
    except FileNotFoundError:
        now = None
    except OSError:
        return "other"
    if now == f.new:
        return "new"
    if now == f.old:
        return "old"
    return "other"


def put_files_back(entry: Entry, store: BackupStore, out: Undone) -> None:
    """Every file of the entry that holds its new bytes gets its old bytes (from the entry's backup)."""
    if entry.backup is None or not entry.files:
        return  # the backup id is recorded before the first write: no file was written
    backup = store.get(entry.backup)
    saved = {str(f.path): f for f in backup.files}
    for f in entry.files:
        state = file_state(f)
        if state == "other":
            out.files_left.append(f.path)
            continue
        if state == "old":
            continue
        _write_old(backup, saved.get(f.path), f)
        out.files_back.append(f.path)


def _write_old(backup: Backup, saved: Any, f: FileNote) -> None:
    target = Path(f.target)
    if saved is None:
        raise BackupError(f"The backup {backup.id} has no copy of {f.path}.")
    old = backup.content(saved)
    if digest(old) != f.old:
        raise BackupError(f"The backup {backup.id} does not hold the old bytes of {f.path}.")
    if old is None:
        try:
            target.unlink()
        except FileNotFoundError:
            pass
    else:
        atomic_write(target, old, mode=saved.mode if saved.mode is not None else 0o600)


def sweep_temps(paths: Iterable[str | Path]) -> int:
    """Remove capit-tui's temp files (`.NAME.*.capit-tmp`) left beside these files by a killed write."""
    n = 0
    for p in {Path(x) for x in paths}:
        try:
            found = list(p.parent.glob(f".{p.name}.*.capit-tmp"))
        except OSError:
            continue
        for t in found:
            try:
                t.unlink()
                n += 1
            except OSError:
                pass
    return n


def tidy(entry: Entry, store: BackupStore) -> None:
    """What a killed or interrupted write can leave besides the files: temp files beside them, and a
    backup that never got its manifest. (The lock is held: nobody else is writing either.)"""
    sweep_temps(f.target for f in entry.files)
    store.prune_incomplete()


def sweep_dir(folder: Path) -> int:
    """Remove every capit-tui temp file directly in `folder` (our own data and config folders)."""
    try:
        found = [t for t in folder.iterdir() if t.name.startswith(".") and t.name.endswith(".capit-tmp")]
    except OSError:
        return 0
    n = 0
    for t in found:
        try:
            t.unlink()
            n += 1
        except OSError:
            pass
    return n


def written(entry: Entry) -> bool:
    """Every file of the entry holds its new bytes: the journal says so, or (killed between the last
    write and saying so) the files do."""
    if entry.state == "written":
        return True
    return entry.state == "writing" and bool(entry.files) and all(file_state(f) == "new" for f in entry.files)


# ---------------------------------------------------------------- keys


async def revoke_keys(p: Any, keys: list[KeyNote], known_ids: set[str], out: Undone) -> None:
    """Delete each key on its platform (already gone counts as revoked). A key with no id (its create's
    reply was lost) is looked for by name among keys made since just before the create, except keys
    capit-tui knows elsewhere (`known_ids`: the ledger and other entries)."""
    from capit_tui.platforms.base import NotFound, PlatformError

    listed: list[Any] | None = None
    for k in keys:
        try:
            if k.id:
                try:
                    await p.delete_key(k.id)
                except NotFound:
                    pass
                out.revoked.append(k.name)
                continue
            if listed is None:
                listed = await p.list_keys()
            since = parse_iso(k.asked_at)
            found = [c for c in listed if c.name == k.name and c.id not in known_ids
                     and (since is None or c.created_at is None or c.created_at >= since - CLOCK_SKEW)]
            for c in found:
                try:
                    await p.delete_key(c.id)
                except NotFound:
                    pass
            if found:
                out.revoked.append(k.name)
            elif since is not None and datetime.now(timezone.utc) - since < settle_window():
                out.unsure.append(k.name)  # a server still working on the create may make it yet
            else:
                out.not_made.append(k.name)
        except PlatformError as exc:
            out.failed.append(k.name)
            out.why = str(exc)


def unsure_words(names: list[str], platform: str) -> str:
    many = len(names) > 1
    return (f"The create of {', '.join(names)} got no answer, so {'those keys' if many else 'that key'} may still "
            f"appear on {platform}; capit-tui will look again at its next start and revoke "
            f"{'them' if many else 'it'}")
