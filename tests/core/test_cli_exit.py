"""How the `capit-tui` process ends (cli.run): every byte of a long output reaches the reader, a reader that
goes away early gets no traceback or 'Exception ignored' on stderr, and the exit status is main()'s."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from capit_tui.sandbox import Sandbox


def _env(sb: Sandbox) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffered, as for most users
    return {**env, "CAPIT_OPENROUTER_MANAGEMENT_KEY": sb.management_key, "CAPIT_OPENROUTER_BASE_URL": sb.base_url}


def test_a_long_output_arrives_whole_and_the_status_is_mains():
    with Sandbox(seed_keys=400) as sb:
        p = subprocess.run([sys.executable, "-m", "capit_tui", "keys", "list", "--json"], capture_output=True,
                           text=True, env=_env(sb), timeout=120)
        assert p.returncode == 0, p.stderr
        assert len(json.loads(p.stdout)) == 400 and p.stdout.endswith("]\n")
        bad = subprocess.run([sys.executable, "-m", "capit_tui", "keys", "frobnicate"], capture_output=True,
                             text=True, env=_env(sb), timeout=60)
        assert bad.returncode == 2 and bad.stderr.startswith("capit-tui: ")


def test_a_reader_that_leaves_early_gets_no_traceback():
    with Sandbox(seed_keys=400) as sb:
        proc = subprocess.Popen([sys.executable, "-m", "capit_tui", "keys", "list", "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(sb))
        assert proc.stdout is not None and proc.stderr is not None
        head = proc.stdout.read(100)  # `| head -c 100`: the rest (about 280 KB) has nowhere to go
        proc.stdout.close()
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    assert head.startswith(b"[\n  {")
    assert code == 1
    assert "Traceback" not in err and "Exception ignored" not in err and "BrokenPipe" not in err, err
