"""OpenCode: the key in ~/.local/share/opencode/auth.json and the base URL (plus the key, for
OpenCode 2, which imports auth.json only once into its SQLite store) in ~/.config/opencode/opencode.json.

Verified with the real program (1.x): auth.json {"openrouter": {"type": "api", "key": KEY}} with
provider.openrouter.options.baseURL sends the key to that base URL.
"""

from __future__ import annotations

from pathlib import Path

from capit_tui.agents.base import Agent, Endpoint, FileEdit, InstalledKey, read_doc


class OpenCode(Agent):
    name = "opencode"
    title = "OpenCode"
    binaries = ("opencode",)
    wire = "openai-chat"
    default_model = "anthropic/claude-sonnet-4.5"
    model_prefix = "openrouter/"

    def config_dir(self) -> Path:
        return self.xdg("XDG_CONFIG_HOME", ".config") / "opencode"

    def data_dir(self) -> Path:
        return self.xdg("XDG_DATA_HOME", ".local/share") / "opencode"

    def config_path(self) -> Path:
        jsonc = self.config_dir() / "opencode.jsonc"
        return jsonc if jsonc.exists() else self.config_dir() / "opencode.json"

    def auth_path(self) -> Path:
        return self.data_dir() / "auth.json"

    def files(self) -> list[Path]:
        return [self.auth_path(), self.config_path()]

    def known_files(self) -> list[Path]:
        return [self.auth_path(), self.config_dir() / "opencode.jsonc", self.config_dir() / "opencode.json"]

    def extra_binary_paths(self) -> list[Path]:
        return [self.home / ".opencode" / "bin" / "opencode"]

    def detect(self):
        d = super().detect()
        if not d.config_exists and self.data_dir().exists():
            from dataclasses import replace

            d = replace(d, config_exists=True)
        return d

    def plan_install(self, ep: Endpoint) -> list[FileEdit]:
        auth = FileEdit(self.auth_path(), "json", (
            (("openrouter", "type"), "api"),
            (("openrouter", "key"), ep.secret),
        ), holds_secret=True)
        opts = ("provider", "openrouter", "options")
        sets: list[tuple[tuple[str, ...], object]] = [
            (opts + ("baseURL",), ep.openai_base_url),
            (opts + ("apiKey",), ep.secret),
        ]
        choice = self.model_choice(ep)  # only a chosen model (`openrouter/<slug>`); else the user's stays
        if choice is not None and choice.after:
            sets.append((("model",), choice.after))
        config = FileEdit(self.config_path(), "jsonc", tuple(sets), holds_secret=True)
        return [auth, config]

    def current_model(self) -> str | None:
        doc = read_doc(self.config_path(), "jsonc")
        current = doc.get(("model",)) if doc is not None else None
        return current if isinstance(current, str) else None

    def installed_key(self) -> InstalledKey | None:
        cfg = read_doc(self.config_path(), "jsonc")
        base = None
        if cfg is not None:
            b = cfg.get(("provider", "openrouter", "options", "baseURL"))
            base = b if isinstance(b, str) else None
            k = cfg.get(("provider", "openrouter", "options", "apiKey"))
            if isinstance(k, str) and k and not k.startswith("{env:"):
                return InstalledKey(k, base, self.config_path())
        auth = read_doc(self.auth_path(), "json")
        if auth is not None:
            k = auth.get(("openrouter", "key"))
            if isinstance(k, str) and k:
                return InstalledKey(k, base, self.auth_path())
        return None

    def warnings(self) -> list[str]:
        if self.env.get("OPENCODE_CONFIG") or self.env.get("OPENCODE_CONFIG_CONTENT"):
            return ["OPENCODE_CONFIG or OPENCODE_CONFIG_CONTENT is set and may override opencode.json."]
        return []
