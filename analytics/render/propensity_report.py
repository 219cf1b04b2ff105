"""The propensity-weighted comparisons (result.json ``propensity``; analytics.stats.propensity) in the report:
XLSX sheets ``propensity_balance`` and ``propensity_outcomes``, the PDF tables of the "Exploratory analyses" section
and one figure per contrast (love plot, weighted Kaplan–Meier of OS, weighted Aalen–Johansen of SRE), saved as
``propensity_love_by_<contrast>.png``.

A contrast whose ``status`` is not "estimated" shows its reason and no estimate (issue 16: "the report says so
rather than printing an estimate").
"""

from __future__ import annotations

import functools
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analytics.render.labels import MISSING, number, percent, visit_label  # noqa: E402
from analytics.stats.propensity import (  # noqa: E402
    CATEGORICAL_COVARIATES,
    COVARIATE_LABELS,
    NUMERIC_COVARIATES,
    OK,
    SMD_THRESHOLD,
)

SECTION = "Exploratory analyses"
LOVE_PLOT = "propensity_love"
ARM_COLOURS = ("#b2182b", "#2166ac")  # treated, control
FORMULA = (
    "Propensity model (logistic regression): logit P(treated) = b0 + b1·age + b2·ECOG + b3·SINS (spine lesions; 0 "
    "elsewhere) + b4·baseline worst pain + b5·baseline opioid dose (MME/day) + sex + histology group + region + "
    "radiation sequence "
    "(categorical terms against their most frequent level; the contrast's own variable left out). Complete cases; "
    "levels with < 5 patients in an arm pooled. Stabilised IPTW (Cole & Hernán 2008), propensity scores outside "
    "[0.05, 0.95] trimmed (Crump 2009); balance: |standardised mean difference| <= 0.1 after weighting (Austin 2009), "
    "otherwise no estimate. Weighted Cox: robust (sandwich) 95% CI. Exploratory: observational data, residual "
    "confounding by unmeasured factors remains possible."
)


def _entries(numbers: dict[str, Any]) -> list[dict[str, Any]]:
    return list((numbers.get("propensity") or {}).values())


# --- XLSX ------------------------------------------------------------------------------------------


def balance_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    """One row per contrast × covariate term: means and SMD before and after weighting."""
    rows = [{"contrast": e["contrast"], "status": e["status"], **row} for e in _entries(numbers) for row in e["balance"]]
    return pd.DataFrame(rows)


def _hr_row(entry: dict[str, Any], key: str, quantity: str) -> dict[str, Any]:
    hr = entry.get(key) or {}
    return {
        "contrast": entry["contrast"],
        "status": entry["status"],
        "quantity": quantity,
        "estimate": hr.get("hr"),
        "ci_low": hr.get("ci_low"),
        "ci_high": hr.get("ci_high"),
        "p_value": hr.get("p_value"),
        "n": hr.get("n"),
        "events_treated": hr.get("events_treated"),
        "events_control": hr.get("events_control"),
        "note": hr.get("skipped_reason") or (hr.get("variance") if hr else entry.get("reason")),
    }


def outcomes_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    """One row per contrast × quantity: hazard ratios (weighted and unadjusted) and weighted response rates."""
    rows = []
    for e in _entries(numbers):
        for key, quantity in (
            ("cox_sre", "SRE cause-specific HR, weighted"),
            ("unadjusted_cox_sre", "SRE cause-specific HR, unadjusted"),
            ("cox_os", "OS HR, weighted"),
            ("unadjusted_cox_os", "OS HR, unadjusted"),
        ):
            rows.append(_hr_row(e, key, quantity))
        for r in e["response"]:
            for arm in ("treated", "control"):
                rate = r[arm]
                rows.append(
                    {
                        "contrast": e["contrast"],
                        "status": e["status"],
                        "quantity": f"pain response {r['visit']}, weighted rate, {arm}",
                        "estimate": rate["rate"],
                        "ci_low": rate["ci_low"],
                        "ci_high": rate["ci_high"],
                        "n": rate["n"],
                    }
                )
            rows.append(
                {
                    "contrast": e["contrast"],
                    "status": e["status"],
                    "quantity": f"pain response {r['visit']}, difference treated − control",
                    "estimate": r["difference"],
                    "ci_low": r["ci_low"],
                    "ci_high": r["ci_high"],
                    "note": r["skipped_reason"],
                }
            )
    return pd.DataFrame(rows)


# --- PDF tables ------------------------------------------------------------------------------------


def _hr_text(hr: dict[str, Any] | None) -> str:
    if not hr:
        return MISSING
    if hr.get("hr") is None:
        return "not estimable"
    return f"{number(hr['hr'], 2)} ({number(hr['ci_low'], 2)}–{number(hr['ci_high'], 2)})"


def summary_table_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for e in _entries(numbers):
        estimated = e["status"] == OK
        rows.append(
            {
                "Comparison (treated vs control)": e["label"],
                "n treated / control": f"{e['n_treated']} / {e['n_control']}",
                "Trimmed": e["n_trimmed"],
                "Max |SMD| after": number(e["max_smd_after"], 3),
                "SRE HR, weighted": _hr_text(e["cox_sre"]) if estimated else "no estimate",
                "SRE HR, unadjusted": _hr_text(e["unadjusted_cox_sre"]) if estimated else MISSING,
                "OS HR, weighted": _hr_text(e["cox_os"]) if estimated else "no estimate",
                "OS HR, unadjusted": _hr_text(e["unadjusted_cox_os"]) if estimated else MISSING,
            }
        )
    return pd.DataFrame(rows)


def _reasons(numbers: dict[str, Any]) -> str:
    """Why a contrast has no estimate, and why a hazard ratio of an estimated one is not estimable."""
    notes = [f"{e['label']}: {e['reason']}." for e in _entries(numbers) if e["status"] != OK]
    for e in _entries(numbers):
        for key, name in (("cox_sre", "SRE"), ("cox_os", "OS"), ("unadjusted_cox_sre", "SRE unadjusted")):
            hr = e.get(key) or {}
            if hr.get("skipped_reason"):
                notes.append(f"{e['label']}, {name} HR: {hr['skipped_reason']}.")
    return " ".join(notes)


def _rate_text(rate: dict[str, Any]) -> str:
    if rate["rate"] is None:
        return MISSING
    if rate["ci_low"] is None:
        return percent(rate["rate"])
    return f"{percent(rate['rate'])} ({percent(rate['ci_low'])}–{percent(rate['ci_high'])})"


def response_table_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for e in _entries(numbers):
        for r in e["response"]:
            difference = (
                f"{100 * r['difference']:+.1f} ({100 * r['ci_low']:+.1f} to {100 * r['ci_high']:+.1f})"
                if r["difference"] is not None
                else "not estimable"
            )
            rows.append(
                {
                    "Comparison": f"{e['treated_label']} vs {e['control_label']}",
                    "Visit": visit_label(r["visit"]),
                    "Treated, % (95% CI)": _rate_text(r["treated"]),
                    "n treated": r["treated"]["n"],
                    "Control, % (95% CI)": _rate_text(r["control"]),
                    "n control": r["control"]["n"],
                    "Difference, points (95% CI)": difference,
                }
            )
    return pd.DataFrame(rows)


def balance_table_frame(entry: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for row in entry["balance"]:
        rows.append(
            {
                "Covariate": row["label"],
                f"{entry['treated_label']} before": number(row["treated_before"], 2),
                f"{entry['control_label']} before": number(row["control_before"], 2),
                "SMD before": number(row["smd_before"], 3) + (" *" if row["flagged_before"] else ""),
                f"{entry['treated_label']} weighted": number(row["treated_after"], 2),
                f"{entry['control_label']} weighted": number(row["control_after"], 2),
                "SMD after": number(row["smd_after"], 3) + (" *" if row["flagged_after"] else ""),
            }
        )
    return pd.DataFrame(rows)


def propensity_tables(numbers: dict[str, Any]) -> list:
    """The section's DisplayTables: summary with the model formula, response, one balance table per contrast."""
    from analytics.render.report_tables import DisplayTable  # the PDF tables' type (no import cycle at load)

    entries = _entries(numbers)
    if not entries:
        return []
    reasons = _reasons(numbers)
    tables = [
        DisplayTable(
            SECTION,
            "Exploratory: propensity-weighted comparisons (IPTW), hazard ratios treated vs control",
            summary_table_frame(numbers),
            FORMULA + (f" Not estimated — {reasons}" if reasons else ""),
        )
    ]
    response = response_table_frame(numbers)
    if not response.empty:
        tables.append(
            DisplayTable(
                SECTION,
                "Exploratory: pain response (CR or PR among evaluable patients), propensity-weighted",
                response,
                "Weighted share with robust (sandwich) 95% CI; difference in percentage points; n: evaluable patients "
                "(unweighted). Not estimable: no evaluable patient in an arm, or the same outcome for every patient "
                "(e.g. all responding), so the robust interval is undefined.",
            )
        )
    for e in entries:
        if e["balance"]:
            tables.append(
                DisplayTable(
                    SECTION,
                    f"Exploratory: covariate balance, {e['label']} (standardised mean differences)",
                    balance_table_frame(e),
                    f"* |SMD| > {SMD_THRESHOLD}. Before: complete cases, unweighted; after: trimmed patients, weighted. "
                    "Means of 0/1 indicators are proportions.",
                )
            )
    return tables


# --- figure ----------------------------------------------------------------------------------------


def _love(ax, entry: dict[str, Any]) -> None:
    rows = entry["balance"]
    order = [c for c in NUMERIC_COVARIATES + CATEGORICAL_COVARIATES if c in COVARIATE_LABELS]
    rows = sorted(rows, key=lambda r: (order.index(r["covariate"]) if r["covariate"] in order else 99, r["term"]))
    y = np.arange(len(rows))[::-1]
    before = [abs(r["smd_before"]) if r["smd_before"] is not None else np.nan for r in rows]
    after = [abs(r["smd_after"]) if r["smd_after"] is not None else np.nan for r in rows]
    ax.scatter(before, y, marker="o", facecolors="none", edgecolors="#777777", label="before weighting")
    ax.scatter(after, y, marker="o", color="#1f3b73", label="after weighting")
    ax.axvline(SMD_THRESHOLD, color="#b2182b", linestyle="--", linewidth=1, label=f"|SMD| = {SMD_THRESHOLD}")
    ax.set_yticks(y)
    ax.set_yticklabels([r["label"] for r in rows], fontsize=7)
    ax.set_xlabel("|standardised mean difference|")
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Covariate balance (love plot)", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=3, frameon=False)


def _weighted_curves(ax, entry: dict[str, Any], key: str, start: float, title: str, ylabel: str) -> None:
    for curve, colour in zip(entry[key], ARM_COLOURS, strict=False):
        days = [0.0] + [p["day"] for p in curve["points"]]
        values = [start] + [p["estimate"] for p in curve["points"]]
        ax.step(days, values, where="post", color=colour, linewidth=1.8, label=f"{curve['arm']} (n {curve['n']})")
    ax.set(ylim=(0, 1), title=title, ylabel=ylabel, xlabel="Days from index procedure")
    ax.title.set_fontsize(10)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def love_figure(entry: dict[str, Any]) -> Figure:
    """Love plot and, when estimated, the weighted OS Kaplan–Meier and SRE Aalen–Johansen curves per arm."""
    fig = plt.figure(figsize=(11, 6.2))
    estimated = entry["status"] == OK
    gs = fig.add_gridspec(2, 2, width_ratios=[1.15, 1], hspace=0.45, wspace=0.55)
    _love(fig.add_subplot(gs[:, 0]), entry)
    if estimated:
        _weighted_curves(fig.add_subplot(gs[0, 1]), entry, "os_curves", 1.0, "Overall survival, weighted KM", "Survival")
        _weighted_curves(
            fig.add_subplot(gs[1, 1]),
            entry,
            "sre_curves",
            0.0,
            "SRE, weighted Aalen–Johansen (death competing)",
            "Cumulative incidence",
        )
        fig.text(
            0.01,
            0.01,
            "Curves: stabilised inverse-probability weights; no pointwise CIs (see the hazard ratios' robust CIs).",
            fontsize=7,
            color="#555555",
        )
    else:
        fig.text(0.62, 0.5, f"No estimate: {entry['reason']}", wrap=True, fontsize=9, va="center")
    fig.suptitle(f"Exploratory: {entry['label']} — propensity-score weighted", fontsize=12)
    fig.subplots_adjust(left=0.22, right=0.97, top=0.88, bottom=0.16)
    return fig


def propensity_figures(numbers: dict[str, Any]) -> dict[str, Any]:
    """File name → builder, one figure per contrast with a balance table (``propensity_love_by_<contrast>.png``)."""
    return {f"{LOVE_PLOT}_by_{e['contrast']}.png": functools.partial(love_figure, e) for e in _entries(numbers) if e["balance"]}
