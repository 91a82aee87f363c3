"""Restore trusts nothing its manifest says (issue 9, item 9): a path with `..`, a relative path, an
absolute path outside the agent's files, a target where the path does not lead, a blob outside the
backup folder or a symlinked one are each refused, named, and nothing is written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from capit_tui import agents as agents_mod
from capit_tui.agents.base import Endpoint
from capit_tui.core.backups import MANIFEST, BackupError, BackupStore
from capit_tui.core.changes import apply, plan_edits
from capit_tui.core.restore import restore_apply, restore_plan, restore_preview

KEY = "sk-or-v1-" + "c0ffee00" * 8
OLD = '{"model": "opus"}\n'


@pytest.fixture
def store(isolated_home: Path) -> BackupStore:
    return BackupStore()


def install_claude(home: Path, store: BackupStore) -> str:
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(OLD)
    ep = Endpoint("openrouter", "https://x.invalid/api/v1", "https://x.invalid/api", KEY)
    plan = plan_edits([("claude", e) for e in agents_mod.get("claude").plan_install(ep)], [KEY])
    b = apply(plan, store, {"reason": "install", "agents": ["claude"], "agent_files": {"claude": [str(settings)]},
                            "agent_home": str(home)})
    return b.id


def tamper(store: BackupStore, bid: str, **changes) -> None:
    path = store.root / bid / MANIFEST
    raw = json.loads(path.read_text())
    f = raw["files"][0]
    for k, v in changes.items():
        if k in ("agent_files", "agent_home", "agents"):
            raw["meta"][k] = v
        else:
            f[k] = v
    path.write_text(json.dumps(raw))


def snapshot(home: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in home.rglob("*") if p.is_file() and not p.is_symlink()}


def refused(store: BackupStore, bid: str, home: Path, match: str) -> str:
    before = snapshot(home)
    with pytest.raises(BackupError, match=match) as err:
        restore_preview(store, bid)
    assert snapshot(home) == before
    msg = str(err.value)
    assert msg.startswith(f"Backup {bid} is not safe to restore: ") and msg.endswith("; nothing was restored.")
    return msg


def test_an_honest_backup_restores(isolated_home, store):
    bid = install_claude(isolated_home, store)
    rp = restore_preview(store, bid)
    assert rp.changes == 1
    restore_apply(store, rp)
    assert (isolated_home / ".claude" / "settings.json").read_text() == OLD


def test_a_path_that_climbs_out_with_dotdot_is_refused(isolated_home, store):
    bid = install_claude(isolated_home, store)
    bashrc = isolated_home / ".bashrc"
    bashrc.write_text("# mine\n")
    sneaky = str(isolated_home / ".claude" / ".." / ".bashrc")
    tamper(store, bid, path=sneaky, target=sneaky, agent_files={"claude": [sneaky]})
    msg = refused(store, bid, isolated_home, "goes up with '..'")
    assert sneaky in msg
    with pytest.raises(BackupError, match="goes up"):
        restore_plan(store.get(bid))  # the low-level plan checks the layout too
    assert bashrc.read_text() == "# mine\n"


def test_a_relative_path_is_refused(isolated_home, store):
    bid = install_claude(isolated_home, store)
    tamper(store, bid, path=".claude/settings.json", target=".claude/settings.json",
           agent_files={"claude": [".claude/settings.json"]})
    assert ".claude/settings.json, a relative path" in refused(store, bid, isolated_home, "relative path")


def test_an_absolute_path_outside_the_agents_files_is_refused(isolated_home, store):
    bid = install_claude(isolated_home, store)
    bashrc = isolated_home / ".bashrc"
    bashrc.write_text("# mine\n")
    tamper(store, bid, path=str(bashrc), target=str(bashrc), agent_files={"claude": [str(bashrc)]})
    msg = refused(store, bid, isolated_home, "not a file of claude")
    assert str(bashrc) in msg
    assert bashrc.read_text() == "# mine\n"


def test_another_agents_file_filed_under_claude_is_refused(isolated_home, store):
    bid = install_claude(isolated_home, store)
    codex = isolated_home / ".codex" / "config.toml"
    tamper(store, bid, path=str(codex), target=str(codex), agent_files={"claude": [str(codex)]})
    refused(store, bid, isolated_home, "not a file of claude")


def test_a_recorded_home_cannot_widen_the_files_beyond_an_agents(isolated_home, store, tmp_path):
    """The home the backup was taken from is honoured, but only for the agent's own files under it."""
    bid = install_claude(isolated_home, store)
    other_home = tmp_path / "elsewhere"
    ok = other_home / ".claude" / "settings.json"
    tamper(store, bid, path=str(ok), target=str(ok), agent_files={"claude": [str(ok)]}, agent_home=str(other_home))
    rp = restore_preview(store, bid)  # claude's file under the recorded home: allowed
    assert [c.path for c in rp.plan.changes] == [ok]
    bad = other_home / ".ssh" / "authorized_keys"
    tamper(store, bid, path=str(bad), target=str(bad), agent_files={"claude": [str(bad)]})
    refused(store, bid, isolated_home, "not a file of claude")


def test_a_file_no_agent_owns_is_refused(isolated_home, store):
    bid = install_claude(isolated_home, store)
    tamper(store, bid, agent_files={}, agents=[])
    refused(store, bid, isolated_home, "without saying whose file it is")


def test_a_target_where_the_path_does_not_lead_is_refused(isolated_home, store):
    bid = install_claude(isolated_home, store)
    bashrc = isolated_home / ".bashrc"
    bashrc.write_text("# mine\n")
    tamper(store, bid, target=str(bashrc))
    msg = refused(store, bid, isolated_home, "does not lead there")
    assert str(bashrc) in msg and str(isolated_home / ".claude" / "settings.json") in msg


def test_a_blob_outside_the_backup_folder_is_refused(isolated_home, store):
    bid = install_claude(isolated_home, store)
    for blob in ("../other/file-0", "/etc/passwd", "..", MANIFEST):
        tamper(store, bid, blob=blob)
        with pytest.raises(BackupError, match="named outside its folder"):
            restore_preview(store, bid)


def test_a_symlinked_blob_is_refused(isolated_home, store, tmp_path):
    bid = install_claude(isolated_home, store)
    b = store.get(bid)
    (f,) = b.files
    outside = tmp_path / "planted"
    outside.write_bytes(OLD.encode())
    blob = b.folder / str(f.blob)
    blob.unlink()
    blob.symlink_to(outside)
    before = snapshot(isolated_home)
    with pytest.raises(BackupError, match="is a symbolic link, which a backup never holds"):
        restore_preview(store, bid)
    assert snapshot(isolated_home) == before


def test_a_symlinked_backup_folder_is_not_a_backup(isolated_home, store, tmp_path):
    bid = install_claude(isolated_home, store)
    real = store.root / bid
    moved = tmp_path / "moved"
    os.rename(real, moved)
    real.symlink_to(moved)
    assert store.list() == []
    with pytest.raises(BackupError, match="No backup"):
        store.get(bid)


def test_a_mode_that_is_not_a_number_is_refused(isolated_home, store):
    bid = install_claude(isolated_home, store)
    tamper(store, bid, mode="0644; rm -rf /")
    refused(store, bid, isolated_home, "not a file mode")


def test_the_cli_names_the_file_and_writes_nothing(isolated_home, store, capsys):
    from capit_tui.cli import main

    bid = install_claude(isolated_home, store)
    bashrc = isolated_home / ".bashrc"
    bashrc.write_text("# mine\n")
    tamper(store, bid, path=str(bashrc), target=str(bashrc), agent_files={"claude": [str(bashrc)]})
    assert main(["backups", "restore", bid, "--yes"]) == 1
    err = capsys.readouterr().err
    assert str(bashrc) in err and "not a file of claude" in err
    assert bashrc.read_text() == "# mine\n"


def test_restore_of_a_restore_keeps_the_recorded_home(isolated_home, store):
    bid = install_claude(isolated_home, store)
    undo = restore_apply(store, restore_preview(store, bid))
    assert undo.meta["agent_home"] == str(isolated_home)
    rp = restore_preview(store, undo.id)  # the undo backup passes the same checks
    assert rp.changes == 1
