"""Text from a platform is cleaned once, in the core, before any front end can print it."""

from __future__ import annotations

from decimal import Decimal

from capit_tui.core.model import CappedKey, KeyInfo
from capit_tui.core.text import clean_text
from capit_tui.platforms.base import BadRequest

HOSTILE = "a\x1b]52;c;ZXZpbA==\x07b\x1b[2Jc\x9bd\u202ee\r\nf\tg"


def test_clean_text_replaces_every_control_and_bounds_length():
    cleaned = clean_text(HOSTILE)
    assert "\x1b" not in cleaned and "\x07" not in cleaned and "\x9b" not in cleaned and "\u202e" not in cleaned
    assert cleaned == "a?]52;c;ZXZpbA==?b?[2Jc?d?e  f g"
    assert clean_text("x" * 1000, 10) == "x" * 9 + "…"
    assert clean_text("plain name [b]kept[/b]") == "plain name [b]kept[/b]"  # markup is the TUI's to escape


def test_every_string_of_a_key_is_clean():
    k = CappedKey("openrouter", "ab\x1bcd", HOSTILE, label=HOSTILE, limit=Decimal(1), limit_reset="\x1b[2J",
                  workspace_id="w\x07")
    for value in (k.id, k.name, k.label, k.limit_reset, k.workspace_id):
        assert value is not None and not any(ord(ch) < 32 or 0x7f <= ord(ch) < 0xa0 for ch in value)
    assert k.limit_reset == "?[2J"
    assert "\x1b" not in KeyInfo(True, label=HOSTILE).label


def test_platform_errors_are_clean_and_redacted():
    err = BadRequest(f"refused: {HOSTILE} sk-or-v1-{'a' * 64}", platform="p")
    assert "\x1b" not in str(err) and "a" * 64 not in str(err)


def test_spend_past_the_cap_is_shown_as_it_is():
    # the platform floors what remains at 0; the window's usage says how far the last request went over
    k = CappedKey("openrouter", "a", "over", limit=Decimal(1), limit_reset="daily", limit_remaining=Decimal(0),
                  usage_daily=Decimal("1.20"))
    assert k.spent == Decimal("1.20") and k.percent == Decimal("120.0")
    assert k.over_cap and k.status == "capped" and k.to_json()["spent"] == 1.2 and k.to_json()["over_cap"]
    assert k.remaining == Decimal("-0.20")


def test_spent_and_remaining_add_up_to_the_cap_on_screen():
    from capit_tui.core.money import format_usd

    k = CappedKey("openrouter", "a", "half", limit=Decimal(50), limit_reset="monthly",
                  limit_remaining=Decimal("24.145"), usage_monthly=Decimal("25.855"))
    shown_spent, shown_left = format_usd(k.spent), format_usd(k.remaining)
    assert (shown_spent, shown_left) == ("$25.86", "$24.14")
    assert Decimal(shown_spent[1:]) + Decimal(shown_left[1:]) == k.limit
    assert not k.over_cap


def test_the_printable_ascii_fast_path_cleans_exactly_as_the_full_pass():
    """clean_text, display_name and cell_width skip the per-character pass for printable ASCII; every other
    string still takes it, so nothing a terminal would act on gets through either way."""
    from capit_tui.core.text import cell_width, clean_text, display_name

    for raw, cleaned in [("capit-claude-2026", "capit-claude-2026"), ("a\tb\nc\rd", "a b c d"),
                         ("x\x1b[31my", "x?[31my"), ("del\x7f", "del?"), ("bidi\u202eevil", "bidi?evil"),
                         ("wide 漢字", "wide 漢字"), ("", "")]:
        assert clean_text(raw) == cleaned, raw
    assert display_name("capit-claude-2026") == "capit-claude-2026"
    assert display_name("a\tb\nc") == "a?b?c" and display_name("bidi\u202eevil") == "bidi?evil"
    assert display_name("x\x1b]0;title\x07") == "x?]0;title?"
    assert cell_width("plain") == 5 and cell_width("漢字") == 4 and cell_width("a\x1b") == 2
    assert clean_text("a" * 600) == "a" * 499 + "…"
