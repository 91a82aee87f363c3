"""Rotate keys: for each key, a new key with the same cap, reset and expiry, named as its replacement,
written into exactly the agents the ledger says hold the old key (and whose files still hold it); the
old key is revoked only once every file holds the new one.

1. plan_rotations(): per key, the new name (free on the platform) and an install preview of the agents'
   files with a placeholder key (core/install.py's preview), so a front end shows every diff and asks once.
2. rotate(): under the lock and the intent journal (an entry of kind "rotate" whose `retire` is the old
   key): issue the new key, plan with it, back up and write every file, then revoke the old key, then
   record the ledger. A failure at any step (the create, a write, the old key's revoke) puts the files
   back and revokes the new key, and the old key keeps working; an interruption is settled by the rule
   in core/rotate_settle.py, here or at the next start, so every agent ends with one working key.

A key no agent holds has no files to write: the front end issues its replacement with
`issue_replacement` (issuing.issue_shown: shown once) and asks before revoking the old key (`revoke_old`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from capit_tui.agents.base import Agent
from capit_tui.core import lock
from capit_tui.core.backups import Backup, BackupStore
from capit_tui.core.changes import ApplyError, PlanError, StaleError, plan_edits
from capit_tui.core.fsutil import UnsafeFile
from capit_tui.core.install import Preview, _same_files, preview, write_journaled
from capit_tui.core.issuing import answer_of, create, reraise_interruption, shielded
from capit_tui.core.journal import Entry, Journal, KeyNote, iso
from capit_tui.core.keys import Configured
from capit_tui.core.ledger import Ledger
from capit_tui.core.model import CappedKey, IssuedKey
from capit_tui.core.redact import mask
from capit_tui.core.replaced import held_by
from capit_tui.core.rotate_settle import complete_words, put_back, record_rotation, retire_old, undone_words
from capit_tui.core.undo import Report, Undone, is_interruption, revoke_keys, tidy
from capit_tui.errors import CapitError

SUFFIX = re.compile(r"-rotated-\d{8}(-\d+)?$")


class RotateError(CapitError):
    """A rotation did not happen (it was undone) or stopped half-way; the message says which."""


class RetireFailed(CapitError):
    """Every file holds the new key, but the old key could not be revoked: the rotation is undone."""


@dataclass
class Rotation:
    """One key's rotation, planned: nothing issued, nothing written yet."""

    old: CappedKey
    platform: Configured
    new_name: str
    preview: Preview | None  # the agents' file edits with a placeholder key; None: no agent holds the key
    expires_at: datetime | None  # the new key's expiry: the old one's (None: never, or the old one passed)
    old_masked: str = ""
    notes: list[str] = field(default_factory=list)  # what the front end should say before asking

    @property
    def agents(self) -> list[Agent]:
        return self.preview.agents if self.preview is not None else []

    @property
    def held(self) -> bool:
        return bool(self.agents)

    def diff(self) -> str:
        return self.preview.diff() if self.preview is not None else ""

    @property
    def cap_text(self) -> str:
        """The replacement's cap and expiry in words: '$5.00 weekly cap, expires 2027-01-31 00:00 UTC', 'no cap'."""
        cap = self.old.budget.describe() if self.old.limit is not None else "no cap"
        return cap + (f", expires {self.expires_at:%Y-%m-%d %H:%M} UTC" if self.expires_at is not None else "")


@dataclass
class Rotated:
    rotation: Rotation
    issued: IssuedKey
    files: dict[str, list[Path]]  # agent -> the files that now hold the new key
    backup: Backup | None


def rotated_name(old: str, taken: Iterable[str], today: date | None = None, most: int = 100) -> str:
    """`<old>-rotated-YYYYMMDD` (an earlier rotation's suffix replaced), in at most `most` bytes, made
    free of `taken` with -2, -3 ... (the one rule for names: core.keys.unique_name, here within `most`)."""
    stem = SUFFIX.sub("", old) or "capit"
    tail = f"-rotated-{(today or date.today()):%Y%m%d}"
    taken = set(taken)
    n = 1
    while True:
        end = tail + (f"-{n}" if n > 1 else "")
        room = most - len(end.encode())
        cut = stem.encode()[:max(room, 1)].decode("utf-8", "ignore")
        name = cut + end
        if name not in taken:
            return name
        n += 1


def name_room(c: Configured) -> int:
    """How long a key name may be on this platform (one-api gateways: 30 bytes)."""
    if c.config.kind == "oneapi":
        from capit_tui.platforms.oneapi_wire import MAX_NAME_BYTES

        return MAX_NAME_BYTES
    return 100


def older_than(keys: Iterable[CappedKey], age: timedelta, now: datetime | None = None) -> list[CappedKey]:
    """The keys created `age` ago or longer (a key whose creation time is unknown is left out)."""
    now = now or datetime.now(timezone.utc)
    return [k for k in keys if k.created_at is not None and now - k.created_at >= age]


def plan_rotations(keys: list[CappedKey], platforms: Mapping[str, Configured], *, taken: Iterable[CappedKey],
                   ledger: Ledger | None = None, env: Mapping[str, str] | None = None,
                   today: date | None = None, now: datetime | None = None) -> list[Rotation]:
    """Each key's rotation. `taken`: every key on the platforms (new names avoid theirs). Raises PlanError
    (nothing issued or written) on an agent file that cannot be edited safely, RotateError on a key whose
    platform is not configured or an agent that cannot take the key."""
    from capit_tui import agents as agents_mod

    ledger = ledger or Ledger()
    now = now or datetime.now(timezone.utc)
    held_map = ledger.holders_by_key()
    names: dict[str, set[str]] = {}
    for k in taken:
        names.setdefault(k.platform, set()).add(k.name)
    out = []
    for old in keys:
        c = platforms.get(old.platform)
        if c is None:
            raise RotateError(f"{old.platform} is not configured here, so '{old.name}' cannot be rotated.")
        used = names.setdefault(c.name, set())
        new_name = rotated_name(old.name, used, today, name_room(c))
        used.add(new_name)
        notes = []
        agents = []
        for n in held_map.get((old.platform, old.id), []):
            try:
                agents.append(agents_mod.get(n, env))
            except KeyError:
                notes.append(f"{n}: no such agent in this capit-tui; it is left as it is.")
        really = {h.agent for h in held_by(agents, ledger) if (h.platform, h.key_id) == (old.platform, old.id)}
        for a in agents:
            if a.name not in really:
                notes.append(f"{a.title}: the ledger says it holds {old.name}, but its files hold another key "
                             "now; it is left as it is.")
        agents = [a for a in agents if a.name in really]
        pv = preview(c, agents, ledger=ledger) if agents else None
        if pv is not None and pv.unsupported:
            agent, why = next(iter(pv.unsupported.items()))
            raise RotateError(f"Cannot rotate {old.name} in {agent}: {why} Nothing was issued.")
        expires = old.expires_at if old.expires_at is not None and old.expires_at > now else None
        if old.expires_at is not None and expires is None:
            notes.append(f"{old.name} has expired; its replacement gets no expiry.")
        installs = ledger.installs_of(old.platform, old.id)
        out.append(Rotation(old, c, new_name, pv, expires, installs[-1].masked if installs else old.label, notes))
    return out


async def rotate(r: Rotation, *, store: BackupStore | None = None, ledger: Ledger | None = None,
                 journal: Journal | None = None, report: Report | None = None,
                 write: Callable[[Path, bytes, int], None] | None = None,
                 progress: Callable[[str], None] = lambda s: None) -> Rotated:
    """Rotate one key held by agents: all or nothing, under the lock, every step journaled first.
    A failure raises RotateError saying what was undone; an interruption is settled and re-raised
    (`report.said` tells how)."""
    assert r.preview is not None, "a key no agent holds is rotated with issuing.issue_shown"
    run = _Run(r, store or BackupStore(), ledger or Ledger(), journal or Journal(), report or Report(), progress)
    async with lock.held_async(f"rotating the key {r.old.name}"):
        try:
            r.preview.plan.check_fresh()
        except StaleError as exc:
            raise RotateError(str(exc).replace("nothing was written", "nothing was issued or written")) from None
        run.entry = run.journal.new("rotate", r.platform.name, [a.name for a in r.agents],
                                    retire=[KeyNote(r.old.name, None, "", r.old.id, r.old_masked)])
        run.p = r.platform.open()
        try:
            run.journal.save(run.entry)
            return await run.go(write)
        except BaseException as exc:
            await run.unwind(exc)
            reraise_interruption(exc)
            raise
        finally:
            await run.p.aclose()


class _Run:
    """One rotation's moving parts, so that `unwind` knows how far `go` got."""

    def __init__(self, r: Rotation, store: BackupStore, ledger: Ledger, journal: Journal, report: Report,
                 progress: Callable[[str], None]):
        self.r, self.store, self.ledger, self.journal, self.report = r, store, ledger, journal, report
        self.progress = progress
        self.entry = Entry("rotate")
        self.phase = "issuing"  # issuing -> planning -> writing -> retiring
        self.p: Any = None
        self.creating: asyncio.Future[IssuedKey] | None = None

    async def go(self, write: Callable[[Path, bytes, int], None] | None) -> Rotated:
        r, entry, journal = self.r, self.entry, self.journal
        pv = r.preview
        assert pv is not None
        note = KeyNote(r.new_name, None, iso())
        entry.keys.append(note)
        journal.save(entry)  # before the create: a lost reply is found by name at the next start
        self.progress(f"Issuing {r.new_name} on {r.platform.name} to replace {r.old.name}")
        self.creating = shielded(create(self.p, r.new_name, r.old.limit, r.old.limit_reset, r.expires_at))
        issued = await asyncio.shield(self.creating)
        self.creating = None
        note.id, note.masked = issued.key.id, mask(issued.secret)
        journal.save(entry)
        self.phase = "planning"
        edits: list[tuple[str, Any]] = []
        for a in pv.agents:
            try:
                edits.extend((a.name, e) for e in a.plan_install(pv.endpoint(issued.secret)))
            except UnsafeFile as exc:
                raise PlanError(f"{exc} Nothing was changed.") from None
        plan = plan_edits(edits, [issued.secret, pv.placeholder])
        _same_files(pv.plan, plan)
        note.files = [str(c.path) for c in plan.changes]
        self.phase = "writing"
        if plan.changes:
            self.progress("Backing up and writing " + ", ".join(str(c.path) for c in plan.changes))
        backup = write_journaled(plan, self.store, journal, entry, lambda: {
            "reason": "rotate",
            "agents": [a.name for a in pv.agents],
            "agent_files": {a.name: [str(c.path) for c in plan.for_agent(a.name)] for a in pv.agents},
            "agent_home": str(pv.agents[0].home),
            "platform": r.platform.name,
            "keys": {a.name: {"id": issued.key.id, "name": issued.key.name, "masked": mask(issued.secret)}
                     for a in pv.agents},
            "rotated": {"id": r.old.id, "name": r.old.name},
        }, write)
        self.phase = "retiring"
        self.progress(f"Revoking the old key {r.old.name}")
        out = Undone()
        await retire_old(self.p, entry, self.ledger, out)
        if not out.complete and await _still_there(self.p, r.old.id):
            raise RetireFailed(out.why or "the platform did not answer")
        record_rotation(entry, self.ledger)
        journal.finish(entry)
        self.report.completed = True
        return Rotated(r, issued, {a.name: [c.path for c in plan.for_agent(a.name)] for a in pv.agents}, backup)

    async def unwind(self, exc: BaseException) -> None:
        """After `go` failed or was interrupted: complete (every file holds the new key, and the old key's
        revoke did not fail) or undo. Failures become RotateError; interruptions are re-raised by the caller."""
        from capit_tui.platforms.base import CreateUncertain, PlatformError

        interrupted = is_interruption(exc)
        entry, old = self.entry, self.r.old.name
        if entry.state == "done":
            self.report.said = "the rotation had finished."
            return
        if entry.state == "written" and not isinstance(exc, RetireFailed):
            out = Undone()
            try:
                record_rotation(entry, self.ledger)
                await retire_old(self.p, entry, self.ledger, out)
            except (OSError, CapitError) as failure:
                out.failed, out.why = [old], str(failure)
            if out.complete:
                self.journal.finish(entry)
            self.report.completed = True
            self.report.said = ("every file had been written, so the rotation was completed: "
                                f"{complete_words(entry, out)}.")
            if not interrupted:
                raise RotateError(f"The rotation of {old} stopped after writing every file ({type(exc).__name__}); "
                                  f"{self.report.said}") from None
            return
        if entry.state == "written":  # the old key could not be revoked: undo (the journal says so first)
            entry.state = "writing"
            self.journal.save(entry)
        note = entry.keys[-1] if entry.keys else None
        if (note is not None and note.id is None and isinstance(exc, PlatformError)
                and self.phase == "issuing" and not isinstance(exc, CreateUncertain)):
            entry.keys.pop()  # the platform refused the create: there is no such key
            note = None
        if self.creating is not None and note is not None and note.id is None:
            self.progress("Interrupted; waiting for the platform to answer about the key being issued")
            late = await answer_of(self.creating)
            if late is not None:
                note.id, note.masked = late.key.id, mask(late.secret)
                self.journal.save(entry)
        out = Undone()
        why = put_back(entry, self.store, out)
        if entry.keys:
            await revoke_keys(self.p, list(entry.keys), {i.key_id for i in self.ledger.entries()}, out)
        tidy(entry, self.store)
        if out.complete and not why:
            self.journal.finish(entry)
        else:
            left = out.left
            entry.keys = [k for k in entry.keys if k.name in left]
            if not why:
                entry.files, entry.backup = [], None
            self.journal.save(entry)  # the next start finishes the undo
        said = undone_words(entry, out)
        if why:
            said += f". The files could not all be put back ({why}); the next start will try again"
        if interrupted:
            self.report.said = said + "."
            return
        step = {"issuing": f"Issuing the new key for {old} failed",
                "planning": f"Planning the new key's edits for {old} failed",
                "writing": f"Writing the new key for {old} failed",
                "retiring": f"Revoking the old key {old} failed"}[self.phase]
        reason = str(exc).rstrip(".")
        if isinstance(exc, (PlanError, StaleError, ApplyError)):
            raise RotateError(f"{reason}. The rotation of {old} was undone: {said}.") from None
        raise RotateError(f"{step}: {reason}. The rotation was undone: {said}.") from None


async def _still_there(p: Any, key_id: str) -> bool:
    """After a failed revoke: is the old key still on the platform? (A delete whose answer was lost may
    have worked: then the rotation stands.) Unknown counts as still there."""
    from capit_tui.platforms.base import NotFound, PlatformError

    try:
        await p.get_key(key_id)
    except NotFound:
        return False
    except PlatformError:
        return True
    return True


async def issue_replacement(r: Rotation, show: Callable[[IssuedKey], None], *,
                            report: Report | None = None) -> IssuedKey:
    """A key no agent holds: issue its replacement (the new name, the old key's cap and reset, the planned
    expiry) to be handed over by `show`, through `issuing.issue_shown` (a key nobody was shown is revoked).
    The old key is left working: the front end asks, then `revoke_old`."""
    from capit_tui.core.issuing import issue_shown

    assert not r.held, "a key agents hold is rotated with rotate()"
    return await issue_shown(r.platform, r.new_name, r.old.limit, r.old.limit_reset, show, report=report,
                             expires_at=r.expires_at)


async def revoke_old(r: Rotation, ledger: Ledger | None = None) -> list[str]:
    """A key no agent holds, after its replacement was shown: revoke it (core.keys.revoke: the ledger too)."""
    from capit_tui.core.keys import revoke

    async with r.platform.open() as p:
        return await revoke(p, r.old, ledger or Ledger())
