"""How KeyTable draws a row (tui/table_lines.py): one segment for each run of unstyled text and padding,
the same cells and alignment as before, and rows kept drawn, so scrolling or filtering back to rows seen
before does not build their cells again."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult

from capit_tui.tui.table_lines import row_line
from capit_tui.tui.widgets.key_table import KeyTable

COLUMNS = (("name", "Name", 8), ("cap", "Cap", 6), ("status", "Status", 8), ("agents", "Agents", 6))


def test_plain_cells_and_their_padding_are_one_segment():
    cells = {"name": Text("ci-bot"), "cap": Text("$5.00", justify="right"), "status": Text("active"),
             "agents": Text("claude")}
    line, length = row_line(cells, COLUMNS, Console())
    assert [s.text for s in line] == [" ci-bot     $5.00  active    claude "]
    assert length == sum(w + 2 for _, _, w in COLUMNS) == len(line[0].text)


def test_styled_cells_keep_their_style_between_the_plain_runs():
    red = Style(color="red")
    cells = {"name": Text("a-very-long-name"), "cap": Text("-", style="dim", justify="center"),
             "status": Text("capped", style=red), "agents": Text.assemble("cl", ("au", "bold"), "de")}
    line, length = row_line(cells, COLUMNS, Console())
    assert "".join(s.text for s in line) == " a-very-l " + "   -    " + " capped   " + " claude "  # cut to 8; centred
    assert [(s.text, s.style) for s in line if s.style] == [
        ("-", Style(dim=True)), ("capped", red), ("au", Style(bold=True))]
    assert length == 36 and sum(len(s.text) for s in line) == 36


class TableApp(App[None]):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.built: Counter[str] = Counter()
        self.n = n

    def compose(self) -> ComposeResult:
        yield KeyTable(id="t")

    def on_mount(self) -> None:
        table = self.query_one(KeyTable)
        table.set_columns([("name", "Name", 12), ("n", "N", 6)])

        def cells(row: str) -> dict[str, Text]:
            self.built[row] += 1
            return {"name": Text(row), "n": Text(row[4:], justify="right")}

        table.set_cells(cells)
        table.set_rows([f"row-{i}" for i in range(self.n)])
        table.focus()


async def test_rows_drawn_before_are_not_built_again_after_scrolling_a_thousand_rows_away():
    app = TableApp(2000)
    async with app.run_test(size=(40, 22)) as pilot:
        await pilot.pause()
        table = app.query_one(KeyTable)
        top = [f"row-{i}" for i in range(20)]
        assert all(app.built[r] == 1 for r in top)
        for _ in range(60):  # 60 pages down: more than a thousand other rows drawn
            await pilot.press("pagedown")
        await pilot.pause()
        assert table.cursor_row > 1000 and len(app.built) > 1000
        await pilot.press("home")
        await pilot.pause()
        assert table.cursor_row == 0
        assert all(app.built[r] == 1 for r in top)  # drawn from what was kept, cells not asked for again
        assert table.render_line(1).text.startswith(" row-0 ")


async def test_a_changed_row_is_built_again_and_the_others_are_not():
    app = TableApp(50)
    async with app.run_test(size=(40, 22)) as pilot:
        await pilot.pause()
        table = app.query_one(KeyTable)
        table.invalidate(["row-3"])
        await pilot.pause()
        assert app.built["row-3"] == 2 and app.built["row-4"] == 1
        table.set_columns([("name", "Name", 10)])  # new columns: every row drawn anew
        await pilot.pause()
        assert app.built["row-4"] == 2
        assert table.render_line(5).text.startswith(" row-4      ")


async def test_the_first_paint_fits_a_long_name_far_down_a_long_list(sb, isolated_home):
    """The widths measured before the first paint include a sample spread over the whole list, so a name
    longer than any near the top, 1 400 rows down, has its room from the first frame."""
    from datetime import timedelta

    from tui_support import make_app, settle

    from capit_tui.core.model import CappedKey

    app = make_app(sb, isolated_home)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        at = app.now()
        keys = [CappedKey("openrouter", f"id{i:05d}", "a-long-name-for-one-key" if i == 1400 else f"k{i}",
                          created_at=at - timedelta(minutes=i)) for i in range(1500)]
        screen = app.screen
        screen.on_spend(app.spend.apply(keys, {}, app.clock()))  # a listing arrives; no tick has run yet
        assert screen.rows.order[1400] == "openrouter\x1fid01400"
        assert screen.columns_fit.width("name") == len("a-long-name-for-one-key")


async def test_the_filter_is_ready_long_before_every_width_is_measured(sb, isolated_home):
    """After a long listing, each tick makes the filter's lowercase strings (10 000 at a time) beside a
    chunk of widths, so the first keystroke does not have to make them all while the widths go on."""
    import asyncio
    from datetime import timedelta

    from tui_support import make_app, settle

    from capit_tui.core.model import CappedKey

    app = make_app(sb, isolated_home)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        at = app.now()
        keys = [CappedKey("openrouter", f"id{i:05d}", f"k{i}", created_at=at - timedelta(minutes=i))
                for i in range(10_000)]
        screen = app.screen
        screen.on_spend(app.spend.apply(keys, {}, app.clock()))
        assert screen._unmeasured and screen.rows._hay_made is None
        for _ in range(400):
            if screen.rows._hay_made is not None:
                break
            await asyncio.sleep(0.005)
        assert screen.rows._hay_made is not None and len(screen.rows._hay_made) == 10_000
        assert len(screen._unmeasured) > 5_000  # widths: 500 a tick, still under way
        await pilot.press("slash", "k", "9", "9", "9", "9")
        await pilot.pause()
        assert [screen.rows.keys[r].name for r in screen.table.rows] == ["k9999"]


async def test_a_filter_keystroke_or_a_quiet_refresh_leaves_the_footer_as_it_was(sb, isolated_home):
    """Which keys the footer offers does not depend on the rows (every action is let through and says why
    when there is no key), so typing a filter or a refresh that changes nothing redraws the table and the
    status line, not the footer: it used to be rebuilt, every key of it, after each keystroke's frame."""
    from textual.widgets._footer import FooterKey
    from tui_support import make_app, settle

    app = make_app(sb, isolated_home)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        screen = app.screen
        total = screen.table.row_count
        await pilot.press("slash")  # the focus moves to the filter box: the footer follows it (Textual's own)
        await pilot.pause()
        offered = list(screen.query(FooterKey))
        assert "Filter" in [k.description for k in offered]
        await pilot.press("k", "e")
        await pilot.pause()
        await pilot.pause()
        assert 0 < screen.table.row_count < total
        screen.on_spend(app.spend.apply(list(app.spend.keys.values()), {}, app.clock()))  # nothing changed
        await pilot.pause()
        await pilot.pause()
        assert list(screen.query(FooterKey)) == offered and all(k.is_attached for k in offered)
