"""settings.toml as the user's text: the line each value sits on, and edits that touch only what they change.

capit-tui's own config is a user's file like any agent's: comments, blank lines, order, unknown tables and keys
stay byte for byte. A file is read as a list of statements (a `[table]` header, or a `key = value` with every
line of a multi-line value), each with its full path, found by reading each statement alone with tomllib. An
edit replaces, inserts or deletes whole statements; tomlkit renders what is written (and re-renders an edited
`key = value` so its comment stays). Every edit is checked by reading the result with tomllib: only the edited
path may differ, or the edit is refused (Unsupported) and nothing is written.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Path_ = tuple[str, ...]


class Unsupported(ValueError):
    """The file says this in a form the line edits do not handle (an inline table, a split table, ...)."""


@dataclass(frozen=True)
class Stmt:
    kind: str  # "table" ([a.b]), "array" ([[a.b]]) or "key" (a = 1, a.b = 1)
    table: Path_  # the table a key sits in; for a header, its own path
    path: Path_  # the full path it defines
    start: int  # index of its first line
    end: int  # one past its last line


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _descend(node: Any) -> Path_:
    """The path of the one chain of single-key tables in `node` (what one header or one key defines)."""
    out: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        (k, node), = node.items()
        out.append(k)
        if isinstance(node, list):
            break
    return tuple(out)


def _key_part(line: str) -> str:
    """The part of `key = value` before its `=` (quoted keys may hold `=`)."""
    quote = None
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "=":
            return line[:i]
        i += 1
    return line


def _parses(chunk: str) -> bool:
    try:
        tomllib.loads(chunk)
    except tomllib.TOMLDecodeError:
        return False
    return True


def statements(text: str) -> list[Stmt]:
    """Every statement of a TOML text that tomllib reads, in order."""
    lines = _lines(text)
    out: list[Stmt] = []
    table: Path_ = ()
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if not s or s.startswith("#"):
            i += 1
            continue
        if s.startswith("["):
            try:
                path = _descend(tomllib.loads(s))
            except tomllib.TOMLDecodeError:
                i += 1
                continue
            table = path
            out.append(Stmt("array" if s.startswith("[[") else "table", path, path, i, i + 1))
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not _parses("".join(lines[i:j])):
            j += 1
        try:
            key = _descend(tomllib.loads(_key_part(lines[i]) + "= 0\n"))
        except tomllib.TOMLDecodeError:
            key = ()
        out.append(Stmt("key", table, table + key, i, j))
        i = j
    return out


def line_of(text: str, path: Path_) -> int | None:
    """The 1-based line that defines `path` (or the nearest statement that holds it), or None."""
    stmts = statements(text)
    holding = [s for s in stmts if s.path and path[: len(s.path)] == s.path]
    if holding:
        best = max(len(s.path) for s in holding)
        return next(s for s in holding if len(s.path) == best).start + 1
    inside = [s for s in stmts if s.path[: len(path)] == path]
    return inside[0].start + 1 if inside else None


# ---------------------------------------------------------------- rendering


def _tomlkit() -> Any:
    """tomlkit, imported on the first edit: reading settings (every command) needs only tomllib, and
    tomlkit costs ~14 ms of start-up."""
    import tomlkit

    return tomlkit


def _render_key(path: Path_) -> str:
    tomlkit = _tomlkit()
    return ".".join(tomlkit.key(k).as_string() for k in path)


def render_table(table: Path_, values: Mapping[str, Any]) -> str:
    """`[a.b]` and its `key = value` lines, as tomlkit writes them."""
    tomlkit = _tomlkit()
    return f"[{_render_key(table)}]\n" + tomlkit.dumps(dict(values))


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text and text.count("\r\n") == text.count("\n") else "\n"


def _eol(text: str, nl: str) -> str:
    return text.replace("\n", nl) if nl != "\n" else text


# ---------------------------------------------------------------- edits, each checked


def _lookup(data: Any, path: Path_) -> Any:
    for k in path:
        if not isinstance(data, dict) or k not in data:
            return None
        data = data[k]
    return data


def _with(data: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    """A copy of `data` with `path` set to `value` (parents created), or deleted when value is _DELETE."""
    out = dict(data)
    head, rest = path[0], path[1:]
    if not rest:
        if value is _DELETE:
            out.pop(head, None)
        else:
            out[head] = value
        return out
    child = out.get(head, {})
    out[head] = _with(child if isinstance(child, dict) else {}, rest, value)
    return out


_DELETE = object()


def _pruned(data: dict[str, Any], path: Path_) -> dict[str, Any]:
    """`data` without the parents of `path` left empty (an implicit `[a]` vanishes with its last `[a.b]`)."""
    for n in range(len(path) - 1, 0, -1):
        if _lookup(data, path[:n]) == {}:
            data = _with(data, path[:n], _DELETE)
    return data


def _checked(new: str, *expected: dict[str, Any]) -> str:
    try:
        data = tomllib.loads(new)
    except tomllib.TOMLDecodeError:
        raise Unsupported("the result would not parse") from None
    if data not in expected:
        raise Unsupported("the result would change other values")
    return new


def set_value(text: str, table: Path_, key: str, value: Any) -> str:
    """`text` with `table.key = value`: the value replaced where it is (its comment kept), else a line added
    at the end of the table, else the table added at the end of the file."""
    tomlkit = _tomlkit()
    target = (*table, key)
    expected = _with(tomllib.loads(text), target, value)
    lines = _lines(text)
    nl = _newline(text)
    stmts = statements(text)
    same = [s for s in stmts if s.kind == "key" and s.path == target]
    if same:
        s = same[0]
        sub = tomlkit.parse("".join(lines[s.start:s.end]))
        node: Any = sub
        for k in target[len(s.table):-1]:
            node = node[k]
        node[key] = value
        lines[s.start:s.end] = [sub.as_string()]
        return _checked("".join(lines), expected)
    line = _eol(tomlkit.dumps({key: value}), nl)
    headers = [i for i, s in enumerate(stmts) if s.kind == "table" and s.path == table]
    if headers:
        h = headers[0]
        last = stmts[h]
        for s in stmts[h + 1:]:
            if s.kind != "key":
                break
            last = s
        if last.end == len(lines) and lines and not lines[-1].endswith("\n"):
            lines[-1] += nl
        lines.insert(last.end, line)
        return _checked("".join(lines), expected)
    if any(s.path[: len(table)] == table for s in stmts):
        raise Unsupported(f"[{_render_key(table)}] is written in a form capit-tui does not edit")
    return add_table(text, table, {key: value})


def add_table(text: str, table: Path_, values: Mapping[str, Any]) -> str:
    """`text` with a new `[table]` at its end, after one blank line."""
    nl = _newline(text)
    expected = _with(tomllib.loads(text), table, dict(values))
    head = text
    if head.strip():
        if not head.endswith("\n"):
            head += nl
        head += nl
    else:
        head = ""
    return _checked(head + _eol(render_table(table, values), nl), expected)


def delete_value(text: str, path: Path_) -> str:
    """`text` without the `key = value` statement of `path` (nothing if absent)."""
    old = tomllib.loads(text)
    if _lookup(old, path) is None:
        return text
    lines = _lines(text)
    found = [s for s in statements(text) if s.kind == "key" and s.path == path]
    if not found:
        raise Unsupported(f"{_render_key(path)} is written in a form capit-tui does not edit")
    s = found[0]
    del lines[s.start:s.end]
    return _checked("".join(lines), _with(old, path, _DELETE))


def remove_table(text: str, table: Path_) -> str:
    """`text` without `table`: its header, its keys and sub-tables, and the comments inside it. A comment
    block right above the next header stays (it introduces that table); so do comments above its own header."""
    old = tomllib.loads(text)
    if _lookup(old, table) is None:
        return text
    lines = _lines(text)
    stmts = statements(text)
    doomed: set[int] = set()
    for n, s in enumerate(stmts):
        if s.path[: len(table)] != table:
            continue
        if s.kind == "key":
            if s.table[: len(table)] != table:  # a key of an enclosing table (an inline or dotted definition)
                doomed.update(range(s.start, s.end))
            continue
        nxt = next((t for t in stmts[n + 1:] if t.kind != "key"), None)
        end = nxt.start if nxt else len(lines)
        if nxt:
            while end - 1 > s.start and lines[end - 1].lstrip().startswith("#"):
                end -= 1
        start = s.start
        if lines[end - 1].strip() and start > 0 and not lines[start - 1].strip() and start - 1 not in doomed:
            start -= 1  # the blank line that separated it goes with it
        doomed.update(range(start, end))
    new = "".join(line for i, line in enumerate(lines) if i not in doomed)
    expected = _with(old, table, _DELETE)
    return _checked(new, expected, _pruned(expected, table))
