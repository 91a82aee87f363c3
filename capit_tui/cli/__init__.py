"""capit-tui's command line. Headless verbs run here without importing Textual.

Exit status: 0 success, 1 a failure the message explains, 2 a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from decimal import Decimal
from typing import Any, Callable, NoReturn, Sequence

from capit_tui import __version__

VERBS = ("keys", "platforms", "sandbox", "agents", "backups", "help")


class Failure(Exception):
    """Ends the command with exit status 1 and this message on stderr."""


class UsageError(Exception):
    """Ends the command with exit status 2."""


# ---------------------------------------------------------------- argument parsing


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}. See `{self.prog} --help`.")


def _issue_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="capit-tui PLATFORM CAP",
                description="Issue a key with a spending cap on PLATFORM (e.g. openrouter 5.00).")
    p.add_argument("platform")
    p.add_argument("cap", nargs="?", help="cap in dollars: 5, 5.00 or $5")
    p.add_argument("--reset", help="daily | weekly | monthly | never (default: monthly, or settings)")
    p.add_argument("--name", help="key name (default: capit-<yyyymmdd>)")
    p.add_argument("--no-cap", action="store_true", help="issue a key with no spending limit (asks first)")
    p.add_argument("--json", action="store_true", help="print {secret, key} as JSON")
    p.add_argument("--agent", "-a", action="append", default=[], metavar="AGENT",
                   help="install the key into this agent (repeat for several; each gets its own key)")
    p.add_argument("--model", help="model slug to set in the agents, e.g. anthropic/claude-sonnet-4.5")
    p.add_argument("--dry-run", action="store_true", help="show the diffs only: no key issued, nothing written")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    return p


def _main_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="capit-tui", description="Spending-capped API keys for coding agents.")
    sub = p.add_subparsers(dest="verb")

    keys = sub.add_parser("keys", help="list, revoke, disable, enable or re-cap keys")
    ksub = keys.add_subparsers(dest="action", required=True)
    kl = ksub.add_parser("list", help="every key on every configured platform")
    kl.add_argument("--platform")
    kl.add_argument("--json", action="store_true")
    for action, helptext in (("revoke", "delete keys"), ("disable", "disable keys"), ("enable", "enable keys")):
        k = ksub.add_parser(action, help=helptext)
        k.add_argument("selector", help="exact name, hash prefix (>= 8 chars) or glob such as 'capit-*'")
        k.add_argument("--platform")
        k.add_argument("--yes", "-y", action="store_true")
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
    pa.add_argument("--kind", choices=("openrouter", "oneapi"))
    pa.add_argument("--base-url")
    pa.add_argument("--quota-per-usd", type=int)
    pa.add_argument("--user-id", help="new-api gateways: the user id for the New-Api-User header")
    pa.add_argument("--store-in-file", action="store_true",
                    help="no keyring here: keep the key in a 0600 file in the config dir")
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
    br.add_argument("--yes", "-y", action="store_true")

    sb = sub.add_parser("sandbox", help="the built-in OpenRouter-compatible sandbox")
    ssub = sb.add_subparsers(dest="action", required=True)
    ss = ssub.add_parser("serve")
    ss.add_argument("--port", type=int, default=8787)
    ss.add_argument("--seed-keys", type=int, default=40)
    ss.add_argument("--latency-ms", type=float, default=0)
    ss.add_argument("--traffic", action="store_true", help="spend a little on some keys every few seconds")
    return p


# ---------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    demo = False
    if "--version" in args[:1] or args[:1] == ["-V"]:
        print(f"capit-tui {__version__}")
        return 0
    if "--demo" in args:
        args.remove("--demo")
        demo = True
    try:
        if demo:
            from capit_tui.core.demo import demo_environment

            with demo_environment():
                return _dispatch(args, demo=True)
        return _dispatch(args)
    except UsageError as exc:
        _err(str(exc))
        return 2
    except Failure as exc:
        _err(str(exc))
        return 1
    except KeyboardInterrupt:
        _err("Interrupted; nothing more was done.")
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # the last line of defence: one sentence, never a traceback
        from capit_tui.core.redact import redact

        _err(f"capit-tui failed unexpectedly: {redact(f'{type(exc).__name__}: {exc}')}. "
             "Please report this; set CAPIT_DEBUG=1 to see details.")
        if os.environ.get("CAPIT_DEBUG"):
            raise
        return 1


def _dispatch(args: list[str], demo: bool = False) -> int:
    from capit_tui.platforms.base import PlatformError
    from capit_tui.core.keys import ServiceError
    from capit_tui.core.settings import SettingsError
    from capit_tui.core.vault import VaultError

    try:
        if not args:
            return _run_tui(demo)
        if args[0] in ("-h", "--help"):
            print(_main_parser().format_help())
            print("Issue a key:  capit-tui PLATFORM CAP [--reset daily|weekly|monthly|never] [--name N] [--json]")
            return 0
        first = args[0]
        if first == "sandbox" and len(args) > 1 and args[1] not in ("serve", "-h", "--help"):
            first = ""  # `capit-tui sandbox 5.00`: issue on the sandbox platform (the demo's)
        if first in VERBS:
            if first == "help":
                print(_main_parser().format_help())
                return 0
            ns = _main_parser().parse_args(args)
            return _VERB_HANDLERS[(ns.verb, ns.action)](ns)
        if first.startswith("-"):
            _main_parser().parse_args(args)  # reports the unknown option
            raise UsageError(f"unknown option {first}")
        return cmd_issue(_issue_parser().parse_args(args))
    except (PlatformError, ServiceError, SettingsError, VaultError) as exc:
        raise Failure(str(exc)) from None
    except EOFError:  # before `except Exception`, which would catch it first and re-raise it
        raise Failure("No answer was given (standard input is closed); nothing was changed. "
                      "Pass --yes to confirm without a prompt.") from None
    except Exception as exc:
        from capit_tui.core.backups import BackupError
        from capit_tui.core.changes import PlanError, StaleError
        from capit_tui.core.install import InstallError
        from capit_tui.core.platform_setup import SetupError

        if isinstance(exc, (InstallError, PlanError, StaleError, BackupError, SetupError)):
            raise Failure(str(exc)) from None
        raise


def _run_tui(demo: bool) -> int:
    try:
        from capit_tui.tui.app import run_app  # type: ignore[attr-defined]
    except ImportError:
        # The full-screen app is not part of this build yet: show the keys headless instead.
        _err("The full-screen app is not available in this build; showing `keys list` instead.")
        return cmd_keys_list(argparse.Namespace(platform=None, json=False))
    return run_app(demo=demo)


# ---------------------------------------------------------------- helpers


def _err(msg: str) -> None:
    print(f"capit-tui: {msg}", file=sys.stderr)


def _info(msg: str) -> None:
    print(msg, file=sys.stderr)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if line == "":
        print(file=sys.stderr)  # end the unanswered prompt's line: the refusal gets its own
        raise EOFError
    return line.strip().lower() in ("y", "yes")


def _parse_reset(text: str | None, default: str | None) -> str | None:
    from capit_tui.core.model import parse_reset

    if text is None:
        return default
    try:
        return parse_reset(text)
    except ValueError as exc:
        raise UsageError(str(exc).rstrip(".")) from None


def _load_settings():
    from capit_tui.core.settings import load

    return load()


def _table(rows: list[list[str]], headers: list[str], right: set[int]) -> str:
    widths = [len(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(cell))

    def fmt(r: list[str]) -> str:
        return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)).rstrip()

    return "\n".join([fmt(headers)] + [fmt(r) for r in rows])


# ---------------------------------------------------------------- issue


def cmd_issue(ns: argparse.Namespace) -> int:
    from capit_tui.core.money import MoneyError, parse_cap
    from capit_tui.core.model import Budget
    from capit_tui.core.redact import mask
    from capit_tui.core.keys import clean_name, configured_platforms, default_name, issue_key

    s = _load_settings()
    if ns.no_cap:
        if ns.cap is not None:
            raise UsageError("give either a cap or --no-cap, not both")
        limit = None
    else:
        if ns.cap is None:
            raise UsageError(f"give a cap in dollars, e.g. `capit-tui {ns.platform} 5.00`")
        try:
            limit = parse_cap(ns.cap)
        except MoneyError as exc:
            raise UsageError(str(exc).rstrip(".")) from None
    reset = _parse_reset(ns.reset, s.default_reset)
    name = clean_name(ns.name) if ns.name is not None else default_name()
    ns.name = clean_name(ns.name) if ns.name is not None else None
    (c,) = configured_platforms(s, ns.platform)
    if c.config.kind == "oneapi" and reset is not None:
        if ns.reset is None:
            reset = None  # one-api gateways have no reset periods; the default cannot apply
        else:
            raise Failure(f"{c.name} is a one-api gateway: its caps never reset. Use --reset never.")
    if ns.agent:
        return _issue_into_agents(ns, c, limit, reset)
    if ns.model or ns.dry_run:
        raise UsageError("--model and --dry-run go with --agent")
    if limit is None:
        if not _confirm(f"Issue a key on {c.name} with NO spending limit? It can spend your whole balance.",
                        ns.yes):
            _info("Nothing was issued.")
            return 1
    issued = _run(issue_key(c, name, limit, reset))
    k = issued.key
    if ns.json:
        print(json.dumps({"secret": issued.secret, "key": k.to_json()}, indent=2))
        return 0
    cap = Budget(limit, reset).describe()
    _info(f"Issued '{k.name}' on {c.name} ({cap}), id {k.id[:12]}, shown as {mask(issued.secret)}.")
    _info("The key follows on standard output. It is shown only this once: store it now.")
    print(issued.secret)
    return 0


def _agents_named(names: list[str]) -> list[Any]:
    from capit_tui import agents as agents_mod

    out, seen = [], set()
    for n in names:
        for part in n.split(","):
            part = part.strip().lower()
            if not part or part in seen:
                continue
            seen.add(part)
            try:
                out.append(agents_mod.get(part))
            except KeyError:
                raise UsageError(f"unknown agent '{part}'; known agents: {', '.join(agents_mod.names())}") from None
    return out


def _issue_into_agents(ns: argparse.Namespace, c: Any, limit: Any, reset: str | None) -> int:
    from capit_tui.core.install import execute, preview
    from capit_tui.core.model import Budget
    from capit_tui.core.money import format_usd
    from capit_tui.core.redact import mask

    agents = _agents_named(ns.agent)
    pv = preview(c, agents, name=ns.name, model=ns.model)
    if pv.unsupported:
        for name, why in pv.unsupported.items():
            _err(f"{name}: {why}")
        raise Failure("Nothing was issued.")
    cap = Budget(limit, reset).describe() if limit is not None else "NO cap"
    diff = pv.diff()
    if diff:
        print(diff, end="" if diff.endswith("\n") else "\n")
    for a in pv.agents:
        if not pv.plan.for_agent(a.name):
            _info(f"{a.title}: its files already say this; only a new key would change.")
    for a in pv.manual:
        _info(f"{a.title}: no file edit can install its key ({a.notes}) The key will be shown once with steps.")
    for w in pv.warnings:
        _info(f"Warning: {w}")
    n = len(pv.agents) + len(pv.manual)
    plural = "s" if n != 1 else ""
    summary = (f"{n} key{plural} on {c.name} ({cap} each): "
               + ", ".join(f"{pv.key_names[a.name]} for {a.title}" for a in pv.agents + pv.manual))
    if ns.dry_run:
        _info(f"Dry run: would issue {summary}. No key was issued and nothing was written.")
        return 0
    question = f"Issue {summary}, and write the files above?"
    if limit is None:
        question += " With no cap an agent can spend your whole balance."
    if not _confirm(question, ns.yes):
        _info("Nothing was issued and nothing was written.")
        return 1
    result = _run(execute(pv, limit, reset, progress=lambda m: _info(m + " ...")))
    amount = format_usd(limit) if limit is not None else "uncapped"
    for r in result.installed:
        _info(f"{amount} {c.name} key installed into {r.agent.name} ({r.issued.key.name}, {mask(r.issued.secret)})")
        for f in r.files:
            _info(f"  wrote {f}")
        for step in r.agent.after_install():
            _info(f"  note: {step}")
    if result.backup is not None:
        _info(f"Backup of the old files: {result.backup.folder} (restore with "
              f"`capit-tui backups restore {result.backup.id}`)")
    for a, issued, steps in result.manual:
        _info(f"{amount} {c.name} key issued for {a.title} ({issued.key.name}). It cannot be installed by a file edit:")
        for i, step in enumerate(steps, 1):
            _info(f"  {i}. {step}")
        _info("The key follows on standard output, shown only this once.")
        print(issued.secret)
    return 0


# ---------------------------------------------------------------- agents and backups


def cmd_agents(ns: argparse.Namespace) -> int:
    from capit_tui.core.agent_status import agent_statuses

    statuses = agent_statuses()
    if ns.json:
        print(json.dumps([st.to_json() for st in statuses], indent=2))
        return 0
    rows = []
    for st in statuses:
        found = {"binary": "yes"}.get(st.found, st.found)
        key = (st.key.masked + (f" = {st.capit.key_name}" if st.capit else "")) if st.key else "-"
        rows.append([st.name, st.agent.title, found, st.agent.support, key])
    print(_table(rows, ["AGENT", "PROGRAM", "FOUND", "INSTALL", "KEY IN USE"], right=set()))
    for st in statuses:
        for w in st.warnings:
            _info(f"{st.name}: {w}")
    return 0


def cmd_backups_list(ns: argparse.Namespace) -> int:
    from capit_tui.core.backups import BackupStore

    store = BackupStore()
    backups = store.list()
    if ns.json:
        print(json.dumps([b.to_json() for b in backups], indent=2))
        return 0
    if not backups:
        _info("No backups yet: capit-tui makes one before every change to an agent's files.")
        return 0
    rows = []
    for b in backups:
        keys = b.meta.get("keys", {})
        key = ", ".join(f"{v.get('name')} ({v.get('masked')})" for v in keys.values()) if keys else "-"
        rows.append([b.id, b.created_at.strftime("%Y-%m-%d %H:%M"), b.meta.get("reason", "-"),
                     ",".join(b.agents) or "-", str(len(b.files)), key])
    print(_table(rows, ["ID", "WHEN (UTC)", "REASON", "AGENTS", "FILES", "REPLACED BY"], right={4}))
    return 0


def cmd_backups_restore(ns: argparse.Namespace) -> int:
    from capit_tui.core.agent_status import (NothingToRestore, agent_statuses, installed_secrets, restore_apply,
                                        restore_preview)
    from capit_tui.core.backups import BackupStore

    store = BackupStore()
    if ns.id and ns.latest:
        raise UsageError("give a backup ID or --latest, not both")
    if ns.id:
        b = store.get(ns.id)
    elif ns.latest:
        b = store.latest(ns.agent)
        if b is None:
            raise Failure("There is no backup" + (f" of {ns.agent}'s files." if ns.agent else " yet."))
    else:
        raise UsageError("give a backup ID (see `capit-tui backups list`) or --latest")
    try:
        rp = restore_preview(store, b, ns.agent, installed_secrets(agent_statuses()))
    except NothingToRestore as exc:
        raise Failure(str(exc)) from None
    if not rp.changes:
        _info(f"The files already match backup {b.id}; nothing to restore.")
        return 0
    print(rp.diff(), end="")
    n = rp.changes
    if not _confirm(f"Restore {n} file{'s' if n != 1 else ''} from backup {b.id}?", ns.yes):
        _info("Nothing was restored.")
        return 1
    undo = restore_apply(store, rp)
    for c in rp.plan.changes:
        _info(f"restored {c.path}" if c.after is not None else f"removed {c.path} (it did not exist before)")
    _info(f"The files as they were just now are in backup {undo.id}.")
    return 0


# ---------------------------------------------------------------- keys


def cmd_keys_list(ns: argparse.Namespace) -> int:
    from capit_tui.core.money import format_usd
    from capit_tui.core.model import reset_label
    from capit_tui.core.keys import configured_platforms, display_name, list_all_keys

    s = _load_settings()
    platforms = configured_platforms(s, ns.platform)
    if not platforms:
        raise Failure("No platform is configured. Run `capit-tui platforms add openrouter` to store a "
                      "management key, or set CAPIT_OPENROUTER_MANAGEMENT_KEY.")
    listing = _run(list_all_keys(platforms))
    from capit_tui.core.ledger import Ledger

    held = Ledger().holders_by_key()
    holders = {(k.platform, k.id): held.get((k.platform, k.id), []) for k in listing.keys}
    if ns.json:
        print(json.dumps([{**k.to_json(), "agents": holders[(k.platform, k.id)]} for k in listing.keys], indent=2))
    elif listing.keys:
        rows = []
        for k in listing.keys:
            pct = k.percent
            rows.append([
                display_name(k.name, 32), k.platform, format_usd(k.limit), reset_label(k.limit_reset),
                format_usd(k.spent), f"{pct}%" if pct is not None else "-", format_usd(k.usage_daily),
                format_usd(k.usage_monthly), k.status, k.created_at.strftime("%Y-%m-%d") if k.created_at else "-",
                ",".join(holders[(k.platform, k.id)]) or "-",
            ])
        print(_table(rows, ["NAME", "PLATFORM", "CAP", "RESET", "SPENT", "%", "TODAY", "MONTH", "STATUS",
                            "CREATED", "AGENTS"], right={2, 4, 5, 6, 7}))
    elif not listing.errors:
        _info("No keys yet. Issue one with `capit-tui " + platforms[0].name + " 5.00`.")
    for name, exc in listing.errors.items():
        _err(f"{name}: {exc}")
    return 1 if listing.errors else 0


def _pick(ns: argparse.Namespace, verb: str) -> tuple[list[Any], dict[str, Any]]:
    """Resolve the selector to keys, and open each platform involved."""
    from capit_tui.core.keys import configured_platforms, display_name, list_all_keys, select

    s = _load_settings()
    platforms = configured_platforms(s, getattr(ns, "platform", None))
    if not platforms:
        raise Failure("No platform is configured. Run `capit-tui platforms add openrouter` first.")
    listing = _run(list_all_keys(platforms))
    if listing.errors:
        first = next(iter(listing.errors.items()))
        raise Failure(f"Could not list the keys on {first[0]}, so nothing was {verb}: {first[1]}")
    sel = select(listing.keys, ns.selector)
    if not sel.keys:
        raise Failure(f"No key matches '{display_name(ns.selector, 60)}'. See `capit-tui keys list`.")
    return sel.keys, {"selection": sel, "platforms": {c.name: c for c in platforms}}


def _describe(keys: list[Any]) -> str:
    from capit_tui.core.money import format_usd
    from capit_tui.core.keys import display_name

    lines = []
    for k in keys[:20]:
        lines.append(f"  {display_name(k.name, 40)}  ({k.platform}, {k.id[:12]}, cap {format_usd(k.limit)}, "
                     f"spent {format_usd(k.spent)})")
    if len(keys) > 20:
        lines.append(f"  ... and {len(keys) - 20} more")
    return "\n".join(lines)


async def _apply(keys: list[Any], platforms: dict[str, Any], op: Callable[[Any, Any], Any]) -> list[tuple[Any, Exception | None]]:
    from capit_tui.platforms.base import PlatformError

    results: list[tuple[Any, Exception | None]] = []
    opened: dict[str, Any] = {}
    try:
        for k in keys:
            p = opened.get(k.platform) or opened.setdefault(k.platform, platforms[k.platform].open())
            try:
                await op(p, k)
                results.append((k, None))
            except PlatformError as exc:
                results.append((k, exc))
    finally:
        for p in opened.values():
            await p.aclose()
    return results


def _report(results: list[tuple[Any, Exception | None]], done: str) -> int:
    from capit_tui.core.keys import display_name

    failed = 0
    for k, err in results:
        if err is None:
            _info(f"{done} '{display_name(k.name, 60)}' on {k.platform}.")
        else:
            failed += 1
            _err(f"'{display_name(k.name, 60)}' on {k.platform} was not {done.lower()}: {err}")
    return 1 if failed else 0


def cmd_keys_revoke(ns: argparse.Namespace) -> int:
    keys, ctx = _pick(ns, "revoked")
    sel = ctx["selection"]
    n = len(keys)
    _info(f"This deletes {n} key{'s' if n != 1 else ''}; an agent using {'them' if n != 1 else 'it'} stops working:")
    _info(_describe(keys))
    if not _confirm(f"Revoke {n} key{'s' if n != 1 else ''}?", ns.yes):
        _info("Nothing was revoked.")
        return 1
    if sel.everything and n > 1 and not ns.yes:
        if not _confirm(f"'{ns.selector}' matches every one of your {n} keys. Really revoke all {n}?", False):
            _info("Nothing was revoked.")
            return 1
    results = _run(_apply(keys, ctx["platforms"], lambda p, k: p.delete_key(k.id)))
    from capit_tui.core.ledger import Ledger

    ledger = Ledger()
    for k, err in results:
        if err is None:
            held = ledger.holders(k.platform, k.id)
            ledger.mark_revoked(k.platform, k.id)
            for agent in held:
                _info(f"{agent} was using '{k.name}' and will now be refused. Put its previous config back with "
                      f"`capit-tui backups restore --latest --agent {agent}`, or install a new key.")
    return _report(results, "Revoked")


def _cmd_toggle(ns: argparse.Namespace, disabled: bool) -> int:
    verb = "disabled" if disabled else "enabled"
    keys, ctx = _pick(ns, verb)
    todo = [k for k in keys if k.disabled != disabled]
    for k in keys:
        if k.disabled == disabled:
            _info(f"'{k.name}' on {k.platform} is already {verb}.")
    if not todo:
        return 0
    if len(todo) > 1:
        _info(_describe(todo))
        if not _confirm(f"{'Disable' if disabled else 'Enable'} these {len(todo)} keys?", ns.yes):
            _info(f"Nothing was {verb}.")
            return 1
    results = _run(_apply(todo, ctx["platforms"], lambda p, k: p.update_key(k.id, disabled=disabled)))
    return _report(results, verb.capitalize())


def cmd_keys_disable(ns: argparse.Namespace) -> int:
    return _cmd_toggle(ns, True)


def cmd_keys_enable(ns: argparse.Namespace) -> int:
    return _cmd_toggle(ns, False)


def cmd_keys_cap(ns: argparse.Namespace) -> int:
    from capit_tui.core.money import MoneyError, format_usd, parse_cap
    from capit_tui.core.model import reset_label
    from capit_tui.platforms.base import UNSET

    if ns.amount.strip().lower() in ("none", "no-cap", "unlimited"):
        limit: Decimal | None = None
    else:
        try:
            limit = parse_cap(ns.amount)
        except MoneyError as exc:  # `keys cap` removes a cap with 'none', not --no-cap
            raise UsageError(str(exc).rstrip(".").replace("use --no-cap", "give 'none' as the cap")) from None
    reset = _parse_reset(ns.reset, None) if ns.reset is not None else UNSET
    keys, ctx = _pick(ns, "changed")
    what = "remove the cap from" if limit is None else f"set a {format_usd(limit)} cap on"
    if reset is not UNSET:
        what += f" (reset {reset_label(reset)})"
    if limit is None or len(keys) > 1:
        _info(_describe(keys))
        warn = " With no cap, a runaway agent can spend your whole balance." if limit is None else ""
        if not _confirm(f"{what[0].upper()}{what[1:]} {len(keys)} key{'s' if len(keys) != 1 else ''}?{warn}", ns.yes):
            _info("Nothing was changed.")
            return 1

    async def op(p: Any, k: Any) -> None:
        if reset is not UNSET and reset is not None and not p.supports_reset:
            from capit_tui.platforms.base import Unsupported

            raise Unsupported(f"{p.name} caps never reset; use --reset never.", platform=p.name)
        await p.update_key(k.id, limit=limit, reset=reset)

    results = _run(_apply(keys, ctx["platforms"], op))
    label = f"Capped at {format_usd(limit)}" if limit is not None else "Removed the cap of"
    return _report(results, label)


# ---------------------------------------------------------------- platforms


def cmd_platforms_list(ns: argparse.Namespace) -> int:
    from capit_tui.core.platform_setup import statuses

    rows, out = [], []
    for st in statuses(_load_settings()):
        cfg = st.config
        out.append({"name": st.name, "kind": cfg.kind, "base_url": cfg.base_url, "configured": st.configured,
                    "key_source": st.source})
        rows.append([st.name, cfg.kind, cfg.base_url, "yes" if st.configured else "no", st.source or "-"])
    if ns.json:
        print(json.dumps(out, indent=2))
    else:
        print(_table(rows, ["NAME", "KIND", "BASE URL", "CONFIGURED", "KEY FROM"], right=set()))
    return 0


def _read_secret(prompt: str) -> str:
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt, stream=sys.stderr).strip()
    line = sys.stdin.readline()
    if line == "":
        raise EOFError
    return line.strip()


def cmd_platforms_add(ns: argparse.Namespace) -> int:
    from capit_tui.core import platform_setup as setup

    s = _load_settings()
    if ns.name.lower() not in s.known_platforms() and not (ns.kind and ns.base_url):
        from capit_tui.core.settings import PRESETS

        raise UsageError(f"'{ns.name}' is not a preset ({', '.join(sorted(PRESETS))}): give --kind and --base-url")
    try:
        cfg = setup.resolve(s, ns.name, kind=ns.kind, base_url=ns.base_url, quota_per_usd=ns.quota_per_usd,
                            user_id=ns.user_id)
    except setup.SetupError as exc:
        raise UsageError(str(exc).rstrip(".")) from None
    _info(f"Paste a management key for {cfg.name} (create one at {setup.manage_hint(cfg)}). It is not echoed.")
    key = _read_secret("Management key: ")
    try:
        key = setup.clean_key(key)
    except setup.SetupError as exc:
        raise Failure(str(exc)) from None
    _info(f"Checking the key with {cfg.base_url} ...")
    _run(setup.check_key(cfg, key))
    added = setup.store(s, cfg, key, allow_file=ns.store_in_file)
    _info(f"The key works. {added.sentence()} Try `capit-tui keys list`.")
    return 0


def cmd_platforms_remove(ns: argparse.Namespace) -> int:
    from capit_tui.core import platform_setup as setup

    s = _load_settings()
    name = ns.name.lower()
    if name not in s.known_platforms():
        raise Failure(f"Unknown platform '{name}'.")
    if not _confirm(f"Forget the management key for {name}? Keys already issued keep working.", ns.yes):
        _info("Nothing was removed.")
        return 1
    _info(setup.remove(s, name).sentence())
    return 0


def cmd_platforms_test(ns: argparse.Namespace) -> int:
    from capit_tui.core.platform_setup import probe, probe_sentence
    from capit_tui.core.keys import configured_platforms

    (c,) = configured_platforms(_load_settings(), ns.name)

    async def test() -> Any:
        async with c.open() as p:
            return await probe(p)

    print(probe_sentence(c.name, c.source, _run(test())))
    return 0


# ---------------------------------------------------------------- sandbox


def cmd_sandbox_serve(ns: argparse.Namespace) -> int:
    from capit_tui.sandbox import serve

    if not 0 <= ns.port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    if ns.seed_keys < 0 or ns.latency_ms < 0:
        raise UsageError("--seed-keys and --latency-ms cannot be negative")
    serve(port=ns.port, seed_keys=ns.seed_keys, latency_ms=ns.latency_ms, traffic=ns.traffic)
    return 0


_VERB_HANDLERS: dict[tuple[str, str], Callable[[argparse.Namespace], int]] = {
    ("keys", "list"): cmd_keys_list,
    ("keys", "revoke"): cmd_keys_revoke,
    ("keys", "disable"): cmd_keys_disable,
    ("keys", "enable"): cmd_keys_enable,
    ("keys", "cap"): cmd_keys_cap,
    ("platforms", "list"): cmd_platforms_list,
    ("platforms", "add"): cmd_platforms_add,
    ("platforms", "remove"): cmd_platforms_remove,
    ("platforms", "test"): cmd_platforms_test,
    ("sandbox", "serve"): cmd_sandbox_serve,
    ("agents", "list"): lambda ns: cmd_agents(ns),
    ("backups", "list"): lambda ns: cmd_backups_list(ns),
    ("backups", "restore"): lambda ns: cmd_backups_restore(ns),
}
