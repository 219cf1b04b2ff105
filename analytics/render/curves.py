"""Survival and incidence plots (analytics.render.plots' figure registry): step curves with light 95% CI bands,
censoring marks and the numbers at risk under the x ticks, over the whole follow-up (the section's ``time_grid``);
SRE cumulative incidence (with the 1 − KM overestimate for all patients) and Kaplan–Meier overall survival."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.transforms as mtransforms  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analytics.derive import AnalysisSets  # noqa: E402
from analytics.render.plot_style import CI_ALPHA, _colours, _footnote, _label, _legend_outside, _title  # noqa: E402


def _step(points: list[dict[str, Any]], start: float) -> tuple[np.ndarray, ...]:
    days = np.array([0.0] + [p["day"] for p in points])
    est = np.array([start] + [p["estimate"] for p in points], dtype=float)
    low = np.array([start] + [np.nan if p["ci_low"] is None else p["ci_low"] for p in points], dtype=float)
    high = np.array([start] + [np.nan if p["ci_high"] is None else p["ci_high"] for p in points], dtype=float)
    return days, est, low, high


def _stratum_rows(adtte: pd.DataFrame, stratum: str) -> pd.DataFrame:
    """The rows of ``stratum`` (``all`` or ``variable=value``, the value compared as text). A categorical column is
    compared through its categories (a handful of strings) instead of as text row by row (issue 17)."""
    if stratum == "all":
        return adtte
    variable, value = stratum.split("=", 1)
    column = adtte[variable]
    if isinstance(column.dtype, pd.CategoricalDtype):
        wanted = np.flatnonzero(column.cat.categories.astype(str) == value)
        wanted = np.append(wanted, -1) if value == "nan" else wanted
        return adtte[np.isin(column.cat.codes.to_numpy(), wanted)]  # -1: missing, which astype(str) spells "nan"
    return adtte[column.astype(str) == value]


def _extended(curve: tuple[np.ndarray, ...], last_day: float | None) -> tuple[np.ndarray, ...]:
    """Carry the last step on to the stratum's longest follow-up (a step curve ends there, not at its last event)."""
    if last_day is None or last_day <= curve[0][-1]:
        return curve
    return tuple(np.append(values, last_day if i == 0 else values[-1]) for i, values in enumerate(curve))


def _censor_marks(ax, rows: pd.DataFrame, time_column: str, event_column: str, curve, colour: str) -> None:
    """'|' at each distinct censoring time, on the curve (step value at that time)."""
    censored = np.unique(rows.loc[rows[event_column] == 0, time_column].to_numpy(dtype=float))
    censored = censored[~np.isnan(censored)]
    if not len(censored):
        return
    days, est = curve[0], curve[1]
    values = est[np.clip(np.searchsorted(days, censored, side="right") - 1, 0, len(est) - 1)]
    ax.plot(censored, values, linestyle="none", marker="|", markersize=6, color=colour, alpha=0.8)


def _at_risk_table(table_ax, strata: list[str], grid: dict[str, Any], colours) -> None:
    """Numbers at risk (result.json ``time_grid``) as text under each x tick: the table shares the
    x axis, so each column sits under its tick."""
    table_ax.set_ylim(len(strata) - 0.5, -0.9)
    table_ax.axis("off")
    label_x = mtransforms.blended_transform_factory(table_ax.transAxes, table_ax.transData)
    table_ax.text(-0.06, -0.85, "Number at risk", transform=label_x, ha="right", fontsize=8, weight="bold")
    for row, stratum in enumerate(strata):
        table_ax.text(-0.06, row, _label(stratum), transform=label_x, ha="right", va="center", fontsize=8, color=colours[stratum])
        for tick, count in zip(grid["days"], grid["at_risk"].get(stratum) or [], strict=False):
            table_ax.text(tick, row, str(int(count)), ha="center", va="center", fontsize=8)


def _curves_figure(
    section: dict[str, Any],
    curves_key: str,
    *,
    start: float,
    title: str,
    ylabel: str,
    adtte: pd.DataFrame | None,
    time_column: str,
    event_column: str,
    strata: list[str],
    extra: Callable | None = None,
) -> Figure:
    """Step curves with light CI bands and censoring marks over the whole follow-up (the section's
    ``time_grid``: ticks from day 0 past the longest follow-up), numbers at risk under the ticks."""
    curves, grid = section[curves_key], section.get("time_grid")
    rows = 1 + len(strata)
    fig = plt.figure(figsize=(11, 5.6 + 0.2 * rows))
    gs = fig.add_gridspec(2, 1, height_ratios=[4.4, 0.3 + 0.22 * rows], hspace=0.22)
    ax = fig.add_subplot(gs[0])
    table_ax = fig.add_subplot(gs[1], sharex=ax)
    longest = max([len(_label(s)) for s in strata] + [14])
    fig.subplots_adjust(left=min(0.3, 0.08 + 0.0075 * longest), right=0.8, top=0.93, bottom=0.08)
    colours = _colours(strata)
    if adtte is not None:  # the columns read here: each stratum's rows are then taken of 3 columns, not all (issue 17)
        variables = dict.fromkeys(s.split("=", 1)[0] for s in strata if s != "all")
        adtte = adtte[list(dict.fromkeys([time_column, event_column, *variables]))]
    for stratum in strata:
        rows_of = _stratum_rows(adtte, stratum) if adtte is not None else None
        last = float(rows_of[time_column].max()) if rows_of is not None and len(rows_of) else None
        curve = _extended(_step(curves.get(stratum, []), start), last)
        days, est, low, high = curve
        ax.step(days, est, where="post", label=_label(stratum), color=colours[stratum], linewidth=1.8)
        ax.fill_between(days, low, high, step="post", alpha=CI_ALPHA, color=colours[stratum], linewidth=0)
        if rows_of is not None:
            _censor_marks(ax, rows_of, time_column, event_column, curve, colours[stratum])
    if extra:
        extra(ax)
    ax.set(ylim=(0, 1), ylabel=ylabel, title=title)
    ax.set_xlabel("Days from index procedure", labelpad=2)
    ax.plot([], [], linestyle="none", marker="|", color="#333333", label="censored")
    ax.fill_between([], [], [], color="#888888", alpha=0.3, label="95% CI (shaded)")
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    if grid and len(grid["days"]) > 1:
        ax.set_xticks(grid["days"])
        ax.set_xlim(0, grid["days"][-1])
        _at_risk_table(table_ax, strata, grid, colours)
        _footnote(
            fig,
            f"Follow-up to day {grid['max_follow_up_days']:.0f}, shown whole. Estimates where few patients "
            "remain at risk (see the numbers at risk) have wide intervals.",
        )
    else:
        ax.set_xlim(left=0)
        table_ax.axis("off")
    return fig


def sre_figure(numbers: dict[str, Any], sets: AnalysisSets | None = None, strata: list[str] | None = None) -> Figure:
    """Aalen–Johansen CIF of first SRE (death competing); for all patients also the 1 − KM overestimate (docs/domain.md §6)."""
    strata = strata or ["all"]

    def overestimate(ax) -> None:
        last = None if sets is None or sets.adtte.empty else float(sets.adtte["sre_days"].max())
        days, est, _, _ = _extended(_step(numbers["sre"]["one_minus_km"]["km"].get("all", []), 0.0), last)
        ax.step(days, est, where="post", linestyle="--", color="#777777", label="1 − KM, deaths censored\n(overestimate)")

    return _curves_figure(
        numbers["sre"],
        "cumulative_incidence",
        start=0.0,
        title=_title("Cumulative incidence of first SRE (death as competing risk)", strata),
        ylabel="Cumulative incidence of SRE",
        adtte=None if sets is None else sets.adtte,
        time_column="sre_days",
        event_column="sre_event",
        strata=strata,
        extra=overestimate if strata == ["all"] else None,
    )


def os_figure(numbers: dict[str, Any], sets: AnalysisSets | None = None, strata: list[str] | None = None) -> Figure:
    """Kaplan–Meier overall survival."""
    strata = strata or ["all"]
    return _curves_figure(
        numbers["overall_survival"],
        "km",
        start=1.0,
        title=_title("Overall survival (Kaplan–Meier)", strata),
        ylabel="Survival probability",
        adtte=None if sets is None else sets.adtte,
        time_column="os_days",
        event_column="os_event",
        strata=strata,
    )
