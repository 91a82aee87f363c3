"""A vertical scrollbar that draws a line it has drawn before from memory.

Textual draws a scrollbar through Rich and its whole per-line pipeline (styles, tint, filters): ~3-4 ms for
a 40-line bar, on every filter keystroke of the Keys table, whose row count, and so the thumb, changes each
time. Yet each line of a one-cell bar is one of a handful of segments (the track above the thumb, the thumb,
the track below, and the eighth-of-a-cell glyphs at its two ends), and the pipeline treats each line alike
(no border, padding or outline on a scrollbar). So the line Textual made for each segment is kept, and a
bar whose segments have all been seen is put together from them; any other bar is drawn by Textual and
teaches its lines. Everything that could change how a line looks (size, styles, colours, filters, theme)
is part of the key, so a change of any of them is drawn by Textual first.
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from textual.cache import LRUCache
from textual.geometry import Region
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.strip import Strip

LINES_KEPT = 256  # lines of bar remembered: a few looks (hover, grab, theme) of each segment


class QuickScrollBar(ScrollBar):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seen: LRUCache[tuple[object, Segment], Strip] = LRUCache(LINES_KEPT)

    def _segments(self) -> tuple[object, list[Segment]] | None:
        """What the bar's lines are made of now, and what else they depend on; None when this bar is not
        the plain one-segment-a-line kind (then Textual draws it)."""
        styles = self.styles
        if not self.vertical or styles.gutter or styles.outline.spacing:
            return None
        width, height = self.size
        if width != 1 or not height:
            return None
        bar = self.render()
        if not isinstance(bar, ScrollBarRender) or self.screen.styles.scrollbar_color.a == 0:
            return None
        style = self.app.console.get_style(bar.style)
        if style.bgcolor is None or style.color is None:
            return None
        drawn = ScrollBarRender.render_bar(
            size=height, virtual_size=bar.virtual_size, window_size=bar.window_size, position=bar.position,
            thickness=width, vertical=True, back_color=style.bgcolor, bar_color=style.color)
        segments = list(drawn.segments)
        if len(segments) != height or any(s.cell_length != width for s in segments):
            return None
        app = self.app
        context = (self.size, self.visual_style, self.background_colors, self.opacity, tuple(self.get_line_filters()),
                   app.ansi_theme, app.native_ansi_color)
        return context, segments

    def render_lines(self, crop: Region) -> list[Strip]:
        made = self._segments()
        if made is None:
            return super().render_lines(crop)
        context, segments = made
        seen = self._seen
        strips = [seen.get((context, s)) for s in segments]
        if None in strips:
            whole = super().render_lines(Region(0, 0, *self.size))
            for segment, strip in zip(segments, whole, strict=True):
                seen[(context, segment)] = strip
            strips = list(whole)
        lines = [strip for strip in strips if strip is not None][crop.y:crop.bottom]
        if crop.column_span != (0, self.size.width):
            x1, x2 = crop.column_span
            lines = [strip.crop(x1, x2) for strip in lines]
        return lines
