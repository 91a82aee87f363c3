"""The intent journal: what a write is about to do, on disk before it does it, so that the next start
can finish or undo a run that was interrupted (Ctrl-C, SIGTERM, SIGKILL, a power cut).

One JSON file per operation under `<data dir>/journal/` (0700 folder, 0600 files, atomic writes),
written only by the holder of the lock (core/lock.py). It never holds a secret: the platform, each
key's name, its id once the platform gave one and its masked form, the agents, the backup id, and for
each file the SHA-256 of its bytes before and after (enough to tell the old file from the new one).

An install moves through these states (`Entry.state`):

  issuing   a key is recorded (name, no id) before its create is sent; its id is added when it exists
  writing   the backup of every file is complete: its id and each file's before/after digests are
            recorded before the first file is written
  written   every file was written (the ledger may not have it yet)
  done      the ledger has it (and any key handed over was shown): the file is removed

A plain issue (`kind="issue"`) is `issuing` until its key was shown, then done. A restore
(`kind="restore"`) is `writing` (files, then the backup of the files as they were) until `written`.
A rotation (`kind="rotate"`, core/rotate.py) is an install of one new key into every agent holding the
old one, with the old key in `retire`: revoked only once the entry is `written` (every file holds the
new key); anything less is undone (files back, new key revoked) and the old key is left working.
A panic stop (`kind="panic"`, core/panic.py) is `issuing` while it disables keys: the keys themselves are in
the record of stopped keys (core/stops.py, state `disabling`), so the entry only says a panic by `by` was
under way; the next start finishes disabling what that record says was meant.
A team apply (`kind="team"`, core/team_apply.py) is `issuing` while it creates its members' keys (`by`: the
team); a key whose secret reached neither its file (`files`) nor the screen (`shown`) is revoked at the next start.
core/recovery.py reads the entries left behind and finishes or undoes each.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from capit_tui.core.fsutil import atomic_write, ensure_private_dir

KINDS = ("install", "issue", "restore", "rotate", "panic", "team")
STATES = ("issuing", "writing", "written", "done")


@dataclass
class KeyNote:
    """A key the operation creates: recorded before the create is sent."""

    name: str
    agent: str | None = None
    asked_at: str = ""  # when the create was about to be sent (UTC, ISO); a lost reply is searched from here
    id: str | None = None  # the platform's id (hash), once it answered
    masked: str = ""  # sk-or-v1-…abcd, never the secret
    manual: bool = False  # handed over on screen rather than written into a file
    files: list[str] = field(default_factory=list)  # the agent's files that hold it after the write


@dataclass
class FileNote:
    """A file the operation writes, told apart by digests: `old` before, `new` after (None: absent)."""

    path: str
    target: str
    old: str | None
    new: str | None
    agent: str = ""


@dataclass
class Entry:
    kind: str
    platform: str = ""
    agents: list[str] = field(default_factory=list)
    state: str = "issuing"
    id: str = ""
    pid: int = 0
    started: str = ""
    keys: list[KeyNote] = field(default_factory=list)
    files: list[FileNote] = field(default_factory=list)
    backup: str | None = None  # the backup holding every file as it was before this write
    restored: str | None = None  # a restore: the backup it puts back
    shown: bool = False  # an issue: the key reached the user
    retire: list[KeyNote] = field(default_factory=list)  # a rotation: the old key, revoked once `written`
    by: str = ""  # a panic: the stopper whose record (core/stops.py) holds the keys being disabled

    def key_for(self, agent: str | None) -> KeyNote | None:
        return next((k for k in self.keys if k.agent == agent), None)

    def describe(self) -> str:
        """What the operation was, in a few words ("an install of capit-claude-20261121 into claude")."""
        if self.kind == "restore":
            who = ", ".join(self.agents) or "the files"
            return f"a restore of {who} from backup {self.restored}"
        names = ", ".join(k.name for k in self.keys) or "a key"
        if self.kind == "panic":
            return f"the panic stop on {self.platform or 'every platform'}"
        if self.kind == "team":
            return f"the apply of the team {self.by}"
        if self.kind == "issue":
            return f"the issue of {names} on {self.platform}"
        if self.kind == "rotate":
            old = ", ".join(k.name for k in self.retire) or "a key"
            return f"the rotation of {old} to {names} in {', '.join(self.agents) or 'agents'}"
        return f"an install of {names} into {', '.join(self.agents) or 'agents'}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Entry:
        keys = [KeyNote(**k) for k in raw.get("keys", [])]
        files = [FileNote(**f) for f in raw.get("files", [])]
        retire = [KeyNote(**k) for k in raw.get("retire", [])]
        rest = {k: v for k, v in raw.items()
                if k not in ("keys", "files", "retire") and k in cls.__dataclass_fields__}
        return cls(keys=keys, files=files, retire=retire, **rest)


class Journal:
    def __init__(self, root: Path | None = None):
        if root is None:
            from capit_tui.core.paths import data_dir

            root = data_dir() / "journal"
        self.root = Path(root)

    def path(self, entry: Entry) -> Path:
        return self.root / f"{entry.id}.json"

    def new(self, kind: str, platform: str = "", agents: list[str] | None = None, **fields: Any) -> Entry:
        """A new entry, not saved yet (state `issuing`, or `writing` for a restore). Saving it is the
        caller's first step inside its clean-up, so an interruption during the save is cleaned up too."""
        import secrets  # here, not at the top: every command's start asks needs_recovery, few write entries

        assert kind in KINDS
        now = datetime.now(timezone.utc)
        return Entry(kind, platform, list(agents or []), "writing" if kind == "restore" else "issuing",
                     f"{now.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}", os.getpid(),
                     iso(now), **fields)

    def begin(self, kind: str, platform: str = "", agents: list[str] | None = None, **fields: Any) -> Entry:
        """A new entry, saved at once."""
        entry = self.new(kind, platform, agents, **fields)
        self.save(entry)
        return entry

    def save(self, entry: Entry) -> None:
        assert entry.state in STATES
        ensure_private_dir(self.root)
        atomic_write(self.path(entry), json.dumps(entry.to_json(), indent=1).encode("utf-8"), mode=0o600)

    def finish(self, entry: Entry) -> None:
        """The operation is complete (or completely undone): its entry goes."""
        entry.state = "done"
        try:
            self.path(entry).unlink()
        except FileNotFoundError:
            pass

    def pending(self) -> list[Entry]:
        """Every entry left behind, oldest first. An unreadable one is skipped (and reported by `damaged`)."""
        out = []
        for p in self._files():
            entry = self._load(p)
            if entry is not None:
                out.append(entry)
        out.sort(key=lambda e: (e.started, e.id))
        return out

    def damaged(self) -> list[Path]:
        return [p for p in self._files() if self._load(p) is None]

    def has_pending(self) -> bool:
        """Cheap: is there any entry file at all (no parsing)."""
        return bool(self._files())

    def _files(self) -> list[Path]:
        try:
            return sorted(p for p in self.root.iterdir() if p.suffix == ".json" and not p.name.startswith("."))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _load(self, p: Path) -> Entry | None:
        try:
            raw = json.loads(p.read_text(encoding="utf-8"))
            entry = Entry.from_json(raw)
        except (OSError, ValueError, TypeError):
            return None
        return entry if entry.kind in KINDS and entry.state in STATES else None


def digest(data: bytes | None) -> str | None:
    import hashlib

    return None if data is None else hashlib.sha256(data).hexdigest()


def iso(t: datetime | None = None) -> str:
    t = t or datetime.now(timezone.utc)
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


# ---------------------------------------------------------------- at start


def needs_recovery(journal: Journal | None = None) -> bool:
    """Cheap (a few directory reads): is there an entry, or a temp file in our own folders? Here, beside
    the journal, so that asking costs every command's start nothing more (core.recovery, which settles
    what is found, loads the backups and the undo steps)."""
    journal = journal or Journal()
    return journal.has_pending() or any(_temps_in(d) for d in own_dirs(journal))


def own_dirs(journal: Journal) -> list[Path]:
    from capit_tui.core.paths import config_dir, data_dir

    return [data_dir(), journal.root, config_dir()]


def _temps_in(folder: Path) -> bool:
    try:
        return any(t.name.startswith(".") and t.name.endswith(".capit-tmp") for t in folder.iterdir())
    except OSError:
        return False
