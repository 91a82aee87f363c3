"""OpenRouter's official Python SDK (`openrouter` on PyPI, generated from OpenRouter's live spec) as a real
client of the sandbox: every management operation the sandbox implements, driven through the SDK, whose
pydantic models reject any reply that lacks a field, has a wrong type or a wrong status. A failure here
means the sandbox no longer speaks the API as OpenRouter does (differences: tests/data/openrouter-api-differences.md).

Also one smoke test of the OpenAI Python SDK against the sandbox's inference endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import openai
import pytest
from openrouter import OpenRouter, errors
from sandbox_support import Clock

from capit_tui.sandbox import REPLY_TEXT, Sandbox

# The SDK warns when it reads a field its spec marks deprecated (GET /key's `rate_limit`), which the API
# still sends; the warning is the SDK's, about OpenRouter's shape, not a fault of the sandbox.
pytestmark = pytest.mark.filterwarnings("ignore:.*DEPRECATED.*will be removed in a future release:DeprecationWarning")


@pytest.fixture
def small_pages(clock: Clock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock, page_size=2, workspaces=2) as sandbox:
        yield sandbox


def sdk(sb: Sandbox, key: str | None = None) -> OpenRouter:
    return OpenRouter(api_key=key or sb.management_key, server_url=sb.base_url, timeout_ms=5000)


def chat(sb: Sandbox, secret: str, model: str = "openai/gpt-4o-mini") -> httpx.Response:
    return httpx.post(sb.base_url + "/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
                      timeout=5.0, trust_env=False)


def all_pages(c: OpenRouter, **kw: object) -> list[str]:
    """Every key's name, paging with offset until a short page (the sandbox here pages 2 at a time)."""
    names: list[str] = []
    offset = 0
    while True:
        page = c.api_keys.list(offset=offset, **kw).data  # type: ignore[arg-type]
        names += [k.name for k in page]
        if len(page) < 2:
            return names
        offset += len(page)


def test_keys_list_pages_and_hides_disabled_and_expired_unless_asked(small_pages: Sandbox, clock: Clock) -> None:
    sb = small_pages
    with sdk(sb) as c:
        for name in ("a", "b", "c"):
            c.api_keys.create(name=name, limit=1)
        off = c.api_keys.create(name="off").data.hash
        c.api_keys.update(hash=off, disabled=True)
        c.api_keys.create(name="soon", expires_at=clock.now + timedelta(hours=1))
        assert sorted(all_pages(c)) == ["a", "b", "c", "soon"]
        clock.advance(hours=2)
        assert sorted(all_pages(c)) == ["a", "b", "c"]
        assert sorted(all_pages(c, include_disabled=True)) == ["a", "b", "c", "off"]
        assert sorted(all_pages(c, include_expired=True)) == ["a", "b", "c", "soon"]
        everything = c.api_keys.list(include_disabled=True, include_expired=True, offset=0).data
        assert len(everything) == 2  # one page
        assert sorted(all_pages(c, include_disabled=True, include_expired=True)) == ["a", "b", "c", "off", "soon"]
        other = sb.workspaces[1]["id"]
        c.api_keys.create(name="elsewhere", workspace_id=other)
        assert all_pages(c, workspace_id=other) == ["elsewhere"]


def test_create_takes_limit_reset_expiry_and_external_user_and_last_use_follows_inference(
        sb: Sandbox, clock: Clock) -> None:
    expires = clock.now + timedelta(days=30)
    with sdk(sb) as c:
        made = c.api_keys.create(name="agent", limit=5, limit_reset="weekly", expires_at=expires,
                                 external={"user": "customer-42"}, include_byok_in_limit=True,
                                 creator_user_id=sb.user_id, workspace_id=sb.default_workspace_id)
        k = made.data
        assert (k.limit, k.limit_reset, k.expires_at, k.external_user) == (5, "weekly", expires, "customer-42")
        assert k.include_byok_in_limit is True and k.last_used_at is None
        assert made.key.startswith("sk-or-v1-")
        assert c.api_keys.get(hash=k.hash).data.last_used_at is None
        clock.advance(minutes=5)
        assert chat(sb, made.key).status_code == 200
        used = c.api_keys.get(hash=k.hash).data
        assert used.last_used_at == clock.now
        assert used.usage == pytest.approx(float(sb.cost_per_call))
        with pytest.raises(errors.BadRequestResponseError):
            c.api_keys.create(name="bad", external={"user": ""})


def test_get_update_delete(sb: Sandbox) -> None:
    with sdk(sb) as c:
        h = c.api_keys.create(name="old", limit=1).data.hash
        new = c.api_keys.update(hash=h, name="new", limit=2.5, limit_reset="daily", include_byok_in_limit=True)
        assert (new.data.name, new.data.limit, new.data.limit_reset) == ("new", 2.5, "daily")
        assert new.data.updated_at is not None
        off = c.api_keys.update(hash=h, disabled=True)
        assert off.data.disabled is True
        assert c.api_keys.get(hash=h).data.name == "new"
        assert c.api_keys.delete(hash=h).DELETED is True
        with pytest.raises(errors.NotFoundResponseError):
            c.api_keys.get(hash=h)


def test_current_key_reports_budgets_from_its_limit_and_its_guardrail(sb: Sandbox, clock: Clock) -> None:
    with sdk(sb) as c:
        mgmt = c.api_keys.get_current_key_metadata().data
        assert mgmt.is_management_key is True and mgmt.budgets == [] and mgmt.effective_budget is None
        made = c.api_keys.create(name="capped", limit=1, limit_reset="daily")
        sb.spend(made.data.hash, "0.25")
        with sdk(sb, made.key) as own:
            me = own.api_keys.get_current_key_metadata().data
        assert me.is_management_key is False and me.workspace_id == sb.default_workspace_id
        assert [(b.scope, b.limit_usd, b.spend_usd, b.remaining_usd) for b in me.budgets] == [
            ("key_limit", 1, 0.25, 0.75)]
        assert me.budgets[0].resets_at == clock.now.replace(hour=0, minute=0) + timedelta(days=1)
        assert me.effective_budget is not None and me.effective_budget.scope == "key_limit"
        assert me.free_model_daily_requests.remaining == me.free_model_daily_requests.limit
        assert me.organization_id is None and me.allowed_data_regions

        g = c.guardrails.create(name="tight", limit_usd=0.5, reset_interval="monthly",
                                allowed_data_regions=["europe"]).data
        c.guardrails.bulk_assign_keys(id=g.id, key_hashes=[made.data.hash])
        with sdk(sb, made.key) as own:
            me = own.api_keys.get_current_key_metadata().data
        assert [(b.scope, b.guardrail_id, b.remaining_usd) for b in me.budgets] == [
            ("key_limit", None, 0.75), ("api_key", g.id, 0.25)]
        assert me.effective_budget is not None and me.effective_budget.guardrail_id == g.id
        assert me.allowed_data_regions == ["europe"]


def test_credits_and_workspaces(sb: Sandbox) -> None:
    with sdk(sb) as c:
        h = c.api_keys.create(name="spender").data.hash
        sb.spend(h, "1.5")
        credits = c.credits.get_credits().data
        assert credits.total_usage == pytest.approx(1.5) and credits.total_credits > 0
        made = c.workspaces.create(name="Team B", slug="team-b").data
        listed = c.workspaces.list()
        assert listed is not None
        assert [w.slug for w in listed.result.data][-1] == "team-b" and listed.result.total_count == 2
        assert made.id == listed.result.data[-1].id


def test_activity_rows_for_completed_days(sb: Sandbox, clock: Clock) -> None:
    with sdk(sb) as c:
        one = c.api_keys.create(name="one")
        two = c.api_keys.create(name="two")
        for _ in range(3):
            assert chat(sb, one.key).status_code == 200
        assert chat(sb, two.key, model="anthropic/claude-haiku-4.5").status_code == 200
        day = clock.now.date().isoformat()
        assert c.analytics.get_user_activity().data == []  # today is not a completed day yet
        clock.advance(days=1)
        rows = c.analytics.get_user_activity().data
        assert sorted((r.date_, r.model, r.requests) for r in rows) == [
            (day, "anthropic/claude-haiku-4.5", 1), (day, "openai/gpt-4o-mini", 3)]
        assert all(r.workspace_id is None for r in rows)
        only = c.analytics.get_user_activity(request={"api_key_hash": one.data.hash, "date": day}).data
        assert [(r.model, r.requests, r.usage) for r in only] == [
            ("openai/gpt-4o-mini", 3, pytest.approx(3 * float(sb.cost_per_call)))]
        grouped = c.analytics.get_user_activity(request={"group_by": "workspace"}).data
        assert {r.workspace_id for r in grouped} == {sb.default_workspace_id}
        with pytest.raises(errors.BadRequestResponseError):
            c.analytics.get_user_activity(request={"date": "2001-01-01"})


def test_guardrails_crud_assignments_and_allowed_models_refused_at_inference(sb: Sandbox) -> None:
    with sdk(sb) as c:
        made = c.api_keys.create(name="held")
        other = c.api_keys.create(name="free")
        g = c.guardrails.create(name="mini only", description="cheap models", allowed_models=["openai/gpt-4o-mini"],
                                limit_usd=3, reset_interval="weekly", enforce_zdr=True).data
        assert (g.name, g.allowed_models, g.limit_usd, g.workspace_id) == (
            "mini only", ["openai/gpt-4o-mini"], 3, sb.default_workspace_id)
        listed = c.guardrails.list()
        assert listed is not None and [x.id for x in listed.result.data] == [g.id]
        assert c.guardrails.get(id=g.id).data.enforce_zdr is True

        assigned = c.guardrails.bulk_assign_keys(id=g.id, key_hashes=[made.data.hash, other.data.hash])
        assert assigned.assigned_count == 2
        rows = c.guardrails.list_guardrail_key_assignments(id=g.id)
        assert rows is not None
        assert sorted(r.key_name for r in rows.result.data) == ["free", "held"] and rows.result.total_count == 2

        refused = chat(sb, made.key, model="anthropic/claude-opus-4.5")
        assert refused.status_code == 403 and "not allowed" in refused.json()["error"]["message"]
        assert chat(sb, made.key).status_code == 200
        assert c.api_keys.get(hash=made.data.hash).data.usage == pytest.approx(float(sb.cost_per_call))

        upd = c.guardrails.update(id=g.id, name="mini or opus",
                                  allowed_models=["openai/gpt-4o-mini", "anthropic/claude-opus-4.5"]).data
        assert upd.name == "mini or opus" and upd.updated_at is not None
        assert chat(sb, made.key, model="anthropic/claude-opus-4.5").status_code == 200

        gone = c.guardrails.bulk_unassign_keys(id=g.id, key_hashes=[other.data.hash])
        assert gone.unassigned_count == 1
        rows = c.guardrails.list_guardrail_key_assignments(id=g.id)
        assert rows is not None and [r.key_name for r in rows.result.data] == ["held"]

        c.guardrails.update(id=g.id, allowed_models=["openai/gpt-4o-mini"])
        assert chat(sb, other.key, model="anthropic/claude-opus-4.5").status_code == 200  # no longer held
        assert c.guardrails.delete(id=g.id).DELETED is True
        assert chat(sb, made.key, model="anthropic/claude-opus-4.5").status_code == 200  # guardrail gone
        with pytest.raises(errors.NotFoundResponseError):
            c.guardrails.get(id=g.id)


def test_openai_sdk_chat_against_the_sandbox(sb: Sandbox) -> None:
    secret, key_hash = sb.add_key("openai-sdk", limit=1)
    client = openai.OpenAI(api_key=secret, base_url=sb.base_url, max_retries=0, timeout=5.0)
    reply = client.chat.completions.create(model="openai/gpt-4o-mini",
                                           messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == REPLY_TEXT
    streamed = client.chat.completions.create(model="openai/gpt-4o-mini", stream=True,
                                              messages=[{"role": "user", "content": "hi"}])
    assert "".join(ch.choices[0].delta.content or "" for ch in streamed if ch.choices) == REPLY_TEXT
    assert sb.keys[key_hash]["usage"] == pytest.approx(2 * float(sb.cost_per_call))
    sb.spend(key_hash, 1)
    with pytest.raises(openai.PermissionDeniedError, match="Key limit exceeded"):
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
