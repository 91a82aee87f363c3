"""Durations typed by a person, such as `30d`, `12h` or `2w` (`keys list --unused 30d`)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

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
