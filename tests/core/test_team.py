"""Teams in the core: team.toml read (each mistake one sentence with its line), planned against the sandbox
over real HTTP (every call checked against the vendored OpenRouter subset), applied and re-applied (idempotent),
with drift, removed members, tiers as guardrails the sandbox enforces, secrets written once to a private folder."""

from __future__ import annotations

import asyncio
import os
import stat
import textwrap
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from contract_transport import ContractTransport

from capit_tui.core import team_file
from capit_tui.core.team import TeamError, TeamRecord, gather, plan
from capit_tui.core.team_apply import apply
from capit_tui.core.team_file import TeamFileError
from capit_tui.platforms.openrouter import OpenRouterPlatform
from capit_tui.sandbox import Sandbox

TEAM = """\
[team]
name = "platform"
platform = "openrouter"
default = { cap = "25.00", reset = "weekly", tier = "standard", expires = "90d" }

[tiers.standard]
models = ["openai/gpt-5-mini", "anthropic/claude-haiku-4.5"]
[tiers.senior]
models = ["anthropic/claude-sonnet-4.5", "openai/gpt-5.1-codex"]

[[members]]
name = "alice"
tier = "senior"
cap = "60.00"
[[members]]
name = "bob"
[[members]]
name = "carol"
reset = "monthly"
"""


@pytest.fixture
def sb():
    with Sandbox() as s:
        yield s


def write(tmp_path: Path, text: str, name: str = "team.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def platform(sb: Sandbox, transport: ContractTransport | None = None) -> OpenRouterPlatform:
    return OpenRouterPlatform("openrouter", sb.base_url, sb.management_key, transport=transport or ContractTransport())


def run_plan(sb: Sandbox, path: Path, **kw):
    team = team_file.load(path)

    async def go():
        async with platform(sb) as p:
            facts = await gather(team, p)
            return plan(team, facts, TeamRecord(team.name).load(), **kw)

    return asyncio.run(go())


def run_apply(sb: Sandbox, path: Path, secrets: Path | None, transport: ContractTransport | None = None, **kw):
    team = team_file.load(path)

    async def go():
        async with platform(sb, transport) as p:
            return await apply(team, p, secrets_dir=secrets, **kw)

    return asyncio.run(go())


def actions(the_plan) -> dict[str, str]:
    return {m.member: m.action for m in the_plan.members}


def chat(sb: Sandbox, secret: str, model: str) -> httpx.Response:
    return httpx.post(sb.base_url + "/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}]}, timeout=5.0,
                      trust_env=False)


# ---------------------------------------------------------------- the file


@pytest.mark.parametrize("text, sentence", [
    (TEAM.replace('tier = "senior"', 'tier = "staff"'),
     "team.toml line 13: the member 'alice' names the tier 'staff', which no [tiers.*] table defines "
     "(defined: senior, standard)."),
    (TEAM + '[[members]]\nname = "bob"\n',
     "team.toml line 21: the member 'bob' is listed twice (first on line 16)."),
    (TEAM.replace('cap = "60.00"', 'cap = "60.005"'),
     "team.toml line 14: the cap of the member 'alice' does not parse: the cap '60.005' has more than two decimals"),
    (TEAM.replace('cap = "60.00"', 'cap = "lots"'),
     "team.toml line 14: the cap of the member 'alice' does not parse: the cap 'lots' is not an amount in dollars"),
    (TEAM.replace('models = ["anthropic/claude-sonnet-4.5", "openai/gpt-5.1-codex"]', "models = []"),
     "team.toml line 9: the tier 'senior' lists no model; a key in it could call none. Name at least one."),
    (TEAM.replace('reset = "monthly"', 'reset = "hourly"'),
     "team.toml line 19: the reset of the member 'carol' must be one of daily, weekly, monthly or never."),
    (TEAM.replace('name = "bob"', 'name = "../bob"'),
     "team.toml line 16: each member needs a name of letters, digits"),
    (TEAM.replace('name = "carol"', 'name = "carol"\ncolour = "red"'),
     "team.toml line 19: the member 'carol' has a setting capit-tui does not know: 'colour'"),
    (TEAM.replace('[[members]]\nname = "bob"', '[[members]\nname = "bob"'),
     "team.toml line 15: this is not valid TOML"),
])
def test_each_mistake_in_the_file_is_one_sentence_with_its_line(tmp_path, text, sentence):
    with pytest.raises(TeamFileError) as caught:
        team_file.load(write(tmp_path, text))
    assert str(caught.value).startswith(sentence), str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_file_reads_defaults_and_members(tmp_path):
    team = team_file.load(write(tmp_path, TEAM))
    assert team.name == "platform" and team.platform == "openrouter"
    assert [(m.name, m.cap, m.reset, m.tier, m.expires) for m in team.members] == [
        ("alice", Decimal("60.00"), "weekly", "senior", "90d"),
        ("bob", Decimal("25.00"), "weekly", "standard", "90d"),
        ("carol", Decimal("25.00"), "monthly", "standard", "90d"),
    ]
    assert team.key_name("bob") == "platform-bob" and team.guardrail_name("senior") == "platform-senior"


def test_an_unknown_workspace_is_refused_at_plan_time_with_its_line(sb, tmp_path):
    path = write(tmp_path, TEAM.replace('platform = "openrouter"', 'platform = "openrouter"\nworkspace = "Nope"'))
    with pytest.raises(TeamFileError) as caught:
        run_plan(sb, path)
    assert str(caught.value).startswith("team.toml line 4: the workspace 'Nope' does not exist on openrouter")


# ---------------------------------------------------------------- plan and apply


def test_create_then_a_second_apply_changes_nothing(sb, tmp_path):
    path = write(tmp_path, TEAM)
    first = run_plan(sb, path)
    assert actions(first) == {"alice": "create", "bob": "create", "carol": "create"}
    assert [(t.tier, t.action) for t in first.tiers] == [("standard", "create"), ("senior", "create")]

    secrets = tmp_path / "secrets"
    transport = ContractTransport()
    done = run_apply(sb, path, secrets, transport)
    assert done.complete, done.failed
    assert done.done == {"create tier": 2, "create": 3}
    by_name = {k["name"]: k for k in sb.keys.values()}
    assert by_name["platform-alice"]["limit"] == 60 and by_name["platform-alice"]["limit_reset"] == "weekly"
    assert by_name["platform-carol"]["limit_reset"] == "monthly" and by_name["platform-bob"]["expires_at"]
    # every call, the guardrail ones too, was checked against the vendored OpenRouter subset
    assert {("POST", "/api/v1/guardrails"), ("GET", "/api/v1/guardrails")} <= set(transport.sent)
    assert any(m == "POST" and p.endswith("/assignments/keys") for m, p in transport.sent)

    # secrets: one 0600 file per new key in a 0700 folder; the record holds none
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert sorted(p.name for p in secrets.iterdir()) == ["alice.key", "bob.key", "carol.key"]
    alice = (secrets / "alice.key").read_text().strip()
    assert stat.S_IMODE((secrets / "alice.key").stat().st_mode) == 0o600
    record = TeamRecord("platform").path
    assert stat.S_IMODE(record.stat().st_mode) == 0o600 and alice not in record.read_text()
    assert by_name["platform-alice"]["hash"] in record.read_text()

    # tiers enforced by the platform: alice is senior, bob standard
    assert chat(sb, alice, "anthropic/claude-sonnet-4.5").status_code == 200
    refused = chat(sb, alice, "openai/gpt-5-mini")
    assert refused.status_code == 403 and "not allowed by guardrail 'platform-senior'" in refused.text
    bob = (secrets / "bob.key").read_text().strip()
    assert chat(sb, bob, "openai/gpt-5-mini").status_code == 200
    assert chat(sb, bob, "anthropic/claude-sonnet-4.5").status_code == 403

    again = run_plan(sb, path)
    assert not again.changes and actions(again) == {"alice": "nothing", "bob": "nothing", "carol": "nothing"}
    before = dict(sb.keys)
    transport = ContractTransport()
    second = run_apply(sb, path, None, transport)
    assert second.complete and second.done == {} and dict(sb.keys).keys() == before.keys()
    assert any(m == "GET" and p.endswith("/assignments/keys") for m, p in transport.sent)
    assert all(m == "GET" for m, _ in transport.sent)  # nothing to change: only reads


def test_recap_retier_remove_and_drift(sb, tmp_path):
    path = write(tmp_path, TEAM)
    assert run_apply(sb, path, tmp_path / "s1").complete
    hashes = {k["name"]: h for h, k in sb.keys.items()}
    # by hand in the dashboard: bob re-capped, carol moved to the senior guardrail
    asyncio.run(_by_hand(sb, hashes))
    # in the file: alice's cap changes, carol becomes senior... no: carol stays standard, bob leaves
    changed = TEAM.replace('cap = "60.00"', 'cap = "80.00"').replace('[[members]]\nname = "bob"\n', "")
    path = write(tmp_path, changed)
    p = run_plan(sb, path)
    got = {m.member: (m.action, m.drift) for m in p.members}
    assert got["alice"] == ("re-cap", [])
    assert got["carol"][0] == "re-tier"
    assert got["carol"][1] == ["its tier was changed by hand (it holds senior)"]
    assert got["bob"] == ("revoke", [])

    done = run_apply(sb, path, None)
    assert done.complete, done.failed
    assert done.done == {"re-cap": 1, "re-tier": 1, "revoke": 1}
    names = {k["name"]: k for k in sb.keys.values()}
    assert "platform-bob" not in names and names["platform-alice"]["limit"] == 80
    assert not run_plan(sb, path).changes

    # bob back in the file, and a hand re-cap of alice: the plan says create bob and marks alice's drift
    sb_key = hashes["platform-alice"]
    asyncio.run(_recap(sb, sb_key, 10))
    p = run_plan(sb, write(tmp_path, TEAM.replace('cap = "60.00"', 'cap = "80.00"')))
    got = {m.member: (m.action, m.drift) for m in p.members}
    assert got["bob"] == ("create", [])
    assert got["alice"] == ("re-cap", ["re-capped by hand to $10.00 weekly (applied: $80.00 weekly)"])


async def _by_hand(sb: Sandbox, hashes: dict[str, str]) -> None:
    from capit_tui.platforms import openrouter_guardrails as gr

    async with platform(sb) as p:
        await p.update_key(hashes["platform-bob"], limit=Decimal("99"))
        senior = next(g for g in await gr.list_guardrails(p) if g.name == "platform-senior")
        await gr.assign_keys(p, senior.id, [hashes["platform-carol"]])


async def _recap(sb: Sandbox, key_hash: str, amount: int) -> None:
    async with platform(sb) as p:
        await p.update_key(key_hash, limit=Decimal(amount))


def test_disable_removed_and_a_missing_key_is_created_again(sb, tmp_path):
    path = write(tmp_path, TEAM)
    assert run_apply(sb, path, tmp_path / "s1").complete
    hashes = {k["name"]: h for h, k in sb.keys.items()}
    asyncio.run(_delete(sb, hashes["platform-carol"]))
    path2 = write(tmp_path, TEAM.replace('[[members]]\nname = "bob"\n', ""))
    p = run_plan(sb, path2, disable_removed=True)
    got = {m.member: (m.action, m.drift) for m in p.members}
    assert got["bob"] == ("disable", [])
    assert got["carol"] == ("create", ["its key platform-carol is gone from openrouter"])
    done = run_apply(sb, path2, tmp_path / "s2", disable_removed=True)
    assert done.complete and done.done.get("disable") == 1 and done.done.get("create") == 1
    assert sb.keys[hashes["platform-bob"]]["disabled"] is True
    assert not run_plan(sb, path2, disable_removed=True).changes
    # bob back: the key capit-tui disabled is enabled again, not made anew
    path = write(tmp_path, TEAM)
    assert actions(run_plan(sb, path))["bob"] == "enable"
    assert run_apply(sb, path, None).done == {"enable": 1}
    assert sb.keys[hashes["platform-bob"]]["disabled"] is False


async def _delete(sb: Sandbox, key_hash: str) -> None:
    async with platform(sb) as p:
        await p.delete_key(key_hash)


def test_the_secrets_folder_must_be_new_or_hold_only_member_keys(sb, tmp_path):
    path = write(tmp_path, TEAM)
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    with pytest.raises(TeamError) as caught:
        run_apply(sb, path, folder)
    assert "already holds other files (notes.txt)" in str(caught.value)
    assert len(sb.keys) == 0


def test_no_place_for_secrets_refuses_before_anything_is_made(sb, tmp_path):
    with pytest.raises(TeamError) as caught:
        run_apply(sb, write(tmp_path, TEAM), None)
    assert "nowhere to hand their secrets over" in str(caught.value)
    assert len(sb.keys) == 0


def test_a_handed_over_table_gets_each_secret_once(sb, tmp_path):
    seen: list[list[tuple[str, str, str]]] = []
    done = run_apply(sb, write(tmp_path, TEAM), None, hand_over=seen.append)
    assert done.complete and len(seen) == 1
    assert [(m, n) for m, n, _ in seen[0]] == [("alice", "platform-alice"), ("bob", "platform-bob"),
                                               ("carol", "platform-carol")]
    assert all(s.startswith("sk-or-v1-") for _, _, s in seen[0])


def test_a_platform_without_guardrails_refuses_tiers_unless_ignored(tmp_path):
    from capit_tui.core.team import Facts

    team = team_file.load(write(tmp_path, TEAM))
    facts = Facts([], tiers_supported=False)
    with pytest.raises(TeamError) as caught:
        plan(team, facts, TeamRecord("platform").load())
    lines = str(caught.value).splitlines()
    assert lines == [
        "team.toml line 7: the tier 'standard' cannot be enforced: openrouter cannot limit a key's models, so its "
        "keys would call any model. Pass --ignore-tiers to issue them anyway.",
        "team.toml line 9: the tier 'senior' cannot be enforced: openrouter cannot limit a key's models, so its "
        "keys would call any model. Pass --ignore-tiers to issue them anyway.",
    ]
    p = plan(team, facts, TeamRecord("platform").load(), ignore_tiers=True)
    assert p.tiers == [] and actions(p) == {"alice": "create", "bob": "create", "carol": "create"}
    assert p.notes and "cannot limit a key's models" in p.notes[0]


def test_the_record_is_private(sb, tmp_path):
    assert run_apply(sb, write(tmp_path, TEAM), tmp_path / "s").complete
    folder = TeamRecord("platform").path.parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert os.path.basename(TeamRecord("platform").path) == "platform.json"


def test_the_next_start_never_revokes_a_key_the_record_holds(sb, tmp_path, monkeypatch):
    """An interrupted apply's create that got no answer is looked for by name; a key of that name made by a later
    apply and handed over (in the record) is not it, and stays."""
    from datetime import datetime, timedelta, timezone

    from capit_tui.core.journal import Journal, KeyNote, iso
    from capit_tui.core.recovery import recover

    journal = Journal()
    entry = journal.new("team", "openrouter", by="platform")
    entry.keys = [KeyNote("platform-bob", "bob", asked_at=iso(datetime.now(timezone.utc) - timedelta(minutes=1)))]
    journal.save(entry)  # left by a killed apply whose create of bob's key got no answer
    done = run_apply(sb, write(tmp_path, TEAM), tmp_path / "s")  # a later apply (run before the repair here)
    assert done.complete and len(sb.keys) == 3
    monkeypatch.setenv("CAPIT_OPENROUTER_BASE_URL", sb.base_url)
    monkeypatch.setenv("CAPIT_OPENROUTER_MANAGEMENT_KEY", sb.management_key)
    said = asyncio.run(recover())
    assert said == ["The apply of the team platform did not finish. Run `capit-tui team apply` on its file again to "
                    "finish it."]
    assert sorted(k["name"] for k in sb.keys.values()) == ["platform-alice", "platform-bob", "platform-carol"]
    assert journal.pending() == []


def test_every_guardrail_call_matches_the_vendored_contract(sb, tmp_path):
    """Create, list, list assignments, assign (apply), then set models, unassign and delete (a tier's models
    changed, a member out of every tier, a tier gone): each request and reply checked against the subset."""
    transport = ContractTransport()
    assert run_apply(sb, write(tmp_path, TEAM), tmp_path / "s", transport).complete
    changed = (TEAM.replace('"openai/gpt-5-mini", "anthropic/claude-haiku-4.5"', '"openai/gpt-5-mini"')
               .replace('tier = "senior"\n', "").replace('[tiers.senior]\nmodels = ["anthropic/claude-sonnet-4.5", '
                                                         '"openai/gpt-5.1-codex"]\n', "")
               .replace('default = { cap = "25.00", reset = "weekly", tier = "standard", expires = "90d" }',
                        'default = { cap = "25.00", reset = "weekly", expires = "90d" }')
               .replace('name = "bob"\n', 'name = "bob"\ntier = "standard"\n')
               .replace('reset = "monthly"\n', 'reset = "monthly"\ntier = "standard"\n'))
    p = run_plan(sb, write(tmp_path, changed))
    assert [(t.tier, t.action) for t in p.tiers] == [("standard", "update"), ("senior", "delete")]
    assert actions(p) == {"alice": "re-tier", "bob": "nothing", "carol": "nothing"}
    done = run_apply(sb, write(tmp_path, changed), None, transport)
    assert done.complete, done.failed
    assert done.done == {"update tier": 1, "re-tier": 1, "delete tier": 1}
    sent = {(m, "/".join("{id}" if len(part) == 36 else part for part in path.split("/")))
            for m, path in transport.sent}
    assert {("GET", "/api/v1/guardrails"), ("POST", "/api/v1/guardrails"), ("PATCH", "/api/v1/guardrails/{id}"),
            ("DELETE", "/api/v1/guardrails/{id}"), ("GET", "/api/v1/guardrails/{id}/assignments/keys"),
            ("POST", "/api/v1/guardrails/{id}/assignments/keys"),
            ("POST", "/api/v1/guardrails/{id}/assignments/keys/remove"), ("GET", "/api/v1/workspaces")} <= sent
    assert not run_plan(sb, write(tmp_path, changed)).changes
    alice = (tmp_path / "s" / "alice.key").read_text().strip()
    assert chat(sb, alice, "some/model").status_code == 200  # out of every tier: any model
