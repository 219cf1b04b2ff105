"""What every report plot shares (analytics.render.plots, analytics.render.curves): stratum colours, titles, curve
labels, legends outside the axes and footnotes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analytics.render.labels import stratum_label, variable_label  # noqa: E402

CI_ALPHA = 0.12
ALL_COLOUR = "#1f3b73"


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


def _footnote(fig: Figure, text: str) -> None:
    fig.text(0.01, 0.015, text, fontsize=7, color="#444444", ha="left", va="bottom", wrap=True)
