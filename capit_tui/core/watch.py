"""Alerts without the TUI: what `capit-tui watch` decides on each poll, with no printing and no I/O but
its small state file.

An event is one of:

    threshold           a key's spend in its window reached a threshold (--at, default 50 and 80 percent)
    capped              a key's spend reached its cap (100%): the platform refuses it until the window resets
    reset               a key that had reached a threshold starts a new window (its spend dropped)
    expiring            a key expires within 7 days (said once per expiry date)
    platform-failed     a platform could not be listed (said once, until it answers again)
    platform-recovered  a platform that was failing answers again
    pool-threshold      the spend pooled across keys reached a threshold of its pool (core/pool.py)
    pool-capped         ... reached the pool's amount (100%)
    pool-reset          a pool that had reached a threshold starts a new window
    pool-stopped        --enforce: the pooled keys were disabled (by = "pool:<period>")
    pool-released       --enforce: the keys the pool stopped were re-enabled (its window reset)

The window of a key is the span its cap counts over, as OpenRouter and the sandbox define it: from
midnight UTC for a daily cap, from Monday 00:00 UTC for a weekly one, from the 1st 00:00 UTC for a monthly
one, and the key's whole life for a cap that never resets (one-api's caps, OpenRouter's `null`). A
threshold fires once per crossing per window: once fired it is remembered in the state file (in the data
dir, 0600, written atomically) with the window it fired in, so a restart does not say it again; a new
window re-arms every threshold, and so does the spend falling back below one (the cap was raised). When a
key jumps past several thresholds between two polls, one event says the highest.

The thresholds themselves (which keys count, which thresholds a percent has reached) are the TUI's rule
too: `core.spend_watch.watched()` and `reached()`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capit_tui.core.fsutil import UnsafeFile, atomic_write, ensure_private_dir, read_regular
from capit_tui.core.http_policy import plain_http_host
from capit_tui.core.model import CappedKey, iso, reset_label
from capit_tui.core.money import CENT, to_json_number
from capit_tui.core.paths import data_dir
from capit_tui.core.redact import redact
from capit_tui.core.spend_watch import reached, watched
from capit_tui.core.text import clean_text

if TYPE_CHECKING:
    from capit_tui.core.pool import PoolSpend

CAP = Decimal(100)
DEFAULT_AT = (Decimal(50), Decimal(80), CAP)
EXPIRY_NOTICE = timedelta(days=7)
RESET_GRACE = timedelta(minutes=10)
"""Just after a window boundary by our clock, a spend that has not dropped means the platform's clock has
not reached the boundary yet: the key stays in its old window (no repeated alert) for at most this long."""
STATE_FILE = "watch-state.json"
STATE_VERSION = 1
MAX_STATE = 16 * 1024 * 1024

EVENTS = ("threshold", "capped", "reset", "expiring", "platform-failed", "platform-recovered",
          "pool-threshold", "pool-capped", "pool-reset", "pool-stopped", "pool-released")
ENV_VARS = ("CAPIT_EVENT", "CAPIT_TIME", "CAPIT_PLATFORM", "CAPIT_KEY_NAME", "CAPIT_KEY_HASH", "CAPIT_PERCENT",
            "CAPIT_SPENT", "CAPIT_LIMIT", "CAPIT_THRESHOLD", "CAPIT_RESET", "CAPIT_EXPIRES_AT", "CAPIT_REASON",
            "CAPIT_POOL", "CAPIT_POOL_MATCH", "CAPIT_POOL_KEYS", "CAPIT_COUNT")
_SECRET_NAME = re.compile(r"^CAPIT_.*(MANAGEMENT_KEY|_SECRET|_TOKEN|_API_KEY)$")


# ---------------------------------------------------------------- the user's choices


def parse_at(text: str) -> tuple[Decimal, ...]:
    """`--at 50,80,100` -> the thresholds, ascending, each once; the cap (100) is always among them.
    ValueError with one sentence for anything but percents above 0 and at most 100."""
    shown = clean_text(text, 60)
    parts = [p.strip().rstrip("%").strip() for p in text.split(",")]
    if not any(parts):
        raise ValueError("--at needs percents of the cap, such as 50,80,100")
    out = set()
    for part in parts:
        try:
            value = Decimal(part)
        except InvalidOperation:
            raise ValueError(f"--at '{shown}': '{clean_text(part, 20)}' is not a percent; give numbers such as "
                             "50,80,100") from None
        if not value.is_finite() or not Decimal(0) < value <= CAP:
            raise ValueError(f"--at '{shown}': {clean_text(part, 20)} is out of range; each threshold is a percent "
                             "of the cap above 0 and at most 100")
        value = value.quantize(Decimal("0.1"))
        out.add(value.to_integral_value() if value == value.to_integral_value() else value)
    out.add(CAP)
    return tuple(sorted(out))


def check_webhook(url: str) -> str:
    """The webhook URL, or ValueError: https, or plain http only to this machine (HTTPS only off loopback,
    the rule of core.http_policy). The sentence never repeats the URL: a webhook URL is itself a secret."""
    u = url.strip()
    scheme = u.split(":", 1)[0].lower() if ":" in u else ""
    if scheme not in ("http", "https") or "//" not in u:
        raise ValueError("--webhook needs an https:// URL")
    host = plain_http_host(u)
    if host is not None:
        raise ValueError(f"--webhook must use https:// to reach {clean_text(host, 80)}: plain http is allowed "
                         "only to this machine (127.0.0.1, localhost)")
    return u


EXEC_TIMEOUT = 30.0  # seconds an --exec command may run before it is killed
WEBHOOK_TIMEOUT = 10.0  # seconds a webhook POST may take in all
_SHELL_SYNTAX = set("|&;<>()$`*?[]{}~#!\n")


def exec_argv(command: str) -> list[str]:
    """How an --exec command runs: split like a shell would (quotes respected) and run directly, with no
    shell; only a command that uses shell syntax (a pipe, a redirection, $VAR, a glob, ;, &&, ~, a leading
    VAR=value) runs with `/bin/sh -c`. The event never enters the command line, only its environment, so
    no key name can inject anything either way."""
    import shlex

    if any(ch in _SHELL_SYNTAX for ch in command):
        return ["/bin/sh", "-c", command]
    try:
        argv = shlex.split(command)
    except ValueError:  # unbalanced quotes: let the shell say what is wrong
        return ["/bin/sh", "-c", command]
    if not argv:
        raise ValueError("--exec needs a command")
    if "=" in argv[0]:
        return ["/bin/sh", "-c", command]
    return argv


# ---------------------------------------------------------------- windows


def window_start(reset: str | None, now: datetime) -> datetime | None:
    """When the current window of a cap began (midnight UTC; weeks start Monday; months on the 1st);
    None for a cap that never resets (its window is the key's whole life)."""
    utc = now.astimezone(timezone.utc)
    midnight = utc.replace(hour=0, minute=0, second=0, microsecond=0)
    if reset == "daily":
        return midnight
    if reset == "weekly":
        return midnight - timedelta(days=utc.weekday())
    if reset == "monthly":
        return midnight.replace(day=1)
    return None


def window_id(key: CappedKey, now: datetime) -> str:
    start = window_start(key.limit_reset, now)
    return iso(start) or "lifetime"


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class Event:
    kind: str  # one of EVENTS
    platform: str
    at: datetime
    key: CappedKey | None = None
    threshold: Decimal | None = None
    reason: str = ""  # platform-failed: why, cleaned and redacted; pool-stopped/-released: keys left as they were
    pool: PoolSpend | None = None  # the pool-* events: the pool and its spend
    count: int | None = None  # pool-stopped / pool-released: how many keys were disabled / re-enabled

    def environment(self) -> dict[str, str]:
        """The CAPIT_* variables an --exec command gets: names, hashes and dollars, never a secret."""
        k, p = self.key, self.pool
        if p is not None:
            return {name: "" for name in ENV_VARS} | {
                "CAPIT_EVENT": self.kind,
                "CAPIT_TIME": iso(self.at) or "",
                "CAPIT_POOL": p.pool.period,
                "CAPIT_POOL_MATCH": p.pool.match,
                "CAPIT_POOL_KEYS": str(p.keys),
                "CAPIT_PERCENT": str(p.percent),
                "CAPIT_SPENT": dollars(p.spent),
                "CAPIT_LIMIT": dollars(p.pool.amount),
                "CAPIT_THRESHOLD": str(self.threshold) if self.threshold is not None else "",
                "CAPIT_RESET": p.pool.period,
                "CAPIT_COUNT": str(self.count) if self.count is not None else "",
                "CAPIT_REASON": self.reason,
            }
        return {name: "" for name in ENV_VARS[12:]} | {
            "CAPIT_EVENT": self.kind,
            "CAPIT_TIME": iso(self.at) or "",
            "CAPIT_PLATFORM": self.platform,
            "CAPIT_KEY_NAME": k.name if k else "",
            "CAPIT_KEY_HASH": k.id if k else "",
            "CAPIT_PERCENT": str(k.percent) if k and k.percent is not None else "",
            "CAPIT_SPENT": dollars(k.spent) if k else "",
            "CAPIT_LIMIT": dollars(k.limit) if k and k.limit is not None else "",
            "CAPIT_THRESHOLD": str(self.threshold) if self.threshold is not None else "",
            "CAPIT_RESET": reset_label(k.limit_reset) if k else "",
            "CAPIT_EXPIRES_AT": (iso(k.expires_at) or "") if k else "",
            "CAPIT_REASON": self.reason,
        }

    def to_json(self) -> dict[str, Any]:
        k, p = self.key, self.pool
        if p is not None:
            return {
                "event": self.kind,
                "time": iso(self.at),
                "pool": p.pool.period,
                "pool_match": p.pool.match,
                "pool_keys": p.keys,
                "percent": to_json_number(p.percent),
                "spent": to_json_number(p.spent),
                "limit": to_json_number(p.pool.amount),
                "threshold": to_json_number(self.threshold),
                "reset": p.pool.period,
                "count": self.count,
                "reason": self.reason or None,
            }
        return {
            "event": self.kind,
            "time": iso(self.at),
            "platform": self.platform,
            "key_name": k.name if k else None,
            "key_hash": k.id if k else None,
            "percent": to_json_number(k.percent) if k else None,
            "spent": to_json_number(k.spent) if k else None,
            "limit": to_json_number(k.limit) if k else None,
            "threshold": to_json_number(self.threshold),
            "reset": reset_label(k.limit_reset) if k else None,
            "expires_at": iso(k.expires_at) if k else None,
            "reason": self.reason or None,
        }


def dollars(value: Decimal) -> str:
    """An amount for a machine: 8.50, 0.0042 (no $ sign, no thousands separator)."""
    if value != 0 and abs(value) < CENT:
        return str(value.quantize(Decimal("0.0001")))
    return str(value.quantize(CENT))


def hook_environment(base: Mapping[str, str], event: Event, secrets: Iterable[str] = ()) -> dict[str, str]:
    """The environment of an --exec command: the caller's, less every variable that holds a secret capit-tui
    knows of (a CAPIT_*_MANAGEMENT_KEY, or any value containing one of `secrets`), plus the event's."""
    known = [s for s in secrets if s and len(s) >= 8]
    env = {name: value for name, value in base.items()
           if not _SECRET_NAME.match(name) and name not in ENV_VARS and not any(s in value for s in known)}
    env.update(event.environment())
    return env


def slack_text(text: str) -> str:
    """Text for a Slack-compatible `text` field: &, < and > escaped, so a key named '<!channel>' pings
    nobody."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_body(event: Event, text: str) -> dict[str, Any]:
    return {"text": slack_text(text), "event": event.to_json()}


# ---------------------------------------------------------------- what a poll decides


@dataclass
class Poll:
    events: list[Event]
    alerting: list[CappedKey]  # keys at or past a threshold now (`--once` exits 3 when there are any)
    failed: list[str]  # platforms that could not be listed this time


@dataclass
class WatchState:
    """What has been said: per key, the window it was last seen in, its spend then and the thresholds
    fired in that window; the expiry dates announced; the platforms failing. JSON in the data dir."""

    keys: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # platform -> hash -> record
    expiring: dict[str, dict[str, str]] = field(default_factory=dict)  # platform -> hash -> expires_at said
    failing: dict[str, str] = field(default_factory=dict)  # platform -> since (iso)
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)  # period -> record (core.pool.check)
    notes: list[str] = field(default_factory=list)  # sentences for the front end (an unreadable file)

    # ------------------------------------------------------------ storage

    @staticmethod
    def path() -> Path:
        return data_dir() / STATE_FILE

    @classmethod
    def load(cls, path: Path | None = None) -> WatchState:
        """The state, or an empty one (with a note) when the file is missing, unreadable or not ours."""
        path = path or cls.path()
        try:
            raw = read_regular(path, limit=MAX_STATE)
        except (OSError, UnsafeFile) as exc:
            return cls(notes=[f"Could not read {path} ({clean_text(exc, 200)}); starting afresh, so an "
                              "event may be said once more."])
        if raw is None:
            return cls()
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
                raise ValueError
            return cls(keys=_dict_of_dicts(data.get("keys")), expiring=_dict_of_dicts(data.get("expiring")),
                       failing={str(k): str(v) for k, v in dict(data.get("failing") or {}).items()},
                       pools=_dict_of_dicts(data.get("pools")))
        except (ValueError, TypeError, AttributeError):
            return cls(notes=[f"{path} is not a watch state capit-tui can read; starting afresh, so an event "
                              "may be said once more."])

    def to_json(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "keys": self.keys, "expiring": self.expiring, "failing": self.failing,
                "pools": self.pools}

    def save(self, path: Path | None = None) -> None:
        path = path or self.path()
        ensure_private_dir(path.parent)
        atomic_write(path, (json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n").encode(), mode=0o600)

    # ------------------------------------------------------------ the rule

    def poll(self, keys: list[CappedKey], failures: Mapping[str, str], asked: Iterable[str], now: datetime,
             at: Iterable[Decimal] = DEFAULT_AT) -> Poll:
        """Compare a fresh listing with what was said before; return the events to say now (and remember
        them). `failures`: platform -> why it could not be listed; `asked`: every platform polled."""
        thresholds = tuple(sorted(at))
        asked = list(asked)
        events: list[Event] = []
        for name in asked:
            if name in failures and name not in self.failing:
                self.failing[name] = iso(now) or ""
                events.append(Event("platform-failed", name, now, reason=clean_text(redact(failures[name]), 600)))
            elif name not in failures and name in self.failing:
                del self.failing[name]
                events.append(Event("platform-recovered", name, now))
        for name in list(self.failing):
            if name not in asked:
                del self.failing[name]  # no longer configured
        alerting = []
        for k in keys:
            events.extend(self._key(k, now, thresholds))
            events.extend(self._expiry(k, now))
            if watched(k, now) and reached(k.percent, thresholds):
                alerting.append(k)
        self._forget_gone(keys, failures, asked)
        return Poll(events, alerting, [n for n in asked if n in failures])

    def _key(self, k: CappedKey, now: datetime, thresholds: tuple[Decimal, ...]) -> list[Event]:
        records = self.keys.setdefault(k.platform, {})
        rec = records.get(k.id)
        window, spent = window_id(k, now), k.spent
        events = []
        if rec is not None:
            last = _decimal(rec.get("spent"))
            if rec.get("window") != window:
                start = window_start(k.limit_reset, now)
                not_yet = last > 0 and spent >= last and start is not None and now - start < RESET_GRACE
                if not_yet:
                    window = str(rec.get("window"))  # the platform has not reset yet: still the old window
                else:
                    if rec.get("fired"):
                        events.append(Event("reset", k.platform, now, k))
                    rec = None
            elif spent < last and rec.get("fired"):  # the platform reset before our clock said so
                events.append(Event("reset", k.platform, now, k))
                rec = {**rec, "fired": []}
        fired = {_decimal(t) for t in (rec or {}).get("fired", [])}
        if watched(k, now):
            now_reached = set(reached(k.percent, thresholds))
            new = now_reached - fired
            if new:
                top = max(new)
                events.append(Event("capped" if top >= CAP else "threshold", k.platform, now, k, top))
            fired = now_reached  # a threshold the key fell below (a raised cap) is armed again
        records[k.id] = {"window": window, "spent": str(spent), "fired": [str(t) for t in sorted(fired)]}
        return events

    def _expiry(self, k: CappedKey, now: datetime) -> list[Event]:
        if k.expires_at is None or k.disabled or not now < k.expires_at <= now + EXPIRY_NOTICE:
            return []
        said = self.expiring.setdefault(k.platform, {})
        stamp = iso(k.expires_at) or ""
        if said.get(k.id) == stamp:
            return []
        said[k.id] = stamp
        return [Event("expiring", k.platform, now, k)]

    def _forget_gone(self, keys: list[CappedKey], failures: Mapping[str, str], asked: list[str]) -> None:
        """Drop what is remembered of keys gone from a platform that answered, and of platforms no longer
        configured; a failing platform's keep theirs."""
        present = {(k.platform, k.id) for k in keys}
        for table in (self.keys, self.expiring):
            for name in list(table):
                if name not in asked:
                    del table[name]
                elif name not in failures:
                    for h in [h for h in table[name] if (name, h) not in present]:
                        del table[name][h]
                    if not table[name]:
                        del table[name]


def _decimal(value: Any) -> Decimal:
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)
    return d if d.is_finite() else Decimal(0)


def _dict_of_dicts(value: Any) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ValueError
    return {str(k): dict(v) for k, v in value.items()}

