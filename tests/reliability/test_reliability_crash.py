"""Crash consistency: a real install (tests/support/driver.py) killed with SIGKILL at every
primitive of its write path, and at random times, then checked and run again.

After every kill:
- each agent file is byte for byte its old content (or still absent) or its new content, and parses;
- the backup store lists only complete backups (manifest written last, every blob matching its
  checksum and holding the old bytes); an interrupted one is ignored by list() and removed by
  prune_incomplete();
- if any file already holds the new key, a complete backup of every old file exists;
- left-over temp files (`.NAME.*.capit-tmp`) are private (0600) and never taken for a config;
- a fresh install then succeeds: it first finishes the killed install from its journal (when every
  file was written) or undoes it (files back to their old bytes), then writes exactly the bytes it
  writes over that state.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import subprocess
import sys
import threading
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from capit_tui import agents as agents_mod
from capit_tui.core.backups import MANIFEST, BackupStore
from capit_tui.core.redact import mask

TESTS = Path(__file__).parents[1]
DRIVER = TESTS / "support" / "driver.py"
sys.path.insert(0, str(TESTS / "support"))
import driver  # noqa: E402

RANDOM_RUNS = 40
SEED = 20261121
OLD_CLAUDE_KEY = "sk-or-v1-" + "0a1b" * 16
OLD_ANTHROPIC_KEY = "sk-ant-api03-" + "Q" * 40

# Three agents' files with content of their own; OpenCode's opencode.json does not exist yet (a new
# file in a new folder), so the "new file" path of the writer is crossed too.
FILES = {
    "claude": ".claude/settings.json",
    "codex": ".codex/config.toml",
    "opencode-auth": ".local/share/opencode/auth.json",
    "opencode-config": ".config/opencode/opencode.json",
}
OLD: dict[str, bytes | None] = {
    "claude": json.dumps({
        "model": "opus",
        "permissions": {"allow": ["Bash(git status)"], "deny": []},
        "env": {"ANTHROPIC_AUTH_TOKEN": OLD_CLAUDE_KEY, "DISABLE_TELEMETRY": "1"},
    }, indent=2).encode() + b"\n",
    "codex": (b"# my codex settings\n"
              b"model = \"gpt-5\"  # the default\n"
              b"approval_policy = \"on-request\"\n\n"
              b"[profiles.fast]\nmodel = \"gpt-5-mini\"\n"),
    "opencode-auth": json.dumps({"anthropic": {"type": "api", "key": OLD_ANTHROPIC_KEY}}).encode(),
    "opencode-config": None,
}
MODES = {"claude": 0o644, "codex": 0o640, "opencode-auth": 0o600}


def parse(name: str, data: bytes) -> object:
    if name == "codex":
        return tomllib.loads(data.decode())
    from capit_tui.edits import load

    if name == "opencode-config":
        return load(data.decode(), "jsonc", filename="opencode.json")
    return json.loads(data)


def seed(home: Path) -> None:
    home.mkdir(parents=True)
    for name, rel in FILES.items():
        if OLD[name] is None:
            continue
        p = home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(OLD[name])
        p.chmod(MODES[name])


def snapshot(home: Path) -> dict[str, bytes | None]:
    out = {}
    for name, rel in FILES.items():
        p = home / rel
        out[name] = p.read_bytes() if p.exists() else None
    return out


def agent_env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"), "PATH": "/nonexistent"}


def store_of(home: Path) -> BackupStore:
    return BackupStore(home / ".local" / "share" / "capit-tui" / "backups")


# ---------------------------------------------------------------- the fork server


class Server:
    """One warm driver process; each run is a forked child of it (the interpreter starts once)."""

    def __init__(self) -> None:
        env = dict(os.environ)
        self.proc = subprocess.Popen([sys.executable, str(DRIVER), "serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, bufsize=1)
        self.lock = threading.Lock()

    def run(self, home: Path, tag: str, kill_at: int = 0, kill_after: float | None = None) -> dict:
        job = {"home": str(home), "tag": tag, "kill_at": kill_at, "kill_after": kill_after}
        with self.lock:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        assert line, "the crash driver died"
        answer = json.loads(line)
        assert "error" not in answer, answer["error"]
        return answer

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def servers():
    pool = [Server(), Server()]  # two cores
    yield pool
    for s in pool:
        s.close()


# ---------------------------------------------------------------- what must hold


class Reference:
    """Bytes of a clean install with tag A and with tag B, and of B written over A."""

    def __init__(self, server: Server, root: Path):
        a = root / "ref-a" / "home"
        seed(a)
        ra = server.run(a, "A")
        assert ra["rc"] == 0 and ra["signal"] is None, (a.parent / "cli-A-0.log").read_text()
        self.count: int = ra["count"]
        self.trace: list[str] = ra["trace"]
        self.elapsed: float = ra["elapsed"]
        self.new_a = snapshot(a)
        b = root / "ref-b" / "home"
        seed(b)
        rb = server.run(b, "B")
        assert rb["rc"] == 0 and rb["count"] == self.count
        self.elapsed = min(self.elapsed, rb["elapsed"])  # the warm figure: random kills aim inside it
        self.new_b = snapshot(b)
        assert server.run(a, "B")["rc"] == 0
        self.b_after_a = snapshot(a)
        for name in FILES:
            assert self.new_a[name] is not None and self.new_a[name] != OLD[name]
            assert self.new_b[name] != self.new_a[name]
            parse(name, self.new_a[name])
        assert driver.secret_for("A", "crash-claude") in self.new_a["claude"].decode()


_STATS = threading.Lock()


def check_crashed_state(home: Path, ref: Reference, stats: dict) -> dict[str, bytes | None]:
    with _STATS:
        return _check_crashed_state(home, ref, stats)


def _check_crashed_state(home: Path, ref: Reference, stats: dict) -> dict[str, bytes | None]:
    now = snapshot(home)
    states = {}
    for name in FILES:
        if now[name] == OLD[name]:
            states[name] = "old"
        elif now[name] == ref.new_a[name]:
            states[name] = "new"
        else:
            raise AssertionError(f"{FILES[name]} is neither its old nor its new bytes: {now[name]!r}")
        if now[name] is not None:
            parse(name, now[name])
    stats.setdefault("states", set()).add(tuple(states[n] for n in FILES))

    # The agents' own readers see a consistent file (old key or new key), never a temp file.
    env = agent_env(home)
    for a in ("claude", "codex", "opencode"):
        agent = agents_mod.get(a, env)
        got = agent.installed_key()
        files = {str(f) for f in agent.files()}
        assert not any(f.endswith(".capit-tmp") for f in files)
        if a == "claude":
            assert got is not None and got.secret in (OLD_CLAUDE_KEY, driver.secret_for("A", "crash-claude"))

    # Temp files: only ever private and named so nothing mistakes them for a config.
    temps = list(home.rglob("*.capit-tmp"))
    for t in temps:
        assert t.name.startswith("."), t
        assert stat.S_IMODE(t.stat().st_mode) == 0o600, t
    stats["temps"] = stats.get("temps", 0) + len(temps)
    store_root = store_of(home).root
    stats.setdefault("temp_places", set()).update(
        "~/" + (str(store_root.relative_to(home)) + "/<id>" if t.parent.parent == store_root
                else str(t.parent.relative_to(home))) for t in temps)

    # The ledger, if written, parses.
    ledger = home / ".local" / "share" / "capit-tui" / "ledger.json"
    if ledger.exists():
        json.loads(ledger.read_text())

    # Backups: list() shows exactly the folders with a manifest, each complete and holding the old bytes.
    store = store_of(home)
    folders = [f for f in store.root.iterdir() if f.is_dir()] if store.root.exists() else []
    complete = {f.name for f in folders if (f / MANIFEST).exists()}
    listed = store.list()
    assert {b.id for b in listed} == complete
    for b in listed:
        assert stat.S_IMODE(b.folder.stat().st_mode) == 0o700
        by_path = {str(f.path): f for f in b.files}
        assert set(by_path) == {str(home / rel) for rel in FILES.values()}
        for name, rel in FILES.items():
            f = by_path[str(home / rel)]
            assert b.content(f) == OLD[name]  # checksum verified by content()
            if f.blob:
                assert stat.S_IMODE((b.folder / f.blob).stat().st_mode) == 0o600
    if any(s == "new" for s in states.values()):
        assert listed, "a file holds the new key but no complete backup of the old files exists"
    incomplete = len(folders) - len(complete)
    stats["incomplete"] = stats.get("incomplete", 0) + incomplete
    assert store.prune_incomplete() == incomplete
    assert {b.id for b in store.list()} == complete
    assert all((f / MANIFEST).exists() for f in store.root.iterdir()) if store.root.exists() else True
    return now


def check_fresh_run(server: Server, home: Path, ref: Reference, before: dict[str, bytes | None]) -> None:
    """The next run first finishes (every file was written) or undoes (anything less) the killed install
    from its journal, then installs B over what that left."""
    n_backups = len(store_of(home).list())
    complete = all(before[name] == ref.new_a[name] for name in FILES)
    repaired = before if complete else OLD
    r = server.run(home, "B")
    assert r["signal"] is None and r["rc"] == 0, (home.parent / "cli-B-0.log").read_text()
    now = snapshot(home)
    for name in FILES:
        want = ref.b_after_a[name] if complete else ref.new_b[name]
        assert now[name] == want, FILES[name]
        parse(name, now[name])
    backups = store_of(home).list()
    assert len(backups) == n_backups + 1
    b_masked = mask(driver.secret_for("B", "crash-claude"))
    (newest,) = [b for b in backups if b.meta.get("keys", {}).get("claude", {}).get("masked") == b_masked]
    contents = {str(f.path): newest.content(f) for f in newest.files}
    for name, rel in FILES.items():
        assert contents[str(home / rel)] == repaired[name]  # the fresh run backed up the repaired state
    a_masked = mask(driver.secret_for("A", "crash-claude"))
    touched = any(before[name] == ref.new_a[name] for name in FILES)  # the killed run wrote a file
    for b in backups:  # the killed install's backup: never marked when it finished; marked rolled back
        if b.meta.get("keys", {}).get("claude", {}).get("masked") == a_masked:  # when files were put back
            marked = bool(b.meta.get("rolled_back"))
            assert not (complete and marked) and (complete or not touched or marked), (b.id, complete, touched)
    ledger = json.loads((home / ".local" / "share" / "capit-tui" / "ledger.json").read_text())
    assert {i["key_name"] for i in ledger["installs"]} >= {"crash-claude", "crash-codex", "crash-opencode"}


def one_crash(server: Server, root: Path, ref: Reference, label: str, stats: dict, *,
              kill_at: int = 0, kill_after: float | None = None) -> dict:
    home = root / label / "home"
    seed(home)
    r = server.run(home, "A", kill_at=kill_at, kill_after=kill_after)
    if kill_at:
        assert r["signal"] == 9, f"kill point {kill_at} ({ref.trace[kill_at - 1]}) was not reached: {r}"
    before = check_crashed_state(home, ref, stats)
    check_fresh_run(server, home, ref, before)
    shutil.rmtree(home.parent)
    return r


# ---------------------------------------------------------------- the test


def test_sigkill_anywhere_in_the_write_path_leaves_old_or_new_and_a_rerun_succeeds(servers, tmp_path):
    ref = Reference(servers[0], tmp_path)
    K = ref.count
    # Every primitive of the path: backup folder, each blob, the manifest, each agent file, the ledger.
    assert K >= 100, ref.trace
    for needed in ("replace:.manifest.json", "replace:.settings.json", "replace:.config.toml",
                   "replace:.auth.json", "replace:.opencode.json", "replace:.ledger.json", "replace:.file-0"):
        assert any(t.startswith(needed) for t in ref.trace), needed

    stats: dict = {}
    rng = random.Random(SEED)
    delays = [rng.uniform(0, ref.elapsed * 1.3) for _ in range(RANDOM_RUNS)]
    jobs = [("point", n) for n in range(1, K + 1)] + [("random", d) for d in delays]

    def work(i: int, job: tuple[str, float]) -> dict:
        server = servers[i % len(servers)]
        kind, value = job
        if kind == "point":
            return one_crash(server, tmp_path, ref, f"p{value}", stats, kill_at=int(value))
        return one_crash(server, tmp_path, ref, f"r{i}", stats, kill_after=value)

    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        results = list(pool.map(lambda ij: work(*ij), enumerate(jobs)))

    runs = len(results)
    random_killed = sum(1 for (kind, _), r in zip(jobs, results, strict=True) if kind == "random" and r["signal"] == 9)
    assert runs >= 100
    assert random_killed >= RANDOM_RUNS // 4, "the random-time kills mostly missed the write path"
    # The kills saw the whole range: nothing written, some files written, everything written.
    seen = stats["states"]
    assert ("old",) * 4 in seen and ("new",) * 4 in seen and len(seen) >= 4, seen
    print(f"\ncrash runs: {runs} ({K} kill points, {RANDOM_RUNS} random-time kills of which "
          f"{random_killed} landed); file states seen: {sorted(seen)}; incomplete backups pruned: "
          f"{stats['incomplete']}; temp files left behind: {stats['temps']} in {sorted(stats['temp_places'])}")


def test_kill_points_in_a_fresh_interpreter(servers, tmp_path):
    """The same kill points, through `driver.py run` in a fresh Python each time (no fork server)."""
    ref = Reference(servers[0], tmp_path)
    K = ref.count
    points = sorted({1, K // 5, 2 * K // 5, 3 * K // 5, 4 * K // 5, K})
    stats: dict = {}
    for n in points:
        home = tmp_path / f"fresh{n}" / "home"
        seed(home)
        env = dict(os.environ, CRASH_HOME=str(home), CRASH_TAG="A", CRASH_AT=str(n))
        proc = subprocess.run([sys.executable, str(DRIVER), "run"], env=env, capture_output=True, timeout=60)
        assert proc.returncode == -9, (n, proc.returncode, proc.stderr[-2000:])
        before = check_crashed_state(home, ref, stats)
        check_fresh_run(servers[0], home, ref, before)
