"""The key an install or a restore replaced, on the command line (subprocesses against the sandbox): asked on a
terminal, revoked with --yes, kept with --keep-replaced, kept and explained when there is no terminal to ask."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from capit_tui.sandbox import Sandbox


def cli(*args: str, env: dict | None = None, input: str = "", timeout: float = 60):
    proc = subprocess.run([sys.executable, "-m", "capit_tui", *args], input=input, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def on(sb: Sandbox) -> dict:
    return {"CAPIT_OPENROUTER_BASE_URL": sb.base_url, "CAPIT_OPENROUTER_MANAGEMENT_KEY": sb.management_key}


def names(sb: Sandbox) -> set[str]:
    return {k["name"] for k in json.loads(cli("keys", "list", "--json", env=on(sb)).stdout)}


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


def key_id(sb: Sandbox, name: str) -> str:
    (k,) = [k for k in json.loads(cli("keys", "list", "--json", env=on(sb)).stdout) if k["name"] == name]
    return k["id"]


def first_then_second(sb: Sandbox, *extra: str, input: str = ""):
    p = cli("openrouter", "5.00", "--agent", "claude", "--name", "first", "--yes", env=on(sb))
    assert p.returncode == 0, p.stderr
    assert "replaces" not in p.stderr and "Revoke" not in p.stderr  # nothing was replaced
    return cli("openrouter", "3.00", "--agent", "claude", "--name", "second", *extra, env=on(sb), input=input)


def on_a_terminal(sb: Sandbox, *args: str, answers: str) -> subprocess.CompletedProcess:
    """Run with standard input on a terminal (a pty) holding `answers`; stdout and stderr are pipes."""
    master, slave = pty.openpty()
    try:
        os.write(master, answers.encode())
        proc = subprocess.run([sys.executable, "-m", "capit_tui", *args], stdin=slave, capture_output=True,
                              text=True, env={**os.environ, **on(sb)}, timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_yes_revokes_the_key_the_install_replaced(sandbox, isolated_home):
    p = first_then_second(sandbox, "--yes")
    assert p.returncode == 0, p.stderr
    assert "claude: replaces first-claude (issued by capit-tui)" in p.stderr
    assert "no agent holds it now" in p.stderr and "$5.00 monthly cap" in p.stderr
    assert "Revoked 'first-claude' on openrouter." in p.stderr
    assert names(sandbox) == {"second-claude"}
    listed = json.loads(cli("keys", "list", "--json", env=on(sandbox)).stdout)
    assert [k["agents"] for k in listed] == [["claude"]]


def test_keep_replaced_keeps_it_and_says_how_to_revoke_it(sandbox, isolated_home):
    p = cli("openrouter", "5.00", "--agent", "claude", "--name", "first", "--yes", env=on(sandbox))
    assert p.returncode == 0, p.stderr
    first = key_id(sandbox, "first-claude")
    p = cli("openrouter", "3.00", "--agent", "claude", "--name", "second", "--yes", "--keep-replaced",
            env=on(sandbox))
    assert p.returncode == 0, p.stderr
    assert "Kept first-claude (--keep-replaced)" in p.stderr
    assert f"capit-tui keys revoke {first[:16]} --platform openrouter" in p.stderr
    assert "[y/N]" not in p.stderr.split("write the files above?")[-1]
    assert names(sandbox) == {"first-claude", "second-claude"}
    p = cli("keys", "revoke", first[:16], "--platform", "openrouter", "--yes", env=on(sandbox))  # the hint works
    assert p.returncode == 0 and names(sandbox) == {"second-claude"}


def test_no_terminal_and_no_yes_keeps_it_and_says_so(sandbox, isolated_home):
    p = first_then_second(sandbox, input="y\n")  # the install confirmed through a pipe: nobody to ask after
    assert p.returncode == 0, p.stderr
    assert "Kept first-claude: there is no terminal to ask (--yes revokes it)." in p.stderr
    assert "capit-tui keys revoke " in p.stderr
    assert names(sandbox) == {"first-claude", "second-claude"}


@pytest.mark.parametrize("answer, left", [("y", {"second-claude"}), ("n", {"first-claude", "second-claude"})])
def test_a_terminal_is_asked(sandbox, isolated_home, answer, left):
    p = cli("openrouter", "5.00", "--agent", "claude", "--name", "first", "--yes", env=on(sandbox))
    assert p.returncode == 0, p.stderr
    p = on_a_terminal(sandbox, "openrouter", "3.00", "--agent", "claude", "--name", "second",
                      answers=f"y\n{answer}\n")
    assert p.returncode == 0, p.stderr
    assert "Revoke the key it replaced (first-claude, $5.00 monthly cap)? [y/N]" in p.stderr
    assert names(sandbox) == left
    assert ("Kept first-claude." in p.stderr) == (answer == "n")


def test_backups_restore_offers_the_key_it_removed(sandbox, isolated_home):
    p = first_then_second(sandbox, "--yes", "--keep-replaced")
    assert p.returncode == 0, p.stderr
    p = cli("backups", "restore", "--latest", "--agent", "claude", env=on(sandbox), input="y\n")
    assert p.returncode == 0, p.stderr
    assert "held second-claude" in p.stderr and "Kept second-claude: there is no terminal to ask" in p.stderr
    assert names(sandbox) == {"first-claude", "second-claude"}
    listed = {k["name"]: k["agents"] for k in json.loads(cli("keys", "list", "--json", env=on(sandbox)).stdout)}
    assert listed == {"first-claude": ["claude"], "second-claude": []}
    # restoring back the other way, with --yes: first-claude leaves claude's files and is revoked
    p = cli("backups", "restore", "--latest", "--agent", "claude", "--yes", env=on(sandbox))
    assert p.returncode == 0, p.stderr
    assert "Revoked 'first-claude' on openrouter." in p.stderr
    assert names(sandbox) == {"second-claude"}


def test_backups_restore_on_a_terminal_asks(sandbox, isolated_home):
    p = first_then_second(sandbox, "--yes", "--keep-replaced")
    assert p.returncode == 0, p.stderr
    p = on_a_terminal(sandbox, "backups", "restore", "--latest", "--agent", "claude", answers="y\ny\n")
    assert p.returncode == 0, p.stderr
    assert "Revoke the key the restore removed (second-claude, $3.00 monthly cap)? [y/N]" in p.stderr
    assert names(sandbox) == {"first-claude"}
