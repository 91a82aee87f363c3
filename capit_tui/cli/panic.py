"""`capit-tui panic [--platform P] [--yes] [--json]` and `capit-tui panic --undo`: the core stops every
enabled key and records it (core/panic.py, core/stops.py); this module asks once and words the counts.

Exit status: 0 every enabled key was stopped (or every recorded key restored or left alone), 1 some key
failed or a platform could not be listed (each named), 2 a usage mistake."""

from __future__ import annotations

import argparse
import json
from typing import Any

from capit_tui.cli.common import load_settings, run_async
from capit_tui.cli.output import confirm_or_stop, err, info, interrupted_says, out
from capit_tui.core.keys import Configured, configured_platforms, list_all_keys
from capit_tui.core.panic import Outcome, Tally, panic, recorded, undo_panic
from capit_tui.core.text import display_name, joined, plural
from capit_tui.errors import CapitError

MOST_NAMED = 20  # failed keys named one a line; past that, a count


def cmd_panic(ns: argparse.Namespace) -> int:
    platforms = configured_platforms(load_settings(), ns.platform)
    if not platforms:
        raise CapitError("No platform is configured, so there is no key to stop. Run `capit-tui platforms add "
                         "openrouter` first.")
    return _undo(ns, platforms) if ns.undo else _panic(ns, platforms)


def _panic(ns: argparse.Namespace, platforms: list[Configured]) -> int:
    names = joined([c.name for c in platforms])
    if not ns.yes:
        listing = run_async(lambda: list_all_keys(platforms))
        enabled = sum(1 for k in listing.keys if not k.disabled)
        for reason in listing.reasons().values():
            err(f"Could not list the keys: {reason}")
        if not enabled and not listing.errors:
            info(f"No enabled key on {names}; nothing to stop.")
            return 0
        confirm_or_stop(f"Disable {plural(enabled, 'enabled key')} on {names}? Agents using them are refused "
                        "until `capit-tui panic --undo`.", False, "Nothing was disabled.")
    with interrupted_says(lambda: "the keys recorded so far are disabled at the next start of capit-tui "
                                  "(or run `capit-tui panic` again)."):
        outcome = run_async(lambda: panic(platforms))
    if ns.json:
        out(json.dumps(_json(outcome, "disabled"), indent=2))
    for t in outcome.tallies:
        if t.error is not None:
            err(f"{t.platform}: nothing was stopped: {t.error}")
            continue
        parts = [f"{plural(len(t.done), 'key')} disabled", f"{t.already} already disabled"]
        if t.gone:
            parts.append(f"{t.gone} gone (revoked meanwhile)")
        parts.append(f"{len(t.failed)} failed")
        info(f"{t.platform}: {', '.join(parts)}.")
        _name_failures(t, "still enabled")
    if outcome.done:
        info(f"Stopped {plural(outcome.done, 'key')}; `capit-tui panic --undo` re-enables exactly those.")
    elif outcome.complete:
        info("No enabled key was found; nothing was disabled.")
    return 0 if outcome.complete else 1


def _undo(ns: argparse.Namespace, platforms: list[Configured]) -> int:
    names = {c.name for c in platforms}
    everywhere = recorded()
    held = [s for s in everywhere if s.platform in names]
    if not ns.platform:
        _say_unconfigured([s for s in everywhere if s.platform not in names])
    if not held:
        if not everywhere:
            info("No key is recorded as stopped by a panic; nothing to undo.")
        elif ns.platform:
            info(f"No key is recorded as stopped by a panic on {joined(sorted(names))}; nothing to undo there.")
        if ns.json:
            out(json.dumps(_json(Outcome("panic", "", []), "enabled"), indent=2))
        return 0
    where = joined(sorted({s.platform for s in held}))
    confirm_or_stop(f"Re-enable {plural(len(held), 'key')} the panic disabled on {where}? Keys re-enabled, "
                    "revoked or stopped by something else since are left alone.", ns.yes, "Nothing was enabled.")
    with interrupted_says(lambda: "keys not yet re-enabled stay recorded; run `capit-tui panic --undo` again."):
        outcome = run_async(lambda: undo_panic(platforms))
    if ns.json:
        out(json.dumps(_json(outcome, "enabled"), indent=2))
    for t in outcome.tallies:
        if t.error is not None:
            err(f"{t.platform}: nothing was re-enabled, the keys stay recorded for the next undo: {t.error}")
            continue
        info(f"{t.platform}: {plural(len(t.done), 'key')} re-enabled, {len(t.left)} left alone, "
             f"{len(t.failed)} failed.")
        for k, why in t.left[:MOST_NAMED]:
            info(f"  left alone: '{display_name(k.name, 60)}' ({k.id[:12]}) {why_left(why)}.")
        if len(t.left) > MOST_NAMED:
            info(f"  ... and {len(t.left) - MOST_NAMED} more left alone.")
        _name_failures(t, "still disabled, kept for the next `capit-tui panic --undo`")
    return 0 if outcome.complete else 1


def _say_unconfigured(stops: list[Any]) -> None:
    """Keys the panic disabled on a platform not configured now: the undo cannot reach them; say so."""
    by_platform: dict[str, int] = {}
    for s in stops:
        by_platform[s.platform] = by_platform.get(s.platform, 0) + 1
    for name, n in sorted(by_platform.items()):
        info(f"{plural(n, 'key')} the panic disabled on {name} stay recorded: {name} is not configured now (or "
             f"its management key is not found). Set it up again (`capit-tui platforms add {name}`, or its "
             "management key's variable) and run `capit-tui panic --undo` to re-enable them.")


def why_left(why: str) -> str:
    """core.stops.releasable's reason for leaving a key alone, in words (the panic's undo, a pool's release)."""
    if why == "gone":
        return "was revoked since"
    if why == "enabled":
        return "was re-enabled since"
    held = why.removeprefix("held:")
    return f"is still held stopped by {'the panic stop' if held == 'panic' else held}"


def _name_failures(t: Tally, state: str) -> None:
    for k, reason in t.failed[:MOST_NAMED]:
        err(f"'{display_name(k.name, 60)}' on {t.platform} ({k.id[:12]}) is {state}: {reason}")
    if len(t.failed) > MOST_NAMED:
        err(f"... and {len(t.failed) - MOST_NAMED} more on {t.platform}, {state}.")


def _json(outcome: Outcome, verb: str) -> dict[str, Any]:
    def key(k: Any) -> dict[str, str]:
        return {"platform": k.platform, "id": k.id, "name": k.name}

    return {
        "by": outcome.by, "at": outcome.at, "complete": outcome.complete,
        "platforms": [{
            "name": t.platform, verb: len(t.done), "already_disabled": t.already, "gone": t.gone,
            "failed": [{**key(k), "reason": r} for k, r in t.failed],
            "left_alone": [{**key(k), "why": w} for k, w in t.left],
            "error": t.error,
        } for t in outcome.tallies],
    }
