"""OpenAI Codex CLI: ~/.codex/config.toml (CODEX_HOME moves it).

Verified with the real program: model_provider points at a [model_providers.<id>] table with
base_url, wire_api = "responses" and experimental_bearer_token. capit-tui uses its own provider id
("capit") so a provider table the user already has is left alone. The model follows
core.model_choice: the user's `model` is kept, translated to OpenRouter's id where that is certain
(`o3` -> `openai/o3`); the default slug is written only when no `model` is set (Codex's built-in
default is a bare OpenAI name, which OpenRouter would refuse).
"""

from __future__ import annotations

from pathlib import Path

from capit_tui.agents.base import Agent, Endpoint, FileEdit, InstalledKey, read_doc
from capit_tui.core.model_choice import ModelChoice

PROVIDER_ID = "capit"


class Codex(Agent):
    name = "codex"
    title = "Codex CLI"
    binaries = ("codex",)
    wire = "openai-responses"
    default_model = "openai/gpt-5.1-codex"

    def config_dir(self) -> Path:
        return self.env_path("CODEX_HOME", self.home / ".codex")

    def config_path(self) -> Path:
        return self.config_dir() / "config.toml"

    def files(self) -> list[Path]:
        return [self.config_path()]

    def plan_install(self, ep: Endpoint) -> list[FileEdit]:
        table = ("model_providers", PROVIDER_ID)
        sets: list[tuple[tuple[str, ...], object]] = [
            (("model_provider",), PROVIDER_ID),
            (table + ("name",), f"capit-tui ({ep.platform})"),
            (table + ("base_url",), ep.openai_base_url),
            (table + ("wire_api",), "responses"),
            (table + ("experimental_bearer_token",), ep.secret),
        ]
        choice = self.model_choice(ep)
        if choice is not None and choice.changes:
            sets.append((("model",), choice.after))
        deletes = (table + ("env_key",), table + ("auth",), table + ("requires_openai_auth",))
        return [FileEdit(self.config_path(), "toml", tuple(sets), deletes, holds_secret=True)]

    def current_model(self) -> str | None:
        doc = read_doc(self.config_path(), "toml")
        current = doc.get(("model",)) if doc is not None else None
        return current if isinstance(current, str) else None

    def model_choice(self, ep: Endpoint) -> ModelChoice:
        return self.keep_model(ep)

    def installed_key(self) -> InstalledKey | None:
        doc = read_doc(self.config_path(), "toml")
        if doc is None:
            return None
        provider = doc.get(("model_provider",))
        if not isinstance(provider, str):
            return None
        token = doc.get(("model_providers", provider, "experimental_bearer_token"))
        if not isinstance(token, str) or not token:
            return None
        base = doc.get(("model_providers", provider, "base_url"))
        return InstalledKey(token, base if isinstance(base, str) else None, self.config_path())
