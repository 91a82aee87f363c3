"""Coding agents capit-tui knows. `all_agents()` in display order; `get(name)`."""

from __future__ import annotations

from collections.abc import Mapping

from capit_tui.agents.base import Agent


def agent_classes() -> list[type[Agent]]:
    from capit_tui.agents.aider import Aider
    from capit_tui.agents.claude import Claude
    from capit_tui.agents.cline import Cline
    from capit_tui.agents.codex import Codex
    from capit_tui.agents.continue_ import Continue
    from capit_tui.agents.cursor import Cursor
    from capit_tui.agents.goose import Goose
    from capit_tui.agents.hermes import Hermes
    from capit_tui.agents.llm import Llm
    from capit_tui.agents.openclaw import OpenClaw
    from capit_tui.agents.opencode import OpenCode
    from capit_tui.agents.qwen import Qwen
    from capit_tui.agents.windsurf import Windsurf
    from capit_tui.agents.zed import Zed

    classes: list[type[Agent]] = [Claude, Cursor, Windsurf, OpenCode, Codex, Goose, Zed, Cline,
                                  OpenClaw, Hermes, Aider, Qwen, Llm, Continue]
    return classes


def all_agents(env: Mapping[str, str] | None = None) -> list[Agent]:
    return [cls(env) for cls in agent_classes()]


def names() -> list[str]:
    return [cls.name for cls in agent_classes()]


def get(name: str, env: Mapping[str, str] | None = None) -> Agent:
    for cls in agent_classes():
        if cls.name == name.lower():
            return cls(env)
    raise KeyError(name)
