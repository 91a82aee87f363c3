"""`capit-tui team plan FILE`, `team apply FILE [--yes] [--secrets-dir DIR] [--disable-removed] [--ignore-tiers]`
and `team status FILE [--json]`: the core reads the file, gathers the platform's facts, plans and applies
(core/team*.py); this module words the plan, asks once, and hands the new secrets over.

The plan and the status are data (stdout); questions and outcomes go to stderr. A new key's secret goes to
DIR/<member>.key, or, with no DIR and stdout a terminal, into one table printed once; never anywhere else.

Exit status: 0 done (or nothing to do), 1 a failure the message explains (a member's change failed: each
named), 2 a usage mistake."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from capit_tui.cli.common import load_settings, run_async
from capit_tui.cli.output import confirm_or_stop, err, info, interrupted_says, out
from capit_tui.core import team_file
from capit_tui.core.money import format_usd, percent
from capit_tui.core.team import MemberPlan, Plan, StatusRow, TeamRecord, cap_words, gather, plan, status
from capit_tui.core.team_file import Team
from capit_tui.core.text import clean_text, plural, text_table

PLAN_ORDER = ("create", "re-cap", "re-tier", "enable", "disable", "revoke", "forget")


def _team(ns: argparse.Namespace) -> Team:
    from capit_tui.core.demo import stand_in

    team = team_file.load(Path(ns.file))
    team.platform = stand_in(team.platform)
    return team


def _open(team: Team) -> Any:
    from capit_tui.core.keys import configured_platforms

    (c,) = configured_platforms(load_settings(), team.platform)
    return c.open()


async def _planned(team: Team, ns: argparse.Namespace) -> Plan:
    async with _open(team) as p:
        facts = await gather(team, p)
    return plan(team, facts, TeamRecord(team.name).load(), disable_removed=getattr(ns, "disable_removed", False),
                ignore_tiers=getattr(ns, "ignore_tiers", False))


def cmd_plan(ns: argparse.Namespace) -> int:
    team = _team(ns)
    the_plan = run_async(lambda: _planned(team, ns))
    out(plan_text(the_plan))
    return 0


def cmd_apply(ns: argparse.Namespace) -> int:
    from capit_tui.core.team_apply import apply, check_secrets_dir

    team = _team(ns)
    folder = Path(ns.secrets_dir) if ns.secrets_dir else None
    if folder is not None:
        check_secrets_dir(folder, team)  # said before anything is asked
    the_plan = run_async(lambda: _planned(team, ns))
    out(plan_text(the_plan))
    if not the_plan.changes:
        return 0
    creates = the_plan.count("create")
    to_screen = folder is None and sys.stdout.isatty()
    if creates and folder is None and not to_screen:
        err(f"{plural(creates, 'new key')} would be made and stdout is not a terminal, so their secrets have "
            "nowhere to go: give --secrets-dir DIR (a new or empty folder). Nothing was changed.")
        return 1
    confirm_or_stop(f"Apply this plan to {team.platform}?", ns.yes, "Nothing was changed.")

    def hand_over(rows: list[tuple[str, str, str]]) -> None:
        out(text_table([(m, n, s) for m, n, s in rows], ("MEMBER", "KEY", "SECRET (shown once)")))

    async def go() -> Any:
        async with _open(team) as p:
            return await apply(team, p, expect=the_plan.signature(), secrets_dir=folder,
                               hand_over=hand_over if to_screen else None, disable_removed=ns.disable_removed,
                               ignore_tiers=ns.ignore_tiers)

    with interrupted_says(lambda: "new keys whose secrets were not handed over are revoked at the next start of "
                                  "capit-tui; run `capit-tui team apply` again to finish."):
        done = run_async(go)
    for member, masked, where in done.created:
        info(f"{member}: {team.key_name(member)} {masked} -> {where}")
    for who, action, why in done.failed:
        err(f"{who}: {action} failed: {why}")
    parts = [f"{n} {a}" for a, n in sorted(done.done.items())]
    info(f"Applied to {team.platform}: {', '.join(parts) or 'nothing'} ({plural(done.requests, 'request')}).")
    if done.failed:
        info("Run `capit-tui team apply` again to finish what failed.")
        return 1
    return 0


def cmd_status(ns: argparse.Namespace) -> int:
    team = _team(ns)

    async def go() -> list[StatusRow]:
        async with _open(team) as p:
            facts = await gather(team, p)
        return status(team, facts, TeamRecord(team.name).load())

    rows = run_async(go)
    if ns.json:
        out(json.dumps({"team": team.name, "platform": team.platform, "members": [r.to_json() for r in rows]},
                       indent=2))
        return 0
    out(status_text(team, rows))
    return 0


# ---------------------------------------------------------------- wording


def plan_text(p: Plan) -> str:
    team = p.team
    lines = [f"Team {team.name} on {team.platform}: {plural(len(team.members), 'member')}, "
             f"{plural(len(team.tiers), 'tier')} ({team.path.name})."]
    lines += [f"  {n}" for n in p.notes]
    for t in p.tiers:
        if t.action == "nothing":
            continue
        models = clean_text(", ".join(t.models), 200)
        what = {"create": f"make guardrail {t.name}: {models}",
                "update": f"set guardrail {t.name}'s models to: {models}",
                "delete": f"delete guardrail {t.name} (the tier left the file)"}[t.action]
        lines.append(f"  tier {t.tier}: {what}")
    for m in sorted(p.members, key=lambda m: (_rank(m), m.member)):
        lines.append(f"  {m.member}: {m.action}{_detail(m, team)}")
        lines += [f"    drift: {d}" for d in m.drift]
    counts = [f"{p.count(a)} to {a}" for a in PLAN_ORDER if p.count(a)]
    tiers = sum(1 for t in p.tiers if t.action != "nothing")
    if tiers:
        counts.append(f"{plural(tiers, 'tier')} to change")
    lines.append(f"Plan: {', '.join(counts)}." if counts else "Nothing to change: the platform matches the file.")
    return "\n".join(lines)


def _rank(m: MemberPlan) -> int:
    return next((i for i, a in enumerate(PLAN_ORDER) if a in m.actions), len(PLAN_ORDER))


def _detail(m: MemberPlan, team: Team) -> str:
    w, k = m.want, m.key
    if "create" in m.actions and w is not None:
        tier = f", tier {w.tier}" if w.tier else ""
        exp = f", expires in {w.expires}" if w.expires else ""
        return f" {team.key_name(m.member)} {cap_words(w.cap, w.reset)}{tier}{exp}"
    bits = []
    if "re-cap" in m.actions and w is not None and k is not None:
        bits.append(f"{cap_words(k.limit, k.limit_reset)} -> {cap_words(w.cap, w.reset)}")
    if "re-tier" in m.actions and w is not None:
        bits.append(f"tier {m.tier_now or 'none'} -> {w.tier or 'none'}")
    if {"revoke", "disable", "forget"} & set(m.actions) and m.recorded is not None:
        bits.append(f"{m.recorded.key_name} (no longer in the file)")
    return f" ({'; '.join(bits)})" if bits else ""


def status_text(team: Team, rows: list[StatusRow]) -> str:
    table = []
    for r in rows:
        k = r.key
        pct = percent(k.spent, k.limit) if k is not None else None
        table.append((r.member, k.name if k is not None else "(none)", r.tier_now or r.tier or "-",
                      format_usd(k.spent) if k is not None else "-", format_usd(r.cap), f"{pct}%" if pct is not None
                      else "-", ("disabled " if k is not None and k.disabled else "") + ("pending: " + r.action
                      if r.action != "nothing" else ""), "; ".join(r.drift)))
    head = f"Team {team.name} on {team.platform}: {plural(len(team.members), 'member')}."
    return head + "\n" + text_table(table, ("MEMBER", "KEY", "TIER", "SPEND", "CAP", "%", "STATE", "DRIFT"),
                                    right=(3, 4, 5))
