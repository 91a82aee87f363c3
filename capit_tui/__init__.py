"""capit-tui: spending-capped API keys for coding agents."""

__version__ = "0.1.0"
