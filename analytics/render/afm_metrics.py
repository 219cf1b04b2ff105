"""String metrics of the PDF's standard fonts measured per distinct character instead of per character (issue 17:
render CPU).

report.pdf sets its text in the 14 standard PDF fonts, whose metrics matplotlib reads from AFM files
(``matplotlib._afm.AFM``). Laying out a text, matplotlib measures every line with
``AFM.get_str_bbox_and_descent``, a Python loop over the line's characters (a name, a width, a bounding box and a
kerning pair looked up for each): 1,770 lines, 217,000 characters at 100,000 patients, the largest part of the
PDF's CPU after the plots.

The result only depends on which characters and which neighbouring pairs occur, not on their order: the
leftmost, lowest and highest glyph edges are minima and maxima, and the width is a sum of the glyphs' widths and
kerning adjustments, which in the standard fonts are whole numbers, so any order of adding gives the same float.
``string_metrics`` computes them over the distinct characters and pairs (counted by ``collections.Counter``, in
C) and returns the same tuple. A font with a fractional width or kerning value is measured by matplotlib's loop.
``afm_string_metrics()`` swaps it in for ``AFM.get_str_bbox_and_descent`` while a block runs.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from matplotlib._afm import AFM
from matplotlib._mathtext_data import uni2type1

_MATPLOTLIB_METRICS = AFM.get_str_bbox_and_descent
_NO_GLYPH = 1_000_000_000  # matplotlib's starting minimum: the result for a string of line breaks only


@dataclass
class _FontTable:
    """An AFM font's glyph name, width and vertical extent per character, filled as characters occur."""

    afm: AFM
    glyphs: dict[str, tuple[str, float, int, int, int]] = field(default_factory=dict)

    def glyph(self, char: str) -> tuple[str, float, int, int, int]:
        """``(name, width, left, bottom, top)`` as matplotlib's loop looks them up (unknown: 'question')."""
        found = self.glyphs.get(char)
        if found is None:
            name = uni2type1.get(ord(char), f"uni{ord(char):04X}")
            metrics = self.afm._metrics_by_name.get(name)
            if metrics is None:
                name = "question"
                metrics = self.afm._metrics_by_name[name]
            width, _, (left, bottom, _, height) = metrics
            found = self.glyphs[char] = (name, width, left, bottom, bottom + height)
        return found


_TABLES: weakref.WeakKeyDictionary[AFM, _FontTable | None] = weakref.WeakKeyDictionary()


def _whole_numbers(afm: AFM) -> bool:
    """Every glyph width, bounding box and kerning value of the font is a whole number (each glyph's metrics
    unpacked as ``_FontTable.glyph`` reads them)."""
    values = []
    for width, _, (left, bottom, box_width, height) in afm._metrics_by_name.values():
        values += [width, left, bottom, box_width, height]
    return all(float(value).is_integer() for value in [*values, *afm._kern.values()])


def _table(afm: AFM) -> _FontTable | None:
    """The font's table, or None when its metrics are not whole numbers or not where matplotlib 3.11 keeps them."""
    if afm not in _TABLES:
        try:
            _TABLES[afm] = _FontTable(afm) if _whole_numbers(afm) else None
        except (AttributeError, TypeError, ValueError):  # another matplotlib's AFM: its own loop
            _TABLES[afm] = None
    return _TABLES[afm]


def string_metrics(afm: AFM, s: str) -> tuple[int, int, float, int, int]:
    """``afm.get_str_bbox_and_descent(s)`` (matplotlib's): left, bottom, width, height of the string's bounding box
    and its descent, in 1/1000 of the font size."""
    table = _table(afm)
    if table is None:
        return _MATPLOTLIB_METRICS(afm, s)
    if not len(s):
        return 0, 0, 0, 0, 0
    text = s.replace("\n", "")  # matplotlib's loop skips line breaks (a kerning pair spans them)
    if not text:
        return 0, _NO_GLYPH, 0.0, -_NO_GLYPH, -_NO_GLYPH
    counts = Counter(text)
    glyphs = {char: table.glyph(char) for char in counts}
    width = 0.0
    for char, count in counts.items():
        width += glyphs[char][1] * count
    kerning = afm._kern
    if kerning and len(text) > 1:
        for (first, second), count in Counter(zip(text, text[1:], strict=False)).items():
            width += kerning.get((glyphs[first][0], glyphs[second][0]), 0) * count
    left = min(0, *(glyph[2] for glyph in glyphs.values()))
    bottom = min(_NO_GLYPH, *(glyph[3] for glyph in glyphs.values()))
    top = max(0, *(glyph[4] for glyph in glyphs.values()))
    return left, bottom, width, top - bottom, -bottom


@contextmanager
def afm_string_metrics() -> Iterator[None]:
    """``AFM.get_str_bbox_and_descent`` is ``string_metrics`` inside the block (the same numbers)."""
    AFM.get_str_bbox_and_descent = string_metrics  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        AFM.get_str_bbox_and_descent = _MATPLOTLIB_METRICS  # type: ignore[method-assign]
