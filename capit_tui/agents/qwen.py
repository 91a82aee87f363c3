"""Qwen Code: the OpenAI-compatible auth of ~/.qwen/settings.json (QWEN_HOME moves the folder).

Fields (all scalars at object paths): `security.auth.selectedType = "openai"`, `security.auth.apiKey`,
`security.auth.baseUrl`, `model.name`. Qwen Code's own auth flow writes the same fields ("legacy
credentials" in its source). The `modelProviders.openai[...]` form of the docs needs a list entry,
which capit-tui's editors do not write; the scalar form reaches the same request.

How Qwen Code resolves them (0.24.4, resolveModelConfig): a `modelProviders` entry for the chosen model
first, then the environment (OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_MODEL), then these settings. The
environment is the shell's, plus .env files (~/.qwen/.env, ~/.env, a trusted project's) and the
settings' `env` block, none of which overrides a variable already set. So:
- an `env` block in settings.json that sets those names gets the same values;
- a `modelProviders` entry for the model would win and cannot be edited: plan_install refuses;
- exported variables or .env files that set them win: warnings() lists the ones it can see.
The model follows core.model_choice: a chosen one wins, else `model.name` is kept (translated to
OpenRouter's id where certain); the default slug is written only when none is set (OpenRouter does not
know Qwen's own default model names).

Verified with the real program (@qwen-code/qwen-code 0.24.4 from npm on Node 24, `qwen -p "say hi"`
under an isolated HOME, against capit-tui's sandbox; tests/realagents/test_real_agents_more.py): the key in
security.auth.apiKey reached security.auth.baseUrl as a Bearer token. An exported OPENAI_API_KEY was
used instead of it (401), as warned.
"""

from __future__ import annotations

from pathlib import Path

from capit_tui.agents.base import Agent, Endpoint, FileEdit, InstalledKey, read_doc
from capit_tui.core.model_choice import ModelChoice

ENV_NAMES = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL")


class Qwen(Agent):
    name = "qwen"
    title = "Qwen Code"
    binaries = ("qwen",)
    wire = "openai-chat"
    default_model = "qwen/qwen3-coder"

    def config_dir(self) -> Path:
        return self.env_path("QWEN_HOME", self.home / ".qwen")

    def settings_path(self) -> Path:
        return self.config_dir() / "settings.json"

    def env_files(self) -> list[Path]:
        """The user-level .env files Qwen Code reads, first found first applied."""
        out = [self.config_dir() / ".env"]
        legacy = self.home / ".qwen" / ".env"
        if legacy not in out:
            out.append(legacy)
        out.append(self.home / ".env")
        return out

    def files(self) -> list[Path]:
        return [self.settings_path()]

    def plan_install(self, ep: Endpoint) -> list[FileEdit]:
        doc = read_doc(self.settings_path(), "jsonc")
        if doc is not None:
            if isinstance(doc.get(("model",)), str) or doc.get(("selectedAuthType",)) is not None:
                raise ValueError(f"{self.settings_path()} is in Qwen Code's old flat format; start `qwen` once "
                                 "so it migrates the file, then install again.")
        model = self.model_choice(ep).after
        if doc is not None:
            providers = doc.get(("modelProviders",))
            for kind, entries in (providers.items() if isinstance(providers, dict) else []):
                for entry in entries if isinstance(entries, list) else []:
                    if isinstance(entry, dict) and entry.get("id") == model:
                        raise ValueError(
                            f"{self.settings_path()} lists {model} under modelProviders.{kind}, and that entry's "
                            "baseUrl and envKey take precedence over the key capit-tui would write. Remove the "
                            "entry (capit-tui cannot edit list items) or choose another model.")
        sets: list[tuple[tuple[str, ...], object]] = [
            (("security", "auth", "selectedType"), "openai"),
            (("security", "auth", "apiKey"), ep.secret),
            (("security", "auth", "baseUrl"), ep.openai_base_url),
            (("model", "name"), model),
        ]
        # An `env` block setting the OpenAI variables would beat security.auth: give it the same values.
        wanted = {"OPENAI_API_KEY": ep.secret, "OPENAI_BASE_URL": ep.openai_base_url, "OPENAI_MODEL": model}
        for name in ENV_NAMES:
            if doc is not None and doc.get(("env", name)) is not None:
                sets.append((("env", name), wanted[name]))
        return [FileEdit(self.settings_path(), "jsonc", tuple(sets), holds_secret=True)]

    def current_model(self) -> str | None:
        doc = read_doc(self.settings_path(), "jsonc")
        current = doc.get(("model", "name")) if doc is not None else None
        return current if isinstance(current, str) else None

    def model_choice(self, ep: Endpoint) -> ModelChoice:
        return self.keep_model(ep)

    def installed_key(self) -> InstalledKey | None:
        doc = read_doc(self.settings_path(), "jsonc")
        if doc is None or doc.get(("security", "auth", "selectedType")) != "openai":
            return None
        key, base, source = None, None, self.settings_path()
        for path in self.env_files():  # the first file that sets a name wins
            env = read_doc(path, "dotenv")
            if env is None:
                continue
            k, b = env.get(("OPENAI_API_KEY",)), env.get(("OPENAI_BASE_URL",))
            if key is None and isinstance(k, str) and k:
                key, source = k, path
            if base is None and isinstance(b, str) and b:
                base = b
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            v = doc.get(("env", name))
            if isinstance(v, str) and v:
                if name == "OPENAI_API_KEY" and key is None:
                    key = v
                if name == "OPENAI_BASE_URL" and base is None:
                    base = v
        if key is None:
            k = doc.get(("security", "auth", "apiKey"))
            key = k if isinstance(k, str) and k else None
        if base is None:
            b = doc.get(("security", "auth", "baseUrl"))
            base = b if isinstance(b, str) and b else None
        if not key:
            return None
        return InstalledKey(key, base, source)

    def warnings(self) -> list[str]:
        out = []
        exported = [n for n in ENV_NAMES if self.env.get(n)]
        if exported:
            one = len(exported) == 1
            out.append(f"{', '.join(exported)} {'is' if one else 'are'} set in this environment, and Qwen Code "
                       f"prefers {'it' if one else 'them'} to settings.json: unset {'it' if one else 'them'}.")
        for path in self.env_files():
            env = read_doc(path, "dotenv")
            names = [n for n in ENV_NAMES if env is not None and env.get((n,)) is not None]
            if names:
                out.append(f"{path} sets {', '.join(names)}, which Qwen Code prefers to settings.json; remove "
                           f"{'it' if len(names) == 1 else 'them'}.")
        return out

    def after_install(self) -> list[str]:
        return ["A project's .qwen/settings.json or .env can override these; `/auth` inside qwen shows the "
                "auth in use."]
