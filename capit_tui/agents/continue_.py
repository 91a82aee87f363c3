"""Continue (the `cn` CLI and the VS Code / JetBrains extensions): the key in ~/.continue/.env, for the
OpenRouter model of ~/.continue/config.yaml that reads it through `${{ secrets.NAME }}`.
CONTINUE_GLOBAL_DIR moves the folder.

Continue's models are entries of the `models:` list in config.yaml. capit-tui's editors set scalars at
object paths and do not add or edit list items, so capit-tui installs only into a config that already
has an OpenRouter model whose apiKey is a `${{ secrets.NAME }}` reference and whose apiBase (default
https://openrouter.ai/api/v1) is the platform's base URL: it writes NAME=KEY into ~/.continue/.env.
Otherwise plan_install refuses and says what to add. A model with a literal apiKey keeps its own key
(warnings() names it), and the model of the entry is the user's; capit-tui does not change it.

Verified with the real program (@continuedev/cli 1.5.47 from npm on Node 24, `cn -p "say hi"` under an
isolated HOME, against capit-tui's sandbox; tests/realagents/test_real_agents_more.py): with such an entry,
OPENROUTER_API_KEY in ~/.continue/.env was sent as a Bearer token to the entry's apiBase. A variable of
the same name exported in the shell won over the file (401 with a stale one): warnings() says so. The
IDE extensions read the same files according to Continue's docs; not verified here.
"""

from __future__ import annotations

import re
from pathlib import Path

from capit_tui.agents.base import Agent, Endpoint, FileEdit, InstalledKey, read_doc

OPENROUTER_BASE = "https://openrouter.ai/api/v1"
_SECRET_REF = re.compile(r"^\s*\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\s*$")

SNIPPET = (
    "models:\n"
    "  - name: OpenRouter\n"
    "    provider: openrouter\n"
    "    model: anthropic/claude-sonnet-4.5\n"
    "    apiBase: {base}\n"
    "    apiKey: ${{{{ secrets.OPENROUTER_API_KEY }}}}\n"
    "    roles: [chat, edit, apply]"
)


class Continue(Agent):
    name = "continue"
    title = "Continue"
    binaries = ("cn",)
    wire = "openai-chat"
    default_model = "anthropic/claude-sonnet-4.5"
    notes = "Installs into the OpenRouter model of ~/.continue/config.yaml; reload the IDE window after."

    def config_dir(self) -> Path:
        return self.env_path("CONTINUE_GLOBAL_DIR", self.home / ".continue")

    def config_path(self) -> Path:
        return self.config_dir() / "config.yaml"

    def env_file(self) -> Path:
        return self.config_dir() / ".env"

    def files(self) -> list[Path]:
        return [self.env_file(), self.config_path()]

    def detect(self):
        from capit_tui.agents.base import Detection

        d = super().detect()
        ext = self.home / ".vscode" / "extensions"
        has_ext = ext.is_dir() and any(p.name.startswith("continue.continue-") for p in ext.iterdir())
        return Detection(d.installed or has_ext, d.binary, d.config_exists or has_ext)

    # ------------------------------------------------------------ the config's OpenRouter models

    def _models(self) -> list[dict]:
        doc = read_doc(self.config_path(), "yaml")
        models = doc.get(("models",)) if doc is not None else None
        return [m for m in models if isinstance(m, dict)] if isinstance(models, list) else []

    @staticmethod
    def _base(model: dict) -> str | None:
        base = model.get("apiBase")
        if isinstance(base, str) and base:
            return base
        return OPENROUTER_BASE if model.get("provider") == "openrouter" else None

    def _openrouter_models(self, base: str | None = None) -> list[dict]:
        """Models whose requests go to `base`; without one, every OpenRouter model."""
        if base is None:
            return [m for m in self._models() if m.get("provider") == "openrouter"]
        return [m for m in self._models() if (self._base(m) or "").rstrip("/") == base.rstrip("/")]

    @staticmethod
    def _secret_name(model: dict) -> str | None:
        key = model.get("apiKey")
        m = _SECRET_REF.match(key) if isinstance(key, str) else None
        return m.group(1) if m else None

    # ------------------------------------------------------------ install

    def plan_install(self, ep: Endpoint) -> list[FileEdit]:
        path = self.config_path()
        if not path.exists():
            legacy = self.config_dir() / "config.json"
            why = (f"Continue keeps its models in {path}, which does not exist"
                   + (f" (only the deprecated {legacy.name})" if legacy.exists() else ""))
            raise ValueError(f"{why}. capit-tui cannot add a model entry to a YAML list yet; add this to "
                             f"{path} and install again:\n{SNIPPET.format(base=ep.openai_base_url)}")
        if read_doc(path, "yaml") is None:
            raise ValueError(f"{path} could not be read as YAML; fix it and install again.")
        names = []
        for m in self._openrouter_models(ep.openai_base_url):
            name = self._secret_name(m)
            if name and name not in names:
                names.append(name)
        if not names:
            raise ValueError(f"{path} has no OpenRouter model with apiBase {ep.openai_base_url} whose apiKey is "
                             "`${{ secrets.OPENROUTER_API_KEY }}`, and capit-tui cannot edit YAML list items yet. "
                             f"Add or change one like this and install again:\n"
                             f"{SNIPPET.format(base=ep.openai_base_url)}")
        return [FileEdit(self.env_file(), "dotenv", tuple(((n,), ep.secret) for n in names), holds_secret=True)]

    def model_choice(self, ep: Endpoint) -> None:
        return None  # see the module's docstring: capit-tui writes no model for it

    def installed_key(self) -> InstalledKey | None:
        env = read_doc(self.env_file(), "dotenv")
        if env is None:
            return None
        models = self._models()
        models.sort(key=lambda m: m.get("provider") != "openrouter")  # OpenRouter models first
        for m in models:
            name = self._secret_name(m)
            value = env.get((name,)) if name else None
            if isinstance(value, str) and value and self._base(m):
                return InstalledKey(value, self._base(m), self.env_file())
        return None

    def warnings(self) -> list[str]:
        out = []
        for m in self._openrouter_models():
            name = self._secret_name(m)
            label = m.get("name") or m.get("model") or "an OpenRouter model"
            if name is None:
                out.append(f"The model {label!r} in {self.config_path()} has its own apiKey and keeps using it.")
            elif self.env.get(name):
                out.append(f"{name} is set in this environment, and Continue prefers it to {self.env_file()}: "
                           "unset it.")
        return out

    def after_install(self) -> list[str]:
        return ["Reload the IDE window (or restart `cn`). A workspace .env, or a Continue Hub assistant selected "
                "instead of the local config, can take precedence."]
