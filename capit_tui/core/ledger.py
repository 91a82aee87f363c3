"""Which key was installed into which agent, when, and which backup holds the files it replaced.

A JSON file under the user data dir (0600). It never holds a secret: only the platform's key id,
the key's name and the masked form of its secret. Entries are appended; an agent's newest entry says
what its files hold now (an entry with an empty key_id: no capit key, after a restore).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from capit_tui.core import lock
from capit_tui.core.fsutil import atomic_write, ensure_private_dir


@dataclass(frozen=True)
class Install:
    time: str
    agent: str
    platform: str
    key_id: str
    key_name: str
    masked: str
    files: list[str]
    backup_id: str | None
    revoked: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class HeldBy(dict[tuple[str, str], list[str]]):
    """(platform, key id) -> the agents holding that key now; `was`: (platform, key id) -> the agents that
    held a key no agent holds any more (a key replaced or restored away, still live unless revoked)."""

    def __init__(self) -> None:
        super().__init__()
        self.was: dict[tuple[str, str], list[str]] = {}


class Ledger:
    def __init__(self, path: Path | None = None):
        if path is None:
            from capit_tui.core.settings import data_dir

            path = data_dir() / "ledger.json"
        self.path = Path(path)

    def entries(self) -> list[Install]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            return []  # a damaged ledger only loses the "held by" column; the configs are untouched
        out = []
        for r in raw.get("installs", []) if isinstance(raw, dict) else []:
            try:
                out.append(Install(**r))
            except TypeError:
                continue
        return out

    def _save(self, items: list[Install]) -> None:
        ensure_private_dir(self.path.parent)
        body = json.dumps({"version": 1, "installs": [asdict(i) for i in items]}, indent=2)
        atomic_write(self.path, body.encode(), mode=0o600)

    def record(self, install: Install) -> None:
        self.record_all([install])

    def record_all(self, installs: list[Install]) -> None:
        """Append several entries in one write (an install into three agents is recorded at once)."""
        with lock.held("writing its ledger"):
            items = self.entries()
            items.extend(installs)
            self._save(items)

    def mark_revoked(self, platform: str, key_id: str) -> None:
        with lock.held("writing its ledger"):
            items = [
                Install(**{**asdict(i), "revoked": True}) if (i.platform, i.key_id) == (platform, key_id) else i
                for i in self.entries()
            ]
            self._save(items)

    def record_restore(self, agent: str, masked: str | None, backup_id: str) -> Install:
        """An agent's files were put back from `backup_id`: record what they hold now. With `masked`,
        the newest earlier install of that key into the agent (revoked or not) is recorded again; with
        None, or a key capit-tui never installed there, an entry holding no key (empty key_id)."""
        with lock.held("writing its ledger"):
            items = self.entries()
            earlier = [i for i in items if i.agent == agent and masked and i.masked == masked and i.key_id]
            extra = {"restored_from": backup_id}
            if earlier:
                entry = Install(**{**asdict(earlier[-1]), "time": now_iso(), "extra": extra})
            else:
                entry = Install(now_iso(), agent, "", "", "", "", [], backup_id, extra=extra)
            items.append(entry)
            self._save(items)
        return entry

    def current(self) -> dict[str, Install]:
        """Per agent, its most recent install (what its files hold now, as far as capit-tui knows)."""
        latest: dict[str, Install] = {}
        for i in self.entries():
            latest[i.agent] = i
        return latest

    def holders(self, platform: str, key_id: str) -> list[str]:
        """Agents whose latest install is this key."""
        return self.holders_by_key().get((platform, key_id), [])

    def holders_by_key(self) -> HeldBy:
        """(platform, key id) -> the agents whose latest install is that key, from one read of the file
        (for a list of keys: `holders()` per key would read and parse the ledger once per key). Its `was`
        names, for each key capit-tui installed that no agent holds any more, the agents that held it."""
        items = self.entries()
        latest: dict[str, Install] = {}
        for i in items:
            latest[i.agent] = i
        held = HeldBy()
        for agent, i in sorted(latest.items()):
            if not i.revoked and i.key_id:
                held.setdefault((i.platform, i.key_id), []).append(agent)
        for i in items:
            ident = (i.platform, i.key_id)
            if i.key_id and not i.revoked and ident not in held and i.agent not in held.was.setdefault(ident, []):
                held.was[ident].append(i.agent)
        return held

    def installs_of(self, platform: str, key_id: str) -> list[Install]:
        return [i for i in self.entries() if (i.platform, i.key_id) == (platform, key_id)]


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
