"""The lock (core/lock.py), the intent journal (core/journal.py) and the repair from it (core/recovery.py).

The lock: re-entrant in one flow of control, exclusive between processes and between threads, says
once who holds it and what for, gives up with a sentence, dies with its holder. The journal: written
before each step, private, never a secret. The repair: finishes an install whose files were all
written, undoes anything less (files back, keys revoked, a lost create found by name), keeps what it
cannot do yet and says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from capit_tui import agents as agents_mod
from capit_tui.core import lock
from capit_tui.core.backups import BackupStore
from capit_tui.core.install import _Run, execute, preview
from capit_tui.core.journal import Journal, KeyNote, iso
from capit_tui.core.keys import Configured
from capit_tui.core.ledger import Ledger
from capit_tui.core.recovery import Report, recover
from capit_tui.core.restore import restore_apply, restore_preview
from capit_tui.core.settings import PlatformConfig
from capit_tui.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------- the lock


def other_process(code: str, **env: str) -> subprocess.Popen:
    """A second Python with the same isolated HOME, running `code` (lock imported)."""
    body = "import sys, time\nfrom capit_tui.core import lock\n" + textwrap.dedent(code)
    return subprocess.Popen([sys.executable, "-c", body], env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_lock_is_reentrant_and_says_who_holds_it():
    with lock.held("installing a key into claude"):
        assert lock.holds()
        with lock.held("writing its ledger"):  # nested: no deadlock, the outer purpose stays
            assert lock.holder() == (os.getpid(), "installing a key into claude")
        assert lock.holds()
    assert not lock.holds()
    assert stat.S_IMODE(lock.lock_path().stat().st_mode) == 0o600


def test_async_code_started_inside_a_held_block_is_inside_it():
    async def inner() -> bool:
        async with lock.held_async("nested"):
            return lock.holds()

    with lock.held("outer"):
        assert asyncio.run(inner())


def test_a_second_process_waits_says_so_once_then_gives_up():
    with lock.held("installing a key into claude"):
        p = other_process("""
            said = []
            try:
                with lock.held("restoring", waiting=said.append):
                    print("GOT IT")
            except lock.LockTimeout as exc:
                print("SAID", len(said), said[0])
                print("GAVE UP", exc)
        """, CAPIT_LOCK_WAIT="1")
        out, err = p.communicate(timeout=60)
    assert "GOT IT" not in out, out
    assert f"SAID 1 Another capit-tui (pid {os.getpid()}) is installing a key into claude; waiting up to 1 s" in out
    assert "GAVE UP Another capit-tui" in out and "still was after 1 s, so nothing was done" in out, out


def test_a_waiter_goes_on_when_the_holder_is_done():
    p = other_process("""
        with lock.held("revoking the key k"):
            print("HELD", flush=True)
            time.sleep(1.6)
    """)
    assert p.stdout is not None and p.stdout.readline().strip() == "HELD"
    said: list[str] = []
    started = time.monotonic()
    with lock.held("installing", wait=30, waiting=said.append):
        waited = time.monotonic() - started
    p.wait(timeout=30)
    assert waited > 1.0 and len(said) == 1 and f"(pid {p.pid}) is revoking the key k" in said[0]


def test_a_wait_shorter_than_a_second_is_not_said():
    """Two pieces of one app meeting at the lock for a moment (the app's spend sample and a ledger write)
    showed the user 'this capit-tui is recording spend history; waiting up to 30 s' for nothing."""
    said: list[str] = []

    def hold_briefly() -> None:
        with lock.held("recording spend history"):
            time.sleep(0.3)

    async def wait_async() -> None:
        async with lock.held_async("writing its ledger", waiting=said.append):
            pass

    for how in ("sync", "async"):
        t = threading.Thread(target=hold_briefly)
        t.start()
        while lock.holder()[1] != "recording spend history":
            time.sleep(0.01)
        started = time.monotonic()
        if how == "async":
            asyncio.run(wait_async())
        else:
            with lock.held("writing its ledger", waiting=said.append):
                pass
        waited = time.monotonic() - started
        t.join()
        assert 0.1 < waited < 1.0, (how, waited)  # it did wait for the sample, and quietly
    assert said == []


def test_the_lock_dies_with_a_killed_holder():
    p = other_process("""
        import os, signal
        with lock.held("installing"):
            print("HELD", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert p.stdout is not None and p.stdout.readline().strip() == "HELD"
    p.wait(timeout=30)
    with lock.held("after", wait=0):
        assert lock.holds()


def test_another_thread_waits_for_the_lock():
    order: list[str] = []
    inside = threading.Event()

    def first() -> None:
        with lock.held("first"):
            inside.set()
            time.sleep(0.3)
            order.append("first done")

    t = threading.Thread(target=first)
    t.start()
    inside.wait(5)
    with lock.held("second", wait=10):
        order.append("second in")
    t.join()
    assert order == ["first done", "second in"]


async def test_sync_code_on_the_event_loop_does_not_wait_for_a_task_of_its_own():
    started = asyncio.Event()

    async def holder() -> None:
        async with lock.held_async("installing a key into codex"):
            started.set()
            await asyncio.sleep(0.5)

    task = asyncio.create_task(holder())
    await started.wait()
    t0 = time.monotonic()
    with pytest.raises(lock.LockBusy, match="is installing a key into codex; try again when it has finished"):
        with lock.held("saving its settings"):
            pass
    assert time.monotonic() - t0 < 0.5  # at once: waiting here would freeze the holder too
    await task


# ---------------------------------------------------------------- the journal


def test_journal_entries_are_private_and_round_trip(tmp_path):
    j = Journal(tmp_path / "journal")
    e = j.begin("install", "openrouter", ["claude"], keys=[KeyNote("capit-claude-1", "claude", iso())])
    assert stat.S_IMODE(j.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(j.path(e).stat().st_mode) == 0o600
    (got,) = j.pending()
    assert got == e and got.keys[0].name == "capit-claude-1" and got.state == "issuing"
    e.keys[0].id = "abc"
    j.save(e)
    assert j.pending()[0].keys[0].id == "abc"
    j.finish(e)
    assert j.pending() == [] and not j.has_pending()


# ---------------------------------------------------------------- with the sandbox


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def platform(sandbox, monkeypatch):
    monkeypatch.setenv("CAPIT_OPENROUTER_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("CAPIT_OPENROUTER_MANAGEMENT_KEY", sandbox.management_key)
    return Configured(PlatformConfig("openrouter", "openrouter", sandbox.base_url), "env", sandbox.management_key)


def live(sb: Sandbox) -> set[str]:
    return {sb.keys[h]["name"] for h in list(sb.keys)}


def two(home: Path) -> list:
    claude = home / ".claude" / "settings.json"
    claude.parent.mkdir(parents=True)
    claude.write_text('{"model": "opus"}\n')
    codex = home / ".codex" / "config.toml"
    codex.parent.mkdir(parents=True)
    codex.write_text('model = "gpt-5"\n')
    return [agents_mod.get("claude"), agents_mod.get("codex")]


class Killed(BaseException):
    """Stands in for SIGKILL: the run stops where it is and nothing of it unwinds."""


def killed_at(monkeypatch, *, write_number: int | None = None) -> dict:
    """Make the next execute() die like a killed process: at its `write_number`-th file write."""
    monkeypatch.setattr(_Run, "unwind", lambda self, exc: asyncio.sleep(0))
    count = {"writes": 0}

    def write(path: Path, data: bytes, mode: int) -> None:
        count["writes"] += 1
        if count["writes"] == write_number:
            raise Killed
        from capit_tui.core.fsutil import atomic_write

        atomic_write(path, data, mode=mode)

    count["write"] = write  # type: ignore[assignment]
    return count


def test_the_journal_never_holds_a_secret(platform, sandbox, isolated_home):
    pv = preview(platform, two(isolated_home))
    seen: list[str] = []
    journal = Journal()

    def snapshot(_msg: str) -> None:
        seen.extend(p.read_text() for p in journal.root.glob("*.json"))

    result = asyncio.run(execute(pv, Decimal(5), None, progress=snapshot))
    secrets = [r.issued.secret for r in result.installed]
    assert seen and not journal.pending()
    for text in seen:
        assert not any(s in text for s in secrets)
        assert not any(s[-20:] in text for s in secrets)


def test_a_run_killed_mid_write_is_undone_at_the_next_start(platform, sandbox, isolated_home, monkeypatch):
    pv = preview(platform, two(isolated_home))
    before = (isolated_home / ".claude" / "settings.json").read_bytes()
    with monkeypatch.context() as m, pytest.raises(Killed):
        kill = killed_at(m, write_number=2)  # claude's file written, codex's not
        asyncio.run(execute(pv, Decimal(5), None, write=kill["write"]))
    assert (isolated_home / ".claude" / "settings.json").read_bytes() != before
    assert len(live(sandbox)) == 2
    said = asyncio.run(recover())
    assert len(said) == 1 and "did not finish; it was undone" in said[0] and "1 file put back" in said[0], said
    assert "were revoked" in said[0]
    assert (isolated_home / ".claude" / "settings.json").read_bytes() == before
    assert (isolated_home / ".codex" / "config.toml").read_text() == 'model = "gpt-5"\n'
    assert live(sandbox) == set() and Journal().pending() == [] and Ledger().entries() == []


def test_a_run_killed_after_its_writes_is_completed_at_the_next_start(platform, sandbox, isolated_home,
                                                                        monkeypatch):
    pv = preview(platform, two(isolated_home))
    with monkeypatch.context() as m, pytest.raises(Killed):
        m.setattr(_Run, "unwind", lambda self, exc: asyncio.sleep(0))
        m.setattr("capit_tui.core.install.record_install", lambda *a: (_ for _ in ()).throw(Killed))
        asyncio.run(execute(pv, Decimal(5), None))
    (said,) = asyncio.run(recover())
    assert "after writing its files; it was completed" in said, said
    held = Ledger().current()
    assert set(held) == {"claude", "codex"} and all(i.key_id in sandbox.keys for i in held.values())
    assert agents_mod.get("claude").installed_key().masked == held["claude"].masked


def test_a_create_whose_reply_was_lost_is_found_by_name(platform, sandbox, isolated_home):
    sandbox.add_key("capit-claude-x")  # the same name, recorded in the ledger: a key in use, not touched
    from capit_tui.core.ledger import Install

    (kept,) = [h for h in sandbox.keys]
    Ledger().record(Install("t", "claude", "openrouter", kept, "capit-claude-x", "sk-or-v1-…0000", [], None))
    j = Journal()
    j.begin("install", "openrouter", ["claude"], keys=[KeyNote("capit-claude-x", "claude", iso())])
    _secret, lost = sandbox.add_key("capit-claude-x")  # made by the lost create
    (said,) = asyncio.run(recover())
    assert "the key capit-claude-x was revoked" in said, said
    assert lost not in sandbox.keys and kept in sandbox.keys and j.pending() == []


def test_a_lost_create_not_found_yet_is_looked_for_again(platform, sandbox, isolated_home, monkeypatch):
    j = Journal()
    j.begin("install", "openrouter", ["claude"], keys=[KeyNote("capit-claude-y", "claude", iso())])
    (said,) = asyncio.run(recover())
    assert "may still appear on openrouter; capit-tui will look again" in said and len(j.pending()) == 1
    sandbox.add_key("capit-claude-y")  # the server acted on it late
    (said,) = asyncio.run(recover())
    assert "capit-claude-y was revoked" in said and live(sandbox) == set() and j.pending() == []


def test_an_unreachable_platform_keeps_the_entry_and_says_so(platform, sandbox, isolated_home, monkeypatch):
    _secret, key = sandbox.add_key("capit-claude-z")
    j = Journal()
    e = j.begin("install", "openrouter", ["claude"], keys=[KeyNote("capit-claude-z", "claude", iso())])
    e.keys[0].id = key
    j.save(e)
    monkeypatch.setenv("CAPIT_OPENROUTER_BASE_URL", "http://127.0.0.1:9/api/v1")
    monkeypatch.setenv("CAPIT_HTTP_TIMEOUT", "2")
    (said,) = asyncio.run(recover())
    assert "capit-claude-z is still live" in said and "will revoke it at the next start" in said, said
    assert len(j.pending()) == 1 and key in sandbox.keys
    monkeypatch.setenv("CAPIT_OPENROUTER_BASE_URL", sandbox.base_url)
    (said,) = asyncio.run(recover())
    assert "capit-claude-z was revoked" in said and key not in sandbox.keys and j.pending() == []


async def test_a_cancelled_install_revokes_its_keys_and_says_so(platform, sandbox, isolated_home):
    pv = preview(platform, two(isolated_home))
    before = (isolated_home / ".claude" / "settings.json").read_bytes()
    report = Report()
    task: asyncio.Task | None = None

    def progress(message: str) -> None:
        if "codex" in message and task is not None:
            task.cancel()  # Ctrl-C (asyncio.run cancels the command's task) while the second key is made

    task = asyncio.create_task(execute(pv, Decimal(5), None, progress=progress, report=report))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert live(sandbox) == set() and Journal().pending() == []
    assert "just issued" in report.said and "revoked" in report.said and "no file had been changed" in report.said
    assert (isolated_home / ".claude" / "settings.json").read_bytes() == before


def test_an_interrupted_restore_is_undone_on_the_spot(platform, sandbox, isolated_home, monkeypatch):
    pv = preview(platform, two(isolated_home))
    asyncio.run(execute(pv, Decimal(5), None))
    installed = {p: p.read_bytes() for p in (isolated_home / ".claude" / "settings.json",
                                             isolated_home / ".codex" / "config.toml")}
    store = BackupStore()
    rp = restore_preview(store, store.latest())
    calls = {"n": 0}
    from capit_tui.core import changes

    real = changes.atomic_write

    def second_write_interrupted(path, data, *, mode=0o600):
        if path.name in ("settings.json", "config.toml"):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
        return real(path, data, mode=mode)

    with monkeypatch.context() as m, pytest.raises(KeyboardInterrupt) as info:
        m.setattr(changes, "atomic_write", second_write_interrupted)
        restore_apply(store, rp)
    assert "did not finish; it was undone: 1 file put back" in info.value.__notes__[-1]
    assert {p: p.read_bytes() for p in installed} == installed and Journal().pending() == []


def test_nothing_to_repair_costs_no_lock(isolated_home):
    assert asyncio.run(recover()) == []
    assert not lock.lock_path().exists()


def test_a_damaged_entry_is_set_aside_and_said(isolated_home):
    j = Journal()
    j.root.mkdir(parents=True)
    (j.root / "x.json").write_text("{not json")
    (said,) = asyncio.run(recover())
    assert "cannot be read" in said and (j.root / "x.json.damaged").exists() and not j.has_pending()


def test_entries_hold_only_what_the_docs_say(platform, sandbox, isolated_home, monkeypatch):
    pv = preview(platform, two(isolated_home))
    with monkeypatch.context() as m, pytest.raises(Killed):
        kill = killed_at(m, write_number=1)
        asyncio.run(execute(pv, Decimal(5), None, write=kill["write"]))
    (path,) = Journal().root.glob("*.json")
    raw = json.loads(path.read_text())
    assert set(raw) == {"kind", "platform", "agents", "state", "id", "pid", "started", "keys", "files", "backup",
                        "restored", "shown", "retire", "by"}
    assert raw["state"] == "writing" and raw["backup"] and len(raw["files"]) == 2
    assert all(set(k) == {"name", "agent", "asked_at", "id", "masked", "manual", "files"} for k in raw["keys"])
    assert all(k["masked"].startswith("sk-or-v1-…") for k in raw["keys"])
    asyncio.run(recover())
    assert not list(isolated_home.rglob("*.capit-tmp"))
