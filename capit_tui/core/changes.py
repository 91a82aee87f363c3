"""A plan of file edits -> masked unified diffs -> atomic apply with backup -> rollback.

Rules (shared/DESIGN.md): a file that does not parse is refused with its path, line and reason and
nothing is written; every file is backed up before any write; each write is a temp file in the same
folder + fsync + os.replace; the mode is kept, less group/other access once the file holds a key (a
new file is 0600); a symlink is written through to its target; if a file changed between preview and
apply, stop. If any write fails, the files already written are put back.
"""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capit_tui.core.backups import Backup, BackupStore, file_mode
from capit_tui.core.fsutil import UnsafeFile, atomic_write, check_regular, give_folder, read_regular
from capit_tui.core.redact import redact
from capit_tui.core.secrets_mask import is_dotenv, mask_diff
from capit_tui.errors import CapitError


class PlanError(CapitError):
    """A file cannot be edited safely; nothing was written. The message names the file and why."""


class StaleError(CapitError):
    """A file changed after the preview; nothing was written."""


class ApplyError(CapitError):
    """A write failed. `restored` says whether every file already written was put back."""

    def __init__(self, message: str, *, restored: bool, backup: Backup | None = None):
        super().__init__(message)
        self.restored = restored
        self.backup = backup


@dataclass
class FileChange:
    agent: str
    path: Path  # as the agent names it
    target: Path  # where the bytes live (symlink resolved)
    before: bytes | None  # None: the file does not exist yet
    after: bytes | None  # None: delete the file (restoring a file that did not exist)
    mode: int | None  # the target's mode now
    holds_secret: bool = False
    secrets: list[str] = field(default_factory=list, repr=False)
    force_mode: int | None = None  # a restore puts the backed-up mode back

    @property
    def new_mode(self) -> int:
        if self.force_mode is not None:
            return self.force_mode
        if self.mode is None:
            return 0o600
        if self.holds_secret:
            return self.mode & ~0o077
        return self.mode

    @property
    def is_new(self) -> bool:
        return self.before is None

    def diff(self, extra_secrets: Iterable[str] = ()) -> str:
        """A unified diff with every secret masked (sk-or-v1-…abcd): the keys this change knows, and every
        other secret in the lines shown (core.secrets_mask: .env values, secret-named keys, token shapes)."""
        secrets = [s for s in (*self.secrets, *extra_secrets) if s]

        def lines(data: bytes | None) -> list[str]:
            if data is None:
                return []
            text = data.decode("utf-8", errors="replace")
            if text.startswith("\ufeff"):
                text = text[1:]
            out = text.splitlines(keepends=True)
            if out and not out[-1].endswith(("\n", "\r")):
                out[-1] += "\n\\ No newline at end of file\n"
            return [line.replace("\r\n", "\n") for line in out]

        before_name = "/dev/null" if self.before is None else f"{self.path} (now)"
        after_name = "/dev/null" if self.after is None else f"{self.path} (after)"
        raw = "".join(difflib.unified_diff(lines(self.before), lines(self.after), before_name, after_name))
        body = mask_diff(raw, secrets, dotenv=is_dotenv(self.path))
        if self.target != self.path and body:
            body = f"# {self.path} is a link to {self.target}; the target is written\n" + body
        return body


@dataclass
class Plan:
    changes: list[FileChange]

    @property
    def files(self) -> list[Path]:
        return [c.path for c in self.changes]

    def diff(self) -> str:
        return "".join(c.diff() for c in self.changes)

    def for_agent(self, agent: str) -> list[FileChange]:
        return [c for c in self.changes if c.agent == agent]

    def check_fresh(self) -> None:
        for c in self.changes:
            try:
                now = read_bytes(c.target)
            except UnsafeFile as exc:
                raise StaleError(f"{exc} Nothing was written.") from None
            if now != c.before:
                raise StaleError(
                    f"{c.path} changed since the preview, so nothing was written. Look at the new diff and "
                    "confirm again.")


def read_bytes(path: Path) -> bytes | None:
    """A file's bytes, or None when it does not exist. Only a regular file is opened (a FIFO, socket,
    device or folder, a file over 10 MB, or a link to another user's file raises UnsafeFile)."""
    return read_regular(path)


def resolve_target(path: Path) -> Path:
    """Where writes to `path` land: through symlinks (however many) to the real file."""
    if path.is_symlink():
        return Path(os.path.realpath(path))
    return path


def plan_edits(edits: Iterable[tuple[str, Any]], secrets: Iterable[str] = ()) -> Plan:
    """Turn (agent, FileEdit) pairs into a Plan by editing each file's text in memory.

    Several edits of the same file are applied in order to the same document. Files that would not
    change are left out. Raises PlanError (nothing written) for a file that cannot be edited safely.
    """
    from capit_tui.edits import ParseError, UnsafeEdit, load

    secret_list = [s for s in secrets if s]
    docs: dict[Path, tuple[str, Any, FileChange]] = {}
    order: list[Path] = []
    for agent, edit in edits:
        path = Path(edit.path)
        if path not in docs:
            target = resolve_target(path)
            before = _read_checked(path, target)
            try:
                text = before.decode("utf-8") if before is not None else ""
            except UnicodeDecodeError as exc:
                raise PlanError(f"{path} is not UTF-8 text (byte {exc.start}); capit-tui will not edit it. "
                                "Nothing was changed.") from None
            try:
                doc = load(text, edit.fmt, filename=str(path))
            except ParseError as exc:
                raise PlanError(f"{exc}. capit-tui will not edit a file it cannot parse. "
                                "Nothing was changed.") from None
            except UnsafeEdit as exc:
                raise PlanError(f"{path}: {exc} Nothing was changed.") from None
            change = FileChange(agent, path, target, before, before, file_mode(target), False, list(secret_list))
            docs[path] = (edit.fmt, doc, change)
            order.append(path)
        _fmt, doc, change = docs[path]
        change.holds_secret = change.holds_secret or edit.holds_secret
        for key_path, value in edit.sets:
            if isinstance(value, str) and value in secret_list:
                old = doc.get(key_path)
                if isinstance(old, str) and len(old) >= 8 and old not in change.secrets:
                    change.secrets.append(old)  # the key it replaces is a secret too
            try:
                doc.set(key_path, value)
            except (ParseError, UnsafeEdit, ValueError, TypeError) as exc:
                raise PlanError(f"{path}: cannot set {'.'.join(key_path)}: {redact(str(exc), *secret_list)}. "
                                "Nothing was changed.") from None
        for key_path in edit.deletes:
            try:
                doc.delete(key_path)
            except (ParseError, UnsafeEdit, ValueError, TypeError) as exc:
                raise PlanError(f"{path}: cannot remove {'.'.join(key_path)}: {redact(str(exc), *secret_list)}. "
                                "Nothing was changed.") from None
    changes = []
    for path in order:
        _fmt, doc, change = docs[path]
        if not doc.changed:
            continue
        text = doc.dumps()
        change.after = text.encode("utf-8")
        if change.after != change.before:
            changes.append(change)
    return Plan(changes)


def _read_checked(path: Path, target: Path) -> bytes | None:
    if path.is_symlink() and not target.exists():
        raise PlanError(f"{path} is a link to {target}, which does not exist; fix the link first. "
                        "Nothing was changed.")
    try:
        st = check_regular(path)
    except UnsafeFile as exc:
        raise PlanError(f"{exc} Nothing was changed.") from None
    except OSError as exc:
        raise PlanError(f"Cannot read {path}: {exc.strerror}. Nothing was changed.") from None
    if st is None:
        return None
    if os.geteuid() != 0 and st.st_uid != os.geteuid():
        raise PlanError(f"{path} belongs to another user (uid {st.st_uid}); writing it would make it yours, so "
                        "capit-tui leaves it alone. Nothing was changed.")
    if not os.access(target, os.W_OK) or not (st.st_mode & stat.S_IWUSR):
        raise PlanError(f"{path} is read-only; capit-tui will not override that. Make it writable "
                        f"(chmod u+w {path}) if you want the key installed there. Nothing was changed.")
    try:
        return read_regular(path)
    except UnsafeFile as exc:
        raise PlanError(f"{exc} Nothing was changed.") from None
    except OSError as exc:
        raise PlanError(f"Cannot read {path}: {exc.strerror}. Nothing was changed.") from None


# ---------------------------------------------------------------- apply


def apply(plan: Plan, store: BackupStore, meta: dict[str, Any],
          write: Callable[[Path, bytes, int], None] | None = None,
          on_backup: Callable[[Backup], None] | None = None) -> Backup:
    """Back up every file, then write them all; on any failure put back what was written.

    `write` is injectable for fault tests (defaults to atomic_write). `on_backup` is told the backup
    before the first file is written (the journal records it). Returns the backup.
    """
    plan.check_fresh()
    write = write or (lambda p, data, mode: atomic_write(p, data, mode=mode))
    try:
        backup = store.create([(c.path, c.target, c.before, c.mode) for c in plan.changes],
                              {**meta, "files": [str(c.path) for c in plan.changes]})
    except OSError as exc:  # no backup, no write: nothing to put back
        raise ApplyError(f"Could not back up the files into {store.root} ({_os_reason(exc)}), so no file "
                         "was written.", restored=True) from None
    if on_backup is not None:
        on_backup(backup)
    written: list[FileChange] = []
    try:
        for c in plan.changes:
            if c.after is None:
                try:
                    c.target.unlink()
                except FileNotFoundError:
                    pass
            else:
                _make_parent(c.target)
                write(c.target, c.after, c.new_mode)
            written.append(c)
    except OSError as exc:
        failed = plan.changes[len(written)]
        restored = _roll_back(written)
        what = _os_reason(exc)
        if restored:
            msg = (f"Could not write {failed.path} ({what}). The files already written were put back; "
                   f"the old files are also in backup {backup.id}.")
        else:
            msg = (f"Could not write {failed.path} ({what}), and putting the other files back failed too. "
                   f"Restore them with `capit-tui backups restore {backup.id}`.")
        raise ApplyError(msg, restored=restored, backup=backup) from None
    return backup


def _make_parent(target: Path) -> None:
    """Create the missing folders above `target` (its own folder 0700; run as root, each owned like the
    folder it sits in)."""
    missing = []
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700 if folder == target.parent else 0o777, exist_ok=True)
        give_folder(folder)


def _roll_back(written: list[FileChange]) -> bool:
    ok = True
    for c in reversed(written):
        try:
            if c.before is None:
                try:
                    c.target.unlink()
                except FileNotFoundError:
                    pass
            else:
                atomic_write(c.target, c.before, mode=c.mode if c.mode is not None else 0o600)
        except OSError:
            ok = False
    return ok


def _os_reason(exc: OSError) -> str:
    import errno

    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    return exc.strerror or type(exc).__name__
