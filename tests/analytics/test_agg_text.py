"""The plot PNGs drawn with text layouts reused across figures (analytics.render.agg_text, issue 17) have the pixels
matplotlib's own Agg canvas gives: text-heavy figures and every plot of a rendered report."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from analytics.render.agg_text import TextLayouts, TextReusingCanvasAgg, text_reuse_available  # noqa: E402
from analytics.render.plots import DPI, figure_builders  # noqa: E402
from tests.analytics.test_render import rendered  # noqa: E402, F401  # the module's rendered report


def _own_pixels(fig, dpi: float = DPI) -> np.ndarray:
    fig.set_dpi(dpi)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


def _reusing_pixels(fig, layouts: TextLayouts, dpi: float = DPI) -> np.ndarray:
    fig.set_dpi(dpi)
    canvas = TextReusingCanvasAgg(fig, layouts)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def _text_figure(offset: float = 0.0):
    fig, (ax, other) = plt.subplots(1, 2, figsize=(7, 4))
    ax.plot([0, 1, 2], [1, 3, 2], label="Line − with ≥ and Δ, é")
    ax.set_title("Title, bold", weight="bold")
    ax.set_xlabel("Days from index procedure")
    ax.set_ylabel(r"Mathtext $\alpha^2 + \sqrt{x}$")
    ax.tick_params(axis="x", labelrotation=30)
    ax.legend(fontsize=8)
    for i, angle in enumerate((0, 15, 45.5, 90, 180, 270)):
        ax.text(0.1 + 0.3 * (i % 3) + offset, 0.5 + 0.5 * (i // 3), f"n={i}", rotation=angle, fontsize=6 + i, ha="center")
    ax.annotate("Multi-line\nnote, italic", (1, 2), xytext=(4, 4), textcoords="offset points", style="italic")
    other.text(0.05, 0.9, "monospace  1,234\n  aligned   56", family="monospace", fontsize=9, va="top")
    other.text(0.05, 0.5, "serif text, small", family="serif", fontsize=5)
    other.text(0.05, 0.3, "no antialiasing", antialiased=False)
    for i, size in enumerate((6, 9, 12)):  # one text at three sizes
        other.text(0.5, 0.05 + 0.08 * i, "Repeated text", fontsize=size, ha="center", va="center")
    other.set_title("")
    fig.text(0.01, 0.015, "Footnote at 7 points", fontsize=7, color="#444444")
    return fig


def test_the_installed_matplotlib_is_the_reviewed_one():
    """The renderer's methods are copies of matplotlib 3.11's: on an upgrade, review them again (agg_text)."""
    assert text_reuse_available()


def test_text_heavy_figures_have_matplotlibs_pixels():
    layouts = TextLayouts()
    for dpi, offset in ((DPI, 0.0), (DPI, 0.013), (72, 0.0), (DPI, 0.0)):  # repeated texts at other positions/sizes
        fig = _text_figure(offset)
        own = _own_pixels(fig, dpi)
        plt.close(fig)
        fig = _text_figure(offset)
        assert np.array_equal(_reusing_pixels(fig, layouts, dpi), own), (dpi, offset)
        plt.close(fig)
    assert layouts.sizes and layouts.glyphs


@pytest.mark.django_db
def test_every_report_plot_has_matplotlibs_pixels(rendered):  # noqa: F811
    _, numbers, _, sets = rendered
    layouts = TextLayouts()
    builders = figure_builders(numbers, sets)
    assert len(builders) > 10
    for name, build in builders.items():
        fig = build()
        if fig is None:
            continue
        own = _own_pixels(fig)
        plt.close(fig)
        fig = build()
        assert np.array_equal(_reusing_pixels(fig, layouts), own), name
        plt.close(fig)
