"""`capit-tui platforms add/remove`, run as subprocesses, edit settings.toml in place: the user's comments,
unknown tables and keys survive, and a wrong value stops the command with its line, the file untouched."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from capit_tui.sandbox import Sandbox

USER_FILE = """\
# my capit-tui settings: keep this comment
[defaults]
reset = "daily"          # daily budgets
refresh_interval = 15

[ui]                     # a table capit-tui does not know
compact = true
"""


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


def cli(*args: str, input: str = ""):
    proc = subprocess.run([sys.executable, "-m", "capit_tui", *args], input=input, capture_output=True,
                          text=True, env=dict(os.environ), timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def settings_file(isolated_home):
    p = isolated_home / ".config" / "capit-tui" / "settings.toml"
    p.parent.mkdir(parents=True)
    p.write_text(USER_FILE)
    return p


def test_platforms_add_then_remove_keeps_the_users_file(sandbox, isolated_home):
    p = settings_file(isolated_home)
    added = cli("platforms", "add", "lab", "--kind", "openrouter", "--base-url", sandbox.base_url,
                input=sandbox.management_key + "\n")
    assert added.returncode == 0, added.stderr
    assert p.read_text() == (USER_FILE + f'\n[platforms.lab]\nkind = "openrouter"\nbase_url = "{sandbox.base_url}"\n')
    assert oct(p.stat().st_mode & 0o777) == "0o600"
    removed = cli("platforms", "remove", "lab", "--yes")
    assert removed.returncode == 0, removed.stderr
    assert p.read_text() == USER_FILE


def test_platforms_add_refuses_a_wrong_value_with_its_line(sandbox, isolated_home):
    p = settings_file(isolated_home)
    p.write_text(USER_FILE.replace("refresh_interval = 15", 'refresh_interval = "soon"'))
    before = p.read_bytes()
    added = cli("platforms", "add", "lab", "--kind", "openrouter", "--base-url", sandbox.base_url,
                input=sandbox.management_key + "\n")
    assert added.returncode == 1
    assert f"{p}, line 4: defaults.refresh_interval" in added.stderr and "'soon'" in added.stderr
    assert p.read_bytes() == before
