"""capit_tui.edits on dotenv files: read like python-dotenv, quoting, export, multi-line values, and
generated documents."""

from __future__ import annotations

import string

import pytest
from edits_support import ANY_TEXT, BOM, PROPS, apply, check_delete, check_set, corpus, counter, reference
from hypothesis import given
from hypothesis import strategies as st

from capit_tui.edits import load

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
# hypothesis: generated documents

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
