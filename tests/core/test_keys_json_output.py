"""`keys list --json` writes what json.dumps(indent=2) would, byte for byte, through its own faster
formatter (cli/keys.py json_rows): checked on every kind of value a key's --json form holds, on the
strings a hostile platform sends, and on real keys from the sandbox."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from capit_tui.cli.keys import json_rows
from capit_tui.platforms.openrouter import OpenRouterPlatform
from capit_tui.sandbox import Sandbox

STRINGS = ["", "plain", "quote \" back \\ slash", "tab\tnl\ncr\r", "\x00\x01\x1b[2J\x7f", "\x9b31m\u202e",
           "café ñ", "東京", "emoji 🚀 𝕏", "\ud800 lone surrogate", "</script>", "sk-or-v1-…abcd"]
NUMBERS = [0, 1, -1, 10**20, 0.1, 0.0042, 1e-05, 1.5e-7, 123456789.125, 5e+16, -0.0, 2.0]


def _rows() -> list[dict]:
    rows = []
    for i, s in enumerate(STRINGS):
        rows.append({"name": s, s or "empty-key": i, "n": NUMBERS[i % len(NUMBERS)], "none": None, "yes": True,
                     "no": False, "agents": [s, "claude"] if i % 2 else []})
    rows.append({})
    rows.append({"agents": ["codex", "opencode", "claude"], "f": NUMBERS})
    return rows


def test_every_kind_of_value_is_written_as_json_dumps_writes_it():
    for row in _rows():
        assert json_rows([row]) == json.dumps([row], indent=2)
    assert json_rows(_rows()) == json.dumps(_rows(), indent=2)
    assert json_rows([]) == json.dumps([], indent=2)


@pytest.mark.parametrize("odd", [{"nested": {"a": 1}}, {"nan": math.nan}, {"inf": math.inf},
                                 {"tuple": ("a",)}, {"mixed": ["a", 1]}, {1: "int key"}])
def test_anything_else_goes_to_json_dumps_whole(odd):
    rows = [{"name": "first"}, odd]
    assert json_rows(rows) == json.dumps(rows, indent=2)


def test_real_keys_from_the_sandbox_come_out_identical():
    async def listed(sb: Sandbox):
        async with OpenRouterPlatform("openrouter", sb.base_url, sb.management_key) as p:
            return await p.list_keys()

    with Sandbox(seed_keys=250) as sb:
        sb.add_key("weird \x1b]52;c;aGk=\x07 名前 🚀", limit="0.0042", spend="0.00001")
        keys = asyncio.run(listed(sb))
    rows = [{**k.to_json(), "agents": ["claude", "codex"] if i % 3 == 0 else []} for i, k in enumerate(keys)]
    assert len(rows) == 251
    assert json_rows(rows) == json.dumps(rows, indent=2)
