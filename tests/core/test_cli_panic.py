"""`capit-tui panic` and `capit-tui panic --undo`, run as subprocesses against two sandboxes (openrouter by
its environment variables, a second OpenRouter-kind platform "team" from settings.toml), sharing the
isolated HOME with the test: the confirmation, the counts, failed keys named, exit statuses, the lock,
and a panic killed with SIGKILL half-way that the next start finishes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from capit_tui.sandbox import Sandbox


@pytest.fixture
def two():
    with Sandbox(seed=1) as a, Sandbox(seed=2) as b:
        yield a, b


def env_for(a: Sandbox, b: Sandbox, **extra: str) -> dict[str, str]:
    from capit_tui.core.paths import config_dir

    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.toml").write_text(f'[platforms.team]\nkind = "openrouter"\nbase_url = "{b.base_url}"\n')
    env = dict(os.environ)
    env.update({"CAPIT_OPENROUTER_BASE_URL": a.base_url, "CAPIT_OPENROUTER_MANAGEMENT_KEY": a.management_key,
                "CAPIT_TEAM_MANAGEMENT_KEY": b.management_key, **extra})
    return env


def cli(env: dict[str, str], *args: str, input: str = "") -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "capit_tui", *args], input=input, capture_output=True, text=True,
                          env=env, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def fill(sb: Sandbox, prefix: str, n_enabled: int, n_disabled: int = 0) -> None:
    for i in range(n_enabled):
        sb.add_key(f"{prefix}-{i:04d}", limit=5)
    for i in range(n_disabled):
        sb.add_key(f"{prefix}-off-{i:03d}", limit=5, disabled=True)


def enabled(*sbs: Sandbox) -> set[str]:
    return {h for sb in sbs for h, k in sb.keys.items() if not k["disabled"]}


def by_name(sb: Sandbox) -> dict[str, str]:
    return {k["name"]: h for h, k in sb.keys.items()}


def test_panic_names_failures_exits_1_and_undo_restores_exactly(two):
    a, b = two
    fill(a, "alpha", 600, 5)
    fill(b, "beta", 400, 3)
    env = env_for(a, b)
    before = enabled(a, b)
    bad = by_name(b)["beta-0042"]
    b.inject_fault(f"PATCH /api/v1/keys/{bad}", "401", times=0)

    p = cli(env, "panic", "--yes")

    assert p.returncode == 1, p.stderr
    assert "openrouter: 600 keys disabled, 5 already disabled, 0 failed." in p.stderr
    assert "team: 399 keys disabled, 3 already disabled, 1 failed." in p.stderr
    assert "'beta-0042' on team" in p.stderr and "still enabled" in p.stderr
    assert enabled(a, b) == {bad}
    assert a.management_key not in p.stderr + p.stdout

    b.clear_faults()
    u = cli(env, "panic", "--undo", "--yes", "--json")
    assert u.returncode == 0, u.stderr
    body = json.loads(u.stdout)
    assert {pl["name"]: pl["enabled"] for pl in body["platforms"]} == {"openrouter": 600, "team": 399}
    assert body["complete"] is True
    assert enabled(a, b) == before  # exactly the prior state
    again = cli(env, "panic", "--undo", "--yes")
    assert again.returncode == 0 and "nothing to undo" in again.stderr


def test_panic_asks_once_naming_the_count_and_platforms(two):
    a, b = two
    fill(a, "alpha", 3, 1)
    fill(b, "beta", 2)
    env = env_for(a, b)
    no = cli(env, "panic")  # stdin closed: no answer
    assert no.returncode == 1 and "nothing was changed" in no.stderr.lower() and len(enabled(a, b)) == 5
    p = cli(env, "panic", input="y\n")
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("[y/N]") == 1 and "Disable 5 enabled keys on openrouter and team?" in p.stderr
    assert enabled(a, b) == set()
    u = cli(env, "panic", "--undo", input="y\n")
    assert u.returncode == 0 and "Re-enable 5 keys the panic disabled on openrouter and team?" in u.stderr
    assert len(enabled(a, b)) == 5


def test_undo_says_which_keys_it_left_alone(two):
    a, b = two
    fill(a, "alpha", 3)
    env = env_for(a, b)
    assert cli(env, "panic", "--yes").returncode == 0
    names = by_name(a)
    a.store.delete(names["alpha-0000"])
    u = cli(env, "panic", "--undo", "--yes")
    assert u.returncode == 0, u.stderr
    assert "openrouter: 2 keys re-enabled, 1 left alone, 0 failed." in u.stderr
    assert "left alone: 'alpha-0000'" in u.stderr and "revoked since" in u.stderr


def test_panic_only_on_one_platform_and_usage_errors(two):
    a, b = two
    fill(a, "alpha", 2)
    fill(b, "beta", 2)
    env = env_for(a, b)
    p = cli(env, "panic", "--platform", "team", "--yes")
    assert p.returncode == 0, p.stderr
    assert len(enabled(a)) == 2 and enabled(b) == set() and "openrouter" not in p.stderr
    assert cli(env, "panic", "--bogus").returncode == 2


def test_panic_waits_for_the_lock_and_gives_up_saying_so(two):
    a, b = two
    fill(a, "alpha", 2)
    env = env_for(a, b, CAPIT_LOCK_WAIT="1")
    from capit_tui.core import lock

    with lock.held("installing a key for a test"):
        p = cli(env, "panic", "--yes")
    assert p.returncode == 1
    assert "waiting up to 1 s" in p.stderr and "nothing was done" in p.stderr
    assert len(enabled(a)) == 2
    assert cli(env, "panic", "--yes").returncode == 0 and enabled(a) == set()


CHILD = textwrap.dedent('''
    import asyncio, os, signal, sys
    from capit_tui.core import panic as pn
    from capit_tui.core.keys import Configured
    from capit_tui.core.settings import PlatformConfig

    c = Configured(PlatformConfig("openrouter", "openrouter", os.environ["CAPIT_OPENROUTER_BASE_URL"]), "env",
                   os.environ["CAPIT_OPENROUTER_MANAGEMENT_KEY"])
    real, done = pn.set_disabled, []
    async def set_disabled(p, k, disabled):
        if len(done) >= int(sys.argv[1]):
            os.kill(os.getpid(), signal.SIGKILL)
        out = await real(p, k, disabled)
        done.append(k)
        return out
    pn.set_disabled = set_disabled
    asyncio.run(pn.panic([c], window=4))
''')


def test_a_panic_killed_half_way_is_finished_at_the_next_start(two, isolated_home):
    a, b = two
    fill(a, "alpha", 120, 2)
    env = env_for(a, b)
    before = enabled(a)
    child = subprocess.run([sys.executable, "-c", CHILD, "30"], env=env, capture_output=True, text=True, timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert 0 < len(enabled(a)) < 120  # killed half-way
    from capit_tui.core.journal import Journal

    (entry,) = Journal().pending()
    assert entry.kind == "panic"

    start = cli(env, "keys", "list")  # any start repairs first
    assert start.returncode == 0, start.stderr
    assert "The panic stop did not finish; it was finished now" in start.stderr
    assert enabled(a) == set() and Journal().pending() == []
    from capit_tui.core.panic import recorded

    assert {s.id for s in recorded()} == before and {s.state for s in recorded()} == {"stopped"}
    u = cli(env, "panic", "--undo", "--yes")
    assert u.returncode == 0, u.stderr
    assert enabled(a) == before  # the two disabled before stay disabled


def test_the_record_lives_in_the_data_dir(two, isolated_home):
    a, b = two
    fill(a, "alpha", 1)
    assert cli(env_for(a, b), "panic", "--yes").returncode == 0
    from capit_tui.core.paths import data_dir

    assert Path(data_dir(), "stops.json").is_file()


def test_a_key_enabled_then_disabled_by_hand_since_the_panic_is_not_reenabled_by_its_undo(two):
    """The user took the key over: `keys enable` then `keys disable` (their own reason) since the panic. The
    undo must not re-enable it, and `keys enable`/`keys disable` drop it from the record, so the count the
    undo asks about (and the app's banner) is the keys the panic still holds."""
    a, b = two
    fill(a, "alpha", 3)
    env = env_for(a, b)
    assert cli(env, "panic", "--yes").returncode == 0
    names = by_name(a)
    assert cli(env, "keys", "enable", "alpha-0000", "--yes").returncode == 0
    assert cli(env, "keys", "disable", "alpha-0000", "--yes").returncode == 0
    assert cli(env, "keys", "disable", "alpha-0001", "--yes").returncode == 0  # already disabled: the user's now
    from capit_tui.core.panic import recorded

    assert {s.id for s in recorded()} == {names["alpha-0002"]}
    u = cli(env, "panic", "--undo", input="y\n")
    assert u.returncode == 0, u.stderr
    assert "Re-enable 1 key the panic disabled on openrouter?" in u.stderr
    assert enabled(a) == {names["alpha-0002"]}


def test_undo_says_which_recorded_keys_are_on_a_platform_no_longer_configured(two):
    a, b = two
    fill(a, "alpha", 1)
    fill(b, "beta", 2)
    env = env_for(a, b)
    assert cli(env, "panic", "--yes").returncode == 0
    from capit_tui.core.paths import config_dir

    (config_dir() / "settings.toml").write_text("")  # team removed from settings.toml
    u = cli(env, "panic", "--undo", "--yes")
    assert u.returncode == 0, u.stderr
    assert "openrouter: 1 key re-enabled" in u.stderr
    assert "2 keys the panic disabled on team stay recorded: team is not configured now" in u.stderr
    u = cli(env, "panic", "--undo", "--yes")
    assert "No key is recorded as stopped by a panic" not in u.stderr
    assert "2 keys the panic disabled on team stay recorded: team is not configured now" in u.stderr
    assert len(enabled(a)) == 1 and enabled(b) == set()
