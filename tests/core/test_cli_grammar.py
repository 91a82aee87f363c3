"""The command line's grammar as a user meets it: options in any order, usage mistakes exit 2, a busy
port is named. Each runs `python -m capit_tui` in a subprocess with an isolated HOME."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from capit_tui.sandbox import Sandbox


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


def cli(*args: str, env: dict | None = None, input: str = "") -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "capit_tui", *args], input=input, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def on(sb: Sandbox) -> dict[str, str]:
    return {"CAPIT_OPENROUTER_BASE_URL": sb.base_url, "CAPIT_OPENROUTER_MANAGEMENT_KEY": sb.management_key}


@pytest.mark.parametrize("args", [
    ["openrouter", "--name", "early-name", "5"],
    ["openrouter", "--reset", "daily", "--name", "early-name", "5"],
    ["openrouter", "--json", "--name", "early-name", "5"],
    ["--name", "early-name", "openrouter", "5"],
])
def test_options_may_come_before_the_cap(sandbox, args):
    p = cli(*args, env=on(sandbox))
    assert p.returncode == 0, p.stderr
    keys = json.loads(cli("keys", "list", "--json", env=on(sandbox)).stdout)
    assert [(k["name"], k["limit"]) for k in keys] == [("early-name", 5)]
    if "daily" in args:
        assert keys[0]["limit_reset"] == "daily"


def test_a_busy_port_is_named_with_the_way_out():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = cli("sandbox", "serve", "--port", str(port), "--seed-keys", "0")
    assert p.returncode == 1
    assert f"Port {port}" in p.stderr and "--port 0" in p.stderr and "unexpectedly" not in p.stderr


@pytest.mark.parametrize("args", [["openrouter", "5", "--name", "   "], ["openrouter", "5", "--name", "a\x07b"],
                                  ["openrouter", "abc"], ["openrouter", "0"]])
def test_usage_mistakes_exit_2_before_anything_is_asked(sandbox, args):
    p = cli(*args, env=on(sandbox))
    assert p.returncode == 2, p.stderr
    assert json.loads(cli("keys", "list", "--json", env=on(sandbox)).stdout) == []


def test_a_ctrl_c_during_intermixed_parsing_waits_until_it_is_done():
    """argparse's intermixed parsing swaps attributes on its actions and restores them in a `finally`; a
    Ctrl-C landing in between surfaced as AttributeError ('save_nargs'). Held until parsing returns, it
    arrives as KeyboardInterrupt after a whole parse."""
    import argparse
    import os
    import signal

    from capit_tui.cli.parser import parse_intermixed

    seen: list[str] = []

    def interrupted_here(value: str) -> str:  # a type conversion: runs in the middle of the parse
        os.kill(os.getpid(), signal.SIGINT)
        seen.append(value)
        return value

    parser = argparse.ArgumentParser()
    parser.add_argument("platform", type=interrupted_here)
    parser.add_argument("cap")
    parser.add_argument("--name")
    with pytest.raises(KeyboardInterrupt):  # not AttributeError: the interrupt came once parsing was over
        parse_intermixed(parser, ["--name", "x", "openrouter", "5"])
    assert seen == ["openrouter"]
    assert [a.nargs for a in parser._actions if not a.option_strings] == [None, None]  # put back whole
    seen.clear()
    parser.set_defaults()
    parser._actions[-3].type = str  # the platform, no longer interrupting: the same parser parses again
    ns = parse_intermixed(parser, ["--name", "x", "openrouter", "5"])
    assert (ns.platform, ns.cap, ns.name) == ("openrouter", "5", "x")
