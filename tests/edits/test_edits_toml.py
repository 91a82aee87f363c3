"""capit_tui.edits on TOML: root keys, tables (implicit, inline, new), quoting, what tomlkit would rewrite,
and generated documents."""

from __future__ import annotations

import json
import math
import re
import tomllib

import pytest
from edits_support import (
    BOM,
    INSTALLS,
    PROPS,
    _tree,
    apply,
    changed_lines,
    check_delete,
    check_set,
    corpus,
    counter,
    paths_into,
    reference,
)
from hypothesis import given
from hypothesis import strategies as st

from capit_tui.edits import PathError, UnsafeEdit, load
from capit_tui.edits._base import same, with_set

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
# hypothesis: generated documents

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
