"""Claude Code: `env` block of ~/.claude/settings.json (CLAUDE_CONFIG_DIR moves the folder).

Verified with the real program (shared/reference/agents.md): ANTHROPIC_BASE_URL (no /v1),
ANTHROPIC_AUTH_TOKEN sent as a Bearer token, ANTHROPIC_API_KEY explicitly empty. The settings `env`
beats the shell's environment, so a stale exported key cannot win.
"""

from __future__ import annotations

from pathlib import Path

from capit_tui.agents.base import Agent, Endpoint, FileEdit, InstalledKey, read_doc

MODEL_VARS = ("ANTHROPIC_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL", "ANTHROPIC_DEFAULT_SONNET_MODEL",
              "ANTHROPIC_DEFAULT_HAIKU_MODEL")


class Claude(Agent):
    name = "claude"
    title = "Claude Code"
    binaries = ("claude",)
    wire = "anthropic"
    default_model = "anthropic/claude-sonnet-4.5"

    def config_dir(self) -> Path:
        return self.env_path("CLAUDE_CONFIG_DIR", self.home / ".claude")

    def settings_path(self) -> Path:
        return self.config_dir() / "settings.json"

    def files(self) -> list[Path]:
        return [self.settings_path()]

    def extra_binary_paths(self) -> list[Path]:
        return [self.home / ".local" / "bin" / "claude", self.home / ".claude" / "local" / "claude"]

    def plan_install(self, ep: Endpoint) -> list[FileEdit]:
        if not ep.anthropic_base_url:
            raise ValueError(f"{ep.platform} has no Anthropic-compatible endpoint, which Claude Code needs.")
        sets: list[tuple[tuple[str, ...], object]] = [
            (("env", "ANTHROPIC_BASE_URL"), ep.anthropic_base_url),
            (("env", "ANTHROPIC_AUTH_TOKEN"), ep.secret),
            (("env", "ANTHROPIC_API_KEY"), ""),
        ]
        choice = self.model_choice(ep)  # only a chosen model: Claude Code's own names work on OpenRouter
        if choice is not None and choice.after:
            for var in MODEL_VARS:
                sets.append((("env", var), choice.after))
        return [FileEdit(self.settings_path(), "json", tuple(sets), holds_secret=True)]

    def current_model(self) -> str | None:
        doc = read_doc(self.settings_path(), "json")
        current = (doc.get(("env", "ANTHROPIC_MODEL")) or doc.get(("model",))) if doc is not None else None
        return current if isinstance(current, str) else None

    def installed_key(self) -> InstalledKey | None:
        doc = read_doc(self.settings_path(), "json")
        if doc is None:
            return None
        token = doc.get(("env", "ANTHROPIC_AUTH_TOKEN")) or doc.get(("env", "ANTHROPIC_API_KEY"))
        if not isinstance(token, str) or not token:
            return None
        base = doc.get(("env", "ANTHROPIC_BASE_URL"))
        return InstalledKey(token, base if isinstance(base, str) else None, self.settings_path())

    def warnings(self) -> list[str]:
        out = []
        for managed in (Path("/etc/claude-code/managed-settings.json"),
                        Path("/Library/Application Support/ClaudeCode/managed-settings.json")):
            doc = read_doc(managed, "json")
            if doc is not None and doc.get(("env", "ANTHROPIC_BASE_URL")) is not None:
                out.append(f"{managed} (managed settings) sets ANTHROPIC_BASE_URL and overrides your settings.")
        return out

    def after_install(self) -> list[str]:
        return ["A project's .claude/settings.local.json can still override these; `claude /status` shows the "
                "token in use."]
