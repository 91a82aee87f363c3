"""TOML documents through tomlkit, with every edit checked line by line.

What tomlkit does to bytes (tomlkit 0.13-0.15):
- load + as_string() is exact for LF, CRLF, mixed line endings, tabs, no final newline, empty files.
- A BOM is a parse error ("Empty key"): we strip it and put it back.
- Lines it adds end in LF even in a CRLF file: a file whose line breaks are all CRLF is edited as LF
  and turned back into CRLF afterwards (multi-line strings included, so they round-trip).
- A new root key goes after the last root key/value (before any comment that introduces the first
  table), never after a [table] header, where it would belong to that table.

After each edit the new text is read with tomllib and must equal the old data with only that path
changed, and the changed lines must be confined to the edit (one contiguous block, no more old lines
than the edited value had). Otherwise the edit is refused with UnsafeEdit.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter

import tomlkit
from tomlkit.container import OutOfOrderTableProxy
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Comment, InlineTable, Table, Whitespace

from ._base import (
    _MISSING,
    Document,
    ParseError,
    PathError,
    UnsafeEdit,
    check_path,
    check_value,
    describe,
    dotted,
    lookup,
    same,
    split_bom,
    with_deleted,
    with_set,
)

_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_AT_END = re.compile(r"\s*\(at end of document\)\s*$")


def _confined(old: str, new: str) -> tuple[list[str], list[str], int]:
    """The lines removed and added between the common head and tail of two texts, and where."""
    a, b = old.split("\n"), new.split("\n")
    p = 0
    while p < len(a) and p < len(b) and a[p] == b[p]:
        p += 1
    s = 0
    while s < len(a) - p and s < len(b) - p and a[len(a) - 1 - s] == b[len(b) - 1 - s]:
        s += 1
    return a[p : len(a) - s], b[p : len(b) - s], p


def _comment_of(line: str) -> str | None:
    """The `# comment` of a TOML line, if any (a # inside a string is not one)."""
    i, quote = 0, None
    while i < len(line):
        if quote:
            if quote == '"' and line[i] == "\\":
                i += 2
            elif line.startswith(quote, i):
                i += len(quote)
                quote = None
            else:
                i += 1
        elif line.startswith(('"""', "'''"), i):
            quote = line[i : i + 3]
            i += 3
        elif line[i] in "\"'":
            quote = line[i]
            i += 1
        elif line[i] == "#":
            return line[i:]
        else:
            i += 1
    return None


def _comments(lines: list[str]) -> Counter:
    return Counter(c for c in map(_comment_of, lines) if c is not None)


class TOMLDocument(Document):
    fmt = "toml"

    def __init__(self, text: str, filename: str) -> None:
        super().__init__(text, filename)
        self._bom, body = split_bom(text)
        self._crlf = "\r\n" in body and body.count("\r\n") == body.count("\n")
        self._norm = body.replace("\r\n", "\n") if self._crlf else body
        self._data = self._read(self._norm)
        self._unsafe: str | None = None
        try:
            doc = tomlkit.parse(self._norm)
        except (TOMLKitError, RecursionError):
            self._unsafe = "tomlkit cannot read it"
        else:
            if doc.as_string() != self._norm:
                _, _, p = _confined(self._norm, doc.as_string())
                self._unsafe = f"tomlkit would rewrite line {p + 1}"
            elif not same(doc.unwrap(), self._data):
                self._unsafe = "tomlkit reads it differently from the TOML standard library"

    def _read(self, norm: str) -> dict:
        try:
            return tomllib.loads(norm)
        except RecursionError:
            raise ParseError(self.filename, 1, 1, "nested too deeply") from None
        except tomllib.TOMLDecodeError as exc:
            msg = str(exc)
            line = getattr(exc, "lineno", None)
            col = getattr(exc, "colno", None)
            m = _AT.search(msg)
            if m:
                line, col = line or int(m.group(1)), col or int(m.group(2))
                msg = msg[: m.start()]
            elif _AT_END.search(msg):
                msg = _AT_END.sub("", msg) + " at the end of the file"
                line = norm.count("\n") + 1
                col = len(norm) - (norm.rfind("\n") + 1) + 1
            msg = getattr(exc, "msg", None) or msg
            raise ParseError(self.filename, line or 1, col or 1, msg.strip() or "invalid TOML") from None

    def dumps(self) -> str:
        body = self._norm.replace("\n", "\r\n") if self._crlf else self._norm
        return self._bom + body

    def get(self, path):
        path = check_path(path)
        v = lookup(self._data, path)
        return None if v is _MISSING else v

    def _refuse(self, why: str) -> UnsafeEdit:
        return UnsafeEdit(f"capit-tui cannot edit this TOML file without changing other lines: {why}")

    def _check_parents(self, path: tuple[str, ...]) -> None:
        node = self._data
        for i, key in enumerate(path[:-1]):
            if key not in node:
                return
            node = node[key]
            if not isinstance(node, dict):
                raise PathError(f"{dotted(path[: i + 1])} is {describe(node)}, not a table")

    def set(self, path, value) -> None:
        path = check_path(path)
        check_value(value, allow_none=False, allow_nonfinite=True)
        current = lookup(self._data, path)
        if current is not _MISSING and same(current, value):
            return
        self._check_parents(path)
        if self._unsafe:
            raise self._refuse(self._unsafe)
        expected = with_set(self._data, path, value)
        doc = tomlkit.parse(self._norm)
        container = doc
        for i, key in enumerate(path[:-1]):
            if key in container:
                container = container[key]
                continue
            rest = path[i:-1]
            if isinstance(container, InlineTable):
                node = tomlkit.inline_table()
                node[path[-1]] = value
                for k in reversed(rest[1:]):
                    outer = tomlkit.inline_table()
                    outer[k] = node
                    node = outer
                container[rest[0]] = node
                self._finish(doc, expected, max_removed=1)
            else:
                node = tomlkit.table()
                node[path[-1]] = value
                for k in reversed(rest[1:]):
                    outer = tomlkit.table(is_super_table=True)
                    outer[k] = node
                    node = outer
                self._add(container, rest[0], node)
                self._finish(doc, expected, max_removed=0)
            return
        key = path[-1]
        if key in container:
            old = container.item(key) if hasattr(container, "item") else None
            if isinstance(old, OutOfOrderTableProxy):
                raise self._refuse(f"{dotted(path)} is a table split across the file")
            lines = old.as_string().count("\n") + 1 if old is not None else 1
            container[key] = value
            self._finish(doc, expected, max_removed=lines)
        else:
            self._add(container, key, tomlkit.item(value))
            self._finish(doc, expected, max_removed=1 if isinstance(container, InlineTable) else 0)

    @staticmethod
    def _add(container, key: str, item) -> None:
        """Add a key to a table; at the root, after the last root key/value and before any table."""
        if isinstance(container, Table) and container.is_super_table():
            # An implicit table (`[a.b]` defines `a`) gets its own `[a]` header when a key is added;
            # tomlkit would copy the comment of the `[a.b]` header onto it.
            container.trivia.comment = ""
            container.trivia.comment_ws = ""
        if not isinstance(container, tomlkit.TOMLDocument) or isinstance(item, Table):
            container[key] = item
            return
        body = container.body
        first_table = None
        last_kv = None
        for idx, (k, it) in enumerate(body):
            if isinstance(it, Table | AoT) and not (k is not None and k.is_dotted()):
                first_table = idx
                break
            if k is not None and not isinstance(it, Whitespace | Comment):
                last_kv = idx
        if first_table is None or last_kv is None:
            container.append(key, item)
        else:
            container._insert_at(last_kv + 1, key, item)

    def _finish(self, doc, expected: dict, *, max_removed: int, max_added: int | None = None) -> None:
        new = doc.as_string()
        try:
            data = tomllib.loads(new)
        except tomllib.TOMLDecodeError:
            raise self._refuse("the result would not parse") from None
        if not same(data, expected):
            raise self._refuse("the result would change other values")
        removed, added, p = _confined(self._norm, new)
        if max_added is not None:  # a delete: nothing but blank lines may appear, no comment may move
            added = [line for line in added if line.strip()]
            moved = bool(_comments(added))
        else:  # a set: the comments on the changed lines are the comments that were there
            moved = _comments(added) != _comments(removed)
        if moved:
            raise self._refuse(f"line {p + 1} (a comment would move)")
        if len(removed) > max_removed or (max_added is not None and len(added) > max_added):
            raise self._refuse(f"line {p + 1}")
        self._norm, self._data = new, data

    def delete(self, path) -> None:
        path = check_path(path)
        if lookup(self._data, path) is _MISSING:
            return
        if self._unsafe:
            raise self._refuse(self._unsafe)
        expected = with_deleted(self._data, path)
        doc = tomlkit.parse(self._norm)
        container = doc
        for key in path[:-1]:
            container = container[key]
        if not isinstance(container, dict | OutOfOrderTableProxy):
            raise PathError(f"cannot delete {dotted(path)} in {self.filename}")
        item = container.item(path[-1]) if hasattr(container, "item") else None
        if isinstance(item, OutOfOrderTableProxy):
            raise self._refuse(f"{dotted(path)} is a table split across the file")
        text = item.as_string() if item is not None else ""
        del container[path[-1]]
        # An implicit table (`[a.b]` alone defines `a`) vanishes with its last sub-table.
        pruned = expected
        for i in range(len(path) - 1, 0, -1):
            if lookup(pruned, path[:i]) == {}:
                pruned = with_deleted(pruned, path[:i])
        if pruned != expected and same(tomllib.loads(doc.as_string()), pruned):
            expected = pruned
        self._finish(doc, expected, max_removed=text.count("\n") + 2, max_added=0)
