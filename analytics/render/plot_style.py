"""What every report plot shares (analytics.render.plots, analytics.render.curves): stratum colours, titles, curve
labels, legends outside the axes and footnotes."""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analytics.render.labels import stratum_label, variable_label  # noqa: E402

CI_ALPHA = 0.12
ALL_COLOUR = "#1f3b73"
FOOTNOTE_SIZE = 7  # points
# Widest average character of the footnote font in font sizes (DejaVu Sans ~0.55; kept on the safe side).
FOOTNOTE_CHAR_WIDTH = 0.6


def _colours(strata: list[str]) -> dict[str, str]:
    if strata == ["all"]:
        return {"all": ALL_COLOUR}
    cmap = plt.get_cmap("tab10" if len(strata) <= 10 else "tab20")
    return {s: matplotlib.colors.to_hex(cmap(i % cmap.N)) for i, s in enumerate(strata)}


def _title(text: str, strata: list[str]) -> str:
    variable = strata[0].partition("=")[0] if strata != ["all"] else None
    return f"{text}, by {variable_label(variable).lower()}" if variable else f"{text}, all patients"


def _label(stratum: str) -> str:
    return stratum_label(stratum, with_variable=False) if stratum != "all" else "All patients"


def _legend_outside(ax, *, reverse: bool = False) -> None:
    """Legend right of the axes: it never hides data (``reverse``: top-down like a stacked bar)."""
    handles, labels = ax.get_legend_handles_labels()
    if reverse:
        handles, labels = handles[::-1], labels[::-1]
    ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, frameon=False)


def footnote_lines(text: str, figure_width_inches: float) -> str:
    """``text`` broken into lines that fit the figure's width (98% of it, at the footnote's size), by character
    count: matplotlib's own ``wrap=True`` measures the rendered text once per word and line (issue 17: a third
    of a plot's text layout time), for the same result on these one- or two-line notes."""
    width = int(0.98 * figure_width_inches * 72 / (FOOTNOTE_SIZE * FOOTNOTE_CHAR_WIDTH))
    return "\n".join(textwrap.wrap(text, width)) or text


def _footnote(fig: Figure, text: str) -> None:
    fig.text(
        0.01, 0.015, footnote_lines(text, fig.get_figwidth()), fontsize=FOOTNOTE_SIZE, color="#444444", ha="left", va="bottom"
    )
