"""Aider: the key, base URL and model in ~/.aider/oauth-keys.env, Aider's own dotenv file (where its
OpenRouter sign-in saves the key).

How Aider reads them (aider/main.py 0.86, load_dotenv_files): ~/.aider/oauth-keys.env, then the .env
files of home, git root and working folder, then --env-file, each loaded with override=True, so every
one of them beats the shell and a later one beats an earlier one. After that, `api-key:` / `set-env:`
entries of .aider.conf.yml overwrite the environment again. So:
- oauth-keys.env is the least shared file, and it beats the shell;
- ~/.env, which would override it, gets the same values, but only for the names it already sets;
- an OpenRouter entry under `api-key:` or `set-env:` in ~/.aider.conf.yml would win and is a list item
  capit-tui cannot edit: plan_install refuses with the reason instead of writing a file Aider ignores;
- a project's own .env / .aider.conf.yml still win; after_install() says so.

Fields: OPENROUTER_API_KEY (litellm's `openrouter/` provider), OPENROUTER_API_BASE (litellm reads it for
the base URL; written always, so a stale exported one cannot redirect the key), AIDER_MODEL =
openrouter/<slug>. Aider picks its model from whichever keys it finds (a shell ANTHROPIC_API_KEY or
OPENAI_API_KEY would make it talk to those vendors instead), so AIDER_MODEL always names an
openrouter/ model. It follows core.model_choice: a chosen model wins; else the model Aider uses now
(AIDER_MODEL of ~/.env or oauth-keys.env, else `model:` of .aider.conf.yml) is kept, given the
openrouter/ prefix and translated to OpenRouter's id where that is certain (`o3` ->
`openrouter/openai/o3`); the default slug only when no model is set. AIDER_MODEL beats a `model:` line
of .aider.conf.yml (configargparse: environment over config file).

Verified with the real program (aider-chat 0.86.2 from PyPI, `aider --message "say hi" --yes-always
--no-git` under an isolated HOME, against capit-tui's sandbox; tests/realagents/test_real_agents_more.py): the key
from oauth-keys.env reached OPENROUTER_API_BASE as a Bearer token, over a different exported key, with
a `model:` of another vendor in ~/.aider.conf.yml and an exported OPENAI_API_KEY. The same install made
for openrouter.ai's own base URL also sent the key (the test routes openrouter.ai to the sandbox inside
the HTTP client, as there is no network here).
"""

from __future__ import annotations

from pathlib import Path

from capit_tui.agents.base import Agent, Endpoint, FileEdit, InstalledKey, read_doc
from capit_tui.core.model_choice import ModelChoice

OPENROUTER_BASE = "https://openrouter.ai/api/v1"
KEY, BASE, MODEL = "OPENROUTER_API_KEY", "OPENROUTER_API_BASE", "AIDER_MODEL"


class Aider(Agent):
    name = "aider"
    title = "Aider"
    binaries = ("aider",)
    wire = "openai-chat"
    default_model = "anthropic/claude-sonnet-4.5"
    model_prefix = "openrouter/"

    # ------------------------------------------------------------ places

    def config_dir(self) -> Path:
        return self.home / ".aider"

    def oauth_env(self) -> Path:
        return self.config_dir() / "oauth-keys.env"

    def home_env(self) -> Path:
        return self.home / ".env"

    def conf_yml(self) -> Path:
        return self.home / ".aider.conf.yml"

    def files(self) -> list[Path]:
        return [self.oauth_env(), self.home_env(), self.conf_yml()]

    def extra_binary_paths(self) -> list[Path]:
        return [self.home / ".local" / "bin" / "aider"]

    def detect(self):
        from dataclasses import replace

        d = super().detect()
        if not d.config_exists and self.conf_yml().exists():
            d = replace(d, config_exists=True)
        return d

    # ------------------------------------------------------------ install

    def plan_install(self, ep: Endpoint) -> list[FileEdit]:
        conflicts = self._yml_overrides()
        if conflicts:
            raise ValueError(conflicts[0])
        choice = self.model_choice(ep)
        values: list[tuple[tuple[str, ...], object]] = [((KEY,), ep.secret), ((BASE,), ep.openai_base_url)]
        if choice.changes:
            values.append(((MODEL,), choice.after))
        edits = [FileEdit(self.oauth_env(), "dotenv", tuple(values), holds_secret=True)]

        # ~/.env is read after oauth-keys.env and overrides it: give it the same values, but only for the
        # names it already sets (it is shared with other programs).
        shared = read_doc(self.home_env(), "dotenv")
        if shared is not None:
            same = tuple((path, value) for path, value in values if shared.get(path) is not None)
            if same:
                edits.append(FileEdit(self.home_env(), "dotenv", same,
                                      holds_secret=any(path == (KEY,) for path, _ in same)))
        return edits

    def current_model(self) -> str | None:
        for path, fmt, key in ((self.home_env(), "dotenv", MODEL), (self.oauth_env(), "dotenv", MODEL),
                               (self.conf_yml(), "yaml", "model")):  # the first that sets one wins
            doc = read_doc(path, fmt)
            value = doc.get((key,)) if doc is not None else None
            if isinstance(value, str) and value.strip():
                return value
        return None

    def model_choice(self, ep: Endpoint) -> ModelChoice:
        return self.keep_model(ep)

    def _yml_overrides(self) -> list[str]:
        doc = read_doc(self.conf_yml(), "yaml")
        if doc is None:
            return []
        out = []
        keys = doc.get(("api-key",))
        for entry in keys if isinstance(keys, list) else [keys] if isinstance(keys, str) else []:
            if isinstance(entry, str) and entry.split("=", 1)[0].strip().lower() == "openrouter":
                out.append(f"{self.conf_yml()} sets the OpenRouter key under `api-key:`, which overrides every "
                           "other file. Remove that entry (capit-tui cannot edit list items) and install again.")
        env = doc.get(("set-env",))
        for entry in env if isinstance(env, list) else [env] if isinstance(env, str) else []:
            if isinstance(entry, str) and entry.split("=", 1)[0].strip() in (KEY, BASE):
                out.append(f"{self.conf_yml()} sets {entry.split('=', 1)[0].strip()} under `set-env:`, which "
                           "overrides every other file. Remove that entry and install again.")
        return out

    def installed_key(self) -> InstalledKey | None:
        found: tuple[str, Path] | None = None
        base = OPENROUTER_BASE
        for path in (self.oauth_env(), self.home_env()):  # later files win
            doc = read_doc(path, "dotenv")
            if doc is None:
                continue
            k, b = doc.get((KEY,)), doc.get((BASE,))
            if isinstance(k, str) and k:
                found = (k, path)
            if isinstance(b, str) and b:
                base = b
        yml = read_doc(self.conf_yml(), "yaml")
        keys = yml.get(("api-key",)) if yml is not None else None
        for entry in keys if isinstance(keys, list) else []:
            if isinstance(entry, str) and entry.split("=", 1)[0].strip().lower() == "openrouter":
                found = (entry.split("=", 1)[1].strip(), self.conf_yml())
        if found is None:
            return None
        return InstalledKey(found[0], base, found[1])

    def warnings(self) -> list[str]:
        out = []
        if self.home_env().exists() and read_doc(self.home_env(), "dotenv") is None:
            out.append(f"{self.home_env()} could not be read; if it sets {KEY}, {BASE} or {MODEL}, it overrides "
                       "the values capit-tui writes.")
        yml = read_doc(self.conf_yml(), "yaml")
        if yml is not None and yml.get(("env-file",)) is not None:
            out.append(f"{self.conf_yml()} names an env-file, which is read last and may override the key.")
        return out

    def after_install(self) -> list[str]:
        return ["A .env or .aider.conf.yml in a project's git root or working folder overrides these files "
                "(later files win); `aider --verbose` lists the files it loaded."]
