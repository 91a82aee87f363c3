"""Teams on a one-api / new-api gateway (tests/support/oneapi_server.py, real HTTP on loopback): a tier is each
member's token's own model list, set at create, corrected by a re-tier (drift when the token's models differ
from its tier's), enforced by the gateway for that member's key; a second apply changes nothing. In the core
and through `capit-tui team` as a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from oneapi_server import OneApiServer

from capit_tui.core import team_file
from capit_tui.core.team import TeamRecord, gather, plan, status
from capit_tui.core.team_apply import apply
from capit_tui.platforms.oneapi import OneApiPlatform

TEAM = """\
[team]
name = "platform"
platform = "gw"
default = { cap = "25.00", tier = "standard" }

[tiers.standard]
models = ["gpt-5-mini", "claude-haiku-4.5"]
[tiers.senior]
models = ["claude-sonnet-4.5", "gpt-5.1-codex"]

[[members]]
name = "alice"
tier = "senior"
cap = "60.00"
[[members]]
name = "bob"
[[members]]
name = "carol"
"""


@pytest.fixture(params=["oneapi", "newapi"])
def gw(request):
    with OneApiServer(flavor=request.param, user_id=7) as s:
        yield s


def platform(gw: OneApiServer) -> OneApiPlatform:
    return OneApiPlatform("gw", gw.url, gw.access_token, user_id=7 if gw.new_api else None, timeout=5.0)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "team.toml"
    p.write_text(text)
    return p


def run_plan(gw: OneApiServer, path: Path, **kw):
    team = team_file.load(path)

    async def go():
        async with platform(gw) as p:
            return plan(team, await gather(team, p), TeamRecord(team.name).load(), **kw)

    return asyncio.run(go())


def run_apply(gw: OneApiServer, path: Path, secrets: Path | None, **kw):
    team = team_file.load(path)

    async def go():
        async with platform(gw) as p:
            return await apply(team, p, secrets_dir=secrets, **kw)

    return asyncio.run(go())


def run_status(gw: OneApiServer, path: Path):
    team = team_file.load(path)

    async def go():
        async with platform(gw) as p:
            return status(team, await gather(team, p), TeamRecord(team.name).load())

    return asyncio.run(go())


def chat(gw: OneApiServer, secret: str, model: str) -> int:
    return httpx.post(gw.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}]}, timeout=5.0,
                      trust_env=False).status_code


def models_of(gw: OneApiServer) -> dict[str, set[str] | None]:
    """Each token's model list as the gateway stores it (None: any model)."""
    out: dict[str, set[str] | None] = {}
    for t in gw.tokens.values():
        if gw.new_api:
            out[t["name"]] = set(t["model_limits"].split(",")) if t["model_limits_enabled"] else None
        else:
            out[t["name"]] = set(t["models"].split(",")) if t["models"] else None
    return out


def test_tiers_become_each_token_model_list_and_a_second_apply_changes_nothing(gw, tmp_path):
    path = write(tmp_path, TEAM)
    first = run_plan(gw, path)  # no refusal, no --ignore-tiers: the gateway can limit a key's models
    assert first.tiers_enforced and first.tiers_per_key and first.tiers == [] and first.notes == []
    assert {m.member: m.action for m in first.members} == {"alice": "create", "bob": "create", "carol": "create"}

    secrets = tmp_path / "secrets"
    done = run_apply(gw, path, secrets)
    assert done.complete, done.failed
    assert done.done == {"create": 3}
    senior, standard = {"claude-sonnet-4.5", "gpt-5.1-codex"}, {"gpt-5-mini", "claude-haiku-4.5"}
    assert models_of(gw) == {"platform-alice": senior, "platform-bob": standard, "platform-carol": standard}
    record = json.loads(TeamRecord("platform").path.read_text())
    assert {m: r["tier"] for m, r in record["members"].items()} == {"alice": "senior", "bob": "standard",
                                                                    "carol": "standard"}

    # the gateway enforces each member's tier on that member's key
    alice, bob = ((secrets / f"{m}.key").read_text().strip() for m in ("alice", "bob"))
    assert chat(gw, alice, "claude-sonnet-4.5") == 200 and chat(gw, alice, "gpt-5-mini") == 403
    assert chat(gw, bob, "gpt-5-mini") == 200 and chat(gw, bob, "claude-sonnet-4.5") == 403

    again = run_plan(gw, path)
    assert not again.changes
    before = len(gw.requests)
    second = run_apply(gw, path, None)
    assert second.complete and second.done == {}
    assert all(r.method == "GET" for r in gw.requests[before:])  # nothing to change: only reads
    assert [(r.member, r.tier_now, r.action) for r in run_status(gw, path)] == [
        ("alice", "senior", "nothing"), ("bob", "standard", "nothing"), ("carol", "standard", "nothing")]


def test_retier_in_the_file_and_by_hand_corrects_the_token_models_with_drift(gw, tmp_path):
    path = write(tmp_path, TEAM)
    assert run_apply(gw, path, tmp_path / "s").complete
    ids = {t["name"]: t["id"] for t in gw.tokens.values()}
    # by hand on the gateway: bob's token opened to any model
    bob = gw.tokens[ids["platform-bob"]]
    if gw.new_api:
        bob["model_limits_enabled"] = False
    else:
        bob["models"] = ""
    # in the file: carol becomes senior, alice's cap changes
    changed = TEAM.replace('name = "carol"\n', 'name = "carol"\ntier = "senior"\n').replace('"60.00"', '"80.00"')
    path = write(tmp_path, changed)
    p = run_plan(gw, path)
    got = {m.member: (m.action, m.tier_now, m.drift) for m in p.members}
    assert got["alice"] == ("re-cap", "senior", [])
    assert got["carol"] == ("re-tier", "standard", [])
    assert got["bob"] == ("re-tier", None, ["its models differ from the tier standard's (it allows any model)"])

    before = len(gw.requests)
    done = run_apply(gw, path, None)
    assert done.complete, done.failed
    assert done.done == {"re-cap": 1, "re-tier": 2}
    assert sum(1 for r in gw.requests[before:] if r.method == "PUT") == 3  # one PUT per member changed
    senior, standard = {"claude-sonnet-4.5", "gpt-5.1-codex"}, {"gpt-5-mini", "claude-haiku-4.5"}
    assert models_of(gw) == {"platform-alice": senior, "platform-bob": standard, "platform-carol": senior}
    carol = (tmp_path / "s" / "carol.key").read_text().strip()
    assert chat(gw, carol, "gpt-5.1-codex") == 200 and chat(gw, carol, "gpt-5-mini") == 403
    record = json.loads(TeamRecord("platform").path.read_text())
    assert record["members"]["carol"]["tier"] == "senior" and record["members"]["alice"]["cap"] == "80.00"
    assert not run_plan(gw, path).changes


def test_ignore_tiers_leaves_every_token_open(gw, tmp_path):
    path = write(tmp_path, TEAM)
    p = run_plan(gw, path, ignore_tiers=True)
    assert not p.tiers_enforced and not p.tiers_per_key
    assert run_apply(gw, path, tmp_path / "s", ignore_tiers=True).complete
    assert set(models_of(gw).values()) == {None}
    assert json.loads(TeamRecord("platform").path.read_text())["members"]["alice"]["tier"] is None


def test_cli_plan_apply_and_a_second_apply_on_a_one_api_gateway(tmp_path):
    with OneApiServer() as gw:
        folder = Path(os.environ["XDG_CONFIG_HOME"]) / "capit-tui"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "settings.toml").write_text(f'[platforms.gw]\nkind = "oneapi"\nbase_url = "{gw.url}"\n')
        env = dict(os.environ, CAPIT_GW_MANAGEMENT_KEY=gw.access_token)
        f = str(write(tmp_path, TEAM))

        def cli(*args: str) -> subprocess.CompletedProcess:
            proc = subprocess.run([sys.executable, "-m", "capit_tui", *args], capture_output=True, text=True,
                                  env=env, timeout=120)
            assert "Traceback" not in proc.stderr, proc.stderr
            return proc

        p = cli("team", "plan", f)
        assert p.returncode == 0, p.stderr
        assert p.stdout == textwrap.dedent("""\
            Team platform on gw: 3 members, 2 tiers (team.toml).
              alice: create platform-alice $60.00 never reset, tier senior
              bob: create platform-bob $25.00 never reset, tier standard
              carol: create platform-carol $25.00 never reset, tier standard
            Plan: 3 to create.
            """)
        secrets = tmp_path / "secrets"
        a = cli("team", "apply", f, "--yes", "--secrets-dir", str(secrets))
        assert a.returncode == 0, a.stderr
        alice = (secrets / "alice.key").read_text().strip()
        assert chat(gw, alice, "gpt-5.1-codex") == 200 and chat(gw, alice, "claude-haiku-4.5") == 403
        for secret in (alice, gw.access_token):
            assert secret not in a.stdout + a.stderr
        again = cli("team", "apply", f, "--yes")
        assert again.returncode == 0 and again.stdout.endswith("Nothing to change: the platform matches the file.\n")
        body = json.loads(cli("team", "status", f, "--json").stdout)
        assert [(m["member"], m["tier_now"], m["pending"]) for m in body["members"]] == [
            ("alice", "senior", "nothing"), ("bob", "standard", "nothing"), ("carol", "standard", "nothing")]
