"""The sandbox as a server: latency without serialising requests, the /_sandbox admin API, the request
log (secrets masked), the Date header from the clock, silence, clean stops, and serve()."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sandbox_support import CHAT, SECRET_RE, T0, Clock, client

from capit_tui.sandbox import Sandbox, serve

# ---------------------------------------------------------------- latency


def test_latency_is_applied_without_serialising_requests(clock: Clock) -> None:
    with Sandbox(clock=clock, latency_ms=300) as sb, client(sb, sb.management_key) as m:
        t = time.monotonic()
        assert m.get("/key").status_code == 200
        assert time.monotonic() - t >= 0.3
        clients = [client(sb, sb.management_key) for _ in range(6)]
        results: list[int] = []
        threads = [threading.Thread(target=lambda c=c: results.append(c.get("/key").status_code))
                   for c in clients]
        t = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.monotonic() - t
        for c in clients:
            c.close()
        assert results == [200] * 6
        assert 0.3 <= elapsed < 1.2  # 6 x 300 ms one after another would take 1.8 s
        # Admin calls are not slowed down (latency_ms is read on every request).
        sb.latency_ms = 2000
        t = time.monotonic()
        assert m.get(sb.origin + "/_sandbox/requests").status_code == 200
        assert time.monotonic() - t < 1.5

# ---------------------------------------------------------------- admin API, recording, lifecycle


def test_admin_endpoints(sb: Sandbox) -> None:
    with client(sb, sb.management_key) as m, httpx.Client(base_url=sb.origin, trust_env=False,
                                                          headers={"Authorization": f"Bearer {sb.management_key}"}) as admin:
        r = admin.post("/_sandbox/keys", json={"name": "from-admin", "limit": 2, "reset": "weekly", "spend": 0.5})
        assert r.status_code == 201
        secret, h = r.json()["secret"], r.json()["hash"]
        assert SECRET_RE.match(secret) and h == hashlib.sha256(secret.encode()).hexdigest()
        assert r.json()["data"]["limit_remaining"] == 1.5
        r = admin.post("/_sandbox/spend", json={"hash": h, "amount": "0.25"})
        assert r.status_code == 200 and r.json()["data"]["usage_weekly"] == 0.75
        assert admin.post("/_sandbox/spend", json={"hash": "nope", "amount": 1}).status_code == 404

        assert admin.post("/_sandbox/faults", json={"route": "GET /api/v1/keys", "kind": "429",
                                                    "times": 1, "after": 0, "retry_after": 3}).status_code == 201
        r = m.get("/keys")
        assert r.status_code == 429 and r.headers["retry-after"] == "3"
        admin.post("/_sandbox/faults", json={"route": "GET /api/v1/keys", "kind": "500", "times": 5})
        assert admin.delete("/_sandbox/faults").json()["cleared"] == 1
        assert m.get("/keys").status_code == 200
        assert admin.post("/_sandbox/faults", json={"route": "GET /x", "kind": "boom"}).status_code == 400

        with client(sb, secret) as k:
            k.post("/chat/completions", json=CHAT)
        recorded = admin.get("/_sandbox/requests")
        assert recorded.status_code == 200
        assert secret not in recorded.text and sb.management_key not in recorded.text
        rows = recorded.json()
        assert [(r["method"], r["path"], r["status"]) for r in rows] == [
            ("GET", "/api/v1/keys", 429), ("GET", "/api/v1/keys", 200), ("POST", "/api/v1/chat/completions", 200)]
        assert rows[-1]["headers"]["authorization"] == h == rows[-1]["key_hash"]
        assert rows[0]["headers"]["authorization"] == sb.management_key_hash
        assert rows[-1]["json"] == CHAT
        assert len(admin.get("/_sandbox/requests", params={"since": "2"}).json()) == 1

        r = admin.post("/_sandbox/clock", json={"advance": 86400})
        assert r.json()["now"] == "2026-11-30T23:30:00Z"
        assert sb.keys[h]["usage_daily"] == 0

        with client(sb, secret) as k:
            assert httpx.get(sb.origin + "/_sandbox/requests", trust_env=False).status_code == 401
            assert k.get(sb.origin + "/_sandbox/requests").status_code == 401


def test_recorded_requests_keep_details_but_repr_masks_secrets(sb: Sandbox) -> None:
    secret, h = sb.add_key("r")
    with client(sb, sb.management_key) as m:
        m.get("/keys", params={"include_disabled": "true", "offset": "0"})
        m.patch(f"/keys/{h}", json={"name": "renamed"})
    with client(sb, secret) as k:
        k.post("/chat/completions", json=CHAT)
    first, patch, chat = sb.requests
    assert first.query == {"include_disabled": "true", "offset": "0"} and first.json is None
    assert first.headers["authorization"] == f"Bearer {sb.management_key}"
    assert patch.method == "PATCH" and patch.json == {"name": "renamed"} and patch.status == 200
    assert chat.key_hash == h and chat.headers["authorization"] == f"Bearer {secret}"
    assert secret not in repr(chat) and sb.management_key not in repr(first)
    assert first.at == T0


def test_injected_clock_drives_timestamps_and_date_header(sb: Sandbox, clock: Clock) -> None:
    with client(sb, sb.management_key) as m:
        r = m.get("/key")
    assert r.headers["date"] == "Sun, 29 Nov 2026 23:30:00 GMT"


def test_server_prints_nothing_and_stop_closes_connections(capfd: pytest.CaptureFixture[str], clock: Clock) -> None:
    sb = Sandbox(clock=clock, seed_keys=5).start()
    secret, _ = sb.add_key("quiet")
    c = client(sb, sb.management_key)
    assert c.get("/keys").status_code == 200
    with client(sb, secret) as k:
        k.post("/chat/completions", json=CHAT)
        k.post("/chat/completions", content=b"not json")
    sb.stop()
    with pytest.raises(httpx.TransportError):
        c.get("/keys")  # the pooled keep-alive connection was closed too
    c.close()
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert not sb.running
    sb.stop()  # idempotent


def test_serve_prints_environment_and_stops_on_interrupt(tmp_path: Path) -> None:
    code = ("import sys; from capit_tui.sandbox import serve; "
            "sys.exit(serve(port=0, seed_keys=3))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=os.environ.copy())
    try:
        lines = []
        assert proc.stdout is not None
        while not any(line.startswith("export CAPIT_OPENROUTER_MANAGEMENT_KEY=") for line in lines):
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            lines.append(line.strip())
        env = dict(line[len("export "):].split("=", 1) for line in lines if line.startswith("export "))
        base = env["CAPIT_OPENROUTER_BASE_URL"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1", base)
        r = httpx.get(base + "/keys", trust_env=False,
                      headers={"Authorization": f"Bearer {env['CAPIT_OPENROUTER_MANAGEMENT_KEY']}"})
        assert r.status_code == 200 and len(r.json()["data"]) >= 1
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


def test_serve_writes_to_the_given_stream(clock: Clock) -> None:
    """serve() in a thread, stopped by a KeyboardInterrupt raised from its own sleep loop."""
    import io

    class Out(io.StringIO):
        def write(self, s: str) -> int:
            n = super().write(s)
            if "Press Ctrl-C" in s:
                raise KeyboardInterrupt  # as if Ctrl-C arrived right after the banner
            return n

    out = Out()
    assert serve(port=0, seed_keys=0, out=out) == 0
    text = out.getvalue()
    assert "export CAPIT_OPENROUTER_BASE_URL=http://127.0.0.1:" in text
    assert "export CAPIT_OPENROUTER_MANAGEMENT_KEY=sk-or-v1-" in text
    assert text.rstrip().endswith("capit-tui sandbox stopped.")
