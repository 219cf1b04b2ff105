"""PNG plots (matplotlib, Agg backend): pain and opioid-dose trajectories, pain response, SRE
cumulative incidence and overall survival with numbers at risk (the curves: ``analytics.render.curves``; shared
colours, titles and legends: ``analytics.render.plot_style``).

One **figure set** per stratification variable of the run, plus the whole cohort
(``figure_sets``): ``pain_trajectory.png`` … ``overall_survival.png`` show all patients, and
``pain_trajectory_by_modality.png`` … show each level of ``modality``. Every builder takes
``(numbers, sets, strata)``; ``plots_write`` saves each figure as PNG (which the PDF then embeds) and closes it.

Conventions: visits are evenly spaced and labelled ("Day 3", "Month 1"); points from fewer than
``FEW`` patients carry their n; survival and incidence axes run from 0 to 1 over the whole
follow-up, with censoring marks, a light 95% CI band per curve and the numbers at risk printed
under the x-axis ticks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analytics.derive import AnalysisSets  # noqa: E402
from analytics.render.agg_text import TextLayouts  # noqa: E402
from analytics.render.curves import os_figure, sre_figure  # noqa: E402
from analytics.render.exploratory import FIGURES as EXPLORATORY_FIGURES  # noqa: E402
from analytics.render.files import atomic_path  # noqa: E402
from analytics.render.labels import (  # noqa: E402
    CATEGORY_LABELS,
    DOSE_UNIT,
    proportion_ci,
    visit_label,
)
from analytics.render.local_control_report import local_control_figures  # noqa: E402
from analytics.render.plot_style import _colours, _footnote, _label, _legend_outside, _title  # noqa: E402
from analytics.render.png_embed import png_write  # noqa: E402
from analytics.render.propensity_report import propensity_figures  # noqa: E402
from analytics.stats.response import CATEGORIES  # noqa: E402

CATEGORY_COLOURS = {"CR": "#1b7837", "PR": "#7fbf7b", "PD": "#d6604d", "indeterminate": "#bababa", "not_evaluable": "#f0f0f0"}
DPI = 110
FEW = 10  # fewer patients than this: the point is labelled with its n, the CI is wide


def figure_sets(numbers: dict[str, Any]) -> list[tuple[str, str | None, list[str]]]:
    """``(file suffix, variable, strata shown)``: the whole cohort, then one set per chosen variable
    with its levels (as computed, in sorted order)."""
    keys = list(numbers["overall_survival"]["km"])
    sets: list[tuple[str, str | None, list[str]]] = [("", None, ["all"])]
    for variable in numbers["parameters"]["strata"]:
        levels = [key for key in keys if key.startswith(f"{variable}=")]
        if levels:
            sets.append((f"_by_{variable}", variable, levels))
    return sets


def _values(entries: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([np.nan if e.get(key) is None else e[key] for e in entries], dtype=float)


def _errors(centre: np.ndarray, low: np.ndarray, high: np.ndarray, scale: float = 1.0) -> list[np.ndarray]:
    """errorbar's yerr: distances below and above the centre (never negative through rounding)."""
    return [np.clip(scale * (centre - low), 0, None), np.clip(scale * (high - centre), 0, None)]


def _visit_axis(ax, visits: list[str]) -> None:
    ax.set_xticks(range(len(visits)), [visit_label(v) for v in visits])
    ax.set_xlim(-0.6, len(visits) - 0.4)
    ax.set_xlabel("Visit")


def _offsets(count: int) -> np.ndarray:
    spread = min(0.5, 0.12 * count)
    return np.linspace(-spread / 2, spread / 2, count) if count > 1 else np.zeros(1)


def _label_few(ax, x: np.ndarray, y: np.ndarray, n: np.ndarray, colour: str) -> bool:
    """Write "n=k" beside points from fewer than FEW patients; True when any was labelled."""
    few = (n > 0) & (n < FEW) & ~np.isnan(y)
    for xi, yi, ni in zip(x[few], y[few], n[few], strict=True):
        ax.annotate(f"n={int(ni)}", (xi, yi), xytext=(4, 4), textcoords="offset points", fontsize=7, color=colour)
    return bool(few.any())


def pain_trajectory_figure(numbers: dict[str, Any], sets: AnalysisSets | None = None, strata: list[str] | None = None) -> Figure:  # noqa: ARG001
    """Mean BPI worst pain with the 95% t-interval of the mean, by visit (docs/domain.md §3)."""
    strata = strata or ["all"]
    fig, ax = plt.subplots(figsize=(10, 5.2))
    fig.subplots_adjust(left=0.08, right=0.8, top=0.9, bottom=0.2)
    worst = numbers["pain"].get("worst", {})
    visits = list(worst)
    colours, few = _colours(strata), False
    for offset, stratum in zip(_offsets(len(strata)), strata, strict=True):
        entries = [worst[v].get(stratum) or {} for v in visits]
        x = np.arange(len(visits)) + offset
        mean, low, high = (_values(entries, k) for k in ("mean", "ci_low", "ci_high"))
        ax.errorbar(
            x,
            mean,
            yerr=_errors(mean, low, high),
            marker="o",
            capsize=3,
            label=_label(stratum),
            color=colours[stratum],
            linewidth=1.6,
        )
        few |= _label_few(ax, x, mean, _values(entries, "n"), colours[stratum])
    _visit_axis(ax, visits)
    ax.set(ylabel="BPI worst pain (0–10): mean and 95% CI", ylim=(0, 10), title=_title("Worst pain by visit", strata))
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    note = "Error bars: 95% confidence interval of the mean (t distribution). "
    if few:
        note += f"Points labelled n=k rest on fewer than {FEW} patients: their intervals are wide."
    _footnote(fig, note)
    return fig


def omed_trajectory_figure(numbers: dict[str, Any], sets: AnalysisSets | None = None, strata: list[str] | None = None) -> Figure:  # noqa: ARG001
    """Opioid dose (MME/day): median with IQR, and the share opioid-free with its Wilson 95% CI (docs/domain.md §5)."""
    strata = strata or ["all"]
    fig, (dose_ax, free_ax) = plt.subplots(1, 2, figsize=(11, 5.2))
    fig.subplots_adjust(left=0.07, right=0.82, top=0.88, bottom=0.2, wspace=0.25)
    visits = list(numbers["omed"])
    colours = _colours(strata)
    for offset, stratum in zip(_offsets(len(strata)), strata, strict=True):
        entries = [numbers["omed"][v].get(stratum) or {} for v in visits]
        x = np.arange(len(visits)) + offset
        med, q1, q3 = (_values(entries, k) for k in ("median", "q1", "q3"))
        dose_ax.errorbar(
            x, med, yerr=_errors(med, q1, q3), marker="s", capsize=3, color=colours[stratum], label=_label(stratum), linewidth=1.4
        )
        free = [(e.get("opioid_free") or {}) for e in entries]
        share = _values(free, "proportion")
        cis = [proportion_ci(f.get("n"), f.get("denominator")) or (np.nan, np.nan) for f in free]
        low, high = np.array([c[0] for c in cis]), np.array([c[1] for c in cis])
        free_ax.errorbar(
            x, 100 * share, yerr=_errors(share, low, high, 100), marker="o", capsize=3, color=colours[stratum], linewidth=1.4
        )
    top = max(
        [1.0] + [float(e["q3"]) for v in visits for s in strata if (e := numbers["omed"][v].get(s)) and e.get("q3") is not None]
    )
    for ax in (dose_ax, free_ax):
        _visit_axis(ax, visits)
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", labelrotation=30)
    dose_ax.set(ylabel=f"Opioid dose, {DOSE_UNIT}: median and IQR", ylim=(0, top * 1.15), title="Opioid dose")
    free_ax.set(ylabel="Opioid-free patients, % (95% CI, Wilson)", ylim=(0, 103), title="Opioid-free")
    fig.suptitle(_title("Opioid use (oral morphine equivalents)", strata), fontsize=12)
    _legend_outside(free_ax)
    _footnote(
        fig,
        f"Dose in oral morphine milligram equivalents per day ({DOSE_UNIT}); 0 = no opioid. "
        "Many patients take no opioid, so the median and quartiles are often 0.",
    )
    return fig


def _response_counts(numbers: dict[str, Any], visits: list[str], stratum: str) -> list[dict[str, Any]]:
    return [numbers["pain_response"][v].get(stratum) or {} for v in visits]


def response_bars_figure(numbers: dict[str, Any], sets: AnalysisSets | None = None, strata: list[str] | None = None) -> Figure:  # noqa: ARG001
    """Whole cohort: share of each response category per visit; per variable: the ITT responder rate
    (CR + PR) with its Wilson 95% CI per level (docs/domain.md §4)."""
    strata = strata or ["all"]
    visits = list(numbers["pain_response"])
    if strata == ["all"]:
        return _category_bars(numbers, visits)
    fig, ax = plt.subplots(figsize=(10, 5.2))
    fig.subplots_adjust(left=0.08, right=0.8, top=0.9, bottom=0.2)
    colours = _colours(strata)
    for offset, stratum in zip(_offsets(len(strata)), strata, strict=True):
        entries = _response_counts(numbers, visits, stratum)
        hits = [e.get("itt_responders") for e in entries]
        totals = [e.get("itt_denominator") for e in entries]
        rate = np.array([h / t if h is not None and t else np.nan for h, t in zip(hits, totals, strict=True)])
        cis = [proportion_ci(h, t) or (np.nan, np.nan) for h, t in zip(hits, totals, strict=True)]
        low, high = np.array([c[0] for c in cis]), np.array([c[1] for c in cis])
        x = np.arange(len(visits)) + offset
        ax.errorbar(
            x,
            100 * rate,
            yerr=_errors(rate, low, high, 100),
            marker="o",
            capsize=3,
            color=colours[stratum],
            label=_label(stratum),
            linewidth=1.4,
        )
        _label_few(ax, x, 100 * rate, np.array([t or 0 for t in totals], dtype=float), colours[stratum])
    _visit_axis(ax, visits)
    ax.set(ylabel="Responders (CR + PR), % of ITT (95% CI, Wilson)", ylim=(0, 103), title=_title("Pain response rate", strata))
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    _footnote(fig, "ITT: patients alive and on study at the visit's target day; patients without data count as non-responders.")
    return fig


def _category_bars(numbers: dict[str, Any], visits: list[str]) -> Figure:
    fig, ax = plt.subplots(figsize=(10, 5.2))
    fig.subplots_adjust(left=0.08, right=0.72, top=0.88, bottom=0.2)
    entries = _response_counts(numbers, visits, "all")
    totals = np.array([sum(e.get(c, 0) for c in CATEGORIES) or 1 for e in entries], dtype=float)
    bottom = np.zeros(len(visits))
    for category in CATEGORIES:
        share = np.array([e.get(category, 0) for e in entries], dtype=float) / totals
        ax.bar(
            range(len(visits)),
            100 * share,
            bottom=100 * bottom,
            label=CATEGORY_LABELS[category],
            color=CATEGORY_COLOURS[category],
            edgecolor="#555555",
            width=0.6,
        )
        bottom += share
    for i, e in enumerate(entries):
        if e.get("itt_rate") is not None:
            ax.text(i, 101.5, f"{e['itt_rate']:.0%}", ha="center", fontsize=8)
    _visit_axis(ax, visits)
    ax.set(ylabel="Patients, % of ITT at the visit", ylim=(0, 108), title="Pain response by visit, all patients")
    _legend_outside(ax, reverse=True)
    _footnote(fig, "Categories of the international consensus (Chow 2012). Above each bar: responders (CR + PR) as % of ITT.")
    return fig


FIGURES: dict[str, Callable[..., Figure]] = {
    "pain_trajectory.png": pain_trajectory_figure,
    "omed_trajectory.png": omed_trajectory_figure,
    "response_bars.png": response_bars_figure,
    "sre_cumulative_incidence.png": sre_figure,
    "overall_survival.png": os_figure,
}


def figure_name(base: str, suffix: str) -> str:
    """``pain_trajectory.png`` + ``_by_modality`` → ``pain_trajectory_by_modality.png``."""
    return base.replace(".png", f"{suffix}.png")


def figure_builders(numbers: dict[str, Any], sets: AnalysisSets | None) -> dict[str, Callable[[], Figure | None]]:
    """File name → a builder of its Figure, for every plot of every figure set, grouped by figure kind, then
    the exploratory section's plots (``analytics.render.exploratory.FIGURES``; a builder may return None)."""
    builders: dict[str, Callable[[], Figure | None]] = {
        figure_name(base, suffix): functools.partial(build, numbers, sets, strata)
        for base, build in FIGURES.items()
        for suffix, _, strata in figure_sets(numbers)
    }
    builders.update({name: functools.partial(build, numbers) for name, build in EXPLORATORY_FIGURES.items()})
    builders.update(propensity_figures(numbers))
    builders.update(local_control_figures(numbers, sets))
    return builders


def plots_write(directory: Path, numbers: dict[str, Any], sets: AnalysisSets | None) -> dict[str, Path]:
    """Build, save as PNG and close each plot in turn (one open figure at a time); name → path. The figures share
    their text layouts (analytics.render.agg_text: most of their texts repeat)."""
    paths = {}
    layouts = TextLayouts()
    for name, build in figure_builders(numbers, sets).items():
        fig = build()
        if fig is None:
            continue
        try:
            with atomic_path(directory / name) as tmp:
                png_write(fig, tmp, DPI, layouts)  # 8-bit RGB: report.pdf embeds its data as is
        finally:
            plt.close(fig)
        paths[name] = directory / name
    return paths
