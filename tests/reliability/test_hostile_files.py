"""Hostile agent files (issue 9, items 6-8): a FIFO, a YAML alias bomb, a huge file, a symlink into
another user's file. Each is refused with one sentence naming the file, nothing blocks, nothing of
anyone else's is written, and a file capit-tui writes keeps its owner and group.

The FIFO cases run in a subprocess with a timeout: a read that blocks would otherwise hang the tests.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from capit_tui import agents as agents_mod
from capit_tui.core.agent_status import agent_status
from capit_tui.core.backups import BackupStore
from capit_tui.core.changes import PlanError, apply, plan_edits
from capit_tui.core.fsutil import MAX_AGENT_FILE, UnsafeFile, read_regular
from capit_tui.edits import ParseError, load

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-or-v1-" + "c0ffee00" * 8
MANAGEMENT = "sk-or-v1-" + "6d" * 32
NOBODY = 65534
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another uid")


def run_cli(*args: str, timeout: float = 30, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "capit_tui", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


def run_script(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=dict(os.environ), stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


PLATFORM_ENV = {"CAPIT_OPENROUTER_MANAGEMENT_KEY": MANAGEMENT, "CAPIT_NO_KEYRING": "1",
                "CAPIT_OPENROUTER_BASE_URL": "http://127.0.0.1:9/api/v1"}


# ---------------------------------------------------------------- FIFOs


def test_a_fifo_as_each_agent_file_never_blocks_the_agents_listing():
    """Every file of every file agent in turn is a FIFO: the listing returns, shows every agent, and the
    agent whose file it is shows its key as unknown with a sentence naming the file."""
    proc = run_script("""
        import json, os
        from capit_tui import agents as agents_mod
        from capit_tui.core.agent_status import agent_statuses
        report = []
        for agent in agents_mod.all_agents():
            if agent.support != "file":
                continue
            for path in agent.known_files():
                path.parent.mkdir(parents=True, exist_ok=True)
                os.mkfifo(path)
                try:
                    sts = {s.name: s for s in agent_statuses()}
                finally:
                    os.unlink(path)
                st = sts[agent.name]
                report.append({"agent": agent.name, "file": str(path), "listed": len(sts),
                               "unknown": st.key_unknown, "warned": any(str(path) in w for w in st.warnings)})
        print(json.dumps(report))
    """, timeout=120)
    report = json.loads(proc.stdout)
    assert len({r["agent"] for r in report}) == len([a for a in agents_mod.all_agents() if a.support == "file"])
    assert all(r["listed"] == len(agents_mod.all_agents()) for r in report)
    for r in report:
        assert r["unknown"] == r["warned"], r
    # every agent's key file (the one installed_key reads first) gives "unknown" with the sentence
    firsts = {a.name: str(a.files()[0]) for a in agents_mod.all_agents() if a.support == "file"}
    unknown = {(r["agent"], r["file"]) for r in report if r["unknown"]}
    for name, first in firsts.items():
        assert (name, first) in unknown, (name, first)


def test_capit_tui_agents_with_a_fifo_lists_every_agent_and_warns(isolated_home):
    fifo = isolated_home / ".claude" / "settings.json"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    t = time.monotonic()
    proc = run_cli("agents", timeout=30)
    assert time.monotonic() - t < 20
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()[1:] if line.strip()}
    assert set(lines) == set(agents_mod.names())
    assert lines["claude"].rstrip().endswith("unknown")
    assert f"claude: {fifo} is a named pipe (FIFO), not a regular file" in proc.stderr
    js = json.loads(run_cli("agents", "--json").stdout)
    claude = next(a for a in js if a["name"] == "claude")
    assert claude["key"] is None and claude["key_unknown"] is True


def test_install_dry_run_refuses_a_fifo_in_every_file_it_would_edit():
    proc = run_script(f"""
        import json, os
        from capit_tui import agents as agents_mod
        from capit_tui.core.install import preview
        from capit_tui.core.keys import Configured
        from capit_tui.core.settings import PlatformConfig
        from capit_tui.errors import CapitError
        c = Configured(PlatformConfig("openrouter", "openrouter", "https://openrouter.ai/api/v1"), "env",
                       {MANAGEMENT!r})
        out = []
        for agent in agents_mod.all_agents():
            if agent.support != "file":
                continue
            try:
                edits = agent.plan_install(preview(c, [agent]).endpoint("sk-x"))
            except ValueError:  # this agent cannot be installed here (Continue without its config, ...)
                continue
            for path in sorted({{e.path for e in edits}}):
                path.parent.mkdir(parents=True, exist_ok=True)
                os.mkfifo(path)
                try:
                    preview(c, [agent])
                    out.append([agent.name, str(path), None])
                except CapitError as exc:
                    out.append([agent.name, str(path), str(exc)])
                finally:
                    os.unlink(path)
        print(json.dumps(out))
    """, timeout=120)
    out = json.loads(proc.stdout)
    assert len(out) >= 10
    for name, path, message in out:
        assert message is not None, (name, path)
        assert f"{path} is a named pipe (FIFO), not a regular file" in message, message
        assert "\n" not in message


def test_cli_dry_run_with_a_fifo_returns_at_once(isolated_home):
    fifo = isolated_home / ".codex" / "config.toml"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    proc = run_cli("openrouter", "5.00", "--agent", "codex", "--dry-run", env=PLATFORM_ENV)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"capit-tui: {fifo} is a named pipe (FIFO), not a regular file; capit-tui "
                                   "reads and writes only regular files. Nothing was changed.")


def _claude_backup(home: Path) -> BackupStore:
    """A real install's backup of Claude's settings (in the data dir the CLI uses)."""
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text('{"model": "opus"}\n')
    store = BackupStore()
    agent = agents_mod.get("claude")
    from capit_tui.agents.base import Endpoint

    edits = [("claude", e) for e in agent.plan_install(Endpoint("openrouter", "https://x.invalid/api/v1",
                                                                  "https://x.invalid/api", KEY))]
    plan = plan_edits(edits, [KEY])
    apply(plan, store, {"reason": "install", "agents": ["claude"], "agent_files": {"claude": [str(settings)]},
                        "agent_home": str(home)})
    return store


def test_restore_onto_a_fifo_is_refused_at_once(isolated_home):
    _claude_backup(isolated_home)
    settings = isolated_home / ".claude" / "settings.json"
    settings.unlink()
    os.mkfifo(settings)
    proc = run_cli("backups", "restore", "--latest", "--yes")
    assert proc.returncode == 1
    assert f"{settings} is a named pipe (FIFO), not a regular file" in proc.stderr
    assert stat.S_ISFIFO(os.lstat(settings).st_mode)


def test_a_fifo_manifest_or_blob_does_not_block_the_backups_list(isolated_home):
    store = _claude_backup(isolated_home)
    (b,) = store.list()
    (b.folder / "manifest.json").unlink()
    os.mkfifo(b.folder / "manifest.json")
    proc = run_cli("backups", "list", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == []


# ---------------------------------------------------------------- size and YAML aliases


def test_an_oversized_config_is_refused_with_a_sentence(isolated_home):
    big = isolated_home / ".claude" / "settings.json"
    big.parent.mkdir()
    with open(big, "wb") as fh:
        fh.truncate(MAX_AGENT_FILE + 1)
    with pytest.raises(UnsafeFile, match=r"settings\.json is 10 MB, more than the 10 MB capit-tui reads"):
        read_regular(big)
    st = agent_status(agents_mod.get("claude"), {})
    assert st.key_unknown and "more than the 10 MB" in st.warnings[0]
    with pytest.raises(PlanError, match="more than the 10 MB"):
        plan_edits([("claude", agents_mod.get("claude").plan_install(_ep())[0])], [KEY])


def _ep():
    from capit_tui.agents.base import Endpoint

    return Endpoint("openrouter", "https://openrouter.ai/api/v1", "https://openrouter.ai/api", KEY)


def billion_laughs(levels: int = 10) -> str:
    lines = ["model:", "  provider: auto", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghijklmnop"[: levels - 1]:
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
        prev = name
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_in_well_under_two_seconds(isolated_home):
    config = isolated_home / ".hermes" / "config.yaml"
    config.parent.mkdir()
    config.write_text(billion_laughs(10))
    t = time.perf_counter()
    with pytest.raises(ParseError, match=r"config\.yaml:\d+:\d+: its aliases \(\*name\) expand to more than "
                                         r"100,000 values \(a YAML alias bomb\)"):
        load(config.read_text(), "yaml", filename=str(config))
    assert time.perf_counter() - t < 2
    t = time.perf_counter()
    proc = run_cli("openrouter", "5.00", "--agent", "hermes", "--dry-run", env=PLATFORM_ENV, timeout=60)
    took = time.perf_counter() - t
    assert proc.returncode == 1
    assert "a YAML alias bomb" in proc.stderr and "Nothing was changed." in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert took < 15  # the interpreter's start included; the check itself is milliseconds


def test_a_recursive_alias_is_refused():
    with pytest.raises(ParseError, match="refers to a node that contains it"):
        load("a: &a [1, *a]\n", "yaml", filename="x.yaml")


def test_ordinary_aliases_still_load_and_edit():
    doc = load("base: &base {x: 1, y: 2}\none: *base\ntwo: [*base, *base]\nkey: old\n", "yaml", filename="x.yaml")
    doc.set(("key",), "new")
    assert "key: new" in doc.dumps()


def test_same_is_linear_on_shared_and_deep_structures():
    from capit_tui.edits._base import same

    leaf: list = ["lol"] * 9
    for _ in range(40):  # 9**40 leaves expanded
        leaf = [leaf] * 9
    other: list = ["lol"] * 9
    for _ in range(40):
        other = [other] * 9
    t = time.perf_counter()
    assert same(leaf, other)
    deep: list = []
    for _ in range(20_000):  # far past the recursion limit
        deep = [deep]
    assert same(deep, deep) and not same([1, [True]], [1, [1]])
    assert time.perf_counter() - t < 2


# ---------------------------------------------------------------- symlinks and owners


@root_only
def test_a_symlink_to_another_users_file_is_refused_naming_both(isolated_home, tmp_path):
    theirs = tmp_path / "theirs.json"
    theirs.write_text('{"mine": true}\n')
    theirs.chmod(0o644)
    os.chown(theirs, NOBODY, NOBODY)
    link = isolated_home / ".claude" / "settings.json"
    link.parent.mkdir()
    link.symlink_to(theirs)
    with pytest.raises(PlanError) as err:
        plan_edits([("claude", e) for e in agents_mod.get("claude").plan_install(_ep())], [KEY])
    msg = str(err.value)
    assert str(link) in msg and str(theirs) in msg and "belongs to another user" in msg
    st = agent_status(agents_mod.get("claude"), {})
    assert st.key_unknown and str(theirs) in st.warnings[0]
    after = os.stat(theirs)
    assert (after.st_uid, stat.S_IMODE(after.st_mode)) == (NOBODY, 0o644)
    assert theirs.read_text() == '{"mine": true}\n'


def test_a_symlink_to_my_own_file_is_still_written_through(isolated_home, tmp_path):
    mine = tmp_path / "dotfiles" / "claude.json"
    mine.parent.mkdir()
    mine.write_text("{}\n")
    link = isolated_home / ".claude" / "settings.json"
    link.parent.mkdir()
    link.symlink_to(mine)
    plan = plan_edits([("claude", e) for e in agents_mod.get("claude").plan_install(_ep())], [KEY])
    apply(plan, BackupStore(), {"agents": ["claude"]})
    assert link.is_symlink() and KEY in mine.read_text()


@root_only
def test_a_written_file_keeps_its_owner_and_group(isolated_home):
    path = isolated_home / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text('{"model": "opus"}\n')
    path.chmod(0o644)
    os.chown(path, NOBODY, NOBODY)
    plan = plan_edits([("claude", e) for e in agents_mod.get("claude").plan_install(_ep())], [KEY])
    apply(plan, BackupStore(), {"agents": ["claude"]})
    st = os.stat(path)
    assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY)
    assert stat.S_IMODE(st.st_mode) == 0o600  # it holds a key now: no group or other access
    assert KEY in path.read_text()


@root_only
def test_a_new_file_written_by_root_belongs_to_the_folders_owner(isolated_home):
    folder = isolated_home / ".codex"
    folder.mkdir()
    os.chown(folder, NOBODY, NOBODY)
    plan = plan_edits([("codex", e) for e in agents_mod.get("codex").plan_install(_ep())], [KEY])
    apply(plan, BackupStore(), {"agents": ["codex"]})
    st = os.stat(folder / "config.toml")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (NOBODY, NOBODY, 0o600)


@root_only
def test_restore_through_a_link_to_another_users_file_is_refused(isolated_home, tmp_path):
    store = BackupStore()
    mine = tmp_path / "dotfiles" / "claude.json"
    mine.parent.mkdir()
    mine.write_text('{"model": "opus"}\n')
    link = isolated_home / ".claude" / "settings.json"
    link.parent.mkdir()
    link.symlink_to(mine)
    plan = plan_edits([("claude", e) for e in agents_mod.get("claude").plan_install(_ep())], [KEY])
    b = apply(plan, store, {"agents": ["claude"], "agent_files": {"claude": [str(link)]}})
    os.chown(mine, NOBODY, NOBODY)  # the file the link leads to is someone else's now
    from capit_tui.core.backups import BackupError
    from capit_tui.core.restore import restore_preview

    with pytest.raises(BackupError, match="belongs to another user") as err:
        restore_preview(store, b.id)
    assert str(link) in str(err.value) and str(mine) in str(err.value)
    assert KEY in mine.read_text() and os.stat(mine).st_uid == NOBODY


def test_a_fifo_on_path_named_like_an_agent_does_not_block(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.mkfifo(bindir / "llm")
    (bindir / "llm").chmod(0o755)
    proc = run_script(f"""
        from capit_tui import agents as agents_mod
        from capit_tui.core.agent_status import agent_status
        st = agent_status(agents_mod.get("llm", {{"HOME": {str(tmp_path)!r}, "PATH": {str(bindir)!r}}}), {{}})
        print(st.found)
    """, timeout=30)
    assert proc.stdout.strip() == "binary"


def _swap_before_open(monkeypatch, path: Path, swap) -> None:
    """Replace `path` (by `swap`) after read_regular's check and before its open, once."""
    import capit_tui.core.fsutil as fsutil

    real_open, done = os.open, []

    def racing_open(p, flags, *args):
        if Path(p) == path and not done:
            done.append(True)
            swap()
        return real_open(p, flags, *args)

    monkeypatch.setattr(fsutil.os, "open", racing_open)


def test_a_file_saved_atomically_while_it_is_read_is_read_again_not_refused(tmp_path, monkeypatch):
    """Another capit-tui's (or an editor's) atomic save between the check and the open made a concurrent
    install fail with 'was replaced while capit-tui was reading it' (seen in CI: four installs at once)."""
    f = tmp_path / "settings.json"
    f.write_text('{"old": 1}')

    def save_atomically() -> None:
        tmp = tmp_path / "settings.json.tmp"
        tmp.write_text('{"new": 2}')
        os.replace(tmp, f)

    _swap_before_open(monkeypatch, f, save_atomically)
    assert read_regular(f) == b'{"new": 2}'


def test_a_fifo_swapped_in_while_a_file_is_read_is_still_refused(tmp_path, monkeypatch):
    f = tmp_path / "settings.json"
    f.write_text("{}")

    def fifo_in_its_place() -> None:
        f.unlink()
        os.mkfifo(f)

    _swap_before_open(monkeypatch, f, fifo_in_its_place)
    with pytest.raises(UnsafeFile, match="was replaced while capit-tui was reading it"):
        read_regular(f)
