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


# ---------------------------------------------------------------- pooled budgets (--pool, --enforce)
# The sandbox's clock is fixed at the test's start; moving it a day on resets every key's daily spend, which
# watch sees as the pool's window resetting (the platform reset before our clock said so).


@pytest.fixture
def pooled(sandbox):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    sandbox.set_clock(lambda: now)
    keys = {name: sandbox.add_key(name, limit=Decimal(100), reset="daily", spend=spend)[1]
            for name, spend in (("capit-a", "5"), ("capit-b", "4"), ("other", "30"))}
    keys["capit-off"] = sandbox.add_key("capit-off", limit=Decimal(100), reset="daily", disabled=True)[1]
    sandbox.next_day = lambda: sandbox.set_clock(lambda: now + timedelta(days=1))
    return keys


POOL = ("--pool", "daily:10", "--pool-match", "capit-*")


def disabled_names(sb) -> set[str]:
    return {k["name"] for k in sb.keys.values() if k["disabled"]}


def test_pool_events_once_per_crossing_with_the_pool_in_exec_and_once_exit_3(sandbox, pooled, tmp_path):
    p = cli("watch", "--once", "--pool", "daily:20", "--pool-match", "capit-*", env=on(sandbox))
    assert p.returncode == 0, p.stderr  # $9 of $20: 45%, below the pool's default 80%
    assert p.stdout == ""
    sandbox.spend(pooled["capit-b"], "8")  # $17: 85%
    envfile = tmp_path / "env.jsonl"
    script = tmp_path / "hook.py"
    script.write_text("import json, os, sys\n"
                      "with open(sys.argv[1], 'a') as f: f.write(json.dumps(dict(os.environ)) + '\\n')\n")
    p = cli("watch", "--once", "--pool", "daily:20", "--pool-match", "capit-*", "--exec",
            f"{sys.executable} {script} {envfile}", env=on(sandbox))
    assert p.returncode == 3, p.stderr
    (line,) = lines(p.stdout)
    assert "  pool-threshold  The daily pool (keys matching 'capit-*') passed 80%: $17.00 of $20.00 spent " \
           "(85.0%) across 3 keys." in line
    assert "1 pooled budget at or past a threshold: daily (85.0% of $20.00)" in p.stderr
    (env,) = [json.loads(x) for x in envfile.read_text().splitlines()]
    assert (env["CAPIT_EVENT"], env["CAPIT_POOL"], env["CAPIT_PERCENT"], env["CAPIT_SPENT"], env["CAPIT_LIMIT"],
            env["CAPIT_THRESHOLD"], env["CAPIT_POOL_KEYS"], env["CAPIT_KEY_NAME"]) == \
        ("pool-threshold", "daily", "85.0", "17.00", "20.00", "80", "3", "")
    p = cli("watch", "--once", "--json", "--pool", "daily:20", "--pool-match", "capit-*", env=on(sandbox))
    assert p.returncode == 3 and p.stdout == ""  # a restart: said once per crossing, still at a threshold
    sandbox.spend(pooled["capit-a"], "4")  # $21: past the pool, nothing enforced without --enforce
    p = cli("watch", "--once", "--json", "--pool", "daily:20", "--pool-match", "capit-*", env=on(sandbox))
    (event,) = [json.loads(x) for x in lines(p.stdout)]
    assert p.returncode == 3 and event["event"] == "pool-capped" and event["pool"] == "daily"
    assert (event["spent"], event["limit"], event["percent"], event["pool_keys"]) == (21, 20, 105, 3)
    assert "watch --enforce would disable them" in event["message"]
    assert disabled_names(sandbox) == {"capit-off"}


def test_a_pool_whose_match_pools_no_key_is_said_not_silently_counted_as_zero(sandbox, pooled):
    """A typo in --pool-match ('capit*-') pools nothing: the budget can never trip, so --enforce would enforce
    nothing while saying it enforces. watch says so on stderr (once per run), and still exits as the keys say."""
    p = cli("watch", "--once", "--pool", "daily:1", "--pool-match", "capit*-", "--enforce", env=on(sandbox))
    assert p.returncode == 0, p.stderr
    assert "The daily pool (keys matching 'capit*-') pools no key: no key's name matches 'capit*-'" in p.stderr
    p = cli("watch", "--once", *POOL, env=on(sandbox))
    assert "pools no key" not in p.stderr


def test_enforce_disables_the_pooled_keys_once_and_reenables_them_once_at_the_reset(sandbox, pooled):
    sandbox.spend(pooled["capit-a"], "1.5")  # $10.50 of $10
    p = cli("watch", "--once", *POOL, "--enforce", env=on(sandbox))
    assert p.returncode == 3, p.stderr
    kinds = [line.split()[1] for line in lines(p.stdout)]
    assert kinds == ["pool-capped", "pool-stopped"]
    assert "disabled 2 pooled keys at $10.50 of $10.00; capit-tui re-enables them when the daily window " \
           "resets" in p.stdout
    assert "Enforced by capit-tui polling" in p.stderr and "not by the platform" in p.stderr
    assert disabled_names(sandbox) == {"capit-a", "capit-b", "capit-off"}  # 'other' is not pooled
    stops = json.loads((Path(os.environ["XDG_DATA_HOME"]) / "capit-tui" / "stops.json").read_text())["stops"]
    assert sorted((s["name"], s["by"]) for s in stops) == [("capit-a", "pool:daily"), ("capit-b", "pool:daily")]
    p = cli("watch", "--once", *POOL, "--enforce", env=on(sandbox))
    assert p.returncode == 3 and p.stdout == ""  # once per window
    sandbox.next_day()
    p = cli("watch", "--once", *POOL, "--enforce", env=on(sandbox))
    assert p.returncode == 0, p.stderr
    assert [line.split()[1] for line in lines(p.stdout)] == ["pool-reset", "pool-released"]
    assert "re-enabled 2 keys it had disabled" in p.stdout
    assert disabled_names(sandbox) == {"capit-off"}  # disabled before the pool: stays so
    assert not (Path(os.environ["XDG_DATA_HOME"]) / "capit-tui" / "stops.json").exists()
    p = cli("watch", "--once", *POOL, "--enforce", env=on(sandbox))
    assert p.returncode == 0 and p.stdout == ""  # once


def test_a_manual_panic_in_between_is_not_undone_by_the_pool_nor_the_pool_by_panic_undo(sandbox, pooled):
    sandbox.spend(pooled["capit-a"], "2")
    assert cli("watch", "--once", *POOL, "--enforce", env=on(sandbox)).returncode == 3
    assert cli("panic", "--yes", env=on(sandbox)).returncode == 0
    assert disabled_names(sandbox) == {"capit-a", "capit-b", "capit-off", "other"}
    p = cli("panic", "--undo", "--yes", env=on(sandbox))  # the pool still holds its keys
    assert p.returncode == 0, p.stderr
    assert disabled_names(sandbox) == {"capit-a", "capit-b", "capit-off"}
    assert cli("panic", "--yes", env=on(sandbox)).returncode == 0  # stopped again, by hand
    sandbox.next_day()
    p = cli("watch", "--once", *POOL, "--enforce", env=on(sandbox))
    assert p.returncode == 0, p.stderr
    assert "2 keys left as they are ('capit-a' is still held stopped by the panic stop" in p.stdout
    assert disabled_names(sandbox) == {"capit-a", "capit-b", "capit-off", "other"}  # the panic's keys stay off
    assert cli("panic", "--undo", "--yes", env=on(sandbox)).returncode == 0
    assert disabled_names(sandbox) == {"capit-off"}


@pytest.mark.parametrize("args", [["--pool", "hourly:5"], ["--pool", "daily"], ["--pool", "daily:-5"],
                                  ["--pool", "daily:5", "--pool", "daily:6"], ["--pool-match", "x*"],
                                  ["--enforce"], ["--pool", "daily:5", "--pool-match", ""]])
def test_bad_pool_options_are_usage_errors(sandbox, args):
    p = cli("watch", "--once", *args, env=on(sandbox))
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("capit-tui: ") and len(p.stderr.strip().splitlines()) == 1 and p.stdout == ""


def test_without_pool_options_watch_reads_the_pools_of_settings_toml(sandbox, pooled):
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "capit-tui" / "settings.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[[pool]]\nperiod = "daily"\namount = "8"\nmatch = "capit-*"\nenforce = true\n\n'
                    '[[pool]]\nperiod = "monthly"\namount = "300"\n')
    p = cli("watch", "--once", env=on(sandbox))
    assert p.returncode == 3, p.stderr  # daily: $9 of $8; monthly: $39 of $300 (13%), below 80%
    assert [line.split()[1] for line in lines(p.stdout)] == ["pool-capped", "pool-stopped"]
    assert "Enforced by capit-tui polling" in p.stderr
    assert disabled_names(sandbox) == {"capit-a", "capit-b", "capit-off"}


def test_a_one_api_pool_counts_from_the_spend_history_and_says_a_new_key_counts_from_its_first_sample():
    from oneapi_server import OneApiServer

    with OneApiServer(flavor="newapi", user_id=7) as gw:
        token = gw.add_token("g1", remain_quota=50_000_000, used_quota=1_000_000)  # $2 spent before watch saw it
        folder = Path(os.environ["XDG_CONFIG_HOME"]) / "capit-tui"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "settings.toml").write_text(f'[platforms.gw]\nkind = "oneapi"\nbase_url = "{gw.url}"\n'
                                              'quota_per_usd = 500000\nuser_id = "7"\n')
        env = {"CAPIT_GW_MANAGEMENT_KEY": gw.access_token}
        p = cli("watch", "--once", "--pool", "daily:5", env=env)
        assert p.returncode == 0 and p.stdout == "", p.stderr  # its $2 is from before: not counted
        gw.spend(token["id"], 2_000_000)  # $4 today
        # The history keeps one sample per key and second (the later one): a second poll within the same
        # second as the first would replace the first sample, the baseline this test is about. Polls are
        # at least 5 s apart in real use (watch --interval).
        time.sleep(1.05 - time.time() % 1)
        p = cli("watch", "--once", "--pool", "daily:5", env=env)
        assert p.returncode == 3, p.stderr
        (line,) = lines(p.stdout)
        assert "pool-threshold  The daily pool (every key) passed 80%: $4.00 of $5.00 spent (80.0%) across 1 key, " \
               "1 key counted from when capit-tui first saw it in this window." in line
