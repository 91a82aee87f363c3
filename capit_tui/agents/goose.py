"""Goose reads secrets from the OS keyring first (service "goose", one JSON blob of all secrets);
secrets.yaml is used only when the keyring is off or unreachable, so a file edit usually does nothing."""

from __future__ import annotations

import sys
from pathlib import Path

from capit_tui.agents.base import Agent, Endpoint


class Goose(Agent):
    name = "goose"
    title = "Goose"
    binaries = ("goose",)
    support = "manual"
    notes = "Keeps the key in the OS keyring; run `goose configure` and paste it."

    def config_dir(self) -> Path:
        if sys.platform == "win32":
            return self.home / "AppData" / "Roaming" / "Block" / "goose" / "config"
        return self.xdg("XDG_CONFIG_HOME", ".config") / "goose"

    def manual_steps(self, ep: Endpoint) -> list[str]:
        model = ep.model or "anthropic/claude-sonnet-4.5"
        return [
            "Run `goose configure` → Configure Providers → OpenRouter.",
            "Paste the key shown above when it asks for OPENROUTER_API_KEY (it goes to your OS keyring).",
            f"Choose the model {model}.",
            "For a gateway other than openrouter.ai, set OPENROUTER_HOST to "
            f"{ep.openai_base_url.removesuffix('/api/v1')} "
            "in Goose's environment.",
        ]
