"""The sandbox's key-management API over real HTTP, against the spec: /key, /credits, auth errors,
paging, workspaces, create / patch / delete, expiry, chunked bodies and HEAD."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from openapi_contract import validate_component, validate_request, validate_response
from sandbox_support import CHAT, LABEL_RE, SECRET_RE, Clock, call, client, list_all

from capit_tui.sandbox import Sandbox

# ---------------------------------------------------------------- /key, /credits, auth


def test_current_key_for_management_and_inference_keys(sb: Sandbox) -> None:
    secret, key_hash = sb.add_key("agent", limit=Decimal("5"), reset="monthly", spend=Decimal("1.25"))
    with client(sb, sb.management_key) as m, client(sb, secret) as k:
        data = call(m, "GET", "/key")["data"]
        assert data["is_management_key"] is True and data["limit"] is None
        data = call(k, "GET", "/key")["data"]
        assert data["is_management_key"] is False
        assert data["limit"] == 5 and data["limit_remaining"] == 3.75 and data["limit_reset"] == "monthly"
        assert data["usage"] == data["usage_daily"] == 1.25
        assert LABEL_RE.match(data["label"]) and data["label"].endswith(secret[-3:])
    assert sb.requests[-1].key_hash == key_hash
    assert sb.requests[-1].headers["authorization"] == f"Bearer {secret}"


def test_auth_errors(sb: Sandbox) -> None:
    secret, _ = sb.add_key("agent")
    off, _ = sb.add_key("off", disabled=True)
    unknown = "sk-or-v1-" + "0" * 64
    with client(sb) as anon, client(sb, unknown) as bad, client(sb, secret) as k, client(sb, off) as d:
        body = call(anon, "GET", "/key", expect=401)
        assert body["error"] == {"code": 401, "message": "Missing Authentication header"}
        body = call(bad, "GET", "/key", expect=401)
        assert body["error"] == {"code": 401, "message": "User not found."}
        call(d, "GET", "/key", expect=401)
        assert call(bad, "GET", "/keys", expect=401)["error"]["message"] == "User not found."
        call(anon, "GET", "/keys", expect=401)
        # An inference key on a management route: 403 (the spec lists no 403 for GET /keys).
        r = k.get("/keys")
        assert r.status_code == 403
        validate_component("ForbiddenResponse", r.json())
        assert r.json()["error"]["message"] == "Only management keys can perform this operation"
        assert k.get("/workspaces").status_code == 403
        assert call(k, "GET", "/credits", expect=403)["error"]["code"] == 403
        call(k, "POST", "/keys", body={"name": "sneaky"}, expect=403)
    assert sb.requests[-1].key_hash is not None
    assert [r.key_hash for r in sb.requests[1:2]] == [None]  # the unknown key maps to no hash


def test_credits(clock: Clock) -> None:
    with Sandbox(clock=clock, seed_keys=10) as sb, client(sb, sb.management_key) as m:
        data = call(m, "GET", "/credits")["data"]
        total = sum(Decimal(str(k["usage"])) for k in sb.keys.values())
        assert Decimal(str(data["total_usage"])) == total
        assert data["total_credits"] >= data["total_usage"]


# ---------------------------------------------------------------- listing and paging


def test_paging_past_100_newest_first(sb: Sandbox, clock: Clock) -> None:
    hashes = []
    for i in range(250):
        clock.advance(seconds=1)
        hashes.append(sb.add_key(f"k{i}")[1])
    with client(sb, sb.management_key) as m:
        sizes = [len(call(m, "GET", "/keys", params={"offset": str(o)})["data"]) for o in (0, 100, 200, 300)]
        assert sizes == [100, 100, 50, 0]
        keys = list_all(m)
    assert [k["hash"] for k in keys] == hashes[::-1]
    assert keys[0]["name"] == "k249"


def test_paging_past_1000_seeded(clock: Clock) -> None:
    with Sandbox(clock=clock, seed_keys=1234) as sb, client(sb, sb.management_key) as m:
        everything = list_all(m, include_disabled="true")
        enabled = list_all(m)
        explicit = list_all(m, include_disabled="false")
    assert len(everything) == 1234 == len({k["hash"] for k in everything})
    created = [k["created_at"] for k in everything]
    assert created == sorted(created, reverse=True)
    disabled = [k for k in everything if k["disabled"]]
    assert disabled and not any(k["disabled"] for k in enabled)
    assert len(enabled) == 1234 - len(disabled)
    assert enabled == explicit


def test_include_disabled_and_bad_parameters(sb: Sandbox) -> None:
    _, on = sb.add_key("on")
    _, off = sb.add_key("off", disabled=True)
    with client(sb, sb.management_key) as m:
        assert [k["hash"] for k in call(m, "GET", "/keys")["data"]] == [on]
        both = call(m, "GET", "/keys", params={"include_disabled": "true"})["data"]
        assert {k["hash"] for k in both} == {on, off}
        for params in ({"include_disabled": "yes"}, {"offset": "-1"}, {"offset": "x"}):
            r = m.get("/keys", params=params)
            assert r.status_code == 400
            validate_response("GET", "/keys", 400, r.json())
            with pytest.raises(AssertionError):
                validate_request("GET", "/keys", params, None)


def test_workspaces(clock: Clock) -> None:
    with Sandbox(clock=clock, seed_keys=60, workspaces=3) as sb, client(sb, sb.management_key) as m:
        ws = call(m, "GET", "/workspaces")
        assert ws["total_count"] == 3 and len(ws["data"]) == 3
        ids = [w["id"] for w in ws["data"]]
        assert ids[0] == sb.default_workspace_id
        page = call(m, "GET", "/workspaces", params={"offset": "1", "limit": "1"})
        assert [w["id"] for w in page["data"]] == ids[1:2] and page["total_count"] == 3

        default = list_all(m, include_disabled="true")
        per_ws = {w: list_all(m, include_disabled="true", workspace_id=w) for w in ids}
        assert default == per_ws[ids[0]]
        assert all(k["workspace_id"] == w for w, keys in per_ws.items() for k in keys)
        assert sum(len(v) for v in per_ws.values()) == 60
        assert all(per_ws[w] for w in ids), "seeded keys spread across workspaces"

        made = call(m, "POST", "/keys", body={"name": "research-agent", "workspace_id": ids[2]}, expect=201)
        h = made["data"]["hash"]
        assert made["data"]["workspace_id"] == ids[2]
        assert h in {k["hash"] for k in list_all(m, workspace_id=ids[2])}
        assert h not in {k["hash"] for k in list_all(m)}
        plain = call(m, "POST", "/keys", body={"name": "plain"}, expect=201)
        assert plain["data"]["workspace_id"] == ids[0]

        assert m.get("/keys", params={"workspace_id": "0df9e665-d932-5740-b2c7-b52af166bc11"}).status_code == 400
        assert m.get("/workspaces", params={"limit": "101"}).status_code == 400


# ---------------------------------------------------------------- create / patch / delete


def test_create_get_patch_delete(sb: Sandbox, clock: Clock) -> None:
    with client(sb, sb.management_key) as m:
        body = {"name": "capit-claude-20261129", "limit": 5, "limit_reset": "monthly"}
        made = call(m, "POST", "/keys", body=body, expect=201)
        secret, data = made["key"], made["data"]
        assert SECRET_RE.match(secret)
        assert data["hash"] == hashlib.sha256(secret.encode()).hexdigest()
        assert LABEL_RE.match(data["label"]) and secret not in json.dumps(data)
        assert data["updated_at"] is None and data["created_at"] == "2026-11-29T23:30:00Z"
        assert (data["limit"], data["limit_remaining"], data["usage"]) == (5, 5, 0)
        assert data["expires_at"] is None and data["disabled"] is False
        path = f"/keys/{data['hash']}"
        assert call(m, "GET", path)["data"] == data

        clock.advance(minutes=5)
        patched = call(m, "PATCH", path, body={"name": "renamed", "limit": 7.5, "limit_reset": "daily",
                                               "disabled": True, "include_byok_in_limit": True})["data"]
        assert (patched["name"], patched["limit"], patched["limit_reset"], patched["disabled"]) == \
            ("renamed", 7.5, "daily", True)
        assert patched["include_byok_in_limit"] is True
        assert patched["updated_at"] == "2026-11-29T23:35:00Z"
        uncapped = call(m, "PATCH", path, body={"limit": None, "disabled": False})["data"]
        assert uncapped["limit"] is None and uncapped["limit_remaining"] is None
        assert uncapped["name"] == "renamed" and uncapped["limit_reset"] == "daily"

        assert call(m, "DELETE", path) == {"deleted": True}
        assert call(m, "GET", path, expect=404)["error"]["code"] == 404
        call(m, "PATCH", path, body={"name": "x"}, expect=404)
        call(m, "DELETE", path, expect=404)
        assert call(m, "GET", "/keys")["data"] == []


@pytest.mark.parametrize("body,spec_rejects", [
    ({}, True), ({"name": ""}, True), ({"name": "x", "limit": "5"}, True),
    ({"name": "x", "limit_reset": "yearly"}, True), ({"name": "x", "include_byok_in_limit": "yes"}, True),
    ({"name": "x", "workspace_id": "nope"}, True),
    # Valid for the spec's schema, refused by the server (no negative caps; expiry must be UTC).
    ({"name": "x", "limit": -1}, False), ({"name": "x", "expires_at": "2026-12-01T00:00:00+02:00"}, False),
    ({"name": "x", "expires_at": "2026-11-01T00:00:00Z"}, False),
])
def test_create_refuses_bad_bodies(sb: Sandbox, body: dict[str, Any], spec_rejects: bool) -> None:
    with client(sb, sb.management_key) as m:
        r = m.post("/keys", json=body)
        assert r.status_code == 400, r.text
        validate_response("POST", "/keys", 400, r.json())
        assert r.json()["error"]["code"] == 400
    if spec_rejects:
        with pytest.raises(AssertionError):
            validate_request("POST", "/keys", {}, body)
    else:
        validate_request("POST", "/keys", {}, body)
    assert len(sb.keys) == 0


def test_create_and_patch_refuse_non_json(sb: Sandbox) -> None:
    _, h = sb.add_key("a")
    with client(sb, sb.management_key) as m:
        assert m.post("/keys", content=b"{nope", headers={"Content-Type": "application/json"}).status_code == 400
        assert m.patch(f"/keys/{h}", json={"limit": -2}).status_code == 400
        assert m.patch(f"/keys/{h}", json={"limit_reset": "hourly"}).status_code == 400
    assert sb.keys[h]["limit"] is None

def test_contract_module_is_strict_about_statuses_unless_asked() -> None:
    body = {"error": {"code": 403, "message": "Only management keys can perform this operation"}}
    with pytest.raises(AssertionError, match="not in the spec"):
        validate_response("GET", "/api/v1/keys", 403, body)
    validate_response("GET", "/api/v1/keys", 403, body, undocumented_errors=True)
    with pytest.raises(AssertionError, match="error.code"):
        validate_response("GET", "/api/v1/workspaces", 403, {"error": {"code": 401, "message": "x"}},
                          undocumented_errors=True)
    with pytest.raises(AssertionError, match="no such path"):
        validate_response("GET", "/api/v1/nowhere", 200, {})
    with pytest.raises(AssertionError, match="no PUT"):
        validate_request("PUT", "/api/v1/keys", {}, None)
    with pytest.raises(AssertionError, match="body is required"):
        validate_request("PATCH", "/api/v1/keys/abc", {}, None)
    with pytest.raises(AssertionError, match="no request body"):
        validate_request("GET", "/api/v1/keys", {}, {"name": "x"})


def test_create_workspace_expiry_chunked_bodies_and_head(sb: Sandbox, clock: Clock) -> None:
    with client(sb, sb.management_key) as m:
        body = {"name": "Team B", "slug": "team-b"}
        ws = call(m, "POST", "/workspaces", body=body, expect=201)["data"]
        assert ws["slug"] == "team-b" and ws["updated_at"] is None
        assert call(m, "GET", "/workspaces")["total_count"] == 2
        call(m, "POST", "/workspaces", body=body, expect=400)  # slug taken
        r = m.post("/workspaces", json={"name": "x", "slug": "Bad Slug"})
        assert r.status_code == 400
        validate_response("POST", "/workspaces", 400, r.json())

        made = call(m, "POST", "/keys", expect=201,
                    body={"name": "short-lived", "expires_at": "2026-11-30T00:00:00Z", "workspace_id": ws["id"]})
        assert made["data"]["expires_at"] == "2026-11-30T00:00:00Z"
        with client(sb, made["key"]) as k:
            assert k.post("/chat/completions", json=CHAT).status_code == 200
            clock.now = datetime(2026, 11, 30, 0, 0, 1, tzinfo=timezone.utc)
            assert k.post("/chat/completions", json=CHAT).status_code == 401
            assert k.get("/key").status_code == 401

        def chunks() -> Iterator[bytes]:
            yield b'{"name": '
            yield b'"chunked"}'

        r = m.post("/keys", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 201 and r.json()["data"]["name"] == "chunked"
        assert sb.requests[-1].json == {"name": "chunked"}
        r = m.head("/keys")
        assert r.status_code == 200 and r.content == b"" and int(r.headers["content-length"]) > 0
        assert m.get("/keys").status_code == 200  # the connection is still in sync after HEAD
