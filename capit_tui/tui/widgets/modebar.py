"""The line of modes at the top of every main screen: 1 Keys  2 Agents  3 Platforms  4 Backups, and 5 Team when
the app shows a team file (`capit-tui --team FILE`, `[team] file` in settings.toml, the demo's sample team)."""

from __future__ import annotations

from textual.widgets import Static

MODES = (("1", "keys", "Keys"), ("2", "agents", "Agents"), ("3", "platforms", "Platforms"), ("4", "backups", "Backups"))
TEAM = ("5", "team", "Team")


class ModeBar(Static):
    DEFAULT_CSS = """
    ModeBar { height: 1; padding: 0 1; background: $boost; }
    """

    def __init__(self, current: str):
        super().__init__(self._markup(current, current == "team"))
        self.current = current

    def on_mount(self) -> None:
        if getattr(self.app, "team_path", None) is not None and self.current != "team":
            self.update(self._markup(self.current, True))

    @staticmethod
    def _markup(current: str, team: bool = False) -> str:
        parts = []
        for key, mode, title in (*MODES, TEAM) if team else MODES:
            if mode == current:
                parts.append(f"[b reverse] {key} {title} [/]")
            else:
                parts.append(f"[@click=app.switch_mode('{mode}')] {key} {title} [/]")
        return "  ".join(parts)
