"""Durations typed by a person, such as `30d`, `12h` or `2w` (`keys list --unused 30d`), and expiry
times (`--expires 30d` or `--expires 2027-01-31`)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_DURATION = re.compile(r"(\d{1,6})\s*(h|hours?|d|days?|w|weeks?)", re.IGNORECASE)
LONGEST = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    """'30d' -> 30 days; h, d and w (or hours, days, weeks); ValueError with one sentence otherwise."""
    shown = text.strip()[:40]
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"'{shown}' is not a duration: give a whole number and a unit, such as 30d, 12h or 2w.")
    age = int(m.group(1)) * _UNITS[m.group(2)[0].lower()]
    if not timedelta(0) < age <= LONGEST:
        raise ValueError(f"'{shown}' is out of range: give a duration from 1h to {LONGEST.days}d.")
    return age


def parse_expiry(text: str, now: datetime | None = None) -> datetime:
    """When a new key stops working: a duration from now (`30d`, `12h`, `2w`) or a UTC date (`2027-01-31`,
    the key expiring at 00:00 UTC that day). Whole seconds, UTC, in the future; ValueError (one sentence)
    otherwise."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    shown = text.strip()[:40]
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        try:
            day = date.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(f"'{shown}' is not a date: give it as YYYY-MM-DD, such as 2027-01-31.") from None
        when = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        if when <= now:
            raise ValueError(f"'{shown}' is not in the future: a key cannot be issued already expired.")
        if when - now > LONGEST:
            raise ValueError(f"'{shown}' is too far ahead: give a date within {LONGEST.days} days.")
        return when
    try:
        age = parse_duration(text)
    except ValueError:
        raise ValueError(f"'{shown}' is neither a duration nor a date: give one such as 30d, 12h, 2w or "
                         "2027-01-31 (UTC).") from None
    return (now + age).replace(microsecond=0)


def age_text(then: datetime | None, now: datetime) -> str:
    """How long ago `then` was, in one short unit: 'never', 'just now', '5m ago', '3h ago', '12d ago'
    ('in the future' reads 'just now': a clock a little ahead is not news)."""
    if then is None:
        return "never"
    seconds = int((now - then).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("d", 86_400), ("h", 3_600)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds // 60}m ago"
