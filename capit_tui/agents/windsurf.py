"""Windsurf: bring-your-own-key is limited to some Claude models and entered on windsurf.com, so it
is stored on Windsurf's server. No local file edit and no OpenRouter key can be used."""

from __future__ import annotations

import sys
from pathlib import Path

from capit_tui.agents.base import Agent, Endpoint


class Windsurf(Agent):
    name = "windsurf"
    title = "Windsurf"
    binaries = ("windsurf",)
    support = "manual"
    notes = "Keys live on Windsurf's server and only for Anthropic's own models; OpenRouter keys cannot be used."

    def config_dir(self) -> Path:
        if sys.platform == "darwin":
            return self.home / "Library" / "Application Support" / "Windsurf" / "User"
        return self.home / ".codeium" / "windsurf"

    def manual_steps(self, ep: Endpoint) -> list[str]:
        return [
            "Windsurf cannot use an OpenRouter or gateway key: its bring-your-own-key option accepts only "
            "Anthropic keys for a fixed list of Claude models, entered at windsurf.com (Settings → Subscription).",
            "To cap Windsurf's spend, set a spending limit in your Windsurf team or account settings instead.",
        ]
