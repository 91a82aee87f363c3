"""Carrying out a team plan (core/team.py), and finishing one that was interrupted.

`apply(team, p, ...)` takes the lock, gathers the facts again and plans again; when that plan is not the
one the user saw (`expect`), it stops and changes nothing. Then, in this order, each step a sliding window
of requests (paging.WINDOW at once):

1. tiers: guardrails created or their models set (the record gets each new guardrail's id);
2. creates: an intent-journal entry (kind "team") names every key before its create is sent; each new
   key's id goes into the entry, its secret to `DIR/<member>.key` (0600, DIR 0700) at once, and the key
   into the record; with no DIR, the secrets are handed to `hand_over` once at the end (the CLI prints a
   table) and the entry marked shown;
3. re-caps, enables (and, where a tier is each key's own model list, one-api/new-api, re-tiers: the
   token's models set in the same request; a new key got its tier's models at its create);
4. tier assignments to guardrails (one request per tier and 100 keys); 5. removed members revoked
   or disabled; 6. guardrails of tiers gone from the file deleted.

The record is saved after every change it follows, so it always names keys that exist (or existed a
moment ago); a re-run plans what is left. A process killed during the creates leaves its entry: the next
start (`resume`, from core/recovery.py) revokes every key of it whose secret never reached its file or the
screen, and the record's members of those keys go, so the next apply creates them again. A secret is
never logged, recorded or put in the journal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capit_tui.core.journal import Entry, Journal, KeyNote, iso
from capit_tui.core.redact import mask
from capit_tui.core.team import ACTIVE, DISABLED, Facts, Plan, RecordData, Recorded, TeamError, TeamRecord, gather, plan
from capit_tui.core.team_file import Team
from capit_tui.core.text import plural


@dataclass
class Applied:
    plan: Plan
    done: dict[str, int] = field(default_factory=dict)  # action -> how many
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (member or tier, action, why)
    created: list[tuple[str, str, str]] = field(default_factory=list)  # (member, masked key, where its secret is)
    requests: int = 0

    @property
    def complete(self) -> bool:
        return not self.failed

    def add(self, action: str) -> None:
        self.done[action] = self.done.get(action, 0) + 1


FLUSH_EVERY = 0.25  # seconds

HandOver = Callable[[list[tuple[str, str, str]]], None]
"""hand_over([(member, key name, secret)]): show each new secret once (the CLI's table)."""


def check_secrets_dir(folder: Path, team: Team) -> None:
    """DIR may be new, or hold only `<member>.key` files of this team (a re-run after an interruption)."""
    if not folder.exists():
        return
    if not folder.is_dir() or folder.is_symlink():
        raise TeamError(f"{folder} is not a folder; give --secrets-dir a new or empty folder.")
    allowed = {f"{m.name}.key" for m in team.members}
    other = sorted(p.name for p in folder.iterdir() if p.name not in allowed)
    if other:
        more = ", ..." if len(other) > 3 else ""
        raise TeamError(f"{folder} already holds other files ({', '.join(other[:3])}{more});"
                        " give --secrets-dir a new or empty folder, so no secret lands among other files.")


def write_secret(folder: Path, member: str, secret: str) -> Path:
    from capit_tui.core.fsutil import atomic_write, ensure_private_dir

    ensure_private_dir(folder)
    path = folder / f"{member}.key"
    atomic_write(path, (secret + "\n").encode("utf-8"), mode=0o600)
    return path


async def window(items: list[Any], op: Callable[[Any], Awaitable[None]], size: int | None = None) -> None:
    """`op(item)` for every item, up to `size` at once (each item taken once by whichever worker is free)."""
    from capit_tui.platforms.paging import WINDOW

    queue = iter(items)

    async def worker() -> None:
        for item in queue:
            await op(item)

    await asyncio.gather(*(worker() for _ in range(min(max(1, size or WINDOW), len(items)))))


async def apply(team: Team, p: Any, *, expect: list[tuple[str, ...]] | None = None, secrets_dir: Path | None = None,
                hand_over: HandOver | None = None, disable_removed: bool = False, ignore_tiers: bool = False,
                record: TeamRecord | None = None, journal: Journal | None = None,
                size: int | None = None) -> Applied:
    from capit_tui.core import lock

    record = record or TeamRecord(team.name)
    journal = journal or Journal()
    sent = p.requests_sent
    async with lock.held_async(f"applying the team {team.name}"):
        data = record.load()
        facts = await gather(team, p)
        the_plan = plan(team, facts, data, disable_removed=disable_removed, ignore_tiers=ignore_tiers)
        if expect is not None and the_plan.signature() != expect:
            raise TeamError("The platform or the record changed since the plan was shown; nothing was done. "
                            "Run `capit-tui team plan` again.")
        creates = [m for m in the_plan.members if "create" in m.actions]
        if creates and secrets_dir is None and hand_over is None:
            raise TeamError(f"{plural(len(creates), 'new key')} would be made, and there is nowhere to hand their "
                            "secrets over: give --secrets-dir DIR, or run in a terminal to see them once.")
        if secrets_dir is not None:
            check_secrets_dir(secrets_dir, team)
        data.platform = p.name
        out = Applied(the_plan)
        await _Run(team, p, the_plan, facts, data, record, journal, out, secrets_dir, hand_over, size).go()
    out.requests = p.requests_sent - sent
    return out


class _Run:
    def __init__(self, team: Team, p: Any, the_plan: Plan, facts: Facts, data: RecordData, record: TeamRecord,
                 journal: Journal, out: Applied, secrets_dir: Path | None, hand_over: HandOver | None,
                 size: int | None):
        self.team, self.p, self.plan, self.facts, self.data = team, p, the_plan, facts, data
        self.record, self.journal, self.out = record, journal, out
        self.secrets_dir, self.hand_over, self.size = secrets_dir, hand_over, size
        self.gid: dict[str, str] = {t.tier: t.guardrail_id for t in the_plan.tiers if t.guardrail_id}
        self.key_ids: dict[str, str] = {m.member: m.key.id for m in the_plan.members if m.key is not None}

    def fail(self, who: str, action: str, exc: BaseException) -> None:
        from capit_tui.core.keys import failure_reason

        self.out.failed.append((who, action, failure_reason(self.p.name, exc)))

    async def go(self) -> None:
        from capit_tui.platforms.base import PlatformError

        await self.tiers()
        await self.creates()
        await window([m for m in self.plan.members if self.updated(m)], self.update, self.size)
        await self.assign()
        await window([m for m in self.plan.members if {"revoke", "disable", "forget"} & set(m.actions)],
                     self.remove, self.size)
        for t in self.plan.tiers:
            if t.action == "delete" and t.guardrail_id:
                from capit_tui.platforms import openrouter_guardrails as gr

                try:
                    await gr.delete_guardrail(self.p, t.guardrail_id)
                except PlatformError as exc:
                    self.fail(t.tier, "delete tier", exc)
                    continue
                self.data.tiers.pop(t.tier, None)
                self.record.save(self.data)
                self.out.add("delete tier")

    def updated(self, m: Any) -> list[str]:
        """The actions of this member that `update` carries out (one update_key request)."""
        mine = ("re-cap", "re-tier", "enable") if self.plan.tiers_per_key else ("re-cap", "enable")
        return [a for a in mine if a in m.actions]

    async def tiers(self) -> None:
        from capit_tui.platforms import openrouter_guardrails as gr
        from capit_tui.platforms.base import PlatformError

        async def one(t: Any) -> None:
            try:
                if t.action == "create":
                    g = await gr.create_guardrail(self.p, t.name, list(t.models), self.plan.workspace_id,
                                                  f"capit-tui team {self.team.name}, tier {t.tier}")
                    self.gid[t.tier] = g.id
                    self.data.tiers[t.tier] = g.id
                else:
                    await gr.set_models(self.p, t.guardrail_id, list(t.models))
            except PlatformError as exc:
                self.fail(t.tier, f"{t.action} tier", exc)
                return
            self.out.add(f"{t.action} tier")

        await window([t for t in self.plan.tiers if t.action in ("create", "update")], one, self.size)
        if any(t.action == "create" for t in self.plan.tiers):
            self.record.save(self.data)

    async def creates(self) -> None:
        from capit_tui.core.durations import parse_expiry
        from capit_tui.platforms.base import PlatformError

        todo = [m for m in self.plan.members if "create" in m.actions]
        if not todo:
            return
        entry = self.journal.new("team", self.p.name, by=self.team.name)
        asked = iso()  # before any create is sent: a lost reply's key is looked for from here
        notes = {m.member: KeyNote(self.team.key_name(m.member), m.member, asked_at=asked,
                                   manual=self.secrets_dir is None) for m in todo}
        entry.keys = list(notes.values())
        self.journal.save(entry)
        shown: list[tuple[str, str, str]] = []

        def save_both() -> None:
            self.journal.save(entry)
            self.record.save(self.data)

        flush = _Flush(save_both)

        async def one(m: Any) -> None:
            want = m.want
            note = notes[m.member]
            kwargs: dict[str, Any] = {}
            if want.expires:
                kwargs["expires_at"] = parse_expiry(want.expires)
            if self.plan.workspace_id:
                kwargs["workspace_id"] = self.plan.workspace_id
            tier = want.tier if self.plan.tiers_per_key else None  # guardrails: assigned after (`assign`)
            if tier:
                kwargs["models"] = list(self.plan.models_for(tier) or ())
            try:
                issued = await self.p.create_key(note.name, want.cap, want.reset, **kwargs)
            except PlatformError as exc:
                self.fail(m.member, "create", exc)
                return
            note.id, note.masked = issued.key.id, mask(issued.secret)
            where = "shown below"
            if self.secrets_dir is not None:
                path = await asyncio.to_thread(write_secret, self.secrets_dir, m.member, issued.secret)
                note.files = [str(path)]  # delivered: from the next flush on, the next start leaves it alone
                where = str(path)
            else:
                shown.append((m.member, note.name, issued.secret))
            self.key_ids[m.member] = issued.key.id
            self.data.members[m.member] = Recorded(issued.key.id, note.name, _s(want.cap), want.reset, tier, ACTIVE)
            self.out.created.append((m.member, note.masked, where))
            self.out.add("create")
            flush.soon()

        try:
            await window(todo, one, self.size)
        finally:
            flush.now()
            if shown and self.hand_over is not None:
                self.hand_over(sorted(shown))
                entry.shown = True
                self.journal.save(entry)
        if not self.out.failed or all(n.id and (n.files or entry.shown) for n in notes.values() if n.id):
            self.journal.finish(entry)

    async def update(self, m: Any) -> None:
        from capit_tui.platforms.base import PlatformError

        want = m.want
        changes: dict[str, Any] = {}
        if "re-cap" in m.actions:
            changes.update(limit=want.cap, reset=want.reset)
        if "enable" in m.actions:
            changes["disabled"] = False
        if "re-tier" in self.updated(m):
            models = self.plan.models_for(want.tier)
            changes["models"] = None if models is None else list(models)
        try:
            await self.p.update_key(m.key.id, **changes)
        except PlatformError as exc:
            self.fail(m.member, m.action, exc)
            return
        rec = self.data.members.get(m.member)
        if rec is None or rec.key_id != m.key.id:
            rec = self.data.members[m.member] = Recorded(m.key.id, m.key.name, tier=m.tier_now)
        rec.cap, rec.reset, rec.state = _s(want.cap), want.reset, ACTIVE
        done = self.updated(m)
        if "re-tier" in done:
            rec.tier = want.tier
        self.record.save(self.data)
        for a in done:
            self.out.add(a)

    async def assign(self) -> None:
        from capit_tui.platforms import openrouter_guardrails as gr
        from capit_tui.platforms.base import PlatformError

        if not self.plan.tiers_enforced or self.plan.tiers_per_key:
            return
        by_tier: dict[str | None, list[Any]] = {}
        for m in self.plan.members:
            if m.want is None or m.member not in self.key_ids:
                continue
            if "re-tier" in m.actions or ("create" in m.actions and m.want.tier):
                by_tier.setdefault(m.want.tier, []).append(m)
        for tier, members in sorted(by_tier.items(), key=lambda kv: kv[0] or ""):
            hashes = [self.key_ids[m.member] for m in members]
            try:
                if tier is None:  # out of every team tier: each key leaves the guardrail it holds
                    for held in {self.facts.assigned[h] for h in hashes if h in self.facts.assigned}:
                        await gr.unassign_keys(self.p, held, [h for h in hashes if self.facts.assigned.get(h) == held])
                else:
                    gid = self.gid.get(tier)
                    if gid is None:
                        raise TeamError(f"the tier {tier}'s guardrail could not be made")
                    await gr.assign_keys(self.p, gid, hashes)
            except (PlatformError, TeamError) as exc:
                for m in members:
                    self.fail(m.member, "re-tier", exc)
                continue
            for m in members:
                rec = self.data.members.get(m.member)
                if rec is None or rec.key_id != self.key_ids[m.member]:
                    assert m.key is not None
                    rec = self.data.members[m.member] = Recorded(m.key.id, m.key.name, _s(m.key.limit),
                                                                 m.key.limit_reset)
                rec.tier = tier
                if "re-tier" in m.actions:
                    self.out.add("re-tier")
            self.record.save(self.data)

    async def remove(self, m: Any) -> None:
        from capit_tui.platforms.base import NotFound, PlatformError

        try:
            if "revoke" in m.actions:
                try:
                    await self.p.delete_key(m.key.id)
                except NotFound:
                    pass
            elif "disable" in m.actions:
                await self.p.update_key(m.key.id, disabled=True)
        except PlatformError as exc:
            self.fail(m.member, m.action, exc)
            return
        if "disable" in m.actions:
            self.data.members[m.member].state = DISABLED
        else:
            self.data.members.pop(m.member, None)
        self.record.save(self.data)
        self.out.add(m.actions[0])


class _Flush:
    """The journal entry and the record saved together, at most every FLUSH_EVERY seconds while keys are being
    made (each save is a whole, fsynced file; one per key made 200 keys take seconds). A key made but not yet
    flushed counts as not handed over: an interruption then revokes it and the next apply makes it again."""

    def __init__(self, save: Callable[[], object]):
        self.save = save
        self.last = time.monotonic()
        self.dirty = False

    def soon(self) -> None:
        self.dirty = True
        if time.monotonic() - self.last >= FLUSH_EVERY:
            self.now()

    def now(self) -> None:
        if self.dirty:
            self.save()
            self.dirty = False
            self.last = time.monotonic()


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


# ---------------------------------------------------------------- an interrupted apply, at the next start


async def resume(entry: Entry, open_platform: Callable[[str], Any], journal: Journal,
                 known_ids: set[str]) -> tuple[bool, str]:
    """Revoke every key of an interrupted team apply whose secret never reached its file or the screen, and
    drop it from the team's record (the next apply creates it again). The caller holds the lock."""
    from capit_tui.core.undo import Undone, revoke_keys

    team = entry.by
    lost = [k for k in entry.keys if not (k.files or (k.manual and entry.shown))]
    delivered = {k.id for k in entry.keys if k.id and k not in lost}
    out = Undone()
    if lost:
        record = TeamRecord(team)
        data = record.load()
        gone = {k.id for k in lost if k.id}
        # A key the record holds (made by a later apply, its secret handed over) is never taken for a lost one.
        keep = (known_ids | delivered | {r.key_id for r in data.members.values()}) - gone
        p = open_platform(entry.platform)
        try:
            await revoke_keys(p, lost, keep, out)
        finally:
            await p.aclose()
        data.members = {m: r for m, r in data.members.items() if r.key_id not in gone}
        record.save(data)
    if out.complete:
        journal.finish(entry)
    else:
        entry.keys = [k for k in entry.keys if k.name in out.left]
        journal.save(entry)  # only what is left to look for
    said = f"The apply of the team {team} did not finish"
    if out.revoked:
        said += (f"; {plural(len(out.revoked), 'new key')} whose secret never reached anyone "
                 f"{'were' if len(out.revoked) > 1 else 'was'} revoked")
    if out.failed:
        said += (f"; {plural(len(out.failed), 'key')} could not be revoked yet ({out.why.rstrip('.')}), "
                 "capit-tui will try again at the next start")
    if out.unsure:
        said += (f"; {plural(len(out.unsure), 'create')} got no answer before it stopped, so capit-tui looks again "
                 "at the next start for a key that landed late (a key a later apply recorded is never taken for it)")
    return out.complete, said + ". Run `capit-tui team apply` on its file again to finish it."

