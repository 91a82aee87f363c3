"""What every coding agent module declares: how to find it, its files, the exact fields that point it
at an OpenRouter-compatible platform with a key, and how to read back the key it uses now.

An agent is `support = "file"` only when its own program, reading the files we write, sends the new
key (see shared/reference/agents.md). Agents whose key lives only in a keychain or on a vendor's
server are `support = "manual"`: the key is shown once with exact steps, and no file is edited.
"""

from __future__ import annotations

import os
import shutil
from abc import ABC
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from capit_tui.core.fsutil import UnsafeFile as UnsafeFile
from capit_tui.core.fsutil import read_regular
from capit_tui.core.model_choice import ModelChoice, choose_model
from capit_tui.core.redact import mask


@dataclass(frozen=True)
class Endpoint:
    """Where an agent should send requests, and with which key (a placeholder in previews)."""

    platform: str
    openai_base_url: str  # e.g. https://openrouter.ai/api/v1
    anthropic_base_url: str | None  # e.g. https://openrouter.ai/api (Claude Code adds /v1/messages)
    secret: str = field(repr=False)
    model: str | None = None
    platform_kind: str = "openrouter"

    def __repr__(self) -> str:
        return f"Endpoint(platform={self.platform!r}, base={self.openai_base_url!r}, secret={mask(self.secret)!r})"


@dataclass(frozen=True)
class FileEdit:
    """Set (or delete) fields in one file. Values are scalars; `None` as a value means JSON null."""

    path: Path
    fmt: str  # one of capit_tui.edits.FORMATS
    sets: tuple[tuple[tuple[str, ...], Any], ...] = ()
    deletes: tuple[tuple[str, ...], ...] = ()
    holds_secret: bool = False


@dataclass(frozen=True)
class Detection:
    installed: bool
    binary: str | None  # full path of the program found on PATH
    config_exists: bool  # its config folder exists

    @property
    def found(self) -> bool:
        return self.installed or self.config_exists


@dataclass(frozen=True)
class InstalledKey:
    """The key an agent's files make it use now, and where that comes from."""

    secret: str = field(repr=False)
    base_url: str | None
    source: Path

    @property
    def masked(self) -> str:
        return mask(self.secret)

    def __repr__(self) -> str:
        return f"InstalledKey(secret={self.masked!r}, base_url={self.base_url!r}, source={str(self.source)!r})"


class Agent(ABC):
    name: ClassVar[str]  # capit's name: claude, codex, opencode, ...
    title: ClassVar[str]  # what people call it: Claude Code
    binaries: ClassVar[tuple[str, ...]] = ()
    support: ClassVar[str] = "file"  # "file" | "manual" | "unsupported"
    wire: ClassVar[str] = "openai-chat"  # which API it speaks: anthropic | openai-chat | openai-responses
    default_model: ClassVar[str | None] = None  # an example model slug for the form; see model_choice()
    model_prefix: ClassVar[str] = ""  # what the agent puts before an OpenRouter id to send it there
    notes: ClassVar[str] = ""  # one line shown beside it (why manual, what to restart, ...)

    def __init__(self, env: Mapping[str, str] | None = None):
        self.env: Mapping[str, str] = os.environ if env is None else env

    # ------------------------------------------------------------ places

    @property
    def home(self) -> Path:
        """The user's home for agent files: CAPIT_AGENT_HOME (demo, tests) or HOME."""
        override = self.env.get("CAPIT_AGENT_HOME")
        if override:
            return Path(override)
        home = self.env.get("HOME") or self.env.get("USERPROFILE")
        return Path(home) if home else Path.home()

    def xdg(self, var: str, default: str) -> Path:
        """An XDG base dir honouring the variable, unless the demo home overrides everything."""
        if not self.env.get("CAPIT_AGENT_HOME"):
            value = self.env.get(var)
            if value:
                return Path(value)
        return self.home / default

    def env_path(self, var: str, default: Path) -> Path:
        """A folder an agent lets users move with an environment variable (CODEX_HOME, ...)."""
        if not self.env.get("CAPIT_AGENT_HOME"):
            value = self.env.get(var)
            if value:
                return Path(value).expanduser()
        return default

    def config_dir(self) -> Path:
        raise NotImplementedError

    def files(self) -> list[Path]:
        """Every file this agent module reads or writes."""
        return []

    def known_files(self) -> list[Path]:
        """Every file this agent module may have written, also where the choice depends on the disk now
        (opencode.json or .jsonc, a Hermes profile): what a restore may put back."""
        return self.files()

    # ------------------------------------------------------------ detection

    def which(self) -> str | None:
        path = self.env.get("PATH", os.defpath)
        for b in self.binaries:
            found = shutil.which(b, path=path)
            if found:
                return found
        for extra in self.extra_binary_paths():
            if extra.is_file() and os.access(extra, os.X_OK):
                return str(extra)
        return None

    def extra_binary_paths(self) -> list[Path]:
        """Install locations not always on PATH (e.g. ~/.local/bin/claude)."""
        return []

    def detect(self) -> Detection:
        binary = self.which()
        try:
            exists = self.config_dir().exists()
        except NotImplementedError:
            exists = False
        return Detection(installed=binary is not None, binary=binary, config_exists=exists)

    # ------------------------------------------------------------ install

    def plan_install(self, ep: Endpoint) -> list[FileEdit]:
        """The file edits that make this agent use `ep`. Only for support == "file"."""
        raise NotImplementedError

    def current_model(self) -> str | None:
        """The model the agent's files name now, in the agent's own naming (None: none set)."""
        return None

    def model_choice(self, ep: Endpoint) -> ModelChoice | None:
        """The model this install writes (core.model_choice's rule), or None when it writes none.

        By default an agent gets a model only when one is chosen for the install; agents that need a
        model the platform knows return `self.keep_model(ep)`, the full rule: the user's model kept,
        translated only where certain, the default only when none is set."""
        if not ep.model:
            return None
        return choose_model(self.current_model(), ep.model, kind=ep.platform_kind, default=self.default_model,
                            prefix=self.model_prefix)

    def keep_model(self, ep: Endpoint) -> ModelChoice:
        return choose_model(self.current_model(), ep.model, kind=ep.platform_kind, default=self.default_model,
                            prefix=self.model_prefix)

    def installed_key(self) -> InstalledKey | None:
        """Read the agent's files (never its environment) and return the key they make it use."""
        return None

    def warnings(self) -> list[str]:
        """Things that could stop the installed key from being used (env overrides, project files)."""
        return []

    def manual_steps(self, ep: Endpoint) -> list[str]:
        """For manual agents: the exact steps to install the key by hand (the key itself not included)."""
        return []

    def after_install(self) -> list[str]:
        """What the user should do after the files are written (restart a daemon, ...)."""
        return []


# ---------------------------------------------------------------- helpers for agent modules


def read_doc(path: Path, fmt: str):
    """Load a config file for reading back values; None if missing, unreadable or not parsing.

    Raises UnsafeFile (a CapitError naming the file) for something that must not be opened as a config:
    a FIFO, socket, device or folder, a file over 10 MB, a link to another user's file. The caller's
    agent then shows its key as unknown, with that sentence as a warning, instead of blocking on it.
    """
    from capit_tui.edits import ParseError, load

    try:
        raw = read_regular(path)  # UnsafeFile (not an OSError) goes up
    except OSError:
        return None
    if raw is None:
        return None
    try:
        return load(raw.decode("utf-8-sig"), fmt, filename=str(path))
    except (ParseError, UnicodeDecodeError, ValueError):
        return None


def read_text(path: Path, limit: int = 64 * 1024) -> str | None:
    """A small text file agents keep beside their configs (a profile name, ...): None if missing,
    unreadable or not UTF-8; UnsafeFile as read_doc."""
    try:
        raw = read_regular(path, limit=limit)
    except OSError:
        return None
    try:
        return raw.decode("utf-8") if raw is not None else None
    except UnicodeDecodeError:
        return None
