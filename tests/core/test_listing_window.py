"""The sliding-window listing (platforms/paging.py through the OpenRouter adapter), over real HTTP on
loopback: every key once at every size around the page boundaries, the remembered count used and
corrected, the first short page stopping the launches, a failing page cancelling the rest, the default
workspace's pages asked beside GET /workspaces, and the per-page callback. No timing is asserted: the
servers below hold replies on events, so what the client did before a reply is a fact, not a race."""

from __future__ import annotations

import asyncio
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlparse

import pytest
from contract_transport import ContractTransport

from capit_tui.core.keys import Configured, list_all_keys
from capit_tui.core.paths import data_dir
from capit_tui.core.settings import PlatformConfig
from capit_tui.platforms.base import ServerError
from capit_tui.platforms.http import RetryPolicy
from capit_tui.platforms.openrouter import OpenRouterPlatform
from capit_tui.platforms.paging import HINTS_FILE, CountHints
from capit_tui.platforms.transport import HttpTransport, Reply, Request
from capit_tui.sandbox import Sandbox

FAST_RETRY = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02)


class Recording(ContractTransport):
    """The contract transport, also noting each request's query (offset, workspace_id)."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[tuple[str, dict[str, str]]] = []

    def handle(self, request: Request) -> Reply:
        self.queries.append((request.path, dict(parse_qsl(request.query))))
        return super().handle(request)

    def key_pages(self) -> list[dict[str, str]]:
        return [q for path, q in self.queries if path.endswith("/keys")]


async def _sleep(_: float) -> None:
    return None


def _adapter(base_url: str, key: str, transport: Any = None, **kw: Any):
    return OpenRouterPlatform("openrouter", base_url, key, transport=transport or Recording(), sleep=_sleep,
                              retry=kw.pop("retry", FAST_RETRY), **kw)


def _list(p: OpenRouterPlatform, on_page=None):
    async def go():
        try:
            return await p.list_keys(on_page=on_page)
        finally:
            await p.aclose()

    return asyncio.run(go())


def _hint_file() -> dict[str, Any]:
    return json.loads((data_dir() / HINTS_FILE).read_text())


@pytest.mark.parametrize("count", [0, 1, 99, 100, 101, 1050, 10_000])
def test_every_key_once_and_the_count_remembered(count):
    with Sandbox(seed_keys=count) as sb:
        cold = Recording()
        keys = _list(_adapter(sb.base_url, sb.management_key, cold))
        assert len(keys) == count and len({k.id for k in keys}) == count
        with sb.store.lock:
            assert {k.id for k in keys} == set(sb.store.keys)
        needed = count // 100 + 1  # the full pages and the first short (or empty) one
        offsets = sorted(int(q["offset"]) for q in cold.key_pages())
        assert offsets[:needed] == [100 * i for i in range(needed)]
        assert len(offsets) <= needed + 7  # nothing remembered yet: at most 7 pages past the short one
        assert CountHints("openrouter", sb.base_url).get(None) == count

        warm = Recording()
        again = _list(_adapter(sb.base_url, sb.management_key, warm))
        assert [k.id for k in again] == [k.id for k in keys]
        assert sorted(int(q["offset"]) for q in warm.key_pages()) == [100 * i for i in range(needed)]


def test_a_wrong_count_costs_requests_never_keys_and_is_corrected():
    with Sandbox(seed_keys=250) as sb:
        hints = CountHints("openrouter", sb.base_url)
        hints.set(None, 90)  # too low: the listing goes on past page 0
        hints.save()
        t = Recording()
        assert len(_list(_adapter(sb.base_url, sb.management_key, t))) == 250
        assert _hint_file()[f"openrouter {sb.base_url}"] == {"": 250}

        hints = CountHints("openrouter", sb.base_url)
        hints.set(None, 5_000)  # too high: the short page 2 ends it
        hints.save()
        t = Recording()
        assert len(_list(_adapter(sb.base_url, sb.management_key, t))) == 250
        assert sorted({int(q["offset"]) for q in t.key_pages()})[:3] == [0, 100, 200]
        assert CountHints("openrouter", sb.base_url).get(None) == 250

        with sb.store.lock:
            for h in list(sb.store.keys)[:200]:
                sb.store.delete(h)
        assert len(_list(_adapter(sb.base_url, sb.management_key))) == 50
        assert CountHints("openrouter", sb.base_url).get(None) == 50


def test_the_count_is_kept_per_platform_and_not_when_asked_not_to():
    with Sandbox(seed_keys=3) as sb:
        _list(_adapter(sb.base_url, sb.management_key, remember_count=False))
        assert not (data_dir() / HINTS_FILE).exists()
        _list(_adapter(sb.base_url, sb.management_key))
        saved = _hint_file()
        assert saved == {f"openrouter {sb.base_url}": {"": 3}}
        assert sb.management_key not in (data_dir() / HINTS_FILE).read_text()


def test_an_unreadable_count_file_is_only_a_missing_hint():
    with Sandbox(seed_keys=150) as sb:
        path = data_dir() / HINTS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{not json")
        assert len(_list(_adapter(sb.base_url, sb.management_key))) == 150
        assert _hint_file() == {f"openrouter {sb.base_url}": {"": 150}}


def test_on_page_sees_every_key_once_in_order_before_the_listing_returns():
    with Sandbox(seed_keys=1050) as sb:
        batches: list[list[str]] = []
        keys = _list(_adapter(sb.base_url, sb.management_key), on_page=lambda ks: batches.append([k.id for k in ks]))
        assert len(batches) == 11  # ten full pages and the short one, each as it came in
        assert [i for b in batches for i in b] == [k.id for k in keys]


def test_on_page_through_the_core_names_the_platform():
    with Sandbox(seed_keys=120) as sb:
        cfg = PlatformConfig("openrouter", "openrouter", sb.base_url)
        seen: list[tuple[str, int]] = []
        listing = asyncio.run(list_all_keys([Configured(cfg, "env", sb.management_key)],
                                            on_page=lambda name, ks: seen.append((name, len(ks)))))
        assert not listing.errors and len(listing.keys) == 120
        assert seen == [("openrouter", 100), ("openrouter", 20)]


def test_every_workspace_is_listed_and_the_default_one_once():
    with Sandbox(workspaces=3, seed_keys=450) as sb:
        t = Recording()
        keys = _list(_adapter(sb.base_url, sb.management_key, t))
        with sb.store.lock:
            assert {k.id for k in keys} == set(sb.store.keys)
            default = sb.store.default_workspace_id
        assert len({k.workspace_id for k in keys}) == 3
        assert not [q for q in t.key_pages() if q.get("workspace_id") == default]
        hints = CountHints("openrouter", sb.base_url)
        assert hints.get(None) == sum(1 for k in keys if k.workspace_id == default)
        assert sum(hints.counts.values()) == 450


# ---------------------------------------------------------------- a server that holds replies


def _key(i: int) -> dict[str, Any]:
    return {"hash": f"{i:064x}", "name": f"k{i}", "label": "sk-or-v1-abc...", "disabled": False, "limit": 5,
            "limit_reset": "monthly", "limit_remaining": 5, "usage": 0, "usage_daily": 0, "usage_weekly": 0,
            "usage_monthly": 0, "created_at": "2026-11-01T00:00:00Z", "updated_at": None, "workspace_id": None}


class Held(ThreadingHTTPServer):
    """GET /keys serves `total` keys 100 a page; a page in `held` waits for `release` (10 s at most);
    a page in `failing` answers 500; GET /workspaces waits until a GET /keys came in (`overlap`), else
    answers 404. Every request is noted."""

    daemon_threads = True

    def __init__(self, total: int, *, held: set[int] = frozenset(), failing: set[int] = frozenset()):
        super().__init__(("127.0.0.1", 0), _Held)
        self.total, self.held, self.failing = total, held, failing
        self.release = threading.Event()
        self.keys_asked = threading.Event()
        self.overlap: bool | None = None
        self.offsets: list[int] = []
        self.answered: list[int] = []
        self.in_flight = 0  # GET /keys requests received and not yet answered
        self.most_in_flight = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v1"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a held reply written after the client gave up on it

    def __enter__(self) -> "Held":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()


class _Held(BaseHTTPRequestHandler):
    server: Held
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        srv = self.server
        if url.path.endswith("/workspaces"):
            srv.overlap = srv.keys_asked.wait(10)
            return self._send(404, {"error": {"message": "Not Found", "code": 404}})
        offset = int(parse_qs(url.query).get("offset", ["0"])[0])
        page = offset // 100
        with srv.lock:
            srv.offsets.append(offset)
            srv.in_flight += 1
            srv.most_in_flight = max(srv.most_in_flight, srv.in_flight)
        srv.keys_asked.set()
        if page in srv.held:
            srv.release.wait(10)
        with srv.lock:  # counted out before the reply is written: the client cannot have it yet
            srv.in_flight -= 1
        if page in srv.failing:
            return self._send(500, {"error": {"message": "boom", "code": 500}})
        with srv.lock:
            srv.answered.append(offset)
        self._send(200, {"data": [_key(i) for i in range(offset, min(srv.total, offset + 100))]})


def _remember(base_url: str, count: int) -> None:
    hints = CountHints("openrouter", base_url)
    hints.set(None, count)
    hints.save()


def test_the_default_workspace_is_paged_beside_get_workspaces():
    with Held(150) as srv:
        keys = _list(_adapter(srv.base_url, "sk-or-v1-" + "a" * 64, HttpTransport()))
        assert len(keys) == 150
        assert srv.overlap is True  # GET /keys arrived while GET /workspaces was still unanswered


def test_the_first_short_page_stops_the_launches():
    # The count says 5 000 keys, so 16 pages may go at once; a window of 4 asks pages 0-3. Page 2 is
    # short and answers first while pages 0 and 1 are held: the slots they free launch nothing more.
    with Held(250, held={0, 1}) as srv:
        _remember(srv.base_url, 5_000)
        p = _adapter(srv.base_url, "sk-or-v1-" + "a" * 64, HttpTransport(), page_window=4)

        async def go():
            task = asyncio.ensure_future(p.list_keys())
            while 200 not in srv.answered:
                await asyncio.sleep(0.01)
            srv.release.set()
            try:
                return await task
            finally:
                await p.aclose()

        keys = asyncio.run(go())
        assert len(keys) == 250
        assert sorted(srv.offsets) == [0, 100, 200, 300]  # page 3 was in the first window; nothing after it


def test_a_page_failing_mid_window_fails_the_listing_and_cancels_the_rest():
    # Page 3 keeps failing; pages 5-15 are held until the test releases them, after the listing has failed.
    with Held(5_000, held=set(range(5, 16)), failing={3}) as srv:
        _remember(srv.base_url, 5_000)
        p = _adapter(srv.base_url, "sk-or-v1-" + "a" * 64, HttpTransport())

        async def go():
            try:
                with pytest.raises(ServerError, match="server error"):
                    await p.list_keys()
                assert not srv.release.is_set()  # it failed while pages 5-15 were still unanswered
                assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
            finally:
                srv.release.set()
                await p.aclose()

        asyncio.run(go())
        answered_before = [o for o in srv.answered if o < 500]  # pages 0-4 less the failing one
        assert len(answered_before) == 4
        # Never more than 16 pages in flight at once. (How many pages were asked, and how many were in flight
        # together, depend on how soon page 3 fails: the pages past the held ones answer at once.)
        assert srv.most_in_flight <= 16, srv.most_in_flight
        assert CountHints("openrouter", srv.base_url).get(None) == 5_000  # a failed listing changes nothing


def test_one_key_more_than_remembered_is_listed():
    with Sandbox(seed_keys=300) as sb:
        first = Recording()
        _list(_adapter(sb.base_url, sb.management_key, first))
        sb.add_key("late", limit=Decimal(1))  # shifts every page by one for the next listing
        keys = _list(_adapter(sb.base_url, sb.management_key))
        assert len(keys) == 301 and len({k.id for k in keys}) == 301
