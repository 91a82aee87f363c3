"""The spend history (core.history) against a seeded clock: samples, downsampling as they age, the size
bound, the burn rate and the projection. Real SQLite files in the test's data dir."""

from __future__ import annotations

import sqlite3
import stat
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from capit_tui.core import lock
from capit_tui.core.history import (
    Burn,
    History,
    Sample,
    burn_rate,
    next_reset,
    project,
    record_quietly,
)
from capit_tui.core.model import CappedKey

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)  # a Monday, midnight UTC


def key(usage: Decimal | str, *, ident: str = "a" * 64, limit: str | None = "10", reset: str | None = "monthly",
        spent: Decimal | str | None = None, name: str = "k") -> CappedKey:
    usage = Decimal(usage)
    window = Decimal(spent) if spent is not None else usage
    return CappedKey("openrouter", ident, name, limit=Decimal(limit) if limit else None, limit_reset=reset,
                     usage=usage, usage_monthly=window, usage_daily=window, usage_weekly=window)


@pytest.fixture
def history(tmp_path, monkeypatch) -> History:
    monkeypatch.setenv("CAPIT_DATA_DIR", str(tmp_path / "data"))
    return History()


def test_a_sample_keeps_the_window_spend_and_the_lifetime_total_in_the_data_dir(history, tmp_path):
    history.record([key("1.5", spent="0.25")], T0)
    (s,) = history.samples("openrouter", "a" * 64)
    assert s == Sample(T0, Decimal("0.25"), Decimal("1.5"))
    assert history.path == tmp_path / "data" / "history.sqlite3"
    assert stat.S_IMODE(history.path.stat().st_mode) == 0o600
    with sqlite3.connect(history.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reading_an_empty_history_makes_no_file(history):
    assert history.samples("openrouter", "x") == [] and history.count() == 0
    assert not history.path.exists()


def test_every_refresh_is_kept_for_a_day_then_hourly_then_daily(history):
    usage = Decimal(0)
    t = T0
    end = T0 + timedelta(days=33)
    while t <= end:  # a key spending a little every 10 minutes for 33 days
        usage += Decimal("0.01")
        history.record([key(usage)], t)
        t += timedelta(minutes=10)
    now = t - timedelta(minutes=10)
    history.compact(now)  # record() compacts once an hour: up to an hour of aged samples may wait for it
    got = history.samples("openrouter", "a" * 64)
    day_ago, month_ago = now - timedelta(days=1), now - timedelta(days=30)
    recent = [s for s in got if s.at >= day_ago]
    hourly = [s for s in got if month_ago <= s.at < day_ago]
    daily = [s for s in got if s.at < month_ago]
    assert len(recent) == 6 * 24 + 1  # every sample of the last day, both ends in
    hours = [s.at.replace(minute=0) for s in hourly]
    assert len(hours) == len(set(hours))  # one sample an hour
    assert all(s.at.minute == 50 for s in hourly)  # the hour's last: running totals lose nothing
    days = [s.at.date() for s in daily]
    assert len(days) == len(set(days)) and all((s.at.hour, s.at.minute) == (23, 50) for s in daily)
    assert got[-1].usage == usage  # the newest sample is the newest total
    assert len(hourly) == 24 * 29 and len(daily) == 3  # [day 3, day 32) hourly; days 0-2 daily


def test_a_flat_run_keeps_its_first_and_latest_sample(history):
    for i in range(100):
        history.record([key("2")], T0 + timedelta(seconds=30 * i))
    got = history.samples("openrouter", "a" * 64)
    assert [s.at for s in got] == [T0, T0 + timedelta(seconds=30 * 99)]
    history.record([key("2.5")], T0 + timedelta(hours=1))
    assert [s.usage for s in history.samples("openrouter", "a" * 64)] == [2, 2, Decimal("2.5")]


def test_size_is_bounded_for_busy_keys_over_a_simulated_week_at_30_seconds(history):
    """A week of 10 busy keys polled every 30 s: the rows the rule keeps, not one per poll (a year of 100
    keys is bench/history_size.py's: too slow for a test)."""
    n = 10
    keys = [f"{i:064x}" for i in range(n)]
    t = T0
    polls = 0
    while t < T0 + timedelta(days=7):
        # every 30 s for the last day; earlier, only the hour's last poll survives compaction, so polling
        # every 30 s there would only be slower, not bigger (the test above shows it)
        recent = t >= T0 + timedelta(days=6)
        history.record([key(Decimal(polls) / 100, ident=k) for k in keys], t)
        polls += 1
        t += timedelta(seconds=30) if recent else timedelta(hours=1)
    rows = history.count()
    assert n * 2880 <= rows <= n * (2880 + 1 + 24 * 6)  # the last day whole, hourly before
    assert history.path.stat().st_size < 3 * 1024 * 1024


def test_a_renamed_key_is_known_by_its_new_name_and_a_gone_key_stays_listed(history):
    history.record([key("1", name="old"), key("1", ident="b" * 64, name="other")], T0)
    history.record([key("2", name="new")], T0 + timedelta(hours=1))
    seen = {(s.key_id[:1], s.name) for s in history.keys_seen(T0)}
    assert seen == {("a", "new"), ("b", "other")}
    assert [s.key_id for s in history.keys_seen(T0 + timedelta(minutes=30))] == ["a" * 64]


def test_record_waits_for_the_lock_and_a_busy_lock_only_drops_the_sample(history):
    import threading

    result: list[str | None] = []
    with lock.held("installing"):
        t = threading.Thread(target=lambda: result.append(record_quietly([key("1")], T0, History())))
        t.start()
        t.join(timeout=30)
    # another thread of this process holds it: the writer waits like another process, and gives up
    # after its bound when the holder keeps it
    assert result and "not updated" in (result[0] or "") and "another capit-tui" not in (result[0] or "x")
    assert record_quietly([key("1")], T0, history) is None
    assert history.count() == 1


def test_a_damaged_history_file_does_not_fail_the_caller(history):
    history.path.parent.mkdir(parents=True)
    history.path.write_bytes(b"not a database at all" * 100)
    reason = record_quietly([key("1")], T0, history)
    assert reason is not None and reason.startswith("The spend history was not updated")


# ---------------------------------------------------------------- burn rate and projection


def samples(*points: tuple[float, str]) -> list[Sample]:
    """(hours after T0, lifetime usage) -> samples."""
    return [Sample(T0 + timedelta(hours=h), Decimal(u), Decimal(u)) for h, u in points]


def test_burn_rate_over_the_last_hour_and_the_last_day():
    s = samples((0, "0"), (12, "1.20"), (23, "2.00"), (23.5, "2.25"), (24, "2.50"))
    burn = burn_rate(s, T0 + timedelta(hours=24))
    assert burn.last_hour == Decimal("0.5000")  # 2.00 -> 2.50 over the hour
    assert burn.last_day == Decimal("0.1042")  # 0 -> 2.50 over 24 h


def test_burn_rate_needs_enough_history_and_a_recent_sample():
    assert burn_rate([], T0) == Burn(None, None)
    assert burn_rate(samples((0, "1")), T0) == Burn(None, None)
    two_minutes = [Sample(T0, Decimal(0), Decimal(0)), Sample(T0 + timedelta(minutes=2), Decimal(1), Decimal(1))]
    assert burn_rate(two_minutes, T0 + timedelta(minutes=2)).last_hour is None  # 2 min: too short to say
    ten = [two_minutes[0], Sample(T0 + timedelta(minutes=10), Decimal(1), Decimal(1))]
    assert burn_rate(ten, T0 + timedelta(minutes=10)).last_hour == Decimal("6.0000")  # partial hour: its span
    assert burn_rate(ten, T0 + timedelta(hours=5)).last_hour is None  # the newest sample is 5 h old


def test_a_window_reset_is_not_negative_spend():
    """The window spend drops at a reset; the burn rate reads the lifetime total, which never drops."""
    s = [Sample(T0, Decimal("4.00"), Decimal("10")), Sample(T0 + timedelta(hours=1), Decimal("0.50"), Decimal("11"))]
    assert burn_rate(s, T0 + timedelta(hours=1)).last_hour == Decimal("1.0000")


def test_next_reset_is_midnight_utc_monday_or_the_first():
    wed = datetime(2026, 11, 25, 15, 30, tzinfo=timezone.utc)
    assert next_reset("daily", wed) == datetime(2026, 11, 26, tzinfo=timezone.utc)
    assert next_reset("weekly", wed) == datetime(2026, 11, 30, tzinfo=timezone.utc)
    assert next_reset("monthly", wed) == datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert next_reset("monthly", datetime(2026, 12, 31, 23, tzinfo=timezone.utc)) == datetime(2027, 1, 1,
                                                                                               tzinfo=timezone.utc)
    assert next_reset(None, wed) is None


def test_projection_says_when_the_cap_is_reached_or_that_the_window_resets_first():
    now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    k = key("7", limit="10", reset="monthly")  # $3 left
    assert project(k, Burn(Decimal(1), None), now).describe() == "cap in ~3 h"
    assert project(k, Burn(None, Decimal("0.05")), now).describe() == "cap in ~2 d"  # the day's rate: 60 h
    assert project(k, Burn(Decimal(12), None), now).describe() == "cap in ~15 min"
    assert project(k, Burn(Decimal("0.02"), None), now).describe() == "resets before cap"  # 150 h; resets in 132 h
    assert project(k, Burn(Decimal("0.025"), None), now).describe() == "cap in ~5 d"  # 120 h < 132 h
    daily = key("7", limit="10", reset="daily")
    assert project(daily, Burn(Decimal(1), None), now).describe() == "cap in ~3 h"
    assert project(daily, Burn(Decimal("0.2"), None), now).describe() == "resets before cap"  # 15 h > 12 h
    assert project(k, Burn(Decimal(0), None), now).describe() == "not spending"
    assert project(k, Burn(None, None), now).describe() == "-"
    assert project(key("10", limit="10"), Burn(Decimal(1), None), now).describe() == "at cap"
    assert project(key("10", limit=None), Burn(Decimal(1), None), now).describe() == "no cap"
    never = key("7", limit="10", reset=None)
    assert project(never, Burn(Decimal("0.01"), None), now).describe() == "cap in ~12 d"


def test_burn_rate_and_projection_from_recorded_samples(history):
    """The whole path: a refresh every 30 s, a key spending $0.50 an hour, its $10 daily cap $6 away."""
    usage = Decimal(4)
    t = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)
    for _ in range(240):  # two hours
        history.record([key(usage, reset="daily")], t)
        usage += Decimal("0.5") / 120
        t += timedelta(seconds=30)
    now = t - timedelta(seconds=30)
    burn = burn_rate(history.samples("openrouter", "a" * 64), now)
    assert burn.last_hour == Decimal("0.5000")
    assert project(key(usage - Decimal("0.5") / 120, reset="daily"), burn, now).describe() == "cap in ~10 h"


def test_burn_points_give_the_same_rates_as_every_sample(history):
    """record_and_rate() reads only the samples a rate needs; the rates are those of the whole history."""
    import random

    from capit_tui.core.history import record_and_rate

    rng = random.Random(5)
    keys = [f"{i:064x}" for i in range(6)]
    usage = {k: Decimal(0) for k in keys}
    t = T0
    for step in range(400):  # 50 hours of irregular polls, some keys idle for stretches
        for k in keys:
            if rng.random() < 0.6:
                usage[k] += Decimal(rng.randint(1, 90)) / 1000
        live = [key(usage[k], ident=k) for k in keys if not (k == keys[0] and 100 < step < 300)]
        rates = record_and_rate(live, t, history)
        t += timedelta(seconds=rng.choice((30, 60, 300, 900)))
    for now in (t - timedelta(seconds=1), t - timedelta(hours=7, minutes=3), T0 + timedelta(hours=26)):
        fast = history.burn_points(now)
        for k in keys:
            whole = burn_rate(history.samples("openrouter", k), now)
            assert burn_rate(fast.get(("openrouter", k), []), now) == whole, (k, now)
    assert rates and any(b.last_hour for b in rates.values())
