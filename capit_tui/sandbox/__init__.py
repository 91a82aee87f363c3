"""The sandbox: an OpenRouter-compatible server on loopback, behind `--demo` and `capit-tui sandbox serve`."""

from capit_tui.sandbox.server import REPLY_TEXT, Sandbox, serve, sha256_hex

__all__ = ["REPLY_TEXT", "Sandbox", "serve", "sha256_hex"]
