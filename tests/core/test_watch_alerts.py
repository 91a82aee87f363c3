"""core.watch: the events `capit-tui watch` says, against a seeded clock (no network, real files)."""

from __future__ import annotations

import json
import stat
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from capit_tui.core.model import CappedKey
from capit_tui.core.watch import (
    WatchState,
    check_webhook,
    exec_argv,
    hook_environment,
    parse_at,
    webhook_body,
    window_start,
)

WED = datetime(2026, 11, 18, 12, 0, tzinfo=timezone.utc)  # a Wednesday
SECRET = "sk-or-v1-" + "ab" * 32


def key(spent, limit="10", reset="daily", id_="h1", platform="openrouter", name="ci-bot", **kw) -> CappedKey:
    lim = Decimal(limit) if limit is not None else None
    spent = Decimal(spent)
    usage = {"usage_daily": spent, "usage_weekly": spent, "usage_monthly": spent, "usage": spent}
    left = None if lim is None else max(lim - spent, Decimal(0))
    return CappedKey(platform, id_, name, limit=lim, limit_reset=reset, limit_remaining=left, **usage, **kw)


def kinds(poll) -> list[tuple[str, str | None]]:
    return [(e.kind, str(e.threshold) if e.threshold is not None else None) for e in poll.events]


def poll(state, keys, now, failures=None, asked=("openrouter",), at=None):
    return state.poll(keys, failures or {}, list(asked), now, at if at is not None else parse_at("50,80,100"))


# ---------------------------------------------------------------- the user's choices


def test_parse_at_sorts_dedupes_and_always_watches_the_cap():
    assert parse_at("80,50,80") == (Decimal(50), Decimal(80), Decimal(100))
    assert [str(t) for t in parse_at(" 62.5% , 90")] == ["62.5", "90", "100"]
    assert [str(t) for t in parse_at("100")] == ["100"]


@pytest.mark.parametrize("bad", ["", ",", "abc", "0", "-5", "101", "nan", "inf", "50,,x"])
def test_parse_at_refuses_what_is_not_a_percent_of_the_cap(bad):
    with pytest.raises(ValueError, match="--at"):
        parse_at(bad)


def test_window_starts_at_midnight_utc_monday_and_the_first():
    sunday_late = datetime(2026, 11, 22, 23, 59, tzinfo=timezone.utc)
    assert window_start("daily", WED) == datetime(2026, 11, 18, tzinfo=timezone.utc)
    assert window_start("weekly", WED) == datetime(2026, 11, 16, tzinfo=timezone.utc)  # Monday
    assert window_start("weekly", sunday_late) == datetime(2026, 11, 16, tzinfo=timezone.utc)
    assert window_start("weekly", sunday_late + timedelta(minutes=1)) == datetime(2026, 11, 23, tzinfo=timezone.utc)
    assert window_start("monthly", WED) == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert window_start(None, WED) is None


# ---------------------------------------------------------------- thresholds


def test_each_threshold_fires_once_as_the_spend_climbs():
    s = WatchState()
    assert kinds(poll(s, [key("4")], WED)) == [] and poll(s, [key("4")], WED).alerting == []
    p = poll(s, [key("5.5")], WED + timedelta(minutes=1))
    assert kinds(p) == [("threshold", "50")] and [k.id for k in p.alerting] == ["h1"]
    assert kinds(poll(s, [key("6")], WED + timedelta(minutes=2))) == []
    assert kinds(poll(s, [key("8.5")], WED + timedelta(minutes=3))) == [("threshold", "80")]
    assert kinds(poll(s, [key("10")], WED + timedelta(minutes=4))) == [("capped", "100")]
    p = poll(s, [key("10.4")], WED + timedelta(minutes=5))  # the overshoot past the cap says nothing more
    assert kinds(p) == [] and [k.id for k in p.alerting] == ["h1"]


def test_a_jump_past_several_thresholds_is_one_event_the_highest():
    s = WatchState()
    poll(s, [key("1")], WED)
    assert kinds(poll(s, [key("10")], WED + timedelta(minutes=1))) == [("capped", "100")]
    assert kinds(poll(s, [key("10")], WED + timedelta(minutes=2))) == []


def test_a_key_already_past_a_threshold_at_the_first_poll_is_said():
    assert kinds(poll(WatchState(), [key("9")], WED)) == [("threshold", "80")]


def test_uncapped_disabled_and_expired_keys_never_alert():
    s = WatchState()
    keys = [key("50", limit=None, id_="open"), key("9", id_="off", disabled=True),
            key("9", id_="gone", expires_at=WED - timedelta(days=1))]
    p = poll(s, keys, WED)
    assert kinds(p) == [] and p.alerting == []


def test_a_raised_cap_rearms_the_thresholds_silently():
    s = WatchState()
    assert kinds(poll(s, [key("8.5")], WED)) == [("threshold", "80")]
    assert kinds(poll(s, [key("8.5", limit="20")], WED + timedelta(minutes=1))) == []  # 42.5%: no event
    assert kinds(poll(s, [key("17", limit="20")], WED + timedelta(minutes=2))) == [("threshold", "80")]


# ---------------------------------------------------------------- windows and resets


def test_a_new_day_resets_a_daily_key_and_rearms_it():
    s = WatchState()
    assert kinds(poll(s, [key("8.5")], WED)) == [("threshold", "80")]
    next_day = WED + timedelta(hours=13)  # 01:00 on Thursday
    p = poll(s, [key("0")], next_day)
    assert kinds(p) == [("reset", None)] and p.events[0].key.spent == 0
    assert kinds(poll(s, [key("8.5")], next_day + timedelta(hours=1))) == [("threshold", "80")]


def test_a_new_window_of_a_key_that_alerted_nothing_says_nothing():
    s = WatchState()
    poll(s, [key("1")], WED)
    assert kinds(poll(s, [key("0")], WED + timedelta(days=1))) == []


def test_a_weekly_key_keeps_its_window_until_monday():
    s = WatchState()
    assert kinds(poll(s, [key("9", reset="weekly")], WED)) == [("threshold", "80")]
    sunday = datetime(2026, 11, 22, 18, tzinfo=timezone.utc)
    assert kinds(poll(s, [key("9", reset="weekly")], sunday)) == []  # same week: not said again
    monday = datetime(2026, 11, 23, 9, tzinfo=timezone.utc)
    assert kinds(poll(s, [key("0.5", reset="weekly")], monday)) == [("reset", None)]


def test_just_after_midnight_a_platform_that_has_not_reset_yet_does_not_alert_twice():
    s = WatchState()
    late = datetime(2026, 11, 18, 23, 58, tzinfo=timezone.utc)
    assert kinds(poll(s, [key("10")], late)) == [("capped", "100")]
    # our clock passed midnight, the platform's has not: same spend, so still yesterday's window
    assert kinds(poll(s, [key("10")], late + timedelta(minutes=4))) == []
    assert kinds(poll(s, [key("0")], late + timedelta(minutes=6))) == [("reset", None)]
    assert kinds(poll(s, [key("10")], late + timedelta(hours=2))) == [("capped", "100")]


def test_the_spend_dropping_within_our_window_is_a_reset():
    """The platform reset before our clock said so (or a one-api quota was topped up): the spend fell."""
    s = WatchState()
    assert kinds(poll(s, [key("9", reset=None)], WED)) == [("threshold", "80")]
    assert kinds(poll(s, [key("1", reset=None)], WED + timedelta(minutes=1))) == [("reset", None)]
    assert kinds(poll(s, [key("9", reset=None)], WED + timedelta(minutes=2))) == [("threshold", "80")]


def test_a_lifetime_cap_never_resets_with_the_clock():
    s = WatchState()
    assert kinds(poll(s, [key("9", reset=None)], WED)) == [("threshold", "80")]
    assert kinds(poll(s, [key("9", reset=None)], WED + timedelta(days=40))) == []


# ---------------------------------------------------------------- expiry


def test_expiring_soon_is_said_once_per_expiry_date():
    s = WatchState()
    soon = key("0", id_="soon", expires_at=WED + timedelta(days=3))
    later = key("0", id_="later", expires_at=WED + timedelta(days=10))
    past = key("0", id_="past", expires_at=WED - timedelta(hours=1))
    p = poll(s, [soon, later, past], WED)
    assert [(e.kind, e.key.id) for e in p.events] == [("expiring", "soon")]
    assert kinds(poll(s, [soon, later, past], WED + timedelta(hours=1))) == []
    p = poll(s, [soon, later, past], WED + timedelta(days=3, hours=1))  # `later` is now 7 days away
    assert [(e.kind, e.key.id) for e in p.events] == [("expiring", "later")]
    moved = key("0", id_="soon", expires_at=WED + timedelta(days=5))  # rotated/reissued with a new date
    p = poll(WatchState(), [moved], WED)
    assert [(e.kind, e.key.id) for e in p.events] == [("expiring", "soon")]


# ---------------------------------------------------------------- platforms


def test_a_platform_failing_then_recovering_is_said_once_each_and_keeps_its_keys():
    s = WatchState()
    asked = ("openrouter", "gw")
    poll(s, [key("9"), key("9", platform="gw", reset=None, id_="g1")], WED, asked=asked)
    reason = f"gw had a server error \x1b[31m (500) Bearer {SECRET}"
    p = poll(s, [key("9")], WED + timedelta(minutes=1), failures={"gw": reason}, asked=asked)
    assert kinds(p) == [("platform-failed", None)] and p.failed == ["gw"]
    said = p.events[0].reason
    assert "\x1b" not in said and SECRET not in said and "server error" in said
    assert s.keys["gw"] == {"g1": {"window": "lifetime", "spent": "9", "fired": ["50", "80"]}}  # kept
    assert kinds(poll(s, [key("9")], WED + timedelta(minutes=2), failures={"gw": reason}, asked=asked)) == []
    back = [key("9"), key("9", platform="gw", reset=None, id_="g1")]
    p = poll(s, back, WED + timedelta(minutes=3), asked=asked)
    assert kinds(p) == [("platform-recovered", None)] and p.events[0].platform == "gw"  # and no repeat of 80%


def test_keys_gone_from_a_platform_that_answered_are_forgotten():
    s = WatchState()
    poll(s, [key("9", id_="a"), key("9", id_="b")], WED)
    poll(s, [key("9", id_="a")], WED + timedelta(minutes=1))
    assert set(s.keys["openrouter"]) == {"a"}


# ---------------------------------------------------------------- the state file


def test_what_was_said_survives_a_restart(tmp_path):
    path = tmp_path / "data" / "watch-state.json"
    s = WatchState()
    keys = [key("8.5"), key("0", id_="x", expires_at=WED + timedelta(days=2))]
    assert kinds(poll(s, keys, WED)) == [("threshold", "80"), ("expiring", None)]
    assert kinds(poll(s, keys, WED, failures={"gw": "down"}, asked=("openrouter", "gw"))) == [
        ("platform-failed", None)]
    s.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = WatchState.load(path)
    assert again.notes == []
    later = WED + timedelta(minutes=5)
    p = poll(again, keys, later, failures={"gw": "down"}, asked=("openrouter", "gw"))
    assert kinds(p) == []  # neither the threshold, nor the expiry, nor the failing platform again
    assert kinds(poll(again, [key("10")], later)) == [("capped", "100")]


@pytest.mark.parametrize("content", [b"{not json", b'{"version": 99}', b'[1, 2]', b'{"version": 1, "keys": [1]}'])
def test_an_unreadable_state_file_starts_afresh_with_a_note(tmp_path, content):
    path = tmp_path / "watch-state.json"
    path.write_bytes(content)
    s = WatchState.load(path)
    assert s.keys == {} and len(s.notes) == 1 and "starting afresh" in s.notes[0]
    assert kinds(poll(s, [key("9")], WED)) == [("threshold", "80")]


def test_a_missing_state_file_is_an_empty_state(tmp_path):
    s = WatchState.load(tmp_path / "nothing.json")
    assert s.keys == {} and s.notes == []
    s.save(tmp_path / "new" / "watch-state.json")
    assert json.loads((tmp_path / "new" / "watch-state.json").read_text())["version"] == 1


# ---------------------------------------------------------------- actions


def test_the_hook_environment_carries_the_event_and_no_secret():
    s = WatchState()
    (event,) = poll(s, [key("8.5", expires_at=WED + timedelta(days=30))], WED).events
    base = {"PATH": "/usr/bin", "CAPIT_OPENROUTER_MANAGEMENT_KEY": SECRET, "CAPIT_GW_MANAGEMENT_KEY": "x" * 40,
            "MY_COPY": f"token={SECRET}", "CAPIT_EVENT": "stale", "HOME": "/home/me"}
    env = hook_environment(base, event, [SECRET])
    assert env["PATH"] == "/usr/bin" and env["HOME"] == "/home/me"
    assert SECRET not in json.dumps(env) and "CAPIT_GW_MANAGEMENT_KEY" not in env and "MY_COPY" not in env
    assert {k: env[k] for k in ("CAPIT_EVENT", "CAPIT_KEY_NAME", "CAPIT_KEY_HASH", "CAPIT_PLATFORM", "CAPIT_PERCENT",
                                "CAPIT_SPENT", "CAPIT_LIMIT", "CAPIT_THRESHOLD", "CAPIT_RESET")} == {
        "CAPIT_EVENT": "threshold", "CAPIT_KEY_NAME": "ci-bot", "CAPIT_KEY_HASH": "h1", "CAPIT_PLATFORM": "openrouter",
        "CAPIT_PERCENT": "85.0", "CAPIT_SPENT": "8.50", "CAPIT_LIMIT": "10.00", "CAPIT_THRESHOLD": "80",
        "CAPIT_RESET": "daily"}
    assert env["CAPIT_EXPIRES_AT"] == "2026-12-18T12:00:00Z" and env["CAPIT_TIME"] == "2026-11-18T12:00:00Z"


def test_exec_runs_without_a_shell_unless_the_command_needs_one():
    assert exec_argv("notify-send 'capit alert' --urgency=critical") == [
        "notify-send", "capit alert", "--urgency=critical"]
    for needs in ("echo $CAPIT_EVENT >> /tmp/x", "a | b", "a; b", "a && b", "ls *.json", "X=1 cmd", "cat ~/f"):
        assert exec_argv(needs) == ["/bin/sh", "-c", needs]
    with pytest.raises(ValueError, match="--exec"):
        exec_argv("   ")


def test_a_webhook_is_https_off_loopback_and_the_refusal_never_shows_the_url():
    assert check_webhook("https://hooks.slack.com/services/T0/B0/sekrit") == "https://hooks.slack.com/services/T0/B0/sekrit"
    assert check_webhook("http://127.0.0.1:9/hook").startswith("http://127.0.0.1")
    assert check_webhook("http://localhost/hook")
    with pytest.raises(ValueError) as refused:
        check_webhook("http://hooks.example.com/services/sekrit")
    assert "hooks.example.com" in str(refused.value) and "sekrit" not in str(refused.value)
    for bad in ("ftp://x/y", "hooks.slack.com/x", "file:///etc/passwd"):
        with pytest.raises(ValueError):
            check_webhook(bad)


def test_the_webhook_text_cannot_ping_a_channel():
    s = WatchState()
    (event,) = poll(s, [key("9", name="<!channel> & co")], WED).events
    body = webhook_body(event, "'<!channel> & co' passed 80%")
    assert body["text"] == "'&lt;!channel&gt; &amp; co' passed 80%"
    assert body["event"]["event"] == "threshold" and body["event"]["key_name"] == "<!channel> & co"
