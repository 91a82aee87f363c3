"""What the concurrency and interrupt tests look at after their CLI processes ran: the keys live on the
sandbox, the keys each agent's files hold, the ledger, the backups, the journal and temp files of one
isolated home, and the two invariants of issue 9:

- no orphan: every live key capit-tui issued is held by an agent file or recorded in the ledger;
- no lost write: the successful operations can be put in an order in which each one's backup holds
  what the one before it wrote, and the last one's state is what the files hold now.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capit_tui import agents as agents_mod
from capit_tui.core.backups import Backup, BackupStore

OLD_CLAUDE_KEY = "sk-or-v1-" + "0a1b" * 16  # not a capit key: the user's own, before any install
OLD_CLAUDE = (json.dumps({"model": "opus", "env": {"ANTHROPIC_AUTH_TOKEN": OLD_CLAUDE_KEY, "KEEP": "1"}},
                         indent=2) + "\n").encode()
OLD_CODEX = b'# my codex settings\nmodel = "gpt-5"\n'
FILES = {"claude": ".claude/settings.json", "codex": ".codex/config.toml"}


def sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def seed(home: Path, agents: tuple[str, ...] = ("claude",)) -> None:
    home.mkdir(parents=True, exist_ok=True)
    for a, data in (("claude", OLD_CLAUDE), ("codex", OLD_CODEX)):
        if a in agents:
            p = home / FILES[a]
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)


def agent_env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"), "PATH": "/nonexistent"}


def data_dir(home: Path) -> Path:
    return home / ".local" / "share" / "capit-tui"


def held_key(home: Path, agent: str) -> str | None:
    """The id (sha256 of the secret) of the key the agent's files make it use, or None."""
    got = agents_mod.get(agent, agent_env(home)).installed_key()
    return sha(got.secret) if got is not None else None


def live(sb: Any, prefix: str = "") -> dict[str, str]:
    """id -> name of every key on the sandbox now (whose name starts with `prefix`)."""
    out = {}
    for h in list(sb.keys):
        try:
            k = sb.keys[h]
        except KeyError:
            continue
        if k["name"].startswith(prefix):
            out[h] = k["name"]
    return out


def ledger(home: Path) -> list[dict[str, Any]]:
    try:
        return json.loads((data_dir(home) / "ledger.json").read_text())["installs"]
    except FileNotFoundError:
        return []


def accounted(home: Path, agents: tuple[str, ...]) -> set[str]:
    """Key ids this home's files hold or its ledger records (not revoked)."""
    ids = {i["key_id"] for i in ledger(home) if i["key_id"] and not i.get("revoked")}
    ids.update(k for a in agents if (k := held_key(home, a)) is not None)
    return ids


def orphans(sb: Any, homes: list[Path], prefix: str, agents: tuple[str, ...] = ("claude",)) -> dict[str, str]:
    """Live keys named `prefix...` that no file holds and no ledger records."""
    known: set[str] = set()
    for h in homes:
        known |= accounted(h, agents)
    return {i: n for i, n in live(sb, prefix).items() if i not in known}


def temp_files(home: Path) -> list[Path]:
    return sorted(home.rglob("*.capit-tmp"))


def journal_entries(home: Path) -> list[dict[str, Any]]:
    root = data_dir(home) / "journal"
    if not root.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(root.glob("*.json"))]


def backups(home: Path) -> list[Backup]:
    return BackupStore(data_dir(home) / "backups").list()


def key_in_bytes(agent: str, data: bytes | None) -> str | None:
    """The key id a file's bytes hold (claude: ANTHROPIC_AUTH_TOKEN), None for no file or no key."""
    if data is None:
        return None
    if agent == "claude":
        token = json.loads(data).get("env", {}).get("ANTHROPIC_AUTH_TOKEN")
        return sha(token) if token else None
    import tomllib

    doc = tomllib.loads(data.decode())
    for prov in doc.get("model_providers", {}).values():
        if isinstance(prov, dict) and prov.get("experimental_bearer_token"):
            return sha(prov["experimental_bearer_token"])
    return None


def backup_key(b: Backup, agent: str, home: Path) -> str | None:
    path = str(home / FILES[agent])
    for f in b.files:
        if str(f.path) == path:
            return key_in_bytes(agent, b.content(f))
    raise AssertionError(f"backup {b.id} has no copy of {path}")


# ---------------------------------------------------------------- lost writes


@dataclass
class Op:
    """One successful write to claude's file: the key it found (`before`) and the key it left (`after`)."""

    label: str
    before: str | None
    after: str | None


def serialisable(ops: list[Op], start: str | None, end: str | None) -> bool:
    """Is there an order of `ops` in which each starts from what the previous one left, from `start`
    to `end`? (A lost write: two writers both started from the same state, one silently replaced.)"""
    if not ops:
        return start == end
    for order in itertools.permutations(ops):
        state = start
        ok = True
        for op in order:
            if op.before != state:
                ok = False
                break
            state = op.after
        if ok and state == end:
            return True
    return False
