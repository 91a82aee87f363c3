"""What a crash leaves behind, cleaned at the next start (the CLI and the TUI both call
`prune_leftovers()` once, early).

- Temp files of `atomic_write` (`.NAME.XXXXXXXX.capit-tmp`, which may hold a key): only in the folders
  capit-tui writes (each agent file's folder, and its target's when the file is a link; our config
  and data folders; each backup folder), only regular files of the running user, only when untouched
  for `STALE_AFTER` seconds, so a write under way in another process is left alone.
- Backup folders without a manifest (an interrupted backup), under the same age rule.
- Demo homes (`capit-demo-*` in the temp folder) of demo processes that are gone: core/demo.py.

Nothing here raises or prints: it is housekeeping, and a failure leaves the file for next time.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from capit_tui.core.fsutil import TEMP_NAME

STALE_AFTER = 300.0  # seconds: a write in progress takes well under a second; an install well under this


@dataclass(frozen=True)
class Pruned:
    temp_files: int = 0
    backups: int = 0

    @property
    def total(self) -> int:
        return self.temp_files + self.backups


def prune_leftovers(env: Mapping[str, str] | None = None, *, min_age: float = STALE_AFTER,
                    now: float | None = None) -> Pruned:
    """Remove stale temp files and manifest-less backups (see the module's docstring). Never raises."""
    from capit_tui.core.backups import BackupStore

    try:
        store = BackupStore()
        folders = our_folders(env, store.root)
        cutoff = (time.time() if now is None else now) - min_age
        temps = sum(prune_temp_files(f, cutoff) for f in folders)
        backups = store.prune_incomplete(min_age)
    except Exception:  # noqa: BLE001 - housekeeping must never stop the app from starting
        return Pruned()
    return Pruned(temps, backups)


def our_folders(env: Mapping[str, str] | None, backups_root: Path) -> list[Path]:
    """Every folder capit-tui writes files into, each once."""
    from capit_tui import agents as agents_mod
    from capit_tui.core.settings import config_dir, data_dir

    found: list[Path] = [config_dir(), data_dir(), backups_root]
    for agent in agents_mod.all_agents(env):
        if agent.support != "file":
            continue
        try:
            files = agent.known_files()
        except Exception:  # noqa: BLE001 - an agent that cannot name its files has no leftovers we know of
            continue
        for p in files:
            found.append(p.parent)
            if p.is_symlink():
                found.append(Path(os.path.realpath(p)).parent)
    try:
        with os.scandir(backups_root) as it:
            found.extend(Path(e.path) for e in it if e.is_dir(follow_symlinks=False))
    except OSError:
        pass
    return list(dict.fromkeys(found))


def prune_temp_files(folder: Path, cutoff: float) -> int:
    """Remove our temp files in `folder` last changed before `cutoff` (a time.time() value)."""
    n = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not TEMP_NAME.match(entry.name):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mtime >= cutoff:
                continue
            os.unlink(entry.path)
            n += 1
        except OSError:
            continue
    return n

