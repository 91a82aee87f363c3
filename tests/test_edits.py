"""capit_tui.edits: a config file is never lost or mangled.

- Round trip: load(text).dumps() == text for every valid input of every format.
- An edit changes only the edited value (checked with difflib on a corpus of real-looking files, and
  by re-reading the result with an independent parser in hypothesis properties).
- Setting a value to what it already is changes nothing; the same edit twice equals it once.
- A file that does not parse raises ParseError with the right line, never an empty document.
"""

from __future__ import annotations

import difflib
import io
import itertools
import json
import math
import os
import re
import string
import tomllib
import warnings
from pathlib import Path

import json5
import pytest
from dotenv import dotenv_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from capit_tui.edits import (
    FORMATS,
    Document,
    ParseError,
    PathError,
    UnsafeEdit,
    detect_format,
    load,
)
from capit_tui.edits._base import same, with_deleted, with_set

CORPUS = Path(__file__).parent / "data" / "corpus" / "edits"
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
# API surface


def test_formats_and_exports():
    assert FORMATS == ("json", "jsonc", "json5", "toml", "dotenv", "yaml")
    assert issubclass(ParseError, ValueError) and issubclass(UnsafeEdit, ValueError)
    assert issubclass(PathError, ValueError)
    for fmt in FORMATS:
        doc = load("", fmt)
        assert isinstance(doc, Document) and doc.fmt == fmt
    with pytest.raises(ValueError):
        load("{}", "xml")


def test_parse_error_str_and_attributes():
    with pytest.raises(ParseError) as info:
        load('{\n  "a": 1,\n  "b": ,\n}\n', "json", filename="/home/u/.claude/settings.json")
    err = info.value
    assert (err.filename, err.line, err.column) == ("/home/u/.claude/settings.json", 3, 8)
    assert str(err) == f"/home/u/.claude/settings.json:3:8: {err.reason}"
    assert err.reason


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("~/.claude/settings.json", "json"),
        ("/home/u/.claude/settings.local.json", "json"),
        ("/home/u/.config/Code/User/settings.json", "jsonc"),
        ("/Users/u/Library/Application Support/Cursor/User/settings.json", "jsonc"),
        (r"C:\Users\u\AppData\Roaming\Windsurf\User\settings.json", "jsonc"),
        (r"C:\Users\u\.claude\settings.json", "json"),
        ("/home/u/.config/VSCodium/User/settings.json", "jsonc"),
        ("/home/u/.config/zed/settings.json", "jsonc"),
        ("/repo/.vscode/settings.json", "jsonc"),
        ("/home/u/.gemini/settings.json", "json"),
        ("/home/u/.config/opencode/opencode.json", "jsonc"),
        ("/home/u/.config/opencode/opencode.jsonc", "jsonc"),
        ("/home/u/.openclaw/openclaw.json", "json5"),
        ("/x/config.json5", "json5"),
        ("/home/u/.local/share/opencode/auth.json", "json"),
        ("/home/u/.codex/config.toml", "toml"),
        ("/home/u/.hermes/.env", "dotenv"),
        ("/repo/.env.local", "dotenv"),
        ("/home/u/.aider/oauth-keys.env", "dotenv"),
        ("/home/u/.hermes/config.yaml", "yaml"),
        ("/home/u/.aider.conf.yml", "yaml"),
    ],
)
def test_detect_format(path, fmt):
    assert detect_format(path) == fmt
    assert detect_format(Path(path)) == fmt


def test_detect_format_unknown():
    with pytest.raises(ValueError):
        detect_format("/etc/hosts")


def test_repr_never_shows_contents():
    doc = load('{"env": {"ANTHROPIC_AUTH_TOKEN": "sk-or-v1-secret"}}', "json", filename="s.json")
    assert "secret" not in repr(doc)


# ---------------------------------------------------------------------------------------------
# round trip on the corpus and its CRLF / BOM / no-final-newline variants

CORPUS_FILES = [
    ("claude_settings.json", "json"),
    ("vscode_settings.json", "jsonc"),
    ("opencode.jsonc", "jsonc"),
    ("openclaw.json", "json5"),
    ("codex_config.toml", "toml"),
    ("hermes.env", "dotenv"),
    ("hermes_config.yaml", "yaml"),
    ("aider.conf.yml", "yaml"),
    ("tricky.yaml", "yaml"),
]


def variants(text: str):
    yield "lf", text
    yield "crlf", crlf(text)
    yield "bom", BOM + text
    yield "bom-crlf", BOM + crlf(text)
    yield "no-final-newline", text.rstrip("\n")


@pytest.mark.parametrize(("name", "fmt"), CORPUS_FILES)
def test_corpus_round_trip(name, fmt):
    for _label, text in variants(corpus(name)):
        doc = load(text, fmt, filename=name)
        assert doc.dumps() == text
        assert not doc.changed
        assert same(reference(fmt, text), reference(fmt, corpus(name)))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("text", ["", "\n", "  \n\t\n", "\r\n", BOM, BOM + "\n"])
def test_empty_and_blank_files_round_trip(fmt, text):
    if fmt == "yaml" and "\t" in text:
        text = text.replace("\t", " ")  # ruamel.yaml (and PyYAML) reject a tab-only line
    doc = load(text, fmt)
    assert doc.dumps() == text and not doc.changed
    assert doc.get(("anything",)) is None
    doc.delete(("anything",))
    assert doc.dumps() == text


# ---------------------------------------------------------------------------------------------
# the installer's edits on the corpus: only the intended lines change


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


@pytest.mark.parametrize("name", sorted(INSTALLS))
def test_install_edits_change_only_intended_lines(name):
    fmt, edits, removed, added = INSTALLS[name]
    text = corpus(name)
    out = apply(text, fmt, edits)
    got_removed, got_added = changed_lines(text, out)
    assert got_removed == removed
    assert got_added == added
    # The result reads back as the old data plus exactly these edits.
    expected = reference(fmt, text)
    for op, path, *value in edits:
        expected = with_set(expected, path, value[0]) if op == "set" else with_deleted(expected, path)
    assert same(reference(fmt, out), expected)
    # Doing it again changes nothing.
    assert apply(out, fmt, edits) == out


@pytest.mark.parametrize("name", sorted(INSTALLS))
def test_install_edits_keep_crlf_and_bom(name):
    fmt, edits, _, _ = INSTALLS[name]
    text = corpus(name)
    lf_out = apply(text, fmt, edits)
    assert apply(crlf(text), fmt, edits) == crlf(lf_out)
    assert apply(BOM + text, fmt, edits) == BOM + lf_out
    assert apply(BOM + crlf(text), fmt, edits) == BOM + crlf(lf_out)


def test_goose_install_on_tricky_yaml_keeps_alignment_and_markers():
    # tricky.yaml has everything ruamel.yaml's dumper rewrites: %YAML, ---, ..., aligned values,
    # ~ and Null, True, a plain scalar continued on the next line with trailing spaces, `[ a, b ]`,
    # 4-space and 2-space indentation mixed, no final newline.
    text = corpus("tricky.yaml")
    out = apply(text, "yaml", INSTALLS["tricky.yaml"][1])
    assert out.startswith("%YAML 1.2\n---\n") and out.endswith("...")
    assert "GOOSE_PROVIDER:   openrouter        # aligned values" in out  # already openrouter
    assert "        continues on the next line   \n" in out
    assert "tags: [ a, b ]" in out


@pytest.mark.parametrize(
    ("fmt", "edits", "expected"),
    [
        ("json", [("set", ("env", "AUTH"), "k")], '{\n  "env": {\n    "AUTH": "k"\n  }\n}\n'),
        ("jsonc", [("set", ("model",), "m")], '{\n  "model": "m"\n}\n'),
        ("json5", [("set", ("env", "X"), 1)], '{\n  "env": {\n    "X": 1\n  }\n}\n'),
        (
            "toml",
            [("set", ("model_providers", "openrouter", "base_url"), "u"), ("set", ("model_provider",), "openrouter")],
            'model_provider = "openrouter"\n\n[model_providers.openrouter]\nbase_url = "u"\n',
        ),
        ("dotenv", [("set", ("OPENROUTER_API_KEY",), "sk-or-v1-x")], "OPENROUTER_API_KEY=sk-or-v1-x\n"),
        ("yaml", [("set", ("model", "provider"), "openrouter")], "model:\n  provider: openrouter\n"),
    ],
)
def test_empty_file_gets_a_fresh_document(fmt, edits, expected):
    assert apply("", fmt, edits) == expected
    blank = apply("\n\n", fmt, edits)
    assert same(reference(fmt, blank), reference(fmt, expected))


# ---------------------------------------------------------------------------------------------
# JSON, JSONC, JSON5


@pytest.mark.parametrize("unit", ["  ", "    ", "\t"])
def test_json_keeps_indentation_style(unit):
    text = "{\n" + unit + '"a": 1,\n' + unit + '"b": {\n' + unit * 2 + '"c": true\n' + unit + "}\n}\n"
    out = apply(text, "json", [("set", ("b", "d"), "x"), ("set", ("e", "f", "g"), None)])
    assert out == (
        "{\n" + unit + '"a": 1,\n' + unit + '"b": {\n' + unit * 2 + '"c": true,\n' + unit * 2 + '"d": "x"\n'
        + unit + "},\n" + unit + '"e": {\n' + unit * 2 + '"f": {\n' + unit * 3 + '"g": null\n' + unit * 2 + "}\n"
        + unit + "}\n}\n"
    )


def test_json_keeps_key_order_and_appends_at_end():
    text = '{\n  "z": 1,\n  "a": 2,\n  "m": 3\n}\n'
    doc = load(text, "json")
    doc.set(("a",), 20)
    doc.set(("b",), 4)
    assert list(json.loads(doc.dumps())) == ["z", "a", "m", "b"]
    assert doc.dumps() == '{\n  "z": 1,\n  "a": 20,\n  "m": 3,\n  "b": 4\n}\n'


def test_json_one_line_documents_stay_on_one_line():
    assert apply('{"a":1}', "json", [("set", ("b",), 2)]) == '{"a":1,"b":2}'
    assert apply('{"a": 1, "b": {}}', "json", [("set", ("b", "c"), 3)]) == '{"a": 1, "b": {"c": 3}}'
    assert apply('{"a": 1}', "json", [("set", ("x", "y"), "z")]) == '{"a": 1, "x": {"y": "z"}}'


def test_json_empty_object_in_pretty_file_is_expanded():
    text = '{\n  "env": {},\n  "model": "x"\n}\n'
    assert apply(text, "json", [("set", ("env", "K"), "v")]) == '{\n  "env": {\n    "K": "v"\n  },\n  "model": "x"\n}\n'
    assert apply("{}\n", "json", [("set", ("K",), "v")]) == '{\n  "K": "v"\n}\n'


def test_json_strings_are_written_like_json_dumps():
    doc = load("{}", "json")
    value = 'quote " backslash \\ newline \n tab \t unicode é ✓ 😀 \u2028 nul \x00'
    doc.set(("s",), value)
    assert json.dumps(value, ensure_ascii=False) in doc.dumps()
    assert json.loads(doc.dumps())["s"] == value
    doc.set(("n",), 1.5)
    doc.set(("i",), -3)
    doc.set(("t",), True)
    assert json.loads(doc.dumps()) == {"s": value, "n": 1.5, "i": -3, "t": True}


def test_json_refuses_nan_and_non_scalars():
    doc = load("{}", "json")
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError):
            doc.set(("x",), bad)
    with pytest.raises(TypeError):
        doc.set(("x",), [1, 2])
    with pytest.raises(TypeError):
        doc.set("x", 1)
    with pytest.raises(ValueError):
        doc.set((), 1)
    assert not doc.changed


def test_json_duplicate_keys_last_one_wins():
    text = '{\n  "env": {"A": "first"},\n  "env": {"A": "second", "B": "b"}\n}\n'
    doc = load(text, "json")
    assert doc.get(("env", "A")) == "second"
    assert doc.get(("env",)) == {"A": "second", "B": "b"}
    doc.set(("env", "A"), "third")
    assert doc.dumps() == '{\n  "env": {"A": "first"},\n  "env": {"A": "third", "B": "b"}\n}\n'
    doc.set(("env", "C"), "c")
    assert json.loads(doc.dumps())["env"] == {"A": "third", "B": "b", "C": "c"}
    doc.delete(("env",))
    assert doc.get(("env",)) is None
    assert json.loads(doc.dumps()) == {}


def test_json_null_parent_becomes_an_object():
    text = '{\n  "env": null,\n  "x": {"env": null}\n}\n'
    out = apply(text, "json", [("set", ("env", "K"), "v"), ("set", ("x", "env", "K"), "v")])
    assert out == '{\n  "env": {\n    "K": "v"\n  },\n  "x": {"env": {"K": "v"}}\n}\n'


def test_json_path_through_a_non_object_is_refused():
    doc = load('{"env": "oops", "list": [1]}', "json")
    for path in (("env", "X"), ("list", "X")):
        with pytest.raises(PathError):
            doc.set(path, "v")
    assert not doc.changed
    assert doc.get(("env", "X")) is None


def test_json_set_replaces_object_value_and_delete_removes_lines():
    text = '{\n  "a": {\n    "b": 1\n  },\n  "c": 2\n}\n'
    assert apply(text, "json", [("set", ("a",), "flat")]) == '{\n  "a": "flat",\n  "c": 2\n}\n'
    assert apply(text, "json", [("delete", ("c",))]) == '{\n  "a": {\n    "b": 1\n  }\n}\n'
    assert apply(text, "json", [("delete", ("a",))]) == '{\n  "c": 2\n}\n'
    assert apply(text, "json", [("delete", ("a", "b"))]) == '{\n  "a": {},\n  "c": 2\n}\n'
    assert apply('{"a": 1, "b": 2, "c": 3}', "json", [("delete", ("b",))]) == '{"a": 1, "c": 3}'
    assert apply('{"a": 1, "b": 2, "c": 3}', "json", [("delete", ("c",))]) == '{"a": 1, "b": 2}'
    assert apply(text, "json", [("delete", ("nope",)), ("delete", ("a", "nope", "x"))]) == text


@pytest.mark.parametrize(
    ("fmt", "text", "edit", "expected"),
    [
        ("json", '{"a": 1,\n "b": 2}', ("set", ("k",), 1), '{"a": 1,\n "b": 2,\n "k": 1}'),
        ("json", '{"a": 1, "b": 2\n}', ("set", ("k",), 1), '{"a": 1, "b": 2,\n  "k": 1\n}'),
        ("json", '{\n  "a": 1 }', ("set", ("k",), 1), '{\n  "a": 1,\n  "k": 1 }'),
        ("json", '{\n  "a": {\n  }\n}', ("set", ("a", "b"), 1), '{\n  "a": {\n    "b": 1\n  }\n}'),
        ("jsonc", "{ /* nothing */ }", ("set", ("k",), 1), '{ /* nothing */ "k": 1 }'),
        ("jsonc", '{\n  "a": {\n    // c\n  }\n}', ("set", ("a", "b"), 1), '{\n  "a": {\n    // c\n    "b": 1\n  }\n}'),
        ("jsonc", '{"a": 1,}', ("set", ("k",), 1), '{"a": 1, "k": 1,}'),
        ("jsonc", '{\n  "a": 1, /* c */ "b": 2\n}', ("delete", ("b",)), '{\n  "a": 1 /* c */\n}'),
        ("json", '{\n  "a": 1, "b": 2\n}', ("delete", ("a",)), '{\n  "b": 2\n}'),
        ("json", '{\n  "x": 0,\n  "a": 1 }', ("delete", ("a",)), '{\n  "x": 0 }'),
        ("jsonc", '{\n  "x": 0,\n  // about a\n  "a": 1\n}', ("delete", ("a",)), '{\n  "x": 0\n  // about a\n}'),
        ("jsonc", '{\n  "x": 0,\n  "a": 1,\n}', ("delete", ("a",)), '{\n  "x": 0,\n}'),
        ("jsonc", '{\n  // c\n  "a": 1\n}', ("delete", ("a",)), '{\n  // c\n}'),
        ("json5", "{a: 1, 'b': 2}", ("set", ("c",), 3), "{a: 1, 'b': 2, \"c\": 3}"),  # a tie: quoted
        ("json5", "{a: 1, b: 2, 'c': 3}", ("set", ("d",), 4), "{a: 1, b: 2, 'c': 3, d: 4}"),
        ("json5", "{'a': 1}", ("set", ("b",), 2), "{'a': 1, \"b\": 2}"),
    ],
)
def test_json_layouts(fmt, text, edit, expected):
    out = apply(text, fmt, [edit])
    assert out == expected
    assert apply(out, fmt, [edit]) == out


def test_jsonc_comments_and_trailing_commas():
    text = corpus("vscode_settings.json")
    doc = load(text, "jsonc")
    assert doc.get(("[python]", "editor.formatOnSave")) is True
    assert doc.get(("editor.rulers",)) == [80, 120]
    doc.set(("[python]", "editor.tabSize"), 4)
    doc.set(("files.exclude", "**/node_modules"), True)
    doc.set(("terminal.integrated.env.linux", "OPENROUTER_API_KEY"), "k")
    removed, added = changed_lines(text, doc.dumps())
    assert removed == ['    "terminal.integrated.env.linux": {},']
    assert added == [
        '        "editor.tabSize": 4,',
        '        "**/node_modules": true,',
        '    "terminal.integrated.env.linux": {',
        '        "OPENROUTER_API_KEY": "k",',
        "    },",
    ]
    doc.delete(("editor.fontSize",))
    doc.delete(("files.exclude", "**/.pytest_cache"))
    out = doc.dumps()
    assert "editor.fontSize" not in out and "noisy" not in out
    assert same(reference("jsonc", out)["files.exclude"], {"**/__pycache__": True, "**/node_modules": True})
    assert "// Place your settings" in out and "/* Python */" in out


def test_jsonc_comment_after_last_member_stays_with_it():
    text = '{\n  "a": 1 // about a\n}\n'
    assert apply(text, "jsonc", [("set", ("b",), 2)]) == '{\n  "a": 1, // about a\n  "b": 2\n}\n'
    text = '{\n  "a": 1,\n  // "b": 2\n}'
    assert apply(text, "jsonc", [("set", ("c",), 3)]) == '{\n  "a": 1,\n  // "b": 2\n  "c": 3,\n}'


def test_json5_syntax_is_read():
    doc = load(corpus("openclaw.json"), "json5")
    assert doc.get(("env", "HTTP_PROXY")) == ""
    assert doc.get(("agents", "defaults", "timeoutSeconds")) == 600
    assert doc.get(("agents", "defaults", "temperature")) == 0.7
    assert doc.get(("gateway", "banner")) == "Hello from OpenClaw"
    assert doc.get(("logging", "maxFileMB")) == 50
    assert doc.get(("logging", "ratio")) == math.inf
    assert same(doc.get(("agents",)), json5.loads(corpus("openclaw.json"))["agents"])
    more = load("{a: NaN, b: -Infinity, c: 5., d: 0XfF, e: '\\x41\\u0042\\'', f: \"\\0\", $g_1: null, ünï: 1}", "json5")
    assert math.isnan(more.get(("a",)))
    assert more.get(("b",)) == -math.inf and more.get(("c",)) == 5.0 and more.get(("d",)) == 255
    assert more.get(("e",)) == "AB'" and more.get(("f",)) == "\0"
    assert more.get(("$g_1",)) is None and more.get(("ünï",)) == 1


def test_json5_new_keys_follow_the_file_key_style():
    unquoted = "{\n  env: {\n    A: 1,\n  },\n}\n"
    out = apply(unquoted, "json5", [("set", ("env", "OPENROUTER_API_KEY"), "k"), ("set", ("env", "with-dash"), 2),
                                    ("set", ("agents", "defaults", "model"), "m")])
    assert out == (
        '{\n  env: {\n    A: 1,\n    OPENROUTER_API_KEY: "k",\n    "with-dash": 2,\n  },\n'
        '  agents: {\n    defaults: {\n      model: "m",\n    },\n  },\n}\n'
    )
    quoted = '{\n  "env": {\n    "A": 1\n  }\n}\n'
    assert apply(quoted, "json5", [("set", ("env", "B"), 2)]) == '{\n  "env": {\n    "A": 1,\n    "B": 2\n  }\n}\n'


# ---------------------------------------------------------------------------------------------
# TOML


def test_toml_root_key_goes_before_the_first_table():
    text = 'model = "x"\n\n# providers follow\n[model_providers.other]\nbase_url = "u"\n'
    out = apply(text, "toml", [("set", ("model_provider",), "openrouter")])
    assert out == (
        'model = "x"\nmodel_provider = "openrouter"\n\n# providers follow\n[model_providers.other]\nbase_url = "u"\n'
    )
    data = tomllib.loads(out)
    assert data["model_provider"] == "openrouter"
    assert "model_provider" not in data["model_providers"]["other"]
    # No root keys at all: still before the first table.
    out = apply("[tui]\nnotifications = true\n", "toml", [("set", ("model_provider",), "openrouter")])
    assert tomllib.loads(out) == {"model_provider": "openrouter", "tui": {"notifications": True}}


def test_toml_new_table_is_a_real_table_at_the_end():
    text = corpus("codex_config.toml")
    out = apply(text, "toml", [("set", ("model_providers", "openrouter", "base_url"), "https://openrouter.ai/api/v1")])
    assert out == text + '\n[model_providers.openrouter]\nbase_url = "https://openrouter.ai/api/v1"\n'
    assert "{" not in out[len(text):]


def test_toml_edits_inside_existing_tables_and_inline_tables():
    text = corpus("codex_config.toml")
    out = apply(text, "toml", [
        ("set", ("profiles", "fast", "model_provider"), "openrouter"),
        ("set", ("mcp_servers", "github", "env", "GITHUB_TOKEN"), "ghp_new"),
        ("set", ("mcp_servers", "github", "env", "OTHER"), "1"),
    ])
    removed, added = changed_lines(text, out)
    assert removed == ['env = { GITHUB_TOKEN = "ghp_placeholder" }']
    # tomlkit drops the space before the closing brace of an inline table it appends to
    assert added == ['model_provider = "openrouter"', 'env = { GITHUB_TOKEN = "ghp_new", OTHER = "1"}']
    data = tomllib.loads(out)
    assert data["profiles"]["fast"]["model_provider"] == "openrouter"


def test_toml_keys_with_dots_spaces_and_unicode_are_quoted():
    out = apply("a = 1\n", "toml", [("set", ("x.y",), 1), ("set", ("with space", "ключ"), "v")])
    assert tomllib.loads(out) == {"a": 1, "x.y": 1, "with space": {"ключ": "v"}}


def test_toml_values_and_refusals():
    doc = load('a = "x"\n[t]\nb = 1\n', "toml")
    with pytest.raises(ValueError):
        doc.set(("a",), None)
    with pytest.raises(PathError):
        doc.set(("a", "b"), 1)
    doc.set(("t", "f"), math.inf)
    assert tomllib.loads(doc.dumps())["t"]["f"] == math.inf
    doc.delete(("t", "b"))
    doc.delete(("a",))
    assert tomllib.loads(doc.dumps()) == {"t": {"f": math.inf}}


def test_toml_delete_tables():
    text = corpus("codex_config.toml")
    installed = apply(text, "toml", INSTALLS["codex_config.toml"][1])
    out = apply(installed, "toml", [("delete", ("model_providers", "openrouter")), ("delete", ("model_provider",))])
    # the implicit [model_providers] table goes with its only sub-table
    assert tomllib.loads(out) == with_set(tomllib.loads(text), ("model",), "openai/gpt-5.1-codex")
    removed, added = changed_lines(installed, out)
    assert added == [] and len(removed) == 6  # the blank line before the table stays
    assert apply("[a.b]\nx = 1\n\n[c]\n", "toml", [("delete", ("a", "b"))]) == "[c]\n"


def test_toml_key_added_to_an_implicit_table_does_not_copy_comments():
    text = "[a.b] # about b\nx = 1\n"
    out = apply(text, "toml", [("set", ("a", "y"), 2)])
    assert out.count("# about b") == 1
    assert tomllib.loads(out) == {"a": {"y": 2, "b": {"x": 1}}}


def test_toml_refuses_what_tomlkit_rewrites():
    # tomlkit re-spells the second header of an array of tables like the first one ("0" vs 0).
    text = '[["0"]]\nx = 1\n[[0]]\nx = 2\n'
    doc = load(text, "toml")
    assert doc.dumps() == text
    assert doc.get(("0",)) == [{"x": 1}, {"x": 2}]
    with pytest.raises(UnsafeEdit) as info:
        doc.set(("model",), "x")
    assert "line 3" in str(info.value)
    with pytest.raises(UnsafeEdit):
        doc.delete(("0",))
    assert doc.dumps() == text and not doc.changed


def test_toml_byte_exactness_findings():
    # tomlkit itself: CRLF round-trips, a BOM does not parse, added lines end in LF.
    import tomlkit

    assert tomlkit.parse("a = 1\r\n[t]\r\nb = 2\r\n").as_string() == "a = 1\r\n[t]\r\nb = 2\r\n"
    with pytest.raises(tomlkit.exceptions.TOMLKitError):
        tomlkit.parse(BOM + "a = 1\n")
    raw = tomlkit.parse("a = 1\r\n")
    raw["b"] = 2
    assert raw.as_string() == "a = 1\r\nb = 2\n"
    # ...which the document handles: the BOM is kept, and all-CRLF files stay all-CRLF.
    assert apply(BOM + "a = 1\r\n", "toml", [("set", ("b",), 2)]) == BOM + "a = 1\r\nb = 2\r\n"
    ml = 'a = """\r\nline1\r\nline2"""\r\n'
    assert apply(ml, "toml", [("set", ("b",), 2)]) == ml + "b = 2\r\n"


# ---------------------------------------------------------------------------------------------
# dotenv


def test_dotenv_values_are_read_like_python_dotenv():
    text = corpus("hermes.env")
    doc = load(text, "dotenv")
    ref = reference("dotenv", text)
    for name, value in ref.items():
        assert doc.get((name,)) == value
    assert doc.get(("TERMINAL_ENV",)) == "local"
    assert doc.get(("GREETING",)) == "hello\nworld"
    assert doc.get(("EMPTY_ONE",)) == ""
    assert doc.get(("MISSING",)) is None


def test_dotenv_set_rewrites_the_last_definition_only():
    text = "A=1\n# again\nexport A='2' # the one that wins\nB=x\n"
    doc = load(text, "dotenv")
    assert doc.get(("A",)) == "2"
    doc.set(("A",), "3")
    assert doc.dumps() == "A=1\n# again\nexport A='3' # the one that wins\nB=x\n"
    doc.set(("A",), "has space")
    assert doc.dumps() == "A=1\n# again\nexport A='has space' # the one that wins\nB=x\n"
    doc.set(("A",), "it's")
    assert doc.dumps() == "A=1\n# again\nexport A=\"it's\" # the one that wins\nB=x\n"
    doc.delete(("A",))
    assert doc.dumps() == "# again\nB=x\n"


@pytest.mark.parametrize(
    ("old", "value", "new"),
    [
        ("K=old\n", "sk-or-v1-abc", "K=sk-or-v1-abc\n"),
        ("K=old\n", "two words", 'K="two words"\n'),
        ("K=old\n", "a#b", 'K="a#b"\n'),
        ("K=old\n", 'say "hi"', 'K="say \\"hi\\""\n'),
        ("K=old\n", "price$5", "K='price$5'\n"),
        ("K=old\n", "line1\nline2", 'K="line1\\nline2"\n'),
        ("K=old\n", "", "K=\n"),
        ('K="old"\n', "new", 'K="new"\n'),
        ("K='old'\n", "new", "K='new'\n"),
        ("K = old  # note\n", "new", "K = new  # note\n"),
        ("K= # note\n", "new", "K= new # note\n"),
        ("export K=old\r\n", "new", "export K=new\r\n"),
    ],
)
def test_dotenv_quoting(old, value, new):
    doc = load(old, "dotenv")
    doc.set(("K",), value)
    assert doc.dumps() == new
    assert reference("dotenv", new)["K"] == value


def test_dotenv_append_adds_newline_first_and_follows_export_style():
    assert apply("A=1", "dotenv", [("set", ("B",), "2")]) == "A=1\nB=2\n"
    assert apply("A=1\r\n", "dotenv", [("set", ("B",), "2")]) == "A=1\r\nB=2\r\n"
    assert apply("export A=1\n", "dotenv", [("set", ("B",), "2")]) == "export A=1\nexport B=2\n"
    assert apply("# only a comment", "dotenv", [("set", ("B",), "2")]) == "# only a comment\nB=2\n"
    with pytest.raises(ValueError):
        load("", "dotenv").set(("A", "B"), "x")
    with pytest.raises(ValueError):
        load("", "dotenv").set(("not a name",), "x")
    with pytest.raises(ValueError):
        load("", "dotenv").set(("A",), None)


def test_dotenv_multiline_quoted_values():
    text = 'PEM="-----BEGIN-----\nabc\n-----END-----"\nNEXT=1\n'
    doc = load(text, "dotenv")
    assert doc.get(("PEM",)) == "-----BEGIN-----\nabc\n-----END-----"
    doc.set(("NEXT",), "2")
    assert doc.dumps() == text.replace("NEXT=1", "NEXT=2")
    doc.delete(("PEM",))
    assert doc.dumps() == "NEXT=2\n"


# ---------------------------------------------------------------------------------------------
# YAML


def test_yaml_quotes_and_comments_kept():
    text = corpus("hermes_config.yaml")
    doc = load(text, "yaml")
    doc.set(("model", "provider"), "openrouter")
    assert '  provider: "openrouter"        # auto | openrouter' in doc.dumps()
    doc.set(("display", "skin"), "it's")
    assert "  skin: it's\n" in doc.dumps()
    doc.set(("display", "skin"), "yes")
    assert '  skin: "yes"\n' in doc.dumps()  # a boolean to YAML 1.1 readers (PyYAML)
    doc.set(("display", "skin"), "a: b # c")
    assert reference("yaml", doc.dumps())["display"]["skin"] == "a: b # c"


@pytest.mark.parametrize("unit", [2, 4])
def test_yaml_new_nested_keys_use_the_file_indentation(unit):
    pad = " " * unit
    text = f"a:\n{pad}b: 1\n"
    out = apply(text, "yaml", [("set", ("a", "c", "d"), "x"), ("set", ("e", "f"), 1)])
    assert out == f"a:\n{pad}b: 1\n{pad}c:\n{pad * 2}d: x\ne:\n{pad}f: 1\n"


def test_yaml_null_values_become_mappings():
    text = "model:\nother: ~  # nothing yet\nlast: null"
    out = apply(text, "yaml", [("set", ("model", "provider"), "openrouter"), ("set", ("other", "k"), 1),
                               ("set", ("last", "k"), 2)])
    assert out == "model:\n  provider: openrouter\nother:  # nothing yet\n  k: 1\nlast:\n  k: 2"


def test_yaml_insert_after_block_scalars_and_sequences():
    text = "a:\n  text: |\n    line1\n    line2\n\n  list:\n  - x\n  - y\nb: 1\n"
    out = apply(text, "yaml", [("set", ("a", "new"), "v")])
    assert out == "a:\n  text: |\n    line1\n    line2\n\n  list:\n  - x\n  - y\n  new: v\nb: 1\n"
    out = apply("a:\n  text: |\n    line1\n\n  k: 1\n", "yaml", [("set", ("a", "text"), "short")])
    assert out == "a:\n  text: short\n\n  k: 1\n"


@pytest.mark.parametrize(
    ("text", "edit", "expected"),
    [
        ("a:\nb: 1\n", ("set", ("a",), 1), "a: 1\nb: 1\n"),
        ("a:  # c\nb: 1\n", ("set", ("a",), "x"), "a: x  # c\nb: 1\n"),
        ("a:", ("set", ("a",), "x"), "a: x"),
        ("a : 1\n", ("set", ("a", ), 2), "a : 2\n"),
        ("a :\n", ("set", ("a", "b"), 2), "a :\n  b: 2\n"),
        ("a:\n  t: |\n    x\n\nb: 1\n", ("set", ("a", "k"), 1), "a:\n  t: |\n    x\n  k: 1\n\nb: 1\n"),
        ("a:\n  t: |+\n    x\n\nb: 1\n", ("set", ("a", "k"), 1), "a:\n  t: |+\n    x\n\n  k: 1\nb: 1\n"),
        ("a:\n  t: >-\n    x\n    y\n", ("set", ("a", "t"), "z"), "a:\n  t: z\n"),
        ("a: [1, 2]\n", ("set", ("a",), "x"), "a: x\n"),
        ("a: 'q' # c\n", ("set", ("a",), "it's"), "a: 'it''s' # c\n"),
        ('a: "q"\n', ("set", ("a",), "tab\there"), 'a: "tab\\there"\n'),
        ("a: q\n", ("set", ("a",), " padded "), 'a: " padded "\n'),
        ("a: q\n", ("set", ("a",), "null"), 'a: "null"\n'),
        ("a: q\n", ("set", ("a",), "1.5"), 'a: "1.5"\n'),
        ("a: q\n", ("set", ("a",), 1e16), "a: 1.0e+16\n"),
        ("a: q\n", ("set", ("a",), math.inf), "a: .inf\n"),
        ("a: q\n", ("set", ("a",), None), "a: null\n"),
        ("a: 1\nb: 2\n", ("delete", ("a",)), "b: 2\n"),
        ("a: 1\nb:\n  c: 2\n  d: 3\n", ("delete", ("b",)), "a: 1\n"),
        ("a: 1\nb: 2", ("delete", ("b",)), "a: 1\n"),
        ("a: {x: 1, z: 2}\n", ("delete", ("a", "z")), "a: {x: 1}\n"),
        ("a: {x: 1}\n", ("delete", ("a", "x")), "a: {}\n"),
    ],
)
def test_yaml_layouts(text, edit, expected):
    out = apply(text, "yaml", [edit])
    assert out == expected
    assert apply(out, "yaml", [edit]) == out


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("a: {x: ~}\n", ("a", "x", "y")),  # an empty value inside {...}
        ("a:\n  ~\n", ("a", "y")),  # the null on its own line
        ("a: &x\n  b: 1\nc: *x\n", ("c", "b")),  # an alias of an anchored mapping
        ("a: &x 1\nc: *x\n", ("a",)),  # an anchored value
    ],
)
def test_yaml_layouts_refused(text, path):
    doc = load(text, "yaml")
    with pytest.raises(UnsafeEdit):
        doc.set(path, "v")
    assert doc.dumps() == text


def test_yaml_flow_mappings():
    assert apply("a: {x: 1}\n", "yaml", [("set", ("a", "y"), 2)]) == "a: {x: 1, \"y\": 2}\n"
    assert apply("a: {}\n", "yaml", [("set", ("a", "b", "c"), "d")]) == "a: {b: {c: d}}\n"
    assert apply("a: {x: 1, z: 2}\n", "yaml", [("delete", ("a", "x"))]) == "a: {z: 2}\n"
    with pytest.raises(UnsafeEdit):
        apply("a: {x: 1,\n  z: 2}\n", "yaml", [("set", ("a", "y"), 2)])


def test_yaml_anchors_and_merges_are_refused_not_guessed():
    text = "base: &base\n  provider: nous\nmodel:\n  <<: *base\n  default: x\n"
    doc = load(text, "yaml")
    assert doc.get(("model", "provider")) == "nous"
    with pytest.raises(UnsafeEdit):
        doc.set(("base", "provider"), "openrouter")
    doc.set(("model", "provider"), "openrouter")  # an explicit key overrides the merged one
    assert reference("yaml", doc.dumps())["model"] == {"provider": "openrouter", "default": "x"}
    assert reference("yaml", doc.dumps())["base"] == {"provider": "nous"}
    with pytest.raises(UnsafeEdit):
        load(text, "yaml").delete(("model", "provider"))
    assert not load(text, "yaml").changed


def test_yaml_insert_after_an_alias():
    text = "base: &b\n  x: 1\nmodel:\n  default: a\n  inherit: *b\nother: 2\n"
    out = apply(text, "yaml", [("set", ("model", "provider"), "openrouter")])
    assert out == "base: &b\n  x: 1\nmodel:\n  default: a\n  inherit: *b\n  provider: openrouter\nother: 2\n"


def test_yaml_replacing_a_block_with_a_value_is_refused():
    doc = load("a:\n  b: 1\n", "yaml")
    with pytest.raises(UnsafeEdit) as info:
        doc.set(("a",), "x")
    assert "without changing other lines" in str(info.value)
    assert not doc.changed
    with pytest.raises(PathError):
        load("a: text\n", "yaml").set(("a", "b"), 1)


def test_yaml_delete():
    text = corpus("hermes_config.yaml")
    out = apply(text, "yaml", [("delete", ("terminal", "env_passthrough")), ("delete", ("compression",))])
    removed, added = changed_lines(text, out)
    assert added == []
    assert removed == ["  env_passthrough:", "    - PATH", "    - HOME", "compression:", "  enabled: true",
                       "  threshold: 0.85"]
    assert apply("a:\n  b: 1\nc: 2\n", "yaml", [("delete", ("a", "b"))]) == "a: {}\nc: 2\n"


def test_ruamel_round_trip_dumper_would_have_changed_bytes():
    """Why YAML edits splice instead of dumping: ruamel.yaml's round-trip dumper rewrites tricky.yaml."""
    from ruamel.yaml.util import load_yaml_guess_indent

    text = corpus("tricky.yaml")
    data, indent, block_seq_indent = load_yaml_guess_indent(text)
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 10**9
    yaml.indent(mapping=indent, sequence=indent, offset=block_seq_indent)
    yaml.explicit_start = True
    yaml.explicit_end = True
    out = io.StringIO()
    yaml.dump(yaml.load(text), out)
    assert out.getvalue() != text
    assert load(text, "yaml").dumps() == text


# ---------------------------------------------------------------------------------------------
# parse errors: file, 1-based line and column, a reason; never an empty document

PARSE_ERRORS = [
    ("json", '{\n  "a": 1\n  "b": 2\n}', 3, 3),
    ("json", '{\n  "a": 1,\n}', 2, 9),
    ("json", '{\n  // no comments in JSON\n  "a": 1\n}', 2, 3),
    ("json", '{"a": NaN}', 1, 7),
    ("json", '{\n  "a": "unterminated\n}', 2, 21),
    ("json", '{"a": 1}\n{"b": 2}', 2, 1),
    ("json", "[1, 2]", 1, 1),
    ("json", '"just a string"', 1, 1),
    ("json", "{\n  'a': 1\n}", 2, 3),
    ("json", '{"a": 01}', 1, 7),
    ("json", '{"a": 1', 1, 8),
    ("jsonc", '{\n  "a": 1,\n  /* unterminated\n}', 3, 3),
    ("jsonc", '{\n  "a": [1,, 2]\n}', 2, 11),
    ("jsonc", "{\n  a: 1\n}", 2, 3),
    ("json5", "{\n  a: 1,\n  b: 'x\n}", 3, 8),
    ("json5", "{\n  a b: 1\n}", 2, 5),
    ("json5", "{\n  a: 1,,\n}", 2, 8),
    ("json5", "{a: 0x}", 1, 5),
    ("toml", 'model = "x"\nmodel = "y"\n', 2, 12),
    ("toml", "[t]\nkey value\n", 2, 5),
    ("toml", 'a = "x\n', 1, 7),
    ("dotenv", "A=1\nthis is not an assignment\n", 2, 6),
    ("dotenv", "A=1\nB\n", 2, 2),
    ("dotenv", "A=1\n\nC='unterminated\nD=2\n", 3, 3),
    ("dotenv", 'A="x"y\n', 1, 6),
    ("yaml", "a: 1\nb: [1, 2\nc: 3\n", 3, 2),
    ("yaml", "a: 1\n b: 2\n", 2, 3),
    ("yaml", "model:\n  provider: x\n  provider: y\n", 3, 3),
    ("yaml", "- a\n- b\n", 1, 1),
    ("yaml", "a: 1\n---\nb: 2\n", 3, 1),
    ("yaml", "a:\n\tb: 1\n", 2, 1),
    ("yaml", "a: 1\nb: \x01\n", 2, 4),
    ("yaml", "a: !unknown x\n", 1, 4),
    ("json", '{"a": [1, 2,]}', 1, 12),
    ("json", '{"a": "tab\there"}', 1, 11),
    ("json", '{"a": "\\q"}', 1, 8),
    ("json", '{"a": "\\u12"}', 1, 8),
    ("json", '{"a": tru}', 1, 7),
    ("json", '{"a": "x', 1, 7),
    ("json", '{"a": 1 "b": 2}', 1, 9),
    ("json", '{"a"', 1, 5),
    ("json", '{"a":', 1, 6),
    ("json", '{"a":' + "[" * 500, 1, 205),
    ("json5", "{a: '\\x4'}", 1, 6),
    ("json5", "{a: '\\01'}", 1, 6),
    ("json5", "{a: '\\1'}", 1, 6),
    ("json5", "{a\\u0041: 1}", 1, 3),
    ("json5", "{a: [1 2]}", 1, 8),
    ("json5", "{a: 1.2.3}", 1, 5),
]


@pytest.mark.parametrize(("fmt", "text", "line", "column"), PARSE_ERRORS)
def test_parse_errors_point_at_the_line(fmt, text, line, column):
    with pytest.raises(ParseError) as info:
        load(text, fmt, filename="cfg")
    err = info.value
    assert (err.filename, err.line) == ("cfg", line), str(err)
    assert err.column == column, str(err)
    assert err.reason and str(err).startswith(f"cfg:{line}:{column}: ")
    # BOM and CRLF do not move the reported position
    with pytest.raises(ParseError) as info:
        load(BOM + crlf(text), fmt, filename="cfg")
    assert info.value.line == line


def test_parse_errors_do_not_quote_secrets():
    secret = "sk-or-v1-" + "a" * 20
    cases = [
        ("json", '{"k": "' + secret + '" "x"}'),
        ("dotenv", secret + "\n"),
        ("yaml", f"a: {secret}\na: {secret}\n"),
        ("toml", f'a = "{secret}"\na = "{secret}"\n'),
    ]
    for fmt, text in cases:
        with pytest.raises(ParseError) as info:
            load(text, fmt)
        assert secret not in str(info.value)


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


# -- JSON family ------------------------------------------------------------------------------

_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")


@st.composite
def json_documents(draw, flavor: str):
    data = draw(st.dictionaries(KEYS, _tree(KEYS, SCALARS), max_size=5))
    unit = draw(st.sampled_from(["  ", "    ", "\t", None]))
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    colon = draw(st.sampled_from([": ", ":", " : "]))
    loose = flavor != "json"
    mark = counter()
    markers: list[str] = []

    def comment(block: bool) -> str:
        m = mark()
        markers.append(m)
        return f"/* {m} */" if block else f"// {m}"

    def scalar(v) -> str:
        if flavor == "json5" and draw(st.booleans()):
            if isinstance(v, str) and "\r" not in v and "\n" not in v and "\u2028" not in v and "\u2029" not in v:
                inner = json.dumps(v, ensure_ascii=False)[1:-1].replace('\\"', '"').replace("'", "\\'")
                return "'" + inner + "'"
            if isinstance(v, int) and not isinstance(v, bool):
                if draw(st.booleans()):
                    return hex(v) if v >= 0 else "-" + hex(-v)
                return "+" + str(v) if v >= 0 else str(v)
            if isinstance(v, float) and 0 < v < 1 and repr(v).startswith("0."):
                return repr(v)[1:]
        return json.dumps(v, ensure_ascii=draw(st.booleans()))

    def key(k: str) -> str:
        if flavor == "json5" and _IDENT.match(k) and draw(st.booleans()):
            return k
        return json.dumps(k, ensure_ascii=draw(st.booleans()))

    def value(v, depth: int) -> str:
        if isinstance(v, dict):
            return obj(v, depth)
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + ("," if v and loose and draw(st.booleans()) else "") + "]"
        return scalar(v)

    def obj(d: dict, depth: int) -> str:
        if not d:
            return draw(st.sampled_from(["{}", "{ }"]))
        trailing = loose and draw(st.booleans())
        items = list(d.items())
        if unit is None:
            parts = [key(k) + colon + value(v, depth + 1) for k, v in items]
            inner = ", ".join(parts) + ("," if trailing else "")
            if loose and draw(st.booleans()):
                inner = comment(True) + " " + inner
            return "{" + inner + "}"
        ind = unit * (depth + 1)
        lines = []
        for i, (k, v) in enumerate(items):
            if draw(st.booleans()) and draw(st.booleans()):
                lines.append("")
            if loose and draw(st.booleans()):
                lines.append(ind + comment(draw(st.booleans())))
            line = ind + key(k) + colon + value(v, depth + 1)
            if i < len(items) - 1 or trailing:
                line += ","
            if loose and draw(st.booleans()):
                line += " " + comment(draw(st.booleans()))
            lines.append(line)
        return "{" + nl + nl.join(lines) + nl + unit * depth + "}"

    text = ""
    if loose and draw(st.booleans()):
        text += comment(False) + nl
    text += obj(data, 0)
    if draw(st.booleans()):
        text += nl
    if draw(st.booleans()):
        text = BOM + text
    return text, data, markers


@pytest.mark.parametrize("flavor", ["json", "jsonc", "json5"])
@PROPS
@given(data=st.data())
def test_json_family_properties(flavor, data):
    text, value_data, markers = data.draw(json_documents(flavor))
    assert same(reference(flavor, text), value_data)
    doc = load(text, flavor)
    assert doc.dumps() == text
    assert same(doc.get((next(iter(value_data)),)) if value_data else None,
                next(iter(value_data.values())) if value_data else None)
    path = data.draw(paths_into(value_data, KEYS, through_none=True))
    value = data.draw(SCALARS)
    check_set(flavor, text, value_data, path, value, markers)
    if value_data:
        check_delete(flavor, text, value_data, data.draw(existing_paths(value_data)), markers)


# -- TOML -------------------------------------------------------------------------------------

TOML_TEXT = st.text(st.characters(codec="utf-8"), max_size=10)
TOML_KEYS = st.one_of(st.sampled_from(["model", "a.b", "with space", "ключ", "x-y", "_k", "3", "true", "", "q'\""]),
                      TOML_TEXT.filter(bool))
TOML_SCALARS = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), TOML_TEXT)
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def toml_string(s: str) -> str:
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_float(f: float) -> str:
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return repr(f)


@st.composite
def toml_documents(draw):
    """TOML with comments, blank lines, odd spacing, quoted keys, [tables], implicit super tables,
    inline tables, multi-line arrays, [[arrays of tables]], CRLF, BOM."""
    data = draw(st.dictionaries(TOML_KEYS, _tree(TOML_KEYS, TOML_SCALARS), max_size=5))
    aot = draw(st.dictionaries(TOML_KEYS.filter(lambda k: k not in data),
                               st.lists(st.dictionaries(TOML_KEYS, TOML_SCALARS, max_size=2), min_size=1, max_size=2),
                               max_size=1))
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    eq = draw(st.sampled_from([" = ", "=", "  =  "]))
    mark = counter()
    markers: list[str] = []
    lines: list[str] = []
    inline: set[int] = set()

    def comment() -> str:
        m = mark()
        markers.append(m)
        return "# " + m

    def key(k: str) -> str:
        if _BARE_KEY.match(k) and draw(st.booleans()):
            return k
        if "'" not in k and k.isprintable() and draw(st.booleans()):
            return "'" + k + "'"
        return toml_string(k)

    def value(v, multiline: bool = False) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, float):
            return toml_float(v)
        if isinstance(v, dict):
            return "{ " + ", ".join(key(k) + " = " + value(x) for k, x in v.items()) + " }" if v else "{}"
        if isinstance(v, list):
            if multiline and v:
                return "[" + nl + "".join("  " + value(x) + "," + nl for x in v) + "]"
            return "[" + ", ".join(value(x) for x in v) + "]"
        return toml_string(v)

    def pairs(d: dict, indent: str) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                if not any(isinstance(x, dict | list) for x in v.values()) and draw(st.booleans()):
                    inline.add(id(v))
                else:
                    continue
            if draw(st.booleans()) and draw(st.booleans()):
                lines.append(indent + comment())
            line = indent + key(k) + eq + value(v, multiline=isinstance(v, list) and draw(st.booleans()))
            if draw(st.booleans()):
                line += "  " + comment()
            lines.append(line)

    def tables(d: dict, prefix: list[str]) -> None:
        for k, v in d.items():
            if not isinstance(v, dict) or id(v) in inline:
                continue
            path = prefix + [k]
            has_pairs = any(not isinstance(x, dict) for x in v.values())
            if has_pairs or not v or draw(st.booleans()):
                if draw(st.booleans()):
                    lines.append("")
                header = "[" + ".".join(key(p) for p in path) + "]"
                if draw(st.booleans()):
                    header += " " + comment()
                lines.append(header)
                pairs(v, draw(st.sampled_from(["", "  ", "\t"])))
            tables(v, path)

    if draw(st.booleans()):
        lines.append(comment())
    pairs(data, "")
    tables(data, [])
    for k, items in aot.items():
        header = "[[" + key(k) + "]]"  # the same spelling each time: see test_toml_refuses_what_tomlkit_rewrites
        for item in items:
            lines.append(header)
            pairs(item, "")
    data.update(aot)
    text = nl.join(lines)
    if lines and draw(st.booleans()):
        text += nl
    if draw(st.booleans()):
        text = BOM + text
    return text, data, markers


@PROPS
@given(data=st.data())
def test_toml_properties(data):
    text, value_data, markers = data.draw(toml_documents())
    assert same(reference("toml", text), value_data)
    assert load(text, "toml").dumps() == text
    path = data.draw(paths_into(value_data, TOML_KEYS, leaves_only=True))
    value = data.draw(TOML_SCALARS)
    check_set("toml", text, value_data, path, value, markers)
    leaves = [k for k, v in value_data.items() if not isinstance(v, dict) and not (v and isinstance(v, list)
                                                                                     and isinstance(v[0], dict))]
    if leaves:  # whole tables: see test_toml_delete_tables
        check_delete("toml", text, value_data, (data.draw(st.sampled_from(leaves)),), markers)


# -- dotenv -----------------------------------------------------------------------------------

ENV_NAMES = st.one_of(st.sampled_from(["A", "B", "OPENROUTER_API_KEY", "x_1", "PATH", "my.var", "k-v"]),
                      st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True))
BARE_VALUES = st.text(string.ascii_letters + string.digits + "-_./:@%+=,~", max_size=10)
ENV_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=10)


@st.composite
def dotenv_documents(draw):
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    mark = counter()
    markers: list[str] = []
    lines: list[str] = []
    data: dict[str, str] = {}
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["assign", "assign", "assign", "comment", "blank"]))
        if kind == "blank":
            lines.append(draw(st.sampled_from(["", "  ", "\t"])))
            continue
        if kind == "comment":
            m = mark()
            markers.append(m)
            lines.append(draw(st.sampled_from(["", "  "])) + "# " + m)
            continue
        name = draw(ENV_NAMES)
        style = draw(st.sampled_from(["bare", "single", "double"]))
        if style == "bare":
            v = draw(BARE_VALUES)
            written = v
        elif style == "single":
            v = draw(ENV_TEXT.filter(lambda s: "'" not in s and "\\" not in s))
            written = "'" + v + "'"
        else:
            v = draw(ENV_TEXT)
            written = '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        line = (draw(st.sampled_from(["", "export "])) + name + draw(st.sampled_from(["=", " = ", "= "])) + written)
        if draw(st.booleans()):
            m = mark()
            markers.append(m)
            line += " # " + m
        if written == "" and line.endswith("= "):
            line = line[:-1]
        lines.append(line)
        data[name] = v
    text = nl.join(lines)
    if lines and draw(st.booleans()):
        text += nl
    if draw(st.booleans()):
        text = BOM + text
    return text, data, markers


@PROPS
@given(data=st.data())
def test_dotenv_properties(data):
    text, value_data, markers = data.draw(dotenv_documents())
    assert reference("dotenv", text) == value_data
    assert load(text, "dotenv").dumps() == text
    if value_data and data.draw(st.booleans()):
        name = data.draw(st.sampled_from(sorted(value_data)))
    else:
        name = data.draw(ENV_NAMES)
    value = data.draw(st.one_of(ANY_TEXT, st.integers()))
    check_set("dotenv", text, value_data, (name,), value, markers)
    if value_data:
        name = data.draw(st.sampled_from(sorted(value_data)))
        check_delete("dotenv", text, value_data, (name,), markers)


# -- YAML -------------------------------------------------------------------------------------

_YAML_UNPRINTABLE = "\x7f\x85\ufeff\u2028\u2029" + "".join(chr(c) for c in range(0x80, 0xA0))
YAML_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Co", "Cn"),
                                  exclude_characters=_YAML_UNPRINTABLE), max_size=10)
YAML_KEYS = st.one_of(
    st.sampled_from(["model", "a.b", "with space", "ключ", "api-key", "GOOSE_MODEL", "yes", "1", "null", "a: b",
                     "#x", "- d", "", "on", "~"]),
    YAML_TEXT.filter(bool),
)
YAML_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), FINITE, YAML_TEXT)
_SAFE = YAML(typ="safe", pure=True)


def _reads_as(doc: str, expected: dict) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return same(_SAFE.load(doc), expected)
    except Exception:
        return False


@st.composite
def yaml_documents(draw):
    data = draw(st.dictionaries(YAML_KEYS, _tree(YAML_KEYS, YAML_SCALARS), max_size=5))
    unit = draw(st.sampled_from([2, 4]))
    offset = draw(st.sampled_from([0, 2]))
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    mark = counter()
    markers: list[str] = []
    lines: list[str] = []
    flow_paths: set[tuple[str, ...]] = set()

    def comment() -> str:
        m = mark()
        markers.append(m)
        return "# " + m

    def tail() -> str:
        return " " + comment() if draw(st.booleans()) and draw(st.booleans()) else ""

    def dq(s: str) -> str:
        return json.dumps(s, ensure_ascii=False)

    def key(k: str) -> str:
        if k and _reads_as(k + ": 0\n", {k: 0}) and draw(st.booleans()):
            return k
        return dq(k)

    def flow_scalar(v) -> str:
        if isinstance(v, str):
            return dq(v)
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        return repr(v) if isinstance(v, float) else str(v)

    def scalar(v) -> str:
        if isinstance(v, str):
            choices = [dq(v)]
            if _reads_as("k: " + v + "\n", {"k": v}) and v.strip():
                choices.append(v)
            single = "'" + v.replace("'", "''") + "'"
            if _reads_as("k: " + single + "\n", {"k": v}):
                choices.append(single)
            return draw(st.sampled_from(choices))
        if v is None:
            return draw(st.sampled_from(["~", "null", "", "Null"]))
        if isinstance(v, bool):
            return draw(st.sampled_from(["true", "True"] if v else ["false", "FALSE"]))
        return flow_scalar(v)

    def mapping(d: dict, col: int, path: tuple[str, ...]) -> None:
        pad = " " * col
        for k, v in d.items():
            if draw(st.booleans()) and draw(st.booleans()):
                lines.append("")
            if draw(st.booleans()) and draw(st.booleans()):
                lines.append(pad + comment())
            head = pad + key(k) + ":"
            if isinstance(v, dict):
                if not v:
                    lines.append(head + " {}" + tail())
                elif all(not isinstance(x, dict | list) for x in v.values()) and draw(st.booleans()):
                    flow_paths.add(path + (k,))
                    items = ", ".join(dq(kk) + ": " + flow_scalar(vv) for kk, vv in v.items())
                    lines.append(head + " {" + items + "}" + tail())
                else:
                    lines.append(head + tail())
                    mapping(v, col + unit, path + (k,))
            elif isinstance(v, list):
                if not v or draw(st.booleans()):
                    lines.append(head + " [" + ", ".join(flow_scalar(x) for x in v) + "]" + tail())
                else:
                    lines.append(head + tail())
                    for x in v:
                        lines.append(" " * (col + offset) + "- " + flow_scalar(x))
            else:
                s = scalar(v)
                lines.append(head + (" " + s if s else "") + tail())

    if draw(st.booleans()):
        lines.append(comment())
    if draw(st.booleans()):
        lines.append("---")
    mapping(data, 0, ())
    text = nl.join(lines)
    if lines and draw(st.booleans()):
        text += nl
    if draw(st.booleans()):
        text = BOM + text
    return text, data, markers, frozenset(flow_paths)


@PROPS
@given(data=st.data())
def test_yaml_properties(data):
    text, value_data, markers, flow_paths = data.draw(yaml_documents())
    assert same(reference("yaml", text), value_data)
    assert load(text, "yaml").dumps() == text
    path = data.draw(paths_into(value_data, YAML_KEYS, through_none=True, leaves_only=True, skip_lists=True,
                                flow_paths=flow_paths))
    value = data.draw(st.one_of(SCALARS, st.floats()))
    check_set("yaml", text, value_data, path, value, markers)
    if value_data:
        path = data.draw(existing_paths(value_data))
        check_delete("yaml", text, value_data, path, markers)
