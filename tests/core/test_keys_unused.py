"""`keys list --unused AGE` and the last-use and expiry fields of `keys list --json`: capit-tui run as a
subprocess against the sandbox; and the duration parser the flag uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from capit_tui.core.durations import parse_duration
from capit_tui.sandbox import Sandbox


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


def cli(sb: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CAPIT_OPENROUTER_BASE_URL=sb.base_url, CAPIT_OPENROUTER_MANAGEMENT_KEY=sb.management_key)
    proc = subprocess.run([sys.executable, "-m", "capit_tui", *args], capture_output=True, text=True, env=env,
                          timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def used_at(sb: Sandbox, key_hash: str, when: datetime) -> None:
    sb.set_clock(lambda: when)
    try:
        sb.spend(key_hash, "0.01")
    finally:
        sb.set_clock(None)


def rows(sb: Sandbox, *args: str) -> dict[str, dict]:
    p = cli(sb, "keys", "list", "--json", *args)
    assert p.returncode == 0, p.stderr
    return {k["name"]: k for k in json.loads(p.stdout)}


def test_json_rows_carry_last_use_and_expiry(sandbox):
    now = datetime.now(timezone.utc)
    _, used = sandbox.add_key("used", limit=1)
    used_at(sandbox, used, now - timedelta(hours=3))
    sandbox.add_key("never-used", limit=1)
    sandbox.add_key("gone", limit=1, expires_at=now - timedelta(days=2))
    got = rows(sandbox)
    assert got["used"]["last_used_at"] == sandbox.keys[used]["last_used_at"] is not None
    assert datetime.fromisoformat(got["used"]["last_used_at"].replace("Z", "+00:00")) == now - timedelta(hours=3)
    assert got["never-used"]["last_used_at"] is None
    assert got["gone"]["expired"] is True and got["gone"]["status"] == "expired"
    assert got["used"]["expired"] is False and got["used"]["expires_at"] is None


def test_unused_lists_keys_not_used_in_that_long(sandbox):
    now = datetime.now(timezone.utc)
    _, fresh = sandbox.add_key("fresh", limit=1)
    used_at(sandbox, fresh, now - timedelta(days=2))
    _, stale = sandbox.add_key("stale", limit=1)
    used_at(sandbox, stale, now - timedelta(days=40))
    sandbox.add_key("never", limit=1)
    assert set(rows(sandbox, "--unused", "30d")) == {"stale", "never"}
    assert set(rows(sandbox, "--unused", "6w")) == {"never"}
    assert set(rows(sandbox, "--unused", "24h")) == {"fresh", "stale", "never"}
    table = cli(sandbox, "keys", "list", "--unused", "30d")
    assert table.returncode == 0 and "stale" in table.stdout and "fresh" not in table.stdout


def test_unused_says_so_when_every_key_was_used(sandbox):
    _, h = sandbox.add_key("busy", limit=1)
    used_at(sandbox, h, datetime.now(timezone.utc))
    p = cli(sandbox, "keys", "list", "--unused", "7d")
    assert p.returncode == 0 and "busy" not in p.stdout and "used in the last 7d" in p.stderr


@pytest.mark.parametrize("bad", ["soon", "30", "-3d", "0d", "1.5d", "30y", "99999w"])
def test_unused_refuses_a_bad_duration_with_exit_2_and_one_sentence(sandbox, bad):
    p = cli(sandbox, "keys", "list", f"--unused={bad}")
    assert p.returncode == 2 and p.stdout == ""
    message = p.stderr.strip()
    assert "\n" not in message and message.count(". ") == 0 and f"'{bad}'" in message
    assert "30d" in message or "3650d" in message
    assert not sandbox.requests  # refused before anything was asked of the platform


@pytest.mark.parametrize("text,age", [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)),
                                      ("2w", timedelta(weeks=2)), (" 3 days ", timedelta(days=3)),
                                      ("1H", timedelta(hours=1)), ("3650d", timedelta(days=3650))])
def test_parse_duration(text, age):
    assert parse_duration(text) == age


@pytest.mark.parametrize("bad", ["", "d", "30", "30x", "-1d", "0h", "3651d", "1.5d"])
def test_parse_duration_refuses(bad):
    with pytest.raises(ValueError, match="duration|out of range"):
        parse_duration(bad)


def test_age_text_says_how_long_ago_in_one_unit():
    from datetime import datetime, timedelta, timezone

    from capit_tui.core.durations import age_text

    now = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
    assert age_text(None, now) == "never"
    assert age_text(now - timedelta(seconds=59), now) == "just now"
    assert age_text(now + timedelta(minutes=2), now) == "just now"  # a clock a little ahead
    assert age_text(now - timedelta(minutes=5, seconds=30), now) == "5m ago"
    assert age_text(now - timedelta(hours=3, minutes=59), now) == "3h ago"
    assert age_text(now - timedelta(days=12, hours=23), now) == "12d ago"
