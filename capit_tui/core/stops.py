"""The record of the keys capit-tui itself disabled, and why: who stopped each key (`by`: "panic" for the
panic stop; a pooled budget would write "pool:daily"), so that each stopper undoes only its own work.

One JSON file, `<data dir>/stops.json` (0600, written atomically, only under the lock), no secret in it:
per stopped key its platform, id, name, the stopper, when, and a state:

  disabling  recorded before its disable is sent: an interrupted panic resumes from these at the next start
  stopped    the platform said the key is disabled
  enabling   an undo is re-enabling it (an interrupted undo finds these and counts them restored)

A key may be held by several stoppers at once (one entry each). The rule an undo follows (`releasable`):
a key is re-enabled only if the undoing stopper holds it, no other stopper still does, and it is still
disabled; a key re-enabled or revoked since is left alone (and said). A key already disabled before a
stop, by hand or by the platform, is never recorded, so never re-enabled. A key the user disables or
enables with capit-tui itself (`keys disable`/`keys enable`, the app's key actions) is theirs from then on:
every stopper lets go of it (`let_go`), so no undo re-enables a key the user disabled for their own reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from capit_tui.core.fsutil import atomic_write, ensure_private_dir
from capit_tui.core.text import clean_text
from capit_tui.errors import CapitError

STOPS_FILE = "stops.json"
PANIC = "panic"
DISABLING, STOPPED, ENABLING = "disabling", "stopped", "enabling"
STATES = (DISABLING, STOPPED, ENABLING)
MAX_BYTES = 64 * 1024 * 1024  # 200 000 keys' worth; past that the file is not ours

Ident = tuple[str, str]  # (platform, key id)


class StopsError(CapitError):
    """The record cannot be read (or written); nothing was changed."""


@dataclass
class Stop:
    platform: str
    id: str
    name: str
    by: str
    at: str  # when it was stopped (UTC, ISO)
    state: str = STOPPED

    @property
    def ident(self) -> Ident:
        return (self.platform, self.id)


class StopRecord:
    """The file. `load` and `save` are whole-file; `save` takes the lock (re-entrant: a caller that holds
    it already, as panic and its undo do, passes straight through)."""

    def __init__(self, path: Path | None = None):
        if path is None:
            from capit_tui.core.paths import data_dir

            path = data_dir() / STOPS_FILE
        self.path = Path(path)

    def load(self) -> list[Stop]:
        from capit_tui.core.fsutil import read_regular

        try:
            raw = read_regular(self.path, follow=False, limit=MAX_BYTES)
        except OSError as exc:
            raise StopsError(f"The record of stopped keys ({self.path}) cannot be read: {exc}.") from None
        if raw is None:
            return []
        try:
            body = json.loads(raw.decode("utf-8"))
            stops = [_stop(item) for item in body["stops"]]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise StopsError(f"The record of stopped keys ({self.path}) is damaged, so capit-tui cannot tell which "
                             "keys it stopped. Move it aside to start a new record; the keys themselves are as "
                             "they are on their platforms.") from None
        return stops

    def save(self, stops: Iterable[Stop]) -> None:
        from capit_tui.core import lock

        body = {"version": 1, "stops": [asdict(s) for s in stops]}
        with lock.held("recording stopped keys"):
            if not body["stops"]:
                try:
                    self.path.unlink()
                except FileNotFoundError:
                    pass
                return
            ensure_private_dir(self.path.parent)
            atomic_write(self.path, json.dumps(body, separators=(",", ":")).encode("utf-8"), mode=0o600)


def let_go(idents: Iterable[Ident], record: StopRecord | None = None) -> int:
    """The user disabled or enabled these keys by hand: every stopper drops them from the record (an undo
    then leaves them as the user set them). Returns how many entries went. Takes the lock; StopsError when
    the record cannot be read (the keys stay recorded), LockTimeout when another capit-tui keeps the lock."""
    from capit_tui.core import lock

    record = record or StopRecord()
    wanted = set(idents)
    if not wanted or not os.path.lexists(record.path):  # nothing recorded: no lock to take
        return 0
    with lock.held("letting go of keys changed by hand"):
        stops = record.load()
        keep = [s for s in stops if s.ident not in wanted]
        if len(keep) != len(stops):
            record.save(keep)
    return len(stops) - len(keep)


def _stop(item: Any) -> Stop:
    if not isinstance(item, dict):
        raise TypeError
    fields = {k: item[k] for k in ("platform", "id", "name", "by", "at")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise TypeError
    fields = {k: clean_text(v, 200) for k, v in fields.items()}  # a file's text, on its way to a terminal
    state = item.get("state", STOPPED)
    if state not in STATES:
        raise ValueError
    return Stop(**fields, state=state)


def holders(stops: Iterable[Stop]) -> dict[Ident, set[str]]:
    """Per key, the stoppers holding it."""
    out: dict[Ident, set[str]] = {}
    for s in stops:
        out.setdefault(s.ident, set()).add(s.by)
    return out


def releasable(stop: Stop, held: dict[Ident, set[str]], disabled_now: bool | None) -> str | None:
    """Whether the undo of `stop.by` re-enables this key: None when it does, else why it is left alone
    ("gone": revoked since; "enabled": re-enabled since; "held:<stopper>": another stopper holds it).
    `disabled_now` is the key's state on its platform now (None: the key is not there any more)."""
    if disabled_now is None:
        return "gone"
    if not disabled_now:
        return "enabled"
    others = sorted(held.get(stop.ident, set()) - {stop.by})
    if others:
        return "held:" + ",".join(others)
    return None


@dataclass(frozen=True)
class Summary:
    """What a front end shows while keys are stopped: how many, by which stopper, since when, where."""

    count: int
    by: str
    at: datetime | None
    platforms: tuple[str, ...]


def summary(stops: Iterable[Stop], by: str = PANIC, platforms: Collection[str] | None = None) -> Summary:
    """`by`'s stopped keys; only those on `platforms` when given (the configured ones: keys recorded on a
    platform removed since cannot be undone from here, so a front end does not offer it)."""
    from capit_tui.core.journal import parse_iso

    mine = [s for s in stops if s.by == by and (platforms is None or s.platform in platforms)]
    times = [t for t in (parse_iso(s.at) for s in mine) if t is not None]
    return Summary(len(mine), by, max(times) if times else None, tuple(sorted({s.platform for s in mine})))
