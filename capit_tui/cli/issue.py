"""`capit-tui PLATFORM CAP [--agent A ...]`: issue a capped key, shown once or installed into agents
(preview -> masked diff -> confirm -> the core's all-or-nothing install)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from capit_tui.cli.common import agents_named, load_settings, parse_cap_or_usage, parse_reset_or_usage, run_async
from capit_tui.cli.output import confirm, confirm_or_stop, err, info, interrupted_says, out
from capit_tui.core.durations import parse_expiry
from capit_tui.core.issuing import issue_shown
from capit_tui.core.keys import (
    Configured,
    NameTaken,
    ServiceError,
    check_name_free,
    clean_name,
    configured_platforms,
    default_name,
    list_all_keys,
    reset_for_new_key,
    taken_names,
    unique_name,
)
from capit_tui.core.model import UNSET, Budget, CappedKey, IssuedKey
from capit_tui.core.money import format_usd
from capit_tui.core.recovery import Report
from capit_tui.core.redact import mask
from capit_tui.core.replaced import Replaced
from capit_tui.core.settings import Settings
from capit_tui.core.text import plural
from capit_tui.errors import CapitError, UsageError
from capit_tui.platforms.base import Unsupported

if TYPE_CHECKING:
    from capit_tui.core.install import Result


def cmd_issue(ns: argparse.Namespace) -> int:
    s = load_settings()
    if ns.no_cap:
        if ns.cap is not None:
            raise UsageError("give either a cap or --no-cap, not both")
        limit = None
    else:
        if ns.cap is None:
            raise UsageError(f"give a cap in dollars, e.g. `capit-tui {ns.platform} 5.00`")
        limit = parse_cap_or_usage(ns.cap, no_cap="use --no-cap")
    asked = parse_reset_or_usage(ns.reset) if ns.reset is not None else UNSET
    expires_at = parse_expiry_or_usage(ns.expires) if ns.expires is not None else None
    try:
        ns.name = clean_name(ns.name) if ns.name is not None else None
    except ServiceError as exc:  # a bad name is typed wrong, like a bad cap: a usage error
        raise UsageError(str(exc).rstrip(".")) from None
    (c,) = configured_platforms(s, ns.platform)
    try:
        reset = reset_for_new_key(c, asked, s.default_reset)
    except Unsupported as exc:
        raise CapitError(f"{exc} Use --reset never, or a platform whose caps reset (OpenRouter).") from None
    if not ns.agent and (ns.model or ns.dry_run or ns.keep_replaced):
        raise UsageError("--model, --dry-run and --keep-replaced go with --agent")
    keys = _keys_on(c, ns.allow_duplicate or ns.dry_run)  # a dry run asks the platform nothing
    if ns.agent:
        return _issue_into_agents(ns, c, limit, reset, s, taken_names(keys, c.name), expires_at)
    if ns.name is None:
        name = unique_name(default_name(), taken_names(keys, c.name))  # a generated name never clashes
    else:
        name = ns.name
        try:
            check_name_free(keys, c.name, name)
        except NameTaken as exc:  # a name the user chose: refused before anything is asked or issued
            raise UsageError(f"{exc} Pick another --name, or pass --allow-duplicate to issue a second key "
                             "with this name.") from None
    if limit is None:
        confirm_or_stop(f"Issue a key on {c.name} with NO spending limit? It can spend your whole balance.",
                        ns.yes, "Nothing was issued.")

    def show(issued: IssuedKey) -> None:
        k = issued.key
        if ns.json:
            out(json.dumps({"secret": issued.secret, "key": k.to_json()}, indent=2))
        else:
            info(f"Issued '{k.name}' on {c.name} ({Budget(limit, reset).describe()}{expiry_words(expires_at)}), "
                 f"id {k.id[:12]}, shown as {mask(issued.secret)}.")
            info("The key follows on standard output. It is shown only this once: store it now.")
            out(issued.secret)
        sys.stdout.flush()  # shown means written out: a closed pipe is found here, and the key revoked

    report = Report()
    with interrupted_says(lambda: report.said or ("the key had been issued and shown." if report.completed
                                                  else "no key was issued.")):
        run_async(lambda: issue_shown(c, name, limit, reset, show, report=report, expires_at=expires_at))
    return 0


def _keys_on(c: Configured, allow_duplicate: bool) -> list[CappedKey]:
    """The keys on the platform, to keep a new key's name from clashing (none asked for with --allow-duplicate)."""
    if allow_duplicate:
        return []
    listing = run_async(lambda: list_all_keys([c]))
    if listing.errors:
        reason = next(iter(listing.reasons().values()))
        raise CapitError(f"Could not list the keys to check that the new name is free, so nothing was issued: "
                         f"{reason}")
    return listing.keys


def parse_expiry_or_usage(text: str) -> datetime:
    """--expires 30d | 2027-01-31: a mistake is a usage error."""
    try:
        return parse_expiry(text)
    except ValueError as exc:
        raise UsageError(f"--expires: {str(exc).rstrip('.')}") from None


def expiry_words(expires_at: datetime | None) -> str:
    return f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at is not None else ""


def _issue_into_agents(ns: argparse.Namespace, c: Configured, limit: Decimal | None, reset: str | None,
                       s: Settings, taken: set[str], expires_at: datetime | None = None) -> int:
    from capit_tui.core.install import execute, preview

    agents = agents_named(ns.agent)
    pv = preview(c, agents, name=ns.name, model=ns.model, taken=taken)
    if pv.unsupported:
        for name, why in pv.unsupported.items():
            err(f"{name}: {why}")
        raise CapitError("Nothing was issued.")
    cap = (Budget(limit, reset).describe() if limit is not None else "NO cap") + expiry_words(expires_at)
    diff = pv.diff()
    if diff:  # the data of a dry run; otherwise a message (stdout carries only a key shown once)
        (out if ns.dry_run else info)(diff.rstrip("\n"))
    for a in pv.agents:
        if not pv.plan.for_agent(a.name):
            info(f"{a.title}: its files already say this; only a new key would change.")
    for a in pv.manual:
        info(f"{a.title}: no file edit can install its key ({a.notes}) The key will be shown once with steps.")
    for line in pv.model_lines():
        info(line)
    for w in pv.warnings:
        info(f"Warning: {w}")
    for r in pv.replaces:
        info(f"{', '.join(r.agents)}: replaces {r.name} (issued by capit-tui); you can revoke it after the install.")
    n = len(pv.agents) + len(pv.manual)
    summary = (f"{plural(n, 'key')} on {c.name} ({cap} each): "
               + ", ".join(f"{pv.key_names[a.name]} for {a.title}" for a in pv.agents + pv.manual))
    if ns.dry_run:
        info(f"Dry run: would issue {summary}. No key was issued and nothing was written.")
        return 0
    question = f"Issue {summary}, and write the files above?"
    if limit is None:
        question += " With no cap an agent can spend your whole balance."
    confirm_or_stop(question, ns.yes, "Nothing was issued and nothing was written.")
    report = Report()
    with interrupted_says(lambda: report.said or (_finished(pv.manual) if report.completed
                                                  else "no key was issued and no file was changed.")):
        result = run_async(lambda: execute(pv, limit, reset, progress=lambda m: info(m + " ..."), report=report,
                                           hand_over_later=True, expires_at=expires_at))
    with interrupted_says(lambda: _after(result)):
        _say_installed(c, limit, result)
    if pv.held:
        from capit_tui.core.replaced import orphaned

        offer_to_revoke(orphaned(pv.held), "the key it replaced", yes=ns.yes, keep=ns.keep_replaced, settings=s)
    return 0


def offer_to_revoke(replaced: list[Replaced], what: str, *, yes: bool, keep: bool,
                    settings: Settings | None = None) -> None:
    """After a write (an install, a restore): each capit key it left no agent holding is still live. Ask
    whether to revoke it (a terminal), revoke it (--yes), or keep it (--keep-replaced, or no terminal to
    ask) and say how to revoke it later. The command's exit status does not change: the write succeeded."""
    if not replaced:
        return
    from capit_tui.core.keys import configured_platforms
    from capit_tui.core.ledger import Ledger
    from capit_tui.core.replaced import look_up, revoke_replaced

    platforms = {p.name: p for p in configured_platforms(settings or load_settings())}
    replaced = run_async(lambda: look_up(replaced, platforms))
    todo = []
    for r in replaced:
        info(f"{' and '.join(r.agents)} held {r.name} ({r.masked}, {r.cap_text}), issued by capit-tui; no agent "
             "holds it now, and it can still spend.")
        later = later_words(r)
        if r.platform not in platforms:
            info(f"Kept {r.name}: {r.platform} is not configured here. {later}")
            continue
        if keep:
            info(f"Kept {r.name} (--keep-replaced). {later}")
            continue
        if not yes and not sys.stdin.isatty():
            info(f"Kept {r.name}: there is no terminal to ask (--yes revokes it). {later}")
            continue
        try:
            wanted = confirm(f"Revoke {what} ({r.name}, {r.cap_text})?", yes)
        except EOFError:
            wanted = False
        if wanted:
            todo.append(r)
        else:
            info(f"Kept {r.name}. {later}")
    if not todo:
        return
    outcomes = run_async(lambda: revoke_replaced(todo, platforms, Ledger()))
    for o, r in zip(outcomes, todo, strict=True):
        if o.error is None:
            info(f"Revoked '{r.name}' on {r.platform}.")
        else:
            err(f"'{r.name}' on {r.platform} was not revoked: {o.error} {later_words(r)}")


def later_words(r: Replaced) -> str:
    return f"Revoke it with `{r.revoke_command}`."


def _after(result: Result) -> str:
    return _finished([a for a, _k, _s in result.manual])


def _finished(manual: list) -> str:
    said = "the install had finished; `capit-tui keys list` shows its keys."
    if manual:
        said += (" The key for " + ", ".join(a.title for a in manual) + " may not have been shown, so the next start "
                 "revokes it.")
    return said


def _say_installed(c: Configured, limit: Decimal | None, result: Result) -> None:
    amount = format_usd(limit) if limit is not None else "uncapped"
    for r in result.installed:
        info(f"{amount} {c.name} key installed into {r.agent.name} ({r.issued.key.name}, {mask(r.issued.secret)})")
        for f in r.files:
            info(f"  wrote {f}")
        if r.model is not None:
            info(f"  {r.model.line}")
        for step in r.agent.after_install():
            info(f"  note: {step}")
    if result.backup is not None:
        info(f"Backup of the old files: {result.backup.folder} (restore with "
             f"`capit-tui backups restore {result.backup.id}`)")
    for a, issued, steps in result.manual:
        info(f"{amount} {c.name} key issued for {a.title} ({issued.key.name}). It cannot be installed by a file "
             "edit. The key follows on standard output, shown only this once:")
        out(issued.secret)
        sys.stdout.flush()  # the key above the steps, which say "paste the key shown above"
        info(f"Then, in {a.title}:")
        for i, step in enumerate(steps, 1):
            info(f"  {i}. {step}")
    sys.stdout.flush()
    result.handed_over()
