"""The one HTTP transport (capit_tui/platforms/transport.py) against raw loopback servers that misbehave on
purpose: kept-alive connections reused and let go, replies over the bound, a server trickling its headers, a
reset, a refused port, proxies from the environment, and a request hanging when the program ends."""

from __future__ import annotations

import asyncio
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from capit_tui.platforms.transport import (
    ConnectFailed,
    Dropped,
    HttpTransport,
    Request,
    TimedOut,
    Timeout,
    TooLarge,
)
from capit_tui.platforms.workers import fetch

Handler = Callable[[socket.socket, "RawServer"], None]


class RawServer:
    """A TCP server on 127.0.0.1 running `handler(conn, server)` per connection, in threads."""

    def __init__(self, handler: Handler):
        self.handler = handler
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self.requests: list[bytes] = []
        self._open: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.handler(conn, self)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        """Stop, and end every connection's thread (a test's leftover threads could take its signals)."""
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() (closing alone does not, on Linux)
        except OSError:
            pass
        self.sock.close()
        for conn in self._open:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def read_request(conn: socket.socket, server: RawServer) -> bytes:
    """One request's head and body (Content-Length), recorded; b'' when the client closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        body += conn.recv(65536)
    server.requests.append(head)
    return head


def reply(body: bytes, *, status: str = "200 OK", close: bool = False) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
            + extra + b"\r\n" + body)


def keep_alive(conn: socket.socket, server: RawServer) -> None:
    while read_request(conn, server):
        conn.sendall(reply(b'{"ok": true}'))


@pytest.fixture
def serve():
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def get(t: HttpTransport, url: str, **kw) -> object:
    return t.handle(Request("GET", url, **kw))


def test_a_kept_alive_connection_carries_the_next_requests(serve):
    srv = serve(keep_alive)
    t = HttpTransport()
    for _ in range(5):
        r = t.handle(Request.build("GET", srv.url, "/keys", params={"offset": 0, "include_disabled": True}))
        assert r.status_code == 200 and r.json() == {"ok": True}
    assert srv.connections == 1
    assert srv.requests[0].startswith(b"GET /keys?offset=0&include_disabled=true HTTP/1.1")
    assert b"Accept-Encoding: identity" in srv.requests[0]  # nothing compressed: the size bound is the real size
    t.close()


def test_a_connection_the_server_let_go_is_replaced_without_an_error(serve):
    def one_then_close(conn, server):
        if read_request(conn, server):
            conn.sendall(reply(b"{}"))
        time.sleep(0.05)  # then the server drops the idle connection, as servers do after their keep-alive time

    srv = serve(one_then_close)
    t = HttpTransport()
    assert get(t, srv.url + "/a").status_code == 200
    time.sleep(0.2)
    assert get(t, srv.url + "/b").status_code == 200
    assert srv.connections == 2
    t.close()


def test_a_reply_over_the_bound_is_refused_and_its_connection_dropped(serve):
    def big(conn, server):
        while read_request(conn, server):
            conn.sendall(reply(b"x" * 5000))

    srv = serve(big)
    t = HttpTransport()
    with pytest.raises(TooLarge):
        get(t, srv.url + "/", limit=4096)
    assert get(t, srv.url + "/", limit=8192).content == b"x" * 5000
    assert srv.connections == 2  # the refused reply's connection was not kept half-read


def test_a_chunked_reply_without_length_is_bounded_too(serve):
    def chunked(conn, server):
        read_request(conn, server)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(100):
            conn.sendall(b"400\r\n" + b"y" * 1024 + b"\r\n")
        conn.sendall(b"0\r\n\r\n")

    srv = serve(chunked)
    with pytest.raises(TooLarge):
        get(HttpTransport(), srv.url + "/", limit=50_000)
    assert len(get(HttpTransport(), srv.url + "/").content) == 102_400


def test_a_server_trickling_its_headers_is_cut_off_at_the_deadline(serve):
    def trickle(conn, server):
        read_request(conn, server)
        for ch in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
            conn.sendall(bytes([ch]))
            time.sleep(0.05)  # every byte well within the read timeout, the whole far past the deadline

    srv = serve(trickle)
    t = HttpTransport()

    async def go():
        request = Request("GET", srv.url + "/", timeout=Timeout(connect=1, read=1), deadline=time.monotonic() + 0.6)
        started = time.monotonic()
        with pytest.raises(TimedOut) as caught:
            await fetch(t, request)
        return time.monotonic() - started, caught.value

    took, exc = asyncio.run(go())
    assert took < 1.5 and exc.sent


def test_the_event_loop_runs_while_a_request_waits(serve):
    def slow(conn, server):
        read_request(conn, server)
        time.sleep(0.5)
        conn.sendall(reply(b"{}"))

    srv = serve(slow)
    t = HttpTransport()

    async def go():
        ticks = 0

        async def tick():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        r = await fetch(t, Request("GET", srv.url + "/"))
        ticker.cancel()
        return r, ticks

    r, ticks = asyncio.run(go())
    assert r.status_code == 200 and ticks >= 20


def test_a_refused_port_is_a_connect_failure_that_sent_nothing():
    s = socket.create_server(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ConnectFailed) as caught:
        get(HttpTransport(), f"http://127.0.0.1:{port}/")
    assert caught.value.sent is False and "refused" in caught.value.reason


def test_a_reset_before_the_reply_may_have_been_acted_on(serve):
    def reset(conn, server):
        read_request(conn, server)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()

    srv = serve(reset)
    with pytest.raises(Dropped) as caught:
        HttpTransport().handle(Request.build("POST", srv.url, "/keys", json={"name": "x"}))
    assert caught.value.sent is True  # a create may have happened: the adapter looks for it
    assert caught.value.reason in ("the connection was reset", "the connection was dropped")


def test_an_http_origin_goes_through_the_environments_proxy_and_no_proxy_is_honoured(serve, monkeypatch):
    srv = serve(keep_alive)
    monkeypatch.setenv("HTTP_PROXY", f"http://user:pa%20ss@127.0.0.1:{srv.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert get(HttpTransport(), "http://gw.capit.test/api/v1/keys").status_code == 200
    head = srv.requests[-1].decode()
    assert head.startswith("GET http://gw.capit.test:80/api/v1/keys HTTP/1.1")
    assert "Proxy-Authorization: Basic dXNlcjpwYSBzcw==" in head  # user:pa ss
    monkeypatch.setenv("NO_PROXY", "gw.capit.test")
    with pytest.raises(ConnectFailed):  # straight to the name, which never resolves
        get(HttpTransport(), "http://gw.capit.test/api/v1/keys")
    assert len(srv.requests) == 1


def test_an_https_origin_is_tunnelled_through_the_proxy_with_connect(serve, monkeypatch):
    def refuse_connect(conn, server):
        read_request(conn, server)
        conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    srv = serve(refuse_connect)
    monkeypatch.setenv("HTTPS_PROXY", f"127.0.0.1:{srv.port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConnectFailed) as caught:
        get(HttpTransport(), "https://gw.capit.test/api/v1/keys")
    assert caught.value.reason == "the proxy refused the connection" and caught.value.sent is False
    assert srv.requests[0].startswith(b"CONNECT gw.capit.test:443 HTTP/1.")


def test_loopback_is_never_proxied(serve, monkeypatch):
    srv = serve(keep_alive)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    assert get(HttpTransport(), srv.url + "/").status_code == 200


def test_a_request_hanging_when_the_command_ends_does_not_hold_the_process(serve):
    def never(conn, server):
        read_request(conn, server)
        conn.recv(1)  # until the client goes, or the server closes

    srv = serve(never)
    probe = ("import asyncio, sys\n"
             "from capit_tui.platforms.transport import HttpTransport, Request\n"
             "from capit_tui.platforms.workers import fetch\n"
             "async def main():\n"
             f"    task = asyncio.create_task(fetch(HttpTransport(), Request('GET', '{srv.url}/')))\n"
             "    await asyncio.sleep(0.3)\n"
             "    task.cancel()\n"
             "asyncio.run(main())\n"
             "print('ended')\n")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=20,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 0 and proc.stdout == "ended\n", proc.stderr
    assert proc.stderr == ""
    assert time.monotonic() - started < 10  # not the server's 30 s, nor the 15 s read timeout


def test_worker_threads_leave_signals_to_the_main_thread(serve):
    """A main thread holding Ctrl-C for a moment (pthread_sigmask, as cli/parser.py does) holds it even while
    requests run: the kernel cannot hand the signal to a worker instead. (In a child process: the servers'
    threads here would take it.)"""
    srv = serve(keep_alive)
    probe = ("import asyncio, os, signal, time\n"
             "from capit_tui.platforms.transport import HttpTransport, Request\n"
             "from capit_tui.platforms.workers import fetch\n"
             "async def some():\n"
             f"    await asyncio.gather(*(fetch(HttpTransport(), Request('GET', '{srv.url}/')) for _ in range(4)))\n"
             "asyncio.run(some())\n"
             "got = []\n"
             "signal.signal(signal.SIGUSR1, lambda *_: got.append(1))\n"
             "before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})\n"
             "os.kill(os.getpid(), signal.SIGUSR1)\n"
             "time.sleep(0.1)\n"
             "held = list(got)\n"
             "signal.pthread_sigmask(signal.SIG_SETMASK, before)\n"
             "time.sleep(0.01)\n"
             "print(held, got)\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[] [1]\n"  # held while blocked, delivered once unblocked


def test_a_reply_orjson_refuses_is_read_as_the_standard_library_reads_it():
    from capit_tui.platforms.transport import Reply

    odd = Reply(200, content=b'{"limit": NaN, "big": 100000000000000000000, "s": "\\ud800"}').json()
    assert math.isnan(odd["limit"]) and odd["big"] == 10**20 and odd["s"] == "\ud800"
    assert Reply(200, content=b'{"data": [1, 2.5, "x"]}').json() == {"data": [1, 2.5, "x"]}
    with pytest.raises(ValueError):
        Reply(200, content=b"<html>502</html>").json()
