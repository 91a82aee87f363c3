"""KeyTable, the Keys screen's table on the Line API, with a long list (300 keys): the cursor kept on its key
across a refresh and new rows, the filter narrowing and clearing, mouse clicks, the keys that move the
cursor, stripes and cursor drawn from the component styles, pages shown before the listing ends, and
pictures of the list scrolled to its middle."""

from __future__ import annotations

import gc

import pytest
from tui_support import make_app, sandbox, settle

from capit_tui.tui.keys_listing import KeyRows, ident
from capit_tui.tui.modals.key_detail import KeyDetailScreen
from capit_tui.tui.widgets.key_table import KeyTable

LONG = 300


@pytest.fixture
def big():
    s = sandbox(seed_keys=LONG)
    yield s
    s.stop()


def table(app) -> KeyTable:
    return app.screen.query_one("#keys", KeyTable)


def shown_names(app) -> list[str]:
    return [app.screen.rows.keys[r].name for r in table(app).rows]


def on_screen(t: KeyTable) -> range:
    """The row indices drawn (the header takes the first line)."""
    top = t.scroll_offset.y
    return range(top, min(t.row_count, top + t.scrollable_content_region.height - 1))


async def test_every_key_is_a_row_in_the_listing_order(big, isolated_home):
    from capit_tui.core.keys import sort_key

    app = make_app(big, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        t = table(app)
        assert t.row_count == LONG
        expected = [ident(k) for k in sorted(app.spend.keys.values(), key=sort_key)]
        assert t.rows == expected


async def test_the_cursor_stays_on_its_key_across_a_refresh_that_adds_keys_before_it(big, isolated_home):
    app = make_app(big, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        t = table(app)
        await pilot.press("pagedown", "pagedown", "j")
        key = app.screen.selected()
        row = t.cursor_row
        assert row > 20
        for n in range(3):  # newest first: these sort above the cursor
            big.add_key(f"brand-new-{n}", limit=5)
        await pilot.press("r")
        await settle(pilot)
        assert t.row_count == LONG + 3
        assert app.screen.selected().id == key.id
        assert t.cursor_row == row + 3
        assert t.cursor_row in on_screen(t)


async def test_the_cursor_moves_to_its_neighbour_when_its_key_is_revoked(big, isolated_home):
    app = make_app(big, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        t = table(app)
        await pilot.press(*"jjjjj")
        gone = app.screen.selected()
        after = t.rows[6]
        await pilot.press("d", "y")
        await settle(pilot)
        assert t.row_count == LONG - 1 and not t.has_row(ident(gone))
        assert t.cursor_row == 5 and t.cursor_key == after


async def test_the_filter_narrows_as_typed_and_escape_brings_every_row_back(big, isolated_home):
    app = make_app(big, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        names = shown_names(app)
        await pilot.press("slash")
        typed = ""
        for ch in "capit-c":
            await pilot.press(ch)
            typed += ch
            await pilot.pause()
            assert shown_names(app) == [n for n in names if typed in n.lower() or typed in "openrouter"]
        assert 0 < table(app).row_count < LONG
        await pilot.press("backspace", "backspace")  # a shorter filter: searched anew, more rows
        await pilot.pause()
        assert shown_names(app) == [n for n in names if "capit" in n.lower()]
        await pilot.press("escape")
        await pilot.pause()
        assert shown_names(app) == names


def test_a_growing_filter_searches_only_the_last_matches_and_finds_the_same_rows():
    from datetime import datetime, timedelta, timezone

    from capit_tui.core.model import CappedKey

    t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
    keys = [CappedKey("openrouter", f"id{i:04}", f"Bot-{i % 37}-{'x' * (i % 3)}", created_at=t0 + timedelta(i))
            for i in range(500)]
    rows = KeyRows()
    rows.load(reversed(keys))
    searched: list[int] = []
    hay = rows._hay

    class Counting(list):
        def __getitem__(self, i):
            searched.append(i)
            return list.__getitem__(self, i)

    rows._hay = Counting(hay)
    for text in ("b", "bo", "bot-1", "BOT-12", "bot-12-x"):
        searched.clear()
        before = len(rows.shown())
        rows.set_filter(text)
        brute = [ident(k) for k in sorted(keys, key=lambda k: -k.created_at.timestamp())
                 if text.lower() in k.name.lower() or text.lower() in k.platform]
        assert rows.shown() == brute
        if text != "b":
            assert len(searched) == before  # only the previous matches were looked at
    rows.set_filter("")
    assert len(rows.shown()) == 500


async def test_a_click_moves_the_cursor_and_a_click_on_the_cursor_row_opens_the_key(big, isolated_home):
    app = make_app(big, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        t = table(app)
        await pilot.press("pagedown")
        top = t.scroll_offset.y
        assert top > 0
        await pilot.click("#keys", offset=(5, 4))  # line 4: the header, then rows top .. top+2
        await pilot.pause()
        assert t.cursor_row == top + 3
        assert not isinstance(app.screen, KeyDetailScreen)
        key = app.screen.selected()
        await pilot.click("#keys", offset=(5, 4))
        await pilot.pause()
        assert isinstance(app.screen, KeyDetailScreen) and app.screen.key.id == key.id


async def test_the_moving_keys(big, isolated_home):
    app = make_app(big, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        t = table(app)
        page = t.scrollable_content_region.height - 1
        steps = [("j", 1), ("j", 2), ("k", 1), ("G", LONG - 1), ("g", 0), ("pagedown", page),
                 ("pagedown", 2 * page), ("pageup", page), ("end", LONG - 1), ("home", 0), ("down", 1), ("up", 0)]
        for key, row in steps:
            await pilot.press(key)
            await pilot.pause()
            assert t.cursor_row == row, key
            assert t.cursor_row in on_screen(t), key
        await pilot.press("G", "enter")
        await pilot.pause()
        assert isinstance(app.screen, KeyDetailScreen) and app.screen.key.id == t.rows[-1].split("\x1f")[1]


async def test_stripes_and_cursor_come_from_the_component_styles_and_follow_the_cursor(big, isolated_home):
    app = make_app(big, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        t = table(app)
        cursor_bg = t.get_component_rich_style("keytable--cursor").bgcolor
        even_bg = t.get_component_rich_style("keytable--even-row").bgcolor
        odd_bg = t.get_component_rich_style("keytable--odd-row").bgcolor
        header_bg = t.get_component_rich_style("keytable--header").bgcolor
        assert len({cursor_bg, even_bg, odd_bg, header_bg}) == 4

        def backgrounds(y: int) -> set:
            return {seg.style.bgcolor for seg in t.render_line(y) if seg.style is not None}

        assert backgrounds(0) == {header_bg}
        assert backgrounds(1) == {cursor_bg}  # row 0, the cursor
        assert backgrounds(2) == {odd_bg} and backgrounds(3) == {even_bg}
        await pilot.press("j", "j")
        await pilot.pause()
        assert backgrounds(1) == {even_bg} and backgrounds(3) == {cursor_bg}  # cached strips redrawn
        t.zebra_stripes = False
        t.invalidate()
        assert backgrounds(2) == backgrounds(4) == {t.rich_style.bgcolor}


async def test_pages_show_before_the_listing_ends_and_the_listing_replaces_them(big, isolated_home):
    """The listing's page callback (`CapitApp.keys_arrived`) puts rows on screen before the last page;
    the listing, once applied, is what stays."""
    from capit_tui.core.keys import list_keys_on

    app = make_app(big, isolated_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        listing = await list_keys_on([app.platform("openrouter")])
        app.spend.keys.clear()
        app.screen.load()
        assert table(app).row_count == 0
        newest = sorted(listing.keys, key=lambda k: k.created_at, reverse=True)
        app.keys_arrived(newest[:100])  # a first page: newest first, as OpenRouter sends them
        await pilot.pause()
        assert table(app).row_count == 100 and app.screen.streaming
        assert app.screen.query_one("#keys").display
        assert "100 keys so far" in str(app.screen.query_one("#status").render())
        app.keys_arrived(newest[100:200])
        await pilot.pause()
        assert table(app).row_count == 200
        await pilot.press("r")
        await settle(pilot)
        assert table(app).row_count == LONG and not app.screen.streaming


async def test_a_listing_applied_freezes_the_collector(big, isolated_home):
    app = make_app(big, isolated_home)
    gc.unfreeze()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert gc.get_freeze_count() >= LONG  # the keys sit outside the collected generations
    gc.unfreeze()


# ---------------------------------------------------------------- pictures


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_long_list_scrolled_to_the_middle(snap_compare, big, isolated_home, size):
    async def run(pilot):
        await settle(pilot)
        pilot.app.screen.table.move_cursor(row=LONG // 2)
        await pilot.pause()

    assert snap_compare(make_app(big, isolated_home), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_quick_widths_are_the_widths_of_the_cells_built_whole(big, isolated_home, size):
    """`KeysScreen.widths` (what the columns are fitted to, without building cells) says what `measure`
    of the whole cells says, for every key, installed ones ('claude', 'none (was …)') included."""
    from long_names import with_long_names

    ledger = with_long_names(big, isolated_home / "data")
    app = make_app(big, isolated_home, ledger=ledger)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        layout, screen.columns_fit = screen.columns_fit, None
        now = app.now()
        assert any(len(screen.held.get((k.platform, k.id), [])) for k in screen.rows.keys.values())
        for k in screen.rows.keys.values():
            whole = screen.measure([screen.cells(k, screen.held)])
            assert dict(zip(whole, screen.widths(k, now), strict=True)) == whole, k.name
        screen.columns_fit = layout


def test_the_filter_strings_made_a_chunk_at_a_time_match_the_keys_even_when_keys_arrive_meanwhile():
    from datetime import datetime, timedelta, timezone

    from capit_tui.core.model import CappedKey
    from capit_tui.tui.keys_listing import haystack

    t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
    keys = [CappedKey("openrouter", f"id{i:03}", f"Key-{i}", created_at=t0 + timedelta(i)) for i in range(100)]
    rows = KeyRows()
    rows.load(keys[:60])
    assert not rows.prepare(25) and not rows.prepare(25)  # 50 of 60 made
    rows.put(keys[60:])  # rows inserted before the ones made: it starts again
    steps = 1
    while not rows.prepare(25):
        steps += 1
    assert steps == 4
    assert rows._hay == [haystack(rows.keys[r]) for r in rows.order]
    rows.set_filter("key-9")
    assert [rows.keys[r].name for r in rows.shown()] == [f"Key-{i}" for i in (99, 98, 97, 96, 95, 94, 93, 92, 91,
                                                                              90, 9)]
