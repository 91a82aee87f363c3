"""A restore trusts nothing its backup's manifest says: before a byte is read or written, every file it
names is checked, and anything else is refused with the file named and nothing written.

- every path and target is absolute and already normal (no `..`, nothing relative);
- a target is the path itself or where the path (a symlink) leads now, and then a file of the user's own;
- every path is one of the agent's known files (`Agent.known_files()`), under the agent home the backup
  was taken from (the manifest records it) or the one in use now, for the agent the manifest files it
  under;
- every blob is a plain name inside the backup folder, a regular file there, not a symlink
  (`Backup.blob_path()` / `Backup.content()`); a mode is a number.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from capit_tui.core.backups import Backup, BackupError, BackupFile
from capit_tui.core.fsutil import UnsafeFile, check_regular
from capit_tui.core.text import clean_text


def _shown(path: object) -> str:
    return clean_text(path, 300)  # a manifest is outside text once it can be tampered with


def _refuse(b: Backup, what: str) -> BackupError:
    return BackupError(f"Backup {_shown(b.id)} is not safe to restore: {what}; nothing was restored.")


def check_layout(b: Backup) -> None:
    """The manifest's own shape: absolute, normal paths; targets where their paths lead; blobs inside."""
    for f in b.files:
        for p in (f.path, f.target):
            s = str(p)
            if not os.path.isabs(s):
                raise _refuse(b, f"it names {_shown(s)}, a relative path")
            if os.path.normpath(s) != s:
                raise _refuse(b, f"it names {_shown(s)}, a path that goes up with '..'")
        if f.target != f.path:
            if str(f.target) != os.path.realpath(f.path):
                raise _refuse(b, f"it would write {_shown(f.target)} for {_shown(f.path)}, which does not lead there")
            try:
                check_regular(f.path, limit=None)  # a link is followed only to the user's own file
            except UnsafeFile as exc:
                raise _refuse(b, str(exc).rstrip(".")) from None
        if f.mode is not None and (isinstance(f.mode, bool) or not isinstance(f.mode, int)
                                   or not 0 <= f.mode <= 0o7777):
            raise _refuse(b, f"the mode of {_shown(f.path)} is not a file mode")
        if f.existed:
            if not isinstance(f.blob, str):
                raise _refuse(b, f"the copy of {_shown(f.path)} has no name")
            b.blob_path(f)


def _with_home(env: Mapping[str, str], home: str) -> dict[str, str]:
    alt = dict(env)
    alt["CAPIT_AGENT_HOME" if env.get("CAPIT_AGENT_HOME") else "HOME"] = home
    return alt


def known_files(name: str, envs: Iterable[Mapping[str, str]]) -> set[str]:
    """Every file agent `name` may have written, under each of `envs` (normalised strings)."""
    from capit_tui import agents as agents_mod

    out: set[str] = set()
    for env in envs:
        try:
            agent = agents_mod.get(name, env)
            files = agent.known_files() if agent.support == "file" else []
        except (KeyError, OSError, ValueError):
            continue
        out.update(os.path.normpath(os.path.abspath(p)) for p in files)
    return out


def check_agent_files(b: Backup, env: Mapping[str, str] | None = None) -> None:
    """Every file of `b` is a known file of the agent the manifest files it under (or, for a backup that
    maps no files to agents, of one of its agents). Raises BackupError naming the first that is not."""
    check_layout(b)
    env = dict(os.environ) if env is None else dict(env)
    envs: list[Mapping[str, str]] = [env]
    home = b.meta.get("agent_home")
    if isinstance(home, str) and os.path.isabs(home):
        envs.append(_with_home(env, home))
    by_agent = b.meta.get("agent_files")
    by_agent = by_agent if isinstance(by_agent, dict) else {}
    cache: dict[str, set[str]] = {}
    for f in b.files:
        owners = _owners(f, b, by_agent)
        if not owners:
            raise _refuse(b, f"it names {_shown(f.path)} without saying whose file it is")
        for name in owners:
            if name not in cache:
                cache[name] = known_files(name, envs)
        if not any(str(f.path) in cache[name] for name in owners):
            whose = " or ".join(_shown(n) for n in owners)
            raise _refuse(b, f"it names {_shown(f.path)}, which is not a file of {whose}")


def _owners(f: BackupFile, b: Backup, by_agent: dict) -> list[str]:
    p = str(f.path)
    named = [a for a, files in by_agent.items() if isinstance(a, str) and isinstance(files, list) and p in files]
    if named:
        return named
    return [a for a in b.agents if isinstance(a, str)]


__all__ = ["check_agent_files", "check_layout", "known_files"]
