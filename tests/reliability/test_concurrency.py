"""Issue 9, item 1: two installs at once lost a write and left untracked keys.

Real CLI processes (forked from a warm interpreter by tests/reliability/forkcli.py, so each is its own
process with its own lock handle; one test runs `python -m capit_tui` itself) against one sandbox:

- 2 and 4 processes installing into claude at once, 20 rounds each;
- an install beside `backups restore --latest`, 20 rounds.

After every round: each process ended with 0 (done) or 1 (refused with a sentence), never a crash; a
refused install left no live key; the successful writes form a chain (each one's backup holds what the
one before it wrote: no lost write) ending in what the file holds now; the ledger's latest entry for
claude is the key the file holds; and no live key is in neither a file nor a ledger (no orphan).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import world
from forkcli import Run, Server, cli_env
from world import Op, held_key, ledger, orphans, seed, serialisable

from capit_tui.sandbox import Sandbox

ROUNDS = 20


@pytest.fixture
def sb():
    with Sandbox(latency_ms=15) as s:
        yield s


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.close()


def install_args(name: str) -> list[str]:
    return ["openrouter", "5", "--agent", "claude", "--name", name, "--yes"]


def check_clean_exit(r: Run) -> None:
    assert r.signal is None and r.rc in (0, 1), (r.rc, r.signal, r.stderr)
    for bad in ("Traceback", "forkcli:", "failed unexpectedly"):
        assert bad not in r.stderr, r.stderr


class Tally:
    def __init__(self) -> None:
        self.rounds = self.installed = self.refused = self.lost = self.orphans = self.waited = 0

    def line(self, what: str) -> str:
        return (f"{what}: {self.rounds} rounds, {self.installed} installs done, {self.refused} refused, "
                f"{self.lost} lost writes, {self.orphans} orphan keys, {self.waited} waits reported")


def installs_at_once(sb: Sandbox, server: Server, tmp_path: Path, procs: int, tally: Tally) -> None:
    for r in range(ROUNDS):
        home = tmp_path / f"r{r}" / "home"
        seed(home)
        env = cli_env(home, sb.base_url, sb.management_key)
        prefix = f"p{procs}r{r}x"
        runs = [Run(server, install_args(f"{prefix}{i}"), env, home.parent, f"i{i}") for i in range(procs)]
        for run in runs:
            run.finish()
            check_clean_exit(run)
        tally.rounds += 1
        tally.waited += sum("waiting up to" in run.stderr for run in runs)
        ok = [run for run in runs if run.rc == 0]
        tally.installed += len(ok)
        tally.refused += len(runs) - len(ok)
        live = world.live(sb, prefix)
        for run in runs:
            name = f"{run.args[run.args.index('--name') + 1]}-claude"
            if run.rc == 1:
                assert "nothing was issued or written" in run.stderr or "revoked" in run.stderr, run.stderr
                assert name not in live.values(), (name, run.stderr)  # refused: its key is gone
            else:
                assert f"installed into claude ({name}" in run.stderr, run.stderr
        # the chain of writes: each successful install's backup holds what the previous one wrote
        recorded = {i["backup_id"]: i for i in ledger(home) if i["agent"] == "claude"}
        ops = []
        for b in world.backups(home):
            entry = recorded.get(b.id)
            assert entry is not None, f"backup {b.id} made by no recorded install"
            ops.append(Op(entry["key_name"], world.backup_key(b, "claude", home), entry["key_id"]))
        assert len(ops) == len(ok)
        now = held_key(home, "claude")
        if not serialisable(ops, world.sha(world.OLD_CLAUDE_KEY), now):
            tally.lost += 1
        latest = ledger(home)[-1] if ok else None
        assert latest is None or latest["key_id"] == now  # the ledger says what the file holds
        tally.orphans += len(orphans(sb, [home], prefix))
    print("\n" + tally.line(f"{procs} installs at once"))
    assert tally.lost == 0 and tally.orphans == 0
    assert tally.installed >= ROUNDS  # every round, at least one install got through


def test_two_installs_at_once(sb, server, tmp_path):
    installs_at_once(sb, server, tmp_path, 2, Tally())


def test_four_installs_at_once(sb, server, tmp_path):
    installs_at_once(sb, server, tmp_path, 4, Tally())


def test_install_beside_restore(sb, server, tmp_path):
    tally = Tally()
    rng = random.Random(9001)
    restores = 0
    for r in range(ROUNDS):
        home = tmp_path / f"r{r}" / "home"
        seed(home)
        env = cli_env(home, sb.base_url, sb.management_key)
        prefix = f"ir{r}x"
        first = Run(server, install_args(f"{prefix}a"), env, home.parent, "first").finish()
        assert first.rc == 0, first.stderr
        a = held_key(home, "claude")
        # which starts first, and how much later the other: seeded, so both orders and overlaps happen
        first_install, gap = rng.random() < 0.5, rng.uniform(0.0, 0.08)
        jobs = [(install_args(f"{prefix}b"), "install"),
                (["backups", "restore", "--latest", "--agent", "claude", "--yes"], "restore")]
        if not first_install:
            jobs.reverse()
        one = Run(server, jobs[0][0], env, home.parent, jobs[0][1])
        time.sleep(gap)
        other = Run(server, jobs[1][0], env, home.parent, jobs[1][1])
        install, restore = (one, other) if first_install else (other, one)
        runs = [install, restore]
        for run in runs:
            run.finish()
            check_clean_exit(run)
        tally.waited += sum("waiting up to" in run.stderr for run in runs)
        tally.rounds += 1
        tally.installed += install.rc == 0
        restores += restore.rc == 0
        tally.refused += (install.rc != 0) + (restore.rc != 0)
        for run in runs:
            if run.rc == 1:
                assert "changed since the preview" in run.stderr or "revoked" in run.stderr, run.stderr
        # Every successful write after the first install, with what it found and what it left.
        ops = []
        first_backup = next(i["backup_id"] for i in ledger(home) if i["key_name"] == f"{prefix}a-claude")
        for b in world.backups(home):
            if b.id == first_backup:
                continue
            before = world.backup_key(b, "claude", home)
            if b.meta.get("reason") == "install":
                ops.append(Op("install", before, next(i["key_id"] for i in ledger(home)
                                                      if i.get("backup_id") == b.id)))
            else:
                restored = next(x for x in world.backups(home) if x.id == b.meta["restored"])
                ops.append(Op("restore", before, world.backup_key(restored, "claude", home)))
        assert len(ops) == (install.rc == 0) + (restore.rc == 0)
        now = held_key(home, "claude")
        if not serialisable(ops, a, now):
            tally.lost += 1
        current = [i for i in ledger(home) if i["agent"] == "claude"][-1]
        expected = now if now != world.sha(world.OLD_CLAUDE_KEY) else ""
        assert current["key_id"] == expected, (current, now)  # the ledger follows the file
        tally.orphans += len(orphans(sb, [home], prefix))
    print("\n" + tally.line("install beside restore") + f", {restores} restores done")
    assert tally.lost == 0 and tally.orphans == 0


def test_two_real_cli_processes(sb, tmp_path):
    """The same race through `python -m capit_tui` itself (fresh interpreters, so only 3 rounds)."""
    for r in range(3):
        home = tmp_path / f"real{r}" / "home"
        seed(home)
        env = dict(os.environ, **cli_env(home, sb.base_url, sb.management_key))
        prefix = f"real{r}x"
        procs = [subprocess.Popen([sys.executable, "-m", "capit_tui", *install_args(f"{prefix}{i}")], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        codes = [p.returncode for p in procs]
        assert sorted(codes) in ([0, 0], [0, 1]), outs
        assert all("Traceback" not in e for _o, e in outs)
        ops = []
        recorded = {i["backup_id"]: i for i in ledger(home)}
        for b in world.backups(home):
            ops.append(Op("install", world.backup_key(b, "claude", home), recorded[b.id]["key_id"]))
        assert serialisable(ops, world.sha(world.OLD_CLAUDE_KEY), held_key(home, "claude"))
        assert orphans(sb, [home], prefix) == {}
