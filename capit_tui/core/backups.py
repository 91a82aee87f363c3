"""The backup store: the old bytes of every file capit-tui is about to change, kept under the user
data dir (0700 folders, 0600 files) with a manifest written last. A backup without a manifest was
interrupted and is ignored (and pruned), so a crash never leaves a half backup that looks whole.

Nothing read back from the store is trusted: a backup folder or blob that is a symlink, a blob named
outside its folder, or a manifest or blob that is not a regular file is refused, never followed (the
manifest's targets are checked against the agents' files by core/backup_check.py before a restore).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets as _secrets
import shutil
import stat
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from capit_tui.core import lock
from capit_tui.core.fsutil import MAX_AGENT_FILE, UnsafeFile, atomic_write, ensure_private_dir, read_regular
from capit_tui.core.text import clean_text
from capit_tui.errors import CapitError

MANIFEST = "manifest.json"


class BackupError(CapitError):
    pass


@dataclass(frozen=True)
class BackupFile:
    path: Path  # the path as the agent names it
    target: Path  # where its bytes live (a symlink resolved)
    existed: bool
    mode: int | None
    blob: str | None  # relative path of the saved bytes inside the backup folder
    sha256: str | None


@dataclass(frozen=True)
class Backup:
    id: str
    created_at: datetime
    folder: Path
    files: tuple[BackupFile, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def agents(self) -> list[str]:
        return list(self.meta.get("agents", []))

    @property
    def rolled_back(self) -> str | None:
        """When the install that made this backup was undone (its keys revoked, its files put back), or
        None. Its keys replaced nothing: a front end shows it as rolled back, not as an install."""
        when = self.meta.get("rolled_back")
        return when if isinstance(when, str) and when else None

    def blob_path(self, f: BackupFile) -> Path:
        """Where `f`'s saved bytes are: a plain name inside this backup's folder, not a link; or BackupError."""
        blob = f.blob if isinstance(f.blob, str) else ""
        path = self.folder / blob
        inside = (blob not in ("", ".", "..", MANIFEST) and "/" not in blob and "\\" not in blob
                  and "\0" not in blob)
        if inside and os.path.islink(path):
            raise BackupError(f"The backup {self.id} is damaged: the copy of {clean_text(f.path)} is a symbolic "
                              "link, which a backup never holds, so nothing was restored.")
        if not inside or os.path.dirname(os.path.realpath(path)) != os.path.realpath(self.folder):
            raise BackupError(f"The backup {self.id} is damaged: the copy of {clean_text(f.path)} is named outside "
                              f"its folder ({blob!r}), so nothing was restored.")
        return path

    def content(self, f: BackupFile) -> bytes | None:
        if not f.existed or f.blob is None:
            return None
        path = self.blob_path(f)
        try:
            data = read_regular(path, follow=False, limit=MAX_AGENT_FILE)
        except UnsafeFile as exc:
            raise BackupError(f"The backup {self.id} is damaged: {exc}") from None
        if data is None:
            raise BackupError(f"The backup {self.id} is damaged: the copy of {clean_text(f.path)} is missing.")
        if f.sha256 and hashlib.sha256(data).hexdigest() != f.sha256:
            raise BackupError(f"The backup {self.id} is damaged: {f.path} does not match its checksum.")
        return data

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "folder": str(self.folder),
            "files": [{"path": str(f.path), "existed": f.existed} for f in self.files],
            **{k: v for k, v in self.meta.items() if k not in ("files",)},
        }


class BackupStore:
    def __init__(self, root: Path | None = None, clock: Callable[[], datetime] | None = None,
                 ids: Callable[[datetime], str] | None = None):
        if root is None:
            from capit_tui.core.settings import data_dir

            root = data_dir() / "backups"
        self.root = Path(root)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._ids = ids  # deterministic ids for tests; default: time + a random suffix

    def _new_id(self, now: datetime) -> str:
        if self._ids is not None:
            return self._ids(now)
        return f"{now.strftime('%Y%m%d-%H%M%S')}-{_secrets.token_hex(3)}"

    def create(self, entries: list[tuple[Path, Path, bytes | None, int | None]], meta: dict[str, Any]) -> Backup:
        """Save (path, target, old bytes or None if absent, old mode) for every file; manifest last."""
        with lock.held("making a backup"):
            return self._create(entries, meta)

    def _create(self, entries: list[tuple[Path, Path, bytes | None, int | None]], meta: dict[str, Any]) -> Backup:
        ensure_private_dir(self.root)
        now = self._clock()
        bid = self._new_id(now)
        folder = self.root / bid
        folder.mkdir(mode=0o700)
        files: list[BackupFile] = []
        for i, (path, target, data, mode) in enumerate(entries):
            blob = None
            digest = None
            if data is not None:
                blob = f"file-{i}"
                atomic_write(folder / blob, data, mode=0o600)
                digest = hashlib.sha256(data).hexdigest()
            files.append(BackupFile(Path(path), Path(target), data is not None, mode, blob, digest))
        manifest = {
            "id": bid,
            "created_at": now.isoformat().replace("+00:00", "Z"),
            "files": [
                {"path": str(f.path), "target": str(f.target), "existed": f.existed, "mode": f.mode,
                 "blob": f.blob, "sha256": f.sha256}
                for f in files
            ],
            "meta": meta,
        }
        atomic_write(folder / MANIFEST, json.dumps(manifest, indent=2).encode(), mode=0o600)
        return Backup(bid, now, folder, tuple(files), dict(meta))

    def list(self) -> list[Backup]:
        """Every complete backup, newest first."""
        if not self.root.is_dir():
            return []
        out = []
        for folder in self.root.iterdir():
            if not _real_dir(folder):
                continue
            b = self._load(folder)
            if b is not None:
                out.append(b)
        out.sort(key=lambda b: (b.created_at, b.id), reverse=True)
        return out

    def get(self, bid: str) -> Backup:
        folder = self.root / bid
        if "/" in bid or "\\" in bid or bid.startswith(".") or not _real_dir(folder):
            raise BackupError(f"No backup '{bid}'. See `capit-tui backups list`.")
        b = self._load(folder)
        if b is None:
            raise BackupError(f"The backup '{bid}' is incomplete (capit-tui was interrupted while making it).")
        return b

    def latest(self, agent: str | None = None) -> Backup | None:
        """The newest backup (of `agent`'s files), passing over rolled-back installs: their files are the
        ones the agent has now, so the config before the last real change is in an older one."""
        for b in self.list():
            if not b.rolled_back and (agent is None or agent in b.agents):
                return b
        return None

    def mark_rolled_back(self, bid: str, when: str) -> None:
        """Record in a backup's manifest that its install was undone (`when`, ISO time). A backup gone
        or damaged is left as it is: this is a label, never a reason to fail an undo."""
        with lock.held("labelling a backup"):
            path = self.root / bid / MANIFEST
            try:
                raw = json.loads(read_regular(path, follow=False, limit=MAX_AGENT_FILE) or b"")
                if not isinstance(raw, dict) or not isinstance(raw.get("meta", {}), dict):
                    return
                raw["meta"] = {**raw.get("meta", {}), "rolled_back": when}
                atomic_write(path, json.dumps(raw, indent=2).encode(), mode=0o600)
            except (OSError, ValueError, UnsafeFile):
                return

    def prune_incomplete(self, min_age: float | None = None) -> int:
        """Remove backup folders that never got a manifest (an interrupted run). With `min_age` (seconds),
        only those untouched for that long: a backup being written right now is left alone."""
        if not self.root.is_dir():
            return 0
        n = 0
        with lock.held("tidying its backups"):
            now = time.time()
            for folder in self.root.iterdir():
                try:
                    st = os.lstat(folder)
                    if not stat.S_ISDIR(st.st_mode) or os.path.lexists(folder / MANIFEST):
                        continue
                    if min_age is not None and now - _newest_mtime(folder, st) < min_age:
                        continue
                except OSError:
                    continue
                shutil.rmtree(folder, ignore_errors=True)
                n += 1
        return n

    def _load(self, folder: Path) -> Backup | None:
        try:
            text = read_regular(folder / MANIFEST, follow=False, limit=MAX_AGENT_FILE)
            if text is None:
                return None
            raw = json.loads(text)
            files = tuple(
                BackupFile(Path(f["path"]), Path(f["target"]), bool(f["existed"]), f.get("mode"), f.get("blob"),
                           f.get("sha256"))
                for f in raw["files"]
            )
            created = datetime.fromisoformat(raw["created_at"].replace("Z", "+00:00"))
            return Backup(folder.name, created, folder, files, dict(raw.get("meta", {})))  # the folder names it
        except (OSError, ValueError, KeyError, TypeError, UnsafeFile):
            return None


def _real_dir(folder: Path) -> bool:
    """A folder itself, not a symlink to one."""
    try:
        return stat.S_ISDIR(os.lstat(folder).st_mode)
    except OSError:
        return False


def _newest_mtime(folder: Path, st: os.stat_result) -> float:
    newest = st.st_mtime
    with os.scandir(folder) as it:
        for entry in it:
            try:
                newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
            except OSError:
                pass
    return newest


def file_mode(path: Path) -> int | None:
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return None
