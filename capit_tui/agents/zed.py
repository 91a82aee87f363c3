"""Zed reads its OpenRouter key from the OS keychain (entered in its Agent settings) or from
OPENROUTER_API_KEY in its own process environment; settings.json cannot hold it."""

from __future__ import annotations

from pathlib import Path

from capit_tui.agents.base import Agent, Endpoint


class Zed(Agent):
    name = "zed"
    title = "Zed"
    binaries = ("zed", "zeditor")
    support = "manual"
    notes = "Keeps the key in the OS keychain; paste it in Zed's Agent settings."

    def config_dir(self) -> Path:
        return self.xdg("XDG_CONFIG_HOME", ".config") / "zed"

    def manual_steps(self, ep: Endpoint) -> list[str]:
        return [
            "Open Zed → Agent Panel → Settings (or run `agent: open settings`).",
            "Under LLM Providers → OpenRouter, paste the key shown above and press Enter.",
            f"If you use a gateway other than openrouter.ai, set \"language_models\": {{\"open_router\": "
            f"{{\"api_url\": \"{ep.openai_base_url}\"}}}} in ~/.config/zed/settings.json.",
            "Pick an OpenRouter model in the Agent Panel's model menu.",
        ]
