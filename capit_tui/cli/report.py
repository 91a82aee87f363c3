"""`capit-tui report [--since 7d|30d|YYYY-MM-DD] [--by key|agent|platform|model|member] [--format table|csv|json|md]`:
core.report sums the spend; this module lays it out (an aligned table, CSV, JSON or Markdown) on stdout and
names any platform it could not read on stderr."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from capit_tui.cli.common import load_settings
from capit_tui.cli.output import err, out
from capit_tui.core import keys as core
from capit_tui.core.model import iso
from capit_tui.core.money import format_usd
from capit_tui.core.report import Report, build, parse_since
from capit_tui.core.text import clean_text, display_name, text_table, timestamp
from capit_tui.errors import CapitError, UsageError

FORMATS = ("table", "csv", "json", "md")
HEADS = {"key": "KEY", "agent": "AGENT", "platform": "PLATFORM", "model": "MODEL", "member": "MEMBER"}


def cmd_report(ns: argparse.Namespace) -> int:
    now = datetime.now(timezone.utc)
    try:
        period = parse_since(ns.since, now)
    except ValueError as bad:
        raise UsageError(str(bad).rstrip(".")) from None
    platforms = core.configured_platforms(load_settings(), ns.platform)
    if not platforms:
        raise CapitError("No platform is configured. Run `capit-tui platforms add openrouter` first.")
    report = asyncio.run(_build(platforms, period, ns.by))
    out(render(report, ns.format))
    for reason in report.errors.values():
        err(f"Not every number above is the platform's: {reason}")
    return 0


async def _build(platforms: list[core.Configured], period: Any, by: str) -> Report:
    opened = [c.open() for c in platforms]
    try:
        return await build(opened, period, by)
    finally:
        for p in opened:
            await p.aclose()


def _plain(amount: Decimal) -> str:
    """An amount for a spreadsheet: dollars with four places, no sign or separators."""
    return f"{amount.quantize(Decimal('0.0001'))}"


def _columns(report: Report) -> list[str]:
    cols = [HEADS[report.by]]
    if report.by == "key":
        cols.append("PLATFORM")
    return cols + ["SPENT", "KEYS", "SOURCE", "FROM"]


def _cells(report: Report, money: Any, when: Any = None) -> list[list[str]]:
    when = when or (lambda t: timestamp(t) if t else "-")
    rows = []
    for r in report.rows:
        cells = [display_name(clean_text(r.group, 200), 60)]
        if report.by == "key":
            cells.append(display_name(r.platform))
        cells += [money(r.spend), str(r.keys), r.source, when(r.covered_from)]
        rows.append(cells)
    return rows


def render(report: Report, fmt: str) -> str:
    """The report as an aligned table, CSV, JSON or Markdown (`fmt` one of FORMATS)."""
    since, until = timestamp(report.period.start), timestamp(report.period.end)
    cols = _columns(report)
    if fmt == "json":
        body = {
            "since": iso(report.period.start), "until": iso(report.period.end), "by": report.by,
            "rows": [{report.by: r.group, **({"platform": r.platform} if report.by == "key" else {}),
                      "spent": float(r.spend.quantize(Decimal("0.0001"))), "keys": r.keys, "source": r.source,
                      "covered_from": iso(r.covered_from)} for r in report.rows],
            "total": float(report.total.quantize(Decimal("0.0001"))),
            "errors": [{"platform": p, "reason": why} for p, why in sorted(report.errors.items())],
        }
        return json.dumps(body, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([c.lower() for c in cols])
        for cells in _cells(report, _plain, lambda t: iso(t) or ""):
            w.writerow([_no_formula(c) for c in cells])
        return buf.getvalue().rstrip("\n")
    right = {cols.index("SPENT"), cols.index("KEYS")}
    if fmt == "md":
        head = f"**Spend by {report.by}, {since} to {until} UTC** (total {format_usd(report.total)})\n\n"
        lines = ["| " + " | ".join(cols) + " |",
                 "|" + "|".join("---:" if i in right else "---" for i in range(len(cols))) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
                  for cells in _cells(report, format_usd)]
        return head + "\n".join(lines)
    table = text_table(_cells(report, format_usd), cols, right=right)
    return (f"Spend by {report.by}, {since} to {until} UTC\n{table}\n"
            f"Total {format_usd(report.total)}")


def _no_formula(cell: str) -> str:
    """A key name such as '=HYPERLINK(...)' stays text in a spreadsheet."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@") and not _number(cell) else cell


def _number(cell: str) -> bool:
    try:
        Decimal(cell)
    except ArithmeticError:
        return False
    return True
