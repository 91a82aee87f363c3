"""capit_tui.edits on JSON, JSONC and JSON5: layouts, comments, trailing commas, JSON5 syntax, and
generated documents of the three flavors."""

from __future__ import annotations

import json
import math
import re

import json5
import pytest
from edits_support import (
    BOM,
    KEYS,
    PROPS,
    SCALARS,
    _tree,
    apply,
    changed_lines,
    check_delete,
    check_set,
    corpus,
    counter,
    existing_paths,
    paths_into,
    reference,
)
from hypothesis import given
from hypothesis import strategies as st

from capit_tui.edits import PathError, load
from capit_tui.edits._base import same

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
# hypothesis: generated documents

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
