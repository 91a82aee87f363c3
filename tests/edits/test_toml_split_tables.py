"""A TOML table written in two places ([a] ... [b] ... [a.c]) cannot be replaced or deleted without
touching lines elsewhere: the edit is refused with a sentence (it crashed with AttributeError before)."""

from __future__ import annotations

import pytest

from capit_tui.edits import UnsafeEdit, load

SPLIT = '[a]\nx = 1\n\n[b]\ny = 2\n\n[a.c]\nz = 3\n'


def test_replacing_a_split_table_is_refused():
    doc = load(SPLIT, "toml")
    with pytest.raises(UnsafeEdit, match="split across the file"):
        doc.set(("a",), "s")


def test_deleting_a_split_table_is_refused():
    doc = load(SPLIT, "toml")
    with pytest.raises(UnsafeEdit, match="split across the file"):
        doc.delete(("a",))


def test_a_key_inside_a_split_table_is_still_editable():
    doc = load(SPLIT, "toml")
    doc.set(("a", "x"), 5)
    assert doc.dumps() == SPLIT.replace("x = 1", "x = 5")
