"""Agg drawing of the plot PNGs with each text laid out once per render instead of once per figure (issue 17:
render CPU).

matplotlib's Agg renderer asks FreeType for every text twice per figure, once for its size
(``get_text_width_height_descent``: ``FT2Font.set_text``) and once for its glyphs when drawing it
(``draw_text``: ``FT2Font._layout``), ~0.3 ms each with the autohinter; its own cache of sizes lives as long as
one renderer, which is one figure. The report's 38 plots repeat most of their texts (tick labels, axis titles,
legends, visit names): 1,452 sizes and 1,704 layouts at 100,000 patients, 595 and 593 of them distinct.

``TextReusingCanvasAgg`` is matplotlib's Agg canvas whose renderer takes both from a ``TextLayouts`` shared by
the figures of one ``plots_write``: the same FreeType calls on the same font object (its files, hinting and
kerning factors), size, dpi, hinting flags, text, font features and language, so the same numbers and glyphs,
and the same pixels (``tests/analytics/test_agg_text.py`` draws text-heavy figures and the report's plots both
ways). Mathtext and TeX take matplotlib's own path.

The glyph drawing loop is matplotlib's, with the rotation matrix computed once per text instead of once per
glyph, and each glyph rendered by FreeType (~45 µs) once per font, size, dpi, matrix and subpixel offset of
its origin: FreeType moves the outline by the origin (26.6 fixed point) before it rasterises, so an origin
whole pixels away gives the same bitmap that many pixels away. 17,345 glyphs at 100,000 patients, 5,124 of
them distinct.

The overridden methods are copies of matplotlib 3.11's (``REVIEWED_MATPLOTLIB``); with another version the
canvas is matplotlib's own (``text_reuse_available``), until the copies are reviewed again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
from matplotlib.ft2font import RenderMode
from matplotlib.path import Path
from matplotlib.transforms import Affine2D

REVIEWED_MATPLOTLIB = ("3.11.",)


def text_reuse_available() -> bool:
    """True when the installed matplotlib is the one whose Agg text methods ``_TextReusingRenderer`` copies."""
    return matplotlib.__version__.startswith(REVIEWED_MATPLOTLIB)


@dataclass
class TextLayouts:
    """Text sizes, glyph layouts and glyph bitmaps of the Agg renderer, kept across the figures of one render (the
    keys hold the FT2Font objects, so a font stays alive, and its identity unique, as long as this does)."""

    sizes: dict[tuple, tuple[float, float, float]] = field(default_factory=dict)
    glyphs: dict[tuple, tuple[tuple[Any, int, float, float], ...]] = field(default_factory=dict)
    bitmaps: dict[tuple, tuple[np.ndarray, int, int]] = field(default_factory=dict)


class _TextReusingRenderer(RendererAgg):
    """RendererAgg whose text sizes and glyph layouts come from a shared ``TextLayouts``."""

    def __init__(self, width, height, dpi, layouts: TextLayouts):
        super().__init__(width, height, dpi)
        self._layouts = layouts

    def get_text_width_height_descent(self, s, prop, ismath):
        if ismath is not False:  # mathtext, TeX (and matplotlib's check of the argument)
            return super().get_text_width_height_descent(s, prop, ismath)
        font = self._prepare_font(prop)
        flags = get_hinting_flag()
        key = (font, prop.get_size_in_points(), self.dpi, flags, s)
        size = self._layouts.sizes.get(key)
        if size is None:
            font.set_text(s, 0.0, flags=flags)
            w, h = font.get_width_height()  # width and height of unrotated string
            d = font.get_descent()
            size = self._layouts.sizes[key] = (w / 64.0, h / 64.0, d / 64.0)  # from subpixels
        return size

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if ismath:
            return super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
        font = self._prepare_font(prop)
        features = mtext.get_fontfeatures() if mtext is not None else None
        language = mtext.get_language() if mtext is not None else None
        size = prop.get_size_in_points()
        flags = get_hinting_flag()
        key = (font, size, self.dpi, flags, s, features, language)
        try:
            glyphs = self._layouts.glyphs.get(key)
        except TypeError:  # features or language not hashable: matplotlib's own path
            return super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
        if glyphs is None:
            items = font._layout(s, flags=flags, features=features, language=language)
            glyphs = self._layouts.glyphs[key] = tuple((item.ft_object, item.glyph_index, item.x, item.y) for item in items)
        self._draw_text_glyphs_and_boxes(
            gc, x, y, angle, ((ft_object, size, index, 0, 1, dx, dy) for ft_object, index, dx, dy in glyphs), []
        )
        return None

    def _draw_text_glyphs_and_boxes(self, gc, x, y, angle, glyphs, boxes):
        # matplotlib 3.11's, with the FreeType transform's matrix computed once per (extend, slant), not per glyph,
        # and each glyph rendered once per subpixel offset (``TextLayouts.bitmaps``).
        # y is downwards.
        cos = math.cos(math.radians(angle))
        sin = math.sin(math.radians(angle))
        load_flags = get_hinting_flag()
        mode = RenderMode.NORMAL if gc.get_antialiased() else RenderMode.MONO
        matrices: dict[tuple[float, float], tuple[np.ndarray, bytes]] = {}
        bitmaps = self._layouts.bitmaps
        for font, size, glyph_index, slant, extend, dx, dy in glyphs:  # dy is upwards.
            matrix = matrices.get((extend, slant))
            if matrix is None:
                array = (0x10000 * np.array([[cos, -sin], [sin, cos]]) @ [[extend, extend * slant], [0, 1]]).round().astype(int)
                matrix = matrices[extend, slant] = (array, array.tobytes())
            # The glyph's origin in 26.6 fixed point (FreeType's y is upwards): a whole-pixel part and a subpixel one.
            origin_x = round(0x40 * (x + dx * cos - dy * sin))
            origin_y = round(0x40 * (self.height - y + dx * sin + dy * cos))
            key = (font, size, self.dpi, glyph_index, matrix[1], origin_x & 0x3F, origin_y & 0x3F, load_flags, mode)
            rendered = bitmaps.get(key)
            if rendered is None:
                font.set_size(size, self.dpi)
                font._set_transform(matrix[0], [origin_x, origin_y])
                bitmap = font._render_glyph(glyph_index, load_flags, mode)
                buffer = bitmap.buffer
                if not gc.get_antialiased():
                    buffer *= 0xFF
                # FreeType renders the outline moved by the origin: moved by whole pixels more, the same bitmap
                # lands that many pixels further (its left and top edge), so it is kept relative to them.
                rendered = bitmaps[key] = (buffer, bitmap.left - (origin_x >> 6), bitmap.top - (origin_y >> 6))
            buffer, left, top = rendered
            # draw_text_image's y is downwards & the bitmap bottom side.
            self._renderer.draw_text_image(
                buffer, left + (origin_x >> 6), int(self.height) - (top + (origin_y >> 6)) + buffer.shape[0], 0, gc
            )

        rgba = gc.get_rgb()
        if len(rgba) == 3 or gc.get_forced_alpha():
            rgba = rgba[:3] + (gc.get_alpha(),)
        gc1 = self.new_gc()
        gc1.set_linewidth(0)
        gc1.set_snap(gc.get_snap())
        for dx, dy, w, h in boxes:  # dy is upwards.
            if gc1.get_snap() in [None, True]:
                # Prevent thin bars from disappearing by growing symmetrically.
                if w < 1:
                    dx -= (1 - w) / 2
                    w = 1
                if h < 1:
                    dy -= (1 - h) / 2
                    h = 1
            path = Path._create_closed([(dx, dy), (dx + w, dy), (dx + w, dy + h), (dx, dy + h)])
            self._renderer.draw_path(gc1, path, Affine2D().rotate_deg(angle).translate(x, self.height - y), rgba)
        gc1.restore()


class TextReusingCanvasAgg(FigureCanvasAgg):
    """FigureCanvasAgg drawing with ``_TextReusingRenderer`` over ``layouts`` (attach it to a figure with
    ``TextReusingCanvasAgg(figure, layouts)``, as any canvas)."""

    def __init__(self, figure, layouts: TextLayouts):
        super().__init__(figure)
        self._layouts = layouts

    def get_renderer(self):
        w, h = self.get_width_height(physical=True)
        key = w, h, self.figure.dpi
        if self._lastKey != key:
            self.renderer = _TextReusingRenderer(w, h, self.figure.dpi, self._layouts)
            self._lastKey = key
        return self.renderer
