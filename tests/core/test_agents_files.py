"""File installs for OpenClaw, Hermes, Aider, Qwen Code, llm, Continue and Crush, on real-looking configs.

Every case runs the agent's plan_install through changes.plan_edits + changes.apply in the isolated HOME
and checks: only the intended lines changed (counted with difflib), the file still parses with an
independent parser and holds exactly the old data plus the intended values, installed_key() reads the
key back, a second identical install changes nothing, files holding the key end 0600; or the file was
refused (PlanError / ValueError) and left byte for byte as it was.
"""

from __future__ import annotations

import difflib
import io
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import json5
import pytest
import yaml
from dotenv import dotenv_values

from capit_tui.agents.aider import Aider
from capit_tui.agents.base import Agent, Endpoint, FileEdit
from capit_tui.agents.continue_ import Continue
from capit_tui.agents.crush import Crush
from capit_tui.agents.hermes import Hermes
from capit_tui.agents.llm import Llm
from capit_tui.agents.openclaw import OpenClaw
from capit_tui.agents.qwen import Qwen
from capit_tui.core.backups import BackupStore
from capit_tui.core.changes import PlanError, apply, plan_edits

CORPUS = Path(__file__).parents[1] / "data" / "corpus" / "agents"
KEY = "sk-or-v1-" + "5eed" * 16
GW = "http://127.0.0.1:9/gw/api/v1"
MODEL = "anthropic/claude-sonnet-4.5"
EP = Endpoint("gw", GW, "http://127.0.0.1:9/gw/api", KEY, MODEL)
EP_OR = Endpoint("openrouter", "https://openrouter.ai/api/v1", "https://openrouter.ai/api", KEY, MODEL)


@dataclass
class Spec:
    cls: type[Agent]
    ep: Endpoint
    files: dict[str, str]  # path method -> format, for every file the install may write
    corpus: dict[str, str]  # path method -> corpus file placed before the realistic install
    lines: dict[str, tuple[int, int]]  # path method -> (removed, added) for the realistic install
    new_lines: dict[str, int]  # path method -> lines of the file written into an empty home
    broken: dict[str, str] = field(default_factory=dict)  # path method -> corpus file that does not parse
    preset: dict[str, str] = field(default_factory=dict)  # path method -> corpus file every case needs
    variants: tuple[str, ...] = ()  # path methods to try CRLF/BOM/empty/symlink/read-only on

    @property
    def name(self) -> str:
        return self.cls.name


SPECS = [
    Spec(OpenClaw, EP,
         files={"env_file": "dotenv", "config_path": "json5"},
         corpus={"env_file": "openclaw/dot.env", "config_path": "openclaw/openclaw.json"},
         lines={"env_file": (0, 1), "config_path": (1, 8)},
         new_lines={"env_file": 1, "config_path": 16},
         broken={"config_path": "openclaw/broken.json"},
         variants=("env_file", "config_path")),
    Spec(Hermes, EP,
         files={"env_file": "dotenv", "config_path": "yaml"},
         corpus={"env_file": "hermes/dot.env", "config_path": "hermes/config.yaml"},
         lines={"env_file": (1, 2), "config_path": (2, 3)},
         new_lines={"env_file": 2, "config_path": 4},
         broken={"config_path": "hermes/broken.yaml"},
         variants=("env_file", "config_path")),
    Spec(Aider, EP,
         files={"oauth_env": "dotenv", "home_env": "dotenv"},
         corpus={"oauth_env": "aider/oauth-keys.env", "home_env": "aider/home.env",
                 "conf_yml": "aider/aider.conf.yml"},
         lines={"oauth_env": (0, 3), "home_env": (1, 1)},
         new_lines={"oauth_env": 3},
         broken={"oauth_env": "aider/broken.env"},
         variants=("oauth_env",)),
    Spec(Qwen, EP,
         files={"settings_path": "jsonc"},
         corpus={"settings_path": "qwen/settings.json"},
         lines={"settings_path": (3, 3)},
         new_lines={"settings_path": 12},
         broken={"settings_path": "qwen/broken.json"},
         variants=("settings_path",)),
    Spec(Llm, EP_OR,
         files={"keys_path": "json"},
         corpus={"keys_path": "llm/keys.json"},
         lines={"keys_path": (1, 2)},
         new_lines={"keys_path": 3},
         broken={"keys_path": "llm/broken.json"},
         variants=("keys_path",)),
    Spec(Continue, EP,
         files={"env_file": "dotenv"},
         corpus={"env_file": "continue/dot.env"},
         preset={"config_path": "continue/config.yaml"},
         lines={"env_file": (0, 1)},
         new_lines={"env_file": 1},
         broken={"env_file": "continue/broken.env"},
         variants=("env_file",)),
    Spec(Crush, EP,
         files={"data_path": "json"},
         corpus={"data_path": "crush/crush.json"},
         lines={"data_path": (2, 6)},
         new_lines={"data_path": 14},
         broken={"data_path": "crush/broken.json"},
         variants=("data_path",)),
]
BY_NAME = {s.name: s for s in SPECS}
VARIANT_CASES = [(s.name, f) for s in SPECS for f in s.variants]


# ---------------------------------------------------------------- helpers


def path_of(agent: Agent, method: str) -> Path:
    return getattr(agent, method)()


def place(path: Path, corpus: str | None = None, *, text: str | None = None, crlf: bool = False,
          bom: bool = False, mode: int = 0o644) -> bytes:
    data = (CORPUS / corpus).read_text(encoding="utf-8") if corpus else (text or "")
    if crlf:
        data = data.replace("\r\n", "\n").replace("\n", "\r\n")
    raw = (b"\xef\xbb\xbf" if bom else b"") + data.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    path.chmod(mode)
    return raw


def changed_lines(before: bytes | None, after: bytes) -> tuple[int, int]:
    def lines(raw: bytes | None) -> list[str]:
        if not raw:
            return []
        return raw.decode("utf-8-sig").splitlines()

    removed = added = 0
    for line in difflib.unified_diff(lines(before), lines(after), n=0, lineterm=""):
        if line.startswith(("---", "+++", "@@")):
            continue
        removed += line.startswith("-")
        added += line.startswith("+")
    return removed, added


def parse(raw: bytes | None, fmt: str):
    """The data of a file, read with an independent parser (not capit_tui.edits)."""
    text = raw.decode("utf-8-sig") if raw else ""
    if fmt == "dotenv":
        return dict(dotenv_values(stream=io.StringIO(text)))
    if not text.strip():
        return {}
    if fmt == "json":
        return json.loads(text)
    if fmt in ("jsonc", "json5"):
        return json5.loads(text)
    if fmt == "yaml":
        return yaml.safe_load(text) or {}
    raise AssertionError(fmt)


def with_sets(data: dict, edits: list[FileEdit]) -> dict:
    out = json.loads(json.dumps(data))
    for e in edits:
        for path, value in e.sets:
            node = out
            for k in path[:-1]:
                node = node.setdefault(k, {})
            node[path[-1]] = value
        for path in e.deletes:
            node = out
            for k in path[:-1]:
                node = node.get(k, {})
            node.pop(path[-1], None)
    return out


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def install(agent: Agent, ep: Endpoint, home: Path):
    edits = agent.plan_install(ep)
    plan = plan_edits([(agent.name, e) for e in edits], [ep.secret])
    before = {c.path: c.before for c in plan.changes}
    apply(plan, BackupStore(home / "backups"), {"agents": [agent.name]})
    return edits, plan, before


def check_install(spec: Spec, agent: Agent, home: Path, expected: dict[str, tuple[int, int]]) -> None:
    """Install, then check lines, data, modes, installed_key and that a second install does nothing."""
    edits, plan, before = install(agent, spec.ep, home)
    written = {c.path: c for c in plan.changes}
    for method, fmt in spec.files.items():
        path = path_of(agent, method)
        if method not in expected:
            assert path not in written, f"{path} should not change"
            continue
        assert path in written, f"{path} was not written"
        after = path.read_bytes()
        assert changed_lines(before[path], after) == expected[method], (
            f"{path}: unexpected diff\n" + written[path].diff())
        mine = [e for e in edits if e.path == path]
        assert parse(after, fmt) == with_sets(parse(before[path], fmt), mine)
        if any(e.holds_secret for e in mine):
            assert mode(written[path].target) == 0o600
        if before[path] is not None and before[path].startswith(b"\xef\xbb\xbf"):
            assert after.startswith(b"\xef\xbb\xbf")
        if before[path] is not None and b"\r\n" in before[path]:
            assert after.count(b"\n") == after.count(b"\r\n"), "line endings changed"
    got = agent.installed_key()
    assert got is not None and got.secret == KEY
    assert got.base_url == spec.ep.openai_base_url
    again = plan_edits([(agent.name, e) for e in agent.plan_install(spec.ep)], [KEY])
    assert again.changes == [], again.diff()


def preset(spec: Spec, agent: Agent) -> None:
    for method, corpus in spec.preset.items():
        place(path_of(agent, method), corpus)


# ---------------------------------------------------------------- the realistic corpus


@pytest.mark.parametrize("name", [s.name for s in SPECS])
def test_realistic_config_changes_only_the_intended_lines(name, isolated_home):
    spec = BY_NAME[name]
    agent = spec.cls()
    preset(spec, agent)
    for method, corpus in spec.corpus.items():
        place(path_of(agent, method), corpus)
    check_install(spec, agent, isolated_home, spec.lines)


@pytest.mark.parametrize("name", [s.name for s in SPECS])
def test_empty_home_gets_new_private_files(name, isolated_home):
    spec = BY_NAME[name]
    agent = spec.cls()
    preset(spec, agent)
    made = {m: not path_of(agent, m).parent.exists() for m in spec.new_lines}
    check_install(spec, agent, isolated_home, {m: (0, n) for m, n in spec.new_lines.items()})
    for method in spec.new_lines:
        path = path_of(agent, method)
        assert mode(path) == 0o600
        if made[method]:
            assert mode(path.parent) == 0o700  # a folder capit-tui made


# ---------------------------------------------------------------- variants of one file


@pytest.mark.parametrize("name,method", VARIANT_CASES)
@pytest.mark.parametrize("variant", ["crlf", "bom", "empty", "symlink"])
def test_file_variants_are_edited_in_place(name, method, variant, isolated_home):
    spec = BY_NAME[name]
    agent = spec.cls()
    preset(spec, agent)
    path = path_of(agent, method)
    corpus = spec.corpus[method]
    expected = {method: spec.lines[method]}
    if variant == "crlf":
        place(path, corpus, crlf=True)
    elif variant == "bom":
        place(path, corpus, bom=True)
    elif variant == "empty":
        place(path, text="")
        expected = {method: (0, spec.new_lines[method])}
    elif variant == "symlink":
        real = isolated_home / "dotfiles" / f"{name}-{path.name}"
        place(real, corpus)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(real)
    # the other files the install writes are missing: they are created fresh
    for other, n in spec.new_lines.items():
        if other != method:
            expected[other] = (0, n)
    check_install(spec, agent, isolated_home, expected)
    if variant == "symlink":
        assert path.is_symlink() and real.read_bytes() != (CORPUS / corpus).read_bytes()


@pytest.mark.parametrize("name,method", VARIANT_CASES)
def test_read_only_file_is_refused_untouched(name, method, isolated_home):
    spec = BY_NAME[name]
    agent = spec.cls()
    preset(spec, agent)
    path = path_of(agent, method)
    raw = place(path, spec.corpus[method], mode=0o444)
    with pytest.raises(PlanError, match="read-only"):
        install(agent, spec.ep, isolated_home)
    assert path.read_bytes() == raw and mode(path) == 0o444


@pytest.mark.parametrize("name,method", [(s.name, m) for s in SPECS for m in s.broken])
def test_invalid_syntax_is_refused_untouched(name, method, isolated_home):
    spec = BY_NAME[name]
    agent = spec.cls()
    preset(spec, agent)
    for m, corpus in spec.corpus.items():
        if m != method:
            place(path_of(agent, m), corpus)
    path = path_of(agent, method)
    raw = place(path, spec.broken[method])
    with pytest.raises((PlanError, ValueError)) as err:
        install(agent, spec.ep, isolated_home)
    assert str(path) in str(err.value)
    assert KEY not in str(err.value)
    assert path.read_bytes() == raw
    for m in spec.files:
        p = path_of(agent, m)
        if p != path and p.exists() and m in spec.corpus:
            assert p.read_bytes() == (CORPUS / spec.corpus[m]).read_bytes()


# ---------------------------------------------------------------- where the files are


def relocations(home: Path) -> list[tuple[type[Agent], dict[str, str], set[Path]]]:
    h = home
    return [
        (OpenClaw, {"OPENCLAW_STATE_DIR": f"{h}/oc-state"}, {h / "oc-state/.env", h / "oc-state/openclaw.json"}),
        (OpenClaw, {"OPENCLAW_HOME": f"{h}/och"}, {h / "och/.openclaw/.env", h / "och/.openclaw/openclaw.json"}),
        (OpenClaw, {"OPENCLAW_STATE_DIR": f"{h}/s", "OPENCLAW_CONFIG_PATH": f"{h}/cfg/oc.json5"},
         {h / "s/.env", h / "cfg/oc.json5"}),
        (Hermes, {"HERMES_HOME": f"{h}/hh"}, {h / "hh/.env", h / "hh/config.yaml"}),
        (Aider, {}, {h / ".aider/oauth-keys.env", h / ".env", h / ".aider.conf.yml"}),
        (Qwen, {"QWEN_HOME": f"{h}/qh"}, {h / "qh/settings.json"}),
        (Llm, {"LLM_USER_PATH": f"{h}/lu"}, {h / "lu/keys.json"}),
        (Llm, {"XDG_CONFIG_HOME": f"{h}/xc"}, {h / "xc/io.datasette.llm/keys.json"}),
        (Continue, {"CONTINUE_GLOBAL_DIR": f"{h}/cg"}, {h / "cg/.env", h / "cg/config.yaml"}),
        (Crush, {"CRUSH_GLOBAL_DATA": f"{h}/cd"}, {h / "cd/crush.json"}),
        (Crush, {"XDG_DATA_HOME": f"{h}/xd"}, {h / "xd/crush/crush.json"}),
    ]


def test_env_var_relocations_are_honoured(isolated_home):
    for cls, env, expected in relocations(isolated_home):
        agent = cls({**os.environ, **env})
        assert set(agent.files()) == expected, (cls.name, env)


def test_the_demo_home_overrides_every_relocation(isolated_home, tmp_path):
    demo = tmp_path / "demo"
    for cls, env, _ in relocations(isolated_home):
        agent = cls({**os.environ, **env, "CAPIT_AGENT_HOME": str(demo)})
        for f in agent.files():
            assert demo in f.parents, (cls.name, env, f)


def test_relocated_install_writes_there(isolated_home, monkeypatch):
    monkeypatch.setenv("OPENCLAW_STATE_DIR", str(isolated_home / "state"))
    monkeypatch.setenv("QWEN_HOME", str(isolated_home / "qh"))
    monkeypatch.setenv("HERMES_HOME", str(isolated_home / "hh"))
    for cls in (OpenClaw, Qwen, Hermes):
        agent = cls()
        install(agent, EP, isolated_home)
        assert agent.installed_key().secret == KEY
    assert (isolated_home / "state" / ".env").exists() and not (isolated_home / ".openclaw").exists()
    assert (isolated_home / "qh" / "settings.json").exists() and not (isolated_home / ".qwen").exists()
    assert (isolated_home / "hh" / ".env").exists() and not (isolated_home / ".hermes").exists()


def test_hermes_follows_the_sticky_profile(isolated_home):
    root = isolated_home / ".hermes"
    (root / "profiles" / "coder").mkdir(parents=True)
    (root / "active_profile").write_text("coder\n")
    agent = Hermes()
    assert agent.config_dir() == root / "profiles" / "coder"
    install(agent, EP, isolated_home)
    assert "OPENROUTER_API_KEY" in (root / "profiles" / "coder" / ".env").read_text()
    assert not (root / ".env").exists()
    assert any("profile 'coder'" in s for s in agent.after_install())
    # HERMES_HOME naming a profile wins over the sticky one
    assert Hermes({**os.environ, "HERMES_HOME": str(root / "profiles" / "work")}).config_dir() == \
        root / "profiles" / "work"


# ---------------------------------------------------------------- what each agent needs to really use the key


def test_openclaw_model_and_base_url_rules(isolated_home):
    agent = OpenClaw()
    cfg = agent.config_path()
    # openrouter.ai needs no baseUrl; a primary model that is already an OpenRouter one is kept
    place(cfg, text="{\n  agents: { defaults: { model: { primary: 'openrouter/openai/gpt-5.1' } } },\n}\n")
    edits = agent.plan_install(Endpoint("openrouter", "https://openrouter.ai/api/v1", None, KEY))
    assert [e.path for e in edits] == [agent.env_file()]
    # Anthropic's own name is kept, translated to OpenRouter's (certain); a bare-string model stays a string
    place(cfg, text="{ agents: { defaults: { model: 'anthropic/claude-opus-4-5' } } }\n")
    (edit,) = [e for e in agent.plan_install(Endpoint("gw", GW, None, KEY)) if e.path == cfg]
    assert dict(edit.sets) == {("agents", "defaults", "model"): "openrouter/anthropic/claude-opus-4.5",
                               ("models", "providers", "openrouter", "baseUrl"): GW}
    # a key already in openclaw.json is replaced (and the file then holds the key)
    place(cfg, text='{ env: { vars: { OPENROUTER_API_KEY: "sk-or-v1-old" } } }\n')
    (edit,) = [e for e in agent.plan_install(EP) if e.path == cfg]
    assert (("env", "vars", "OPENROUTER_API_KEY"), KEY) in edit.sets and edit.holds_secret
    install(agent, EP, isolated_home)
    assert agent.installed_key().source == agent.env_file()  # .env wins over openclaw.json
    assert mode(cfg) == 0o600


def test_openclaw_never_writes_the_legacy_env_shape_or_secret_refs(isolated_home):
    agent = OpenClaw()
    install(agent, EP, isolated_home)
    data = json5.loads(agent.config_path().read_text())
    assert "env" not in data
    assert data["models"] == {"providers": {"openrouter": {"baseUrl": GW}}}


def test_openclaw_warns_about_an_exported_key(isolated_home):
    assert OpenClaw().warnings() == []
    w = OpenClaw({**os.environ, "OPENROUTER_API_KEY": "sk-or-v1-stale"}).warnings()
    assert len(w) == 1 and "OPENROUTER_API_KEY" in w[0] and "sk-or-v1-stale" not in w[0]
    assert any("gateway restart" in s for s in OpenClaw().after_install())


def test_hermes_sets_provider_and_model_rules(isolated_home):
    agent = Hermes()
    place(agent.config_path(), text="model:\n  provider: auto\n  default: openai/gpt-5.1\n")
    install(agent, Endpoint("gw", GW, None, KEY), isolated_home)
    data = yaml.safe_load(agent.config_path().read_text())
    assert data["model"] == {"provider": "openrouter", "default": "openai/gpt-5.1", "base_url": GW}
    env = dotenv_values(agent.env_file())
    assert env == {"OPENROUTER_API_KEY": KEY, "OPENROUTER_BASE_URL": GW}
    place(agent.config_path(), text="model: hermes-4\n")
    with pytest.raises(ValueError, match="single value"):
        agent.plan_install(EP)


def test_hermes_warns_about_custom_base_url(isolated_home):
    agent = Hermes()
    assert agent.warnings() == []
    place(agent.env_file(), text="CUSTOM_BASE_URL=http://localhost:8000/v1\n")
    assert any("CUSTOM_BASE_URL" in w for w in agent.warnings())
    assert any("CUSTOM_BASE_URL" in w for w in Hermes({**os.environ, "CUSTOM_BASE_URL": "x"}).warnings())


def test_aider_always_names_an_openrouter_model(isolated_home):
    agent = Aider()
    (edit,) = agent.plan_install(Endpoint("gw", GW, None, KEY))
    assert dict(edit.sets)[("AIDER_MODEL",)] == "openrouter/anthropic/claude-sonnet-4.5"
    place(agent.oauth_env(), text="AIDER_MODEL=openrouter/openai/gpt-5.1\n")
    (edit,) = agent.plan_install(Endpoint("gw", GW, None, KEY))
    assert ("AIDER_MODEL",) not in dict(edit.sets)


def test_aider_leaves_a_home_env_without_openrouter_alone(isolated_home):
    agent = Aider()
    place(agent.home_env(), text="OPENAI_API_KEY=sk-proj-placeholderplaceholder\n")
    assert [e.path for e in agent.plan_install(EP)] == [agent.oauth_env()]


def test_aider_refuses_when_its_yaml_config_would_override(isolated_home):
    agent = Aider()
    raw = place(agent.conf_yml(), "aider/aider.conf.openrouter.yml")
    with pytest.raises(ValueError, match="api-key"):
        agent.plan_install(EP)
    place(agent.conf_yml(), text="set-env:\n  - OPENROUTER_API_BASE=http://elsewhere/v1\n")
    with pytest.raises(ValueError, match="set-env"):
        agent.plan_install(EP)
    place(agent.conf_yml(), "aider/aider.conf.openrouter.yml")
    got = agent.installed_key()
    assert got is not None and got.source == agent.conf_yml() and got.secret.endswith("fed")
    assert agent.conf_yml().read_bytes() == raw


def test_qwen_refuses_what_it_cannot_override(isolated_home):
    agent = Qwen()
    place(agent.settings_path(), "qwen/settings.modelproviders.json")
    with pytest.raises(ValueError, match="modelProviders.openai"):
        agent.plan_install(EP)
    agent.plan_install(Endpoint("gw", GW, None, KEY, "openai/gpt-5.1"))  # another model is fine
    place(agent.settings_path(), "qwen/settings.v1.json")
    with pytest.raises(ValueError, match="old flat format"):
        agent.plan_install(EP)


def test_qwen_model_and_warnings(isolated_home):
    agent = Qwen()
    (edit,) = agent.plan_install(Endpoint("gw", GW, None, KEY))
    assert dict(edit.sets)[("model", "name")] == Qwen.default_model
    place(agent.settings_path(), text='{"model": {"name": "openai/gpt-5.1"}}\n')
    (edit,) = agent.plan_install(Endpoint("gw", GW, None, KEY))
    assert dict(edit.sets)[("model", "name")] == "openai/gpt-5.1"
    assert agent.warnings() == []
    place(isolated_home / ".env", text="OPENAI_API_KEY=sk-proj-placeholderplaceholder\n")
    w = Qwen({**os.environ, "OPENAI_BASE_URL": "http://x"}).warnings()
    assert any("OPENAI_BASE_URL" in s and "environment" in s for s in w)
    assert any(str(isolated_home / ".env") in s and "OPENAI_API_KEY" in s for s in w)


def test_llm_needs_openrouter_and_its_plugin(isolated_home, tmp_path):
    agent = Llm()
    with pytest.raises(ValueError, match="openrouter.ai"):
        agent.plan_install(EP)
    # an llm whose Python environment lacks the plugin is refused; with the plugin it is fine
    venv = tmp_path / "venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (venv / "bin").mkdir()
    python = venv / "bin" / "python"
    python.write_text("")
    llm_bin = venv / "bin" / "llm"
    llm_bin.write_text(f"#!{python}\nimport llm.cli\n")
    llm_bin.chmod(0o755)
    env = {**os.environ, "PATH": f"{venv / 'bin'}:/usr/bin:/bin"}
    with pytest.raises(ValueError, match="llm install llm-openrouter"):
        Llm(env).plan_install(EP_OR)
    (site / "llm_openrouter-0.7.1.dist-info").mkdir()
    assert Llm(env).plugin_installed() is True
    assert Llm(env).plan_install(EP_OR)
    assert Llm({**env, "LLM_LOAD_PLUGINS": "llm-gemini"}).plugin_installed() is False
    # llm not found at all: allowed (nothing to check), no warning
    assert Llm({**os.environ, "PATH": "/nonexistent"}).plugin_installed() is None


def test_continue_installs_only_into_an_openrouter_model_reading_a_secret(isolated_home):
    agent = Continue()
    with pytest.raises(ValueError, match="does not exist"):
        agent.plan_install(EP)
    place(agent.config_path(), "continue/config.literal.yaml")
    with pytest.raises(ValueError, match="secrets.OPENROUTER_API_KEY"):
        agent.plan_install(EP)
    assert any("its own apiKey" in w for w in agent.warnings())
    place(agent.config_path(), "continue/config.yaml")
    with pytest.raises(ValueError, match="apiBase https://openrouter.ai/api/v1"):
        agent.plan_install(EP_OR)  # the entry points at the gateway, not at openrouter.ai
    (edit,) = agent.plan_install(EP)
    assert edit.path == agent.env_file() and dict(edit.sets) == {("OPENROUTER_API_KEY",): KEY}
    w = Continue({**os.environ, "OPENROUTER_API_KEY": "sk-or-v1-stale"}).warnings()
    assert any("OPENROUTER_API_KEY is set in this environment" in s for s in w)


def test_continue_a_custom_secret_name_and_a_gateway_model(isolated_home):
    agent = Continue()
    place(agent.config_path(), text=(
        "models:\n"
        "  - name: gw\n    provider: openai\n    model: openai/gpt-5.1\n"
        f"    apiBase: {GW}/\n    apiKey: ${{{{ secrets.MY_GW_KEY }}}}\n"))
    install(agent, EP, isolated_home)
    assert dotenv_values(agent.env_file()) == {"MY_GW_KEY": KEY}
    assert agent.installed_key().secret == KEY


def test_crush_model_and_base_url_rules(isolated_home):
    agent = Crush()
    place(agent.data_path(), text='{"models": {"large": {"provider": "openrouter", "model": "x/y"}}}\n')
    (edit,) = agent.plan_install(Endpoint("openrouter", "https://openrouter.ai/api/v1", None, KEY))
    assert dict(edit.sets) == {("providers", "openrouter", "api_key"): KEY}
    place(agent.data_path(), "crush/crush.json")
    assert any("small model" in w for w in agent.warnings())
    place(agent.data_path(), text='{"providers": {"openrouter": {"api_key": "$OPENROUTER_API_KEY"}}}\n')
    assert agent.installed_key() is None  # a template, not a key


@pytest.mark.parametrize("cls", [OpenClaw, Hermes, Aider, Qwen, Llm, Continue, Crush])
def test_module_basics(cls, isolated_home):
    agent = cls()
    assert cls.support == "file" and cls.wire in ("openai-chat", "openai-responses")
    assert cls.default_model and "/" in cls.default_model
    assert cls.__module__.rsplit(".", 1)[-1].rstrip("_") == cls.name
    assert agent.installed_key() is None  # nothing installed yet
    assert not agent.detect().config_exists
    doc = __import__(cls.__module__, fromlist=["_"]).__doc__
    assert "erified" in doc  # says what is verified (or not)


def test_openclaw_uses_the_legacy_clawdbot_folder_when_only_it_exists(isolated_home):
    legacy = isolated_home / ".clawdbot"
    place(legacy / "clawdbot.json", text="{ gateway: { port: 18789 } }\n")
    agent = OpenClaw()
    assert agent.config_dir() == legacy and agent.config_path() == legacy / "clawdbot.json"
    (isolated_home / ".openclaw").mkdir()
    assert OpenClaw().config_dir() == isolated_home / ".openclaw"
    assert OpenClaw().config_path() == legacy / "clawdbot.json"  # the existing config is still the one loaded


def test_aider_warnings(isolated_home):
    agent = Aider()
    assert agent.warnings() == []
    place(agent.home_env(), "aider/broken.env")
    assert any("could not be read" in w for w in agent.warnings())
    place(agent.conf_yml(), text="env-file: ~/secrets/aider.env\n")
    assert any("env-file" in w for w in agent.warnings())
    assert any("git root" in s for s in agent.after_install())


def test_llm_warns_when_the_plugin_cannot_be_checked(isolated_home, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    llm_bin = bin_dir / "llm"
    llm_bin.write_text("#!/usr/bin/env python3\nimport llm.cli\n")
    llm_bin.chmod(0o755)
    agent = Llm({**os.environ, "PATH": str(bin_dir)})
    assert agent.plugin_installed() is None
    assert any("llm-openrouter" in w for w in agent.warnings())
    assert agent.plan_install(EP_OR)  # unknown is not refused
