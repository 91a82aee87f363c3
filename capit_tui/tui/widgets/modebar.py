"""The line of modes at the top of every main screen: 1 Keys  2 Agents  3 Platforms  4 Backups."""

from __future__ import annotations

from textual.widgets import Static

MODES = (("1", "keys", "Keys"), ("2", "agents", "Agents"), ("3", "platforms", "Platforms"), ("4", "backups", "Backups"))


class ModeBar(Static):
    DEFAULT_CSS = """
    ModeBar { height: 1; padding: 0 1; background: $boost; }
    """

    def __init__(self, current: str):
        super().__init__(self._markup(current))

    @staticmethod
    def _markup(current: str) -> str:
        parts = []
        for key, mode, title in MODES:
            if mode == current:
                parts.append(f"[b reverse] {key} {title} [/]")
            else:
                parts.append(f"[@click=app.switch_mode('{mode}')] {key} {title} [/]")
        return "  ".join(parts)
