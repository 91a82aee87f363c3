"""`capit-tui report`: golden CSV, JSON, Markdown and table files from a seeded sandbox (OpenRouter, with its
per-day activity, every request checked against the OpenAPI subset) beside a one-api gateway (no per-day
history: its rows come from the local history), on a fixed clock. Then the verb itself as a subprocess.

Set UPDATE_GOLDEN=1 to rewrite the golden files (then read them: they are the contract)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from contract_transport import ContractTransport
from oneapi_server import OneApiServer

from capit_tui.cli.report import render
from capit_tui.core.history import History
from capit_tui.core.ledger import Install, Ledger
from capit_tui.core.report import build, parse_since
from capit_tui.platforms.oneapi import OneApiPlatform
from capit_tui.platforms.openrouter import OpenRouterPlatform
from capit_tui.sandbox import Sandbox

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2026, 11, 21, 15, 0, tzinfo=timezone.utc)
UNITS = 500_000  # one-api quota units per dollar


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def chat(sb: Sandbox, secret: str, model: str = "openai/gpt-4o-mini") -> None:
    r = httpx.post(sb.base_url + "/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                   json={"model": model, "messages": [{"role": "user", "content": "hi"}]}, timeout=5.0,
                   trust_env=False)
    assert r.status_code == 200, r.text


class World:
    """Forty days of two platforms' keys, spent on and sampled by a `keys list` now and then."""

    def __init__(self, sb: Sandbox, gw: OneApiServer, clock: Clock):
        self.sb, self.gw, self.clock = sb, gw, clock
        self.transport = ContractTransport()
        self.history = History()

    def adapters(self) -> list:
        return [OpenRouterPlatform("openrouter", self.sb.base_url, self.sb.management_key, transport=self.transport),
                OneApiPlatform("gateway", self.gw.url, self.gw.access_token, timeout=5.0)]

    def sample(self) -> None:
        """What a `keys list` at the clock's now records."""
        async def go() -> list:
            opened = self.adapters()
            try:
                return [k for p in opened for k in await p.list_keys()]
            finally:
                for p in opened:
                    await p.aclose()
        self.history.record(asyncio.run(go()), self.clock.now)

    def day(self, n: int, hour: int = 9) -> None:
        """Move the clock to `n` days before NOW's day, at `hour` UTC."""
        self.clock.now = NOW.replace(hour=hour) - timedelta(days=n)


@pytest.fixture
def world():
    clock = Clock(NOW - timedelta(days=40))
    with Sandbox(clock=clock) as sb, OneApiServer() as gw:
        w = World(sb, gw, clock)
        yield w
        w.history.close()


def seed(w: World) -> None:
    sb, gw = w.sb, w.gw
    w.day(40, hour=8)  # an hour before the first call
    alpha, _ = sb.add_key("alpha", limit=5, reset="daily")
    beta, _ = sb.add_key("beta", limit=20, reset="monthly")
    gone, gone_hash = sb.add_key("gone-key", limit=2)
    sb.add_key("idle", limit=1)
    bot = gw.add_token("gw-bot", remain_quota=10 * UNITS, created_time=int(w.clock.now.timestamp()))["id"]
    w.sample()
    for n in range(40, 34, -1):  # beta: a call a day, long before the platform's 30 days
        w.day(n)
        chat(sb, beta)
        w.sample()
    w.day(20)
    gw.spend(bot, UNITS // 4)  # $0.25 three weeks ago: before the 7 days
    w.sample()
    late = None
    for n in range(10, 0, -1):  # alpha: two calls a day for the last ten days
        w.day(n)
        chat(sb, alpha)
        chat(sb, alpha)
        if n == 3:
            chat(sb, alpha, "anthropic/claude-haiku-4.5")
        if n == 6:
            chat(sb, gone)
            gw.spend(bot, UNITS // 2)  # $0.50 six days ago
        if n == 4:
            asyncio.run(_delete(w, gone_hash))  # revoked four days ago: the report still counts its spend
        if n == 2:
            # made 20 days ago but first seen now (another tool's key): its row says its numbers start here
            made = int((NOW - timedelta(days=20)).timestamp())
            late = gw.add_token("gw-late", remain_quota=UNITS, created_time=made)["id"]
        w.sample()
    assert late is not None
    gw.spend(late, UNITS // 10)
    w.clock.now = NOW - timedelta(hours=2)
    chat(sb, alpha)  # today: in the platform's usage_daily, not yet in its activity
    chat(sb, beta)
    gw.spend(bot, UNITS // 5)
    w.clock.now = NOW
    Ledger().record(Install("2026-11-01T00:00:00Z", "claude", "openrouter", _hash(sb, "alpha"), "alpha",
                            "sk-or-v1-…0000", [], None))
    Ledger().record(Install("2026-11-01T00:00:00Z", "codex", "gateway", str(bot), "gw-bot", "…0000", [], None))


async def _delete(w: World, key_hash: str) -> None:
    p = w.adapters()[0]
    try:
        await p.delete_key(key_hash)
    finally:
        await p.aclose()


def _hash(sb: Sandbox, name: str) -> str:
    return next(h for h, k in sb.keys.items() if k["name"] == name)


def report(w: World, since: str, by: str):
    async def go():
        opened = w.adapters()
        try:
            return await build(opened, parse_since(since, NOW), by, history=w.history, ledger=Ledger())
        finally:
            for p in opened:
                await p.aclose()
    return asyncio.run(go())


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text + "\n")
    assert text + "\n" == path.read_text(), f"{name} differs; UPDATE_GOLDEN=1 rewrites it"


CASES = [("7d", "key", "csv"), ("7d", "key", "json"), ("7d", "key", "md"), ("7d", "key", "table"),
         ("7d", "agent", "csv"), ("7d", "platform", "md"), ("7d", "model", "json"), ("45d", "key", "csv"),
         ("2026-11-19", "model", "table")]


def test_report_golden_files(world):
    seed(world)
    for since, by, fmt in CASES:
        ext = {"table": "txt"}.get(fmt, fmt)
        check_golden(f"report_{since}_{by}.{ext}", render(report(world, since, by), fmt))
    assert world.transport.checked > 0 and ("GET", "/api/v1/activity") in world.transport.sent


def test_report_sums_and_sources(world):
    """The rule behind the golden files, spelled out: which number comes from where."""
    seed(world)
    cost = world.sb.cost_per_call
    rows = {r.group: r for r in report(world, "7d", "key").rows}
    # alpha: days 7..1 in the activity (2 calls a day, one more on day 3), plus today's call
    assert rows["alpha"].spend == cost * (7 * 2 + 1 + 1) and rows["alpha"].source == "platform"
    assert rows["beta"].spend == cost and rows["beta"].source == "platform"  # today only
    assert rows["gone-key"].spend == cost  # revoked, still counted from the activity
    assert rows["gw-bot"].spend == Decimal("0.70") and rows["gw-bot"].source == "history"
    assert rows["gw-late"].spend == Decimal("0.10") and rows["gw-late"].covered_from == NOW.replace(hour=9) - \
        timedelta(days=2)
    assert rows["idle"].spend == 0
    old = {r.group: r for r in report(world, "45d", "key").rows}
    # beta's six calls 35-40 days ago are past the platform's 30 days: the local history says them (made
    # inside the period, it started at $0, so the history's daily resolution there loses nothing)
    assert old["beta"].spend == cost * 7 and old["beta"].source == "platform+history"
    assert old["beta"].covered_from is None
    # a revoked key's history starts at its first sample, and its row says so
    assert old["gone-key"].covered_from == NOW.replace(hour=8) - timedelta(days=40)
    by_agent = {r.group: r.spend for r in report(world, "7d", "agent").rows}
    assert by_agent["claude"] == rows["alpha"].spend and by_agent["codex"] == Decimal("0.70")


def test_an_activity_read_that_fails_falls_back_to_the_history_and_says_so(world):
    seed(world)
    world.sb.inject_fault("GET /api/v1/activity", 500, times=0)
    r = report(world, "7d", "key")
    assert {row.source for row in r.rows} == {"history"}, (r.rows, r.errors)
    assert "openrouter" in r.errors and "local history" in r.errors["openrouter"]
    alpha = next(row for row in r.rows if row.group == "alpha")
    # lifetime usage now less the usage of the last sample before the 7 days (day 8)
    assert alpha.spend == world.sb.cost_per_call * (7 * 2 + 1 + 1)


def test_since_and_formats_are_checked():
    assert parse_since("7d", NOW).start == datetime(2026, 11, 14, tzinfo=timezone.utc)
    assert parse_since("2w", NOW).start == datetime(2026, 11, 7, tzinfo=timezone.utc)
    assert parse_since("2026-11-01", NOW).start == datetime(2026, 11, 1, tzinfo=timezone.utc)
    for bad in ("7x", "tomorrow", "2026-12-01", "0d"):
        with pytest.raises(ValueError):
            parse_since(bad, NOW)


def test_a_key_name_that_looks_like_a_formula_stays_text_in_csv(world):
    world.day(1)
    world.sb.add_key("=HYPERLINK(\"x\")", limit=1)
    world.clock.now = NOW
    text = render(report(world, "7d", "key"), "csv")
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text


# ---------------------------------------------------------------- the verb


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "capit_tui", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_report_verb_formats_and_usage_errors():
    with Sandbox() as sb:  # the real clock: today's spend is in usage_daily
        secret, _ = sb.add_key("ci-bot", limit=5)
        chat(sb, secret)
        env = {"CAPIT_OPENROUTER_BASE_URL": sb.base_url, "CAPIT_OPENROUTER_MANAGEMENT_KEY": sb.management_key}
        table = cli("report", env=env)
        assert table.returncode == 0, table.stderr
        lines = table.stdout.splitlines()
        assert lines[0].startswith("Spend by key, ") and lines[1].split() == ["KEY", "PLATFORM", "SPENT", "KEYS",
                                                                                "SOURCE", "FROM"]
        assert lines[2].split() == ["ci-bot", "openrouter", "$0.01", "1", "platform", "-"]
        body = json.loads(cli("report", "--format", "json", "--by", "platform", env=env).stdout)
        assert body["rows"] == [{"platform": "openrouter", "spent": 0.01, "keys": 1, "source": "platform",
                                 "covered_from": None}] and body["total"] == 0.01
        csv_out = cli("report", "--format", "csv", "--since", "30d", env=env).stdout
        assert csv_out.splitlines() == ["key,platform,spent,keys,source,from", "ci-bot,openrouter,0.0100,1,platform,"]
        md = cli("report", "--format", "md", "--by", "model", env=env).stdout
        assert "| (no model breakdown) | $0.01 | 1 | platform | - |" in md  # today: no per-model split yet
        bad = cli("report", "--since", "soon", env=env)
        assert bad.returncode == 2 and "is not a period" in bad.stderr and not bad.stdout
        assert cli("report", "--by", "team", env=env).returncode == 2
    assert cli("report", env={}).returncode == 1


def test_keys_list_records_a_sample_and_a_busy_lock_only_drops_it_quietly():
    from capit_tui.core import lock

    with Sandbox() as sb:
        _, h = sb.add_key("ci-bot", limit=5, spend="0.25")
        env = {"CAPIT_OPENROUTER_BASE_URL": sb.base_url, "CAPIT_OPENROUTER_MANAGEMENT_KEY": sb.management_key}
        assert cli("keys", "list", env=env).returncode == 0
        (s,) = History().samples("openrouter", h)
        assert s.spent == s.usage == Decimal("0.25")
        with lock.held("installing a key into claude"):  # another capit-tui holds the lock
            busy = cli("keys", "list", env=env)
        assert busy.returncode == 0 and "ci-bot" in busy.stdout
        assert "waiting" not in busy.stderr.lower() and "history" not in busy.stderr.lower()


def test_activity_is_read_for_a_bounded_number_of_keys(world, monkeypatch):
    import capit_tui.core.report as core_report

    seed(world)
    monkeypatch.setattr(core_report, "MAX_ACTIVITY_KEYS", 1)
    before = len([s for s in world.transport.sent if s[1].endswith("/activity")])
    r = report(world, "7d", "key")
    asked = len([s for s in world.transport.sent if s[1].endswith("/activity")]) - before
    assert asked == 1
    sources = {row.group: row.source for row in r.rows if row.platform == "openrouter"}
    assert sorted(sources.values()).count("history") == 2  # of alpha, beta, gone-key: one read, two not
    assert "more than 1 keys spent" in r.errors["openrouter"]
    total = {row.group: row.spend for row in r.rows}
    assert total["alpha"] == world.sb.cost_per_call * 16  # the history says the same sums
