"""Format-preserving documents for agents' config files: JSON, JSONC, JSON5, TOML, dotenv, YAML.

    doc = load(text, detect_format(path), filename=str(path))   # ParseError if it does not parse
    doc.set(("env", "ANTHROPIC_AUTH_TOKEN"), key)                # creates missing parents
    doc.delete(("env", "ANTHROPIC_API_KEY"))
    new_text = doc.dumps()                                       # only the edited values differ

An edit changes only the edited values; everything else (comments, blank lines, key order,
indentation, quoting of other values, trailing commas, CRLF, BOM) stays byte for byte. Every edit is
verified by parsing the result again; an edit that would change anything else raises UnsafeEdit and
leaves the document as it was. A file that does not parse raises ParseError with file, line, column
and reason: it is never taken for an empty document.
"""

from __future__ import annotations

import os
from pathlib import PureWindowsPath

from ._base import Document, ParseError, PathError, UnsafeEdit

FORMATS = ("json", "jsonc", "json5", "toml", "dotenv", "yaml")

__all__ = ["FORMATS", "Document", "ParseError", "PathError", "UnsafeEdit", "detect_format", "load"]


def load(text: str, fmt: str, *, filename: str = "<file>") -> Document:
    """Parse `text` as `fmt` (one of FORMATS) into an editable Document; raises ParseError."""
    if not isinstance(text, str):
        raise TypeError("load() takes the file's text (str); decode bytes as UTF-8 first")
    if fmt in ("json", "jsonc", "json5"):
        from ._json import JSONDocument

        return JSONDocument(text, fmt, filename)
    if fmt == "toml":
        from ._toml import TOMLDocument

        return TOMLDocument(text, filename)
    if fmt == "dotenv":
        from ._dotenv import DotenvDocument

        return DotenvDocument(text, filename)
    if fmt == "yaml":
        from ._yaml import YAMLDocument

        return YAMLDocument(text, filename)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


# Folders whose settings.json is read by a VS Code-family editor (JSONC: comments, trailing commas).
_VSCODE_USER_DIRS = {
    "code", "code - insiders", "code - oss", "vscodium", "cursor", "windsurf", "windsurf - next",
    "kiro", "trae", "positron",
}
_JSONC_NAMES = {"opencode.json", "kilo.json", "devcontainer.json", ".devcontainer.json"}
_JSON5_NAMES = {"openclaw.json"}


def detect_format(path) -> str:
    """The format of a config file, from its name (and, for settings.json, its folder).

    .json -> json, except VS Code-family and Zed settings.json, opencode.json, *.jsonc -> jsonc;
    *.json5 and openclaw.json -> json5; .toml -> toml; .env, .env.*, *.env -> dotenv;
    .yml/.yaml -> yaml. Anything else raises ValueError.
    """
    p = PureWindowsPath(os.fspath(path))  # splits on / and \ alike, so Windows paths work everywhere
    name = p.name.lower()
    parents = [part.lower() for part in p.parts[:-1]]
    if name.endswith(".json5") or name in _JSON5_NAMES:
        return "json5"
    if name.endswith(".jsonc") or name in _JSONC_NAMES:
        return "jsonc"
    if name.endswith(".json"):
        if name == "settings.json" and parents:
            folder = parents[-1]
            if folder in (".vscode", "zed", ".zed"):
                return "jsonc"
            if folder == "user" and len(parents) >= 2 and parents[-2] in _VSCODE_USER_DIRS:
                return "jsonc"
        return "json"
    if name.endswith(".toml"):
        return "toml"
    if name == ".env" or name.startswith(".env.") or name.endswith(".env"):
        return "dotenv"
    if name.endswith((".yml", ".yaml")):
        return "yaml"
    raise ValueError(f"capit-tui does not know the format of {p.name}")
