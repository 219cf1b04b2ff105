"""PNG plots (matplotlib, Agg backend): pain and OMED trajectories, response bars,
SRE cumulative incidence and overall survival with numbers at risk.

Each ``*_figure`` builds a Figure from the numbers (and, for numbers at risk,
the adtte frame); ``plots_write`` saves them as PNG and returns name → path,
and the PDF renderer re-uses the same figure builders.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analytics.derive import AnalysisSets  # noqa: E402
from analytics.render.files import atomic_path  # noqa: E402
from analytics.stats.response import CATEGORIES  # noqa: E402
from trials.domain.schedule import VISITS_BY_CODE  # noqa: E402

AT_RISK_DAYS = (0, 90, 180, 270, 365)
CATEGORY_COLOURS = {"CR": "#1b7837", "PR": "#7fbf7b", "PD": "#d6604d", "indeterminate": "#bababa", "not_evaluable": "#f0f0f0"}
DPI = 110
# Margins of the survival figures (the at-risk table's row labels need the left margin).
CURVE_MARGINS = {"left": 0.1, "right": 0.97, "top": 0.95, "bottom": 0.02, "hspace": 0.3}


def plot_strata(numbers: dict[str, Any]) -> list[str]:
    """"all" plus the levels of the first stratification variable of the run."""
    strata = numbers["parameters"]["strata"]
    if not strata:
        return ["all"]
    prefix = f"{strata[0]}="
    levels = sorted({key for key in numbers["sre"]["cumulative_incidence"] if key.startswith(prefix)})
    return ["all", *levels]


def _visit_days(visits) -> list[int]:
    return [VISITS_BY_CODE[v].target_day for v in visits]


def _offsets(count: int, spread: float = 3.0) -> np.ndarray:
    return (np.arange(count) - (count - 1) / 2) * spread


def pain_trajectory_figure(numbers: dict[str, Any], sets: AnalysisSets | None = None) -> Figure:  # noqa: ARG001
    """Mean worst pain with 95% CI of the mean, by visit, per stratum (docs/domain.md §3)."""
    fig, ax = plt.subplots(figsize=(8, 4.8))
    worst = numbers["pain"].get("worst", {})
    visits = list(worst)
    strata = plot_strata(numbers)
    for offset, stratum in zip(_offsets(len(strata)), strata, strict=True):
        entries = [worst[v].get(stratum) or {} for v in visits]
        x = np.array(_visit_days(visits), dtype=float) + offset
        mean = np.array([e.get("mean") if e.get("mean") is not None else np.nan for e in entries], dtype=float)
        low = np.array([e.get("ci_low") if e.get("ci_low") is not None else np.nan for e in entries], dtype=float)
        high = np.array([e.get("ci_high") if e.get("ci_high") is not None else np.nan for e in entries], dtype=float)
        ax.errorbar(x, mean, yerr=[mean - low, high - mean], marker="o", capsize=3, label=stratum,
                    linewidth=2.2 if stratum == "all" else 1.2)
    ax.set(xlabel="Days from index procedure (visit target day)", ylabel="BPI worst pain (0–10), mean ± 95% CI",
           ylim=(0, 10), title="Worst pain trajectory")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def omed_trajectory_figure(numbers: dict[str, Any], sets: AnalysisSets | None = None) -> Figure:  # noqa: ARG001
    """Median OMED with IQR by visit, per stratum (docs/domain.md §5)."""
    fig, ax = plt.subplots(figsize=(8, 4.8))
    visits = list(numbers["omed"])
    strata = plot_strata(numbers)
    for offset, stratum in zip(_offsets(len(strata)), strata, strict=True):
        entries = [numbers["omed"][v].get(stratum) or {} for v in visits]
        x = np.array(_visit_days(visits), dtype=float) + offset
        med, q1, q3 = (np.array([e.get(k) if e.get(k) is not None else np.nan for e in entries], dtype=float)
                       for k in ("median", "q1", "q3"))
        ax.errorbar(x, med, yerr=[med - q1, q3 - med], marker="s", capsize=3, label=stratum,
                    linewidth=2.2 if stratum == "all" else 1.2)
    ax.set(xlabel="Days from index procedure (visit target day)", ylabel="OMED, mg/day: median [IQR]",
           title="Opioid use (oral morphine equivalent dose)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def response_bars_figure(numbers: dict[str, Any], sets: AnalysisSets | None = None) -> Figure:  # noqa: ARG001
    """Share of each response category per visit, whole cohort (docs/domain.md §4)."""
    fig, ax = plt.subplots(figsize=(8, 4.8))
    visits = list(numbers["pain_response"])
    bottom = np.zeros(len(visits))
    totals = np.array([sum(numbers["pain_response"][v]["all"][c] for c in CATEGORIES) or 1 for v in visits], dtype=float)
    for category in CATEGORIES:
        share = np.array([numbers["pain_response"][v]["all"][category] for v in visits], dtype=float) / totals
        ax.bar(visits, share, bottom=bottom, label=category, color=CATEGORY_COLOURS[category], edgecolor="#555555")
        bottom += share
    for i, v in enumerate(visits):
        rate = numbers["pain_response"][v]["all"]["itt_rate"]
        if rate is not None:
            ax.text(i, 1.02, f"ITT {rate:.0%}", ha="center", fontsize=8)
    ax.set(ylabel="Share of ITT patients", ylim=(0, 1.1), title="Pain response (international consensus) by visit")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def _step(points: list[dict[str, Any]], start: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    days = np.array([0.0] + [p["day"] for p in points])
    est = np.array([start] + [p["estimate"] for p in points], dtype=float)
    low = np.array([start] + [p["ci_low"] if p["ci_low"] is not None else np.nan for p in points], dtype=float)
    high = np.array([start] + [p["ci_high"] if p["ci_high"] is not None else np.nan for p in points], dtype=float)
    return days, est, low, high


def _stratum_rows(adtte: pd.DataFrame, stratum: str) -> pd.DataFrame:
    if stratum == "all":
        return adtte
    variable, value = stratum.split("=", 1)
    return adtte[adtte[variable].astype(str) == value]


def _at_risk_row(times: np.ndarray) -> list[str]:
    """Patients still at risk (time ≥ day) at each of AT_RISK_DAYS, from one sort of the stratum's times."""
    ordered = np.sort(times[~np.isnan(times)])  # missing times are never at risk
    return [str(int(len(ordered) - np.searchsorted(ordered, day, side="left"))) for day in AT_RISK_DAYS]


def _extended(curve: tuple[np.ndarray, ...], last_day: float | None) -> tuple[np.ndarray, ...]:
    """Carry the last step on to the stratum's longest follow-up (a step curve ends there, not at its last event)."""
    if last_day is None or last_day <= curve[0][-1]:
        return curve
    return tuple(np.append(values, last_day if i == 0 else values[-1]) for i, values in enumerate(curve))


def _curves_figure(curves: dict[str, list], *, start: float, title: str, ylabel: str, adtte: pd.DataFrame | None,
                   time_column: str, strata: list[str], extra: Callable | None = None) -> Figure:
    table_height = 0.4 + 0.13 * (len(strata) + 1)  # the at-risk table grows with its rows
    fig, (ax, table_ax) = plt.subplots(2, 1, figsize=(8, 6), gridspec_kw={"height_ratios": [4, table_height]})
    times = {} if adtte is None else {s: _stratum_rows(adtte, s)[time_column].to_numpy(dtype=float) for s in strata}
    for stratum in strata:
        stratum_times = times.get(stratum)
        last = None if stratum_times is None or not len(stratum_times) else float(np.nanmax(stratum_times))
        days, est, low, high = _extended(_step(curves.get(stratum, []), start), last)
        line = ax.step(days, est, where="post", label=stratum, linewidth=2.2 if stratum == "all" else 1.2)[0]
        if stratum == "all":
            ax.fill_between(days, low, high, step="post", alpha=0.15, color=line.get_color(), label="95% CI (all)")
    if extra:
        extra(ax)
    ax.set(xlim=(0, 400), xlabel="Days from index procedure", ylabel=ylabel, title=title)
    ax.set_xticks(AT_RISK_DAYS)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    table_ax.axis("off")
    if adtte is not None and len(strata):
        table = table_ax.table(cellText=[_at_risk_row(times[s]) for s in strata], rowLabels=strata,
                               colLabels=[f"day {d}" for d in AT_RISK_DAYS], cellLoc="center", bbox=(0.0, 0.0, 1.0, 1.0))
        table.set_fontsize(7)
        table_ax.set_title("Numbers at risk", fontsize=8)
    fig.subplots_adjust(**CURVE_MARGINS)  # fixed margins: tight_layout costs a full extra draw
    return fig


def sre_figure(numbers: dict[str, Any], sets: AnalysisSets | None = None) -> Figure:
    """Aalen–Johansen CIF of first SRE (death competing) + the 1 − KM overestimate (docs/domain.md §6)."""

    def overestimate(ax) -> None:
        last = None if sets is None or sets.adtte.empty else float(sets.adtte["sre_days"].max())
        days, est, _, _ = _extended(_step(numbers["sre"]["one_minus_km"]["km"].get("all", []), 0.0), last)
        ax.step(days, est, where="post", linestyle="--", color="#444444", label="1 − KM, deaths censored (overestimate)")

    return _curves_figure(
        numbers["sre"]["cumulative_incidence"], start=0.0, title="Cumulative incidence of first SRE (death competing)",
        ylabel="Cumulative incidence", adtte=None if sets is None else sets.adtte, time_column="sre_days",
        strata=plot_strata(numbers), extra=overestimate,
    )


def os_figure(numbers: dict[str, Any], sets: AnalysisSets | None = None) -> Figure:
    return _curves_figure(
        numbers["overall_survival"]["km"], start=1.0, title="Overall survival (Kaplan–Meier)", ylabel="Survival probability",
        adtte=None if sets is None else sets.adtte, time_column="os_days", strata=plot_strata(numbers),
    )


FIGURES: dict[str, Callable[..., Figure]] = {
    "pain_trajectory.png": pain_trajectory_figure,
    "omed_trajectory.png": omed_trajectory_figure,
    "response_bars.png": response_bars_figure,
    "sre_cumulative_incidence.png": sre_figure,
    "overall_survival.png": os_figure,
}


def figures_build(numbers: dict[str, Any], sets: AnalysisSets | None) -> dict[str, Figure]:
    """Every plot, built once: saved as PNG and then drawn again into the PDF."""
    return {name: build(numbers, sets) for name, build in FIGURES.items()}


def figures_close(figures: dict[str, Figure]) -> None:
    for fig in figures.values():
        plt.close(fig)


def plots_write(directory: Path, figures: dict[str, Figure]) -> dict[str, Path]:
    paths = {}
    for name, fig in figures.items():
        with atomic_path(directory / name) as tmp:
            fig.savefig(tmp, dpi=DPI, format="png", metadata={"Software": None})
        paths[name] = directory / name
    return paths
