"""capit-tui run as a subprocess, with an isolated HOME, XDG dirs and keyring, against the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest

from capit_tui.sandbox import Sandbox


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


def cli(*args: str, env: dict | None = None, input: str = "", timeout: float = 60):
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "capit_tui", *args], input=input, capture_output=True,
                          text=True, env=full_env, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def on(sb: Sandbox) -> dict:
    return {"CAPIT_OPENROUTER_BASE_URL": sb.base_url, "CAPIT_OPENROUTER_MANAGEMENT_KEY": sb.management_key}


def names(sb: Sandbox) -> set[str]:
    return {k["name"] for k in json.loads(cli("keys", "list", "--json", env=on(sb)).stdout)}


def test_version():
    p = cli("--version")
    assert p.returncode == 0 and p.stdout.startswith("capit-tui ")


def test_nothing_configured_says_what_to_do():
    p = cli("keys", "list")
    assert p.returncode == 1
    assert "platforms add openrouter" in p.stderr


def test_issue_prints_the_secret_alone_on_stdout(sandbox):
    p = cli("openrouter", "5.00", "--name", "ci-bot", "--reset", "daily", env=on(sandbox))
    assert p.returncode == 0, p.stderr
    secret = p.stdout.strip()
    assert secret.startswith("sk-or-v1-") and len(secret) == 73 and p.stdout.count("\n") == 1
    assert secret not in p.stderr and "sk-or-v1-…" in p.stderr and "$5.00 daily" in p.stderr
    listed = json.loads(cli("keys", "list", "--json", env=on(sandbox)).stdout)
    (k,) = [k for k in listed if k["name"] == "ci-bot"]
    assert k["limit"] == 5 and k["limit_reset"] == "daily" and k["platform"] == "openrouter"


def test_issue_defaults_to_monthly_and_a_dated_name(sandbox):
    p = cli("openrouter", "$5", env=on(sandbox))
    assert p.returncode == 0, p.stderr
    (k,) = json.loads(cli("keys", "list", "--json", env=on(sandbox)).stdout)
    assert k["limit_reset"] == "monthly" and k["name"].startswith("capit-2")


def test_issue_json(sandbox):
    p = cli("openrouter", "2.50", "--json", env=on(sandbox))
    out = json.loads(p.stdout)
    assert out["secret"].startswith("sk-or-v1-")
    for field in ("platform", "id", "name", "disabled", "limit", "limit_reset", "limit_remaining", "usage",
                  "usage_daily", "usage_weekly", "usage_monthly", "created_at"):
        assert field in out["key"]
    assert out["key"]["limit"] == 2.5


@pytest.mark.parametrize("cap", ["-1", "0", "abc", "5.001", "1e9", "NaN", "$", "", "100001"])
def test_bad_caps_are_usage_errors_and_issue_nothing(sandbox, cap):
    p = cli("openrouter", cap, env=on(sandbox))
    assert p.returncode == 2
    assert p.stderr.startswith("capit-tui: ") and len(p.stderr.strip().splitlines()) <= 2
    assert sandbox.keys == {} or names(sandbox) == set()


def test_no_cap_asks_and_a_closed_stdin_means_no(sandbox):
    p = cli("openrouter", "--no-cap", env=on(sandbox))
    assert p.returncode == 1 and "NO spending limit" in p.stderr
    assert names(sandbox) == set()
    p = cli("openrouter", "--no-cap", "--name", "open", env=on(sandbox), input="y\n")
    assert p.returncode == 0
    (k,) = json.loads(cli("keys", "list", "--json", env=on(sandbox)).stdout)
    assert k["limit"] is None


def test_bad_reset_and_unknown_platform(sandbox):
    assert cli("openrouter", "5", "--reset", "hourly", env=on(sandbox)).returncode == 2
    p = cli("nosuch", "5", env=on(sandbox))
    assert p.returncode == 1 and "Unknown platform 'nosuch'" in p.stderr


def test_keys_list_table(sandbox):
    _, h = sandbox.add_key("capit-claude-20261121", limit=Decimal(10), reset="monthly")
    sandbox.spend(h, Decimal("8.5"))
    sandbox.add_key("\x1b[31mevil", limit=Decimal(1))
    p = cli("keys", "list", env=on(sandbox))
    assert p.returncode == 0
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["NAME", "PLATFORM", "CAP", "RESET", "SPENT", "%", "TODAY", "MONTH", "STATUS",
                                "CREATED", "AGENTS"]
    row = next(line for line in lines if "capit-claude" in line)
    assert "$10.00" in row and "$8.50" in row and "85.0%" in row and "active" in row
    assert "\x1b" not in p.stdout and "?[31mevil" in p.stdout


def test_revoke_by_glob_asks_and_respects_no(sandbox):
    for n in ("capit-a", "capit-b", "keep-me"):
        sandbox.add_key(n)
    p = cli("keys", "revoke", "capit-*", env=on(sandbox), input="n\n")
    assert p.returncode == 1 and "capit-a" in p.stderr and "Nothing was revoked" in p.stderr
    assert names(sandbox) == {"capit-a", "capit-b", "keep-me"}
    p = cli("keys", "revoke", "capit-*", env=on(sandbox), input="y\n")
    assert p.returncode == 0, p.stderr
    assert names(sandbox) == {"keep-me"}


def test_revoke_star_asks_twice_and_wants_the_count_typed(sandbox):
    for n in ("a", "b", "c"):
        sandbox.add_key(n)
    p = cli("keys", "revoke", "*", env=on(sandbox), input="y\ny\n")
    assert p.returncode == 1 and "every one of your 3 keys" in p.stderr and "Type 3" in p.stderr
    assert names(sandbox) == {"a", "b", "c"}
    p = cli("keys", "revoke", "*", env=on(sandbox), input="y\n3\n")
    assert p.returncode == 0 and names(sandbox) == set()


def test_revoke_by_hash_prefix_with_yes(sandbox):
    _, h = sandbox.add_key("target")
    sandbox.add_key("other")
    assert cli("keys", "revoke", h[:4], "--yes", env=on(sandbox)).returncode == 1
    p = cli("keys", "revoke", h[:8], "--yes", env=on(sandbox))
    assert p.returncode == 0, p.stderr
    assert names(sandbox) == {"other"}


def test_revoke_matching_nothing(sandbox):
    sandbox.add_key("a")
    p = cli("keys", "revoke", "zzz-*", "--yes", env=on(sandbox))
    assert p.returncode == 1 and "No key matches" in p.stderr


def test_disable_enable_and_cap(sandbox):
    sandbox.add_key("agent", limit=Decimal(5), reset="monthly")
    assert cli("keys", "disable", "agent", env=on(sandbox)).returncode == 0
    (k,) = json.loads(cli("keys", "list", "--json", env=on(sandbox)).stdout)
    assert k["disabled"] is True
    assert cli("keys", "enable", "agent", env=on(sandbox)).returncode == 0
    p = cli("keys", "cap", "agent", "12.50", "--reset", "weekly", env=on(sandbox))
    assert p.returncode == 0, p.stderr
    (k,) = json.loads(cli("keys", "list", "--json", env=on(sandbox)).stdout)
    assert (k["disabled"], k["limit"], k["limit_reset"]) == (False, 12.5, "weekly")
    assert cli("keys", "cap", "agent", "none", env=on(sandbox), input="n\n").returncode == 1
    assert cli("keys", "cap", "agent", "none", "--yes", env=on(sandbox)).returncode == 0
    (k,) = json.loads(cli("keys", "list", "--json", env=on(sandbox)).stdout)
    assert k["limit"] is None
    assert cli("keys", "cap", "agent", "5.001", env=on(sandbox)).returncode == 2


def test_platforms_add_checks_live_and_stores_in_the_keyring(sandbox, tmp_path):
    env = {"CAPIT_OPENROUTER_BASE_URL": sandbox.base_url}
    secret, _ = sandbox.add_key("inference-only")
    p = cli("platforms", "add", "openrouter", env=env, input=secret + "\n")
    assert p.returncode == 1 and "not a management key" in p.stderr and secret not in p.stderr
    assert not (tmp_path / "keyring.json").exists()
    p = cli("platforms", "add", "openrouter", env=env, input=sandbox.management_key + "\n")
    assert p.returncode == 0, p.stderr
    assert "system keyring" in p.stderr and sandbox.management_key not in p.stderr + p.stdout
    assert sandbox.management_key in (tmp_path / "keyring.json").read_text()
    listed = json.loads(cli("platforms", "list", "--json", env=env).stdout)
    assert {"name": "openrouter", "configured": True, "key_source": "keyring"}.items() <= \
        next(x for x in listed if x["name"] == "openrouter").items()
    p = cli("platforms", "test", "openrouter", env=env)
    assert p.returncode == 0 and "management key OK" in p.stdout and "1 key;" in p.stdout
    assert cli("keys", "list", env=env).returncode == 0
    assert cli("platforms", "remove", "openrouter", "--yes", env=env).returncode == 0
    assert cli("keys", "list", env=env).returncode == 1


def test_platforms_add_without_keyring_needs_consent(sandbox, tmp_path):
    env = {"CAPIT_OPENROUTER_BASE_URL": sandbox.base_url, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    p = cli("platforms", "add", "openrouter", env=env, input=sandbox.management_key + "\n")
    assert p.returncode == 1 and "--store-in-file" in p.stderr
    p = cli("platforms", "add", "openrouter", "--store-in-file", env=env, input=sandbox.management_key + "\n")
    assert p.returncode == 0, p.stderr
    creds = tmp_path / "home" / ".config" / "capit-tui" / "credentials.toml"
    assert oct(creds.stat().st_mode & 0o777) == "0o600"
    assert cli("keys", "list", env=env).returncode == 0


def test_custom_gateway_needs_kind_and_url():
    p = cli("platforms", "add", "mygw", input="x\n")
    assert p.returncode == 2 and "--kind and --base-url" in p.stderr


@pytest.mark.parametrize("kind,fragment", [("401", "rejected the management key"), ("500", "server error"),
                                           ("notjson", "not JSON")])
def test_platform_faults_are_one_sentence_not_a_traceback(sandbox, kind, fragment):
    sandbox.inject_fault("* /api/v1/*", kind, times=100)
    p = cli("keys", "list", env=on(sandbox))
    assert p.returncode == 1 and fragment in p.stderr
    assert sandbox.management_key not in p.stderr


def test_demo_runs_any_command_on_a_throwaway_sandbox(isolated_home):
    p = cli("--demo", "keys", "list", "--json")
    assert p.returncode == 0, p.stderr
    keys = json.loads(p.stdout)
    assert len(keys) == 40 and {k["platform"] for k in keys} == {"sandbox"}
    p = cli("--demo", "sandbox", "5", "--reset", "never", "--name", "demo-key")
    assert p.returncode == 0 and "$5.00 cap that never resets" in p.stderr
    assert not (isolated_home / ".config" / "capit-tui").exists()
    assert not (isolated_home / ".local" / "share" / "capit-tui").exists()


def test_usage_errors_exit_2():
    assert cli("keys").returncode == 2
    assert cli("keys", "frobnicate").returncode == 2
    assert cli("--bogus").returncode == 2


# ---------------------------------------------------------------- agents, installs and backups


def test_dry_run_shows_masked_diffs_and_changes_nothing(sandbox, isolated_home):
    p = cli("openrouter", "5.00", "--agent", "claude", "--agent", "codex", "--dry-run", env=on(sandbox))
    assert p.returncode == 0, p.stderr
    assert "+++ " in p.stdout and ".claude/settings.json" in p.stdout and ".codex/config.toml" in p.stdout
    assert "sk-or-v1-…0000" in p.stdout and "Dry run" in p.stderr
    assert names(sandbox) == set()
    assert not (isolated_home / ".claude").exists() and not (isolated_home / ".codex").exists()


def test_install_then_agents_keys_and_restore(sandbox, isolated_home):
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir()
    original = b'{\n  "model": "opus"\n}\n'
    settings.write_bytes(original)
    p = cli("openrouter", "5.00", "--agent", "claude", "--yes", env=on(sandbox))
    assert p.returncode == 0, p.stderr
    assert "$5.00 openrouter key installed into claude" in p.stderr
    secret = json.loads(settings.read_text())["env"]["ANTHROPIC_AUTH_TOKEN"]
    assert secret not in p.stdout and secret not in p.stderr  # an installed key is never printed
    listed = json.loads(cli("keys", "list", "--json", env=on(sandbox)).stdout)
    (k,) = listed
    assert k["agents"] == ["claude"] and k["name"].startswith("capit-claude-")
    agents = {a["name"]: a for a in json.loads(cli("agents", "--json", env=on(sandbox)).stdout)}
    assert agents["claude"]["key"] == "sk-or-v1-…" + secret[-4:]
    assert agents["claude"]["capit_key"]["name"] == k["name"]
    assert agents["cursor"]["support"] == "manual"
    backups = json.loads(cli("backups", "list", "--json", env=on(sandbox)).stdout)
    assert len(backups) == 1 and backups[0]["agents"] == ["claude"]
    p = cli("backups", "restore", "--latest", "--agent", "claude", env=on(sandbox), input="y\n")
    assert p.returncode == 0, p.stderr
    assert secret not in p.stdout and "sk-or-v1-…" in p.stdout
    assert settings.read_bytes() == original
    assert len(json.loads(cli("backups", "list", "--json", env=on(sandbox)).stdout)) == 2


def test_each_agent_gets_its_own_named_key(sandbox, isolated_home):
    p = cli("openrouter", "1", "--agent", "claude,codex", "--name", "team", "--reset", "weekly", "--yes",
            env=on(sandbox))
    assert p.returncode == 0, p.stderr
    assert names(sandbox) == {"team-claude", "team-codex"}


def test_manual_agent_prints_its_key_once_with_steps(sandbox, isolated_home):
    p = cli("openrouter", "3", "--agent", "cursor", "--yes", env=on(sandbox))
    assert p.returncode == 0, p.stderr
    secret = p.stdout.strip()
    assert secret.startswith("sk-or-v1-") and p.stdout.count("\n") == 1
    assert "Override OpenAI Base URL" in p.stderr and secret not in p.stderr


def test_unknown_agent_is_a_usage_error(sandbox):
    p = cli("openrouter", "3", "--agent", "notepad", env=on(sandbox))
    assert p.returncode == 2 and "known agents" in p.stderr


def test_refused_install_issues_nothing(sandbox, isolated_home):
    codex = isolated_home / ".codex"
    codex.mkdir()
    (codex / "config.toml").write_text("model = [unclosed\n")
    p = cli("openrouter", "3", "--agent", "codex", "--yes", env=on(sandbox))
    assert p.returncode == 1 and "config.toml:1" in p.stderr and "Nothing was changed" in p.stderr
    assert names(sandbox) == set()
    assert (codex / "config.toml").read_text() == "model = [unclosed\n"
