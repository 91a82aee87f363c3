"""Install capped keys into agents, all or nothing.

1. preview(): plan every file edit with a placeholder key of the real shape; the diffs can be shown
   before any key exists.
2. execute(): issue one key per agent (each agent its own budget), plan again with the real keys,
   check no file changed since the preview, back up every file, write them all atomically, record
   the install in the ledger. If anything fails after a key was issued, the files are put back and
   the keys just issued are revoked, and the error says exactly that.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Collection

from capit_tui.agents.base import Agent, Endpoint
from capit_tui.core import lock
from capit_tui.core.backups import Backup, BackupError, BackupStore
from capit_tui.core.changes import ApplyError, Plan, PlanError, StaleError, apply, plan_edits
from capit_tui.core.fsutil import UnsafeFile
from capit_tui.core.issuing import answer_of, create, reraise_interruption, shielded
from capit_tui.core.journal import Entry, FileNote, Journal, KeyNote, digest, iso
from capit_tui.core.keys import Configured, default_name, unique_name
from capit_tui.core.ledger import Ledger, now_iso
from capit_tui.core.model import Budget, IssuedKey
from capit_tui.core.model_choice import ModelChoice
from capit_tui.core.recovery import (
    Report,
    Undone,
    file_state,
    is_interruption,
    put_files_back,
    record_install,
    revoke_keys,
    tidy,
    unsure_words,
)
from capit_tui.core.redact import mask, placeholder_like
from capit_tui.core.replaced import Held, Replaced, held_by, orphaned
from capit_tui.core.text import plural
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
    models: dict[str, ModelChoice] = field(default_factory=dict)  # agent -> the model its files will name
    held: list[Held] = field(default_factory=list)  # capit keys the agents hold now (core.replaced)
    replaces: list[Replaced] = field(default_factory=list)  # of those, the ones no other agent holds

    def diff(self) -> str:
        return self.plan.diff()

    def model_lines(self) -> list[str]:
        """One summary line per agent whose files name a model: `Codex CLI model: o3 → openai/o3 (...)`."""
        return [f"{a.title} {self.models[a.name].line}" for a in self.agents if a.name in self.models]

    def endpoint(self, secret: str) -> Endpoint:
        return Endpoint(self.platform.name, self.openai_base_url, self.anthropic_base_url, secret, self.model,
                        self.platform.config.kind)


@dataclass
class AgentResult:
    agent: Agent
    issued: IssuedKey
    files: list[Path]
    model: ModelChoice | None = None  # the model its files name now (see Preview.models)


@dataclass
class Result:
    installed: list[AgentResult]
    manual: list[tuple[Agent, IssuedKey, list[str]]]
    backup: Backup | None
    _handed_over: Callable[[], None] = field(default=lambda: None, repr=False)

    def handed_over(self) -> None:
        """The manual agents' keys were shown: the install is done (see execute's `hand_over_later`)."""
        self._handed_over()


def key_name(agent: str, base: str | None, today: date | None = None) -> str:
    return f"{base}-{agent}" if base else default_name(agent, today)


def placeholder_for(kind: str) -> str:
    if kind == "oneapi":
        return placeholder_like("sk-", 51)
    if kind == "litellm":
        return placeholder_like("sk-", 25)  # sk- and 22 letters, as /key/generate makes them
    return placeholder_like()


def preview(c: Configured, agents: list[Agent], *, name: str | None = None, model: str | None = None,
            today: date | None = None, ledger: Ledger | None = None, taken: Collection[str] = ()) -> Preview:
    """Plan all edits with a placeholder key, and find the capit keys the install would leave no agent
    holding (`replaces`). Raises PlanError (nothing written) on a bad file.
    Each agent's key name is made free of `taken` (the names on the platform) with a -2, -3 suffix."""
    p = c.open()  # opens no connection: the adapter only knows its endpoints until a request is made
    openai_base, anthropic_base = p.openai_base_url, p.anthropic_base_url
    placeholder = placeholder_for(c.config.kind)
    pv = Preview(c, openai_base, anthropic_base, model, [], [], {}, Plan([]), placeholder)
    edits: list[tuple[str, Any]] = []
    used = set(taken)
    for a in agents:
        pv.key_names[a.name] = unique_name(key_name(a.name, name, today), used)
        used.add(pv.key_names[a.name])
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
        choice = a.model_choice(pv.endpoint(placeholder))
        if choice is not None and (choice.before or choice.after):
            pv.models[a.name] = choice
            if choice.warning:
                pv.warnings.append(f"{a.title}: {choice.warning}")
    pv.plan = plan_edits(edits, [placeholder])
    pv.held = held_by(pv.agents, ledger)
    if pv.held:
        pv.replaces = orphaned(pv.held, ledger, pv.agents[0].env, rewritten=[a.name for a in pv.agents])
    return pv


async def execute(pv: Preview, limit: Decimal | None, reset: str | None, *,
                  store: BackupStore | None = None, ledger: Ledger | None = None,
                  progress: Callable[[str], None] = lambda s: None,
                  write: Callable[[Path, bytes, int], None] | None = None,
                  journal: Journal | None = None, report: Report | None = None,
                  hand_over_later: bool = False, expires_at: datetime | None = None) -> Result:
    """Issue, write, record: all or nothing, under the lock, every step journaled first.

    A failure raises InstallError saying what was undone. An interruption (KeyboardInterrupt,
    CancelledError) is undone the same way (or, once every file was written, completed) and re-raised;
    `report.said` then tells what was done about it. With `hand_over_later`, keys for manual agents
    stay journaled until the caller has shown them and calls `result.handed_over()`.
    """
    if pv.unsupported:
        name, why = next(iter(pv.unsupported.items()))
        raise InstallError(f"Cannot install into {name}: {why} Nothing was issued.")
    run = _Run(pv, store or BackupStore(), ledger or Ledger(), journal or Journal(), report or Report())
    run.expires_at = expires_at
    names = [a.name for a in pv.agents + pv.manual]
    async with lock.held_async(f"installing a key into {', '.join(names)}"):
        try:
            pv.plan.check_fresh()  # another install may have written these files while we waited
        except StaleError as exc:
            raise InstallError(f"{str(exc).replace('nothing was written', 'nothing was issued or written')}"
                               ) from None
        run.entry = run.journal.new("install", pv.platform.name, names)
        run.progress = progress
        run.p = pv.platform.open()
        try:
            run.journal.save(run.entry)
            return await run.go(limit, reset, progress, write, hand_over_later)
        except BaseException as exc:
            await run.unwind(exc)
            reraise_interruption(exc)
            raise
        finally:
            await run.p.aclose()


class _Run:
    """One install's moving parts, so that `unwind` knows how far `go` got."""

    def __init__(self, pv: Preview, store: BackupStore, ledger: Ledger, journal: Journal, report: Report):
        self.pv, self.store, self.ledger, self.journal, self.report = pv, store, ledger, journal, report
        self.entry: Entry = Entry("install")
        self.issued: dict[str, IssuedKey] = {}
        self.agent: Agent | None = None  # the agent whose key was being issued
        self.phase = "issuing"  # issuing -> planning -> writing -> recording
        self.p: Any = None  # the platform's adapter, open from the first create to the end of the undo
        self.creating: asyncio.Future[IssuedKey] | None = None  # a create in flight
        self.progress: Callable[[str], None] = lambda s: None
        self.expires_at: datetime | None = None  # every key's expiry (None: never)

    async def go(self, limit: Decimal | None, reset: str | None, progress: Callable[[str], None],
                 write: Callable[[Path, bytes, int], None] | None, hand_over_later: bool) -> Result:
        pv, entry, journal = self.pv, self.entry, self.journal
        for a in pv.agents + pv.manual:
            self.agent = a
            note = KeyNote(pv.key_names[a.name], a.name, iso(), manual=a in pv.manual)
            entry.keys.append(note)
            journal.save(entry)  # before the create: a lost reply is found by name at the next start
            progress(f"Issuing {note.name} on {pv.platform.name}")
            self.creating = shielded(create(self.p, note.name, limit, reset, self.expires_at))
            issued = await asyncio.shield(self.creating)
            self.creating = None
            self.issued[a.name] = issued
            note.id, note.masked = issued.key.id, mask(issued.secret)
            journal.save(entry)
        self.phase = "planning"
        secrets = [k.secret for k in self.issued.values()]
        edits: list[tuple[str, Any]] = []
        for a in pv.agents:
            try:
                edits.extend((a.name, e) for e in a.plan_install(pv.endpoint(self.issued[a.name].secret)))
            except UnsafeFile as exc:  # a file swapped for a FIFO or a foreign link since the preview
                raise PlanError(f"{exc} Nothing was changed.") from None
        plan = plan_edits(edits, secrets + [pv.placeholder])
        _same_files(pv.plan, plan)
        for a in pv.agents:
            key_note = entry.key_for(a.name)
            assert key_note is not None
            key_note.files = [str(c.path) for c in plan.for_agent(a.name)]
        self.phase = "writing"
        if plan.changes:
            progress("Backing up and writing " + ", ".join(str(c.path) for c in plan.changes))
        backup = write_journaled(plan, self.store, journal, entry, lambda: {
            "reason": "install",
            "agents": [a.name for a in pv.agents],
            "agent_files": {a.name: [str(c.path) for c in plan.for_agent(a.name)] for a in pv.agents},
            "agent_home": str(pv.agents[0].home),
            "platform": pv.platform.name,
            "keys": {a.name: {"id": self.issued[a.name].key.id, "name": self.issued[a.name].key.name,
                              "masked": mask(self.issued[a.name].secret)} for a in pv.agents},
        }, write)
        self.phase = "recording"
        record_install(entry, self.ledger, now_iso())
        results = [AgentResult(a, self.issued[a.name], [c.path for c in plan.for_agent(a.name)], pv.models.get(a.name))
                   for a in pv.agents]
        manual = [(a, self.issued[a.name], a.manual_steps(pv.endpoint(self.issued[a.name].secret)))
                  for a in pv.manual]
        result = Result(results, manual, backup)
        if manual and hand_over_later:
            result._handed_over = lambda: journal.finish(entry)
        else:
            journal.finish(entry)
        self.report.completed = True
        return result

    async def unwind(self, exc: BaseException) -> None:
        """After `go` failed or was interrupted: finish (every file written) or undo; then say what was done.
        Failures become InstallError; interruptions and bugs are re-raised by the caller."""
        from capit_tui.platforms.base import CreateUncertain, PlatformError

        interrupted = is_interruption(exc)
        entry = self.entry
        if entry.state == "done":
            self.report.said = "the install had finished."
            return
        if entry.state == "written":
            self.report.said = await self._complete(interrupted)
            if not interrupted:
                raise InstallError(f"The install stopped after writing every file ({type(exc).__name__}); "
                                   f"{self.report.said}") from None
            return
        if isinstance(exc, PlatformError) and self.phase == "issuing" and not isinstance(exc, CreateUncertain):
            if entry.keys and entry.keys[-1].id is None:
                entry.keys.pop()  # the platform refused the create: there is no such key
        if self.creating is not None and entry.keys and entry.keys[-1].id is None:
            # Interrupted while a key was being created: its answer (the id) is worth a short wait, so
            # that the key is revoked now rather than searched for by name at the next start.
            self.progress("Interrupted; waiting for the platform to answer about the key being issued")
            issued = await answer_of(self.creating)
            if issued is not None:
                entry.keys[-1].id, entry.keys[-1].masked = issued.key.id, mask(issued.secret)
                self.journal.save(entry)
        out = await self._undo()
        undone = _undone_words(out, self.pv.platform.name)
        if interrupted:
            self.report.said = _interrupted_words(out, self.pv.platform.name)
            return
        if isinstance(exc, PlatformError) and self.phase == "issuing":
            title = self.agent.title if self.agent else "an agent"
            raise InstallError(f"Issuing the key for {title} failed: {exc}{undone} No file was changed.") from None
        if isinstance(exc, (PlanError, StaleError, ApplyError)):
            raise InstallError(f"{exc}{undone}") from None
        self.report.said = undone.strip()

    async def _undo(self) -> Undone:
        out = Undone()
        entry = self.entry
        files_ok = True
        try:
            put_files_back(entry, self.store, out)
            if entry.backup is not None:  # `backups list` shows it as rolled back, not as an install
                self.store.mark_rolled_back(entry.backup, now_iso())
        except (BackupError, OSError) as exc:
            files_ok = False
            out.files_left = [f.path for f in entry.files if file_state(f) == "new"]
            out.why = str(exc)
        if entry.keys:
            await revoke_keys(self.p, list(entry.keys), {i.key_id for i in self.ledger.entries()}, out)
        tidy(entry, self.store)
        if out.complete and files_ok:
            self.journal.finish(entry)
        else:
            entry.keys = [k for k in entry.keys if k.name in out.left]
            self.journal.save(entry)  # the next start finishes the undo
        return out

    async def _complete(self, interrupted: bool) -> str:
        """Every file was written: record it; a key meant to be shown that will not be is revoked."""
        entry = self.entry
        names = ", ".join(f"{k.name} into {k.agent}" for k in entry.keys if not k.manual)
        try:
            record_install(entry, self.ledger, now_iso())
        except (OSError, CapitError) as exc:
            return (f"every file was written ({names}), but the ledger could not be written ({exc}); "
                    "capit-tui will record it at its next start.")
        unshown = [k for k in entry.keys if k.manual] if interrupted else []
        out = Undone()
        if unshown:
            await revoke_keys(self.p, unshown, set(), out)
        if out.complete:
            self.journal.finish(entry)  # else it stays `written`: the next start revokes what is left
        self.report.completed = True
        said = f"the install had already written every file, so it was completed ({names})"
        if out.revoked:
            said += f"; the key{'s' if len(out.revoked) > 1 else ''} not yet shown ({', '.join(out.revoked)}) revoked"
        if out.failed:
            said += f"; the key not yet shown ({', '.join(out.failed)}) will be revoked at the next start"
        return said + "."


def write_journaled(plan: Plan, store: BackupStore, journal: Journal, entry: Entry,
                    meta: Callable[[], dict[str, Any]],
                    write: Callable[[Path, bytes, int], None] | None) -> Backup | None:
    """Back up, then write every file of `plan` (install and rotate alike): the journal notes the files and
    the backup before the first file is written, and the entry is 'written' after the last. `meta`, the
    backup's description, is asked for only when there is a file to write."""
    backup = None
    if plan.changes:
        def noted(b: Backup) -> None:  # before the first file is written (the backup is complete)
            entry.files = [FileNote(str(c.path), str(c.target), digest(c.before), digest(c.after), c.agent)
                           for c in plan.changes]
            entry.backup, entry.state = b.id, "writing"
            journal.save(entry)

        backup = apply(plan, store, meta(), write=write, on_backup=noted)
    entry.state = "written"
    journal.save(entry)
    return backup


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


def _undone_words(out: Undone, platform: str = "") -> str:
    """The tail of a failure's message: what happened to the keys just issued."""
    words = ""
    if out.revoked:
        many = len(out.revoked) > 1
        words = (f" The key{'s' if many else ''} just issued ({', '.join(out.revoked)}) "
                 f"{'were' if many else 'was'} revoked.")
    if out.failed:
        many = len(out.failed) > 1
        them = "them" if many else "it"
        words += (f" The key{'s' if many else ''} {', '.join(out.failed)} could not be revoked "
                  f"({out.why.rstrip('.')}); capit-tui will revoke {them} at its next start, or revoke {them} "
                  "now with `capit-tui keys revoke NAME`.")
    if out.files_left:
        words += (f" {', '.join(out.files_left)} could not be put back ({out.why.rstrip('.')}); "
                  "the next start will try again.")
    if out.unsure:
        words += f" {unsure_words(out.unsure, platform)}."
    return words


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
    taken: set[str] = field(default_factory=set)  # the names on the platform: new keys' names avoid them
    expires_at: datetime | None = None  # when the keys stop working (None: never)

    @property
    def budget(self) -> Budget:
        return Budget(self.limit, self.reset)

    @property
    def cap_text(self) -> str:
        cap = self.budget.describe() if self.limit is not None else "NO cap"
        return cap + (f", expires {self.expires_at:%Y-%m-%d %H:%M} UTC" if self.expires_at is not None else "")


def _interrupted_words(out: Undone, platform: str = "") -> str:
    """After an interruption: what was undone (the CLI puts "Interrupted; " before it)."""
    parts = []
    if out.revoked:
        many = len(out.revoked) > 1
        parts.append(f"the key{'s' if many else ''} just issued ({', '.join(out.revoked)}) "
                     f"{'were' if many else 'was'} revoked")
    if out.files_back:
        parts.append(f"{plural(len(out.files_back), 'file')} put back")
    elif not out.files_left:
        parts.append("no file had been changed")
    if not out.revoked and not out.failed and not out.unsure and not out.files_back and not out.files_left:
        return "no key had been issued and no file changed, so nothing was left behind."
    said = " and ".join(parts) + "."
    rest = _undone_words(Undone(failed=out.failed, files_left=out.files_left, unsure=out.unsure, why=out.why),
                         platform).strip()
    return f"{said} {rest}" if rest else said
