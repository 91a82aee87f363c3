"""capit_tui.edits: a config file is never lost or mangled. What every format shares: the API, the round
trip of the corpus, the installer's edits on it, parse errors. One file per format beside this one.

- Round trip: load(text).dumps() == text for every valid input of every format.
- An edit changes only the edited value (checked with difflib on a corpus of real-looking files, and
  by re-reading the result with an independent parser in hypothesis properties).
- Setting a value to what it already is changes nothing; the same edit twice equals it once.
- A file that does not parse raises ParseError with the right line, never an empty document.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from edits_support import BOM, INSTALLS, apply, changed_lines, corpus, crlf, reference

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
