"""Words and text shared by every front end: plurals, lists in a sentence, paths shown with `~`, times,
text that came from outside made safe for a terminal, and a plain-text table.

No Textual and no printing: the CLI and the TUI both word their answers with these.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 key`, `2 keys` (`many` for irregular plurals)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def joined(items: Sequence[str], last: str = "and") -> str:
    """`a`, `a and b`, `a, b and c`."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


def tilde(path: Path | str, home: Path | str | None = None) -> str:
    """`/home/me/.claude/settings.json` -> `~/.claude/settings.json` (home: HOME when not given);
    paths elsewhere are shown as they are."""
    if home is None:
        home = os.environ.get("HOME", "")
    p, h = str(path), str(home).rstrip("/")
    if h and (p == h or p.startswith(h + "/")):
        return "~" + p[len(h):]
    return p


def tilde_text(text: str, home: Path | str) -> str:
    """Every occurrence of the home folder in a text (a diff's file names) shown as `~`."""
    h = str(home).rstrip("/")
    if not h or h == "/":
        return text
    return text.replace(h + "/", "~/")


def is_control(ch: str) -> bool:
    """Control and format characters (C0, C1, DEL, bidi overrides, zero-width): never sent to a terminal."""
    return unicodedata.category(ch) in ("Cc", "Cf")


def has_control(text: str) -> bool:
    return any(is_control(ch) for ch in text)


def clean_text(text: object, limit: int = 500) -> str:
    """Text from outside (a platform's reply, a server's error) made safe for any terminal: control and
    format characters (ESC, OSC, C1, bidi overrides) become '?', line breaks and tabs a space, and
    anything past `limit` characters is cut with '…'. The one place platform text is cleaned."""
    s = str(text)
    if not (s.isascii() and s.isprintable()):  # the common case (printable ASCII) needs no per-character pass
        s = "".join(" " if ch in "\t\n\r" else ("?" if is_control(ch) else ch) for ch in s)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def display_name(name: str, width: int | None = None) -> str:
    """A name safe to print in a terminal: control characters shown as '?', long names cut with '…'."""
    shown = name if name.isascii() and name.isprintable() else "".join("?" if is_control(ch) else ch for ch in name)
    if width is not None and len(shown) > width:
        shown = shown[: max(1, width - 1)] + "…"
    return shown


def cell_width(text: str) -> int:
    """Terminal cells `text` takes: East Asian wide and full-width characters take two."""
    if text.isascii():  # every ASCII character is one cell
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _take(text: str, width: int, *, from_end: bool = False) -> str:
    """The longest start (or end) of `text` that fits in `width` cells."""
    out: list[str] = []
    used = 0
    for ch in reversed(text) if from_end else text:
        w = cell_width(ch)
        if used + w > width:
            break
        out.append(ch)
        used += w
    return "".join(reversed(out)) if from_end else "".join(out)


def middle_ellipsis(text: str, width: int) -> str:
    """`text` in at most `width` cells, cut in the middle with '…' so that its start and its end both stay:
    `capit-hermes-20261121` in 15 cells is `capit-h…0261121`, and two names that differ only at the end
    stay told apart. Control characters are shown as '?' (as `display_name` does)."""
    shown = display_name(text)
    if cell_width(shown) <= width:
        return shown
    if width <= 1:
        return "…"[:max(0, width)]
    room = width - 1
    tail = _take(shown, room - (room + 1) // 2, from_end=True)
    head = _take(shown, room - cell_width(tail))
    return f"{head}…{tail}"


def fit_list(items: Sequence[str], width: int, noun: str = "item") -> str:
    """Names in at most `width` cells, never a word cut short: `claude, codex`; else as many as fit and
    a count of the rest, `claude +2`; else a count, `3 agents` (`noun`); one name alone is cut in the
    middle. Empty for no items."""
    names = [display_name(i) for i in items]
    if not names:
        return ""
    whole = ", ".join(names)
    if cell_width(whole) <= width:
        return whole
    if len(names) == 1:
        return middle_ellipsis(names[0], width)
    for shown in range(len(names) - 1, 0, -1):
        text = f"{', '.join(names[:shown])} +{len(names) - shown}"
        if cell_width(text) <= width:
            return text
    count = plural(len(names), noun)
    return count if cell_width(count) <= width else middle_ellipsis(count, width)


def display_url(url: str) -> str:
    """A base URL without its scheme, for narrow tables: https://openrouter.ai/api/v1 -> openrouter.ai/api/v1."""
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            return url[len(scheme):]
    return url


def text_table(rows: Iterable[Sequence[str]], headers: Sequence[str], right: Iterable[int] = ()) -> str:
    """Columns padded to their widest cell, two spaces apart; `right` holds the right-aligned columns."""
    rows = [list(r) for r in rows]
    align = set(right)
    widths = [len(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(cell))

    def fmt(r: Sequence[str]) -> str:
        return "  ".join(c.rjust(widths[i]) if i in align else c.ljust(widths[i]) for i, c in enumerate(r)).rstrip()

    return "\n".join([fmt(headers)] + [fmt(r) for r in rows])


def timestamp(moment: datetime) -> str:
    """A time to the minute, the way tables show it: `2026-11-21 12:00`."""
    return moment.strftime("%Y-%m-%d %H:%M")
