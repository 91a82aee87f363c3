"""`capit-tui keys rotate` and `--expires`, run as subprocesses against the sandbox (HOME, ledger and agent
files shared with the test through the isolated environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from rotate_support import answers, held_secret, hold

from capit_tui.sandbox import Sandbox


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


def cli(sb: Sandbox, *args: str, input: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update({"CAPIT_OPENROUTER_BASE_URL": sb.base_url, "CAPIT_OPENROUTER_MANAGEMENT_KEY": sb.management_key})
    proc = subprocess.run([sys.executable, "-m", "capit_tui", *args], input=input, capture_output=True, text=True,
                          env=env, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def live(sb: Sandbox) -> dict[str, dict]:
    return {k["name"]: k for k in sb.keys.values()}


def rotated(sb: Sandbox, old: str) -> dict:
    (k,) = [k for n, k in live(sb).items() if n.startswith(f"{old}-rotated-")]
    return k


def test_rotate_by_name_into_two_agents(sandbox, isolated_home):
    old_secret, _ = hold(sandbox, ["claude", "codex"], "team-key", limit=4, reset="daily")
    p = cli(sandbox, "keys", "rotate", "team-key", "--yes")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "" and old_secret not in p.stderr and "sk-or-v1-…" in p.stderr
    assert "team-key was revoked" in p.stderr and ".claude/settings.json" in p.stderr
    new = held_secret("claude")
    assert new == held_secret("codex") and new != old_secret and new not in p.stderr
    k = rotated(sandbox, "team-key")
    assert (k["limit"], k["limit_reset"]) == (4, "daily") and "team-key" not in live(sandbox)
    assert answers(sandbox, old_secret) == 401 and answers(sandbox, new) == 200
    listed = json.loads(cli(sandbox, "keys", "list", "--json").stdout)
    assert [k["agents"] for k in listed] == [["claude", "codex"]]


def test_rotate_a_pattern_asks_once(sandbox, isolated_home):
    a_secret, _ = hold(sandbox, ["claude"], "ci-a")
    b_secret, _ = hold(sandbox, ["codex"], "ci-b")
    p = cli(sandbox, "keys", "rotate", "ci-*", input="y\n")
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("[y/N]") == 1 and "Rotate 2 keys" in p.stderr
    assert held_secret("claude") not in (a_secret, None) and held_secret("codex") not in (b_secret, None)
    assert set(live(sandbox)) == {n for n in live(sandbox) if "-rotated-" in n} and len(live(sandbox)) == 2


def test_rotate_without_an_answer_changes_nothing(sandbox, isolated_home):
    old_secret, _ = hold(sandbox, ["claude"], "kept")
    before = (isolated_home / ".claude" / "settings.json").read_bytes()
    p = cli(sandbox, "keys", "rotate", "kept")
    assert p.returncode == 1 and "nothing was changed" in p.stderr.lower()
    assert (isolated_home / ".claude" / "settings.json").read_bytes() == before
    assert set(live(sandbox)) == {"kept"} and answers(sandbox, old_secret) == 200


def test_rotate_older_than(sandbox, isolated_home):
    now = datetime.now(timezone.utc)
    sandbox.set_clock(lambda: now - timedelta(days=100))
    hold(sandbox, ["claude"], "ancient")
    sandbox.set_clock(None)
    hold(sandbox, ["codex"], "fresh")
    p = cli(sandbox, "keys", "rotate", "--older-than", "90d", "--yes")
    assert p.returncode == 0, p.stderr
    assert set(live(sandbox)) == {"fresh", rotated(sandbox, "ancient")["name"]}
    p = cli(sandbox, "keys", "rotate", "--older-than", "soon")
    assert p.returncode == 2 and "--older-than" in p.stderr
    assert cli(sandbox, "keys", "rotate").returncode == 2


def test_a_key_no_agent_holds_is_shown_once_and_the_old_one_revoked_with_yes(sandbox, isolated_home):
    sandbox.add_key("loose", limit=2, reset="monthly")
    p = cli(sandbox, "keys", "rotate", "loose", "--yes")
    assert p.returncode == 0, p.stderr
    secret = p.stdout.strip()
    assert secret.startswith("sk-or-v1-") and secret not in p.stderr and "Revoked 'loose'" in p.stderr
    assert set(live(sandbox)) == {rotated(sandbox, "loose")["name"]} and answers(sandbox, secret) == 200


def test_a_key_no_agent_holds_is_kept_when_there_is_no_terminal_to_ask(sandbox, isolated_home):
    old, _ = sandbox.add_key("loose", limit=2, reset="monthly")
    p = cli(sandbox, "keys", "rotate", "loose", input="y\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().startswith("sk-or-v1-") and "Kept loose" in p.stderr
    assert len(live(sandbox)) == 2 and answers(sandbox, old) == 200


def test_expires_as_a_duration_and_as_a_date(sandbox):
    p = cli(sandbox, "openrouter", "5", "--name", "short", "--expires", "30d")
    assert p.returncode == 0, p.stderr
    when = datetime.fromisoformat(live(sandbox)["short"]["expires_at"].replace("Z", "+00:00"))
    assert abs(when - (datetime.now(timezone.utc) + timedelta(days=30))) < timedelta(minutes=2)
    assert "expires " in p.stderr
    day = (datetime.now(timezone.utc) + timedelta(days=60)).date()
    p = cli(sandbox, "openrouter", "5", "--name", "dated", "--expires", day.isoformat())
    assert p.returncode == 0, p.stderr
    assert live(sandbox)["dated"]["expires_at"] == f"{day.isoformat()}T00:00:00Z"


@pytest.mark.parametrize("bad", ["yesterday", "2020-01-01", "2027-02-30", "0d"])
def test_a_bad_expiry_is_a_usage_error_and_issues_nothing(sandbox, bad):
    p = cli(sandbox, "openrouter", "5", "--expires", bad)
    assert p.returncode == 2 and "--expires" in p.stderr and live(sandbox) == {}


def test_expires_into_an_agent_and_the_expiring_flag(sandbox, isolated_home):
    p = cli(sandbox, "openrouter", "5", "--agent", "claude", "--expires", "3d", "--yes")
    assert p.returncode == 0, p.stderr
    (k,) = live(sandbox).values()
    assert k["expires_at"] is not None
    table = cli(sandbox, "keys", "list").stdout
    assert "expiring" in table
