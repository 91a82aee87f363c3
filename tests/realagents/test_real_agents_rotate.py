"""Rotation, end to end with the real Claude Code, Codex and OpenCode: each agent's request carries the key
capit-tui installed; after `capit-tui keys rotate ... --yes` (the real CLI, a subprocess) its next request
carries the new key, its files hold the new key and nowhere the old one, and the sandbox refuses the old key.

Keys are compared by their SHA-256 (the sandbox records each request's key hash); no assertion message holds
a secret, only hashes and masked keys.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from realagents import ensure_agents, run_agent
from rotate_support import CHAT, hold

from capit_tui import agents as agents_mod
from capit_tui.core.paths import config_dir, data_dir
from capit_tui.core.redact import mask, redact
from capit_tui.sandbox import REPLY_TEXT, Sandbox

pytestmark = pytest.mark.realagent

MODEL = "anthropic/claude-sonnet-4.5"
TITLES = {"claude": "Claude Code", "codex": "Codex CLI", "opencode": "OpenCode"}


@pytest.fixture(scope="module")
def bin_dir():
    path, why = ensure_agents()
    if path is None:
        print(f"\nreal-agent rotation tests skipped: {why}", file=sys.stderr)
        pytest.skip(f"real agents unavailable: {why}")
    return path


class Key(str):
    """A key whose repr is masked: pytest prints the arguments of every frame of a failing test (and its
    locals with -l), so the keys are held as Key and a failure shows `sk-or-v1-…abcd`, never the key."""

    def __repr__(self) -> str:
        return repr(mask(str(self)))


def sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def capit(sb: Sandbox, *args: str) -> subprocess.CompletedProcess:
    """The real CLI as a user runs it, in the test's isolated HOME, XDG dirs and keyring."""
    env = dict(os.environ, CAPIT_OPENROUTER_BASE_URL=sb.base_url, CAPIT_OPENROUTER_MANAGEMENT_KEY=sb.management_key)
    proc = subprocess.run([sys.executable, "-m", "capit_tui", *args], capture_output=True, text=True, env=env,
                          timeout=120, stdin=subprocess.DEVNULL)
    crashed = "Traceback" in proc.stderr
    assert not crashed, redact(proc.stderr)
    return proc


def held(agent: str) -> str:
    """The key the agent's files hold now (read by capit-tui's own agent module)."""
    k = agents_mod.get(agent).installed_key()
    assert k is not None, f"{agent}'s files hold no key"
    return Key(k.secret)


def run_once(sb: Sandbox, agent: str, bin_dir: Path, home: Path, work: Path, secrets: list[str]) -> tuple[list, str]:
    """Run the agent once; (its inference POSTs as the sandbox recorded them, a redacted account of the run).
    `secrets`: the keys in play, none of which it may print."""
    before = len(sb.requests)
    proc = run_agent(agent, bin_dir, home, work)
    calls = [r for r in sb.requests[before:] if r.method == "POST" and r.path.startswith("/api/v1/")]
    said = (f"{agent} exit {proc.returncode}; sandbox saw {[(r.path, r.status, (r.key_hash or 'unknown')[:12]) for r in calls]}"
            f"\nstdout: {redact(proc.stdout[-600:])}\nstderr: {redact(proc.stderr[-800:])}")
    leaked = [mask(s) for s in secrets if s in proc.stdout or s in proc.stderr]
    assert leaked == [], f"{agent} printed a key"
    replied = REPLY_TEXT in proc.stdout + proc.stderr
    assert replied, "the agent did not print the sandbox's reply\n" + said
    return calls, said


def files_holding(home: Path, secret: str) -> list[str]:
    """Every file under HOME that holds `secret`, except capit-tui's own data (its backups keep the old files
    on purpose) and config: the agents' config, state and cache files."""
    own = (data_dir(), config_dir())
    found = []
    for path in home.rglob("*"):
        if not path.is_file() or path.is_symlink() or any(path.is_relative_to(d) for d in own):
            continue
        try:
            if secret.encode() in path.read_bytes():
                found.append(str(path.relative_to(home)))
        except OSError:
            continue
    return found


def answer(sb: Sandbox, secret: str) -> int:
    """The status of a direct inference call made with `secret` (200 taken, 401 refused)."""
    r = httpx.post(f"{sb.base_url}/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {secret}"},
                   trust_env=False, timeout=10)
    return r.status_code


def check_round_trip(sb: Sandbox, names: list[str], old: dict[str, str], bin_dir: Path, home: Path, work: Path,
                     rotate_args: list[str]) -> subprocess.CompletedProcess:
    """`old`: agent -> the secret it holds now. Run each agent (old key), rotate with the CLI, run each again
    (new key). Returns the rotate command's result.

    Every assertion compares hashes, masks, counts or file names held in plain variables, so that a failure
    (pytest shows each value in an assertion) prints no key."""
    old_hash = {n: sha(s) for n, s in old.items()}
    for name in names:
        calls, said = run_once(sb, name, bin_dir, home, work, list(old.values()))
        sent = {r.key_hash for r in calls}
        assert sent == {old_hash[name]}, f"{name} did not send (only) its installed key\n" + said
        assert all(r.status is not None and r.status < 400 for r in calls), said

    p = capit(sb, *rotate_args)
    rc = p.returncode
    assert rc == 0, redact(p.stderr)
    new = {name: held(name) for name in names}
    new_hash = {n: sha(s) for n, s in new.items()}
    new_masked = {n: mask(s) for n, s in new.items()}
    secrets = [*old.values(), *new.values()]
    printed = [mask(s) for s in secrets if s in p.stdout + p.stderr]
    assert printed == [], "the rotate command printed a key"
    assert p.stdout == "", "rotating keys agents hold prints nothing on stdout"
    for name in names:
        assert new_hash[name] != old_hash[name], f"{name}'s files still hold the old key"
        assert new_masked[name] in p.stderr, f"the rotate command does not show {name}'s new key masked"
        stale = files_holding(home, old[name])
        assert stale == [], f"{name}'s old key is still in these files"
        fresh = files_holding(home, new[name])
        assert fresh != [], f"no file holds {name}'s new key"
        status = answer(sb, old[name])
        assert status == 401, f"the sandbox still takes {name}'s old key"

    for name in names:
        calls, said = run_once(sb, name, bin_dir, home, work, secrets)
        sent = {r.key_hash for r in calls}
        assert sent == {new_hash[name]}, (f"{name}'s next request did not carry (only) its new key "
                                          f"{new_hash[name][:12]} (old {old_hash[name][:12]})\n" + said)
        assert all(r.status is not None and r.status < 400 for r in calls), said
    return p


def test_rotating_a_key_two_real_agents_share_moves_both_to_the_new_key(bin_dir, tmp_path, isolated_home):
    """One key held by Claude Code and Codex (capit-tui's plan/apply + ledger, as an install into both leaves
    it), rotated by name: one new key in both agents' files, the old key refused."""
    work = tmp_path / "work"
    work.mkdir()
    with Sandbox() as sb:
        secret = Key(hold(sb, ["claude", "codex"], "team-key", limit=5, reset="daily", model=MODEL)[0])
        p = check_round_trip(sb, ["claude", "codex"], {"claude": secret, "codex": secret}, bin_dir, isolated_home,
                             work, ["keys", "rotate", "team-key", "--yes"])
        shared = {sha(held("claude")), sha(held("codex"))}
        assert len(shared) == 1, "Claude Code and Codex hold different keys after rotating the key they shared"
        assert re.search(r"Rotated team-key -> team-key-rotated-\d{8} \(sk-or-v1-…\w{4}\) in claude, codex; "
                         r"team-key was revoked\.", p.stderr), redact(p.stderr)
        assert ".claude/settings.json" in p.stderr and ".codex/config.toml" in p.stderr
        (k,) = [k for k in sb.keys.values() if k["name"].startswith("team-key-rotated-")]
        assert (k["limit"], k["limit_reset"]) == (5, "daily")
        assert [k["name"] for k in sb.keys.values()] == [k["name"]], "the old key is still on the platform"


def test_a_cli_install_into_three_real_agents_then_a_cli_rotation(bin_dir, tmp_path, isolated_home):
    """`capit-tui openrouter 5 --agent claude --agent codex --agent opencode --yes` (a key per agent), then
    `capit-tui keys rotate 'team-*' --yes`: each agent's next request carries its own new key."""
    work = tmp_path / "work"
    work.mkdir()
    names = ["claude", "codex", "opencode"]
    with Sandbox() as sb:
        p = capit(sb, "openrouter", "5", "--reset", "weekly", "--name", "team", *[f"--agent={n}" for n in names],
                  "--model", MODEL, "--yes")
        rc = p.returncode
        assert rc == 0, redact(p.stderr)
        old = {n: held(n) for n in names}
        printed = [mask(s) for s in old.values() if s in p.stdout + p.stderr]
        assert printed == [], "the install printed a key"
        distinct = {sha(s) for s in old.values()}
        assert len(distinct) == 3
        assert {k["name"] for k in sb.keys.values()} == {f"team-{n}" for n in names}
        p = check_round_trip(sb, names, old, bin_dir, isolated_home, work, ["keys", "rotate", "team-*", "--yes"])
        for n in names:
            assert re.search(rf"team-{n} on openrouter \(\$5\.00 weekly cap\) -> team-{n}-rotated-\d{{8}}, "
                             rf"into {TITLES[n]}\.", p.stderr), redact(p.stderr)
            assert re.search(rf"Rotated team-{n} -> team-{n}-rotated-\d{{8}} \(sk-or-v1-…\w{{4}}\) in {n}; "
                             rf"team-{n} was revoked\.", p.stderr), redact(p.stderr)
        assert sorted(k["name"].split("-rotated-")[0] for k in sb.keys.values()) == sorted(f"team-{n}" for n in names)
        assert all("-rotated-" in k["name"] and (k["limit"], k["limit_reset"]) == (5, "weekly")
                   for k in sb.keys.values())
