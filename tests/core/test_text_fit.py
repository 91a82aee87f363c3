"""Text fitted to a column: names cut in the middle so that their ends stay, lists never cut mid-word."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capit_tui.core.text import cell_width, fit_list, middle_ellipsis, plural


def test_two_names_that_differ_only_at_the_end_stay_told_apart():
    a, b = "capit-hermes-20261121", "capit-hermes-20261118"
    for width in range(8, 21):
        shown_a, shown_b = middle_ellipsis(a, width), middle_ellipsis(b, width)
        assert shown_a != shown_b, width
        assert cell_width(shown_a) <= width and "…" in shown_a
        assert shown_a.startswith("capit"[: min(5, (width - 1) // 2)])
    assert middle_ellipsis(a, 15) == "capit-h…0261121"


def test_a_name_that_fits_is_shown_whole_and_control_characters_never_pass():
    assert middle_ellipsis("prod", 10) == "prod"
    assert middle_ellipsis("a\x1b[2Jb", 10) == "a?[2Jb"
    assert middle_ellipsis("abcdef", 1) == "…"
    assert middle_ellipsis("abcdef", 0) == ""


def test_wide_characters_count_two_cells():
    shown = middle_ellipsis("密钥密钥密钥密钥", 9)
    assert cell_width(shown) <= 9 and shown.startswith("密钥") and shown.endswith("密钥")


@given(st.text(min_size=0, max_size=60), st.integers(min_value=1, max_value=50))
def test_middle_ellipsis_always_fits(text, width):
    assert cell_width(middle_ellipsis(text, width)) <= width


@pytest.mark.parametrize("items,width,shown", [
    (["claude", "codex"], 20, "claude, codex"),
    (["claude", "codex", "opencode"], 14, "claude +2"),
    (["claude", "codex", "opencode"], 18, "claude, codex +1"),
    (["opencode", "claude", "codex"], 8, "3 agents"),
    (["opencode"], 6, "ope…de"),
    ([], 10, ""),
])
def test_fit_list_never_cuts_a_word(items, width, shown):
    assert fit_list(items, width, "agent") == shown


def test_plural_is_the_one_helper_for_counts():
    assert plural(1, "file") == "1 file" and plural(2, "file") == "2 files"
