"""Hermes Agent (Nous Research): the key and base URL in <HERMES_HOME>/.env, the provider and model in
<HERMES_HOME>/config.yaml. HERMES_HOME defaults to ~/.hermes (%LOCALAPPDATA%\\hermes on Windows); the
profile made sticky by `hermes profile use NAME` (<root>/active_profile) is followed, as the hermes
command itself does.

Verified with the real program (hermes-agent 0.19.0 from PyPI, `hermes -z "say hi"` under an isolated
HOME, against capit-tui's sandbox; tests/realagents/test_real_agents_more.py):
- `OPENROUTER_API_KEY=KEY` in .env is sent as `Authorization: Bearer KEY`, and beats a different key
  exported in the shell (Hermes loads its .env with override=True).
- With `model.provider: openrouter`, Hermes ignores `model.base_url` and takes the base URL from
  OPENROUTER_BASE_URL (hermes_cli/runtime_provider.py), so that goes in .env too, always: it also keeps a
  stale exported OPENROUTER_BASE_URL or an older key in Hermes' credential pool from being used.
  `model.base_url` is written as well, as Hermes' own example config does.
- `model.default` follows core.model_choice: a chosen model wins; else the user's model is kept,
  translated to OpenRouter's id where that is certain (`o3` -> `openai/o3`, also in a flow-style
  `model: {default: o3}`); the default slug is written only when no model is set.
- The same install made for openrouter.ai's own base URL also sent the key (the test routes the
  requests for openrouter.ai to the sandbox inside Hermes' HTTP client, as there is no network here).
- CUSTOM_BASE_URL (shell or .env) takes precedence over OPENROUTER_BASE_URL and then Hermes does not
  send the OpenRouter key at all: warnings() says so.
"""

from __future__ import annotations

import sys
from pathlib import Path

from capit_tui.agents.base import Agent, Endpoint, FileEdit, InstalledKey, UnsafeFile, read_doc, read_text
from capit_tui.core.model_choice import ModelChoice

OPENROUTER_BASE = "https://openrouter.ai/api/v1"


class Hermes(Agent):
    name = "hermes"
    title = "Hermes Agent"
    binaries = ("hermes",)
    wire = "openai-chat"
    default_model = "anthropic/claude-sonnet-4.5"
    notes = "Restart the Hermes gateway after installing, if it runs (hermes gateway restart)."

    # ------------------------------------------------------------ places

    def native_home(self) -> Path:
        if sys.platform == "win32":
            local = None if self.env.get("CAPIT_AGENT_HOME") else self.env.get("LOCALAPPDATA")
            return (Path(local) if local else self.home / "AppData" / "Local") / "hermes"
        return self.home / ".hermes"

    def config_dir(self) -> Path:
        native = self.native_home()
        home = self.env_path("HERMES_HOME", native)
        explicit = home != native
        if explicit and home.parent.name == "profiles":
            return home  # HERMES_HOME already names a profile
        root = native if (not explicit or _inside(home, native)) else home
        try:
            active = (read_text(root / "active_profile") or "").strip()
        except UnsafeFile:  # a FIFO or a link to another user's file names no profile
            active = ""
        if active and active != "default":
            for name in (active, active.lower()):
                profile = root / "profiles" / name
                if profile.is_dir():
                    return profile
        return home

    def env_file(self) -> Path:
        return self.config_dir() / ".env"

    def config_path(self) -> Path:
        return self.config_dir() / "config.yaml"

    def files(self) -> list[Path]:
        return [self.env_file(), self.config_path()]

    def known_files(self) -> list[Path]:
        """Its files in the Hermes home and in every profile (the active one may have changed since)."""
        homes = [self.config_dir(), self.native_home(), self.env_path("HERMES_HOME", self.native_home())]
        for root in homes[1:]:
            try:
                homes.extend(p for p in sorted((root / "profiles").iterdir()) if p.is_dir())
            except OSError:
                pass
        out: list[Path] = []
        for folder in homes:
            out.extend(p for p in (folder / ".env", folder / "config.yaml") if p not in out)
        return out

    def extra_binary_paths(self) -> list[Path]:
        return [self.home / ".local" / "bin" / "hermes"]

    # ------------------------------------------------------------ install

    def plan_install(self, ep: Endpoint) -> list[FileEdit]:
        env = FileEdit(self.env_file(), "dotenv", (
            (("OPENROUTER_API_KEY",), ep.secret),
            # With provider "openrouter" Hermes reads its base URL only from here (see the docstring).
            (("OPENROUTER_BASE_URL",), ep.openai_base_url),
        ), holds_secret=True)

        doc = read_doc(self.config_path(), "yaml")
        current = doc.get(("model",)) if doc is not None else None
        if current is not None and not isinstance(current, dict):
            raise ValueError(f"{self.config_path()} sets `model:` to a single value, not a section; run "
                             "`hermes model` once (it rewrites it as a section) and install again.")
        sets: list[tuple[tuple[str, ...], object]] = [
            (("model", "provider"), "openrouter"),
            (("model", "base_url"), ep.openai_base_url),
        ]
        choice = self.model_choice(ep)
        if choice.changes:
            sets.append((("model", "default"), choice.after))
        return [env, FileEdit(self.config_path(), "yaml", tuple(sets))]

    def current_model(self) -> str | None:
        doc = read_doc(self.config_path(), "yaml")
        section = doc.get(("model",)) if doc is not None else None
        current = (section.get("default") or section.get("model")) if isinstance(section, dict) else None
        return current if isinstance(current, str) else None

    def model_choice(self, ep: Endpoint) -> ModelChoice:
        return self.keep_model(ep)

    def installed_key(self) -> InstalledKey | None:
        env = read_doc(self.env_file(), "dotenv")
        if env is None:
            return None
        key = env.get(("OPENROUTER_API_KEY",))
        if not isinstance(key, str) or not key:
            return None
        base = env.get(("OPENROUTER_BASE_URL",))
        return InstalledKey(key, base if isinstance(base, str) and base else OPENROUTER_BASE, self.env_file())

    def warnings(self) -> list[str]:
        out = []
        env = read_doc(self.env_file(), "dotenv")
        in_file = env is not None and bool(env.get(("CUSTOM_BASE_URL",)))
        if in_file or self.env.get("CUSTOM_BASE_URL"):
            where = str(self.env_file()) if in_file else "this environment"
            out.append(f"CUSTOM_BASE_URL is set in {where}; Hermes then sends requests there instead of the "
                       "OpenRouter base URL and does not use the OpenRouter key. Remove it.")
        return out

    def after_install(self) -> list[str]:
        out = ["If the Hermes messaging gateway runs as a service, restart it: `hermes gateway restart`."]
        if self.config_dir().parent.name == "profiles":
            out.append(f"Installed into the Hermes profile {self.config_dir().name!r} (the active one).")
        return out


def _inside(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
        return True
    except (ValueError, OSError):
        return False
