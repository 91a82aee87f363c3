"""Teams: a roster file (core/team_file.py) made into one capped key per member, with model tiers.

- The record (`TeamRecord`): `<data dir>/teams/<team>.json` (0700 folder, 0600 file), written under the
  lock: per member the key's id and name, the cap, reset and tier last applied, and whether capit-tui
  disabled it as removed; per tier the guardrail's id. No secret, ever.
- The facts (`gather`): the team platform's keys, its workspaces, the team's guardrails (named
  `<team>-<tier>`) and which key holds which.
- The plan (`plan`): per member one of create / re-cap / re-tier / disable / enable / revoke / forget /
  nothing (re-cap and re-tier can come together), per tier create / update / delete, and the drift: what
  changed on the platform since the record (a key re-capped or re-tiered by hand, a key gone, a key found
  by its name that the record does not hold). Each key is named `<team>-<member>`.
- Tiers are model allowlists the platform enforces: on OpenRouter a guardrail per tier; on one-api/new-api
  (a platform whose keys hold their own model list, `Platform.key_models`) each member's token's own model
  list, set at create and corrected by a re-tier when it differs from the tier's. Where the platform has
  neither, the plan refuses, naming each tier, unless `ignore_tiers`.

core/team_apply.py carries a plan out. No printing here."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capit_tui.core.model import CappedKey
from capit_tui.core.money import format_usd
from capit_tui.core.team_file import Member, Team, TeamFileError
from capit_tui.errors import CapitError

if TYPE_CHECKING:
    from capit_tui.platforms.openrouter_guardrails import Guardrail

ACTIVE, DISABLED = "active", "disabled"
MAX_RECORD = 16 * 1024 * 1024


class TeamError(CapitError):
    """A team cannot be planned or applied; the message says why."""


# ---------------------------------------------------------------- the record


@dataclass
class Recorded:
    key_id: str
    key_name: str
    cap: str | None = None
    reset: str | None = None
    tier: str | None = None
    state: str = ACTIVE  # disabled: capit-tui disabled it when the member left the file (--disable-removed)


@dataclass
class RecordData:
    platform: str = ""
    members: dict[str, Recorded] = field(default_factory=dict)
    tiers: dict[str, str] = field(default_factory=dict)  # tier -> guardrail id capit-tui made


class TeamRecord:
    def __init__(self, team: str, root: Path | None = None):
        if root is None:
            from capit_tui.core.paths import data_dir

            root = data_dir() / "teams"
        self.path = Path(root) / f"{team}.json"

    def load(self) -> RecordData:
        from capit_tui.core.fsutil import read_regular

        try:
            raw = read_regular(self.path, follow=False, limit=MAX_RECORD)
        except OSError as exc:
            raise TeamError(f"The team record {self.path} cannot be read: {exc}.") from None
        if raw is None:
            return RecordData()
        try:
            body = json.loads(raw.decode("utf-8"))
            return RecordData(str(body.get("platform", "")),
                              {m: Recorded(**r) for m, r in body["members"].items()},
                              {str(t): str(g) for t, g in body.get("tiers", {}).items()})
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            raise TeamError(f"The team record {self.path} is damaged; move it aside and run `capit-tui team plan` "
                            "again (keys named after the team are then found by their names).") from None

    def save(self, data: RecordData) -> None:
        from capit_tui.core import lock
        from capit_tui.core.fsutil import atomic_write, ensure_private_dir

        body = {"version": 1, "platform": data.platform,
                "members": {m: asdict(r) for m, r in sorted(data.members.items())}, "tiers": data.tiers}
        with lock.held("recording the team's keys"):
            ensure_private_dir(self.path.parent)
            atomic_write(self.path, json.dumps(body, indent=1).encode("utf-8"), mode=0o600)


def all_records(root: Path | None = None) -> dict[tuple[str, str], tuple[str, str]]:
    """(platform, key id) -> (team, member), over every team recorded in the data dir (for report --by member)."""
    if root is None:
        from capit_tui.core.paths import data_dir

        root = data_dir() / "teams"
    out: dict[tuple[str, str], tuple[str, str]] = {}
    try:
        files = sorted(Path(root).glob("*.json"))
    except OSError:
        return out
    for f in files:
        try:
            data = TeamRecord(f.stem, Path(root)).load()
        except TeamError:
            continue
        for member, r in data.members.items():
            out[(data.platform, r.key_id)] = (f.stem, member)
    return out


# ---------------------------------------------------------------- the facts


@dataclass
class Facts:
    keys: list[CappedKey]
    guardrails: list[Guardrail] = field(default_factory=list)
    assigned: dict[str, str] = field(default_factory=dict)  # key id -> id of the team guardrail it holds
    workspaces: dict[str, str] = field(default_factory=dict)  # name (and slug) -> id
    tiers_supported: bool = True
    key_models: bool = False  # a tier is each key's own model list (one-api/new-api), not a guardrail
    reset_periods: tuple[str, ...] = ("daily", "weekly", "monthly")
    requests: int = 0


async def gather(team: Team, p: Any, keys: list[CappedKey] | None = None) -> Facts:
    """What the platform holds now for this team, over an open adapter (`keys`: its keys, listed already)."""
    import asyncio

    from capit_tui.platforms import openrouter_guardrails as gr

    sent = p.requests_sent

    async def listed() -> list[CappedKey]:
        return list(keys) if keys is not None else await p.list_keys()

    if p.kind != "openrouter":
        own = bool(getattr(type(p), "key_models", False))
        return Facts(await listed(), tiers_supported=own, key_models=own, reset_periods=type(p).reset_periods,
                     requests=p.requests_sent - sent)
    got, workspaces = await asyncio.gather(listed(), gr.workspace_names(p))
    facts = Facts(got, workspaces=workspaces, reset_periods=type(p).reset_periods)
    ws = workspaces.get(team.workspace) if team.workspace else None
    try:
        facts.guardrails = await gr.list_guardrails(p, ws)
    except gr.GuardrailsMissing:
        facts.tiers_supported = False
    else:
        prefix = f"{team.name}-"
        mine = [g for g in facts.guardrails if g.name.startswith(prefix)]
        held = await asyncio.gather(*(gr.assigned_keys(p, g.id) for g in mine))
        for g, hashes in zip(mine, held, strict=True):
            for h in hashes:
                facts.assigned[h] = g.id
    facts.requests = p.requests_sent - sent
    return facts


# ---------------------------------------------------------------- the plan


@dataclass
class TierPlan:
    tier: str
    action: str  # create | update | delete | nothing
    name: str  # the guardrail's name
    models: tuple[str, ...] = ()
    guardrail_id: str | None = None
    was: tuple[str, ...] = ()


@dataclass
class MemberPlan:
    member: str
    actions: list[str]  # create, re-cap, re-tier, enable, disable, revoke, forget; [] = nothing
    key: CappedKey | None = None
    want: Member | None = None
    recorded: Recorded | None = None
    tier_now: str | None = None  # the team tier its key holds now (None: none of the team's)
    drift: list[str] = field(default_factory=list)

    @property
    def action(self) -> str:
        return ", ".join(self.actions) or "nothing"


@dataclass
class Plan:
    team: Team
    platform: str
    members: list[MemberPlan]
    tiers: list[TierPlan]
    workspace_id: str | None = None
    tiers_enforced: bool = True
    tiers_per_key: bool = False  # enforced as each key's own model list (see the module's doc)
    notes: list[str] = field(default_factory=list)  # said before the actions (tiers ignored, ...)

    @property
    def changes(self) -> bool:
        return any(m.actions for m in self.members) or any(t.action != "nothing" for t in self.tiers)

    def count(self, action: str) -> int:
        return sum(1 for m in self.members if action in m.actions)

    def signature(self) -> list[tuple[str, ...]]:
        """What the plan would do, to tell whether a fresh plan is the one shown."""
        return ([("tier", t.tier, t.action, *t.models) for t in self.tiers]
                + [("member", m.member, *m.actions) for m in self.members])

    def models_for(self, tier: str | None) -> tuple[str, ...] | None:
        return tier_models(self.team, tier)


def tier_models(team: Team, tier: str | None) -> tuple[str, ...] | None:
    """The models a key in this tier may call; None (no tier): any model."""
    return team.tiers[tier].models if tier else None


def _same_models(a: tuple[str, ...] | None, b: tuple[str, ...] | None) -> bool:
    return (a is None) == (b is None) and set(a or ()) == set(b or ())


def _key_tier(team: Team, key: CappedKey) -> str | None:
    """The team tier whose models a key's own model list is (None: none of them)."""
    if key.allowed_models is None:
        return None
    return next((t.name for t in team.tiers.values() if _same_models(t.models, key.allowed_models)), None)


def plan(team: Team, facts: Facts, record: RecordData, *, disable_removed: bool = False,
         ignore_tiers: bool = False) -> Plan:
    """What `apply` would change so the platform matches the file (see the module's doc)."""
    workspace_id = _workspace(team, facts)
    used = {m.tier for m in team.members if m.tier}
    enforced = bool(team.tiers) and facts.tiers_supported and not ignore_tiers
    notes: list[str] = []
    if team.tiers and not facts.tiers_supported:
        if not ignore_tiers:
            raise TeamError("\n".join(
                f"{team.where(t.line)}: the tier '{t.name}' cannot be enforced: {team.platform} cannot limit a "
                "key's models, so its keys would call any model. Pass --ignore-tiers to issue them anyway."
                for t in team.tiers.values() if t.name in used) or
                f"{team.path.name}: {team.platform} cannot limit a key's models; pass --ignore-tiers.")
        notes.append(f"Tiers are ignored: {team.platform} cannot limit a key's models, so every key can call "
                     "any model.")
    elif team.tiers and ignore_tiers:
        notes.append("Tiers are ignored (--ignore-tiers): no key's models are changed.")
    _check_resets(team, facts)

    by_name = {g.name: g for g in facts.guardrails}
    tiers: list[TierPlan] = []
    tier_gid: dict[str, str | None] = {}
    per_key = enforced and facts.key_models
    if enforced and not per_key:
        for t in team.tiers.values():
            g = by_name.get(team.guardrail_name(t.name))
            if g is None:
                tiers.append(TierPlan(t.name, "create", team.guardrail_name(t.name), t.models))
                tier_gid[t.name] = None
            else:
                tier_gid[t.name] = g.id
                same = sorted(g.allowed_models) == sorted(t.models)
                tiers.append(TierPlan(t.name, "nothing" if same else "update", g.name, t.models, g.id,
                                      g.allowed_models))
        for tname, gid in sorted(record.tiers.items()):
            if tname not in team.tiers and any(g.id == gid for g in facts.guardrails):
                tiers.append(TierPlan(tname, "delete", team.guardrail_name(tname), guardrail_id=gid))
    gid_tier = {gid: t for t, gid in tier_gid.items() if gid}
    gid_tier.update({g.id: g.name.removeprefix(f"{team.name}-") for g in facts.guardrails
                     if g.id in facts.assigned.values() and g.id not in gid_tier})

    by_id = {k.id: k for k in facts.keys}
    recorded_ids = {r.key_id for r in record.members.values()}
    named: dict[str, list[CappedKey]] = {}
    for k in facts.keys:
        named.setdefault(k.name, []).append(k)
    members: list[MemberPlan] = []
    for m in team.members:
        rec = record.members.get(m.name)
        mp = MemberPlan(m.name, [], want=m, recorded=rec)
        key = by_id.get(rec.key_id) if rec else None
        if rec and key is None:
            mp.drift.append(f"its key {rec.key_name} is gone from {team.platform}")
        if key is None:
            found = [k for k in named.get(team.key_name(m.name), []) if k.id not in recorded_ids]
            if found:
                key = max(found, key=lambda k: (not k.disabled, k.created_at.isoformat() if k.created_at else ""))
                mp.drift.append(f"its key {key.name} was found by its name; the record did not hold it")
        mp.key = key
        if key is None:
            mp.actions.append("create")
            members.append(mp)
            continue
        mp.tier_now = _key_tier(team, key) if facts.key_models else gid_tier.get(facts.assigned.get(key.id, ""))
        if key.limit != m.cap or (key.limit_reset or None) != m.reset:
            mp.actions.append("re-cap")
            if rec is not None and rec.key_id == key.id and (
                    _dec(rec.cap) != key.limit or (rec.reset or None) != (key.limit_reset or None)):
                mp.drift.append(f"re-capped by hand to {_cap_words(key.limit, key.limit_reset)} (applied: "
                                f"{_cap_words(_dec(rec.cap), rec.reset)})")
        if enforced:
            if per_key:
                off = not _same_models(key.allowed_models, tier_models(team, m.tier))
            else:
                want_gid = tier_gid.get(m.tier) if m.tier else None
                have_gid = facts.assigned.get(key.id)
                off = bool((m.tier and (want_gid is None or have_gid != want_gid)) or (not m.tier and have_gid))
            if off:
                mp.actions.append("re-tier")
                if rec is not None and rec.key_id == key.id and rec.tier == m.tier and m.tier:
                    mp.drift.append(_tier_drift(m.tier, key, mp.tier_now, per_key))
        if key.disabled:
            if rec is not None and rec.state == DISABLED:
                mp.actions.append("enable")
            else:
                mp.drift.append("disabled on the platform (by hand or a panic); left as it is")
        members.append(mp)

    listed = {m.name for m in team.members}
    for name, rec in sorted(record.members.items()):
        if name in listed:
            continue
        key = by_id.get(rec.key_id)
        mp = MemberPlan(name, [], key=key, recorded=rec)
        if key is None:
            mp.actions.append("forget")
            mp.drift.append(f"removed from the file, and its key {rec.key_name} is gone already")
        elif disable_removed:
            if not key.disabled:
                mp.actions.append("disable")
        else:
            mp.actions.append("revoke")
        members.append(mp)
    return Plan(team, team.platform, members, tiers, workspace_id, enforced, per_key, notes)


def _tier_drift(tier: str, key: CappedKey, tier_now: str | None, per_key: bool) -> str:
    if not per_key:
        return f"its tier was changed by hand (it holds {tier_now or 'no team tier'})"
    allows = "any model" if key.allowed_models is None else ", ".join(key.allowed_models) or "no model"
    return f"its models differ from the tier {tier}'s (it allows {allows})"


def _workspace(team: Team, facts: Facts) -> str | None:
    if not team.workspace:
        return None
    found = facts.workspaces.get(team.workspace)
    if found is None:
        known = ", ".join(sorted(facts.workspaces)[:10]) or "none"
        raise TeamFileError(f"{team.where(team.workspace_line)}: the workspace '{team.workspace}' does not exist on "
                            f"{team.platform} (it has: {known}).")
    return found


def _check_resets(team: Team, facts: Facts) -> None:
    for m in team.members:
        if m.reset is not None and m.reset not in facts.reset_periods:
            offers = ", ".join(facts.reset_periods) or "no reset at all (caps are lifetime totals)"
            raise TeamError(f"{team.where(m.line)}: the member '{m.name}' has a {m.reset} reset, which "
                            f"{team.platform} cannot do; it offers {offers}.")


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _cap_words(limit: Decimal | None, reset: str | None) -> str:
    return f"{format_usd(limit)} {reset or 'never reset'}" if limit is not None else "no cap"


def cap_words(limit: Decimal | None, reset: str | None) -> str:
    return _cap_words(limit, reset)


# ---------------------------------------------------------------- status


@dataclass
class StatusRow:
    member: str
    key: CappedKey | None
    tier: str | None  # the tier in the file (a removed member: the one recorded)
    tier_now: str | None  # the team tier its key holds on the platform
    in_file: bool
    action: str  # what `apply` would do
    drift: list[str]

    @property
    def spent(self) -> Decimal | None:
        return self.key.spent if self.key is not None else None

    @property
    def cap(self) -> Decimal | None:
        return self.key.limit if self.key is not None else None

    def to_json(self) -> dict[str, Any]:
        from capit_tui.core.money import percent

        k = self.key
        return {"member": self.member, "in_file": self.in_file, "tier": self.tier, "tier_now": self.tier_now,
                "key": None if k is None else {"id": k.id, "name": k.name, "disabled": k.disabled},
                "spend": None if k is None else str(k.spent), "cap": None if k is None or k.limit is None
                else str(k.limit), "reset": None if k is None else k.limit_reset,
                "percent": None if k is None else _num(percent(k.spent, k.limit)),
                "pending": self.action, "drift": self.drift}


def status(team: Team, facts: Facts, record: RecordData) -> list[StatusRow]:
    """Each member (and each removed member still recorded): the key, tier, spend and cap, what apply would do,
    and the drift. Tiers a platform cannot enforce are ignored here (status only reads)."""
    the_plan = plan(team, facts, record, ignore_tiers=not facts.tiers_supported)
    rows = []
    for m in the_plan.members:
        tier = m.want.tier if m.want is not None else (m.recorded.tier if m.recorded else None)
        rows.append(StatusRow(m.member, m.key, tier, m.tier_now, m.want is not None, m.action, list(m.drift)))
    return rows


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
