"""`capit-tui keys rotate NAME|PATTERN [--older-than AGE] [--yes]`: the core plans each key's rotation
(core/rotate.py), this module shows every diff, asks once, and words what was done. A key no agent holds
gets its replacement shown once on stdout, then the old key is revoked after asking (--yes: at once)."""

from __future__ import annotations

import argparse
import sys

from capit_tui.cli.common import load_settings, run_async
from capit_tui.cli.output import confirm, confirm_or_stop, err, info, interrupted_says, out
from capit_tui.core.changes import PlanError
from capit_tui.core.durations import parse_duration
from capit_tui.core.keys import configured_platforms, list_all_keys, select
from capit_tui.core.model import IssuedKey
from capit_tui.core.recovery import Report
from capit_tui.core.redact import mask
from capit_tui.core.rotate import (
    RotateError,
    Rotation,
    issue_replacement,
    older_than,
    plan_rotations,
    revoke_old,
    rotate,
)
from capit_tui.core.text import display_name, plural
from capit_tui.errors import CapitError, UsageError


def cmd_rotate(ns: argparse.Namespace) -> int:
    if ns.selector is None and ns.older_than is None:
        raise UsageError("name the keys to rotate (a name, a hash prefix or a glob), or give --older-than AGE")
    try:
        age = parse_duration(ns.older_than) if ns.older_than is not None else None
    except ValueError as bad:
        raise UsageError(f"--older-than: {str(bad).rstrip('.')}") from None
    platforms = configured_platforms(load_settings(), ns.platform)
    if not platforms:
        raise CapitError("No platform is configured. Run `capit-tui platforms add openrouter` first.")
    listing = run_async(lambda: list_all_keys(platforms))
    if listing.errors:
        reason = next(iter(listing.reasons().values()))
        raise CapitError(f"Could not list the keys, so nothing was rotated: {reason}")
    keys = select(listing.keys, ns.selector).keys if ns.selector is not None else list(listing.keys)
    if age is not None:
        keys = older_than(keys, age)
    if not keys:
        if ns.selector is None:
            info(f"No key was created {ns.older_than.strip()} ago or longer; nothing to rotate.")
            return 0
        raise CapitError(f"No key matches '{display_name(ns.selector, 60)}'"
                         + (f" and is older than {ns.older_than.strip()}" if age is not None else "")
                         + ". See `capit-tui keys list`.")
    try:
        rotations = plan_rotations(keys, {c.name: c for c in platforms}, taken=listing.keys)
    except (PlanError, RotateError) as exc:
        raise CapitError(str(exc)) from None
    for r in rotations:
        _describe(r)
    n = len(rotations)
    confirm_or_stop(f"Rotate {plural(n, 'key')}: issue {'their' if n > 1 else 'its'} replacement"
                    f"{'s' if n > 1 else ''}, write the files above, and revoke each old key once its agents hold "
                    "the new one?", ns.yes, "Nothing was issued, written or revoked.")
    failed = 0
    for r in rotations:
        try:
            if r.held:
                _rotate_held(r)
            else:
                _rotate_shown(r, ns.yes)
        except CapitError as exc:
            err(str(exc))
            failed += 1
    return 1 if failed else 0


def _describe(r: Rotation) -> None:
    old, c = r.old, r.platform.name
    cap = r.cap_text
    where = (f"into {', '.join(a.title for a in r.agents)}" if r.held else
             "no agent holds it: the new key is shown once, then the old one is revoked after asking")
    info(f"{display_name(old.name, 60)} on {c} ({cap}) -> {r.new_name}, {where}.")
    for note in r.notes:
        info(f"  note: {note}")
    diff = r.diff()
    if diff:
        info(diff.rstrip("\n"))


def _rotate_held(r: Rotation) -> None:
    report = Report()
    old = r.old.name
    with interrupted_says(lambda: report.said or f"no key was issued and no file changed; {old} still works."):
        done = run_async(lambda: rotate(r, progress=lambda m: info(m + " ..."), report=report))
    info(f"Rotated {old} -> {done.issued.key.name} ({mask(done.issued.secret)}) in "
         f"{', '.join(done.files)}; {old} was revoked.")
    for files in done.files.values():
        for f in files:
            info(f"  wrote {f}")
    if done.backup is not None:
        info(f"Backup of the old files: {done.backup.folder} (restore with "
             f"`capit-tui backups restore {done.backup.id}`)")


def _rotate_shown(r: Rotation, yes: bool) -> None:
    old, c = r.old, r.platform

    def show(issued: IssuedKey) -> None:
        info(f"Issued '{issued.key.name}' on {c.name} to replace '{old.name}', shown as {mask(issued.secret)}. "
             "The key follows on standard output, shown only this once: store it now.")
        out(issued.secret)
        sys.stdout.flush()

    report = Report()
    with interrupted_says(lambda: report.said or f"no key was issued; {old.name} still works."):
        run_async(lambda: issue_replacement(r, show, report=report))
    later = f"Revoke it later with `capit-tui keys revoke {old.id[:12]}`."
    if not yes and not sys.stdin.isatty():
        info(f"Kept {old.name}: there is no terminal to ask (--yes revokes it). {later}")
        return
    try:
        wanted = confirm(f"Revoke the old key {old.name} now?", yes)
    except EOFError:
        wanted = False
    if not wanted:
        info(f"Kept {old.name}. {later}")
        return
    run_async(lambda: revoke_old(r))
    info(f"Revoked '{old.name}' on {c.name}.")
