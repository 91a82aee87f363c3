"""Rotation (core/rotate.py) against the sandbox, into two agents holding one key: the new key in every
file, the old one revoked last; a failure at the create, a write or the old key's revoke puts everything
back (files unchanged, new key revoked, old key working); a run killed half-way is settled at the next start."""

from __future__ import annotations

import asyncio
import errno
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from rotate_support import answers, configured, held_secret, hold

from capit_tui import agents as agents_mod
from capit_tui.core import rotate as rotate_mod
from capit_tui.core.journal import Journal
from capit_tui.core.keys import list_all_keys
from capit_tui.core.ledger import Ledger
from capit_tui.core.recovery import recover
from capit_tui.core.rotate import RotateError, older_than, plan_rotations, rotate, rotated_name
from capit_tui.sandbox import Sandbox

AGENTS = ["claude", "codex"]


@pytest.fixture
def sandbox(monkeypatch):
    with Sandbox() as sb:
        monkeypatch.setenv("CAPIT_OPENROUTER_BASE_URL", sb.base_url)  # the next start's recover() opens it
        monkeypatch.setenv("CAPIT_OPENROUTER_MANAGEMENT_KEY", sb.management_key)
        yield sb


def files(home: Path) -> dict[Path, bytes]:
    paths = [home / ".claude" / "settings.json", home / ".codex" / "config.toml"]
    return {p: p.read_bytes() for p in paths if p.exists()}


def plan(sb: Sandbox, name: str = "old-key"):
    c = configured(sb)
    keys = asyncio.run(list_all_keys([c])).keys
    (old,) = [k for k in keys if k.name == name]
    (r,) = plan_rotations([old], {c.name: c}, taken=keys, today=date(2027, 3, 1))
    return r


def live(sb: Sandbox) -> dict[str, dict]:
    return {k["name"]: k for k in sb.keys.values()}


def test_rotation_into_two_agents_revokes_the_old_key_last(sandbox, isolated_home):
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=40)
    old_secret, old_hash = hold(sandbox, AGENTS, limit=7, reset="weekly", expires_at=expires)
    r = plan(sandbox)
    assert r.new_name == "old-key-rotated-20270301" and [a.name for a in r.agents] == AGENTS
    assert "sk-or-v1-…0000" in r.diff() and old_secret not in r.diff()
    done = asyncio.run(rotate(r))
    new = done.issued.secret
    assert held_secret("claude") == new and held_secret("codex") == new
    k = live(sandbox)["old-key-rotated-20270301"]
    assert (k["limit"], k["limit_reset"], k["expires_at"]) == (7, "weekly", expires.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert "old-key" not in live(sandbox)
    assert answers(sandbox, old_secret) == 401 and answers(sandbox, new) == 200
    held = Ledger().holders_by_key()
    assert held[("openrouter", done.issued.key.id)] == AGENTS and ("openrouter", old_hash) not in held
    assert Journal().pending() == [] and done.backup is not None


def test_a_refused_create_changes_nothing(sandbox, isolated_home):
    old_secret, _ = hold(sandbox, AGENTS)
    before = files(isolated_home)
    sandbox.inject_fault("POST /api/v1/keys", "401")
    with pytest.raises(RotateError) as err:
        asyncio.run(rotate(plan(sandbox)))
    assert "Issuing the new key for old-key failed" in str(err.value) and "old-key still works" in str(err.value)
    assert files(isolated_home) == before and set(live(sandbox)) == {"old-key"}
    assert answers(sandbox, old_secret) == 200 and Journal().pending() == []


def test_a_failed_write_puts_the_files_back_and_revokes_the_new_key(sandbox, isolated_home):
    old_secret, _ = hold(sandbox, AGENTS)
    before = files(isolated_home)

    def full_disk(path, data, mode):
        if path.name == "config.toml":
            raise OSError(errno.ENOSPC, "No space left on device")
        from capit_tui.core.fsutil import atomic_write

        atomic_write(path, data, mode=mode)

    with pytest.raises(RotateError) as err:
        asyncio.run(rotate(plan(sandbox), write=full_disk))
    assert "was revoked" in str(err.value) and "old-key still works" in str(err.value)
    assert files(isolated_home) == before and set(live(sandbox)) == {"old-key"}
    assert answers(sandbox, old_secret) == 200 and held_secret("claude") == old_secret
    assert Journal().pending() == []


def test_a_failed_revoke_of_the_old_key_undoes_the_rotation(sandbox, isolated_home):
    old_secret, old_hash = hold(sandbox, AGENTS)
    before = files(isolated_home)
    sandbox.inject_fault(f"DELETE /api/v1/keys/{old_hash}", "401")
    with pytest.raises(RotateError) as err:
        asyncio.run(rotate(plan(sandbox)))
    assert "Revoking the old key old-key failed" in str(err.value)
    assert files(isolated_home) == before and set(live(sandbox)) == {"old-key"}
    assert answers(sandbox, old_secret) == 200 and held_secret("codex") == old_secret
    assert Ledger().holders("openrouter", old_hash) == AGENTS and Journal().pending() == []


class Killed(BaseException):
    """Stands in for SIGKILL: the run stops where it is and nothing of it unwinds."""


@pytest.mark.parametrize("where", ["second-write", "before-revoke"])
def test_a_killed_rotation_leaves_one_working_key_per_agent_after_the_next_start(sandbox, isolated_home,
                                                                                monkeypatch, where):
    old_secret, _ = hold(sandbox, AGENTS)
    before = files(isolated_home)
    r = plan(sandbox)
    with monkeypatch.context() as m, pytest.raises(Killed):
        m.setattr(rotate_mod._Run, "unwind", lambda self, exc: asyncio.sleep(0))
        count = {"n": 0}

        def write(path, data, mode):
            count["n"] += 1
            if where == "second-write" and count["n"] == 2:
                raise Killed
            from capit_tui.core.fsutil import atomic_write

            atomic_write(path, data, mode=mode)

        async def killed(p, entry, ledger, out):
            raise Killed

        if where == "before-revoke":
            m.setattr(rotate_mod, "retire_old", killed)
        asyncio.run(rotate(r, write=write))
    assert len(Journal().pending()) == 1
    said = asyncio.run(recover())
    assert len(said) == 1 and Journal().pending() == []
    names = set(live(sandbox))
    if where == "second-write":  # undone: the files as they were, the new key revoked
        assert "it was undone" in said[0] and files(isolated_home) == before and names == {"old-key"}
        assert answers(sandbox, old_secret) == 200
    else:  # every file was written: completed, the old key revoked
        assert "it was completed" in said[0] and names == {"old-key-rotated-20270301"}
        new = held_secret("claude")
        assert new == held_secret("codex") and new != old_secret and answers(sandbox, new) == 200
        assert answers(sandbox, old_secret) == 401


def test_a_key_no_agent_holds_has_no_preview(sandbox, isolated_home):
    sandbox.add_key("loose", limit=3, reset="daily")
    r = plan(sandbox, "loose")
    assert r.preview is None and not r.held and r.new_name == "loose-rotated-20270301"


def test_a_rotated_name_is_free_replaces_an_earlier_suffix_and_fits():
    assert rotated_name("k-rotated-20260101", {"k-rotated-20270301"}, date(2027, 3, 1)) == "k-rotated-20270301-2"
    name = rotated_name("capit-claude-20261121-long", set(), date(2027, 3, 1), most=30)
    assert len(name.encode()) <= 30 and name.endswith("-rotated-20270301")


def test_older_than_picks_by_creation_time(sandbox):
    now = datetime(2027, 3, 1, tzinfo=timezone.utc)
    sandbox.set_clock(lambda: now - timedelta(days=100))
    sandbox.add_key("old", limit=1)
    sandbox.set_clock(lambda: now - timedelta(days=10))
    sandbox.add_key("young", limit=1)
    sandbox.set_clock(None)
    keys = asyncio.run(list_all_keys([configured(sandbox)])).keys
    assert [k.name for k in older_than(keys, timedelta(days=90), now)] == ["old"]


def test_an_agent_whose_files_hold_another_key_is_left_out(sandbox, isolated_home):
    hold(sandbox, AGENTS)
    codex = agents_mod.get("codex")
    path = isolated_home / ".codex" / "config.toml"
    path.write_text(path.read_text().replace(codex.installed_key().secret, "sk-or-v1-" + "9" * 64))
    r = plan(sandbox)
    assert [a.name for a in r.agents] == ["claude"] and any("Codex" in n for n in r.notes)
