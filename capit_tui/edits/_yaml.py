"""YAML documents: ruamel.yaml reads the file and says where every node sits; edits splice the text.

Why not ruamel.yaml's round-trip dumper: on ordinary config files (ruamel.yaml 0.18/0.19, with
preserve_quotes=True, width=10**9 and the indentation guessed from the file) load + dump still
rewrites bytes nobody asked to change: `---` and `...` markers are dropped, aligned values
(`key:    value`) lose their spaces, `~`/`null`/`Null` all become an empty value, `True` becomes
`true`, plain scalars continued on the next line are joined, trailing spaces go, a file without a
final newline gains one, CRLF becomes LF, mixed indentation is made uniform, `{ a: 1 }` loses its
inner spaces, and an empty or comment-only file becomes `null\\n...\\n`. Configuration fixes only some
of these. So the composer's node positions (exact character offsets) are used to replace the one
value, or insert the new key's lines after the last member of its mapping with that mapping's
indentation; nothing else in the file is re-emitted.

Every edit is checked by reading the result again (ruamel.yaml, YAML 1.2): the data must be the old
data with only that path changed. Values are written plain only when both YAML 1.2 and YAML 1.1
readers (PyYAML, which Hermes and Aider use) read them back as the same string; otherwise quoted.
Cases the splicer does not handle (anchored or aliased mappings, multi-line flow mappings, keys
inherited through `<<` merges) raise UnsafeEdit instead of guessing.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from ._base import (
    _MISSING,
    Document,
    ParseError,
    PathError,
    Scalar,
    UnsafeEdit,
    after_line,
    check_path,
    check_value,
    describe,
    dotted,
    line_col,
    line_end,
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
from ._yaml_aliases import alias_problem

_STR = "tag:yaml.org,2002:str"
_VALUE = "tag:yaml.org,2002:value"  # a plain `=`: YAML 1.1's "value" key, read as the string "="
_NULL = "tag:yaml.org,2002:null"
_DUP_KEY = re.compile(r'found duplicate key "(.*?)" with value')


def _safe() -> YAML:
    return YAML(typ="safe", pure=True)


def _quiet_load(text: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _safe().load(text)


def _double_quoted(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif (o < 0x20 or 0x7F <= o < 0xA0 or o in (0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF)
              or 0xD800 <= o < 0xE000):
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _float_text(f: float) -> str:
    if f != f:
        return ".nan"
    if f in (float("inf"), float("-inf")):
        return ".inf" if f > 0 else "-.inf"
    r = repr(f)
    if "e" in r:
        mant, exp = r.split("e")
        if "." not in mant:
            mant += ".0"  # YAML 1.1 floats need a dot in the mantissa
        r = mant + "e" + exp
    return r


def _reads_back(text: str, value: object, *, flow: bool, as_key: bool) -> bool:
    """Whether `text` written as a value (or key) reads back as exactly `value` in YAML 1.2 and 1.1."""
    if as_key:
        doc = "{" + text + ": 0}" if flow else text + ": 0\n"
    else:
        doc = "{k: " + text + "}" if flow else "k: " + text + "\n"
    for prefix in ("", "%YAML 1.1\n---\n"):
        try:
            data = _quiet_load(prefix + doc)
        except (YAMLError, ValueError, TypeError):
            return False
        if not isinstance(data, dict) or len(data) != 1:
            return False
        if as_key:
            (k,) = data
            if not (isinstance(k, str) and k == value):
                return False
        elif not same(next(iter(data.values())), value):
            return False
    return True


def render_scalar(value: Scalar, style: str | None = None, *, flow: bool = False, as_key: bool = False) -> str:
    """YAML text for a scalar; strings keep `style` ('"', "'" or plain) when the value allows it."""
    if not isinstance(value, str):
        if value is None:
            text = "null"
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(int(value))
        else:
            text = _float_text(value)
        if _reads_back(text, value, flow=flow, as_key=as_key):
            return text
        raise UnsafeEdit("capit-tui cannot write this value to a YAML file so that it reads back the same")
    if style == '"':
        order = ['"']
    elif style == "'":
        order = ["'", '"']
    else:
        order = ["", '"']
    for s in order:
        if s == "":
            if not value or not (value[0].isalnum() or value[0] in "_/"):
                continue
            text = value
        elif s == "'":
            text = "'" + value.replace("'", "''") + "'"
        else:
            text = _double_quoted(value)
        if _reads_back(text, value, flow=flow, as_key=as_key):
            return text
    raise UnsafeEdit("capit-tui cannot write this value to a YAML file so that it reads back the same")


class YAMLDocument(Document):
    fmt = "yaml"

    def __init__(self, text: str, filename: str) -> None:
        super().__init__(text, filename)
        self._bom, body = split_bom(text)
        self._nl = newline_of(body)
        self._body = body
        self._root, self._data = self._analyse(body)

    # -- parsing -------------------------------------------------------------------------------

    def _fail(self, body: str, line: int, col: int, reason: str) -> ParseError:
        return ParseError(self.filename, line, col, reason)

    def _analyse(self, body: str):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nodes = list(_safe().compose_all(body))
                if len(nodes) > 1:
                    mark = nodes[1].start_mark
                    raise self._fail(body, mark.line + 1, mark.column + 1,
                                     "more than one YAML document in the file (capit-tui edits single-document files)")
                bad = alias_problem(nodes[0]) if nodes else None
                if bad is not None:
                    mark = bad[0].start_mark
                    raise self._fail(body, mark.line + 1, mark.column + 1, bad[1])
                data = _safe().load(body) if nodes else None
        except DuplicateKeyError as exc:
            m = _DUP_KEY.search(exc.problem or "")
            mark = exc.problem_mark
            reason = f'duplicate key "{m.group(1)}"' if m else "duplicate key"
            raise self._fail(body, mark.line + 1, mark.column + 1, reason) from None
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            reason = exc.problem or exc.context or "invalid YAML"
            if mark is None:
                raise self._fail(body, 1, 1, reason) from None
            raise self._fail(body, mark.line + 1, mark.column + 1, reason) from None
        except ReaderError as exc:
            line, col = line_col(body, exc.position)
            ch = exc.character
            code = ch if isinstance(ch, int) else ord(ch) if ch else 0
            raise self._fail(body, line, col, f"character U+{code:04X} is not allowed in YAML") from None
        except YAMLError as exc:
            raise self._fail(body, 1, 1, f"invalid YAML ({type(exc).__name__})") from None
        except RecursionError:
            raise self._fail(body, 1, 1, "nested too deeply") from None
        root = nodes[0] if nodes else None
        if isinstance(root, ScalarNode) and root.tag == _NULL and root.value == "":
            root = None  # only `---` / comments
        if root is not None and not isinstance(root, MappingNode):
            mark = root.start_mark
            raise self._fail(body, mark.line + 1, mark.column + 1,
                             "the top level of this YAML file must be a mapping (key: value lines)")
        if data is None:
            data = {}
        return root, data

    def dumps(self) -> str:
        return self._bom + self._body

    def get(self, path):
        path = check_path(path)
        v = lookup(self._data, path)
        return None if v is _MISSING else v

    # -- helpers -------------------------------------------------------------------------------

    def _unsafe(self, why: str) -> UnsafeEdit:
        return UnsafeEdit(f"capit-tui cannot edit this YAML file without changing other lines: {why}")

    @staticmethod
    def _pair(node: MappingNode, key: str):
        for k, v in reversed(node.value):
            if isinstance(k, ScalarNode) and k.tag in (_STR, _VALUE) and k.value == key:
                return k, v
        return None

    def _no_anchor(self, node, path: tuple[str, ...]) -> None:
        if getattr(node, "anchor", None):
            where = dotted(path) or "the top level"
            raise self._unsafe(f"{where} is shared through an anchor (&{node.anchor}); edit it by hand")

    def _unit(self) -> int:
        counts: Counter[int] = Counter()
        seen: set[int] = set()

        def walk(node):
            if id(node) in seen:  # an alias: the anchored node was walked already
                return
            seen.add(id(node))
            if isinstance(node, MappingNode):
                for k, v in node.value:
                    if isinstance(v, MappingNode) and not v.flow_style and not node.flow_style and v.value:
                        diff = v.value[0][0].start_mark.column - k.start_mark.column
                        if diff > 0:
                            counts[diff] += 1
                    walk(v)
            elif isinstance(node, SequenceNode):
                for item in node.value:
                    walk(item)

        if self._root is not None:
            walk(self._root)
        return counts.most_common(1)[0][0] if counts else 2

    def _colon_after(self, k) -> int:
        i = k.end_mark.index
        body = self._body
        while i < len(body) and body[i] in " \t":
            i += 1
        if i < len(body) and body[i] == ":":
            return i
        raise self._unsafe(f"line {k.start_mark.line + 1} uses a layout capit-tui does not edit")

    def _content_end(self, k, v) -> int:
        """Offset just after the last character that belongs to the member `k: v`."""
        body = self._body
        if k is not None and v.start_mark.index < k.end_mark.index:
            return line_end(body, k.end_mark.index)  # `key: *alias`: the node itself sits further up
        if isinstance(v, ScalarNode):
            if v.start_mark.index == v.end_mark.index:
                if k is None:
                    raise self._unsafe(f"line {v.start_mark.line + 1} has an empty list item")
                return k.end_mark.index
            if v.style in ("|", ">"):
                header = body[v.start_mark.index : line_end(body, v.start_mark.index)].split("#")[0]
                if "+" in header:
                    return v.end_mark.index
                e = v.end_mark.index
                while e > v.start_mark.index and body[e - 1] in " \t\r\n":
                    e -= 1
                return e
            return v.end_mark.index
        if v.flow_style:
            return v.end_mark.index
        if isinstance(v, MappingNode):
            return self._content_end(*v.value[-1])
        return self._content_end(None, v.value[-1])

    def _member_end(self, k, v) -> int:
        """Start of the line after the member `k: v` (len(body) at the end)."""
        e = self._content_end(k, v)
        if e > 0 and self._body[e - 1] == "\n":
            return e
        return after_line(self._body, e)

    def _block_lines(self, keys: tuple[str, ...], value, col: int) -> list[str]:
        unit = self._unit()
        lines = []
        for d, k in enumerate(keys):
            ind = " " * (col + d * unit)
            key = render_scalar(k, as_key=True)
            if d < len(keys) - 1:
                lines.append(ind + key + ":")
            else:
                lines.append(ind + key + ": " + render_scalar(value))
        return lines

    def _insert_lines(self, at: int, lines: list[str]) -> tuple[int, int, str]:
        nl, body = self._nl, self._body
        if at >= len(body) and body and not body.endswith("\n"):
            return (len(body), len(body), nl + nl.join(lines))  # keep "no final newline"
        return (at, at, nl.join(lines) + nl)

    @staticmethod
    def _flow_text(keys: tuple[str, ...], value) -> str:
        text = render_scalar(value, flow=True)
        for k in reversed(keys[1:]):
            text = "{" + render_scalar(k, flow=True, as_key=True) + ": " + text + "}"
        return render_scalar(keys[0], flow=True, as_key=True) + ": " + text

    # -- editing -------------------------------------------------------------------------------

    def _commit(self, edits: list[tuple[int, int, str]], expected: dict) -> None:
        body = _splice(self._body, edits)
        try:
            root, data = self._analyse(body)
        except ParseError as exc:
            raise self._unsafe(f"the result would not parse ({exc.reason})") from None
        if not same(data, expected):
            raise self._unsafe("the result would change other values")
        self._body, self._root, self._data = body, root, data

    def _check_parents(self, path: tuple[str, ...]) -> None:
        node = self._data
        for i, key in enumerate(path[:-1]):
            if not isinstance(node, dict) or key not in node:
                return
            node = node[key]
            if node is not None and not isinstance(node, dict):
                raise PathError(f"{dotted(path[: i + 1])} is {describe(node)}, not a mapping")

    def set(self, path, value) -> None:
        path = check_path(path)
        check_value(value, allow_nonfinite=True)
        current = lookup(self._data, path)
        if current is not _MISSING and same(current, value):
            return
        self._check_parents(path)
        expected = with_set(self._data, path, value)
        self._commit(self._plan_set(path, value), expected)

    def _plan_set(self, path: tuple[str, ...], value) -> list[tuple[int, int, str]]:
        body = self._body
        if self._root is None:
            lines = self._block_lines(path, value, 0)
            return [self._insert_lines(len(body), lines)]
        node = self._root
        for i, key in enumerate(path):
            self._no_anchor(node, path[:i])
            pair = self._pair(node, key)
            rest = path[i + 1 :]
            if pair is None:
                if rest and lookup(self._data, path[: i + 1]) is not _MISSING:
                    raise self._unsafe(f"{dotted(path[: i + 1])} comes from a merge key (<<); edit it by hand")
                return self._plan_insert(node, path[i:], value)
            k, v = pair
            if not rest:
                return self._plan_replace(node, k, v, value, path)
            if isinstance(v, MappingNode):
                node = v
                continue
            if isinstance(v, ScalarNode) and v.tag == _NULL:
                return self._plan_fill_null(node, k, v, rest, value, path[: i + 1])
            raise PathError(f"{dotted(path[: i + 1])} is not a mapping")
        raise AssertionError("unreachable")

    def _plan_insert(self, node: MappingNode, keys: tuple[str, ...], value) -> list[tuple[int, int, str]]:
        body = self._body
        start, end = node.start_mark.index, node.end_mark.index
        if node.flow_style:
            if "\n" in body[start:end]:
                raise self._unsafe(f"line {node.start_mark.line + 1}: a {{...}} mapping over several lines")
            text = self._flow_text(keys, value)
            if not node.value:
                return [(start + 1, end - 1, text)]
            k, v = node.value[-1]
            e = self._content_end(k, v)
            return [(e, e, ", " + text)]
        col = node.value[0][0].start_mark.column
        at = self._member_end(*node.value[-1])
        return [self._insert_lines(at, self._block_lines(keys, value, col))]

    def _plan_replace(self, parent, k, v, value, path) -> list[tuple[int, int, str]]:
        body = self._body
        self._no_anchor(v, path)
        flow = bool(parent.flow_style)
        start, end = v.start_mark.index, v.end_mark.index
        if isinstance(v, MappingNode | SequenceNode):
            if v.flow_style and "\n" not in body[start:end]:
                return [(start, end, render_scalar(value, flow=flow))]
            raise self._unsafe(f"{dotted(path)} holds a block of lines; replace it by hand")
        if start == end:  # `key:` with nothing after it
            colon = self._colon_after(k)
            return [(colon + 1, colon + 1, " " + render_scalar(value, flow=flow))]
        style = v.style if v.style in ('"', "'") else None
        if v.style in ("|", ">"):  # the block's lines, not the blank lines after it
            while end > start and body[end - 1] in " \t\r\n":
                end -= 1
        return [(start, end, render_scalar(value, style, flow=flow))]

    def _plan_fill_null(self, parent, k, v, rest, value, path) -> list[tuple[int, int, str]]:
        """`key:` or `key: ~` becomes `key:` followed by the new nested keys."""
        body = self._body
        self._no_anchor(v, path)
        if parent.flow_style:
            raise self._unsafe(f"line {k.start_mark.line + 1}: an empty value inside {{...}}")
        edits = []
        if v.start_mark.index != v.end_mark.index:
            if "\n" in body[k.end_mark.index : v.start_mark.index]:
                raise self._unsafe(f"line {k.start_mark.line + 1} uses a layout capit-tui does not edit")
            colon = self._colon_after(k)
            edits.append((colon + 1, v.end_mark.index, ""))
        at = after_line(body, k.end_mark.index)
        lines = self._block_lines(rest, value, k.start_mark.column + self._unit())
        edits.append(self._insert_lines(at, lines))
        return edits

    def delete(self, path) -> None:
        path = check_path(path)
        if lookup(self._data, path) is _MISSING:
            return
        expected = with_deleted(self._data, path)
        body = self._body
        node, parent_key = self._root, None
        for i, key in enumerate(path[:-1]):
            self._no_anchor(node, path[:i])
            pair = self._pair(node, key)
            if pair is None or not isinstance(pair[1], MappingNode):
                raise self._unsafe(f"{dotted(path[: i + 1])} comes from a merge key (<<); edit it by hand")
            parent_key, node = pair
        self._no_anchor(node, path[:-1])
        pair = self._pair(node, path[-1])
        if pair is None:
            raise self._unsafe(f"{dotted(path)} comes from a merge key (<<); edit it by hand")
        k, v = pair
        idx = next(i for i, (kk, _) in enumerate(node.value) if kk is k)
        if node.flow_style:
            start, end = node.start_mark.index, node.end_mark.index
            if "\n" in body[start:end]:
                raise self._unsafe(f"line {node.start_mark.line + 1}: a {{...}} mapping over several lines")
            if len(node.value) == 1:
                edits = [(start + 1, end - 1, "")]
            elif idx < len(node.value) - 1:
                edits = [(k.start_mark.index, node.value[idx + 1][0].start_mark.index, "")]
            else:
                pk, pv = node.value[idx - 1]
                edits = [(self._content_end(pk, pv), self._content_end(k, v), "")]
        else:
            ls = line_start(body, k.start_mark.index)
            if body[ls : k.start_mark.index].strip(" ") != "":
                raise self._unsafe(f"line {k.start_mark.line + 1} uses a layout capit-tui does not edit")
            edits = [(ls, self._member_end(k, v), "")]
            if len(node.value) == 1 and parent_key is not None:
                colon = self._colon_after(parent_key)
                edits.append((colon + 1, colon + 1, " {}"))
        self._commit(edits, expected)
