"""A hostile platform on loopback: escapes and markup in every string, a reply trickled one byte at a
time, endless pages, a page that repeats, a huge body. Each ends within its bound with one sentence,
no traceback and no escape on the terminal."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from hostile_platform import MGMT, Hostile

from capit_tui.platforms.base import MalformedResponse, NetworkError, PlatformError
from capit_tui.platforms.http import RetryPolicy
from capit_tui.platforms.openrouter import OpenRouterPlatform


def _adapter(server: Hostile, timeout: float = 1.0) -> OpenRouterPlatform:
    return OpenRouterPlatform("hostile", server.base_url, MGMT, timeout=timeout, retry=RetryPolicy(attempts=1))


async def _list(server: Hostile, timeout: float = 1.0) -> Any:
    async with _adapter(server, timeout) as p:
        return await p.list_keys()


def test_escapes_in_every_field_never_survive_the_adapter():
    with Hostile("escapes") as server:
        keys = asyncio.run(_list(server))
    assert len(keys) == 3
    for k in keys:
        for value in (k.name, k.label, k.limit_reset):
            assert value is not None and "\x1b" not in value and "\x9b" not in value and "\x07" not in value


def test_an_error_body_with_escapes_becomes_a_clean_sentence():
    with Hostile("error-escapes") as server, pytest.raises(PlatformError) as info:
        asyncio.run(_list(server))
    assert "\x1b" not in str(info.value) and "hostile" in str(info.value)


def test_a_trickled_reply_is_cut_off_at_the_deadline():
    with Hostile("trickle") as server:
        started = time.monotonic()
        with pytest.raises(NetworkError, match="did not answer in time"):
            asyncio.run(_list(server, timeout=0.5))
        assert time.monotonic() - started < 5  # the body takes ~40 s to trickle; the deadline is 1 s


def test_endless_pages_stop_at_the_ceiling(monkeypatch):
    import capit_tui.platforms.openrouter as mod

    monkeypatch.setattr(mod, "MAX_PAGES", 12)
    with Hostile("endless") as server:
        with pytest.raises(MalformedResponse, match="kept sending full pages"):
            asyncio.run(_list(server))
        assert server.gets <= 12 + 2 * 4


def test_a_server_that_ignores_paging_is_stopped_at_once():
    with Hostile("repeat") as server:
        with pytest.raises(MalformedResponse, match="ignores paging"):
            asyncio.run(_list(server))
        assert server.gets <= 2 * 4 + 1


def test_a_huge_body_is_not_read_whole():
    with Hostile("huge") as server, pytest.raises(MalformedResponse, match="more than 4 MB"):
        asyncio.run(_list(server))


@pytest.mark.parametrize("mode", ["escapes", "error-escapes", "huge"])
def test_keys_list_prints_no_escape_and_no_traceback(mode):
    with Hostile(mode) as server:
        env = {**os.environ, "CAPIT_OPENROUTER_MANAGEMENT_KEY": MGMT, "CAPIT_OPENROUTER_BASE_URL": server.base_url,
               "CAPIT_HTTP_TIMEOUT": "2"}
        for args in (["keys", "list"], ["keys", "list", "--json"], ["platforms", "test", "openrouter"]):
            proc = subprocess.run([sys.executable, "-m", "capit_tui", *args], capture_output=True, timeout=60,
                                  env=env)
            for stream in (proc.stdout, proc.stderr):
                assert b"\x1b" not in stream and b"\x9b" not in stream.replace(b"\\u009b", b"")
                assert b"Traceback" not in stream
            if mode != "escapes" and args[0] == "keys":
                assert proc.returncode == 1 and proc.stderr.count(b"\n") <= 2
