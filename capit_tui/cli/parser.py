"""The command line's grammar: `capit-tui PLATFORM CAP [options]` to issue, and the verbs (keys,
platforms, agents, backups, watch, report, panic, team, sandbox). A usage mistake raises UsageError (exit status 2)."""

from __future__ import annotations

import argparse
from typing import NoReturn

from capit_tui.errors import UsageError

VERBS = ("keys", "platforms", "sandbox", "agents", "backups", "watch", "report", "panic", "team", "help")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}. See `{self.prog} --help`.")


def issue_parser() -> argparse.ArgumentParser:
    p = Parser(prog="capit-tui PLATFORM CAP",
                description="Issue a key with a spending cap on PLATFORM (e.g. openrouter 5.00).")
    p.add_argument("platform")
    p.add_argument("cap", nargs="?", help="cap in dollars: 5, 5.00 or $5")
    p.add_argument("--reset", help="daily | weekly | monthly | never (default: monthly, or settings)")
    p.add_argument("--name", help="key name (default: capit-<yyyymmdd>)")
    p.add_argument("--allow-duplicate", action="store_true",
                   help="issue even when a key of that --name already exists on the platform")
    p.add_argument("--no-cap", action="store_true", help="issue a key with no spending limit (asks first)")
    p.add_argument("--expires", metavar="WHEN",
                   help="the key stops working after a duration (30d, 12h, 2w) or on a UTC date (2027-01-31)")
    p.add_argument("--json", action="store_true", help="print {secret, key} as JSON")
    p.add_argument("--agent", "-a", action="append", default=[], metavar="AGENT",
                   help="install the key into this agent (repeat for several; each gets its own key)")
    p.add_argument("--model", help="model slug to set in the agents, e.g. anthropic/claude-sonnet-4.5")
    p.add_argument("--dry-run", action="store_true", help="show the diffs only: no key issued, nothing written")
    p.add_argument("--yes", "-y", action="store_true",
                   help="do not ask for confirmation (and revoke a key the install left no agent holding)")
    p.add_argument("--keep-replaced", action="store_true",
                   help="keep, without asking, a capit key the install replaced and no agent holds any more")
    return p


def main_parser() -> argparse.ArgumentParser:
    p = Parser(prog="capit-tui", description="Spending-capped API keys for coding agents.")
    sub = p.add_subparsers(dest="verb")

    keys = sub.add_parser("keys", help="list, revoke, disable, enable or re-cap keys")
    ksub = keys.add_subparsers(dest="action", required=True)
    kl = ksub.add_parser("list", help="every key on every configured platform")
    kl.add_argument("--platform")
    kl.add_argument("--json", action="store_true")
    kl.add_argument("--unused", metavar="AGE", help="only keys not used in that long, e.g. 30d, 12h, 2w "
                    "(a key never used counts)")
    for action, helptext in (("revoke", "delete keys"), ("disable", "disable keys"), ("enable", "enable keys")):
        k = ksub.add_parser(action, help=helptext)
        k.add_argument("selector", help="exact name, hash prefix (>= 8 chars) or glob such as 'capit-*'")
        k.add_argument("--platform")
        k.add_argument("--yes", "-y", action="store_true")
        if action == "revoke":
            k.add_argument("--all", action="store_true",
                           help="needed (with --yes) when the pattern matches every key or more than 5")
    kr = ksub.add_parser("rotate", help="replace keys with new ones (same cap, reset, expiry) in the same agents")
    kr.add_argument("selector", nargs="?", help="exact name, hash prefix (>= 8 chars) or glob such as 'capit-*'")
    kr.add_argument("--older-than", metavar="AGE", help="only keys created that long ago or more, e.g. 90d")
    kr.add_argument("--platform")
    kr.add_argument("--yes", "-y", action="store_true",
                    help="do not ask (and revoke the old key of one no agent holds once its replacement is shown)")
    kc = ksub.add_parser("cap", help="change a key's cap ('none' removes it)")
    kc.add_argument("selector")
    kc.add_argument("amount", help="new cap in dollars, or 'none'")
    kc.add_argument("--reset", help="daily | weekly | monthly | never")
    kc.add_argument("--platform")
    kc.add_argument("--yes", "-y", action="store_true")

    plats = sub.add_parser("platforms", help="list, add, remove or test platforms")
    psub = plats.add_subparsers(dest="action", required=True)
    pl = psub.add_parser("list")
    pl.add_argument("--json", action="store_true")
    pa = psub.add_parser("add", help="store a management key (checked live first)")
    pa.add_argument("name")
    pa.add_argument("--kind", choices=("openrouter", "oneapi", "litellm"))
    pa.add_argument("--base-url")
    pa.add_argument("--quota-per-usd", type=int)
    pa.add_argument("--user-id", help="new-api gateways: the user id for the New-Api-User header")
    pa.add_argument("--store-in-file", action="store_true",
                    help="no keyring here: keep the key in a 0600 file in the config dir")
    pa.add_argument("--allow-http", action="store_true",
                    help="allow a plain http:// base URL to another machine (the management key crosses the "
                         "network unencrypted; kept as allow_http = true and warned about on every run)")
    pr = psub.add_parser("remove")
    pr.add_argument("name")
    pr.add_argument("--yes", "-y", action="store_true")
    pt = psub.add_parser("test")
    pt.add_argument("name")

    ag = sub.add_parser("agents", help="the coding agents on this machine and the keys they use")
    ag.add_argument("--json", action="store_true")
    ag.set_defaults(action="list")

    bk = sub.add_parser("backups", help="list or restore the backups of agent config files")
    bsub = bk.add_subparsers(dest="action", required=True)
    bl = bsub.add_parser("list")
    bl.add_argument("--json", action="store_true")
    br = bsub.add_parser("restore", help="show the diff back to the old files, then restore them")
    br.add_argument("id", nargs="?")
    br.add_argument("--latest", action="store_true")
    br.add_argument("--agent")
    br.add_argument("--yes", "-y", action="store_true",
                    help="do not ask (and revoke a capit key the restore removed that no agent holds any more)")
    br.add_argument("--keep-replaced", action="store_true",
                    help="keep, without asking, a capit key the restore removed that no agent holds any more")

    wa = sub.add_parser("watch", help="alert on spend thresholds, caps, resets and expiry without the TUI")
    wa.add_argument("--interval", type=int, default=60, metavar="SECONDS", help="seconds between polls (default 60)")
    wa.add_argument("--at", metavar="PERCENTS", help="thresholds in percent of the cap (default 50,80,100; "
                    "reaching the cap always counts)")
    wa.add_argument("--exec", metavar="CMD", help="run CMD for each event, the event in CAPIT_* variables")
    wa.add_argument("--webhook", metavar="URL", help="POST each event as JSON with a Slack-compatible 'text' "
                    "(https; or set CAPIT_WATCH_WEBHOOK)")
    wa.add_argument("--once", action="store_true",
                    help="check once and exit: 0 no key at a threshold, 3 one is, 1 a platform failed")
    wa.add_argument("--json", action="store_true", help="one JSON object per event, one a line")
    wa.add_argument("--pool", action="append", metavar="PERIOD:AMOUNT",
                    help="a budget pooled across keys, e.g. daily:20.00 (repeatable: one per daily, weekly, "
                    "monthly; default: settings.toml's [[pool]])")
    wa.add_argument("--pool-match", metavar="GLOB", help="the keys pooled, by name (default: every key)")
    wa.add_argument("--enforce", action="store_true",
                    help="disable the pooled keys at 100%% of a pool and re-enable them when its window resets "
                    "(done by this watch polling, not by the platform)")
    wa.set_defaults(action="run")

    pn = sub.add_parser("panic", help="disable every enabled key now (recorded); --undo re-enables exactly those")
    pn.add_argument("--undo", action="store_true", help="re-enable the keys the last panic disabled, nothing else")
    pn.add_argument("--platform", help="only this platform's keys")
    pn.add_argument("--yes", "-y", action="store_true", help="do not ask")
    pn.add_argument("--json", action="store_true", help="the counts and the failed keys as JSON on stdout")
    pn.set_defaults(action="run")

    rp = sub.add_parser("report", help="spend per key, agent, platform or model over a period")
    rp.add_argument("--since", default="7d", help="7d, 30d, 2w (from that many days ago, midnight UTC) or a "
                    "UTC date YYYY-MM-DD (default 7d)")
    rp.add_argument("--by", choices=("key", "agent", "platform", "model", "member"), default="key",
                    help="member: the team member each key belongs to (from the team records of `team apply`)")
    rp.add_argument("--format", choices=("table", "csv", "json", "md"), default="table")
    rp.add_argument("--platform")
    rp.set_defaults(action="report")

    tm = sub.add_parser("team", help="a team file (team.toml) made into capped keys and model tiers: plan, apply, "
                        "status")
    tsub = tm.add_subparsers(dest="action", required=True)
    tp = tsub.add_parser("plan", help="what apply would change, per member, with the drift from the file")
    tp.add_argument("file")
    tp.add_argument("--disable-removed", action="store_true", help="plan to disable removed members' keys, not revoke")
    tp.add_argument("--ignore-tiers", action="store_true", help="go on where the platform cannot limit models")
    ta = tsub.add_parser("apply", help="do the plan (asks first); idempotent")
    ta.add_argument("file")
    ta.add_argument("--yes", "-y", action="store_true", help="do not ask")
    ta.add_argument("--secrets-dir", metavar="DIR", help="write each new key to DIR/<member>.key (0600; DIR new or "
                    "empty, made 0700)")
    ta.add_argument("--disable-removed", action="store_true",
                    help="disable the keys of members removed from the file instead of revoking them")
    ta.add_argument("--ignore-tiers", action="store_true",
                    help="issue the keys even where the platform cannot limit their models")
    ts = tsub.add_parser("status", help="members, keys, spend, cap, tier and drift")
    ts.add_argument("file")
    ts.add_argument("--json", action="store_true")

    sb = sub.add_parser("sandbox", help="the built-in OpenRouter-compatible sandbox")
    ssub = sb.add_subparsers(dest="action", required=True)
    ss = ssub.add_parser("serve")
    ss.add_argument("--port", type=int, default=8787)
    ss.add_argument("--seed-keys", type=int, default=40)
    ss.add_argument("--latency-ms", type=float, default=0)
    ss.add_argument("--traffic", action="store_true", help="spend a little on some keys every few seconds")
    return p


def parse_intermixed(parser: argparse.ArgumentParser, args: list[str]) -> argparse.Namespace:
    """`parser.parse_intermixed_args(args)` with Ctrl-C and SIGTERM held until it returns. argparse's
    intermixed parsing swaps attributes on its actions and puts them back in a `finally`; a signal landing
    in between surfaced as "'_StoreAction' object has no attribute 'save_nargs'" instead of an interrupt.
    Held, the signal is delivered (as KeyboardInterrupt) right after; parsing takes microseconds."""
    import signal

    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks (and no SIGTERM handler of ours)
        return parser.parse_intermixed_args(args)
    held = {signal.SIGINT, signal.SIGTERM}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        return parser.parse_intermixed_args(args)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
