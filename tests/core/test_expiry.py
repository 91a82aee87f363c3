"""Expiry rules in the core: `--expires` parsed (a duration or a UTC date), and the 7-day flag."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from capit_tui.core.durations import parse_expiry
from capit_tui.core.model import CappedKey

NOW = datetime(2026, 11, 21, 12, 0, 30, 250000, tzinfo=timezone.utc)


def test_a_duration_counts_from_now_in_whole_seconds():
    assert parse_expiry("30d", NOW) == datetime(2026, 12, 21, 12, 0, 30, tzinfo=timezone.utc)
    assert parse_expiry("12h", NOW) == datetime(2026, 11, 22, 0, 0, 30, tzinfo=timezone.utc)


def test_a_date_is_midnight_utc_that_day():
    assert parse_expiry("2027-01-31", NOW) == datetime(2027, 1, 31, tzinfo=timezone.utc)


@pytest.mark.parametrize("bad,says", [("2026-11-21", "not in the future"), ("2027-02-30", "not a date"),
                                      ("soon", "neither a duration nor a date"), ("2040-01-01", "too far ahead")])
def test_a_bad_expiry_says_why(bad, says):
    with pytest.raises(ValueError) as err:
        parse_expiry(bad, NOW)
    assert says in str(err.value)


def key(expires: datetime | None, **kw) -> CappedKey:
    return CappedKey("openrouter", "h", "k", expires_at=expires, **kw)


def test_a_key_expiring_within_7_days_is_flagged():
    assert key(NOW + timedelta(days=6)).flagged_status(NOW) == "expiring"
    assert key(NOW + timedelta(days=7)).expires_soon(NOW)
    assert key(NOW + timedelta(days=8)).flagged_status(NOW) == "active"
    assert key(NOW - timedelta(seconds=1)).flagged_status(NOW) == "expired"
    assert key(None).flagged_status(NOW) == "active"
    assert key(NOW + timedelta(days=1), disabled=True).flagged_status(NOW) == "disabled"
