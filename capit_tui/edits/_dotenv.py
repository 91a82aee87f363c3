"""dotenv files, edited line by line.

The grammar is python-dotenv's (what Hermes, Aider and most Python agents load), made strict: a line
that is not an assignment, a comment or blank is a ParseError instead of being skipped, and so is a
bare `NAME` without `=`.

- `NAME=value`, `NAME = value`, `export NAME=value`, leading spaces.
- Values: unquoted (an inline comment needs whitespace before its `#`), 'single-quoted' (only \\' and
  \\\\ are escapes) or "double-quoted" (\\n \\t \\" \\\\ ... escapes); quoted values may span lines.
- The last line defining a name is the one that wins, so get() reads it and set() rewrites it.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from ._base import (
    Document,
    ParseError,
    UnsafeEdit,
    check_path,
    check_value,
    line_col,
    newline_of,
    split_bom,
)

_WS = re.compile(r"[^\S\r\n]*")
_EXPORT = re.compile(r"export[^\S\r\n]+")
_SINGLE_KEY = re.compile(r"'([^']+)'")
_UNQUOTED_KEY = re.compile(r"[^=#\s]+")
_EQUAL = re.compile(r"=[^\S\r\n]*")
_SINGLE_VALUE = re.compile(r"'((?:\\.|[^'\\])*)'", re.DOTALL)
_DOUBLE_VALUE = re.compile(r'"((?:\\.|[^"\\])*)"', re.DOTALL)
_UNQUOTED_VALUE = re.compile(r"[^\r\n]*")
_COMMENT = re.compile(r"(?:[^\S\r\n]*#[^\r\n]*)?")
_EOL = re.compile(r"[^\S\r\n]*(\r\n|\n|\r|$)")
_DOUBLE_ESCAPES = re.compile(r"\\[\\'\"abfnrtv]")
_SINGLE_ESCAPES = re.compile(r"\\[\\']")
_INLINE_COMMENT = re.compile(r"\s+#.*", re.DOTALL)

# Names we write; reading accepts whatever python-dotenv accepts.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
# Values safe to write without quotes for python-dotenv, node's dotenv, docker and a POSIX shell.
_BARE_SAFE = re.compile(r"[\w\-.,:/+@%=~^]*\Z")


def _always(regex: re.Pattern[str], text: str, pos: int) -> re.Match[str]:
    """`regex.match(text, pos)` where the pattern cannot fail there (it matches the empty string, or the
    caller has already checked the text it starts with)."""
    m = regex.match(text, pos)
    assert m is not None
    return m


def _decode(regex: re.Pattern, s: str) -> str:
    return regex.sub(lambda m: codecs.decode(m.group(0), "unicode-escape"), s)


@dataclass
class _Entry:
    start: int  # start of the line (or of its leading whitespace)
    end: int  # just after the line break ending the entry (or len(text))
    key: str | None  # None for blank lines and comments
    value: str | None = None
    value_start: int = 0  # span of the value as written (quotes included; comment excluded)
    value_end: int = 0
    quote: str = ""  # '', "'" or '"'
    export: bool = False


def _parse(text: str, filename: str) -> list[_Entry]:
    entries: list[_Entry] = []
    n = len(text)
    pos = 0

    def fail(at: int, reason: str) -> ParseError:
        line, col = line_col(text, at)
        return ParseError(filename, line, col, reason)

    while pos < n:
        start = pos
        i = _always(_WS, text, pos).end()
        m = _EOL.match(text, i)
        if (m and m.end() > i) or i == n:  # blank line
            end = m.end() if m else n
            entries.append(_Entry(start, end, None))
            pos = end
            continue
        if text[i] == "#":
            m = _always(_COMMENT, text, i)
            e = _always(_EOL, text, m.end())  # the comment runs to the end of the line
            entries.append(_Entry(start, e.end(), None))
            pos = e.end()
            continue
        export = False
        m = _EXPORT.match(text, i)
        if m:
            export = True
            i = m.end()
        if text.startswith("'", i):
            m = _SINGLE_KEY.match(text, i)
            if not m:
                raise fail(i, "unterminated quoted name")
            key = m.group(1)
        else:
            m = _UNQUOTED_KEY.match(text, i)
            if not m:
                raise fail(i, "a NAME=value assignment, a # comment or a blank line was expected")
            key = m.group()
        i = _always(_WS, text, m.end()).end()
        if not text.startswith("=", i):
            if i >= n or text[i] in "\r\n":
                raise fail(i, "'=' was expected after the name (a bare name is not an assignment)")
            raise fail(i, "'=' was expected after the name")
        eq = _always(_EQUAL, text, i)  # text[i] is "="
        i = eq.end()
        quote = ""
        if len(eq.group()) > 1 and text.startswith("#", i):  # `NAME= # comment`: empty value
            value, vstart, vend = "", i, i
        elif text.startswith("'", i):
            m = _SINGLE_VALUE.match(text, i)
            if not m:
                raise fail(i, "unterminated single-quoted value")
            value, vstart, vend, quote = _decode(_SINGLE_ESCAPES, m.group(1)), i, m.end(), "'"
        elif text.startswith('"', i):
            m = _DOUBLE_VALUE.match(text, i)
            if not m:
                raise fail(i, "unterminated double-quoted value")
            value, vstart, vend, quote = _decode(_DOUBLE_ESCAPES, m.group(1)), i, m.end(), '"'
        else:
            m = _always(_UNQUOTED_VALUE, text, i)
            value = _INLINE_COMMENT.sub("", m.group()).rstrip()
            vstart, vend = i, i + len(value)
            i = m.end()
        j = _always(_COMMENT, text, max(i, vend)).end()
        eol = _EOL.match(text, j)
        if not eol:
            raise fail(j, "unexpected text after the closing quote")
        entries.append(_Entry(start, eol.end(), key, value, vstart, vend, quote, export))
        pos = eol.end()
    return entries


class DotenvDocument(Document):
    """A .env file. Paths are one element: (NAME,). Values are strings."""

    fmt = "dotenv"

    def __init__(self, text: str, filename: str) -> None:
        super().__init__(text, filename)
        self._bom, self._body = split_bom(text)
        self._nl = newline_of(self._body)
        self._entries = _parse(self._body, filename)

    def dumps(self) -> str:
        return self._bom + self._body

    @staticmethod
    def _name(path) -> str:
        path = check_path(path)
        if len(path) != 1:
            raise ValueError("a dotenv path has exactly one element: (NAME,)")
        return path[0]

    def _last(self, name: str) -> _Entry | None:
        for e in reversed(self._entries):
            if e.key == name:
                return e
        return None

    def get(self, path):
        e = self._last(self._name(path))
        return None if e is None else e.value

    def _render(self, value: str, style: str) -> str:
        """The value as written: in `style` when it can hold the value, else the safest quoting."""
        if style == "":
            order = ["", '"', "'"]
        elif style == "'":
            order = ["'", '"']
        else:
            order = ['"', "'"]
        if "$" in value:  # single quotes keep $ literal for python-dotenv, docker and shells alike
            order = ["'"] + [s for s in order if s != "'"]
        for s in order:
            if s == "" and not _BARE_SAFE.match(value):
                continue
            if s == "'" and any(ch in value for ch in "'\\\r\n"):
                continue
            if s == "":
                text = value
            elif s == "'":
                text = "'" + value + "'"
            else:
                esc = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
                       .replace("\a", "\\a").replace("\b", "\\b").replace("\f", "\\f").replace("\v", "\\v"))
                text = '"' + esc + '"'
            try:
                entries = _parse("X=" + text + "\n", "<check>")
            except ParseError:
                continue
            if len(entries) == 1 and entries[0].value == value:
                return text
        raise ValueError("this value cannot be written to a .env file so that it reads back the same")

    def _commit(self, body: str, name: str, value: str | None) -> None:
        try:
            entries = _parse(body, self.filename)
        except ParseError as exc:
            raise UnsafeEdit(
                f"capit-tui cannot edit {self.filename} safely: the edit would not parse ({exc.reason})"
            ) from None
        before = {e.key: e.value for e in self._entries if e.key is not None}
        after = {e.key: e.value for e in entries if e.key is not None}
        if value is None:
            before.pop(name, None)
        else:
            before[name] = value
        if before != after:
            raise UnsafeEdit(f"capit-tui cannot edit {self.filename} safely: the edit would change other values")
        self._body, self._entries = body, entries

    def set(self, path, value) -> None:
        name = self._name(path)
        check_value(value, allow_none=False)
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif not isinstance(value, str):
            value = str(value)
        body = self._body
        last = self._last(name)
        if last is not None:
            if last.value == value:
                return
            text = self._render(value, last.quote)
            if last.value_start == last.value_end and body.startswith("#", last.value_end):
                text += " "  # `NAME= # comment`: keep the comment a comment
            new = body[: last.value_start] + text + body[last.value_end :]
        else:
            if not NAME.match(name):
                raise ValueError("not a valid variable name for a .env file")
            assigns = [e for e in self._entries if e.key is not None]
            export = "export " if assigns and all(e.export for e in assigns) else ""
            line = export + name + "=" + self._render(value, "") + self._nl
            sep = self._nl if body and not body.endswith(("\n", "\r")) else ""
            new = body + sep + line
        self._commit(new, name, value)

    def delete(self, path) -> None:
        name = self._name(path)
        doomed = [e for e in self._entries if e.key == name]
        if not doomed:
            return
        body = self._body
        for e in reversed(doomed):
            body = body[: e.start] + body[e.end :]
        self._commit(body, name, None)
