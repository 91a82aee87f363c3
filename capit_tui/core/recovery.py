"""Finishing or undoing an interrupted write, from its journal entry (core/journal.py).

Used twice: by `install.execute` when it is interrupted or fails in this process, and at the next
start (`recover()`, called by the CLI before a command and by the TUI at start-up) for whatever a
killed process left behind. The rule is the same both times:

- an install whose files were all written (the journal says so, or every file holds its new bytes) is
  finished: the ledger records it (a key meant to be shown on screen that was never shown is revoked);
- anything less is undone: every file that holds the new bytes gets its old bytes back from the
  entry's backup (a file changed by someone else since is left alone, and said so), and every key the
  entry issued is revoked on its platform, a key whose create reply was lost found by its name;
- a restore is finished (ledger) when all its files were written, else undone the same way;
- a team apply is finished by revoking each new key whose secret was never handed over (core/team_apply.py);
- a panic stop is finished: the keys the record of stopped keys holds as `disabling` are disabled (core/panic.py);
- the entry goes only when that is done. When a platform cannot be reached the entry stays, the files
  are put back all the same, and the sentence says the keys will be revoked at the next start.

The lock is held throughout. No printing: each settled entry gives one sentence for the front end.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from capit_tui.core.backups import BackupError, BackupStore
from capit_tui.core.journal import Entry, Journal, needs_recovery, own_dirs
from capit_tui.core.ledger import Install, Ledger, now_iso
from capit_tui.core.text import plural
from capit_tui.core.undo import (  # noqa: F401 - re-exported: install.py and tests import them from here
    CLOCK_SKEW,
    Report,
    Undone,
    file_state,
    is_interruption,
    put_files_back,
    revoke_keys,
    settle_window,
    sweep_dir,
    sweep_temps,
    tidy,
    unsure_words,
    written,
)

# ---------------------------------------------------------------- finishing


def record_install(entry: Entry, ledger: Ledger, time: str | None = None) -> int:
    """The ledger gets every agent's key of a written install (once: an agent already recorded with
    that key is not recorded again). Returns how many were recorded."""
    have = {(i.agent, i.platform, i.key_id) for i in ledger.entries()}
    when = time or now_iso()
    new = [Install(when, k.agent, entry.platform, k.id, k.name, k.masked, list(k.files), entry.backup)
           for k in entry.keys if k.agent and k.id and not k.manual
           and (k.agent, entry.platform, k.id) not in have]
    if new:
        ledger.record_all(new)
    return len(new)


def settle_ledger(ledger: Ledger, agents: Iterable[str], backup_id: str,
                  env: Mapping[str, str] | None = None) -> None:
    """After files were put back: each agent is recorded as holding the capit key its files hold now
    (matched by masked form among its earlier installs), or none."""
    from capit_tui import agents as agents_mod

    for name in agents:
        try:
            agent = agents_mod.get(name, env)
            held = agent.installed_key() if agent.support == "file" else None
        except Exception:  # noqa: BLE001 - an unknown agent or a file that does not parse holds no known key
            held = None
        ledger.record_restore(name, held.masked if held is not None else None, backup_id)


# ---------------------------------------------------------------- one entry


async def settle(entry: Entry, *, journal: Journal, store: BackupStore, ledger: Ledger,
                 open_platform: Callable[[str], Any], known_ids: set[str], env: Any = None) -> tuple[bool, str]:
    """Finish or undo one entry. Returns (settled, the sentence for the user). Holds the lock."""
    from capit_tui.core import lock

    with lock.held("repairing an interrupted run"):
        if entry.kind == "restore":
            return settle_restore(entry, journal, store, ledger, env)
        if entry.kind == "panic":
            from capit_tui.core.panic import resume

            return await resume(entry, open_platform, journal)
        if entry.kind == "team":
            from capit_tui.core.team_apply import resume as resume_team

            return await resume_team(entry, open_platform, journal, known_ids)
        if entry.kind == "rotate":
            from capit_tui.core.rotate_settle import settle_rotation

            return await settle_rotation(entry, journal=journal, store=store, ledger=ledger,
                                         open_platform=open_platform, known_ids=known_ids)
        out = Undone()
        finish = entry.kind == "install" and written(entry)
        try:
            if not finish:
                put_files_back(entry, store, out)
                if entry.kind == "install" and entry.backup is not None:  # `backups list`: rolled back
                    store.mark_rolled_back(entry.backup, now_iso())
        except (BackupError, OSError) as exc:
            return False, (f"{_Cap(entry.describe())} did not finish, and putting its files back failed ({exc}); "
                           "capit-tui will try again at the next start.")
        to_revoke = [k for k in entry.keys if not finish or (k.manual and not entry.shown)]
        if to_revoke:
            p = None
            try:
                p = open_platform(entry.platform)
            except Exception as exc:  # noqa: BLE001 - no settings or no management key: say so, keep the entry
                out.failed = [k.name for k in to_revoke]
                out.why = str(exc)
            if p is not None:
                try:
                    await revoke_keys(p, to_revoke, known_ids, out)
                finally:
                    await p.aclose()
        recorded = record_install(entry, ledger) if finish else 0
        if finish:
            entry.state = "written"  # what is left (a key never shown) is revoked next time, nothing undone
        tidy(entry, store)
        if out.complete:
            journal.finish(entry)
        else:
            _forget_settled(entry, out, journal)
        return out.complete, _sentence(entry, out, finish, recorded)


def _forget_settled(entry: Entry, out: Undone, journal: Journal) -> None:
    """Keep only what is left to do: the keys not yet revoked, and no file (they are back already)."""
    left = out.left
    entry.keys = [k for k in entry.keys if k.name in left]
    if entry.state != "written":
        entry.files = []
        entry.backup = None
    journal.save(entry)


def settle_restore(entry: Entry, journal: Journal, store: BackupStore, ledger: Ledger,
                   env: Any = None) -> tuple[bool, str]:
    """A restore: finished (its ledger settled) when every file was written, else its files put back."""
    out = Undone()
    finish = entry.state == "written"
    try:
        if not finish:
            put_files_back(entry, store, out)
        if finish or entry.backup is not None:  # files may have changed: the ledger follows them
            settle_ledger(ledger, entry.agents, entry.restored or "", env)
    except (BackupError, OSError) as exc:
        return False, (f"{_Cap(entry.describe())} did not finish, and putting its files back failed ({exc}); "
                       "capit-tui will try again at the next start.")
    tidy(entry, store)
    journal.finish(entry)
    if finish:
        return True, f"{_Cap(entry.describe())} did not finish after writing its files; it was completed."
    left = f" ({_left_words(out.files_left)})" if out.files_left else ""
    return True, f"{_Cap(entry.describe())} did not finish; it was undone: {_files_words(out)}{left}."


def _sentence(entry: Entry, out: Undone, finish: bool, recorded: int) -> str:
    what = _Cap(entry.describe())
    if finish:
        s = f"{what} did not finish after writing its files; it was completed and is in the ledger"
        if out.revoked:
            s += f", and the key never shown ({', '.join(out.revoked)}) was revoked"
    elif entry.kind == "issue":
        s = f"{what} did not finish: the key was never shown"
        s += f"; {_keys_words(out.revoked, 'was')} revoked" if out.revoked else "; no key had been made"
    else:
        s = f"{what} did not finish; it was undone: "
        parts = []
        if out.revoked:
            parts.append(f"{_keys_words(out.revoked, 'was')} revoked")
        parts.append(_files_words(out))
        s += " and ".join(parts)
    if out.files_left:
        s += f" ({_left_words(out.files_left)})"
    if out.failed:
        s += (f". But {_keys_words(out.failed, 'is')} still live: {out.why.rstrip('.')}. capit-tui will revoke "
              f"{'them' if len(out.failed) > 1 else 'it'} at the next start")
    if out.unsure:
        s += f". {unsure_words(out.unsure, entry.platform)}"
    return s + "."


def _keys_words(names: list[str], verb: str) -> str:
    if len(names) == 1:
        return f"the key {names[0]} {verb}"
    plural_verb = {"was": "were", "is": "are"}[verb]
    return f"the keys {', '.join(names)} {plural_verb}"


def _left_words(paths: list[str]) -> str:
    if len(paths) == 1:
        return f"{paths[0]} changed since, so it was left as it is"
    return f"{', '.join(paths)} changed since, so they were left as they are"


def _files_words(out: Undone) -> str:
    if out.files_back:
        return f"{plural(len(out.files_back), 'file')} put back"
    return "no file had been changed"


def _Cap(s: str) -> str:  # noqa: N802
    return s[:1].upper() + s[1:]


# ---------------------------------------------------------------- at start


async def recover(*, journal: Journal | None = None, store: BackupStore | None = None,
                  ledger: Ledger | None = None, settings: Any = None, env: Any = None) -> list[str]:
    """Settle every entry a previous run left, if no other capit-tui is running (it could be mid-way
    through the very entry). Returns one sentence per entry. Never raises for a single entry."""
    from capit_tui.core import lock

    journal = journal or Journal()
    if not needs_recovery(journal):
        return []
    try:
        async with lock.held_async("repairing an interrupted run", wait=0):
            return await _recover_locked(journal, store or BackupStore(), ledger or Ledger(), settings, env)
    except lock.LockTimeout:
        return []  # another capit-tui is running: it, or the next start, will do it


async def _recover_locked(journal: Journal, store: BackupStore, ledger: Ledger, settings: Any,
                          env: Any) -> list[str]:
    for d in own_dirs(journal):
        sweep_dir(d)
    entries = journal.pending()
    damaged = journal.damaged()
    said = [f"The journal entry {p.name} cannot be read; it was set aside as {p.name}.damaged." for p in damaged]
    for p in damaged:
        try:
            os.replace(p, p.with_name(p.name + ".damaged"))
        except OSError:
            pass
    if not entries:
        return said
    store.prune_incomplete()
    ids = {i.key_id for i in ledger.entries() if i.key_id}
    for e in entries:
        ids.update(k.id for k in e.keys if k.id)
    opener = _platform_opener(settings)
    for e in entries:
        try:
            _ok, sentence = await settle(e, journal=journal, store=store, ledger=ledger, open_platform=opener,
                                         known_ids=ids, env=env)
        except Exception as exc:  # noqa: BLE001 - one entry failing must not stop the others or the command
            from capit_tui.core.redact import redact

            sentence = (f"{_Cap(e.describe())} did not finish and could not be repaired now "
                        f"({redact(str(exc))}); capit-tui will try again at the next start.")
        said.append(sentence)
    return said


def _platform_opener(settings: Any) -> Callable[[str], Any]:
    def open_platform(name: str) -> Any:
        from capit_tui.core import settings as settings_mod
        from capit_tui.core.keys import configured_platforms

        s = settings if settings is not None else settings_mod.load()
        (c,) = configured_platforms(s, name)
        return c.open()

    return open_platform


async def at_start(say: Callable[[str], None]) -> None:
    """A front end's start-up: `say` words the lock's waits from now on, and each repair made now."""
    from capit_tui.core import lock

    lock.set_waiting_reporter(say)
    for sentence in await recover():
        say(sentence)
