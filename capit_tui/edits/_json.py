"""JSON, JSONC and JSON5 documents: a small concrete syntax tree and a text splicer.

The parser records where every key, value and comma sits in the text. An edit replaces the span of
one value or inserts one member's text next to its siblings, so everything else (comments, spacing,
key order, trailing commas, quoting, CRLF, BOM) stays byte for byte.

Flavours:
- json:  RFC 8259, as JSON.parse reads it. No comments, no trailing commas, no NaN.
- jsonc: JSON plus // and /* */ comments and trailing commas (VS Code's settings.json, opencode.jsonc).
- json5: JSONC plus unquoted identifier keys, 'single-quoted' strings, hex numbers, leading or
         trailing decimal points, +/-Infinity, NaN, leading '+', and backslash-newline in strings.
Values written are always plain JSON (json.dumps with ensure_ascii=False).

The parser and its node types live in `_json_parse`; this module holds the document: reading,
setting and deleting values, and rendering new text in the file's own style.
"""

from __future__ import annotations

import json
import re

from ._base import (
    _MISSING,
    Document,
    ParseError,
    PathError,
    Scalar,
    UnsafeEdit,
    check_path,
    check_value,
    describe,
    dotted,
    line_start,
    lookup,
    newline_of,
    same,
    split_bom,
    with_deleted,
    with_set,
)
from ._base import (
    splice as _splice,
)
from ._json_parse import (
    _JSON5_WS,
    _Member,
    _Node,
    _Object,
    _object_to_py,
    _Parser,
    _Scalar,
    _to_py,
    _walk_objects,
)

_ASCII_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")


class JSONDocument(Document):
    """A JSON, JSONC or JSON5 file. See the module docstring."""

    def __init__(self, text: str, fmt: str, filename: str) -> None:
        super().__init__(text, filename)
        self.fmt = fmt
        self._bom, body = split_bom(text)
        self._nl = newline_of(body)
        self._set_body(body)

    # -- parsing -------------------------------------------------------------------------------

    def _parse(self, body: str) -> _Object | None:
        return _Parser(body, self.fmt, self.filename).document()

    def _set_body(self, body: str) -> None:
        self._body = body
        self._root = self._parse(body)
        self._data = _object_to_py(self._root) if self._root is not None else {}

    def dumps(self) -> str:
        return self._bom + self._body

    # -- reading -------------------------------------------------------------------------------

    def get(self, path):
        path = check_path(path)
        v = lookup(self._data, path)
        return None if v is _MISSING else v

    # -- style ---------------------------------------------------------------------------------

    def _line_indent(self, pos: int) -> str:
        ls = line_start(self._body, pos)
        j = ls
        while j < len(self._body) and self._body[j] in " \t":
            j += 1
        return self._body[ls:j]

    def _starts_line(self, pos: int) -> bool:
        ls = line_start(self._body, pos)
        return self._body[ls:pos].strip(" \t") == ""

    def _indent_unit(self) -> str:
        """The file's indentation step: taken from the first object whose members sit on their own lines."""
        if self._root is None:
            return "  "
        for obj, _depth in _walk_objects(self._root):
            for m in obj.members:
                if self._starts_line(m.key_start) and "\n" in self._body[obj.start : m.key_start]:
                    outer = self._line_indent(obj.start)
                    inner = self._line_indent(m.key_start)
                    if inner.startswith(outer) and len(inner) > len(outer):
                        return inner[len(outer) :]
                    break
        return "  "

    def _colon(self, obj: _Object | None) -> str:
        """The text between a key and its value, as the file writes it (': ' by default)."""
        candidates = list(obj.members) if obj is not None and obj.members else []
        if self._root is not None and not candidates:
            candidates = [m for o, _ in _walk_objects(self._root) for m in o.members]
        for m in reversed(candidates):
            sep = self._body[m.key_end : m.value.start]
            if ":" in sep and sep.strip(" \t") == ":":
                return sep
        return ": "

    def _trailing_comma_style(self) -> bool:
        """Whether multi-line objects in this file end with a comma after their last member."""
        if self.fmt == "json" or self._root is None:
            return False
        votes = [
            o.members[-1].comma is not None
            for o, _ in _walk_objects(self._root)
            if o.members and "\n" in self._body[o.start : o.end]
        ]
        return bool(votes) and sum(votes) * 2 > len(votes)

    def _unquoted_keys(self, obj: _Object | None) -> bool:
        """JSON5 only: write new keys unquoted when most keys of this object (else of the file) are."""
        if self.fmt != "json5":
            return False
        scopes = [obj.members if obj is not None else []]
        if self._root is not None:
            scopes.append([m for o, _ in _walk_objects(self._root) for m in o.members])
        for members in scopes:
            unquoted = sum(not m.quoted for m in members)
            if unquoted * 2 != len(members):  # a majority either way (an empty scope is a tie)
                return unquoted * 2 > len(members)
        return False

    def _pretty(self) -> bool:
        """False for a minified one-line document with content; True otherwise."""
        if self._root is None:
            return True
        span = self._body[self._root.start : self._root.end]
        return "\n" in span or not self._root.members

    def _parent(self, obj: _Object) -> _Object | None:
        if self._root is None or obj is self._root:
            return None
        for o, _ in _walk_objects(self._root):
            if any(m.value is obj for m in o.members):
                return o
        return None

    def _key_text(self, key: str, unquoted: bool) -> str:
        if unquoted and _ASCII_IDENT.match(key):
            return key
        return json.dumps(key, ensure_ascii=False)

    @staticmethod
    def _scalar_text(value: Scalar) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(int(value))
        if isinstance(value, float):
            return json.dumps(value)
        return json.dumps(value, ensure_ascii=False)

    def _nested_text(self, rest: tuple[str, ...], value: Scalar, indent: str, *, pretty: bool,
                     unquoted: bool, colon: str, unit: str, trailing: bool) -> str:
        """The text of a value: the scalar, or new objects down `rest` holding it."""
        if not rest:
            return self._scalar_text(value)
        key = self._key_text(rest[0], unquoted)
        inner = self._nested_text(rest[1:], value, indent + unit, pretty=pretty, unquoted=unquoted,
                                  colon=colon, unit=unit, trailing=trailing)
        if pretty:
            nl = self._nl
            return "{" + nl + indent + unit + key + colon + inner + ("," if trailing else "") + nl + indent + "}"
        return "{" + key + colon + inner + "}"

    # -- editing -------------------------------------------------------------------------------

    def _commit(self, new_body: str, expected: dict) -> None:
        try:
            root = self._parse(new_body)
        except ParseError as exc:  # a bug in the splicer; never write such a file
            raise UnsafeEdit(
                f"capit-tui cannot edit {self.filename} safely: the edit would not parse ({exc.reason})"
            ) from None
        data = _object_to_py(root) if root is not None else {}
        if not same(data, expected):
            raise UnsafeEdit(f"capit-tui cannot edit {self.filename} safely: the edit would change other values")
        self._body = new_body
        self._root = root
        self._data = data

    def set(self, path, value) -> None:
        path = check_path(path)
        check_value(value)
        current = lookup(self._data, path)
        if current is not _MISSING and same(current, value):
            return
        expected = with_set(self._data, path, value)
        if self._root is None:
            self._commit(self._empty_document_text(path, value), expected)
            return
        obj = self._root
        for i, key in enumerate(path):
            member = obj.last(key)
            if member is None:
                self._commit(_splice(self._body, self._insert(obj, path[i], path[i + 1 :], value)), expected)
                return
            if i == len(path) - 1:
                v = member.value
                self._commit(_splice(self._body, [(v.start, v.end, self._scalar_text(value))]), expected)
                return
            v = member.value
            if isinstance(v, _Scalar) and v.value is None:  # `"env": null` becomes `"env": {...}`
                filled = self._fill_null(obj, member, path[i + 1 :], value)
                self._commit(_splice(self._body, [(v.start, v.end, filled)]), expected)
                return
            if not isinstance(member.value, _Object):
                raise PathError(f"{dotted(path[: i + 1])} is {describe(_to_py(member.value))}, not an object")
            obj = member.value

    def _fill_null(self, obj: _Object, member: _Member, rest: tuple[str, ...], value: Scalar) -> str:
        unit = self._indent_unit()
        multiline = "\n" in self._body[obj.start : obj.end]
        if self._starts_line(member.key_start):
            ind = self._line_indent(member.key_start)
        else:
            ind = self._line_indent(obj.start) + unit
        return self._nested_text(rest, value, ind, pretty=multiline, unquoted=self._unquoted_keys(obj),
                                 colon=self._colon(obj), unit=unit, trailing=self._trailing_comma_style())

    def _empty_document_text(self, path: tuple[str, ...], value: Scalar) -> str:
        nl, unit = self._nl, "  "
        unquoted = False
        body = self._body.rstrip("".join(_JSON5_WS))
        prefix = body + nl if body else ""
        member = self._key_text(path[0], unquoted) + ": " + self._nested_text(
            path[1:], value, unit, pretty=True, unquoted=unquoted, colon=": ", unit=unit, trailing=False
        )
        return prefix + "{" + nl + unit + member + nl + "}" + nl

    def _insert(self, obj: _Object, key: str, rest: tuple[str, ...], value: Scalar) -> list[tuple[int, int, str]]:
        body, nl = self._body, self._nl
        unit = self._indent_unit()
        colon = self._colon(obj)
        unquoted = self._unquoted_keys(obj)
        trailing_style = self._trailing_comma_style()
        close = obj.end - 1  # offset of '}'
        multiline = "\n" in body[obj.start : obj.end]
        inner = body[obj.start + 1 : close]
        empty = not obj.members and inner.strip("".join(_JSON5_WS)) == ""

        if empty:
            parent = self._parent(obj)
            if parent is None:
                pretty = multiline or self._pretty()
            else:
                pretty = multiline or "\n" in body[parent.start : parent.end]
            if pretty:
                outer = self._line_indent(obj.start)
                ind = outer + unit
                text = self._key_text(key, unquoted) + colon + self._nested_text(
                    rest, value, ind, pretty=True, unquoted=unquoted, colon=colon, unit=unit, trailing=trailing_style
                )
                comma = "," if trailing_style else ""
                return [(obj.start + 1, close, nl + ind + text + comma + nl + outer)]
            text = self._key_text(key, unquoted) + colon + self._nested_text(
                rest, value, "", pretty=False, unquoted=unquoted, colon=colon, unit=unit, trailing=False
            )
            return [(obj.start + 1, close, text)]

        if not multiline:
            # one-line object: `{"a": 1, "b": 2}` -> `{"a": 1, "b": 2, "k": v}`
            text = self._key_text(key, unquoted) + colon + self._nested_text(
                rest, value, "", pretty=False, unquoted=unquoted, colon=colon, unit=unit, trailing=False
            )
            space = " " if colon.endswith(" ") else ""
            if not obj.members:  # only comments inside
                p = close
                while body[p - 1] in " \t":
                    p -= 1
                return [(p, p, " " + text)]
            tail = obj.members[-1]
            if tail.comma is not None:
                return [(tail.comma + 1, tail.comma + 1, space + text + ",")]
            return [(tail.value.end, tail.value.end, "," + space + text)]

        # multi-line object: a new line before the closing brace, indented like the last member
        last = obj.members[-1] if obj.members else None
        if last is not None and self._starts_line(last.key_start):
            ind = self._line_indent(last.key_start)
        else:
            ind = self._line_indent(obj.start) + unit
        trailing = last.comma is not None if last is not None else trailing_style
        text = self._key_text(key, unquoted) + colon + self._nested_text(
            rest, value, ind, pretty=True, unquoted=unquoted, colon=colon, unit=unit, trailing=trailing_style
        )
        edits: list[tuple[int, int, str]] = []
        if last is not None and last.comma is None:
            edits.append((last.value.end, last.value.end, ","))
        comma = "," if trailing else ""
        if self._starts_line(close):
            ls = line_start(body, close)
            edits.append((ls, ls, ind + text + comma + nl))
        else:
            p = close
            while p > obj.start + 1 and body[p - 1] in " \t":
                p -= 1
            edits.append((p, p, nl + ind + text + comma))
        return edits

    def delete(self, path) -> None:
        path = check_path(path)
        if lookup(self._data, path) is _MISSING:
            return
        expected = with_deleted(self._data, path)
        saved = (self._body, self._root, self._data)
        try:
            # Remove every occurrence of the key (duplicates included), one splice at a time.
            while True:
                obj: _Node | None = self._root
                for key in path[:-1]:
                    m = obj.last(key) if isinstance(obj, _Object) else None
                    obj = m.value if m is not None else None
                if not isinstance(obj, _Object):
                    break
                idx = next((i for i in range(len(obj.members) - 1, -1, -1) if obj.members[i].key == path[-1]), None)
                if idx is None:
                    break
                new_body = _splice(self._body, self._remove_member(obj, idx))
                try:
                    root = self._parse(new_body)
                except ParseError as exc:
                    raise UnsafeEdit(
                        f"capit-tui cannot edit {self.filename} safely: the edit would not parse ({exc.reason})"
                    ) from None
                self._body, self._root = new_body, root
            new_body = self._body
        finally:
            self._body, self._root, self._data = saved
        self._commit(new_body, expected)

    def _remove_member(self, obj: _Object, idx: int) -> list[tuple[int, int, str]]:
        body = self._body
        m = obj.members[idx]
        close = obj.end - 1
        inner = body[obj.start + 1 : close]
        if len(obj.members) == 1 and "//" not in inner and "/*" not in inner:
            return [(obj.start + 1, close, "")]  # -> {}
        after = m.comma + 1 if m.comma is not None else m.value.end
        # the rest of the line after the member: spaces, then perhaps comments
        j = after
        while True:
            while j < len(body) and body[j] in " \t":
                j += 1
            if body.startswith("//", j):
                while j < len(body) and body[j] not in "\r\n":
                    j += 1
            elif body.startswith("/*", j):
                k = body.find("*/", j + 2)
                if k < 0 or "\n" in body[j:k]:
                    break
                j = k + 2
                continue
            break
        at_eol = j >= len(body) or body[j] in "\r\n"
        edits: list[tuple[int, int, str]] = []
        prev = obj.members[idx - 1] if idx > 0 else None
        if self._starts_line(m.key_start) and at_eol:
            end = j
            if body.startswith("\r\n", end):
                end += 2
            elif body.startswith("\n", end) or body.startswith("\r", end):
                end += 1
            edits.append((line_start(body, m.key_start), end, ""))
            if m.comma is None and prev is not None and prev.comma is not None:
                edits.append((prev.comma, prev.comma + 1, ""))
            return edits
        if m.comma is not None:
            k = m.comma + 1
            while k < len(body) and body[k] in " \t":
                k += 1
            return [(m.key_start, k, "")]
        if prev is not None and prev.comma is not None:
            between = body[prev.comma + 1 : m.key_start]
            if between.strip("".join(_JSON5_WS)) == "":
                return [(prev.comma, m.value.end, "")]
            s = m.key_start
            while s > prev.comma + 1 and body[s - 1] in " \t":
                s -= 1
            return [(prev.comma, prev.comma + 1, ""), (s, m.value.end, "")]
        return [(m.key_start, m.value.end, "")]
