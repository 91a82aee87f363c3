"""Crush (charmbracelet/crush): the OpenRouter provider and model in Crush's global data config,
~/.local/share/crush/crush.json (CRUSH_GLOBAL_DATA, else XDG_DATA_HOME/crush; %LOCALAPPDATA%\\crush on
Windows).

NOT VERIFIED WITH THE REAL PROGRAM HERE: the npm package @charmland/crush downloads its binary from
GitHub releases in a postinstall script, which this machine cannot reach, and no registry here ships
the binary. What follows was read from Crush's source (charmbracelet/crush at 37f36e9, Aug 2026):
- internal/config/load.go lookupConfigs/loadFromConfigPaths: the files merge in this order, later
  winning: system config, ~/.config/crush/crush.json, ~/.config/crush/crushrc, the global data
  crush.json, then the project's crush.json/.crush.json/crushrc/.crushrc. So the data file beats both
  global config files; only a project's own config beats it.
- internal/config/store.go SetProviderAPIKey / UpdatePreferredModel: when a user types a key into
  Crush, it writes `providers.<id>.api_key` and `models.large` into that same data file; capit-tui
  writes exactly those fields.
- configureProviders: a configured known provider ("openrouter" is one) overrides the built-in
  API key and, with `base_url`, the endpoint; a literal api_key is used as is, so it beats an exported
  OPENROUTER_API_KEY (which the built-in provider reads only when no key is configured).
- `models.large` = {provider: "openrouter", model: <slug>} chooses the model; the provider is set to
  openrouter (else Crush may keep using another provider) and the model follows core.model_choice (a
  chosen one wins, else the user's is kept, translated where certain; the default only when none is set).
The reference (shared/reference/agents.md §12) rates this Medium-High because the format is changing
quickly; keep Crush out of the registry until it is verified with the real program.
"""

from __future__ import annotations

import sys
from pathlib import Path

from capit_tui.agents.base import Agent, Endpoint, FileEdit, InstalledKey, read_doc
from capit_tui.core.model_choice import ModelChoice

OPENROUTER_BASE = "https://openrouter.ai/api/v1"


class Crush(Agent):
    name = "crush"
    title = "Crush"
    binaries = ("crush",)
    wire = "openai-chat"
    default_model = "anthropic/claude-sonnet-4.5"

    def config_dir(self) -> Path:
        """Crush's user config folder (crushrc, crush.json): CRUSH_GLOBAL_CONFIG, else XDG_CONFIG_HOME/crush."""
        return self.env_path("CRUSH_GLOBAL_CONFIG", self.xdg("XDG_CONFIG_HOME", ".config") / "crush")

    def data_path(self) -> Path:
        demo = bool(self.env.get("CAPIT_AGENT_HOME"))  # the demo home overrides every variable
        explicit = None if demo else self.env.get("CRUSH_GLOBAL_DATA")
        if explicit:
            return Path(explicit).expanduser() / "crush.json"
        xdg = None if demo else self.env.get("XDG_DATA_HOME")
        if xdg:
            return Path(xdg) / "crush" / "crush.json"
        if sys.platform == "win32":
            local = None if demo else self.env.get("LOCALAPPDATA")
            return (Path(local) if local else self.home / "AppData" / "Local") / "crush" / "crush.json"
        return self.home / ".local" / "share" / "crush" / "crush.json"

    def files(self) -> list[Path]:
        return [self.data_path()]

    def detect(self):
        from dataclasses import replace

        d = super().detect()
        if not d.config_exists and self.data_path().parent.exists():
            d = replace(d, config_exists=True)
        return d

    def plan_install(self, ep: Endpoint) -> list[FileEdit]:
        doc = read_doc(self.data_path(), "json")
        prov = ("providers", "openrouter")
        sets: list[tuple[tuple[str, ...], object]] = [(prov + ("api_key",), ep.secret)]
        existing_base = doc.get(prov + ("base_url",)) if doc is not None else None
        if ep.openai_base_url.rstrip("/") != OPENROUTER_BASE or existing_base is not None:
            sets.append((prov + ("base_url",), ep.openai_base_url))
        if doc is not None and doc.get(prov + ("disable",)) is True:
            sets.append((prov + ("disable",), False))
        choice = self.model_choice(ep)
        provider = doc.get(("models", "large", "provider")) if doc is not None else None
        if choice.after and (choice.changes or provider != "openrouter"):
            sets.append((("models", "large", "provider"), "openrouter"))
            sets.append((("models", "large", "model"), choice.after))
        return [FileEdit(self.data_path(), "json", tuple(sets), holds_secret=True)]

    def current_model(self) -> str | None:
        doc = read_doc(self.data_path(), "json")
        current = doc.get(("models", "large", "model")) if doc is not None else None
        return current if isinstance(current, str) else None

    def model_choice(self, ep: Endpoint) -> ModelChoice:
        return self.keep_model(ep)

    def installed_key(self) -> InstalledKey | None:
        doc = read_doc(self.data_path(), "json")
        if doc is None:
            return None
        key = doc.get(("providers", "openrouter", "api_key"))
        if not isinstance(key, str) or not key or key.startswith("$"):
            return None
        base = doc.get(("providers", "openrouter", "base_url"))
        return InstalledKey(key, base if isinstance(base, str) and base else OPENROUTER_BASE, self.data_path())

    def warnings(self) -> list[str]:
        doc = read_doc(self.data_path(), "json")
        small = doc.get(("models", "small", "provider")) if doc is not None else None
        if isinstance(small, str) and small != "openrouter":
            return [f"Crush's small model (titles, summaries) uses {small}, not OpenRouter, so those calls "
                    "are not charged to the capped key."]
        return []

    def after_install(self) -> list[str]:
        return ["Restart Crush. A project's crush.json or crushrc overrides this file."]
