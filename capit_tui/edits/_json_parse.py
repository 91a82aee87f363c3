"""JSON, JSONC and JSON5 parsing: a small concrete syntax tree that records where every key,
value and comma sits in the text, so `_json.JSONDocument` can splice edits into exactly those spans.

Flavours (see `_json` for what each accepts): json is RFC 8259, jsonc adds comments and trailing
commas, json5 adds the ECMAScript extras (identifier keys, single quotes, hex, Infinity/NaN, ...).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from ._base import ParseError, line_col

MAX_DEPTH = 200  # far beyond any config file, well within Python's recursion limit

_JSON_WS = frozenset(" \t\n\r")
# JSON5 whitespace: ECMAScript WhiteSpace and LineTerminator.
_JSON5_WS = frozenset(
    " \t\n\r\v\f\u00a0\u2028\u2029\ufeff\u1680\u202f\u205f\u3000" + "".join(chr(c) for c in range(0x2000, 0x200B))
)
_JSON5_LINE_END = "\n\r\u2028\u2029"

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_JSON5_NUMBER = re.compile(
    r"[+-]?(?:Infinity|NaN|0[xX][0-9a-fA-F]+|(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
)
_JSON_PLAIN_CHARS = re.compile(r'[^"\\\x00-\x1f]+')
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_JSON5_ESCAPES = {**_SIMPLE_ESCAPES, "'": "'", "v": "\v", "0": "\0"}


def _ident_start(ch: str) -> bool:
    if ch in "$_":
        return True
    if ch.isascii():
        return ch.isalpha()
    return unicodedata.category(ch) in ("Lu", "Ll", "Lt", "Lm", "Lo", "Nl")


def _ident_part(ch: str) -> bool:
    if _ident_start(ch):
        return True
    if ch.isascii():
        return ch.isdigit()
    return ch in "\u200c\u200d" or unicodedata.category(ch) in ("Mn", "Mc", "Nd", "Pc")


@dataclass
class _Scalar:
    start: int
    end: int
    value: object


@dataclass
class _Array:
    start: int
    end: int
    items: list[_Node] = field(default_factory=list)


@dataclass
class _Member:
    key: str
    key_start: int
    key_end: int
    quoted: bool
    value: _Node
    comma: int | None = None  # offset of the comma after the value, if any


@dataclass
class _Object:
    start: int  # offset of '{'
    end: int  # offset just after '}'
    members: list[_Member] = field(default_factory=list)

    def last(self, key: str) -> _Member | None:
        for m in reversed(self.members):
            if m.key == key:
                return m
        return None


_Node = _Scalar | _Array | _Object


def _to_py(node: _Node) -> object:
    if isinstance(node, _Scalar):
        return node.value
    if isinstance(node, _Array):
        return [_to_py(n) for n in node.items]
    return _object_to_py(node)


def _object_to_py(obj: _Object) -> dict[str, object]:
    out: dict[str, object] = {}
    for m in obj.members:  # the last occurrence of a key wins, as in JSON.parse
        out[m.key] = _to_py(m.value)
    return out


class _Parser:
    def __init__(self, text: str, flavor: str, filename: str) -> None:
        self.t = text
        self.n = len(text)
        self.flavor = flavor
        self.filename = filename
        self.loose = flavor != "json"  # comments and trailing commas
        self.j5 = flavor == "json5"
        self.ws = _JSON5_WS if self.j5 else _JSON_WS
        self.name = {"json": "JSON", "jsonc": "JSONC", "json5": "JSON5"}[flavor]

    def fail(self, pos: int, reason: str) -> ParseError:
        line, col = line_col(self.t, pos)
        return ParseError(self.filename, line, col, reason)

    def _char(self, pos: int) -> str:
        ch = self.t[pos]
        return repr(ch) if ch.isprintable() and ch != " " else f"U+{ord(ch):04X}"

    def skip(self, i: int) -> int:
        t, n, ws = self.t, self.n, self.ws
        while i < n:
            c = t[i]
            if c in ws:
                i += 1
            elif c == "/" and i + 1 < n and t[i + 1] in "/*":
                if not self.loose:
                    raise self.fail(i, "comments are not allowed in JSON")
                if t[i + 1] == "/":
                    j = i + 2
                    ends = _JSON5_LINE_END if self.j5 else "\n\r"
                    while j < n and t[j] not in ends:
                        j += 1
                    i = j
                else:
                    j = t.find("*/", i + 2)
                    if j < 0:
                        raise self.fail(i, "unterminated /* comment")
                    i = j + 2
            else:
                break
        return i

    def document(self) -> _Object | None:
        i = self.skip(0)
        if i >= self.n:
            return None
        if self.t[i] != "{":
            # Say what is wrong with the value if it is not even valid, else that it is not an object.
            self.value(i, 1)
            raise self.fail(i, f"the top level of this {self.name} file must be an object {{...}}")
        obj, i = self.object(i, 1)
        i = self.skip(i)
        if i < self.n:
            raise self.fail(i, f"unexpected {self._char(i)} after the end of the top-level object")
        return obj

    def value(self, i: int, depth: int) -> tuple[_Node, int]:
        if i >= self.n:
            raise self.fail(i, "unexpected end of file: a value was expected")
        if depth > MAX_DEPTH:
            raise self.fail(i, "nested too deeply")
        c = self.t[i]
        if c == "{":
            return self.object(i, depth)
        if c == "[":
            return self.array(i, depth)
        if c == '"' or (self.j5 and c == "'"):
            s, end = self.string(i)
            return _Scalar(i, end, s), end
        if c in "-0123456789" or (self.j5 and (c in "+." or self.t.startswith(("Infinity", "NaN"), i))):
            return self.number(i)
        if c.isalpha():
            j = i
            while j < self.n and (self.t[j].isalnum() or self.t[j] in "_$"):
                j += 1
            word = self.t[i:j]
            literals = {"true": True, "false": False, "null": None}
            if word in literals:
                return _Scalar(i, j, literals[word]), j
            if word in ("NaN", "Infinity", "nan", "inf") and not self.j5:
                raise self.fail(i, f"NaN and Infinity are not allowed in {self.name}")
            raise self.fail(i, "unexpected word: a value was expected (strings need quotes)")
        raise self.fail(i, f"unexpected character {self._char(i)}: a value was expected")

    def number(self, i: int) -> tuple[_Scalar, int]:
        rx = _JSON5_NUMBER if self.j5 else _JSON_NUMBER
        m = rx.match(self.t, i)
        if not m or m.end() == i:
            raise self.fail(i, "invalid number")
        j = m.end()
        if j < self.n and (_ident_part(self.t[j]) or self.t[j] == "."):
            raise self.fail(i, "invalid number")
        s = m.group()
        body = s.lstrip("+-")
        sign = -1 if s.startswith("-") else 1
        if body == "Infinity":
            v: object = sign * math.inf
        elif body == "NaN":
            v = math.nan
        elif body[:2] in ("0x", "0X"):
            v = sign * int(body[2:], 16)
        elif any(ch in body for ch in ".eE"):
            v = sign * float(body)
        else:
            v = sign * int(body)
        return _Scalar(i, j, v), j

    def string(self, i: int) -> tuple[str, int]:
        t, n = self.t, self.n
        quote = t[i]
        j = i + 1
        parts: list[str] = []
        while True:
            if j >= n:
                raise self.fail(i, "unterminated string")
            if not self.j5:
                m = _JSON_PLAIN_CHARS.match(t, j)
                if m:
                    parts.append(m.group())
                    j = m.end()
                    continue
            c = t[j]
            if c == quote:
                return "".join(parts), j + 1
            if c == "\\":
                j = self.escape(j, parts)
                continue
            if c in "\n\r":
                raise self.fail(j, "unterminated string (a line break inside a string must be written \\n)")
            if c < " " and not self.j5:
                raise self.fail(j, "control character in a string (it must be escaped)")
            parts.append(c)
            j += 1

    def escape(self, j: int, parts: list[str]) -> int:
        t, n = self.t, self.n
        if j + 1 >= n:
            raise self.fail(j, "unterminated string")
        e = t[j + 1]
        if e == "u":
            h = t[j + 2 : j + 6]
            if len(h) != 4 or not all(ch in "0123456789abcdefABCDEF" for ch in h):
                raise self.fail(j, "invalid \\u escape")
            code = int(h, 16)
            k = j + 6
            if 0xD800 <= code < 0xDC00 and t[k : k + 2] == "\\u":
                h2 = t[k + 2 : k + 6]
                if len(h2) == 4 and all(ch in "0123456789abcdefABCDEF" for ch in h2):
                    low = int(h2, 16)
                    if 0xDC00 <= low < 0xE000:
                        parts.append(chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)))
                        return k + 6
            parts.append(chr(code))
            return k
        if not self.j5:
            if e in _SIMPLE_ESCAPES:
                parts.append(_SIMPLE_ESCAPES[e])
                return j + 2
            raise self.fail(j, "invalid escape in a string")
        # JSON5 escapes
        if e == "0" and j + 2 < n and t[j + 2].isdigit():
            raise self.fail(j, "octal escapes are not allowed in JSON5")
        if e in _JSON5_ESCAPES:
            parts.append(_JSON5_ESCAPES[e])
            return j + 2
        if e == "x":
            h = t[j + 2 : j + 4]
            if len(h) != 2 or not all(ch in "0123456789abcdefABCDEF" for ch in h):
                raise self.fail(j, "invalid \\x escape")
            parts.append(chr(int(h, 16)))
            return j + 4
        if e == "\r":
            return j + 3 if t[j + 2 : j + 3] == "\n" else j + 2
        if e in "\n\u2028\u2029":
            return j + 2
        if e in "123456789":
            raise self.fail(j, "invalid escape in a string")
        parts.append(e)
        return j + 2

    def identifier(self, i: int) -> tuple[str, int]:
        t, n = self.t, self.n
        j = i + 1
        while j < n and _ident_part(t[j]):
            j += 1
        if j < n and t[j] == "\\":
            raise self.fail(j, "escapes in unquoted keys are not supported")
        return t[i:j], j

    def object(self, i: int, depth: int) -> tuple[_Object, int]:
        t, n = self.t, self.n
        obj = _Object(i, i)
        i = self.skip(i + 1)
        if i < n and t[i] == "}":
            obj.end = i + 1
            return obj, i + 1
        while True:
            if i >= n:
                raise self.fail(i, "unexpected end of file: '}' was expected")
            c = t[i]
            if c == '"' or (self.j5 and c == "'"):
                key, kend = self.string(i)
                quoted = True
            elif self.j5 and _ident_start(c):
                key, kend = self.identifier(i)
                quoted = False
            else:
                raise self.fail(i, "a key in double quotes was expected" if not self.j5 else "a key was expected")
            kstart = i
            i = self.skip(kend)
            if i >= n or t[i] != ":":
                raise self.fail(i, "':' was expected after the key")
            i = self.skip(i + 1)
            val, i = self.value(i, depth + 1)
            member = _Member(key, kstart, kend, quoted, val)
            obj.members.append(member)
            i = self.skip(i)
            if i < n and t[i] == ",":
                member.comma = i
                j = self.skip(i + 1)
                if j < n and t[j] == "}":
                    if not self.loose:
                        raise self.fail(i, "trailing comma before '}' is not allowed in JSON")
                    obj.end = j + 1
                    return obj, j + 1
                i = j
                continue
            if i < n and t[i] == "}":
                obj.end = i + 1
                return obj, i + 1
            if i >= n:
                raise self.fail(i, "unexpected end of file: '}' was expected")
            raise self.fail(i, f"unexpected {self._char(i)}: ',' or '}}' was expected")

    def array(self, i: int, depth: int) -> tuple[_Array, int]:
        t, n = self.t, self.n
        arr = _Array(i, i)
        i = self.skip(i + 1)
        if i < n and t[i] == "]":
            arr.end = i + 1
            return arr, i + 1
        while True:
            val, i = self.value(i, depth + 1)
            arr.items.append(val)
            i = self.skip(i)
            if i < n and t[i] == ",":
                j = self.skip(i + 1)
                if j < n and t[j] == "]":
                    if not self.loose:
                        raise self.fail(i, "trailing comma before ']' is not allowed in JSON")
                    arr.end = j + 1
                    return arr, j + 1
                i = j
                continue
            if i < n and t[i] == "]":
                arr.end = i + 1
                return arr, i + 1
            if i >= n:
                raise self.fail(i, "unexpected end of file: ']' was expected")
            raise self.fail(i, f"unexpected {self._char(i)}: ',' or ']' was expected")


def _walk_objects(obj: _Object, depth: int = 1) -> Iterator[tuple[_Object, int]]:
    yield obj, depth
    for m in obj.members:
        yield from _walk_node(m.value, depth + 1)


def _walk_node(node: _Node, depth: int) -> Iterator[tuple[_Object, int]]:
    if isinstance(node, _Object):
        yield from _walk_objects(node, depth)
    elif isinstance(node, _Array):
        for item in node.items:
            yield from _walk_node(item, depth + 1)
