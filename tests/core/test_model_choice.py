"""Issue 10 item 5: an install keeps the user's model (translated to the platform's naming only where that
is certain), a chosen model wins, the default is written only when no model is set, and every model
change is a line of the diff and of the summary (preview, CLI, after install).

The agents are planned through core.install.preview (which opens no connection) on real files in the
isolated HOME; the files written are read back with independent parsers.
"""

from __future__ import annotations

import asyncio
import json
import tomllib
from decimal import Decimal

import pytest
import yaml

from capit_tui import agents as agents_mod
from capit_tui.core.install import execute, preview
from capit_tui.core.keys import Configured
from capit_tui.core.model_choice import OPENROUTER_IDS, choose_model
from capit_tui.core.settings import PlatformConfig
from capit_tui.sandbox import Sandbox
from tests.core.test_cli import cli, on

OR = Configured(PlatformConfig("openrouter", "openrouter", "http://127.0.0.1:9/api/v1"), "env", "k")
ONEAPI = Configured(PlatformConfig("gw", "oneapi", "http://127.0.0.1:9", quota_per_usd=500_000), "env", "k")


def put(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def added_and_removed(diff: str) -> tuple[list[str], list[str]]:
    lines = diff.splitlines()
    return ([x[1:] for x in lines if x.startswith("+") and not x.startswith("+++")],
            [x[1:] for x in lines if x.startswith("-") and not x.startswith("---")])


# ---------------------------------------------------------------- the rule itself


@pytest.mark.parametrize("current, prefix, after, how", [
    ("o3", "", "openai/o3", "translated"),
    ("openai/gpt-5.1", "", "openai/gpt-5.1", "kept"),  # already OpenRouter's: the user's choice
    ("x-ai/grok-code", "", "x-ai/grok-code", "kept"),  # any vendor/model id is OpenRouter's naming
    ("anthropic/claude-sonnet-4-5", "", "anthropic/claude-sonnet-4.5", "translated"),
    ("my-finetune", "", "my-finetune", "unknown"),  # not certain: kept, warned
    ("gpt-5.1-codex", "openrouter/", "openrouter/openai/gpt-5.1-codex", "translated"),
    ("openrouter/openai/gpt-5.1", "openrouter/", "openrouter/openai/gpt-5.1", "kept"),
    ("anthropic/claude-opus-4-5", "openrouter/", "openrouter/anthropic/claude-opus-4.5", "translated"),
    ("sonnet", "openrouter/", "openrouter/sonnet", "unknown"),
    ("google/o3", "", "google/o3", "kept"),  # a known bare name under another vendor is not translated
])
def test_the_rule_on_openrouter(current, prefix, after, how):
    c = choose_model(current, None, kind="openrouter", default="openai/gpt-5.1-codex", prefix=prefix)
    assert (c.after, c.how) == (after, how)
    assert (c.warning is not None) == (how == "unknown")
    assert c.changes == (after != current)
    assert (f"→ {after}" in c.line) == c.changes and current in c.line


def test_the_table_only_maps_to_the_same_vendors_naming():
    for bare, slug in OPENROUTER_IDS.items():
        vendor, name = slug.split("/")
        assert vendor in ("openai", "anthropic")
        assert name == bare if vendor == "openai" else name == bare.replace("-4-5", "-4.5")


def test_a_chosen_model_wins_and_the_default_only_fills_nothing():
    c = choose_model("o3", "anthropic/claude-opus-4.5", kind="openrouter", default="d/d")
    assert (c.after, c.line) == ("anthropic/claude-opus-4.5", "model: o3 → anthropic/claude-opus-4.5 (as chosen)")
    c = choose_model(None, None, kind="openrouter", default="d/d")
    assert (c.after, c.line) == ("d/d", "model: none set → d/d (the agent's default)")
    c = choose_model("  ", None, kind="openrouter", default="d/d", prefix="openrouter/")
    assert c.after == "openrouter/d/d"


def test_a_gateway_keeps_upstream_names_as_they_are():
    c = choose_model("o3", None, kind="oneapi", default="d/d")
    assert (c.after, c.changes, c.warning, c.line) == ("o3", False, None, "model: kept o3")


def test_model_names_are_cleaned_for_the_terminal():
    c = choose_model("evil\x1b]0;x\x07", None, kind="openrouter", default=None)
    assert "\x1b" not in c.line and "\x07" not in c.line and "\x1b" not in (c.warning or "")


# ---------------------------------------------------------------- Codex: TOML `model = "o3"`


def test_codex_keeps_o3_as_openai_o3_on_its_own_diff_line(isolated_home):
    codex = agents_mod.get("codex")
    put(codex.config_path(), '# mine\nmodel = "o3"\napproval_policy = "never"\n')
    pv = preview(OR, [codex])
    added, removed = added_and_removed(pv.diff())
    assert 'model = "openai/o3"' in added and removed == ['model = "o3"']
    assert pv.model_lines() == ["Codex CLI model: o3 → openai/o3 (OpenRouter's name for it)"]
    assert not any("model" in w for w in pv.warnings)


def test_codex_model_given_replaces_and_none_set_gets_the_default(isolated_home):
    codex = agents_mod.get("codex")
    put(codex.config_path(), 'model = "o3"\n')
    pv = preview(OR, [codex], model="anthropic/claude-sonnet-4.5")
    added, removed = added_and_removed(pv.diff())
    assert 'model = "anthropic/claude-sonnet-4.5"' in added and removed == ['model = "o3"']
    assert pv.model_lines() == ["Codex CLI model: o3 → anthropic/claude-sonnet-4.5 (as chosen)"]
    put(codex.config_path(), 'approval_policy = "never"\n')
    pv = preview(OR, [codex])
    assert 'model = "openai/gpt-5.1-codex"' in added_and_removed(pv.diff())[0]
    assert pv.model_lines() == ["Codex CLI model: none set → openai/gpt-5.1-codex (the agent's default)"]


def test_codex_keeps_an_unknown_name_and_warns(isolated_home):
    codex = agents_mod.get("codex")
    put(codex.config_path(), 'model = "my-finetune"\n')
    pv = preview(OR, [codex])
    added, removed = added_and_removed(pv.diff())
    assert not any(x.startswith("model =") for x in added + removed)
    assert pv.model_lines() == ["Codex CLI model: kept my-finetune (OpenRouter may not know this name)"]
    assert any(w.startswith("Codex CLI: its model my-finetune") and "may refuse" in w for w in pv.warnings)


def test_codex_on_a_gateway_keeps_the_upstream_name(isolated_home):
    codex = agents_mod.get("codex")
    put(codex.config_path(), 'model = "o3"\n')
    pv = preview(ONEAPI, [codex])
    assert not any(x.startswith("model =") for x in added_and_removed(pv.diff())[0])
    assert pv.model_lines() == ["Codex CLI model: kept o3"]


# ---------------------------------------------------------------- Hermes: YAML, flow-style `default:`


def test_hermes_flow_style_default_is_translated_not_replaced(isolated_home):
    hermes = agents_mod.get("hermes")
    put(hermes.config_path(), "model: {provider: auto, default: o3}\nterminal: {backend: local}\n")
    pv = preview(OR, [hermes])
    added, _ = added_and_removed(pv.diff())
    assert any("default: openai/o3" in x for x in added) and not any("claude" in x for x in added)
    assert pv.model_lines() == ["Hermes Agent model: o3 → openai/o3 (OpenRouter's name for it)"]
    asyncio.run(_install(pv))
    data = yaml.safe_load(hermes.config_path().read_text())
    assert data["model"]["default"] == "openai/o3" and data["terminal"] == {"backend": "local"}


def test_hermes_model_given_replaces_and_none_set_gets_the_default(isolated_home):
    hermes = agents_mod.get("hermes")
    put(hermes.config_path(), "model: {provider: auto, default: o3}\n")
    pv = preview(OR, [hermes], model="openai/gpt-5.1")
    assert any("default: openai/gpt-5.1" in x for x in added_and_removed(pv.diff())[0])
    assert pv.model_lines() == ["Hermes Agent model: o3 → openai/gpt-5.1 (as chosen)"]
    put(hermes.config_path(), "model:\n  provider: auto\n")
    pv = preview(OR, [hermes])
    assert "  default: anthropic/claude-sonnet-4.5" in added_and_removed(pv.diff())[0]
    assert pv.model_lines() == ["Hermes Agent model: none set → anthropic/claude-sonnet-4.5 (the agent's default)"]
    put(hermes.config_path(), "model:\n  provider: openrouter\n  default: openai/gpt-5.1\n")
    pv = preview(OR, [hermes])
    assert pv.model_lines() == ["Hermes Agent model: kept openai/gpt-5.1"]
    assert not any("default" in x for x in added_and_removed(pv.diff())[0])


# ---------------------------------------------------------------- Qwen Code: JSON `model.name`


def test_qwen_json_model_kept_translated_replaced_or_defaulted(isolated_home):
    qwen = agents_mod.get("qwen")
    put(qwen.settings_path(), '{\n  "model": {\n    "name": "o3"\n  },\n  "ui": {"theme": "dark"}\n}\n')
    pv = preview(OR, [qwen])
    added, removed = added_and_removed(pv.diff())
    assert '    "name": "openai/o3"' in added and '    "name": "o3"' in removed
    assert not any("name" in x for x in added if x != '    "name": "openai/o3"')  # a line of its own
    assert pv.model_lines() == ["Qwen Code model: o3 → openai/o3 (OpenRouter's name for it)"]
    pv = preview(OR, [qwen], model="openai/gpt-5.1")
    assert '    "name": "openai/gpt-5.1"' in added_and_removed(pv.diff())[0]
    assert pv.model_lines() == ["Qwen Code model: o3 → openai/gpt-5.1 (as chosen)"]
    put(qwen.settings_path(), '{\n  "model": {\n    "name": "deepseek/deepseek-v3"\n  }\n}\n')
    pv = preview(OR, [qwen])
    assert pv.model_lines() == ["Qwen Code model: kept deepseek/deepseek-v3"]
    qwen.settings_path().unlink()
    pv = preview(OR, [qwen])
    assert pv.model_lines() == ["Qwen Code model: none set → qwen/qwen3-coder (the agent's default)"]
    asyncio.run(_install(pv))
    assert json.loads(qwen.settings_path().read_text())["model"] == {"name": "qwen/qwen3-coder"}


# ---------------------------------------------------------------- the other agents that keep a model


def test_aider_and_openclaw_keep_the_users_model_through_openrouter(isolated_home):
    aider, openclaw = agents_mod.get("aider"), agents_mod.get("openclaw")
    put(aider.conf_yml(), "model: gpt-4o\n")
    put(openclaw.config_path(), "{ agents: { defaults: { model: { primary: 'anthropic/claude-opus-4-5' } } } }\n")
    pv = preview(OR, [aider, openclaw])
    added, _ = added_and_removed(pv.diff())
    assert "AIDER_MODEL=openrouter/openai/gpt-4o" in added
    assert any("openrouter/anthropic/claude-opus-4.5" in x for x in added)
    assert pv.model_lines() == [
        "Aider model: gpt-4o → openrouter/openai/gpt-4o (OpenRouter's name for it)",
        "OpenClaw model: anthropic/claude-opus-4-5 → openrouter/anthropic/claude-opus-4.5 (OpenRouter's name for it)"]


def test_claude_and_opencode_get_a_model_only_when_one_is_chosen(isolated_home):
    claude, opencode = agents_mod.get("claude"), agents_mod.get("opencode")
    put(claude.settings_path(), '{\n  "model": "opus"\n}\n')
    pv = preview(OR, [claude, opencode])
    assert pv.model_lines() == []
    assert [x for x in added_and_removed(pv.diff())[0] if "model" in x.lower()] == ['  "model": "opus",']  # a comma
    pv = preview(OR, [claude, opencode], model="openai/gpt-5.1")
    assert pv.model_lines() == ["Claude Code model: opus → openai/gpt-5.1 (as chosen)",
                                "OpenCode model: none set → openrouter/openai/gpt-5.1 (as chosen)"]


# ---------------------------------------------------------------- the summary after the install


async def _install(pv):
    with Sandbox() as sb:
        platform = Configured(PlatformConfig("openrouter", "openrouter", sb.base_url), "env", sb.management_key)
        real = preview(platform, pv.agents, model=pv.model)
        return await execute(real, Decimal(1), "monthly")


def test_the_install_result_names_each_model_change(isolated_home):
    codex, qwen = agents_mod.get("codex"), agents_mod.get("qwen")
    put(codex.config_path(), 'model = "o3"\n')
    result = asyncio.run(_install(preview(OR, [codex, qwen])))
    assert [(r.agent.name, r.model.line if r.model else None) for r in result.installed] == [
        ("codex", "model: o3 → openai/o3 (OpenRouter's name for it)"),
        ("qwen", "model: none set → qwen/qwen3-coder (the agent's default)")]
    assert tomllib.loads(codex.config_path().read_text())["model"] == "openai/o3"


def test_cli_says_the_model_change_before_and_after(isolated_home):
    codex = agents_mod.get("codex")
    put(codex.config_path(), 'model = "o3"\n')
    with Sandbox() as sb:
        p = cli("openrouter", "2", "--agent", "codex", "--dry-run", env=on(sb))
        assert p.returncode == 0, p.stderr
        assert "Codex CLI model: o3 → openai/o3 (OpenRouter's name for it)" in p.stderr
        assert '+model = "openai/o3"' in p.stdout and '-model = "o3"' in p.stdout
        p = cli("openrouter", "2", "--agent", "codex", "--yes", env=on(sb))
        assert p.returncode == 0, p.stderr
        assert "\n  model: o3 → openai/o3 (OpenRouter's name for it)\n" in p.stderr
        p = cli("openrouter", "2", "--agent", "codex", "--model", "anthropic/claude-opus-4.5", "--yes", env=on(sb))
        assert "  model: openai/o3 → anthropic/claude-opus-4.5 (as chosen)" in p.stderr
    assert tomllib.loads(codex.config_path().read_text())["model"] == "anthropic/claude-opus-4.5"
