"""What a new user tripped over (issue 10), on the command line, each run as a subprocess against the
sandbox with an isolated HOME: a failed load that looked empty, the README's first command under
--demo, a rolled-back install listed as an install, the streams and wording of installs and prompts,
duplicate names, and a revoke of everything behind a single --yes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from capit_tui.sandbox import Sandbox

SUPPORT = Path(__file__).resolve().parent.parent / "support"
TODAY = date.today().strftime("%Y%m%d")


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


def cli(*args: str, env: dict | None = None, input: str = "", merged: bool = False, script: str = ""):
    """`capit-tui ARGS` (or the support `script` given ARGS); `merged`: stderr into stdout, in order."""
    full_env = {**os.environ, **(env or {})}
    program = [str(SUPPORT / script)] if script else ["-m", "capit_tui"]
    proc = subprocess.run([sys.executable, *program, *args], input=input, text=True, env=full_env, timeout=60,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merged else subprocess.PIPE)
    assert "Traceback" not in (proc.stderr or "") + proc.stdout, proc.stderr
    return proc


def on(sb: Sandbox) -> dict:
    return {"CAPIT_OPENROUTER_BASE_URL": sb.base_url, "CAPIT_OPENROUTER_MANAGEMENT_KEY": sb.management_key}


def names(sb: Sandbox) -> list[str]:
    return sorted(k["name"] for k in json.loads(cli("keys", "list", "--json", env=on(sb)).stdout))


# ---------------------------------------------------------------- 2. a failed load is not an empty account


def test_every_platform_failing_is_could_not_load_not_an_empty_list(sandbox):
    sandbox.inject_fault("* /api/v1/*", "notjson", times=0)
    p = cli("keys", "list", "--json", env=on(sandbox))
    assert p.returncode == 1
    answer = json.loads(p.stdout)
    assert isinstance(answer, dict) and answer["error"].startswith("Could not load the keys")
    (failed,) = answer["platforms"]
    assert failed["name"] == "openrouter" and "not JSON" in failed["reason"]
    p = cli("keys", "list", env=on(sandbox))
    assert p.returncode == 1 and p.stdout == ""
    assert "Could not load the keys" in p.stderr and "No keys yet" not in p.stderr
    assert "openrouter: openrouter" not in p.stderr  # item 11: the platform named once
    assert sandbox.management_key not in p.stderr + p.stdout


def test_one_platform_failing_lists_the_others_and_names_it_on_stderr(sandbox, isolated_home):
    with Sandbox() as broken:
        broken.inject_fault("* /api/v1/*", "401", times=0)
        config = isolated_home / ".config" / "capit-tui"
        config.mkdir(parents=True)
        (config / "settings.toml").write_text(f'[platforms.other]\nkind = "openrouter"\nbase_url = "{broken.base_url}"\n')
        sandbox.add_key("works", limit=Decimal(5))
        env = {**on(sandbox), "CAPIT_OTHER_MANAGEMENT_KEY": broken.management_key}
        p = cli("keys", "list", "--json", env=env)
        assert p.returncode == 1
        assert [k["name"] for k in json.loads(p.stdout)] == ["works"]
        assert "Could not load the keys" in p.stderr and "other" in p.stderr
        p = cli("keys", "list", env=env)
        assert p.returncode == 1 and "works" in p.stdout and "other" not in p.stdout
        assert "other" in p.stderr


# ---------------------------------------------------------------- 7. the README's first command in the demo


def test_demo_accepts_openrouter_and_says_the_sandbox_stands_in():
    p = cli("--demo", "openrouter", "5")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().startswith("sk-or-v1-") and p.stdout.count("\n") == 1
    assert p.stderr.count("stands in for openrouter") == 1
    p = cli("--demo", "keys", "list", "--platform", "openrouter", "--json")
    assert p.returncode == 0 and len(json.loads(p.stdout)) == 40 and "stands in for openrouter" in p.stderr
    p = cli("--demo", "platforms", "test", "openrouter")
    assert p.returncode == 0 and "management key OK" in p.stdout
    p = cli("--demo", "platforms", "add", "openrouter")
    assert p.returncode == 0 and "nothing to add" in p.stderr


# ---------------------------------------------------------------- 8. a rolled-back install


def test_a_rolled_back_install_is_listed_as_rolled_back(sandbox, isolated_home):
    (isolated_home / ".codex").mkdir()
    (isolated_home / ".codex" / "config.toml").write_text('model = "gpt-5"\n')
    p = cli("openrouter", "5", "--agent", "claude", "--agent", "codex", "--yes", script="failing_write.py",
            env={**on(sandbox), "CAPIT_TEST_FAIL_WRITE": "config.toml"})
    assert p.returncode == 1 and "revoked" in p.stderr, p.stderr
    assert names(sandbox) == [] and not (isolated_home / ".claude" / "settings.json").exists()
    (b,) = json.loads(cli("backups", "list", "--json", env=on(sandbox)).stdout)
    assert b["reason"] == "install" and b["rolled_back"]
    p = cli("backups", "list", env=on(sandbox))
    row = p.stdout.splitlines()[1]
    assert "rolled back" in row and "capit-claude-" not in row and "keys were revoked" in row
    p = cli("backups", "restore", "--latest", "--agent", "claude", env=on(sandbox))
    assert p.returncode == 1 and "no backup" in p.stderr  # its files are the ones there now


# ---------------------------------------------------------------- 11. streams and wording


def test_an_install_prints_its_diff_on_stderr_and_nothing_on_stdout(sandbox, isolated_home):
    p = cli("openrouter", "5", "--agent", "claude", "--yes", env=on(sandbox))
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    assert "+++ " in p.stderr and ".claude/settings.json" in p.stderr
    p = cli("openrouter", "5", "--agent", "codex", "--dry-run", env=on(sandbox))
    assert "+++ " in p.stdout and "+++ " not in p.stderr  # a dry run's diff is its data


def test_manual_steps_come_after_the_key_they_point_up_to(sandbox):
    p = cli("openrouter", "3", "--agent", "cursor", "--yes", env=on(sandbox), merged=True)
    assert p.returncode == 0, p.stdout
    lines = p.stdout.splitlines()
    key_at = next(i for i, line in enumerate(lines) if line.startswith("sk-or-v1-"))
    steps_at = next(i for i, line in enumerate(lines) if "paste the key shown above" in line)
    assert key_at < steps_at


def test_closed_stdin_at_platforms_add_does_not_suggest_yes(sandbox):
    p = cli("platforms", "add", "openrouter", env={"CAPIT_OPENROUTER_BASE_URL": sandbox.base_url}, input="")
    assert p.returncode == 1
    assert "--yes" not in p.stderr and "No management key was given" in p.stderr
    assert "CAPIT_OPENROUTER_MANAGEMENT_KEY" in p.stderr


def test_a_file_that_cannot_take_the_key_is_named_once(sandbox, isolated_home):
    (isolated_home / ".claude").mkdir()
    (isolated_home / ".claude" / "settings.json").write_text('{"env": []}\n')
    p = cli("openrouter", "5", "--agent", "claude", "--yes", env=on(sandbox))
    assert p.returncode == 1 and p.stderr.count("cannot set") == 1 and "env is a list" in p.stderr
    assert names(sandbox) == []


# ---------------------------------------------------------------- 13. duplicate names


def test_a_name_already_on_the_platform_is_refused_unless_allowed(sandbox):
    sandbox.add_key("ci-bot")
    p = cli("openrouter", "5", "--name", "ci-bot", env=on(sandbox))
    assert p.returncode == 2 and "'ci-bot' already exists on openrouter" in p.stderr
    assert "--allow-duplicate" in p.stderr and p.stdout == ""
    assert names(sandbox) == ["ci-bot"]
    p = cli("openrouter", "5", "--name", "ci-bot", "--allow-duplicate", env=on(sandbox))
    assert p.returncode == 0, p.stderr
    assert names(sandbox) == ["ci-bot", "ci-bot"]


def test_generated_names_get_a_suffix_instead_of_clashing(sandbox, isolated_home):
    for _ in range(2):
        assert cli("openrouter", "5", env=on(sandbox)).returncode == 0
    for _ in range(2):
        # --keep-replaced: the second install replaces the first's key, which --yes alone would revoke
        p = cli("openrouter", "5", "--agent", "claude", "--yes", "--keep-replaced", env=on(sandbox))
        assert p.returncode == 0, p.stderr
    assert names(sandbox) == sorted([f"capit-{TODAY}", f"capit-{TODAY}-2", f"capit-claude-{TODAY}",
                                     f"capit-claude-{TODAY}-2"])
    p = cli("keys", "revoke", f"capit-claude-{TODAY}", "--yes", env=on(sandbox))
    assert p.returncode == 0 and "1 key" in p.stderr  # a name picks one key again


# ---------------------------------------------------------------- 14. revoking everything


def test_revoke_star_with_yes_alone_is_refused(sandbox):
    for n in ("a", "b", "c"):
        sandbox.add_key(n)
    p = cli("keys", "revoke", "*", "--yes", env=on(sandbox))
    assert p.returncode == 2 and "--all" in p.stderr and "every one of your 3 keys" in p.stderr
    assert names(sandbox) == ["a", "b", "c"]
    p = cli("keys", "revoke", "*", "--yes", "--all", env=on(sandbox))
    assert p.returncode == 0, p.stderr
    assert names(sandbox) == []


def test_more_than_five_keys_need_all_or_the_count_typed(sandbox):
    for i in range(6):
        sandbox.add_key(f"bot-{i}")
    sandbox.add_key("keep")
    p = cli("keys", "revoke", "bot-*", "--yes", env=on(sandbox))
    assert p.returncode == 2 and "6 keys" in p.stderr and len(names(sandbox)) == 7
    p = cli("keys", "revoke", "bot-*", env=on(sandbox), input="y\n5\n")
    assert p.returncode == 1 and "Type 6" in p.stderr and len(names(sandbox)) == 7
    p = cli("keys", "revoke", "bot-*", env=on(sandbox), input="y\n6\n")
    assert p.returncode == 0, p.stderr
    assert names(sandbox) == ["keep"]
