"""`capit-tui watch` run as a subprocess against the loopback sandbox: --once exit codes, --json lines,
--exec's environment, a webhook to a loopback receiver, usage errors, Ctrl-C. Keys here have caps that
never reset, so no test depends on where the real clock is in its day."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_cli import cli, on

from capit_tui.sandbox import Sandbox


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


def lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.strip()]


def test_once_exits_0_below_every_threshold_and_3_at_one_said_once(sandbox):
    _, h = sandbox.add_key("ci-bot", limit=Decimal(10), reset=None, spend="4")
    p = cli("watch", "--once", env=on(sandbox))
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    sandbox.spend(h, "4.5")  # 85%
    p = cli("watch", "--once", env=on(sandbox))
    assert p.returncode == 3, p.stderr
    (line,) = lines(p.stdout)
    assert "  threshold  " in line and "'ci-bot' on openrouter passed 80% of its $10.00 cap" in line
    assert "$8.50 spent (85.0%)" in line and "1 key at or past 50% of the cap" in p.stderr
    p = cli("watch", "--once", env=on(sandbox))  # a restart: the crossing is remembered, the state still 3
    assert p.returncode == 3 and p.stdout == ""
    sandbox.spend(h, "2")
    p = cli("watch", "--once", env=on(sandbox))
    assert p.returncode == 3 and "  capped  " in p.stdout and "until its cap is raised" in p.stdout
    assert oct((Path(os.environ["XDG_DATA_HOME"]) / "capit-tui" / "watch-state.json").stat().st_mode)[-3:] == "600"


def test_json_lines_one_object_per_event_and_platform_text_cleaned(sandbox):
    sandbox.add_key("\x1b[31mred", limit=Decimal(1), reset=None, spend="0.6")
    sandbox.add_key("expiring", limit=Decimal(5), reset=None, expires_at=datetime.now(timezone.utc) + timedelta(days=3))
    sandbox.add_key("quiet", limit=Decimal(5), reset=None)
    p = cli("watch", "--once", "--json", env=on(sandbox))
    assert p.returncode == 3, p.stderr
    events = [json.loads(line) for line in lines(p.stdout)]
    assert sorted(e["event"] for e in events) == ["expiring", "threshold"]
    red = next(e for e in events if e["event"] == "threshold")
    assert red["key_name"] == "?[31mred" and red["percent"] == 60 and red["threshold"] == 50 and red["limit"] == 1
    assert red["spent"] == 0.6 and len(red["key_hash"]) == 64 and red["platform"] == "openrouter"
    exp = next(e for e in events if e["event"] == "expiring")
    assert exp["key_name"] == "expiring" and ("in 2 days" in exp["message"] or "in 3 days" in exp["message"])
    assert "\x1b" not in p.stdout and "\x1b" not in p.stderr


def test_exec_gets_the_event_in_its_environment_and_never_a_secret(sandbox, tmp_path):
    secret, h = sandbox.add_key("ci-bot", limit=Decimal(10), reset=None, spend="9")
    script = tmp_path / "hook.py"
    script.write_text("import json, os, sys\n"
                      "with open(sys.argv[1], 'a') as f: f.write(json.dumps(dict(os.environ)) + '\\n')\n"
                      "print('hook says hi')\n")
    envfile = tmp_path / "env.jsonl"
    p = cli("watch", "--once", "--exec", f"{sys.executable} {script} {envfile}", env=on(sandbox))
    assert p.returncode == 3, p.stderr
    (env,) = [json.loads(line) for line in envfile.read_text().splitlines()]
    assert env["CAPIT_EVENT"] == "threshold" and env["CAPIT_KEY_NAME"] == "ci-bot" and env["CAPIT_KEY_HASH"] == h
    assert env["CAPIT_PLATFORM"] == "openrouter" and env["CAPIT_PERCENT"] == "90.0"
    assert env["CAPIT_SPENT"] == "9.00" and env["CAPIT_LIMIT"] == "10.00" and env["CAPIT_THRESHOLD"] == "80"
    assert "passed 80%" in env["CAPIT_MESSAGE"]
    text = envfile.read_text()
    assert sandbox.management_key not in text and secret not in text and "MANAGEMENT_KEY" not in text
    assert "hook says hi" in p.stderr and "hook says hi" not in p.stdout  # stdout stays events


def test_exec_with_shell_syntax_runs_in_a_shell_and_a_failing_hook_is_reported_not_fatal(sandbox, tmp_path):
    sandbox.add_key("ci-bot", limit=Decimal(10), reset=None, spend="9")
    out = tmp_path / "events.txt"
    p = cli("watch", "--once", "--exec", f'echo "$CAPIT_EVENT $CAPIT_KEY_NAME" >> {out}; exit 5', env=on(sandbox))
    assert p.returncode == 3
    assert out.read_text() == "threshold ci-bot\n"
    assert "--exec exited with status 5 for the threshold event" in p.stderr
    sandbox.spend(next(iter(sandbox.keys)), "1")
    p = cli("watch", "--once", "--exec", "/no/such/program --flag", env=on(sandbox))
    assert p.returncode == 3 and "--exec could not run /no/such/program" in p.stderr and "  capped  " in p.stdout


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[dict] = []
    status = 200

    def do_POST(self):  # noqa: N802
        n = int(self.headers.get("Content-Length", 0))
        type(self).bodies.append(json.loads(self.rfile.read(n)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.bodies = []
    _Receiver.status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_webhook_posts_slack_text_and_the_event_to_a_loopback_receiver(sandbox, receiver):
    sandbox.add_key("<!channel>", limit=Decimal(2), reset=None, spend="2")
    url = f"http://127.0.0.1:{receiver.server_address[1]}/services/T0/B0/sekrit"
    p = cli("watch", "--once", "--webhook", url, env=on(sandbox))
    assert p.returncode == 3, p.stderr
    (body,) = _Receiver.bodies
    assert body["text"].startswith("capit-tui: '&lt;!channel&gt;' on openrouter reached its $2.00 cap")
    assert body["event"]["event"] == "capped" and body["event"]["key_name"] == "<!channel>"
    assert sandbox.management_key not in json.dumps(body)


def test_a_failing_webhook_is_reported_without_its_url_and_watch_goes_on(sandbox, receiver):
    sandbox.add_key("ci-bot", limit=Decimal(10), reset=None, spend="9")
    _Receiver.status = 500
    url = f"http://127.0.0.1:{receiver.server_address[1]}/services/sekrit"
    p = cli("watch", "--once", "--webhook", url, env=on(sandbox))
    assert p.returncode == 3 and "The webhook at 127.0.0.1 answered 500 to the threshold event" in p.stderr
    assert "sekrit" not in p.stderr and "  threshold  " in p.stdout
    closed = "http://127.0.0.1:9/services/sekrit"  # nothing listens on the discard port
    sandbox.spend(next(iter(sandbox.keys)), "1")
    p = cli("watch", "--once", "--webhook", closed, env=on(sandbox))
    assert p.returncode == 3 and "The webhook at 127.0.0.1 could not be reached" in p.stderr
    assert "sekrit" not in p.stderr


@pytest.mark.parametrize("args", [["--at", "abc"], ["--at", "0"], ["--at", "150"], ["--at", ""], ["--at", "50,x"],
                                  ["--interval", "1"], ["--interval", "soon"],
                                  ["--webhook", "http://hooks.example.com/services/sekrit"],
                                  ["--webhook", "ftp://x/y"], ["--exec", "  "]])
def test_bad_options_are_usage_errors(sandbox, args):
    p = cli("watch", "--once", *args, env=on(sandbox))
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("capit-tui: ") and len(p.stderr.strip().splitlines()) == 1
    assert "sekrit" not in p.stderr and p.stdout == "" and not (Path(os.environ["XDG_DATA_HOME"]) / "capit-tui" / "watch-state.json").exists()


def test_a_failing_platform_is_said_exits_1_and_its_recovery_is_said(sandbox):
    sandbox.add_key("ci-bot", limit=Decimal(10), reset=None, spend="1")
    sandbox.inject_fault("GET /api/v1/keys*", 401, times=100)
    p = cli("watch", "--once", env=on(sandbox))
    assert p.returncode == 1, p.stderr
    (line,) = lines(p.stdout)
    assert "  platform-failed  Could not check openrouter:" in line and sandbox.management_key not in p.stdout
    assert "Could not check openrouter, so it is not known" in p.stderr
    assert cli("watch", "--once", env=on(sandbox)).stdout == ""  # still failing: not said again
    sandbox.clear_faults()
    p = cli("watch", "--once", env=on(sandbox))
    assert p.returncode == 0 and "  platform-recovered  openrouter answers again." in p.stdout


def test_ctrl_c_stops_the_loop_in_one_sentence(sandbox):
    sandbox.add_key("ci-bot", limit=Decimal(10), reset=None, spend="9")
    proc = subprocess.Popen([sys.executable, "-m", "capit_tui", "watch", "--interval", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **on(sandbox)})
    try:
        first = proc.stdout.readline()  # the first poll's event: the loop is running
        assert "  threshold  " in first
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "capit-tui: Interrupted. Stopped watching; what was said is remembered."


def test_a_hook_that_runs_too_long_is_stopped_with_its_children(capsys, tmp_path):
    """The bound on --exec (30 s in use; half a second here), killing the hook's whole process group."""
    import asyncio

    from capit_tui.cli.watch import run_hook
    from capit_tui.core.model import CappedKey
    from capit_tui.core.watch import Event

    marker = tmp_path / "child-survived"
    event = Event("capped", "openrouter", datetime.now(timezone.utc), CappedKey("openrouter", "h1", "ci-bot"))
    started = time.monotonic()
    code = asyncio.run(run_hook(f"sleep 5 & sleep 5; touch {marker}", event, "text", [], timeout=0.5))
    assert code is None and time.monotonic() - started < 4
    assert "--exec took longer than 0.5 s for the capped event and was stopped." in capsys.readouterr().err
    time.sleep(0.2)
    assert not marker.exists()


def test_every_poll_records_a_spend_sample_per_key_in_the_history(sandbox):
    from capit_tui.core.history import History

    _, h = sandbox.add_key("ci-bot", limit=Decimal(10), reset=None, spend="1")
    db = Path(os.environ["XDG_DATA_HOME"]) / "capit-tui" / "history.sqlite3"

    def spent() -> list[Decimal]:
        history = History(db)
        try:
            return [s.spent for s in history.samples("openrouter", h)]
        finally:
            history.close()

    assert cli("watch", "--once", env=on(sandbox)).returncode == 0
    assert spent() == [Decimal(1)]
    sandbox.spend(h, "2")
    assert cli("watch", "--once", env=on(sandbox)).returncode == 0
    assert spent()[-1] == Decimal(3)  # (two polls in one second keep the later sample)
    assert oct(db.stat().st_mode)[-3:] == "600"
