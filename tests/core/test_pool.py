"""core.pool: one budget pooled across keys. Its spend in a window (the platform's per-window figures, or the
local history where a platform keeps one lifetime counter), its crossings once per window across restarts,
and, against a seeded sandbox on loopback with a clock moved through a day, its enforcement through
core.panic: stopped once at 100%, released once at the reset, a manual panic in between left as it is."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from capit_tui.core.history import History
from capit_tui.core.keys import Configured, lifetime_platforms, list_all_keys
from capit_tui.core.model import CappedKey
from capit_tui.core.panic import panic, undo_panic
from capit_tui.core.pool import DEFAULT_AT, Pool, check, enforced, one_per_period, parse_pool, pool_spend
from capit_tui.core.settings import PlatformConfig
from capit_tui.core.stops import PANIC, StopRecord
from capit_tui.core.watch import WatchState
from capit_tui.sandbox import Sandbox

WED = datetime(2026, 11, 18, 12, 0, tzinfo=timezone.utc)  # a Wednesday
DAY = timedelta(days=1)


def key(name, daily="0", weekly=None, monthly=None, usage=None, platform="openrouter", id_=None, **kw) -> CappedKey:
    d = Decimal(daily)
    w = Decimal(weekly) if weekly is not None else d
    m = Decimal(monthly) if monthly is not None else w
    return CappedKey(platform, id_ or f"h-{name}", name, usage_daily=d, usage_weekly=w, usage_monthly=m,
                     usage=Decimal(usage) if usage is not None else m, **kw)


def kinds(c) -> list[tuple[str, str | None]]:
    return [(e.kind, str(e.threshold) if e.threshold is not None else None) for e in c.events]


# ---------------------------------------------------------------- the user's choices


def test_parse_pool_takes_a_period_and_dollars():
    assert parse_pool("daily:20.00") == Pool("daily", Decimal("20.00"))
    assert parse_pool("Weekly:$300", "capit-*") == Pool("weekly", Decimal("300.00"), "capit-*")
    assert parse_pool("monthly:.5").by == "pool:monthly"


@pytest.mark.parametrize("bad", ["daily", "hourly:5", "daily:", "daily:abc", "daily:-5", "daily:0", "daily:5.001",
                                 ":5", "daily:200000"])
def test_parse_pool_refuses_anything_else_in_one_sentence(bad):
    with pytest.raises(ValueError, match="^--pool '") as e:
        parse_pool(bad)
    assert "\n" not in str(e.value)


def test_a_zero_pool_is_refused_in_a_pools_words_not_a_keys():
    with pytest.raises(ValueError) as e:
        parse_pool("daily:0")
    said = str(e.value)
    assert said.startswith("--pool 'daily:0': ") and "pool" in said.partition(": ")[2]
    assert "uncapped" not in said and "the key" not in said


@pytest.mark.parametrize("match", [r"capit-\u001b[31m*", r"capit-*\n", r"capit-\u009b2J*"])
def test_a_pool_match_in_settings_toml_follows_the_rule_of_pool_match(tmp_path, match):
    """settings.toml's `match` (a TOML escape, so the file itself is valid) is held to the rule --pool-match
    follows: a line of text with no control character (it reaches the terminal and --exec's environment)."""
    from capit_tui.core.pool import check_match
    from capit_tui.core.settings import SettingsError, parse

    with pytest.raises(ValueError):
        check_match(json.loads(f'"{match}"'))  # the --pool-match rule refuses it (these escapes mean the same in JSON)
    text = f'[[pool]]\nperiod = "daily"\namount = "20"\nmatch = "{match}"\n'
    with pytest.raises(SettingsError, match="pool.match"):
        parse(text, tmp_path / "settings.toml")


def test_an_unspent_pool_says_its_percent_with_one_decimal_like_any_other():
    from capit_tui.cli.watch_pool import describe
    from capit_tui.core.watch import Event

    spend = pool_spend(Pool("daily", Decimal(20)), [key("a", "0")], WED)
    assert str(spend.percent) == "0.0"
    said = describe(Event("pool-reset", "", WED, pool=spend))
    assert said == "The daily pool (every key) started a new daily window: $0.00 of $20.00 spent (0.0%) across 1 key."


def test_one_pool_per_period():
    with pytest.raises(ValueError, match="two daily pools"):
        one_per_period([parse_pool("daily:5"), parse_pool("weekly:9"), parse_pool("daily:6")])


# ---------------------------------------------------------------- the pooled spend


def test_the_pooled_spend_sums_each_pooled_keys_window_figure_for_the_pools_period():
    keys = [key("capit-a", "2", "5", "9"), key("capit-b", "1.5", "3", "4"), key("other", "7", "7", "7"),
            key("capit-off", "0.5", "1", "1", disabled=True)]  # a disabled key's spend was spent all the same
    daily = pool_spend(Pool("daily", Decimal(10), "capit-*"), keys, WED)
    assert (daily.spent, daily.keys, daily.percent) == (Decimal("4.0"), 3, Decimal("40.0"))
    assert pool_spend(Pool("weekly", Decimal(10), "capit-*"), keys, WED).spent == Decimal(9)
    assert pool_spend(Pool("monthly", Decimal(20)), keys, WED).spent == Decimal(21)  # every key: 105%
    assert pool_spend(Pool("monthly", Decimal(20)), keys, WED).percent == Decimal("105.0")
    assert pool_spend(Pool("daily", Decimal(10), "nothing-*"), keys, WED).spent == 0


def test_a_lifetime_platforms_window_spend_comes_from_the_history_and_a_new_key_counts_from_its_first_sample():
    history = History()
    try:
        gw_old = key("gw-old", usage="10", platform="gw")
        gw_new = key("gw-new", usage="3", platform="gw")
        history.record([gw_old], WED - DAY - timedelta(hours=1))  # yesterday, before today's window
        history.record([key("gw-old", usage="12", platform="gw")], WED - timedelta(hours=13))  # 23:00 yesterday
        history.record([key("gw-old", usage="13", platform="gw"), gw_new], WED - timedelta(hours=6))
        now = [key("gw-old", usage="15.5", platform="gw"), key("gw-new", usage="5", platform="gw"),
               key("or-a", "1.25")]
        s = pool_spend(Pool("daily", Decimal(10)), now, WED, lifetime={"gw"}, history=history)
    finally:
        history.close()
    # gw-old: 15.5 - 12 (the last sample at or before midnight); gw-new: 5 - 3 (its first sample, today)
    assert s.per_key == {"gw/h-gw-old": Decimal("3.5"), "gw/h-gw-new": Decimal(2), "openrouter/h-or-a": Decimal("1.25")}
    assert (s.spent, s.from_history, s.from_first) == (Decimal("6.75"), 2, 1)


def test_one_api_is_a_lifetime_platform_and_openrouter_is_not():
    cfg = [Configured(PlatformConfig("gw", "oneapi", "https://gw.example.com"), "env", "x"),
           Configured(PlatformConfig("openrouter", "openrouter", "https://openrouter.ai/api/v1"), "env", "y")]
    assert lifetime_platforms(cfg) == {"gw"}


# ---------------------------------------------------------------- crossings


def test_a_threshold_fires_once_per_window_across_restarts_and_the_next_window_rearms_it(tmp_path):
    pool = Pool("daily", Decimal(10), "capit-*")
    path = tmp_path / "watch-state.json"
    state = WatchState()

    def run(spent: str, now: datetime, state: WatchState):
        c = check(state.pools, pool_spend(pool, [key("capit-a", spent)], now), now, DEFAULT_AT)
        state.save(path)
        return c

    assert kinds(run("7", WED, state)) == []
    c = run("8.5", WED + timedelta(minutes=1), state)
    assert kinds(c) == [("pool-threshold", "80")] and c.alerting and not c.enforce
    state = WatchState.load(path)  # a restart
    assert kinds(run("9", WED + timedelta(minutes=2), state)) == [] and state.pools["daily"]["fired"] == ["80"]
    assert kinds(run("12", WED + timedelta(minutes=3), state)) == [("pool-capped", "100")]
    state = WatchState.load(path)
    assert kinds(run("12.5", WED + timedelta(minutes=4), state)) == []
    tomorrow = WED.replace(hour=0) + DAY + timedelta(minutes=30)
    c = run("0.5", tomorrow, state)
    assert kinds(c) == [("pool-reset", None)] and not c.alerting
    assert kinds(run("8", tomorrow + timedelta(hours=1), state)) == [("pool-threshold", "80")]


def test_just_after_midnight_a_spend_that_has_not_dropped_stays_in_the_old_window():
    pool = Pool("daily", Decimal(10))
    records: dict = {}
    check(records, pool_spend(pool, [key("a", "9")], WED), WED)
    midnight = WED.replace(hour=0) + DAY
    c = check(records, pool_spend(pool, [key("a", "9.2")], midnight + timedelta(minutes=2)), midnight + timedelta(minutes=2))
    assert kinds(c) == []  # the platform's clock has not reached midnight yet: no reset, no second alert
    c = check(records, pool_spend(pool, [key("a", "0")], midnight + timedelta(minutes=4)), midnight + timedelta(minutes=4))
    assert kinds(c) == [("pool-reset", None)]


def test_a_platform_that_resets_before_our_clock_is_a_reset_but_a_revoked_keys_spend_leaving_is_not():
    pool = Pool("daily", Decimal(10))
    records: dict = {}
    both = [key("a", "5"), key("b", "4")]
    assert kinds(check(records, pool_spend(pool, both, WED), WED)) == [("pool-threshold", "80")]
    only_a = [key("a", "5.5")]  # b was revoked: the sum fell to 55%, the keys seen both times did not
    c = check(records, pool_spend(pool, only_a, WED), WED)
    assert kinds(c) == [] and records["daily"]["fired"] == []  # below 80% now: armed again, no reset said
    c = check(records, pool_spend(pool, [key("a", "0.1")], WED), WED)
    assert kinds(c) == [] and records["daily"]["spent"] == "0.1"
    records["daily"]["fired"] = ["80"]
    c = check(records, pool_spend(pool, [key("a", "0")], WED), WED)
    assert kinds(c) == [("pool-reset", None)]


def test_pools_use_the_keys_thresholds_when_given():
    records: dict = {}
    s = pool_spend(Pool("weekly", Decimal(100)), [key("a", "1", "55")], WED)
    assert kinds(check(records, s, WED, (Decimal(50), Decimal(100)))) == [("pool-threshold", "50")]


# ---------------------------------------------------------------- enforcement, against a seeded sandbox


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _watch_poll(platforms, pool, state, now):
    """What `watch --pool ... --enforce` does on one poll, in process: the pool's check, then its stop or
    release through core.panic. Returns the event kinds and what was stopped / re-enabled."""
    listing = asyncio.run(list_all_keys(platforms))
    c = check(state.pools, pool_spend(pool, listing.keys, now), now, DEFAULT_AT, enforce=pool.enforce,
              held=StopRecord().load())
    stopped = released = None
    if c.release:
        released = asyncio.run(undo_panic(platforms, by=pool.by))
    if c.enforce:
        stopped = asyncio.run(panic(platforms, by=pool.by, only=pool.pools))
        enforced(state.pools, pool, stopped.complete)
    return [k for k, _ in kinds(c)], stopped, released


def test_a_seeded_sandbox_with_traffic_crossing_80_100_and_the_reset_stops_and_releases_once_each():
    clock = Clock(WED)
    with Sandbox(seed=5, seed_keys=12, clock=clock) as sb:
        platforms = [Configured(PlatformConfig("openrouter", "openrouter", sb.base_url), "env", sb.management_key)]
        agents = {n: sb.add_key(n, limit=50, reset="monthly")[1] for n in ("pool-claude", "pool-codex", "pool-aider")}
        before = {h for h, k in sb.keys.items() if k["disabled"]}
        pool = Pool("daily", Decimal(20), "pool-*", enforce=True)
        state = WatchState()
        seen, stops, releases = [], [], []
        for minute in range(0, 24 * 60 + 90, 30):  # a day and a half, a poll every 30 minutes
            clock.at = WED.replace(hour=0) + timedelta(minutes=minute)
            for i, h in enumerate(agents.values()):  # traffic on the keys still enabled
                if not sb.keys[h]["disabled"] and minute < 20 * 60:
                    sb.spend(h, Decimal("0.25") * (i + 1))
            kinds_, stopped, released = _watch_poll(platforms, pool, state, clock.at)
            seen += kinds_
            if stopped is not None:
                stops.append((clock.at, stopped.done))
                assert {h for h, k in sb.keys.items() if k["disabled"]} == before | set(agents.values())
            if released is not None:
                releases.append((clock.at, released.done))
        assert seen == ["pool-threshold", "pool-capped", "pool-reset"]
        assert len(stops) == 1 and stops[0][1] == 3 and stops[0][0].date() == WED.date()
        assert len(releases) == 1 and releases[0] == (WED.replace(hour=0) + DAY, 3)
        assert {h for h, k in sb.keys.items() if k["disabled"]} == before  # the seeded keys were never touched
        assert StopRecord().load() == []


def test_a_manual_panic_between_the_stop_and_the_reset_is_not_undone_by_the_pool():
    clock = Clock(WED)
    with Sandbox(seed=6, clock=clock) as sb:
        platforms = [Configured(PlatformConfig("openrouter", "openrouter", sb.base_url), "env", sb.management_key)]
        a = sb.add_key("pool-a", limit=50, reset="daily", spend="12")[1]
        b = sb.add_key("pool-b", limit=50, reset="daily", spend="9")[1]
        other = sb.add_key("other", limit=50, reset="daily", spend="1")[1]
        pool = Pool("daily", Decimal(20), "pool-*", enforce=True)
        state = WatchState()
        kinds_, stopped, _ = _watch_poll(platforms, pool, state, clock.at)
        assert kinds_ == ["pool-capped"] and stopped is not None and stopped.done == 2
        manual = asyncio.run(panic(platforms))  # by hand: 'other' disabled, the pool's keys held by both
        assert [k.id for t in manual.tallies for k in t.done] == [other]
        clock.at = WED + DAY
        kinds_, stopped, released = _watch_poll(platforms, pool, state, clock.at)
        assert kinds_ == ["pool-reset"] and stopped is None and released is not None
        assert released.done == 0 and sorted(why for t in released.tallies for _, why in t.left) == ["held:panic"] * 2
        assert all(sb.keys[h]["disabled"] for h in (a, b, other))
        assert {(s.id, s.by) for s in StopRecord().load()} == {(a, PANIC), (b, PANIC), (other, PANIC)}
        assert _watch_poll(platforms, pool, state, clock.at + timedelta(minutes=5))[1:] == (None, None)  # once
        asyncio.run(undo_panic(platforms))
        assert not any(sb.keys[h]["disabled"] for h in (a, b, other))


def test_a_stop_that_did_not_complete_is_tried_again_on_the_next_poll():
    clock = Clock(WED)
    with Sandbox(seed=7, clock=clock) as sb:
        platforms = [Configured(PlatformConfig("openrouter", "openrouter", sb.base_url), "env", sb.management_key)]
        a = sb.add_key("pool-a", limit=50, reset="daily", spend="25")[1]
        sb.inject_fault(f"PATCH /api/v1/keys/{a}", "500", times=0)
        pool = Pool("daily", Decimal(20), "pool-*", enforce=True)
        state = WatchState()
        _, stopped, _ = _watch_poll(platforms, pool, state, clock.at)
        assert stopped is not None and not stopped.complete and state.pools["daily"]["enforced"] == "partial"
        sb.clear_faults()
        _, stopped, _ = _watch_poll(platforms, pool, state, clock.at + timedelta(minutes=1))
        assert stopped is not None and stopped.done == 1 and sb.keys[a]["disabled"]
        assert state.pools["daily"]["enforced"] == "done"
        assert _watch_poll(platforms, pool, state, clock.at + timedelta(minutes=2))[1] is None


def test_keys_the_pool_stopped_in_an_earlier_window_are_released_even_when_the_watch_state_was_lost():
    clock = Clock(WED)
    with Sandbox(seed=8, clock=clock) as sb:
        platforms = [Configured(PlatformConfig("openrouter", "openrouter", sb.base_url), "env", sb.management_key)]
        a = sb.add_key("pool-a", limit=50, reset="daily", spend="25")[1]
        pool = Pool("daily", Decimal(20), "pool-*", enforce=True)
        _watch_poll(platforms, pool, WatchState(), clock.at)
        assert sb.keys[a]["disabled"]
        record = StopRecord()
        stops = record.load()
        for s in stops:
            s.at = "2026-11-18T12:00:00Z"  # stopped on the day the clock says (the real clock stamped it)
        record.save(stops)
        clock.at = WED + DAY
        kinds_, _, released = _watch_poll(platforms, pool, WatchState(), clock.at)  # a fresh state file
        assert kinds_ == [] and released is not None and released.done == 1 and not sb.keys[a]["disabled"]
