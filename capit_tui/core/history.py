"""Spend over time: a local history of every key's spend, the burn rate it gives, and where that leads.

Every spend refresh of the TUI, every `keys list` and every `watch` poll records one sample per key
(platform, key id, which on OpenRouter is the key hash, time, spend in the current window, lifetime
usage) in `history.sqlite3` in the data dir: stdlib sqlite3 in WAL mode, written by one writer at a
time under the lock (core.lock). Money is stored in whole micro-dollars (exact to $0.000001).

It stays small by downsampling as it ages: every sample for a day, then the last sample of each hour for
30 days, then the last sample of each day (spend figures are running totals, so the last sample of a
period says all the period did). A key whose spend does not move keeps two samples for the flat run (its
first and its latest), not one per refresh. bench/history_size.py measures a simulated year.

From the samples: the burn rate (dollars per hour over the last hour and the last day) and a projection
(the cap reached in ~3 h, or the window resetting first).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from capit_tui.core import lock
from capit_tui.core.model import CappedKey

DB_NAME = "history.sqlite3"
RAW_FOR = timedelta(days=1)  # every sample for a day
HOURLY_FOR = timedelta(days=30)  # then hourly for a month; daily after
COMPACT_EVERY = 3600  # seconds of sample time between two compactions
RECORD_WAIT = 2.0  # seconds a sample waits for the lock before it is dropped (history is not worth a stall)
MICRO = Decimal("0.000001")
RATE = Decimal("0.0001")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys(id INTEGER PRIMARY KEY, platform TEXT NOT NULL, key TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '', UNIQUE(platform, key));
CREATE TABLE IF NOT EXISTS samples(key INTEGER NOT NULL, t INTEGER NOT NULL, spent INTEGER NOT NULL,
    usage INTEGER NOT NULL, PRIMARY KEY(key, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Sample:
    at: datetime
    spent: Decimal  # spend in the key's current window (what counts against the cap)
    usage: Decimal  # lifetime total: never goes down, so differences of it are spend


@dataclass(frozen=True)
class SeenKey:
    platform: str
    key_id: str
    name: str


@dataclass(frozen=True)
class ActivityRow:
    """One row of a platform's own per-day history (OpenRouter GET /activity): a UTC day and a model."""

    day: date
    model: str
    usage: Decimal
    requests: int


def _unsaid(_: str) -> None:
    """A sample waiting for the lock says nothing (a `keys list` must not talk about its history)."""


def _micro(value: Decimal) -> int:
    return int((value / MICRO).to_integral_value(rounding=ROUND_HALF_UP))


def _dollars(micro: int) -> Decimal:
    return (Decimal(micro) * MICRO).normalize() if micro else Decimal(0)


def _secs(when: datetime) -> int:
    return int(when.timestamp())


def _at(t: int) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


class History:
    def __init__(self, path: Path | None = None):
        if path is None:
            from capit_tui.core.paths import data_dir

            path = data_dir() / DB_NAME
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._guard = threading.RLock()

    # ------------------------------------------------------------ storage

    @contextlib.contextmanager
    def _db(self, write: bool) -> Iterator[sqlite3.Connection]:
        """The connection, kept open between calls (opening and closing SQLite per sample costs a WAL
        checkpoint each time); one caller at a time, from any thread."""
        with self._guard:
            if self._conn is None:
                if not write and not self.path.exists():
                    empty = sqlite3.connect(":memory:")  # nothing recorded yet: an empty history, no file made
                    try:
                        empty.executescript(_SCHEMA)
                        yield empty
                    finally:
                        empty.close()
                    return
                self._conn = self._open()
            try:
                yield self._conn
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                raise

    def _open(self) -> sqlite3.Connection:
        from capit_tui.core.fsutil import ensure_private_dir

        ensure_private_dir(self.path.parent)
        fresh = not self.path.exists()
        conn = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
        try:
            if fresh:
                self.path.chmod(0o600)
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # pages freed by downsampling go back
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        with self._guard:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def record(self, keys: Iterable[CappedKey], when: datetime, *, wait: float = RECORD_WAIT) -> int:
        """One sample per key at `when`, under the lock; returns how many keys were sampled. Downsamples
        what has aged (at most once an hour of sample time). Raises LockTimeout when the lock stays busy.

        A handful of statements for any number of keys (10 000 keys are one listing): the new samples go
        into a temporary table, one query finds the keys on a flat run, and the moves and inserts are
        each one executemany. A key given twice is sampled once, with its last figures."""
        keys = list(keys)
        t = _secs(when)
        with lock.held("recording spend history", wait=wait, waiting=_unsaid), self._db(write=True) as db:
            ids = self._key_ids(db, keys)
            now = {ids[(k.platform, k.id)]: (_micro(k.spent), _micro(k.usage)) for k in keys}
            db.execute("CREATE TEMP TABLE IF NOT EXISTS fresh(key INTEGER PRIMARY KEY, spent INTEGER NOT NULL, "
                       "usage INTEGER NOT NULL)")
            db.execute("DELETE FROM temp.fresh")
            db.executemany("INSERT INTO temp.fresh(key, spent, usage) VALUES (?, ?, ?)",
                           [(kid, s, u) for kid, (s, u) in now.items()])
            # A flat run: the key's last two samples hold the same figures as now and the latest is from
            # the last day (and before now): that latest sample moves forward instead of one more row.
            flat = db.execute("""
                SELECT key, t1 FROM (SELECT f.key, f.spent, f.usage,
                    (SELECT t FROM samples s WHERE s.key = f.key ORDER BY t DESC LIMIT 1) AS t1 FROM temp.fresh f) l
                WHERE t1 < :t AND t1 >= :cut AND 2 = (SELECT COUNT(*) FROM (SELECT spent, usage FROM samples s
                    WHERE s.key = l.key ORDER BY t DESC LIMIT 2) x WHERE x.spent = l.spent AND x.usage = l.usage)""",
                              {"t": t, "cut": t - int(RAW_FOR.total_seconds())}).fetchall()
            db.executemany("UPDATE samples SET t = ? WHERE key = ? AND t = ?", [(t, kid, t1) for kid, t1 in flat])
            moved = {kid for kid, _ in flat}
            db.executemany("INSERT OR REPLACE INTO samples(key, t, spent, usage) VALUES (?, ?, ?, ?)",
                           [(kid, t, s, u) for kid, (s, u) in now.items() if kid not in moved])
            db.execute("DELETE FROM temp.fresh")
            row = db.execute("SELECT value FROM meta WHERE name = 'compacted'").fetchone()
            compacted = int(row[0]) if row is not None else None
            if compacted is None or t - compacted >= COMPACT_EVERY or t < compacted:
                self._compact(db, t, compacted if compacted is not None and compacted <= t else None)
        return len(keys)

    @staticmethod
    def _key_ids(db: sqlite3.Connection, keys: list[CappedKey]) -> dict[tuple[str, str], int]:
        """The row id of each key in the keys table: new keys added and renamed ones updated, each in one
        executemany."""
        known = {(p, k): (i, n) for i, p, k, n in db.execute("SELECT id, platform, key, name FROM keys")}
        names = {(k.platform, k.id): k.name for k in keys}
        renamed = [(name, known[ident][0]) for ident, name in names.items()
                   if ident in known and known[ident][1] != name]
        new = [(*ident, name) for ident, name in names.items() if ident not in known]
        if renamed:
            db.executemany("UPDATE keys SET name = ? WHERE id = ?", renamed)
        if new:
            db.executemany("INSERT INTO keys(platform, key, name) VALUES (?, ?, ?)", new)
            known = {(p, k): (i, n) for i, p, k, n in db.execute("SELECT id, platform, key, name FROM keys")}
        return {ident: known[ident][0] for ident in names}

    @staticmethod
    def _compact(db: sqlite3.Connection, t: int, since: int | None = None) -> None:
        """Keep the last sample of each hour (older than a day) and of each day (older than 30 days) of a
        key. `since`: the time of the last compaction, so only what has aged since then is looked at."""
        raw_cut = t - int(RAW_FOR.total_seconds())
        hour_cut = t - int(HOURLY_FOR.total_seconds())
        tiers = ((hour_cut, raw_cut, 3600, RAW_FOR), (None, hour_cut, 86400, HOURLY_FOR))
        for older, newer, bucket, age in tiers:
            if since is not None:  # from the start of the bucket the last compaction's cut fell in
                done = (since - int(age.total_seconds())) // bucket * bucket
                older = done if older is None else max(older, done)
            where = "t < :newer" + ("" if older is None else " AND t >= :older")
            db.execute(f"""DELETE FROM samples WHERE {where} AND EXISTS (SELECT 1 FROM samples s
                           WHERE s.key = samples.key AND s.t > samples.t AND s.t < (samples.t / :b + 1) * :b)""",
                       {"older": older, "newer": newer, "b": bucket})
        db.execute("INSERT OR REPLACE INTO meta(name, value) VALUES ('compacted', ?)", (str(t),))
        db.commit()
        db.execute("PRAGMA incremental_vacuum")

    def compact(self, when: datetime) -> None:
        """Downsample now (record() does it by itself once an hour)."""
        with lock.held("recording spend history"), self._db(write=True) as db:
            self._compact(db, _secs(when))

    # ------------------------------------------------------------ reading (no lock: WAL readers never wait)

    def samples(self, platform: str, key_id: str, since: datetime | None = None,
                until: datetime | None = None) -> list[Sample]:
        """A key's samples, oldest first, within [since, until]."""
        lo = _secs(since) if since is not None else -(2**62)
        hi = _secs(until) if until is not None else 2**62
        with self._db(write=False) as db:
            rows = db.execute("""SELECT s.t, s.spent, s.usage FROM samples s JOIN keys k ON k.id = s.key
                                 WHERE k.platform = ? AND k.key = ? AND s.t BETWEEN ? AND ? ORDER BY s.t""",
                              (platform, key_id, lo, hi)).fetchall()
        return [Sample(_at(t), _dollars(s), _dollars(u)) for t, s, u in rows]

    def last_before(self, platform: str, key_id: str, when: datetime) -> Sample | None:
        """The newest sample at or before `when`."""
        with self._db(write=False) as db:
            row = db.execute("""SELECT s.t, s.spent, s.usage FROM samples s JOIN keys k ON k.id = s.key
                                WHERE k.platform = ? AND k.key = ? AND s.t <= ? ORDER BY s.t DESC LIMIT 1""",
                             (platform, key_id, _secs(when))).fetchone()
        return Sample(_at(row[0]), _dollars(row[1]), _dollars(row[2])) if row else None

    def keys_seen(self, since: datetime) -> list[SeenKey]:
        """Every key with a sample since `since` (keys revoked since then included), by platform and name."""
        with self._db(write=False) as db:
            rows = db.execute("""SELECT DISTINCT k.platform, k.key, k.name FROM keys k JOIN samples s
                                 ON s.key = k.id WHERE s.t >= ? ORDER BY k.platform, k.name, k.key""",
                              (_secs(since),)).fetchall()
        return [SeenKey(p, k, n) for p, k, n in rows]

    def burn_points(self, now: datetime) -> dict[tuple[str, str], list[Sample]]:
        """Per key, only the samples burn_rate() reads (the newest; the last before and the first inside
        the last hour and the last day), in one pass of SQLite: a table of 10 000 keys gets its rates
        without making a Python object of every sample of two days."""
        t = _secs(now)
        h1, h2, d1, d2 = t - 3600, t - 7200, t - 86400, t - 172800
        out: dict[tuple[str, str], list[Sample]] = {}
        with self._db(write=False) as db:
            rows = db.execute("""
                WITH p AS (SELECT key,
                    MAX(CASE WHEN t > :d1 THEN t END) AS a, MAX(CASE WHEN t BETWEEN :h2 AND :h1 THEN t END) AS b,
                    MIN(CASE WHEN t > :h1 THEN t END) AS c, MAX(CASE WHEN t BETWEEN :d2 AND :d1 THEN t END) AS d,
                    MIN(CASE WHEN t > :d1 THEN t END) AS e
                    FROM samples WHERE t BETWEEN :d2 AND :now GROUP BY key)
                SELECT k.platform, k.key, s.t, s.spent, s.usage FROM p JOIN samples s ON s.key = p.key
                    AND s.t IN (p.a, p.b, p.c, p.d, p.e) JOIN keys k ON k.id = p.key ORDER BY s.key, s.t""",
                {"now": t, "h1": h1, "h2": h2, "d1": d1, "d2": d2})
            for platform, key, st, spent, usage in rows:
                out.setdefault((platform, key), []).append(Sample(_at(st), _dollars(spent), _dollars(usage)))
        return out

    def count(self) -> int:
        with self._db(write=False) as db:
            return int(db.execute("SELECT COUNT(*) FROM samples").fetchone()[0])


def record_quietly(keys: Iterable[CappedKey], when: datetime, history: History | None = None) -> str | None:
    """record(), for a front end whose listing must not fail because its history could not be written (a
    busy lock, a full disk, a damaged file): None when recorded, else why not."""
    own = history is None
    h = history or History()
    try:
        h.record(keys, when)
    except (lock.LockTimeout, sqlite3.Error, OSError) as exc:
        return f"The spend history was not updated: {exc}"
    finally:
        if own:
            h.close()
    return None


def record_and_rate(keys: Iterable[CappedKey], when: datetime,
                    history: History | None = None) -> dict[tuple[str, str], Burn]:
    """Record a sample per key (quietly), then every key's burn rate as of `when`, from one read."""
    keys = list(keys)
    h = history or History()
    try:
        record_quietly(keys, when, h)
        recent = h.burn_points(when)
    except (sqlite3.Error, OSError):
        return {}
    finally:
        if history is None:
            h.close()
    return {(k.platform, k.id): burn_rate(recent.get((k.platform, k.id), []), when) for k in keys}


# ---------------------------------------------------------------- burn rate and projection


@dataclass(frozen=True)
class Burn:
    """Dollars per hour; None where the history is too short to say."""

    last_hour: Decimal | None
    last_day: Decimal | None

    @property
    def rate(self) -> Decimal | None:
        """The rate a projection uses: the last hour's, else the last day's."""
        return self.last_hour if self.last_hour is not None else self.last_day


def _rate(samples: list[Sample], now: datetime, window: timedelta) -> Decimal | None:
    """Spend per hour over `window` before `now`: from the sample at the window's start (or the first
    inside it) to the newest. None with less than a twelfth of the window covered, or no recent sample."""
    upto = [s for s in samples if s.at <= now]
    if not upto or upto[-1].at < now - window:
        return None
    end = upto[-1]
    start_at = now - window
    before = [s for s in upto if s.at <= start_at]
    inside = [s for s in upto if s.at > start_at]
    start = before[-1] if before and before[-1].at >= now - 2 * window else (inside[0] if inside else end)
    span = (end.at - start.at).total_seconds()
    if span < window.total_seconds() / 12:
        return None
    spent = max(end.usage - start.usage, Decimal(0))
    return (spent * 3600 / Decimal(span)).quantize(RATE, rounding=ROUND_HALF_UP)


def burn_rate(samples: list[Sample], now: datetime) -> Burn:
    return Burn(_rate(samples, now, timedelta(hours=1)), _rate(samples, now, timedelta(days=1)))


def next_reset(reset: str | None, now: datetime) -> datetime | None:
    """When a cap's window starts over: midnight UTC, Mondays for weekly, the 1st for monthly."""
    if reset is None:
        return None
    midnight = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if reset == "daily":
        return midnight + timedelta(days=1)
    if reset == "weekly":
        return midnight + timedelta(days=7 - midnight.weekday())
    first = midnight.replace(day=1)
    return (first + timedelta(days=32)).replace(day=1)


@dataclass(frozen=True)
class Projection:
    """Where the burn rate takes a key: 'cap' (reached at `at`), 'resets' (the window resets first),
    'at-cap', 'idle' (not spending), 'no-cap', or 'unknown' (too little history)."""

    kind: str
    at: datetime | None = None
    now: datetime | None = None

    def describe(self) -> str:
        """'cap in ~3 h', 'resets before cap', 'at cap', 'not spending', 'no cap', '-'."""
        if self.kind == "cap" and self.at is not None and self.now is not None:
            return f"cap in {_span((self.at - self.now).total_seconds())}"
        return {"resets": "resets before cap", "at-cap": "at cap", "idle": "not spending",
                "no-cap": "no cap"}.get(self.kind, "-")


def _span(seconds: float) -> str:
    if seconds < 3600:
        return f"~{max(1, round(seconds / 60))} min"
    if seconds < 48 * 3600:
        return f"~{round(seconds / 3600)} h"
    return f"~{round(seconds / 86400)} d"


def project(key: CappedKey, burn: Burn, now: datetime) -> Projection:
    if key.limit is None:
        return Projection("no-cap")
    left = key.limit - key.spent
    if left <= 0:
        return Projection("at-cap")
    rate = burn.rate
    if rate is None:
        return Projection("unknown")
    if rate <= 0:
        return Projection("idle")
    at = now + timedelta(hours=float(left / rate))
    resets = next_reset(key.limit_reset, now)
    if resets is not None and resets <= at:
        return Projection("resets", resets, now)
    return Projection("cap", at, now)


def per_hour(rate: Decimal | None) -> str:
    """'$0.42/h', '-' when unknown (the words every front end shows for a burn rate)."""
    from capit_tui.core.money import format_usd

    return "-" if rate is None else f"{format_usd(rate)}/h"
