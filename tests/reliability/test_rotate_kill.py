"""A rotation killed with a real SIGKILL in a child process, then a start (`capit-tui keys list` repairs
first): every agent ends with exactly one working key. Kill points: after the new key was issued and one
file written (undone: the old key stays), and after every file was written but before the old key was
revoked (completed: the new key stays, the old one is revoked)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from rotate_support import answers, held_secret, hold

from capit_tui.sandbox import Sandbox

CHILD = textwrap.dedent('''
    import asyncio, os, signal, sys
    from rotate_support import configured
    from capit_tui.core import rotate as rot
    from capit_tui.core.fsutil import atomic_write
    from capit_tui.core.keys import list_all_keys
    from capit_tui.sandbox import Sandbox

    where = sys.argv[1]
    class SB:  # the parent's sandbox, by its address
        base_url = os.environ["CAPIT_OPENROUTER_BASE_URL"]
        management_key = os.environ["CAPIT_OPENROUTER_MANAGEMENT_KEY"]
    c = configured(SB)
    keys = asyncio.run(list_all_keys([c])).keys
    (r,) = rot.plan_rotations([k for k in keys if k.name == "team-key"], {c.name: c}, taken=keys)
    writes = []
    def write(path, data, mode):
        if where == "mid-write" and writes:
            os.kill(os.getpid(), signal.SIGKILL)
        atomic_write(path, data, mode=mode)
        writes.append(path)
    async def retire(*a):
        os.kill(os.getpid(), signal.SIGKILL)
    if where == "before-revoke":
        rot.retire_old = retire
    asyncio.run(rot.rotate(r, write=write))
''')


@pytest.mark.parametrize("where", ["mid-write", "before-revoke"])
def test_sigkill_during_a_rotation_then_a_start_leaves_one_working_key_per_agent(isolated_home, where):
    with Sandbox() as sb:
        old_secret, old_hash = hold(sb, ["claude", "codex"], "team-key")
        before = (isolated_home / ".claude" / "settings.json").read_bytes()
        env = {**os.environ, "CAPIT_OPENROUTER_BASE_URL": sb.base_url,
               "CAPIT_OPENROUTER_MANAGEMENT_KEY": sb.management_key}
        child = subprocess.run([sys.executable, "-c", CHILD, where], env=env, capture_output=True, text=True,
                               timeout=60)
        assert child.returncode == -signal.SIGKILL, child.stderr
        assert len(sb.keys) == 2  # the new key was issued; the old one is still there
        start = subprocess.run([sys.executable, "-m", "capit_tui", "keys", "list"], env=env, capture_output=True,
                               text=True, timeout=60)
        assert start.returncode == 0 and "Traceback" not in start.stderr, start.stderr
        claude, codex = held_secret("claude"), held_secret("codex")
        assert claude == codex and answers(sb, claude) == 200  # one key, the same in both, working
        if where == "mid-write":
            assert "it was undone" in start.stderr and claude == old_secret
            assert (isolated_home / ".claude" / "settings.json").read_bytes() == before
            assert list(sb.keys) == [old_hash]
        else:
            assert "it was completed" in start.stderr and claude != old_secret
            assert answers(sb, old_secret) == 401 and old_hash not in sb.keys and len(sb.keys) == 1
        from capit_tui.core.journal import Journal

        assert Journal().root.is_dir() and Journal().pending() == []
