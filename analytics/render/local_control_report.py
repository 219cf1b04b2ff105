"""The report's "Local tumour control" section (issue 10 part B; docs/domain.md §12): the PDF tables and the LTP
cumulative-incidence plot, from result.json's ``local_tumour_control`` (analytics.compute); the XLSX sheets are in
analytics.render.local_control_tables."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.text import Text

from analytics.render.curves import _curves_figure
from analytics.render.labels import ALL_LABEL, MISSING, stratum_label, variable_label
from analytics.render.local_control_tables import SECTION, section_of
from analytics.render.plot_style import _title
from analytics.render.report_tables import DisplayTable
from trials.models.treatment import Guidance, Intent

LTP_PLOT = "ltp_cumulative_incidence"
STRATUM = "Stratum"
LANDMARKS = ("90", "180", "365")
LANDMARK_NAMES = {"90": "3 months", "180": "6 months", "365": "12 months"}
PLOT_VARIABLES = ("guidance", "modality")
PRIMARY_LABEL = "Local tumour control intent"  # the "all" stratum: the primary population, not every patient


# Readable values of the intent and guidance strata (the registry's choices), instead of their codes.
VALUE_LABELS = {"intent": dict(Intent.choices), "guidance": dict(Guidance.choices)}


def _value_label(stratum: str) -> str:
    variable, _, value = stratum.partition("=")
    return str(VALUE_LABELS.get(variable, {}).get(value, value))


def _label(stratum: str) -> str:
    if stratum == "all":
        return f"{PRIMARY_LABEL}, all"
    return f"{variable_label(stratum.partition('=')[0])}: {_value_label(stratum)}"


def _percent_ci(estimate, low, high) -> str:
    if estimate is None:
        return MISSING
    interval = "" if low is None or high is None else f" ({100 * low:.1f}–{100 * high:.1f})"
    return f"{100 * estimate:.1f}%{interval}"


def _notes(entries: dict[str, dict[str, Any]]) -> list[str]:
    return [f"{_label(k)}: {e['skipped_reason']}." for k, e in entries.items() if e.get("skipped_reason")]


EXCLUSION_NAMES = {
    "residual_tumour": "residual unablated tumour at the first follow-up imaging",
    "first_imaging_not_evaluable": "first follow-up imaging not evaluable",
    "no_first_imaging_marked": "imaged, no study marked first post-procedure",
    "no_follow_up_imaging": "no follow-up imaging",
}


def _exclusions(curves: dict[str, dict[str, Any]]) -> list[str]:
    """The patients outside the LTP analysis, per reason, of the primary population (``all``; the XLSX sheet
    has them per stratum)."""
    excluded = curves.get("all", {}).get("excluded") or {}
    named = [f"{count} {EXCLUSION_NAMES.get(reason, reason)}" for reason, count in excluded.items() if count]
    if not named:
        return []
    return [f"Not in the LTP analysis ({PRIMARY_LABEL.lower()}): {'; '.join(named)}."]


def local_control_tables(numbers: dict[str, Any]) -> list[DisplayTable]:
    """PDF: technical success per stratum, then the LTP cumulative incidence at 3, 6 and 12 months."""
    section = section_of(numbers)
    if not section:
        return []
    rates = section["technical_success"]
    success = pd.DataFrame(
        [
            {
                STRATUM: _label(k),
                "Lesions": e["n_lesions"],
                "Success": e["success"],
                "Residual tumour": e["residual_tumour"],
                "Not evaluable": e["not_evaluable"],
                "No first imaging": e["no_first_imaging"],
                "Technical success, % (95% CI)": _percent_ci(e["rate"], e["ci_low"], e["ci_high"]),
            }
            for k, e in rates.items()
        ]
    )
    curves = section["ltp"]["strata"]
    ltp = pd.DataFrame(
        [
            {
                STRATUM: _label(k),
                "Patients": e["n_patients"],
                "Imaged": e["imaged"],
                "Complete ablation, n, % (95% CI)": f"{e['complete_ablation']}, "
                + _percent_ci(e["technique_efficacy"], e["technique_efficacy_ci_low"], e["technique_efficacy_ci_high"]),
                "LTP": e["events"],
                "Deaths": e["competing_events"],
                **{
                    LANDMARK_NAMES[d]: f"{_percent_ci(p['estimate'], p['ci_low'], p['ci_high'])}, at risk {p['at_risk']}"
                    for d in LANDMARKS
                    if (p := e["at_days"].get(d)) is not None
                },
            }
            for k, e in curves.items()
        ]
    )
    population = (
        f"All patients and the guidance/modality strata: {section['population']}; the intent strata: all treated "
        "patients by intent."
    )
    return [
        DisplayTable(
            SECTION,
            "Technical success per treated lesion, % (exact Clopper–Pearson 95% CI)",
            success,
            " ".join(
                [
                    f"Technical success: {section['technical_success_definition']}. Lesions whose first imaging was not "
                    "evaluable or that have no first post-procedure imaging are counted, not in the denominator.",
                    population,
                    *_notes(rates),
                ]
            ),
        ),
        DisplayTable(
            SECTION,
            "Cumulative incidence of local tumour progression (LTP), % (95% CI), death as competing risk (Aalen–Johansen)",
            ltp,
            " ".join(
                [
                    f"LTP: {section['ltp_definition']}. Complete ablation: patients with complete ablation at the "
                    "first follow-up imaging (technique efficacy, % of the imaged, exact Clopper–Pearson 95% CI), the "
                    "patients analysed. At risk: patients still followed and LTP-free. Deaths: deaths without prior "
                    "LTP (competing).",
                    population,
                    *_exclusions(curves),
                    *_notes(curves),
                ]
            ),
        ),
    ]


def _plot_rows(sets: Any) -> pd.DataFrame | None:
    adltp = getattr(sets, "adltp", None)
    return None if adltp is None else adltp[(adltp["intent"] == "local_control") & adltp["ltp_population"].astype(bool)]


def ltp_figure(numbers: dict[str, Any], sets: Any, strata: list[str]) -> Figure:
    """Aalen–Johansen cumulative incidence of LTP (death competing) of the local-control-intent patients."""
    ltp = section_of(numbers)["ltp"]
    fig = _curves_figure(
        {"cumulative_incidence": {k: v["cumulative_incidence"] for k, v in ltp["strata"].items()}, "time_grid": ltp["time_grid"]},
        "cumulative_incidence",
        start=0.0,
        title=_title("Cumulative incidence of local tumour progression (death as competing risk)", strata).replace(
            "all patients", "local tumour control intent"
        ),
        ylabel="Cumulative incidence of LTP",
        adtte=_plot_rows(sets),
        time_column="ltp_days",
        event_column="ltp_event",
        strata=strata,
    )
    shown = {ALL_LABEL: PRIMARY_LABEL} | {stratum_label(s, with_variable=False): _value_label(s) for s in strata if s != "all"}
    for text in fig.findobj(Text):  # the legend's and the at-risk table's names of the curves
        if text.get_text() in shown:
            text.set_text(shown[text.get_text()])
    return fig


def local_control_figures(numbers: dict[str, Any], sets: Any) -> dict[str, Callable[[], Figure | None]]:
    """File name → builder: the local-control-intent patients, then by guidance and by modality (estimable strata
    only, two or more; none when the whole population's curve is not estimable)."""
    section = section_of(numbers)
    curves = section.get("ltp", {}).get("strata", {})
    if not curves or curves.get("all", {}).get("skipped_reason") is not None or "time_grid" not in section["ltp"]:
        return {}
    builders: dict[str, Callable[[], Figure | None]] = {f"{LTP_PLOT}.png": functools.partial(ltp_figure, numbers, sets, ["all"])}
    for variable in PLOT_VARIABLES:
        levels = [k for k, e in curves.items() if k.startswith(f"{variable}=") and e["skipped_reason"] is None]
        if len(levels) > 1:  # one level's curve is the population's
            builders[f"{LTP_PLOT}_by_{variable}.png"] = functools.partial(ltp_figure, numbers, sets, levels)
    return builders
