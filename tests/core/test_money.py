from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capit_tui.core.money import MoneyError, format_usd, parse_cap, percent, to_decimal, to_json_number


@pytest.mark.parametrize("text,expected", [
    ("5", "5.00"), ("5.00", "5.00"), ("$5", "5.00"), (" $ 12.5 ", "12.50"), ("0.25", "0.25"),
    ("5.", "5.00"), (".5", "0.50"), ("$.25", "0.25"), ("$ .5", "0.50"), ("0.5", "0.50"),
    ("1,000", "1000.00"), ("$1,234.56", "1234.56"), ("100000", "100000.00"),
])
def test_parse_cap_accepts(text, expected):
    assert parse_cap(text) == Decimal(expected)
    assert str(parse_cap(text)) == expected


@pytest.mark.parametrize("text,fragment", [
    ("", "empty"), ("$", "empty"), ("   ", "empty"), ("-1", "negative"), ("$-5", "negative"),
    ("0", "$0"), ("0.00", "$0"), ("abc", "not an amount"), ("5.001", "two decimals"),
    ("1e9", "not an amount"), ("NaN", "not an amount"), ("inf", "not an amount"),
    ("Infinity", "not an amount"), ("100000.01", "ceiling"), ("999999999", "ceiling"),
    ("5 dollars", "not an amount"), ("٥", "not an amount"), ("1,00", "not an amount"),
    ("5\x1b[31m", "not an amount"), (".", "not an amount"), ("$.", "not an amount"), ("..5", "not an amount"),
    (".005", "two decimals"), (".0", "$0"),
])
def test_parse_cap_refuses_with_a_sentence(text, fragment):
    with pytest.raises(MoneyError) as err:
        parse_cap(text)
    msg = str(err.value)
    assert fragment in msg
    assert msg.endswith(".")
    assert "\x1b" not in msg


@given(st.integers(min_value=1, max_value=10_000_000))
def test_parse_cap_round_trips_every_cent_amount(cents):
    d = Decimal(cents) / 100
    assert parse_cap(f"{d:.2f}") == d
    assert parse_cap(format_usd(d)) == d  # what we print, we can read back


@pytest.mark.parametrize("value,shown", [
    (Decimal("5"), "$5.00"), (Decimal("1234.5"), "$1,234.50"), (Decimal("0.0042"), "$0.0042"),
    (Decimal("0.00004"), "<$0.0001"), (Decimal("0"), "$0.00"), (Decimal("0.005"), "$0.0050"), (Decimal("0.015"), "$0.02"),
    (Decimal("-0.5"), "-$0.50"), (None, "none"),
])
def test_format_usd(value, shown):
    assert format_usd(value) == shown


def test_to_decimal_keeps_floats_exact_as_printed():
    assert to_decimal(0.29) == Decimal("0.29")
    assert to_decimal(5) == Decimal(5)
    for whole in (0, -7, 25, 10**30):  # an integer is taken as is, digit for digit (no exponent, no rounding)
        assert str(to_decimal(whole)) == str(whole)
    assert to_decimal(None) is None
    with pytest.raises(ValueError):
        to_decimal("nan")
    with pytest.raises(TypeError):
        to_decimal(True)


def test_json_numbers_and_percent():
    assert to_json_number(Decimal("5.00")) == 5
    assert to_json_number(Decimal("0.25")) == 0.25
    assert percent(Decimal("4"), Decimal("5")) == Decimal("80.0")
    assert percent(Decimal("1"), None) is None
    assert percent(Decimal("1"), Decimal("3")) == Decimal("33.3")


def test_the_cli_takes_a_cap_written_as_dot_5(tmp_path):
    """`.5` is $0.50 on the command line too (the CLI and the TUI share parse_cap), as `5.` is $5.00."""
    import json
    import os
    import subprocess
    import sys

    from capit_tui.sandbox import Sandbox

    with Sandbox(seed_keys=0) as sb:
        env = dict(os.environ, CAPIT_OPENROUTER_BASE_URL=sb.base_url,
                   CAPIT_OPENROUTER_MANAGEMENT_KEY=sb.management_key)

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "capit_tui", *args], capture_output=True, text=True,
                                  env=env, timeout=60, stdin=subprocess.DEVNULL)

        for cap, name in ((".5", "half"), ("5.", "five")):
            p = cli("openrouter", cap, "--name", name, "--reset", "never")
            assert p.returncode == 0, p.stderr
        listed = {k["name"]: k for k in json.loads(cli("keys", "list", "--json").stdout)}
        assert listed["half"]["limit"] == 0.5
        assert listed["five"]["limit"] == 5
