"""The sandbox's own admin API under `/_sandbox` (management key only), for tests that drive a sandbox
in another process: arm and clear faults, read and clear the request log, make keys, charge spend,
and set or advance the clock. Its calls are not recorded in the request log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from capit_tui.core.model import iso, parse_time
from capit_tui.sandbox.auth import is_management
from capit_tui.sandbox.wire import ADMIN_PREFIX, MSG_MISSING_AUTH, Bad, Request, Resp, error, int_param, json_resp

if TYPE_CHECKING:
    from capit_tui.sandbox.server import Sandbox


def admin(sb: Sandbox, req: Request) -> Resp:
    if not req.token:
        return error(401, MSG_MISSING_AUTH)
    if not is_management(sb, req.token):
        return error(401, "The sandbox admin API needs the management key")
    rel = req.path[len(ADMIN_PREFIX):].rstrip("/")
    if req.method in ("POST", "PATCH") and (req.bad_json or not isinstance(req.body, dict)):
        return error(400, "Request body must be a JSON object")
    handler = _ROUTES.get((req.method, rel))
    if handler is None:
        return error(404, "Not Found")
    try:
        return handler(sb, req)
    except (Bad, ValueError, TypeError, ArithmeticError) as exc:
        return error(400, str(exc))


def _arm_fault(sb: Sandbox, req: Request) -> Resp:
    body = req.body
    sb.inject_fault(str(body.get("route", "* *")), str(body.get("kind", "")),
                    times=int(body.get("times", 1)), after=int(body.get("after", 0)),
                    retry_after=float(body.get("retry_after", 1.0)),
                    stall_seconds=float(body.get("stall_seconds", 30.0)))
    return json_resp(201, {"ok": True, "faults": len(sb.faults)})


def _clear_faults(sb: Sandbox, req: Request) -> Resp:
    return json_resp(200, {"ok": True, "cleared": sb.faults.clear()})


def _list_faults(sb: Sandbox, req: Request) -> Resp:
    return json_resp(200, sb.faults.to_json())


def _list_requests(sb: Sandbox, req: Request) -> Resp:
    since = int_param(req.query.get("since"), "since", default=0, minimum=0)
    with sb.store.lock:
        return json_resp(200, [r.to_json() for r in sb.requests[since:]])


def _clear_requests(sb: Sandbox, req: Request) -> Resp:
    with sb.store.lock:
        sb.requests.clear()
        sb.inference_calls.clear()
    return json_resp(200, {"ok": True})


def _spend(sb: Sandbox, req: Request) -> Resp:
    key_hash = req.body.get("hash")
    with sb.store.lock:
        if key_hash not in sb.store.keys:
            return error(404, "Key not found")
        sb.spend(key_hash, req.body.get("amount", 0))
        return json_resp(200, {"data": sb.store.keys[key_hash].to_api(sb.store.now())})


def _add_key(sb: Sandbox, req: Request) -> Resp:
    body = req.body
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise Bad("name is required")
    secret, key_hash = sb.add_key(
        name, limit=body.get("limit"), reset=body.get("reset", body.get("limit_reset")),
        disabled=bool(body.get("disabled", False)), workspace_id=body.get("workspace_id"),
        spend=body.get("spend", 0))
    with sb.store.lock:
        data = sb.store.keys[key_hash].to_api(sb.store.now())
    return json_resp(201, {"secret": secret, "hash": key_hash, "data": data})


def _set_clock(sb: Sandbox, req: Request) -> Resp:
    body = req.body
    if body.get("now") is not None:
        fixed = parse_time(body["now"])
        if fixed is None:
            raise Bad("now must be an ISO 8601 time")
        sb.set_clock(lambda: fixed)
    elif body.get("advance") is not None:
        delta = timedelta(seconds=float(body["advance"]))
        base = sb.store.clock
        sb.set_clock(lambda: base() + delta)
    else:
        sb.set_clock(None)
    return json_resp(200, {"now": iso(sb.store.now())})


_ROUTES: dict[tuple[str, str], Callable[[Sandbox, Request], Resp]] = {
    ("POST", "/faults"): _arm_fault,
    ("DELETE", "/faults"): _clear_faults,
    ("GET", "/faults"): _list_faults,
    ("GET", "/requests"): _list_requests,
    ("DELETE", "/requests"): _clear_requests,
    ("POST", "/spend"): _spend,
    ("POST", "/keys"): _add_key,
    ("POST", "/clock"): _set_clock,
}
