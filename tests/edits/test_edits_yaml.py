"""capit_tui.edits on YAML: quotes, comments, indentation, block and flow layouts, anchors refused, and
generated documents."""

from __future__ import annotations

import io
import json
import math
import warnings

import pytest
from edits_support import (
    BOM,
    FINITE,
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
from ruamel.yaml import YAML

from capit_tui.edits import PathError, UnsafeEdit, load
from capit_tui.edits._base import same

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
# hypothesis: generated documents

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
