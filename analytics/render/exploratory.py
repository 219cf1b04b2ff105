"""The report's "Exploratory analyses" section (issue 16): tables and plots, clearly labelled exploratory.

The section is a list of **subsections**, each a builder ``numbers → [DisplayTable]`` (``SUBSECTIONS``,
in page order) and optional plot builders ``numbers → Figure | None`` (``FIGURES``, file name → builder;
the PDF shows them after the section's tables in that order). A new analysis adds its builders to
these two registries; nothing else in the PDF changes.

- ``intro_tables``: what "exploratory" means here (first block of the section, always first);
- ``mixed_model_tables``: the repeated-measures model, formula and covariates written out
  (analytics.stats.mixed_model);
- ``site_benchmarking_tables`` and ``site_funnel_figure``: funnel plots of the site indicators
  (analytics.stats.funnel).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analytics.render.labels import MISSING, number, p_value_text, percent, variable_label, visit_label  # noqa: E402
from analytics.render.report_tables import DisplayTable  # noqa: E402
from analytics.stats.funnel import control_limit_curves, control_limits  # noqa: E402
from analytics.stats.mixed_model import PRIMARY_ENDPOINT  # noqa: E402

EXPLORATORY = "Exploratory analyses"
PREFIX = "Exploratory. "
ENDPOINT_NAMES = {
    "worst": "Worst pain (BPI, 0-10)",
    "interference": "Pain interference (BPI, 0-10)",
    "omed": "Opioid dose, MME/day",
}
ENDPOINT_DIGITS = {"worst": 1, "interference": 1, "omed": 0}
INTRO = (
    "The analyses of this section are EXPLORATORY: they generate hypotheses and are not pre-specified confirmatory results.",
    "Registry patients were not randomised; differences between groups may reflect who received what (confounding), and",
    "no adjustment is made for the number of comparisons. Read them beside the descriptive sections, not instead of them.",
)


def _text_block(title: str, lines: tuple[str, ...] | list[str], note: str = "") -> DisplayTable:
    return DisplayTable(EXPLORATORY, title, pd.DataFrame({"": list(lines)}), note)


def intro_tables(numbers: dict[str, Any]) -> list[DisplayTable]:  # noqa: ARG001
    return [_text_block(f"{PREFIX}About this section", INTRO)]


# --- repeated-measures model ------------------------------------------------------------------------


def mixed_model_methods(numbers: dict[str, Any]) -> list[str]:
    strata = ", ".join(variable_label(v).lower() for v in numbers["parameters"]["strata"]) or "none"
    return [
        "Linear mixed model for repeated measures (Laird & Ware 1982), fitted by REML (the estimates of R nlme::lme and of",
        "statsmodels MixedLM, checked against both). For each patient i and follow-up visit j:",
        "",
        "  change from baseline[ij] = b0 + visit[j] + baseline value[i] + stratum[i] + visit[j] x stratum[i] + u[i] + e[ij]",
        "",
        "  visit            categorical fixed effect (reference: the first follow-up visit with data)",
        "  baseline value   continuous covariate (the endpoint's value at the baseline visit)",
        f"  stratum          the stratification variable, categorical (reference: first level alphabetically): {strata}",
        "  visit x stratum  interaction: the stratum difference may change over visits",
        "  u[i]             random intercept per patient, normal; e[ij] residual, normal",
        "",
        "Model-based mean change = L.beta at the mean baseline value of the patients in the model; 95% CI = L.beta +/- 1.96",
        "x sqrt(L V L'), V the REML covariance of the fixed effects. Every available visit of every patient is used; deaths",
        "truncate follow-up (no values after death are imputed), and missing visits are assumed missing at random.",
        "Primary endpoint: worst pain (context: MOTION's adjusted week-8 change, -2.61). Secondary: pain interference and OMED.",
    ]


def _mean_text(entry: dict[str, Any] | None, digits: int) -> str:
    if not entry or entry.get("estimate") is None:
        return MISSING
    return f"{number(entry['estimate'], digits)} ({number(entry['ci_low'], digits)} to {number(entry['ci_high'], digits)})"


def _formula_words(model: dict[str, Any]) -> str:
    """The model formula in the report's words ("visit x modality" rather than column names)."""
    stratum = "" if model["variable"] == "all" else f" x {variable_label(model['variable']).lower()}"
    return f"change from baseline ~ visit{stratum} + baseline value + (1 | patient)"


def _model_note(model: dict[str, Any]) -> str:
    parts = [
        f"Model: {_formula_words(model)}.",
        f"{model['n_patients']} patients, {model['n_observations']} observations;",
        f"REML converged: {'yes' if model['converged'] else 'no'};",
        f"evaluated at the mean baseline value {number(model['baseline_mean'], 1)}.",
    ]
    if model["reference_level"]:
        parts.append(f"Differences: level minus {model['reference_level']} (95% Wald CI, p value).")
    parts += list(model["notes"])
    return " ".join(parts)


def _model_table(endpoint: str, variable: str, model: dict[str, Any]) -> DisplayTable:
    name = ENDPOINT_NAMES.get(endpoint, endpoint)
    by = "all patients" if variable == "all" else f"by {variable_label(variable).lower()}"
    title = f"{PREFIX}{name}: model-based mean change from baseline (95% CI), {by}"
    if model["skipped_reason"]:
        frame = pd.DataFrame({"Model not fitted": [model["skipped_reason"]]})
        return DisplayTable(EXPLORATORY, title, frame, f"Model: {_formula_words(model)}. " + " ".join(model["notes"]))
    digits = ENDPOINT_DIGITS.get(endpoint, 1)
    means = {(m["visit"], m["level"]): m for m in model["means"]}
    differences = {(d["visit"], d["level"]): d for d in model["differences"]}
    rows = []
    for visit in model["visits"]:
        row: dict[str, Any] = {"Visit": visit_label(visit)}
        for level in model["levels"]:
            mean = means.get((visit, level)) or {}
            label = "All patients" if level == "all" else level
            row[f"{label}: n"] = mean.get("n_observations")
            row[f"{label}: change"] = _mean_text(mean, digits)
        for level in model["levels"][1:]:
            d = differences.get((visit, level))
            row[f"{level} - {model['reference_level']}"] = _mean_text(d, digits)
            row[f"p ({level})"] = p_value_text((d or {}).get("p_value"))
        rows.append(row)
    return DisplayTable(EXPLORATORY, title, pd.DataFrame(rows), _model_note(model))


def mixed_model_tables(numbers: dict[str, Any]) -> list[DisplayTable]:
    """Methods block, then the primary endpoint's models (unstratified and per variable), then the
    secondary endpoints' unstratified models (every model is in the XLSX sheet ``mixed_model``)."""
    section = numbers.get("mixed_model") or {}
    if not section:
        return []
    tables = [_text_block(f"{PREFIX}Repeated-measures model of pain: methods", mixed_model_methods(numbers))]
    for endpoint, models in section.items():
        shown = models.items() if endpoint == PRIMARY_ENDPOINT else [(k, m) for k, m in models.items() if k == "all"]
        tables += [_model_table(endpoint, variable, model) for variable, model in shown]
    return tables


# --- site benchmarking (funnel plots) ---------------------------------------------------------------


def _limits_text(low: float | None, high: float | None) -> str:
    return MISSING if low is None or high is None else f"{percent(low, 1)} to {percent(high, 1)}"


def _position_text(site: dict[str, Any]) -> str:
    if site["outside_998"] in ("above", "below"):
        return f"{site['outside_998'].upper()} 99.8% limit"
    if site["outside_95"] in ("above", "below"):
        return f"{site['outside_95']} 95% limit"
    return site["outside_95"]


def site_benchmarking_tables(numbers: dict[str, Any]) -> list[DisplayTable]:
    section = numbers.get("site_benchmarking") or {}
    tables = []
    for f in section.values():
        rows = [
            {
                "Site": s["site"],
                f"n ({f['denominator']})": s["n"],
                "Events": s["events"],
                "Rate": percent(s["rate"], 1),
                "95% limits": _limits_text(s["lower_95"], s["upper_95"]),
                "99.8% limits": _limits_text(s["lower_998"], s["upper_998"]),
                "Position": _position_text(s),
            }
            for s in f["sites"]
        ]
        outside = (
            f"Outside the 99.8% limits: {', '.join(f['outside_998']) or 'none'}; "
            f"outside the 95% limits: {', '.join(f['outside_95']) or 'none'}."
        )
        note = (
            f"Registry rate {percent(f['registry_rate'], 1)} ({f['registry_events']}/{f['registry_n']}). {outside} "
            f"Limits: {f['method']}. " + " ".join(f["notes"]) + (f" {f['skipped_reason']}." if f["skipped_reason"] else "")
        )
        tables.append(DisplayTable(EXPLORATORY, f"{PREFIX}Site benchmarking: {f['label']}", pd.DataFrame(rows), note))
    return tables


FUNNEL_EVERY_N = 200  # denominators drawn one by one (the limits move fast there)
FUNNEL_POINTS = 1500  # points of the rest of a drawn limit curve


def funnel_grid(largest: int) -> np.ndarray:
    """The denominators a funnel plot's limit curves are drawn at, 1 … ``largest``: every one up to
    ``FUNNEL_EVERY_N``, then ``FUNNEL_POINTS`` evenly spaced (issue 17: at 100,000 patients a curve over every n
    was 80,000 exact-binomial quantiles per limit, for a panel a few hundred pixels wide)."""
    if largest <= FUNNEL_EVERY_N + FUNNEL_POINTS:
        return np.arange(1, largest + 1)
    rest = np.linspace(FUNNEL_EVERY_N + 1, largest, FUNNEL_POINTS).round().astype(np.int64)
    return np.unique(np.concatenate([np.arange(1, FUNNEL_EVERY_N + 1), rest]))


def _funnel_panel(ax, f: dict[str, Any]) -> None:
    p0, sites = f["registry_rate"], [s for s in f["sites"] if s["n"]]
    ax.set_title("\n".join(textwrap.wrap(f["label"], 42)), fontsize=9)
    ax.set(xlabel=f"n ({f['denominator']})")
    ax.grid(alpha=0.3)
    if p0 is None or not sites:
        ax.text(0.5, 0.5, f.get("skipped_reason") or "no data", ha="center", transform=ax.transAxes)
        return
    n = funnel_grid(int(max(s["n"] for s in sites) * 1.15) + 1)
    for level, style in ((0.95, "--"), (0.998, ":")):
        low, high = control_limit_curves(p0, n, level)
        ax.plot(n, low, style, color="#555555", linewidth=1, label=f"{level:.1%} limits".replace(".0%", "%"))
        ax.plot(n, high, style, color="#555555", linewidth=1)
    ax.axhline(p0, color="#1f3b73", linewidth=1.2, label=f"registry rate {percent(p0, 1)}")
    for s in sites:
        colour = "#b2182b" if s["outside_998"] != "within" else "#ef8a62" if s["outside_95"] != "within" else "#2166ac"
        ax.plot(s["n"], s["rate"], "o", color=colour, markersize=6)
        ax.annotate(s["site"], (s["n"], s["rate"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    smallest = min(s["n"] for s in sites)
    bottom, top = control_limits(p0, smallest, 0.998)
    rates = [s["rate"] for s in sites]
    ax.set_ylim(max(0.0, min(bottom or 0.0, *rates) - 0.05), min(1.0, max(top or 1.0, *rates) + 0.05))
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.legend(fontsize=7, loc="best")


def site_funnel_figure(numbers: dict[str, Any]) -> Figure | None:
    """One panel per site indicator; None when the run has no site benchmarking."""
    section = numbers.get("site_benchmarking") or {}
    if not section:
        return None
    fig, axes = plt.subplots(1, len(section), figsize=(4.2 * len(section), 4.6), squeeze=False)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.82, bottom=0.2, wspace=0.25)
    for ax, f in zip(axes[0], section.values(), strict=True):
        _funnel_panel(ax, f)
    fig.suptitle("Exploratory: site benchmarking funnel plots (exact binomial limits around the registry rate)", fontsize=11)
    fig.text(
        0.01,
        0.02,
        "Dashed: 95% limits; dotted: 99.8% limits (Spiegelhalter 2005). Red: outside 99.8%; orange: outside 95%. "
        "A site outside the limits is a prompt to look at its data and case mix, not a verdict.",
        fontsize=7,
        color="#444444",
    )
    return fig


# --- the registries -----------------------------------------------------------------------------------

# Subsection builders after the intro block, in page order: append new analyses here.
SUBSECTIONS: list[Callable[[dict[str, Any]], list[DisplayTable]]] = [
    mixed_model_tables,
    site_benchmarking_tables,
]
FIGURES: dict[str, Callable[[dict[str, Any]], Figure | None]] = {
    "site_funnel.png": site_funnel_figure,
}


def exploratory_tables(numbers: dict[str, Any]) -> list[DisplayTable]:
    """Every table of the section, subsection by subsection (empty when the run has no exploratory results)."""
    tables = [table for build in SUBSECTIONS for table in build(numbers)]
    return [*intro_tables(numbers), *tables] if tables else []
