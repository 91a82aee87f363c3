"""Cline (VS Code extension) keeps its keys in VS Code's SecretStorage, backed by the OS keychain."""

from __future__ import annotations

from pathlib import Path

from capit_tui.agents.base import Agent, Endpoint


class Cline(Agent):
    name = "cline"
    title = "Cline"
    binaries = ("cline",)
    support = "manual"
    notes = "Keeps the key in VS Code's encrypted secret storage; paste it in Cline's settings."

    def config_dir(self) -> Path:
        return self.home / ".cline"

    def detect(self):
        from capit_tui.agents.base import Detection

        d = super().detect()
        ext = self.home / ".vscode" / "extensions"
        has_ext = ext.is_dir() and any(p.name.startswith("saoudrizwan.claude-dev") for p in ext.iterdir())
        return Detection(d.installed or has_ext, d.binary, d.config_exists or has_ext)

    def manual_steps(self, ep: Endpoint) -> list[str]:
        return [
            "Open the Cline panel in VS Code → the gear icon (Settings).",
            "Set API Provider to \"OpenRouter\" and paste the key shown above.",
            "If you use a gateway other than openrouter.ai, tick \"Use custom base URL\" "
            f"and enter {ep.openai_base_url}.",
            "Choose a model and click Done.",
        ]
