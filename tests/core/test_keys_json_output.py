"""`keys list --json` (cli/keys.py json_rows, through orjson) writes json.dumps(indent=2)'s layout and values,
ASCII only: checked on every kind of value a key's --json form holds, on the strings a hostile platform sends,
and on real keys from the sandbox. Where it differs from json.dumps is pinned here too: a float's shortest
form (0.00001 for 1e-05) and null for NaN and infinities."""

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
NUMBERS = [0, 1, -1, 10**18, 0.1, 0.0042, 123456789.125, 5e+16, -0.0, 2.0, 0.25, 1234.5]


def _rows() -> list[dict]:
    rows = []
    for i, s in enumerate(STRINGS):
        rows.append({"name": s, s or "empty-key": i, "n": NUMBERS[i % len(NUMBERS)], "none": None, "yes": True,
                     "no": False, "agents": [s, "claude"] if i % 2 else []})
    rows.append({})
    rows.append({"agents": ["codex", "opencode", "claude"], "f": NUMBERS})
    return rows


def test_strings_and_everyday_values_come_out_as_json_dumps_writes_them():
    for row in _rows():
        assert json_rows([row]) == json.dumps([row], indent=2)
    assert json_rows(_rows()) == json.dumps(_rows(), indent=2)
    assert json_rows([]) == json.dumps([], indent=2)


def test_the_text_is_ascii_so_no_terminal_sees_a_raw_control_or_bidi_character():
    text = json_rows(_rows())
    assert text.isascii() and "\x7f" not in text and "\x1b" not in text
    assert "\\u202e" in text and "\\ud83d\\ude80" in text  # as json.dumps escapes them, astral ones in pairs


@pytest.mark.parametrize("odd", [{"nested": {"a": 1}}, {"tuple": ("a",)}, {"mixed": ["a", 1]}, {1: "int key"},
                                 {"big": 10**20}])
def test_other_shapes_come_out_as_json_dumps_writes_them(odd):
    rows = [{"name": "first"}, odd]
    assert json_rows(rows) == json.dumps(rows, indent=2)


def test_a_tiny_float_is_written_in_its_shortest_form_and_nan_as_null():
    text = json_rows([{"spent": 1e-05, "tiny": 1.5e-7, "nan": math.nan, "inf": math.inf}])
    assert json.loads(text) == [{"spent": 1e-05, "tiny": 1.5e-7, "nan": None, "inf": None}]
    assert '"spent": 0.00001' in text


def test_real_keys_from_the_sandbox_read_back_the_same():
    async def listed(sb: Sandbox):
        async with OpenRouterPlatform("openrouter", sb.base_url, sb.management_key) as p:
            return await p.list_keys()

    with Sandbox(seed_keys=250) as sb:
        sb.add_key("weird \x1b]52;c;aGk=\x07 名前 🚀", limit="0.0042", spend="0.00001")
        keys = asyncio.run(listed(sb))
    rows = [{**k.to_json(), "agents": ["claude", "codex"] if i % 3 == 0 else []} for i, k in enumerate(keys)]
    assert len(rows) == 251
    text = json_rows(rows)
    assert json.loads(text) == rows and text.isascii()
    assert text.count("\n") == json.dumps(rows, indent=2).count("\n")  # the same layout, line for line
