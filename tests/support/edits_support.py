"""Shared by the tests of capit_tui.edits (tests/edits/): the corpus, reference parsers, the checks every
edit must pass, the installer's edits on the corpus, and hypothesis strategies used by several formats."""

from __future__ import annotations

import difflib
import io
import itertools
import json
import os
import tomllib
from pathlib import Path

import json5
from dotenv import dotenv_values
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from capit_tui.edits import load
from capit_tui.edits._base import same, with_deleted, with_set

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus" / "edits"
BOM = "\ufeff"

# CAPIT_EDITS_EXAMPLES=2000 for a longer hunt; the default keeps the file under ~20 s.
PROPS = settings(
    max_examples=int(os.environ.get("CAPIT_EDITS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


# ---------------------------------------------------------------------------------------------
# helpers and reference parsers


def corpus(name: str) -> str:
    with open(CORPUS / name, encoding="utf-8", newline="") as fh:
        return fh.read()


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def changed_lines(old: str, new: str) -> tuple[list[str], list[str]]:
    """(removed, added) lines between two texts, by difflib (lines end at LF; CR stays with its line)."""
    a, b = old.split("\n"), new.split("\n")
    if a[-1] == "" and b[-1] == "":
        a, b = a[:-1], b[:-1]
    removed: list[str] = []
    added: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            removed += a[i1:i2]
            added += b[j1:j2]
    return removed, added


def _skip_string(text: str, i: int) -> int:
    quote = text[i]
    j = i + 1
    while text[j] != quote:
        j += 2 if text[j] == "\\" else 1
    return j + 1


def strip_jsonc(text: str) -> str:
    """Comments and trailing commas out, strings untouched: what a JSONC reader would see."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == '"':
            j = _skip_string(text, i)
            out.append(text[i:j])
            i = j
        elif text.startswith("//", i):
            while i < n and text[i] not in "\r\n":
                i += 1
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
            out.append(" ")
        else:
            out.append(text[i])
            i += 1
    s = "".join(out)
    out = []
    i, n = 0, len(s)
    while i < n:
        if s[i] == '"':
            j = _skip_string(s, i)
            out.append(s[i:j])
            i = j
            continue
        if s[i] == ",":
            j = i + 1
            while j < n and s[j] in " \t\r\n":
                j += 1
            if j < n and s[j] in "}]":
                i += 1
                continue
        out.append(s[i])
        i += 1
    return "".join(out)


def _join_surrogates(obj):
    if isinstance(obj, str):
        return obj.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    if isinstance(obj, dict):
        return {_join_surrogates(k): _join_surrogates(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join_surrogates(x) for x in obj]
    return obj


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")


def reference(fmt: str, text: str) -> object:
    """The data in `text`, read by a parser other than capit_tui.edits."""
    body = text.removeprefix(BOM)
    if fmt == "json":
        return json.loads(body, parse_constant=_no_constants) if body.strip() else {}
    if fmt == "jsonc":
        s = strip_jsonc(body)
        return json.loads(s, parse_constant=_no_constants) if s.strip() else {}
    if fmt == "json5":  # the json5 package leaves \ud83d\ude00 as two surrogates: join them
        return _join_surrogates(json5.loads(body))
    if fmt == "toml":
        return tomllib.loads(body)
    if fmt == "dotenv":
        return dict(dotenv_values(stream=io.StringIO(text), interpolate=False))
    if fmt == "yaml":
        return YAML(typ="safe", pure=True).load(body) or {}
    raise AssertionError(fmt)


def assert_same_newlines(before: str, after: str) -> None:
    if "\r\n" in before and before.count("\r\n") == before.count("\n"):
        assert after.count("\r\n") == after.count("\n"), "a CRLF file gained LF-only lines"
    if "\r\n" not in before:
        assert "\r\n" not in after, "an LF file gained CRLF lines"
    assert after.startswith(BOM) == before.startswith(BOM)


def assert_comments_kept(markers: list[str], before: str, after: str) -> None:
    """Every generated comment marker is still there, once, in the same order."""
    positions = []
    for m in sorted(markers, key=before.index):
        assert before.count(m) == 1
        assert after.count(m) == 1, f"comment {m} lost or duplicated"
        positions.append(after.index(m))
    assert positions == sorted(positions)


def check_set(fmt: str, text: str, data: dict, path: tuple[str, ...], value, markers=()) -> str:
    """The properties every edit must have; returns the edited text."""
    doc = load(text, fmt)
    assert doc.dumps() == text and not doc.changed
    existed = _lookup(data, path)
    doc.set(path, value)
    out = doc.dumps()
    assert same(doc.get(path), value if fmt != "dotenv" else str(value))
    # The whole file, read by another parser: the old data with only that path changed.
    assert same(reference(fmt, out), with_set(data, path, value if fmt != "dotenv" else str(value)))
    assert_same_newlines(text, out)
    if not isinstance(existed, dict | list):  # comments inside a replaced object go with it
        assert_comments_kept(list(markers), text, out)
    removed, added = changed_lines(text, out)
    if existed is _ABSENT:
        assert len(removed) <= 1, removed  # at most the line that gains a comma or loses `{}`/`~`
    elif isinstance(existed, dict | list):
        pass  # a container replaced by a scalar
    elif same(existed, value if fmt != "dotenv" else str(value)):
        assert out == text and not doc.changed
    else:
        assert len(removed) == 1 and len(added) == 1, (removed, added)
    # Idempotence: the same edit again, on the same document or on a fresh load, changes nothing.
    doc.set(path, value)
    assert doc.dumps() == out
    again = load(out, fmt)
    again.set(path, value)
    assert again.dumps() == out and not again.changed
    return out


def check_delete(fmt: str, text: str, data: dict, path: tuple[str, ...], markers=()) -> None:
    doc = load(text, fmt)
    doc.delete(path)
    out = doc.dumps()
    assert doc.get(path) is None
    assert same(reference(fmt, out), with_deleted(data, path))
    assert_same_newlines(text, out)
    assert_comments_kept([m for m in markers if m in out], text, out)
    doc.delete(path)
    assert doc.dumps() == out


_ABSENT = object()


def _lookup(data, path):
    for k in path:
        if not isinstance(data, dict) or k not in data:
            return _ABSENT
        data = data[k]
    return data


@st.composite
def paths_into(draw, data: dict, keys, *, through_none: bool = False, leaves_only: bool = False,
               skip_lists: bool = False, flow_paths: frozenset = frozenset()):
    """A path to an existing value, or a new key somewhere below the top (with new parents)."""
    path: tuple[str, ...] = ()
    node = data
    while True:
        candidates = [k for k, v in node.items()
                      if not (skip_lists and isinstance(v, list)) and not (isinstance(v, list) and v
                                                                           and isinstance(v[0], dict))]
        if candidates and draw(st.booleans()):
            k = draw(st.sampled_from(candidates))
            v = node[k]
            if isinstance(v, dict) and (leaves_only or draw(st.booleans())):
                path, node = path + (k,), v
                continue
            if v is None and through_none and path not in flow_paths and draw(st.booleans()):
                extra = draw(st.lists(keys, min_size=1, max_size=2))
                return path + (k,) + tuple(extra)
            return path + (k,)
        k = draw(keys.filter(lambda x, node=node: x not in node))
        extra = draw(st.lists(keys, max_size=2))
        return path + (k,) + tuple(extra)


@st.composite
def existing_paths(draw, data: dict):
    path: tuple[str, ...] = ()
    node = data
    while True:
        k = draw(st.sampled_from(sorted(node)))
        v = node[k]
        if isinstance(v, dict) and v and draw(st.booleans()):
            path, node = path + (k,), v
            continue
        return path + (k,)


def counter():
    n = itertools.count()
    return lambda: f"cmt{next(n):04d}x"



# ---------------------------------------------------------------------------------------------
# the installer's edits on the corpus (test_edits_base.py: only the intended lines change)


def apply(text: str, fmt: str, edits) -> str:
    doc = load(text, fmt)
    for op, path, *value in edits:
        if op == "set":
            doc.set(path, value[0])
        else:
            doc.delete(path)
    return doc.dumps()


INSTALLS = {
    "claude_settings.json": (
        "json",
        [
            ("set", ("env", "ANTHROPIC_BASE_URL"), "https://openrouter.ai/api"),
            ("set", ("env", "ANTHROPIC_AUTH_TOKEN"), "sk-or-v1-0123456789abcdef"),
            ("set", ("env", "ANTHROPIC_API_KEY"), ""),
        ],
        ['    "DISABLE_AUTOUPDATER": "1"'],
        [
            '    "DISABLE_AUTOUPDATER": "1",',
            '    "ANTHROPIC_BASE_URL": "https://openrouter.ai/api",',
            '    "ANTHROPIC_AUTH_TOKEN": "sk-or-v1-0123456789abcdef",',
            '    "ANTHROPIC_API_KEY": ""',
        ],
    ),
    "vscode_settings.json": (
        "jsonc",
        [
            ("set", ("roo-cline.autoImportSettingsPath",), "/home/u/roo-settings.json"),
            ("set", ("editor.fontSize",), 15),
        ],
        ['    "editor.fontSize": 14,'],
        [
            '    "editor.fontSize": 15,',
            '    "roo-cline.autoImportSettingsPath": "/home/u/roo-settings.json",',
        ],
    ),
    "opencode.jsonc": (
        "jsonc",
        [
            ("set", ("model",), "openrouter/anthropic/claude-sonnet-4.5"),
            ("set", ("provider", "openrouter", "options", "baseURL"), "https://openrouter.ai/api/v1"),
        ],
        ['  "model": "anthropic/claude-sonnet-4-5",'],
        [  # difflib pairs the old closing brace of "ollama" with the new one of "openrouter"
            '  "model": "openrouter/anthropic/claude-sonnet-4.5",',
            "    },",
            '    "openrouter": {',
            '      "options": {',
            '        "baseURL": "https://openrouter.ai/api/v1"',
            "      }",
        ],
    ),
    "openclaw.json": (
        "json5",
        [
            ("set", ("env", "OPENROUTER_API_KEY"), "sk-or-v1-0123456789abcdef"),
            ("set", ("agents", "defaults", "model", "primary"), "openrouter/anthropic/claude-sonnet-4-5"),
        ],
        ["      model: { primary: 'anthropic/claude-opus-4-5', fallbacks: [] },"],
        [
            '    OPENROUTER_API_KEY: "sk-or-v1-0123456789abcdef",',
            '      model: { primary: "openrouter/anthropic/claude-sonnet-4-5", fallbacks: [] },',
        ],
    ),
    "codex_config.toml": (
        "toml",
        [
            ("set", ("model",), "openai/gpt-5.1-codex"),
            ("set", ("model_provider",), "openrouter"),
            ("set", ("model_providers", "openrouter", "name"), "OpenRouter"),
            ("set", ("model_providers", "openrouter", "base_url"), "https://openrouter.ai/api/v1"),
            ("set", ("model_providers", "openrouter", "wire_api"), "responses"),
            ("set", ("model_providers", "openrouter", "experimental_bearer_token"), "sk-or-v1-0123456789abcdef"),
        ],
        ['model = "gpt-5-codex"            # default model'],
        [
            'model = "openai/gpt-5.1-codex"            # default model',
            'model_provider = "openrouter"',
            "",
            "[model_providers.openrouter]",
            'name = "OpenRouter"',
            'base_url = "https://openrouter.ai/api/v1"',
            'wire_api = "responses"',
            'experimental_bearer_token = "sk-or-v1-0123456789abcdef"',
        ],
    ),
    "hermes.env": (
        "dotenv",
        [
            ("set", ("OPENROUTER_API_KEY",), "sk-or-v1-0123456789abcdef"),
            ("set", ("ANTHROPIC_API_KEY",), "sk-ant-new"),
            ("set", ("NOUS_API_KEY",), "nous new key"),
        ],
        [
            "export NOUS_API_KEY=nous-placeholder",
            'ANTHROPIC_API_KEY="sk-ant-placeholder"   # old key',
        ],
        [
            'export NOUS_API_KEY="nous new key"',
            'ANTHROPIC_API_KEY="sk-ant-new"   # old key',
            "OPENROUTER_API_KEY=sk-or-v1-0123456789abcdef",
        ],
    ),
    "hermes_config.yaml": (
        "yaml",
        [
            ("set", ("model", "provider"), "openrouter"),
            ("set", ("model", "default"), "anthropic/claude-sonnet-4.5"),  # already so: no change
            ("set", ("model", "base_url"), "https://openrouter.ai/api/v1"),
        ],
        ['  provider: "nous"        # auto | openrouter | nous | anthropic | ...'],
        [
            '  provider: "openrouter"        # auto | openrouter | nous | anthropic | ...',
            "  base_url: https://openrouter.ai/api/v1",
        ],
    ),
    "aider.conf.yml": (
        "yaml",
        [
            ("set", ("model",), "openrouter/anthropic/claude-sonnet-4.5"),
            ("set", ("show-model-warnings",), False),
        ],
        ["model: anthropic/claude-3-7-sonnet-20250219"],
        ["model: openrouter/anthropic/claude-sonnet-4.5", "show-model-warnings: false"],
    ),
    "tricky.yaml": (
        "yaml",
        [
            ("set", ("GOOSE_PROVIDER",), "openrouter"),
            ("set", ("GOOSE_MODEL",), "anthropic/claude-opus-4.5"),
            ("set", ("extensions", "developer", "timeout"), 300),
            ("set", ("extensions", "memory", "enabled"), True),
        ],
        [
            "GOOSE_MODEL:      anthropic/claude-sonnet-4.5",
            "        timeout: ~",
            "      enabled: Null",
        ],
        [
            "GOOSE_MODEL:      anthropic/claude-opus-4.5",
            "        timeout: 300",
            "      enabled: true",
        ],
    ),
}


# ---------------------------------------------------------------------------------------------
# hypothesis: generated documents of every format

ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=10)
KEYS = st.one_of(
    st.sampled_from(["env", "model", "a.b", "with space", "ключ", "日本語", "x-y", "$schema", "_k", "ANTHROPIC_API_KEY",
                     "1", "true", "yes", "null", "", " pad ", "a: b", "#", "- x", "q'\"", "back\\slash"]),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=6),
)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), FINITE, ANY_TEXT)


def _tree(keys, scalars, lists=True):
    leaves = st.one_of(scalars, st.lists(scalars, max_size=3)) if lists else scalars
    return st.recursive(leaves, lambda children: st.dictionaries(keys, children, max_size=4), max_leaves=10)
