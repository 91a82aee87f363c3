"""Crash leftovers (issue 9, item 12): stale `.NAME.*.capit-tmp` files in the folders capit-tui writes
and backup folders without a manifest are pruned at start; fresh ones (a write under way in another
process) are not; the demo's folder goes on SIGTERM/SIGHUP, and stale demo folders of dead processes
at the next demo start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from capit_tui.core import backups as backups_mod
from capit_tui.core.backups import MANIFEST, BackupStore
from capit_tui.core.demo import OWNER_FILE, UNMARKED_AFTER, owner_record, prune_stale_demos
from capit_tui.core.leftovers import STALE_AFTER, prune_leftovers

ROOT = Path(__file__).resolve().parents[2]
OLD = time.time() - STALE_AFTER - 60


def temp_file(folder: Path, name: str = "settings.json", *, age: float | None = OLD) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f".{name}.a1b2c3d_.capit-tmp"
    p.write_text('{"env": {"KEY": "sk-or-v1-secret"}}')
    p.chmod(0o600)
    if age is not None:
        os.utime(p, (age, age))
    return p


def half_backup(store: BackupStore, name: str, *, age: float | None = OLD) -> Path:
    folder = store.root / name
    folder.mkdir(parents=True)
    (folder / "file-0").write_bytes(b"partial")
    if age is not None:
        for p in (folder / "file-0", folder):
            os.utime(p, (age, age))
    return folder


def test_stale_temp_files_go_only_from_our_folders(isolated_home, tmp_path):
    claude = temp_file(isolated_home / ".claude")
    codex = temp_file(isolated_home / ".codex", "config.toml")
    config = temp_file(isolated_home / ".config" / "capit-tui", "credentials.toml")
    data = temp_file(isolated_home / ".local" / "share" / "capit-tui", "ledger.json")
    elsewhere = temp_file(tmp_path / "projects")  # not a folder capit-tui writes
    lookalike = isolated_home / ".claude" / "settings.json.capit-tmp"  # not our pattern
    lookalike.write_text("x")
    os.utime(lookalike, (OLD, OLD))
    pruned = prune_leftovers()
    assert pruned.temp_files == 4
    assert not any(p.exists() for p in (claude, codex, config, data))
    assert elsewhere.exists() and lookalike.exists()


def test_fresh_temp_files_of_a_running_write_stay(isolated_home):
    fresh = temp_file(isolated_home / ".claude", age=None)
    assert prune_leftovers().temp_files == 0
    assert fresh.exists()


def test_a_symlink_or_folder_named_like_a_temp_file_is_left_alone(isolated_home, tmp_path):
    folder = isolated_home / ".claude"
    folder.mkdir()
    target = tmp_path / "precious"
    target.write_text("keep")
    link = folder / ".settings.json.zzzzzzzz.capit-tmp"
    link.symlink_to(target)
    os.utime(link, (OLD, OLD), follow_symlinks=False)
    (folder / ".settings.json.yyyyyyyy.capit-tmp").mkdir()
    assert prune_leftovers().temp_files == 0
    assert link.is_symlink() and target.read_text() == "keep"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another uid")
def test_another_users_temp_file_is_left_alone(isolated_home):
    theirs = temp_file(isolated_home / ".claude")
    os.chown(theirs, 65534, 65534)
    assert prune_leftovers().temp_files == 0
    assert theirs.exists()


def test_temp_files_beside_a_linked_agent_file_go_too(isolated_home, tmp_path):
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "claude.json").write_text("{}")
    (isolated_home / ".claude").mkdir()
    (isolated_home / ".claude" / "settings.json").symlink_to(dotfiles / "claude.json")
    stale = temp_file(dotfiles, "claude.json")
    assert prune_leftovers().temp_files == 1 and not stale.exists()


def test_manifest_less_backups_go_when_stale_and_stay_when_fresh(isolated_home):
    store = BackupStore()
    stale = half_backup(store, "20260101-000000-aaaaaa")
    fresh = half_backup(store, "20260101-000000-bbbbbb", age=None)
    in_backup = temp_file(store.root / "20260101-000000-cccccc", "file-0")
    (store.root / "20260101-000000-cccccc" / MANIFEST).write_text("{}")
    pruned = prune_leftovers()
    assert pruned.backups == 1 and pruned.temp_files == 1
    assert not stale.exists() and fresh.exists() and not in_backup.exists()
    assert (store.root / "20260101-000000-cccccc").exists()


def test_a_backup_being_written_is_not_pruned_by_another_start(isolated_home, monkeypatch):
    """Another process starting mid-backup (blobs written, manifest not yet) leaves it whole."""
    store = BackupStore()
    real = backups_mod.atomic_write
    seen = []

    def slow_manifest(path, data, *, mode=0o600):
        if Path(path).name == MANIFEST:
            seen.append(prune_leftovers())
            assert Path(path).parent.exists()
        real(path, data, mode=mode)

    monkeypatch.setattr(backups_mod, "atomic_write", slow_manifest)
    target = isolated_home / ".claude" / "settings.json"
    b = store.create([(target, target, b"{}", 0o600)], {"agents": ["claude"]})
    assert seen and seen[0].backups == 0
    assert [x.id for x in store.list()] == [b.id]


def test_cli_start_prunes(isolated_home, capsys):
    from capit_tui.cli import main

    stale = temp_file(isolated_home / ".claude")
    half = half_backup(BackupStore(), "20260101-000000-dddddd")
    assert main(["backups", "list"]) == 0
    assert not stale.exists() and not half.exists()


def test_prune_never_raises(isolated_home, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("capit_tui.core.leftovers.our_folders", boom)
    assert prune_leftovers().total == 0


# ---------------------------------------------------------------- demo folders


def demo_folder(tmp: Path, name: str, record: str | None, *, age: float | None = None) -> Path:
    folder = tmp / f"capit-demo-{name}"
    (folder / "home").mkdir(parents=True)
    if record is not None:
        (folder / OWNER_FILE).write_text(record)
    if age is not None:
        os.utime(folder, (age, age))
    return folder


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_demo_folders_of_dead_processes_go(tmp_path):
    dead = demo_folder(tmp_path, "dead", f"{dead_pid()} 12345\n")
    alive = demo_folder(tmp_path, "alive", owner_record(os.getpid()))
    reused = demo_folder(tmp_path, "reused", f"{os.getpid()} 1\n")  # our pid, but another start time
    young = demo_folder(tmp_path, "young", None)
    old = demo_folder(tmp_path, "old", None, age=time.time() - UNMARKED_AFTER - 60)
    other = tmp_path / "not-capit"
    other.mkdir()
    assert prune_stale_demos(tmp_path) == 3
    assert not dead.exists() and not reused.exists() and not old.exists()
    assert alive.exists() and young.exists() and other.exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_the_demo_folder_goes_on_sigterm_and_sighup(tmp_path, sig):
    code = textwrap.dedent("""
        import time
        from capit_tui.core.demo import demo_environment
        with demo_environment(seed_keys=1, traffic=False) as root:
            print(root, flush=True)
            time.sleep(60)
    """)
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        assert proc.stdout is not None
        root = Path(proc.stdout.readline().strip())
        assert root.parent == tmp_path and (root / OWNER_FILE).read_text().split()[0] == str(proc.pid)
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 128 + sig
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not root.exists()
    assert list(tmp_path.glob("capit-demo-*")) == []


def test_the_next_demo_removes_a_killed_demos_folder(tmp_path, monkeypatch):
    import tempfile

    from capit_tui.core.demo import demo_environment

    killed = demo_folder(tmp_path, "killed", f"{dead_pid()} 1\n")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with demo_environment(seed_keys=1, traffic=False) as root:
        assert not killed.exists() and root.exists()
    assert not root.exists()


def test_keys_list_only_reads_and_leaves_the_housekeeping_to_the_next_other_start(isolated_home, monkeypatch):
    """`keys list` (scripts run it often) skips the prune's ~60 ms; any other start still prunes."""
    from capit_tui.cli import main

    monkeypatch.delenv("CAPIT_OPENROUTER_MANAGEMENT_KEY", raising=False)
    stale = temp_file(isolated_home / ".claude")
    half = half_backup(BackupStore(), "20260101-000000-eeeeee")
    assert main(["keys", "list", "--json"]) == 1  # no platform configured: it says so, and prunes nothing
    assert stale.exists() and half.exists()
    assert main(["backups", "list"]) == 0
    assert not stale.exists() and not half.exists()
