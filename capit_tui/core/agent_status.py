"""What the Agents and Backups views show, without Textual or wording.

Shared by `capit-tui agents` / `capit-tui backups ...` and the TUI's Agents and Backups screens, so
both show the same facts: `agent_statuses()` gives every agent capit knows, whether it is found, the
key its files make it use now (masked) and which capit key that is (the ledger's current install for
that agent, matched by the masked form). Restoring lives in `core/restore.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capit_tui.agents.base import Agent, Detection, InstalledKey
from capit_tui.core.backups import Backup
from capit_tui.core.fsutil import UnsafeFile
from capit_tui.core.ledger import Install, Ledger

# ---------------------------------------------------------------- paths


def agent_home(env: Mapping[str, str] | None = None) -> Path:
    """The home agents' files live under (CAPIT_AGENT_HOME for the demo, else HOME)."""
    from capit_tui.agents import all_agents

    return all_agents(env)[0].home


# ---------------------------------------------------------------- agents


@dataclass(frozen=True)
class AgentStatus:
    agent: Agent
    detection: Detection
    key: InstalledKey | None  # what its files make it use now (file agents only)
    capit: Install | None  # the ledger install that key is, when the masked forms match and it is not revoked
    config_dir: Path | None
    files: list[Path]
    warnings: list[str] = field(default_factory=list)
    key_unknown: bool = False  # a file could not be read safely (a FIFO, a link to another user's file...)

    @property
    def name(self) -> str:
        return self.agent.name

    @property
    def found(self) -> str:
        """binary | config only | no"""
        d = self.detection
        return "binary" if d.installed else ("config only" if d.config_exists else "no")

    @property
    def capit_ident(self) -> tuple[str, str] | None:
        return (self.capit.platform, self.capit.key_id) if self.capit is not None else None

    def to_json(self) -> dict[str, Any]:
        """The record `capit-tui agents --json` prints."""
        a, d, k, held = self.agent, self.detection, self.key, self.capit
        return {
            "name": a.name, "title": a.title, "support": a.support, "installed": d.installed, "binary": d.binary,
            "config_dir": str(self.config_dir) if self.config_dir is not None else None,
            "config_exists": d.config_exists, "files": [str(f) for f in self.files],
            "key": k.masked if k else None, "key_unknown": self.key_unknown, "base_url": k.base_url if k else None,
            "capit_key": {"platform": held.platform, "id": held.key_id, "name": held.key_name} if held else None,
            "notes": a.notes, "warnings": list(self.warnings),
        }


def agent_status(agent: Agent, current: Mapping[str, Install]) -> AgentStatus:
    """Read one agent's state from its files; never raises on a damaged file (the key shows as none) nor
    blocks on a hostile one (a FIFO, a link to another user's file: the key shows as unknown, and the
    sentence naming the file is a warning)."""
    d = agent.detect()
    unsafe: list[str] = []
    try:
        k = agent.installed_key() if agent.support == "file" else None
    except UnsafeFile as exc:
        k = None
        unsafe.append(str(exc))
    except Exception:  # noqa: BLE001 - a file that does not parse only means "no key known"
        k = None
    held = current.get(agent.name)
    matches = k is not None and held is not None and held.masked == k.masked and bool(held.key_id) and not held.revoked
    capit = held if matches else None
    try:
        cdir: Path | None = agent.config_dir()
    except NotImplementedError:
        cdir = None
    try:
        warnings = list(agent.warnings())
    except UnsafeFile as exc:
        warnings = []
        if str(exc) not in unsafe:
            unsafe.append(str(exc))
    except Exception:  # noqa: BLE001 - a warning check must never hide the agent
        warnings = []
    return AgentStatus(agent, d, k, capit, cdir, list(agent.files()), unsafe + warnings, key_unknown=bool(unsafe))


def agent_statuses(env: Mapping[str, str] | None = None, ledger: Ledger | None = None, *,
                   found_first: bool = False) -> list[AgentStatus]:
    """Every agent in display order (found ones first when asked; the order is otherwise kept)."""
    from capit_tui import agents as agents_mod

    current = (ledger or Ledger()).current()
    out = [agent_status(a, current) for a in agents_mod.all_agents(env)]
    if found_first:
        out.sort(key=lambda s: not s.detection.found)  # stable: display order within each group
    return out


# ---------------------------------------------------------------- backups


def backup_key_labels(b: Backup, *, masked: bool = True, agent: str | None = None) -> list[str]:
    """The keys that replaced a backup's files: `capit-claude-20261121 (sk-or-v1-…abcd)` each
    (only `agent`'s when given)."""
    keys = b.meta.get("keys", {}) or {}
    if agent is not None:
        keys = {a: v for a, v in keys.items() if a == agent}
    if masked:
        return [f"{v.get('name')} ({v.get('masked')})" for v in keys.values()]
    return [str(v.get("name")) for v in keys.values()]


def backup_key_label(b: Backup, *, masked: bool = True) -> str:
    """The REPLACED BY column of `capit-tui backups list`: the labels joined, or '-'."""
    return ", ".join(backup_key_labels(b, masked=masked)) or "-"


def installed_secrets(statuses: Iterable[AgentStatus]) -> list[str]:
    """The keys agents' files hold now, to be masked in any diff even when their shape is unknown."""
    return [s.key.secret for s in statuses if s.key is not None and s.key.secret]


__all__ = ["AgentStatus", "agent_home", "agent_status", "agent_statuses", "backup_key_label", "backup_key_labels",
           "installed_secrets"]
