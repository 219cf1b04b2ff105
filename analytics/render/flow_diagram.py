"""The PDF's patient-flow diagram (STROBE style): enrolled → treated → on study / left → analysed,
with every patient who is enrolled but not analysed in a box beside the arrow."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from analytics.render.labels import visit_label

BOX = {"boxstyle": "round,pad=0.6", "facecolor": "#f4f6fa", "edgecolor": "#1f3b73", "linewidth": 1}
SIDE_BOX = {"boxstyle": "round,pad=0.6", "facecolor": "#fbf3f0", "edgecolor": "#9c4a2f", "linewidth": 1}
EXIT_WORDS = {
    "death": "died",
    "withdrawal": "withdrew consent",
    "lost_to_follow_up": "lost to follow-up",
    "completion": "completed the study",
}


def _box(fig: Figure, x: float, y: float, text: str, style: dict[str, Any]) -> None:
    fig.text(x, y, text, ha="center", va="center", fontsize=10, bbox=style, linespacing=1.5)


def _arrow(fig: Figure, start: tuple[float, float], end: tuple[float, float]) -> None:
    fig.add_artist(
        plt.Annotation(
            "",
            xy=end,
            xytext=start,
            xycoords="figure fraction",
            arrowprops={"arrowstyle": "->", "color": "#333333", "linewidth": 1.2},
        )
    )


def flow_diagram_page(flow: dict[str, Any], page: Figure) -> Figure:
    """Draw the diagram on ``page`` (an empty report page) and return it."""
    exits = {k: v for k, v in flow["exits"].items() if k != "on_study"}
    left = sum(exits.values())
    _box(page, 0.3, 0.83, f"Enrolled\n{flow['enrolled']} patients", BOX)
    _arrow(page, (0.3, 0.79), (0.3, 0.65))
    _box(page, 0.72, 0.72, f"Not treated: {flow['not_treated']}\n(no index procedure recorded;\nnot in any analysis)", SIDE_BOX)
    _arrow(page, (0.3, 0.72), (0.6, 0.72))
    _box(page, 0.3, 0.6, f"Treated (index ablation): {flow['treated']}\nanalysed for survival, SREs and complications", BOX)
    _arrow(page, (0.3, 0.55), (0.3, 0.42))
    reasons = ", ".join(f"{EXIT_WORDS.get(k, k.replace('_', ' '))} {v}" for k, v in exits.items()) or "none"
    _box(
        page,
        0.72,
        0.49,
        f"Left the study by the data cut-off: {left}\n{reasons}\n(censored or competing; later visits not applicable)",
        SIDE_BOX,
    )
    _arrow(page, (0.3, 0.49), (0.5, 0.49))
    lines = [
        f"{visit_label(v['visit'])}: {v['analysed']} of {v['expected']} expected"
        for v in flow["visits"]
        if v.get("analysed") is not None
    ]
    _box(page, 0.3, 0.26, "Pain response analysed (evaluable)\n" + "\n".join(lines), BOX)
    page.text(
        0.55,
        0.14,
        "Expected = alive and on study at the visit's target day, on or before the cut-off (ITT).\n"
        "Why expected patients were not analysed at each visit: see the completion table on the next page.",
        fontsize=8.5,
        color="#333333",
        va="bottom",
    )
    return page
