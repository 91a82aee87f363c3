"""Simon Willison's `llm` with the llm-openrouter plugin: keys.json {"openrouter": KEY} in llm's user
folder (LLM_USER_PATH, else io.datasette.llm under the platform's config folder).

- Only the llm-openrouter plugin reads the "openrouter" key; llm alone ignores it. When llm is found
  without the plugin, plan_install refuses and says how to add it (`llm install llm-openrouter`).
- The plugin always talks to https://openrouter.ai/api/v1 (hard-coded in llm_openrouter.py 0.7.1); it
  cannot be pointed at another gateway, so plan_install refuses other base URLs.
- A key in keys.json beats the plugin's environment variable OPENROUTER_KEY (llm.get_key).
- The model is chosen per call (`llm -m openrouter/<slug>`) or by default_model.txt, a plain-text file
  capit-tui's editors do not write; after_install() gives the command that sets it.

Verified with the real program (llm 0.36 + llm-openrouter 0.7.1 from PyPI, `llm -m
openrouter/<slug> "say hi"` under an isolated HOME; tests/realagents/test_real_agents_more.py): the key from
keys.json was sent as a Bearer token to POST /api/v1/responses, over a different OPENROUTER_KEY in the
environment. Because the plugin's host is fixed, that test routes the plugin's HTTP client from
openrouter.ai to capit-tui's sandbox with a sitecustomize hook (the network-level equivalent of a
hosts-file entry); llm, the plugin and the files they read are the real ones.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from capit_tui.agents.base import Agent, Endpoint, FileEdit, InstalledKey, UnsafeFile, read_doc
from capit_tui.core.fsutil import check_regular

OPENROUTER_BASE = "https://openrouter.ai/api/v1"
PLUGIN = "llm-openrouter"


class Llm(Agent):
    name = "llm"
    title = "llm (Simon Willison)"
    binaries = ("llm",)
    wire = "openai-responses"
    default_model = "anthropic/claude-sonnet-4.5"
    notes = "Needs the llm-openrouter plugin; talks to openrouter.ai only."

    def config_dir(self) -> Path:
        return self.env_path("LLM_USER_PATH", self._app_dir())

    def _app_dir(self) -> Path:
        # click.get_app_dir("io.datasette.llm")
        if sys.platform == "win32":
            appdata = None if self.env.get("CAPIT_AGENT_HOME") else self.env.get("APPDATA")
            return (Path(appdata) if appdata else self.home / "AppData" / "Roaming") / "io.datasette.llm"
        if sys.platform == "darwin":
            return self.home / "Library" / "Application Support" / "io.datasette.llm"
        return self.xdg("XDG_CONFIG_HOME", ".config") / "io.datasette.llm"

    def keys_path(self) -> Path:
        return self.config_dir() / "keys.json"

    def files(self) -> list[Path]:
        return [self.keys_path()]

    def extra_binary_paths(self) -> list[Path]:
        return [self.home / ".local" / "bin" / "llm"]

    # ------------------------------------------------------------ the plugin

    def plugin_installed(self) -> bool | None:
        """True/False when llm was found and its Python environment could be read; None when unknown."""
        binary = self.which()
        if binary is None:
            return None
        allowed = self.env.get("LLM_LOAD_PLUGINS")
        if allowed is not None and PLUGIN not in [p.strip() for p in allowed.split(",")]:
            return False
        try:
            program = Path(binary).resolve()
            if check_regular(program, limit=None) is None:  # a FIFO on PATH must not block the listing
                return None
            with os.fdopen(os.open(program, os.O_RDONLY | os.O_NONBLOCK), "rb") as fh:
                first = fh.readline(4096)
        except (OSError, UnsafeFile):
            return None
        if not first.startswith(b"#!"):
            return None
        interpreter = first[2:].strip().split()[0].decode("utf-8", "replace") if first[2:].strip() else ""
        if not interpreter or Path(interpreter).name == "env":
            return None
        prefix = Path(interpreter).parent.parent
        patterns = ("lib/python*/site-packages/llm_openrouter-*.dist-info",
                    "lib64/python*/site-packages/llm_openrouter-*.dist-info",
                    "Lib/site-packages/llm_openrouter-*.dist-info")
        if not any((prefix / d).is_dir() for d in ("lib", "lib64", "Lib")):
            return None
        return any(any(prefix.glob(p)) for p in patterns)

    # ------------------------------------------------------------ install

    def plan_install(self, ep: Endpoint) -> list[FileEdit]:
        if ep.openai_base_url.rstrip("/") != OPENROUTER_BASE:
            raise ValueError("the llm-openrouter plugin always sends requests to openrouter.ai, so llm cannot use "
                             f"{ep.platform}'s gateway at {ep.openai_base_url}.")
        if self.plugin_installed() is False:
            raise ValueError("llm is installed without the llm-openrouter plugin, so it would ignore an OpenRouter "
                             "key. Run `llm install llm-openrouter`, then install again.")
        return [FileEdit(self.keys_path(), "json", ((("openrouter",), ep.secret),), holds_secret=True)]

    def model_choice(self, ep: Endpoint) -> None:
        return None  # see the module's docstring: capit-tui writes no model for it

    def installed_key(self) -> InstalledKey | None:
        doc = read_doc(self.keys_path(), "json")
        if doc is None:
            return None
        key = doc.get(("openrouter",))
        if not isinstance(key, str) or not key:
            return None
        return InstalledKey(key, OPENROUTER_BASE, self.keys_path())

    def warnings(self) -> list[str]:
        if self.which() is not None and self.plugin_installed() is None:
            return ["capit-tui could not check that the llm-openrouter plugin is installed; without it llm "
                    "ignores this key (`llm plugins` lists it)."]
        return []

    def after_install(self) -> list[str]:
        return ["Pick an OpenRouter model per call with `llm -m openrouter/<provider>/<model>`, or make one the "
                "default with `llm models default openrouter/<provider>/<model>`."]
