"""The OpenRouter adapter over real HTTP to the sandbox on loopback, checked against the OpenAPI subset."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from contract_transport import ContractTransport

from capit_tui.platforms.base import (
    AuthRejected,
    BadRequest,
    CreateUncertain,
    MalformedResponse,
    NetworkError,
    NotFound,
    NotManagementKey,
    RateLimited,
    ServerError,
)
from capit_tui.platforms.http import RetryPolicy
from capit_tui.platforms.openrouter import OpenRouterPlatform
from capit_tui.sandbox import Sandbox


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


class Sleeps:
    def __init__(self):
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make(sb: Sandbox, key: str | None = None, **kw) -> tuple[OpenRouterPlatform, ContractTransport]:
    transport = kw.pop("transport", None) or ContractTransport()
    kw.setdefault("sleep", Sleeps())
    kw.setdefault("retry", RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.02))
    p = OpenRouterPlatform("openrouter", sb.base_url, key or sb.management_key, transport=transport, **kw)
    return p, transport


def run(coro):
    return asyncio.run(coro)


async def _closing(p, coro):
    try:
        return await coro
    finally:
        await p.aclose()


def test_endpoints_follow_the_base_url(sandbox):
    p, _ = make(sandbox)
    assert p.openai_base_url == sandbox.base_url
    assert p.anthropic_base_url == sandbox.anthropic_base_url
    run(p.aclose())


def test_management_key_is_accepted(sandbox):
    p, t = make(sandbox)
    info = run(_closing(p, p.check_management_key()))
    assert info.is_management_key
    assert t.checked == 1


def test_inference_key_is_refused_with_where_to_get_a_management_key(sandbox):
    secret, _ = sandbox.add_key("agent", limit=Decimal(5), reset="daily")
    p, _ = make(sandbox, secret)
    with pytest.raises(NotManagementKey) as err:
        run(_closing(p, p.check_management_key()))
    assert "openrouter.ai/settings/management-keys" in str(err.value)
    assert secret not in str(err.value)


def test_unknown_key_is_rejected(sandbox):
    bogus = "sk-or-v1-" + "0" * 64
    p, _ = make(sandbox, bogus)
    with pytest.raises(AuthRejected) as err:
        run(_closing(p, p.check_management_key()))
    assert bogus not in str(err.value)
    p, _ = make(sandbox, bogus)
    with pytest.raises(AuthRejected):
        run(_closing(p, p.list_keys()))


def test_inference_key_cannot_list(sandbox):
    secret, _ = sandbox.add_key("agent")
    p, _ = make(sandbox, secret)
    with pytest.raises(NotManagementKey):
        run(_closing(p, p.list_keys()))


@pytest.mark.parametrize("count", [0, 1, 99, 100, 101, 250, 1050])
def test_list_pages_through_every_key(sandbox, count):
    for i in range(count):
        sandbox.add_key(f"k{i:05d}", limit=Decimal(1), reset="monthly")
    p, t = make(sandbox)
    keys = run(_closing(p, p.list_keys()))
    assert len(keys) == count
    assert len({k.id for k in keys}) == count
    assert {k.name for k in keys} == {f"k{i:05d}" for i in range(count)}
    pages = [s for s in t.sent if s[1].endswith("/keys")]
    needed = count // 100 + 1
    assert needed <= len(pages) <= needed + 7  # no count remembered yet: at most 7 past the short page


def test_list_includes_disabled_keys_and_reads_spend(sandbox):
    _, h1 = sandbox.add_key("on", limit=Decimal(10), reset="daily")
    _, h2 = sandbox.add_key("off", disabled=True)
    sandbox.spend(h1, Decimal("2.50"))
    p, _ = make(sandbox)
    keys = {k.id: k for k in run(_closing(p, p.list_keys()))}
    assert keys[h2].disabled and keys[h2].status == "disabled"
    on = keys[h1]
    assert on.limit == Decimal(10) and on.limit_reset == "daily"
    assert on.spent == Decimal("2.5") and on.percent == Decimal("25.0")
    assert on.usage_daily == Decimal("2.5")


def test_list_covers_every_workspace():
    with Sandbox(workspaces=3, seed_keys=30) as sb:
        p, t = make(sb)
        keys = run(_closing(p, p.list_keys()))
        assert len(keys) == 30
        assert len({k.workspace_id for k in keys}) == 3
        assert any(path.endswith("/workspaces") for _, path in t.sent)


def test_create_get_update_delete(sandbox):
    p, t = make(sandbox)

    async def flow():
        issued = await p.create_key("capit-test", Decimal("5.00"), "weekly")
        assert issued.secret.startswith("sk-or-v1-") and len(issued.secret) == 73
        k = issued.key
        assert k.limit == Decimal(5) and k.limit_reset == "weekly" and k.name == "capit-test"
        got = await p.get_key(k.id)
        assert got.id == k.id and got.limit_remaining == Decimal(5)
        k2 = await p.update_key(k.id, limit=Decimal("7.25"), reset="daily", name="renamed")
        assert (k2.limit, k2.limit_reset, k2.name) == (Decimal("7.25"), "daily", "renamed")
        k3 = await p.update_key(k.id, disabled=True)
        assert k3.disabled and k3.limit == Decimal("7.25")
        k4 = await p.update_key(k.id, limit=None, reset=None)
        assert k4.limit is None and k4.limit_remaining is None
        await p.delete_key(k.id)
        with pytest.raises(NotFound):
            await p.get_key(k.id)
        with pytest.raises(NotFound):
            await p.delete_key(k.id)
        return issued

    issued = run(_closing(p, flow()))
    assert issued.secret not in repr(issued)
    assert t.checked >= 7


def test_create_refuses_an_empty_name(sandbox):
    p, _ = make(sandbox)
    with pytest.raises(BadRequest):
        run(_closing(p, p.create_key("  ", Decimal(1), None)))


def test_429_waits_for_retry_after_then_succeeds(sandbox):
    sandbox.inject_fault("GET /api/v1/keys*", "429", times=2, retry_after=3)
    sleeps = Sleeps()
    p, _ = make(sandbox, sleep=sleeps)
    assert run(_closing(p, p.list_keys())) == []
    assert sleeps.calls[:2] == [3.0, 3.0]


def test_429_with_a_long_retry_after_is_reported_not_waited(sandbox):
    sandbox.inject_fault("GET /api/v1/keys*", "429", times=5, retry_after=3600)
    p, _ = make(sandbox)
    with pytest.raises(RateLimited) as err:
        run(_closing(p, p.list_keys()))
    assert err.value.retry_after == 3600
    assert "3600 s" in str(err.value)


def test_500_then_success(sandbox):
    sandbox.add_key("survivor")
    sandbox.inject_fault("GET /api/v1/keys*", "500", times=2)
    p, _ = make(sandbox)
    assert [k.name for k in run(_closing(p, p.list_keys()))] == ["survivor"]


def test_persistent_500_is_a_server_error(sandbox):
    sandbox.inject_fault("GET /api/v1/key", "500", times=10)
    p, _ = make(sandbox)
    with pytest.raises(ServerError, match="server error"):
        run(_closing(p, p.check_management_key()))


def test_timeout_is_a_network_error(sandbox):
    sandbox.inject_fault("GET /api/v1/key", "stall", times=10, stall_seconds=2)
    p, _ = make(sandbox, timeout=0.3, retry=RetryPolicy(attempts=2, base_delay=0.01))
    with pytest.raises(NetworkError, match="did not answer in time"):
        run(_closing(p, p.check_management_key()))


def test_non_json_body_is_malformed(sandbox):
    sandbox.inject_fault("GET /api/v1/key", "notjson", times=1)
    p, _ = make(sandbox, transport=None)
    with pytest.raises(MalformedResponse, match="not JSON"):
        run(_closing(p, p.check_management_key()))


@pytest.mark.parametrize("kind", ["drop", "reset"])
def test_dropped_connection_is_retried_for_reads(sandbox, kind):
    sandbox.inject_fault("GET /api/v1/key", kind, times=1)
    p, _ = make(sandbox)
    assert run(_closing(p, p.check_management_key())).is_management_key


def test_a_page_failing_mid_way_fails_the_listing(sandbox):
    for i in range(350):
        sandbox.add_key(f"k{i}")
    sandbox.inject_fault("GET /api/v1/keys*", "500", times=50, after=2)
    p, _ = make(sandbox, retry=RetryPolicy(attempts=2, base_delay=0.01))
    with pytest.raises(ServerError):
        run(_closing(p, p.list_keys()))


def test_create_is_not_retried_on_500(sandbox):
    sandbox.inject_fault("POST /api/v1/keys", "500", times=1)
    p, t = make(sandbox)
    with pytest.raises(CreateUncertain, match="No key was created"):
        run(_closing(p, p.create_key("once", Decimal(1), "daily")))
    assert sum(1 for m, path in t.sent if m == "POST") == 1
    p, _ = make(sandbox)
    assert run(_closing(p, p.list_keys())) == []


def test_create_whose_reply_is_lost_deletes_the_orphan(sandbox):
    transport = ContractTransport(fail_after_send={"POST /api/v1/keys"})
    p, _ = make(sandbox, transport=transport)
    with pytest.raises(CreateUncertain) as err:
        run(_closing(p, p.create_key("lost-reply", Decimal(1), "daily")))
    assert "half-made key was found and deleted" in str(err.value)
    p, _ = make(sandbox)
    assert [k.name for k in run(_closing(p, p.list_keys()))] == []


def test_one_client_is_reused(sandbox):
    for i in range(5):
        sandbox.add_key(f"k{i}")
    p, _ = make(sandbox)

    async def twice():
        await p.list_keys()
        client = p._client
        await p.list_keys()
        assert p._client is client

    run(_closing(p, twice()))


def test_list_shows_expired_keys_as_expired_not_missing(sandbox):
    """GET /keys leaves expired keys out unless include_expired=true: the adapter asks for them, so an
    expired key is listed (and marked expired) rather than seeming to have vanished."""
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    _, old = sandbox.add_key("expired-key", limit=1, expires_at=now - timedelta(days=1))
    _, later = sandbox.add_key("expires-later", limit=1, expires_at=now + timedelta(days=30))
    p, transport = make(sandbox)
    keys = {k.id: k for k in run(_closing(p, p.list_keys()))}
    assert keys[old].expired and keys[old].status == "expired"
    assert keys[old].expires_at == now - timedelta(days=1)
    assert not keys[later].expired and keys[later].status == "active"
    assert any(r.query.get("include_expired") == "true" for r in sandbox.requests if r.path.endswith("/keys"))
    assert transport.checked >= 1


def test_last_used_at_is_read_and_follows_inference(sandbox):
    import httpx

    secret, h = sandbox.add_key("agent", limit=2)
    p, _ = make(sandbox)
    assert run(_closing(p, p.get_key(h))).last_used_at is None
    r = httpx.post(sandbox.base_url + "/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                   json={"messages": [{"role": "user", "content": "hi"}]}, trust_env=False, timeout=5)
    assert r.status_code == 200
    p, _ = make(sandbox)
    (k,) = [k for k in run(_closing(p, p.list_keys())) if k.id == h]
    assert k.last_used_at == sandbox.store.keys[h].last_used_at and k.last_used_at is not None
    assert k.to_json()["last_used_at"] == sandbox.keys[h]["last_used_at"]
