"""Dollars as Decimal: parse what a person types, format what a platform reports.

Never float for money: a cap of $0.29 must stay $0.29, not 0.28999999999999998.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from capit_tui.errors import CapitError

MAX_CAP = Decimal("100000")
CENT = Decimal("0.01")
_PLAIN = re.compile(r"^\$?\s*(?:(\d+)(?:\.(\d*))?|\.(\d+))$", re.ASCII)  # 5, 5., 5.5, .5
_THOUSANDS = re.compile(r"^\$?\s*\d{1,3}(,\d{3})+(\.\d*)?$", re.ASCII)


class MoneyError(CapitError, ValueError):
    """A cap the user typed that we refuse; the message is a sentence to show as is.

    `zero` is set when the amount was $0: each front end adds its own way to ask for no cap
    (`--no-cap`, `'none'`, the form's checkbox), so the core names none of them."""

    zero = False


def parse_cap(text: str) -> Decimal:
    """Parse a cap typed by a person: "5", "5.00", "$5", "$ 12.5", ".5" ($0.50), "5." ($5.00).

    Refuses empty input, signs, exponents, NaN/Infinity, more than two decimals, zero (an uncapped
    key is asked for explicitly, in the front end's own words) and amounts above $100,000.
    """
    raw = "" if text is None else str(text)
    shown = _shown(raw)
    s = raw.strip()
    if not s or s == "$":
        raise MoneyError("The cap is empty: give an amount in dollars, such as 5 or 5.00.")
    if s.lstrip("$ ").startswith("-"):
        raise MoneyError(f"The cap {shown} is negative: give a positive amount in dollars, such as 5.00.")
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    m = _PLAIN.match(s)
    if not m:
        raise MoneyError(
            f"The cap {shown} is not an amount in dollars: write it like 5, 5.00 or $5."
        )
    whole = m.group(1) or "0"
    frac = m.group(2) or m.group(3) or ""
    if len(frac) > 2:
        raise MoneyError(
            f"The cap {shown} has more than two decimals: caps are whole cents, such as 5.00 or 0.25."
        )
    value = Decimal(f"{whole}.{frac or '0'}")
    if value == 0:
        err = MoneyError("A cap of $0 would leave the key uncapped on most platforms; give a positive amount.")
        err.zero = True
        raise err
    if value > MAX_CAP:
        # a run of digits longer than Decimal's precision cannot be formatted as dollars: show it as typed
        amount = format_usd(value) if len(whole) <= 20 else shown
        raise MoneyError(
            f"The cap {amount} is above the $100,000.00 ceiling; this looks like a typo."
        )
    return value.quantize(CENT)


def _shown(raw: str) -> str:
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in raw)
    if len(cleaned) > 40:
        cleaned = cleaned[:37] + "..."
    return repr(cleaned)


def to_decimal(value: object) -> Decimal | None:
    """A number from a platform's JSON (int, float or string) as Decimal; None stays None."""
    if value is None:
        return None
    if type(value) is int:  # a JSON integer: what Decimal(str(value)) below gives, in half the time
        return Decimal(value)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("a boolean is not an amount")
    try:
        d = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return d


def to_json_number(value: Decimal | None) -> float | int | None:
    """A Decimal for a JSON body or --json output (platform APIs take JSON numbers)."""
    if value is None:
        return None
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def format_usd(value: Decimal | None, *, none: str = "none") -> str:
    """$5.00, $1,234.50; spend below a cent keeps four places ($0.0042); None -> `none`."""
    if value is None:
        return none
    sign = "-" if value < 0 else ""
    v = abs(value)
    if v != 0 and v < CENT:
        q = v.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
        if q == 0:
            return f"{sign}<$0.0001"
        return f"{sign}${q}"
    q = v.quantize(CENT, rounding=ROUND_HALF_UP)
    return f"{sign}${q:,.2f}"


def percent(part: Decimal, whole: Decimal | None) -> Decimal | None:
    """part / whole as a percentage with one decimal; None when there is no cap."""
    if whole is None or whole <= 0:
        return None
    return (part * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
