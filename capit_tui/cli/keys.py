"""`capit-tui keys list|revoke|disable|enable|cap`: the core picks and acts on the keys (revoke updates
the ledger there); this module words what it did."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from capit_tui.cli.common import load_settings, parse_cap_or_usage, parse_reset_or_usage
from capit_tui.cli.output import ask, confirm_or_stop, describe_keys, err, info, out
from capit_tui.core import keys as core
from capit_tui.core.durations import parse_duration
from capit_tui.core.history import record_quietly
from capit_tui.core.ledger import Ledger
from capit_tui.core.model import UNSET, CappedKey, reset_label
from capit_tui.core.money import format_usd
from capit_tui.core.text import display_name, plural, text_table
from capit_tui.errors import CapitError, Refused, UsageError

NO_PLATFORM = ("No platform is configured. Run `capit-tui platforms add openrouter` to store a management key, "
               "or set CAPIT_OPENROUTER_MANAGEMENT_KEY.")


def cmd_list(ns: argparse.Namespace) -> int:
    """The keys on stdout (a table, or JSON). When every platform failed, stdout is empty (plain) or one
    JSON object {"error", "platforms": [{"name", "reason"}]}; when some failed, what loaded is listed and
    each failure is named on stderr. Either way the exit status is 1."""
    try:  # --unused 30d: only keys not used in that long (never used counts as unused)
        unused = parse_duration(ns.unused) if ns.unused is not None else None
    except ValueError as bad:
        raise UsageError(str(bad).rstrip(".")) from None
    platforms = core.configured_platforms(load_settings(), ns.platform)
    if not platforms:
        raise CapitError(NO_PLATFORM)
    listing = _listed(platforms)
    reasons = listing.reasons()
    if listing.failed_everywhere:
        if ns.json:
            out(json.dumps({"error": "Could not load the keys from any platform.",
                            "platforms": [{"name": n, "reason": r} for n, r in reasons.items()]}, indent=2))
        for reason in reasons.values():
            err(f"Could not load the keys: {reason}")
        return 1
    record_quietly(listing.keys, datetime.now(timezone.utc))  # the spend history (core.history)
    keys = [k for k in listing.keys if unused is None or k.unused_for(unused)]
    held = Ledger().holders_by_key()
    holders = {(k.platform, k.id): held.get((k.platform, k.id), []) for k in keys}
    if ns.json:
        out(json_rows([{**k.to_json(), "agents": holders[(k.platform, k.id)]} for k in keys]))
    elif keys:
        rows = []
        for k in keys:
            pct = k.percent
            rows.append([
                display_name(k.name, 32), k.platform, format_usd(k.limit), reset_label(k.limit_reset),
                format_usd(k.spent), f"{pct}%" if pct is not None else "-", format_usd(k.usage_daily),
                format_usd(k.usage_monthly), k.flagged_status(),
                k.created_at.strftime("%Y-%m-%d") if k.created_at else "-",
                ",".join(holders[(k.platform, k.id)]) or "-",
            ])
        out(text_table(rows, ["NAME", "PLATFORM", "CAP", "RESET", "SPENT", "%", "TODAY", "MONTH", "STATUS",
                              "CREATED", "AGENTS"], right={2, 4, 5, 6, 7}))
    elif unused is not None and listing.keys and not listing.errors:
        info(f"Every key was used in the last {ns.unused.strip()}.")
    elif not listing.errors:
        info("No keys yet. Issue one with `capit-tui " + platforms[0].name + " 5.00`.")
    for reason in reasons.values():
        err(f"Could not load the keys, so they are missing above: {reason}")
    return 1 if listing.errors else 0


def _listed(platforms: list[core.Configured]) -> core.Listing:
    """The listing, handed out of asyncio.run() through a list: a coroutine's return value is formatted
    with reprlib when the loop closes (Python 3.11), which builds the whole repr of 10 000 keys first."""
    box: list[core.Listing] = []

    async def fetch() -> None:
        box.append(await core.list_all_keys(platforms))

    asyncio.run(fetch())
    return box[0]


def json_rows(rows: list[dict[str, Any]]) -> str:
    """A key list's --json text: `json.dumps(rows, indent=2)`'s layout, strings and values, ASCII only (every
    other character escaped as json.dumps escapes it), written by orjson (10 000 keys: 181 -> 19 ms).
    Where the two differ: a float in its shortest form (0.00001 where json.dumps writes 1e-05: the same
    number), NaN and infinities as null (json.dumps writes NaN, which is not JSON). What orjson refuses (an
    integer past 64 bits, a lone surrogate) is written by json.dumps whole."""
    import orjson

    try:
        text = orjson.dumps(rows, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(rows, indent=2)
    if text.isascii() and "\x7f" not in text:
        return text
    return _NOT_PRINTABLE_ASCII.sub(_escaped, text)  # such characters can only stand inside strings


_NOT_PRINTABLE_ASCII = re.compile("[\x7f-\U0010ffff]")


def _escaped(m: re.Match[str]) -> str:
    n = ord(m.group())
    if n < 0x10000:
        return f"\\u{n:04x}"
    n -= 0x10000
    return f"\\u{0xd800 | (n >> 10):04x}\\u{0xdc00 | (n & 0x3ff):04x}"


def _pick(ns: argparse.Namespace, verb: str) -> tuple[core.Selection, dict[str, core.Configured]]:
    """The keys the selector names, and the platforms involved (refused while any platform fails to list)."""
    platforms = core.configured_platforms(load_settings(), getattr(ns, "platform", None))
    if not platforms:
        raise CapitError("No platform is configured. Run `capit-tui platforms add openrouter` first.")
    listing = asyncio.run(core.list_all_keys(platforms))
    if listing.errors:
        name, exc = next(iter(listing.errors.items()))
        raise CapitError(f"Could not list the keys on {name}, so nothing was {verb}: {exc}")
    sel = core.select(listing.keys, ns.selector)
    if not sel.keys:
        raise CapitError(f"No key matches '{display_name(ns.selector, 60)}'. See `capit-tui keys list`.")
    return sel, {c.name: c for c in platforms}


def _report(outcomes: list[core.Outcome], done: str) -> int:
    failed = 0
    for o in outcomes:
        name = display_name(o.key.name, 60)
        if o.error is None:
            info(f"{done} '{name}' on {o.key.platform}.")
        else:
            failed += 1
            err(f"'{name}' on {o.key.platform} was not {done.lower()}: {o.error}")
    return 1 if failed else 0


def cmd_revoke(ns: argparse.Namespace) -> int:
    sel, platforms = _pick(ns, "revoked")
    keys = sel.keys
    n = len(keys)
    pattern = display_name(ns.selector, 60)
    wide = (f"every one of your {n} keys" if sel.everything else f"{n} keys")
    if sel.too_many and ns.yes and not ns.all:
        raise UsageError(f"'{pattern}' matches {wide}, more than --yes alone may revoke; nothing was revoked. "
                         f"Add --all to revoke all {n}, or leave out --yes to confirm by typing the count.")
    info(f"This deletes {plural(n, 'key')}; an agent using {'them' if n != 1 else 'it'} stops working:")
    info(describe_keys(keys))
    try:
        confirm_or_stop(f"Revoke {plural(n, 'key')}?", ns.yes, "Nothing was revoked.")
    except EOFError:
        raise EOFError(f"Pass --all --yes to revoke all {n} without a prompt." if sel.too_many else "") from None
    if sel.too_many and not ns.all:
        typed = ask(f"'{pattern}' matches {wide}. Type {n} to revoke all {n}:",
                    closed=f"Pass --all --yes to revoke all {n} without a prompt.")
        if typed != str(n):
            raise Refused("Nothing was revoked.")
    ledger = Ledger()
    outcomes = asyncio.run(core.for_each_key(keys, platforms, lambda p, k: core.revoke(p, k, ledger)))
    for o in outcomes:
        for agent in o.holders:
            info(f"{agent} was using '{o.key.name}' and will now be refused. Put its previous config back with "
                 f"`capit-tui backups restore --latest --agent {agent}`, or install a new key.")
    return _report(outcomes, "Revoked")


def _toggle(ns: argparse.Namespace, disabled: bool) -> int:
    verb = "disabled" if disabled else "enabled"
    sel, platforms = _pick(ns, verb)
    todo = [k for k in sel.keys if k.disabled != disabled]
    for k in sel.keys:
        if k.disabled == disabled:
            info(f"'{k.name}' on {k.platform} is already {verb}.")
    if not todo:
        _let_go(sel.keys)
        return 0
    if len(todo) > 1:
        info(describe_keys(todo))
        confirm_or_stop(f"{'Disable' if disabled else 'Enable'} these {len(todo)} keys?", ns.yes,
                        f"Nothing was {verb}.")
    outcomes = asyncio.run(core.for_each_key(todo, platforms, lambda p, k: core.set_disabled(p, k, disabled)))
    _let_go([k for k in sel.keys if k.disabled == disabled] + [o.key for o in outcomes if o.error is None])
    return _report(outcomes, verb.capitalize())


def _let_go(keys: list[CappedKey]) -> None:
    """Keys the user set by hand are theirs: no stopper (a panic, a pool) holds them any more."""
    from capit_tui.core.stops import let_go

    try:
        let_go((k.platform, k.id) for k in keys)
    except CapitError as exc:
        err(f"{exc} The keys are as you set them, but a panic's undo (or a pool's re-enable) may still count "
            "them as its own.")


def cmd_disable(ns: argparse.Namespace) -> int:
    return _toggle(ns, True)


def cmd_enable(ns: argparse.Namespace) -> int:
    return _toggle(ns, False)


def cmd_cap(ns: argparse.Namespace) -> int:
    if ns.amount.strip().lower() in ("none", "no-cap", "unlimited"):
        limit: Decimal | None = None
    else:
        limit = parse_cap_or_usage(ns.amount, no_cap="give 'none' as the cap")
    reset: Any = parse_reset_or_usage(ns.reset) if ns.reset is not None else UNSET
    sel, platforms = _pick(ns, "changed")
    keys = sel.keys
    what = "remove the cap from" if limit is None else f"set a {format_usd(limit)} cap on"
    if reset is not UNSET:
        what += f" (reset {reset_label(reset)})"
    if limit is None or len(keys) > 1:
        info(describe_keys(keys))
        warn = " With no cap, a runaway agent can spend your whole balance." if limit is None else ""
        confirm_or_stop(f"{what[0].upper()}{what[1:]} {plural(len(keys), 'key')}?{warn}", ns.yes,
                        "Nothing was changed.")

    def op(p: Any, k: CappedKey) -> Any:
        return core.set_cap(p, k, limit, reset)

    outcomes = asyncio.run(core.for_each_key(keys, platforms, op))
    return _report(outcomes, f"Capped at {format_usd(limit)}" if limit is not None else "Removed the cap of")
