"""A team file (`team.toml`): the roster of people, their caps and model tiers, read into a `Team`.

```toml
[team]
name = "platform"
platform = "openrouter"
workspace = "Team"                 # optional: an OpenRouter workspace by name (checked at plan time)
default = { cap = "25.00", reset = "weekly", tier = "standard", expires = "90d" }

[tiers.standard]
models = ["openai/gpt-5-mini", "anthropic/claude-haiku-4.5"]

[[members]]
name = "alice"
tier = "senior"
cap = "60.00"
```

Every mistake is one sentence naming the file and its line (`TeamFileError`): an unknown tier, a member
listed twice, a cap that does not parse, an empty model list, a name that cannot be a key's name. Read
with tomllib; the lines come from a scan of the text for each table's keys (tomllib keeps none)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from capit_tui.core.model import RESETS
from capit_tui.core.text import has_control
from capit_tui.errors import CapitError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")  # a member's name is also a file name: DIR/<name>.key
MAX_FILE = 4 * 1024 * 1024
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*=""")


class TeamFileError(CapitError):
    """The team file cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class Tier:
    name: str
    models: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Member:
    name: str
    cap: Decimal | None
    reset: str | None
    tier: str | None
    expires: str | None
    line: int


@dataclass
class Team:
    name: str
    platform: str
    path: Path
    workspace: str | None = None
    workspace_line: int = 0
    tiers: dict[str, Tier] = field(default_factory=dict)
    members: list[Member] = field(default_factory=list)

    def key_name(self, member: str) -> str:
        return f"{self.name}-{member}"

    def guardrail_name(self, tier: str) -> str:
        return f"{self.name}-{tier}"

    def member(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)

    def where(self, line: int) -> str:
        return f"{self.path.name} line {line}" if line else self.path.name


class _Lines:
    """Where each key of each table is written: (table path, key) -> line (1-based)."""

    def __init__(self, text: str):
        self.at: dict[tuple[tuple[Any, ...], str], int] = {}
        self.tables: dict[tuple[Any, ...], int] = {}
        table: tuple[Any, ...] = ()
        counts: dict[str, int] = {}
        for n, line in enumerate(text.splitlines(), start=1):
            h = _HEADER.match(line)
            if h:
                parts = tuple(x.strip().strip('"\'') for x in h.group(2).split("."))
                if h.group(1) == "[[":
                    i = counts.get(h.group(2), 0)
                    counts[h.group(2)] = i + 1
                    table = (*parts, i)
                else:
                    table = parts
                self.tables.setdefault(table, n)
                continue
            k = _KEY.match(line)
            if k:
                self.at.setdefault((table, k.group(1) or k.group(2) or k.group(3)), n)

    def of(self, table: tuple[Any, ...], key: str | None = None) -> int:
        if key is not None and (table, key) in self.at:
            return self.at[(table, key)]
        return self.tables.get(table, 0)


def load(path: Path | str) -> Team:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise TeamFileError(f"The team file {path} does not exist.") from None
    except OSError as exc:
        raise TeamFileError(f"The team file {path} cannot be read: {exc.strerror or exc}.") from None
    if len(raw) > MAX_FILE:
        raise TeamFileError(f"The team file {path} is larger than 4 MB; that is not a roster.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TeamFileError(f"The team file {path} is not UTF-8 text.") from None
    return parse(text, path)


def parse(text: str, path: Path | str = "team.toml") -> Team:
    path = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        why = re.sub(r"\s*\(at line.*\)$", "", str(exc))
        where = f"{path.name} line {m.group(1)}" if m else path.name
        raise TeamFileError(f"{where}: this is not valid TOML ({why[:1].lower() + why[1:]}).") from None
    lines = _Lines(text)

    def fail(line: int, sentence: str) -> TeamFileError:
        return TeamFileError(f"{path.name} line {line}: {sentence}" if line else f"{path.name}: {sentence}")

    head = data.get("team")
    if not isinstance(head, dict):
        raise fail(0, "there is no [team] table; it needs at least name and platform.")
    name = head.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise fail(lines.of(("team",), "name"), "the team needs a name of letters, digits, '.', '_' or '-' "
                   "(it starts every key's name), such as name = \"platform\".")
    platform = head.get("platform")
    if not isinstance(platform, str) or not NAME.fullmatch(platform.strip()):
        raise fail(lines.of(("team",), "platform"), "the team needs a platform, such as platform = \"openrouter\".")
    workspace = head.get("workspace")
    if workspace is not None and (not isinstance(workspace, str) or not workspace.strip() or has_control(workspace)):
        raise fail(lines.of(("team",), "workspace"), "workspace must be the name of a workspace, in quotes.")
    team = Team(name, platform.strip().lower(), path, workspace, lines.of(("team",), "workspace"))

    tiers = data.get("tiers", {})
    if not isinstance(tiers, dict):
        raise fail(lines.of((), "tiers"), "tiers must be tables, such as [tiers.standard].")
    for tname, body in tiers.items():
        line = lines.of(("tiers", tname), "models")
        if not NAME.fullmatch(tname):
            raise fail(lines.of(("tiers", tname)), f"the tier name '{tname[:40]}' must be letters, digits, '.', "
                       "'_' or '-'.")
        models = body.get("models") if isinstance(body, dict) else None
        if not isinstance(models, list) or not all(isinstance(m, str) and m.strip() and not has_control(m)
                                                   and len(m) <= 200 for m in models):
            raise fail(line or lines.of(("tiers", tname)), f"the tier '{tname}' needs models = [...], a list of "
                       "model slugs such as \"openai/gpt-5-mini\".")
        if not models:
            raise fail(line, f"the tier '{tname}' lists no model; a key in it could call none. Name at least one.")
        team.tiers[tname] = Tier(tname, tuple(dict.fromkeys(m.strip() for m in models)), line)

    default = head.get("default", {})
    if not isinstance(default, dict):
        raise fail(lines.of(("team",), "default"), "default must be a table, such as default = { cap = \"25.00\" }.")
    dline = lines.of(("team",), "default")
    dflt = _fields(default, dline, team, fail, "the default")

    members = data.get("members", [])
    if not isinstance(members, list):
        raise fail(lines.of((), "members"), "members must be written as [[members]] tables.")
    first: dict[str, int] = {}
    for i, body in enumerate(members):
        mline = lines.of(("members", i), "name") or lines.of(("members", i))
        mname = body.get("name") if isinstance(body, dict) else None
        if not isinstance(mname, str) or not NAME.fullmatch(mname):
            raise fail(mline, "each member needs a name of letters, digits, '.', '_' or '-' (it names the key "
                       "and the file its secret goes to), such as name = \"alice\".")
        if mname in first:
            raise fail(mline, f"the member '{mname}' is listed twice (first on line {first[mname]}).")
        first[mname] = mline
        own = _fields(body, mline, team, fail, f"the member '{mname}'", lambda k, i=i: lines.of(("members", i), k))
        got = {**dflt, **own}
        if got.get("cap") is None:
            raise fail(mline, f"the member '{mname}' has no cap: give cap = \"25.00\" there or in [team] default.")
        team.members.append(Member(mname, got.get("cap"), got.get("reset"), got.get("tier"), got.get("expires"),
                                   mline))
    return team


def _fields(body: dict[str, Any], line: int, team: Team, fail: Any, who: str,
            line_of: Any = None) -> dict[str, Any]:
    """cap, reset, tier and expires as written in `body` (only those present), checked."""
    from capit_tui.core.durations import parse_expiry
    from capit_tui.core.money import MoneyError, parse_cap

    def at(key: str) -> int:
        return (line_of(key) if line_of is not None else 0) or line

    out: dict[str, Any] = {}
    if "cap" in body:
        cap = body["cap"]
        if isinstance(cap, bool) or not isinstance(cap, (str, int, float)):
            raise fail(at("cap"), f"the cap of {who} must be an amount in dollars, such as cap = \"25.00\".")
        try:
            out["cap"] = parse_cap(str(cap))
        except MoneyError as exc:
            raise fail(at("cap"), f"the cap of {who} does not parse: {_low(str(exc))}") from None
    if "reset" in body:
        reset = body["reset"]
        if reset not in (*RESETS, "never"):
            raise fail(at("reset"), f"the reset of {who} must be one of daily, weekly, monthly or never.")
        out["reset"] = None if reset == "never" else reset
    if "tier" in body:
        tier = body["tier"]
        if not isinstance(tier, str) or tier not in team.tiers:
            known = ", ".join(sorted(team.tiers)) or "none"
            raise fail(at("tier"), f"{who} names the tier '{str(tier)[:40]}', which no [tiers.*] table defines "
                       f"(defined: {known}).")
        out["tier"] = tier
    if "expires" in body:
        expires = body["expires"]
        try:
            if not isinstance(expires, str):
                raise ValueError(f"'{expires}' is not text")
            if expires != "never":
                parse_expiry(expires)
        except ValueError as exc:
            raise fail(at("expires"), f"the expiry of {who} does not parse: {_low(str(exc))}") from None
        out["expires"] = None if expires == "never" else expires
    unknown = sorted(set(body) - {"cap", "reset", "tier", "expires", "name"})
    if unknown:
        raise fail(at(unknown[0]), f"{who} has a setting capit-tui does not know: '{unknown[0][:40]}' (known: cap, "
                   "reset, tier, expires).")
    return out


def _low(sentence: str) -> str:
    return sentence[:1].lower() + sentence[1:]
