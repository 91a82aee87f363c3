"""Cursor keeps its own-API key encrypted in state.vscdb, unlocked through the OS keychain: no file
edit reaches it (a settings.json edit would do nothing). capit-tui gives the manual path."""

from __future__ import annotations

import sys
from pathlib import Path

from capit_tui.agents.base import Agent, Endpoint


class Cursor(Agent):
    name = "cursor"
    title = "Cursor"
    binaries = ("cursor", "cursor-agent")
    support = "manual"
    notes = "Keeps the key encrypted behind the OS keychain; paste it in Cursor's settings."

    def config_dir(self) -> Path:
        if sys.platform == "darwin":
            return self.home / "Library" / "Application Support" / "Cursor" / "User"
        return self.xdg("XDG_CONFIG_HOME", ".config") / "Cursor" / "User"

    def extra_binary_paths(self) -> list[Path]:
        return [Path("/Applications/Cursor.app/Contents/MacOS/Cursor"), Path("/opt/Cursor/cursor"),
                Path("/usr/share/cursor/cursor")]

    def manual_steps(self, ep: Endpoint) -> list[str]:
        return [
            "Open Cursor → Settings → Models → API Keys.",
            "Turn on \"OpenAI API Key\" and paste the key shown above.",
            f"Turn on \"Override OpenAI Base URL\" and enter {ep.openai_base_url}/cursor "
            "(OpenRouter's Cursor endpoint; the plain /api/v1 breaks tool calls).",
            "Click Verify. Tab completion and some built-in modes keep using Cursor's own models.",
        ]
