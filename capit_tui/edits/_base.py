"""What every format-preserving document shares: errors, the abstract Document, value checks."""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

from capit_tui.errors import CapitError

Scalar = str | int | float | bool | None

BOM = "\ufeff"


class ParseError(CapitError, ValueError):
    """A file that does not parse.

    ``str(err) == f"{filename}:{line}:{column}: {reason}"`` with 1-based line and column. The reason
    never quotes a value from the file (it could be a secret), only the kind of problem.
    """

    def __init__(self, filename: str, line: int, column: int, reason: str) -> None:
        self.filename = filename
        self.line = line
        self.column = column
        self.reason = reason
        super().__init__(f"{filename}:{line}:{column}: {reason}")

    def __reduce__(self):  # keep pickling (multiprocessing, pytest-xdist) working
        return (type(self), (self.filename, self.line, self.column, self.reason))


class UnsafeEdit(CapitError, ValueError):
    """An edit that capit-tui cannot make without changing other parts of the file.

    Raised instead of silently rewriting lines the user did not ask to change. The document is left
    exactly as it was before the call.
    """


class PathError(CapitError, ValueError):
    """The path runs through something that is not an object/table/mapping (e.g. a string or a list)."""


def split_bom(text: str) -> tuple[str, str]:
    if text.startswith(BOM):
        return BOM, text[1:]
    return "", text


def newline_of(text: str) -> str:
    """The file's line ending: CRLF when its first line break is CRLF, else LF."""
    i = text.find("\n")
    if i > 0 and text[i - 1] == "\r":
        return "\r\n"
    return "\n"


def line_col(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    index = max(0, min(index, len(text)))
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def line_end(text: str, index: int) -> int:
    """Offset of the line break (\\r\\n or \\n) ending the line that holds `index`, or len(text)."""
    j = text.find("\n", index)
    if j < 0:
        return len(text)
    if j > index and text[j - 1] == "\r":
        return j - 1
    return j


def after_line(text: str, index: int) -> int:
    """Offset of the start of the line after the one holding `index` (len(text) at the end)."""
    j = text.find("\n", index)
    return len(text) if j < 0 else j + 1


def splice(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply (start, end, new) edits to the original offsets; at one offset, in the order given."""
    order = sorted(range(len(edits)), key=lambda i: (edits[i][0], edits[i][1], i), reverse=True)
    for i in order:
        start, end, new = edits[i]
        text = text[:start] + new + text[end:]
    return text


def check_path(path: Sequence[str]) -> tuple[str, ...]:
    if isinstance(path, str) or not isinstance(path, Sequence):
        raise TypeError(f"a path is a tuple of keys, not {type(path).__name__}")
    path = tuple(path)
    if not path:
        raise ValueError("the path is empty")
    for key in path:
        if not isinstance(key, str):
            raise TypeError(f"path keys are strings, not {type(key).__name__}")
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a path key holds a lone surrogate, which no file can store") from None
    return path


def check_value(value: object, *, allow_none: bool = True, allow_nonfinite: bool = False) -> None:
    if value is None:
        if not allow_none:
            raise ValueError("this format has no null value; use delete() instead")
        return
    if isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if not allow_nonfinite and not math.isfinite(value):
            raise ValueError("NaN and infinities cannot be written to this format")
        return
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("the value holds a lone surrogate, which no file can store") from None
        return
    raise TypeError(f"only str, int, float, bool and None can be written, not {type(value).__name__}")


def same(a: object, b: object) -> bool:
    """Deep equality that tells True from 1, 1 from 1.0, and takes NaN as equal to NaN.

    Iterative, and each pair of containers is compared once: a document whose aliases share one list
    in many places (YAML), or nest deeply, costs its size as written, not its size expanded.
    """
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[object, object]] = [(a, b)]
    while stack:
        x, y = stack.pop()
        if isinstance(x, dict) and isinstance(y, dict) or isinstance(x, list | tuple) and isinstance(y, list | tuple):
            pair = (id(x), id(y))
            if pair in seen:
                continue
            seen.add(pair)
            if isinstance(x, dict):
                assert isinstance(y, dict)
                if x.keys() != y.keys():
                    return False
                stack.extend((x[k], y[k]) for k in x)
            else:
                assert isinstance(y, list | tuple) and isinstance(x, list | tuple)
                if len(x) != len(y):
                    return False
                stack.extend(zip(x, y, strict=True))
        elif not _same_leaf(x, y):
            return False
    return True


def _same_leaf(a: object, b: object) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, int | float) or isinstance(b, int | float):
        return False
    if isinstance(a, dict | list | tuple) or isinstance(b, dict | list | tuple):
        return False  # a container against anything but its own kind
    if a is None or b is None:
        return a is None and b is None
    return type(a) is type(b) and a == b


_MISSING = object()


def lookup(data: object, path: tuple[str, ...]) -> object:
    """The value at `path` in plain nested dicts, or _MISSING."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return _MISSING
        data = data[key]
    return data


def with_set(data: dict, path: tuple[str, ...], value: object) -> dict:
    """A deep copy of `data` with `path` set (missing parents created as dicts)."""
    out = copy.deepcopy(data)
    node = out
    for key in path[:-1]:
        nxt = node.get(key)
        if not isinstance(nxt, dict):
            nxt = {}
            node[key] = nxt
        node = nxt
    node[path[-1]] = value
    return out


def with_deleted(data: dict, path: tuple[str, ...]) -> dict:
    out = copy.deepcopy(data)
    node = out
    for key in path[:-1]:
        nxt = node.get(key)
        if not isinstance(nxt, dict):
            return out
        node = nxt
    node.pop(path[-1], None)
    return out


def dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)


def describe(value: object) -> str:
    """A value's kind for messages (never the value itself: it could be a secret)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


class Document(ABC):
    """A parsed config file that can be edited without touching anything but the edited values.

    Subclasses keep the text as written and change it by splicing (JSON family, YAML, dotenv) or
    through a round-trip library whose output is checked (TOML). Every edit is verified by parsing
    the result again: if the data is not exactly the old data with that one path changed, the edit is
    refused with UnsafeEdit and the document stays as it was.
    """

    fmt: str = ""

    def __init__(self, text: str, filename: str) -> None:
        self.filename = filename
        self._original = text

    @abstractmethod
    def get(self, path: tuple[str, ...]) -> object | None:
        """The value at `path` (plain Python data), or None when absent."""

    @abstractmethod
    def set(self, path: tuple[str, ...], value: Scalar) -> None:
        """Set a scalar at `path`, creating missing parent objects/tables."""

    @abstractmethod
    def delete(self, path: tuple[str, ...]) -> None:
        """Remove `path`; nothing happens when it is absent."""

    @abstractmethod
    def dumps(self) -> str:
        """The whole text, as it would be written."""

    @property
    def changed(self) -> bool:
        return self.dumps() != self._original

    def __repr__(self) -> str:  # never the contents: they hold keys
        return f"<{type(self).__name__} {self.filename!r} changed={self.changed}>"
