"""Plans, masked diffs, atomic apply with backup, rollback and restore, on real files in a temp HOME."""

from __future__ import annotations

import errno
import json
import stat
from pathlib import Path

import pytest

from capit_tui.agents.base import FileEdit
from capit_tui.core.backups import BackupStore
from capit_tui.core.changes import ApplyError, PlanError, StaleError, apply, plan_edits
from capit_tui.core.restore import restore_plan

KEY = "sk-or-v1-" + "c0ffee00" * 8
OLD = "sk-or-v1-" + "0defaced" * 8


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def edit(path: Path, value: str = KEY, fmt: str = "json", secret: bool = True) -> tuple[str, FileEdit]:
    return ("claude", FileEdit(path, fmt, ((("env", "TOKEN"), value),), holds_secret=secret))


@pytest.fixture
def store(isolated_home):
    return BackupStore(isolated_home / "data" / "backups")


def test_new_file_is_0600_in_a_new_0700_folder(isolated_home, store):
    path = isolated_home / ".claude" / "settings.json"
    plan = plan_edits([edit(path)], [KEY])
    backup = apply(plan, store, {"agents": ["claude"]})
    assert json.loads(path.read_text()) == {"env": {"TOKEN": KEY}}
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    (f,) = backup.files
    assert not f.existed
    assert mode(store.root) == 0o700 and mode(backup.folder) == 0o700


def test_existing_mode_kept_less_group_and_other_once_it_holds_a_key(isolated_home, store):
    a, b = isolated_home / "a.json", isolated_home / "b.json"
    for p in (a, b):
        p.write_text('{"x": 1}\n')
        p.chmod(0o664)
    apply(plan_edits([edit(a)], [KEY]), store, {})
    apply(plan_edits([edit(b, "plain", secret=False)]), store, {})
    assert mode(a) == 0o600
    assert mode(b) == 0o664


def test_only_the_edited_field_changes(isolated_home, store):
    path = isolated_home / "s.json"
    original = '{\n    "permissions": {"allow": ["Bash(ls)"]},\n    "env": {"OTHER": "1"}\n}\n'
    path.write_text(original)
    apply(plan_edits([edit(path)], [KEY]), store, {})
    text = path.read_text()
    assert text.startswith('{\n    "permissions": {"allow": ["Bash(ls)"]},\n    "env": {"OTHER": "1",')
    assert json.loads(text)["env"] == {"OTHER": "1", "TOKEN": KEY}


def test_diff_masks_the_new_and_the_replaced_key(isolated_home):
    path = isolated_home / "s.json"
    path.write_text(json.dumps({"env": {"TOKEN": OLD}}, indent=2) + "\n")
    plan = plan_edits([edit(path)], [KEY])
    diff = plan.diff()
    assert KEY not in diff and OLD not in diff
    assert "sk-or-v1-…ee00" in diff and "sk-or-v1-…aced" in diff
    assert diff.count("\n-") >= 1 and diff.count("\n+") >= 1


def test_symlink_is_written_through(isolated_home, store):
    real = isolated_home / "dotfiles" / "settings.json"
    real.parent.mkdir()
    real.write_text("{}\n")
    link = isolated_home / "settings.json"
    link.symlink_to(real)
    apply(plan_edits([edit(link)], [KEY]), store, {})
    assert link.is_symlink()
    assert json.loads(real.read_text())["env"]["TOKEN"] == KEY


def test_dangling_symlink_is_refused(isolated_home):
    link = isolated_home / "settings.json"
    link.symlink_to(isolated_home / "nowhere.json")
    with pytest.raises(PlanError, match="does not exist"):
        plan_edits([edit(link)], [KEY])


def test_read_only_file_is_refused_untouched(isolated_home):
    path = isolated_home / "s.json"
    path.write_text("{}\n")
    path.chmod(0o444)
    with pytest.raises(PlanError, match="read-only"):
        plan_edits([edit(path)], [KEY])
    assert path.read_text() == "{}\n"


def test_unparseable_file_is_refused_with_line(isolated_home):
    path = isolated_home / "s.json"
    path.write_text('{\n  "a": 1,\n  oops\n}\n')
    with pytest.raises(PlanError) as err:
        plan_edits([edit(path)], [KEY])
    assert f"{path}:3:" in str(err.value) and "Nothing was changed" in str(err.value)
    assert path.read_text() == '{\n  "a": 1,\n  oops\n}\n'


def test_a_directory_is_refused(isolated_home):
    path = isolated_home / "s.json"
    path.mkdir()
    with pytest.raises(PlanError, match="not a regular file"):
        plan_edits([edit(path)], [KEY])


def test_file_changed_after_preview_stops(isolated_home, store):
    path = isolated_home / "s.json"
    path.write_text("{}\n")
    plan = plan_edits([edit(path)], [KEY])
    path.write_text('{"edited": "meanwhile"}\n')
    with pytest.raises(StaleError):
        apply(plan, store, {})
    assert path.read_text() == '{"edited": "meanwhile"}\n'
    assert store.list() == []


def test_failed_write_puts_back_what_was_written(isolated_home, store):
    a, b = isolated_home / "a.json", isolated_home / "b.json"
    a.write_text('{"a": 1}\n')
    b.write_text('{"b": 1}\n')
    plan = plan_edits([edit(a), edit(b)], [KEY])
    calls = []

    def flaky(path, data, m):
        calls.append(path)
        if path == b:
            raise OSError(errno.ENOSPC, "No space left on device")
        from capit_tui.core.fsutil import atomic_write

        atomic_write(path, data, mode=m)

    with pytest.raises(ApplyError) as err:
        apply(plan, store, {}, write=flaky)
    assert err.value.restored and "disk is full" in str(err.value)
    assert a.read_text() == '{"a": 1}\n' and b.read_text() == '{"b": 1}\n'
    assert calls == [a, b]


def test_restore_brings_back_the_original_bytes(isolated_home, store):
    existing = isolated_home / "s.json"
    original = b'\xef\xbb\xbf{\r\n  "keep": "me"\r\n}'
    existing.write_bytes(original)
    existing.chmod(0o644)
    created = isolated_home / "new" / "auth.json"
    backup = apply(plan_edits([edit(existing), edit(created)], [KEY]), store, {})
    assert KEY in existing.read_text(encoding="utf-8-sig") and created.exists()
    plan = restore_plan(backup)
    assert {c.path for c in plan.changes} == {existing, created}
    assert KEY not in plan.diff()
    apply(plan, store, {"reason": "restore"})
    assert existing.read_bytes() == original
    assert mode(existing) == 0o644
    assert not created.exists()
    assert restore_plan(backup).changes == []


def test_second_identical_plan_changes_nothing(isolated_home, store):
    path = isolated_home / "s.json"
    apply(plan_edits([edit(path)], [KEY]), store, {})
    assert plan_edits([edit(path)], [KEY]).changes == []


def test_backup_files_are_private_and_interrupted_backups_ignored(isolated_home, store):
    path = isolated_home / "s.json"
    path.write_text('{"env": {"TOKEN": "%s"}}' % OLD)
    backup = apply(plan_edits([edit(path)], [KEY]), store, {"agents": ["claude"]})
    for f in backup.folder.iterdir():
        assert mode(f) == 0o600
    half = store.root / "20990101-000000-abcdef"
    half.mkdir()
    (half / "file-0").write_bytes(b"partial")
    assert [b.id for b in store.list()] == [backup.id]
    assert store.latest("claude").id == backup.id
    assert store.prune_incomplete() == 1 and not half.exists()


def test_damaged_backup_is_detected(isolated_home, store):
    path = isolated_home / "s.json"
    path.write_text("{}\n")
    backup = apply(plan_edits([edit(path)], [KEY]), store, {})
    (backup.folder / backup.files[0].blob).write_bytes(b"tampered")
    from capit_tui.core.backups import BackupError

    with pytest.raises(BackupError, match="damaged"):
        restore_plan(store.get(backup.id))
