"""Team (5): the members of a team file (`capit-tui --team FILE`, or `[team] file` in settings.toml), grouped
by tier, each with their key's spend against its cap, the percentage, the burn rate and what differs from the
file (a pending create, re-cap or re-tier; a key re-capped by hand; a removed member still recorded).

The core says all of it (core/team.py `gather` and `status`, over the app's adapter and the keys the app has
listed); this screen draws it, refreshed after each spend refresh. `enter` opens the key's detail, and `d`,
`e`, `x` revoke, re-cap and disable/enable it through the same confirmations as on Keys (tui/key_actions.py).
Changing the team itself is `capit-tui team apply FILE`: the screen says so and never applies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import getters, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from capit_tui.core.history import per_hour
from capit_tui.core.model import CappedKey
from capit_tui.core.money import format_usd, percent
from capit_tui.core.spend_watch import Update
from capit_tui.core.team import StatusRow
from capit_tui.core.team_file import Team
from capit_tui.core.text import display_name, middle_ellipsis, plural
from capit_tui.tui.key_actions import ask_cap, ask_revoke, ask_toggle
from capit_tui.tui.typed_app import capit_app
from capit_tui.tui.widgets.modebar import ModeBar
from capit_tui.tui.widgets.panic_banner import PanicBanner

WIDE = 120  # from this many columns the key's name and the drift have columns of their own
NO_TIER = "(no tier)"
REMOVED = "(removed from the file)"


class TeamScreen(Screen):
    CSS_PATH = "team.tcss"
    BINDINGS = [
        Binding("d,delete", "revoke", "Revoke", id="team.revoke"),
        Binding("e", "edit_cap", "Cap", id="team.cap"),
        Binding("x", "toggle_key", "Disable", id="team.toggle"),
    ]

    app = capit_app()
    table = getters.query_one("#team", DataTable)
    summary = getters.query_one("#summary", Static)
    status_line = getters.query_one("#status", Static)

    def __init__(self) -> None:
        super().__init__()
        self.team: Team | None = None
        self.rows: dict[str, StatusRow] = {}
        self.problem: str | None = None
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Header(icon="$")
        yield ModeBar("team")
        yield PanicBanner()
        yield Static("", id="summary", markup=False)
        yield DataTable(id="team", cursor_type="row", zebra_stripes=True)
        yield Static("", id="status", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.app.spend_signal.subscribe(self, self.on_spend)
        self.summary.update("Reading the team file...")
        self.load()
        self.table.focus()

    def on_spend(self, update: Update) -> None:
        if not self.app.refreshing and (update.changed or update.removed or update.added):
            self.load()

    def on_resize(self) -> None:
        if self.loaded:
            self.draw()

    # ------------------------------------------------------------ loading

    @work(exclusive=True, group="team", exit_on_error=False)
    async def load(self) -> None:
        from capit_tui.core import team_file
        from capit_tui.core.team import TeamRecord, gather, status
        from capit_tui.errors import CapitError

        path = self.app.team_path
        if path is None:
            self.show_problem("No team file is open. Start with `capit-tui --team team.toml`, or set [team] file "
                              "= \"...\" in settings.toml.")
            return
        try:
            team = team_file.load(Path(path))
            from capit_tui.core.demo import stand_in

            team.platform = stand_in(team.platform)
            if not any(c.name == team.platform for c in self.app.platforms):
                raise CapitError(f"The team's platform {team.platform} is not set up here (3 Platforms, then a).")
            p = self.app.platform(team.platform)
            listed = team.platform in self.app.loaded_platforms
            keys = [k for (pl, _), k in self.app.spend.keys.items() if pl == team.platform] if listed else None
            facts = await gather(team, p, keys)
            rows = status(team, facts, TeamRecord(team.name).load())
        except CapitError as exc:
            self.show_problem(str(exc))
            return
        self.team, self.problem, self.loaded = team, None, True
        self.rows = {r.member: r for r in rows}
        self.draw()

    def show_problem(self, sentence: str) -> None:
        self.problem = sentence
        self.loaded = False
        self.summary.update(sentence)
        self.summary.add_class("-error")
        self.table.clear(columns=True)
        self.status_line.update("")

    # ------------------------------------------------------------ drawing

    def draw(self) -> None:
        team = self.team
        if team is None:
            return
        self.summary.remove_class("-error")
        rows = list(self.rows.values())
        pending = sum(1 for r in rows if r.action != "nothing")
        drift = sum(1 for r in rows if r.drift)
        spent = sum((r.spent or 0 for r in rows), start=0)
        self.summary.update(
            f"Team {team.name} on {team.platform}: {plural(len(team.members), 'member')}, "
            f"{format_usd(spent)} spent; {pending} pending, {drift} drifted "
            f"(`capit-tui team apply {team.path.name}`).")
        wide = self.size.width >= WIDE
        table = self.table
        cursor = self.cursor_member()
        table.clear(columns=True)
        columns = ["Member", *(["Key"] if wide else []), "Spend", "Cap", "%", "Burn/h", "State",
                   *(["Drift"] if wide else [])]
        for c in columns:
            table.add_column(c, key=c.lower())
        for title, members in self.groups(team, rows):
            table.add_row(*self.heading(title, team, len(columns)), key=f"t:{title}")
            for r in members:
                table.add_row(*self.cells(r, wide), key=f"m:{r.member}")
        if cursor is not None and f"m:{cursor}" in table.rows:
            table.move_cursor(row=table.get_row_index(f"m:{cursor}"))
        elif table.row_count > 1:
            table.move_cursor(row=1)
        self.say_row()

    def groups(self, team: Team, rows: list[StatusRow]) -> list[tuple[str, list[StatusRow]]]:
        order = [*team.tiers, NO_TIER, REMOVED]
        out: dict[str, list[StatusRow]] = {t: [] for t in order}
        for r in rows:
            out[REMOVED if not r.in_file else (r.tier or NO_TIER)].append(r)
        return [(t, sorted(ms, key=lambda r: r.member)) for t, ms in out.items() if ms]

    def heading(self, title: str, team: Team, n: int) -> list[Text]:
        """A tier's row: its name (the models it allows: in the Drift column when wide, else below on the
        status line when the row is under the cursor)."""
        tier = team.tiers.get(title)
        cells = [Text(middle_ellipsis(title, 24), style="bold"), *(Text("") for _ in range(n - 1))]
        if tier is not None and n > 7:
            cells[-1] = Text(middle_ellipsis(", ".join(tier.models), max(20, self.size.width - 88)), style="dim")
        return cells

    def cells(self, r: StatusRow, wide: bool) -> list[Text]:
        k = r.key
        mark = "! " if r.drift else "  "
        name = Text(mark + display_name(r.member, 24), style="yellow" if r.drift else "")
        if k is None:
            money = [Text("-", justify="right")] * 4
        else:
            pct = percent(k.spent, k.limit)
            burn = getattr(self.app.burns.get((k.platform, k.id)), "last_hour", None)
            money = [Text(format_usd(k.spent), justify="right"), Text(format_usd(k.limit), justify="right"),
                     Text(f"{pct}%" if pct is not None else "-", justify="right",
                          style="red" if pct is not None and pct >= 100 else "yellow" if pct and pct >= 80 else ""),
                     Text(per_hour(burn), justify="right")]
        state = "disabled" if k is not None and k.disabled else "ok"
        if r.action != "nothing":
            state = f"to {r.action}"
        cells = [name, *([Text(display_name(k.name if k else '-', 32))] if wide else []), *money,
                 Text(state, style="" if state == "ok" else "yellow")]
        if wide:
            cells.append(Text(middle_ellipsis("; ".join(r.drift) or "-", max(20, self.size.width - 88))))
        return cells

    # ------------------------------------------------------------ the row under the cursor

    def cursor_member(self) -> str | None:
        table = self.table
        if not table.row_count or table.cursor_row < 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        except Exception:  # noqa: BLE001 - no row there
            return None
        return key[2:] if key.startswith("m:") else None

    def cursor_tier(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        except Exception:  # noqa: BLE001 - no row there
            return None
        return key[2:] if key.startswith("t:") else None

    def selected(self) -> CappedKey | None:
        member = self.cursor_member()
        row = self.rows.get(member) if member else None
        if row is None or row.key is None:
            return None
        return self.app.spend.keys.get((row.key.platform, row.key.id), row.key)

    @on(DataTable.RowHighlighted, "#team")
    def highlighted(self, event: Any) -> None:
        self.say_row()

    def say_row(self) -> None:
        member = self.cursor_member()
        r = self.rows.get(member) if member else None
        tier = self.cursor_tier()
        if r is None and tier is not None and self.team is not None:
            models = ", ".join(self.team.tiers[tier].models) if tier in self.team.tiers else "-"
            self.status_line.update(f"tier {tier}: {models}" if tier in self.team.tiers else tier)
            return
        if r is None:
            self.status_line.update("enter: the key's detail; d/e/x: revoke, cap, disable. The team changes with "
                                    "`capit-tui team apply`.")
            return
        key = r.key.name if r.key is not None else "no key"
        tier = r.tier_now or r.tier or "no tier"
        said = f"{r.member}: {key}, tier {tier}"
        if r.action != "nothing":
            said += f"; apply would {r.action}"
        if r.drift:
            said += "; drift: " + "; ".join(r.drift)
        self.status_line.update(said)

    def key_or_why(self, doing: str) -> CappedKey | None:
        key = self.selected()
        if key is None:
            why = ("No team is shown" if not self.loaded else "The row under the cursor has no key")
            self.app.notify(f"{why}: nothing to {doing}.", title="No key selected", severity="warning", markup=False)
        return key

    @on(DataTable.RowSelected, "#team")
    def open_details(self, event: Any) -> None:
        key = self.selected()
        if key is not None:
            from capit_tui.tui.modals.key_detail import KeyDetailScreen

            self.app.push_screen(KeyDetailScreen(key))

    def action_revoke(self) -> None:
        key = self.key_or_why("revoke")
        if key is not None:
            ask_revoke(self.app, key)

    def action_edit_cap(self) -> None:
        key = self.key_or_why("re-cap")
        if key is not None:
            ask_cap(self.app, key)

    def action_toggle_key(self) -> None:
        key = self.key_or_why("disable or enable")
        if key is not None:
            ask_toggle(self.app, key)
