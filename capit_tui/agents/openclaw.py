"""OpenClaw: the key in the state folder's .env, the model and (for another gateway) the base URL in
openclaw.json (JSON5). $OPENCLAW_STATE_DIR moves the state folder, $OPENCLAW_CONFIG_PATH the config
file, $OPENCLAW_HOME the home both live under, as OpenClaw 2026.9 resolves them (the legacy ~/.clawdbot
and clawdbot.json are used when only they exist); a `--profile NAME` state folder (~/.openclaw-NAME) is
not followed.

Verified with the real program (openclaw 2026.9.6, `openclaw agent --local --message "say hi"` under an
isolated HOME, against capit-tui's sandbox; tests/realagents/test_real_agents_more.py):
- `OPENROUTER_API_KEY=KEY` in <state>/.env is sent as `Authorization: Bearer KEY`. That file beats the
  `env.vars` block of openclaw.json (checked by hand: a different key there was not used), so the key
  goes in .env, the least shared of the two. A key already in openclaw.json is replaced too, so no
  stale key is left.
- The flat `env: {OPENROUTER_API_KEY: ...}` shape of older docs is rejected by 2026.9 ("Unrecognized
  key"), so capit-tui never adds it; the current shape is `env.vars`.
- `agents.defaults.model.primary = "openrouter/<slug>"` selects the built-in OpenRouter provider.
  A model ref without the openrouter/ prefix goes to another provider. The primary model follows
  core.model_choice: a chosen one wins; else the user's is kept, given the openrouter/ prefix and
  translated to OpenRouter's id where that is certain (`anthropic/claude-opus-4-5` ->
  `openrouter/anthropic/claude-opus-4.5`); the default slug only when no primary model is set.
- `models.providers.openrouter.baseUrl` alone (no other provider fields, no SecretRef) passes the
  config validation and moves the built-in provider to another gateway. It is written only for a base
  URL other than openrouter.ai's, or to update one that is already there.
- With openrouter.ai's own base URL nothing but the key and the model is written (the built-in
  provider's default endpoint); that case was not run against the real host, as there is no network here.
- An OPENROUTER_API_KEY in the process environment wins over both files (a stale exported key got a
  401): warnings() says so.
"""

from __future__ import annotations

from pathlib import Path

from capit_tui.agents.base import Agent, Endpoint, FileEdit, InstalledKey, read_doc
from capit_tui.core.model_choice import ModelChoice

OPENROUTER_BASE = "https://openrouter.ai/api/v1"
KEY_VAR = "OPENROUTER_API_KEY"


def _same_base(a: str | None, b: str | None) -> bool:
    return (a or "").rstrip("/") == (b or "").rstrip("/")


class OpenClaw(Agent):
    name = "openclaw"
    title = "OpenClaw"
    binaries = ("openclaw",)
    wire = "openai-chat"
    default_model = "anthropic/claude-sonnet-4.5"
    model_prefix = "openrouter/"
    notes = "Restart the OpenClaw gateway after installing (openclaw gateway restart)."

    # ------------------------------------------------------------ places

    def config_dir(self) -> Path:
        """The state folder: $OPENCLAW_STATE_DIR, else ~/.openclaw ($OPENCLAW_HOME replaces ~), or the
        legacy ~/.clawdbot when only that exists."""
        home = self.env_path("OPENCLAW_HOME", self.home)
        default = home / ".openclaw"
        if not default.exists() and (home / ".clawdbot").is_dir():
            default = home / ".clawdbot"
        return self.env_path("OPENCLAW_STATE_DIR", default)

    def config_path(self) -> Path:
        """$OPENCLAW_CONFIG_PATH, else the first existing openclaw.json/clawdbot.json OpenClaw would load."""
        state = self.config_dir()
        home = self.env_path("OPENCLAW_HOME", self.home)
        for folder in dict.fromkeys((state, home / ".openclaw", home / ".clawdbot")):
            for name in ("openclaw.json", "clawdbot.json"):
                if (folder / name).exists():
                    return self.env_path("OPENCLAW_CONFIG_PATH", folder / name)
        return self.env_path("OPENCLAW_CONFIG_PATH", state / "openclaw.json")

    def env_file(self) -> Path:
        return self.config_dir() / ".env"

    def files(self) -> list[Path]:
        return [self.env_file(), self.config_path()]

    # ------------------------------------------------------------ install

    def plan_install(self, ep: Endpoint) -> list[FileEdit]:
        env_edit = FileEdit(self.env_file(), "dotenv", (((KEY_VAR,), ep.secret),), holds_secret=True)

        doc = read_doc(self.config_path(), "json5")
        sets: list[tuple[tuple[str, ...], object]] = []
        holds_secret = False
        # A key already in openclaw.json would sit there stale; replace it with the new one.
        for path in (("env", "vars", KEY_VAR), ("env", KEY_VAR)):
            if doc is not None and isinstance(doc.get(path), str):
                sets.append((path, ep.secret))
                holds_secret = True

        current = doc.get(("agents", "defaults", "model")) if doc is not None else None
        choice = self.model_choice(ep)
        model = choice.after if choice.changes else None
        if model is not None:
            # `model` may be a bare string ("provider/model") in hand-written configs.
            model_path = ("agents", "defaults", "model") if isinstance(current, str) else (
                "agents", "defaults", "model", "primary")
            sets.append((model_path, model))

        base_path = ("models", "providers", "openrouter", "baseUrl")
        existing_base = doc.get(base_path) if doc is not None else None
        if not _same_base(ep.openai_base_url, OPENROUTER_BASE) or existing_base is not None:
            sets.append((base_path, ep.openai_base_url))

        edits = [env_edit]
        if sets:
            edits.append(FileEdit(self.config_path(), "json5", tuple(sets), holds_secret=holds_secret))
        return edits

    def current_model(self) -> str | None:
        doc = read_doc(self.config_path(), "json5")
        current = doc.get(("agents", "defaults", "model")) if doc is not None else None
        primary = current.get("primary") if isinstance(current, dict) else current
        return primary if isinstance(primary, str) else None

    def model_choice(self, ep: Endpoint) -> ModelChoice:
        return self.keep_model(ep)

    def installed_key(self) -> InstalledKey | None:
        cfg = read_doc(self.config_path(), "json5")
        base = OPENROUTER_BASE
        if cfg is not None:
            b = cfg.get(("models", "providers", "openrouter", "baseUrl"))
            if isinstance(b, str) and b:
                base = b
        env = read_doc(self.env_file(), "dotenv")
        if env is not None:
            k = env.get((KEY_VAR,))
            if isinstance(k, str) and k:
                return InstalledKey(k, base, self.env_file())
        if cfg is not None:
            for path in (("env", "vars", KEY_VAR), ("env", KEY_VAR)):
                k = cfg.get(path)
                if isinstance(k, str) and k and not k.startswith("${"):
                    return InstalledKey(k, base, self.config_path())
        return None

    def warnings(self) -> list[str]:
        out = []
        if self.env.get(KEY_VAR):
            out.append(f"{KEY_VAR} is set in this environment, and OpenClaw prefers it to the files: unset it "
                       "(also in the gateway service's environment), or OpenClaw keeps using the old key.")
        return out

    def after_install(self) -> list[str]:
        return [
            "If the OpenClaw gateway runs as a service, restart it: `openclaw gateway restart`.",
            "A .env in the folder you start OpenClaw from, or an OpenRouter sign-in saved by `openclaw onboard`, "
            "can take precedence; `openclaw models status` shows the credential in use.",
        ]
