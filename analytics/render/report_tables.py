"""The PDF's tables: the numbers laid out for a clinician (labelled rows and columns with units,
percentages with named 95% CIs, visit labels, stratum names instead of keys).

Every table covers the whole cohort and every stratum of the run ("All patients", then each level
of each chosen variable, as in the XLSX). ``report_tables(numbers)`` returns them grouped by report
section; the XLSX keeps the full-precision numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from analytics.render.labels import (
    CATEGORY_LABELS,
    CI_NAMES,
    DOSE_UNIT,
    EXACT,
    MISSING,
    WILSON,
    mean_ci_text,
    median_iqr_text,
    number,
    p_value_text,
    percent,
    percent_ci,
    stratum_label,
    variable_label,
    visit_label,
)
from analytics.render.propensity_report import propensity_tables
from analytics.render.tables import _cox_flag
from analytics.stats.response import CATEGORIES

STRATUM = "Patients"
LANDMARK_DAYS = ("30", "90", "180", "365")
COMPLICATION_DIMENSIONS = {
    "any": "Any complication",
    "sir_grade": "SIR grade",
    "ctcae_grade": "CTCAE grade",
    "relatedness": "Related to",
    "serious": "Serious adverse event",
}


@dataclass(frozen=True)
class DisplayTable:
    section: str
    title: str
    frame: pd.DataFrame
    note: str = ""


def _strata(numbers: dict[str, Any], section: dict[str, Any]) -> list[str]:
    """ "all" then each chosen variable's levels present in ``section`` (the run's variable order)."""
    keys = list(section)
    ordered = ["all"] if "all" in keys else []
    for variable in numbers["parameters"]["strata"]:
        ordered += [k for k in keys if k.startswith(f"{variable}=")]
    return ordered


def _by_stratum_and_visit(numbers, by_visit: dict[str, dict[str, Any]], cell) -> pd.DataFrame:
    """Rows = strata, columns = visits, cells = ``cell(entry)``."""
    visits = list(by_visit)
    strata = _strata(numbers, by_visit[visits[0]]) if visits else []
    rows = [{STRATUM: stratum_label(s), **{visit_label(v): cell(by_visit[v].get(s) or {}) for v in visits}} for s in strata]
    return pd.DataFrame(rows)


def pain_tables(numbers: dict[str, Any]) -> list[DisplayTable]:
    worst = numbers["pain"].get("worst", {})
    mean = _by_stratum_and_visit(
        numbers,
        worst,
        lambda e: f"{mean_ci_text(e.get('mean'), e.get('ci_low'), e.get('ci_high'))}  {e.get('n', 0)}" if e.get("n") else MISSING,
    )
    improved = _by_stratum_and_visit(
        numbers, {v: s for v, s in worst.items() if v != "baseline"}, lambda e: _share(e.get("improved_2_points"))
    )
    return [
        DisplayTable(
            "Pain",
            "Worst pain (BPI item 3, 0–10) by visit: mean (95% CI)  number of patients",
            mean,
            "95% CI of the mean from the t distribution. Lower is better.",
        ),
        DisplayTable(
            "Pain",
            f"Worst pain improved by ≥ 2 points from baseline: patients, % ({CI_NAMES[WILSON]})",
            improved,
            "Among patients with worst pain recorded at baseline and at the visit.",
        ),
    ]


def _share(proportion: dict[str, Any] | None, method: str = WILSON) -> str:
    if not proportion:
        return MISSING
    return percent_ci(proportion.get("n"), proportion.get("denominator"), method)


def omed_tables(numbers: dict[str, Any]) -> list[DisplayTable]:
    dose = _by_stratum_and_visit(
        numbers,
        numbers["omed"],
        lambda e: f"{median_iqr_text(e.get('median'), e.get('q1'), e.get('q3'))}  {e.get('n', 0)}" if e.get("n") else MISSING,
    )
    free = _by_stratum_and_visit(numbers, numbers["omed"], lambda e: _share(e.get("opioid_free")))
    return [
        DisplayTable(
            "Opioid use",
            f"Opioid dose, {DOSE_UNIT}, by visit: median [IQR]  number of patients",
            dose,
            f"Oral morphine milligram equivalents per day ({DOSE_UNIT}), summed over the opioids recorded at the "
            "visit; patients recorded as taking no opioid count as 0.",
        ),
        DisplayTable("Opioid use", f"Opioid-free patients: patients, % ({CI_NAMES[WILSON]})", free),
    ]


def response_tables(numbers: dict[str, Any]) -> list[DisplayTable]:
    section = numbers["pain_response"]
    categories = pd.DataFrame(
        [
            {
                "Visit": visit_label(v),
                **{CATEGORY_LABELS[c]: section[v]["all"][c] for c in CATEGORIES},
                "Patients in ITT": section[v]["all"].get("itt_denominator"),
            }
            for v in section
            if "all" in section[v]
        ]
    )
    evaluable = _by_stratum_and_visit(numbers, section, lambda e: percent_ci(e.get("responders"), e.get("evaluable")))
    itt = _by_stratum_and_visit(numbers, section, lambda e: percent_ci(e.get("itt_responders"), e.get("itt_denominator")))
    return [
        DisplayTable(
            "Pain response",
            "Pain response categories by visit, all patients (international consensus, Chow 2012)",
            categories,
            "ITT: patients alive and on study at the visit's target day. Not evaluable: worst pain or "
            "opioid dose missing at baseline or at the visit.",
        ),
        DisplayTable(
            "Pain response", f"Responders (complete + partial) among evaluable patients: n/N, % ({CI_NAMES[WILSON]})", evaluable
        ),
        DisplayTable(
            "Pain response",
            f"Responders among the ITT population: n/N, % ({CI_NAMES[WILSON]})",
            itt,
            "Patients without data at the visit count as non-responders.",
        ),
    ]


TTR_COLUMNS = {"3": "By day 3", "7": "By week 1", "30": "By month 1"}


def _cif_text(point: dict[str, Any] | None) -> str:
    if not point or point.get("estimate") is None:
        return MISSING
    low, high = point.get("ci_low"), point.get("ci_high")
    interval = "" if low is None or high is None else f" ({100 * low:.0f}–{100 * high:.0f})"
    return f"{100 * point['estimate']:.0f}%{interval}"


def time_to_response_tables(numbers: dict[str, Any]) -> list[DisplayTable]:
    """Time to first pain response (death competing) and its durability, per stratum (issue 16)."""
    section = numbers.get("time_to_response")
    if not section:
        return []
    strata = _strata(numbers, section)
    cif = pd.DataFrame(
        [
            {
                STRATUM: stratum_label(s),
                "N": section[s]["n"],
                "Responders": section[s]["responders"],
                **{label: _cif_text(section[s]["at_days"].get(day)) for day, label in TTR_COLUMNS.items()},
                "Median, days": MISSING
                if not section[s]["n"]
                else number(section[s]["median_days"], 0)
                if section[s]["median_reached"]
                else "not reached",
            }
            for s in strata
        ]
    )
    visits = [
        v
        for v in ("week1", "month1", "month3", "month6", "month12")
        if any(d["visit"] == v for s in strata for d in section[s]["durability"])
    ]
    durable = pd.DataFrame(
        [
            {
                STRATUM: stratum_label(s),
                **{
                    visit_label(v): next(
                        (percent_ci(d["still_responding"], d["assessed"]) for d in section[s]["durability"] if d["visit"] == v),
                        MISSING,
                    )
                    for v in visits
                },
            }
            for s in strata
        ]
    )
    return [
        DisplayTable(
            "Pain response",
            "Time to first pain response (complete or partial): cumulative incidence, % "
            "(95% CI), death as competing risk (Aalen–Johansen)",
            cif,
            "Day 0 = index procedure; a patient's response time is the scheduled day of the first visit "
            "classed complete or partial response; non-responders are censored at their last evaluable visit, "
            "death before a response competes. Median: first day the cumulative incidence reaches 50%. "
            "95% CI log-log (Pintilie 2006). –: no patient of the stratum followed to that day.",
        ),
        DisplayTable(
            "Pain response",
            f"Durability: responders still responding at each later visit, n/N, % ({CI_NAMES[WILSON]})",
            durable if visits else pd.DataFrame({STRATUM: ["no later visit with a responder assessed"]}),
            "N: patients who responded at an earlier visit and were evaluable at this one.",
        ),
    ]


def _complication_label(dimension: str, category: str) -> str:
    if dimension in {"any", "serious"}:
        return COMPLICATION_DIMENSIONS[dimension]
    shown = category.replace(">=", "≥ ").replace("_", " ")
    return f"{COMPLICATION_DIMENSIONS.get(dimension, dimension)}: {shown}"


def complication_tables(numbers: dict[str, Any]) -> list[DisplayTable]:
    section = numbers["complications"]
    tables = []
    for variable in numbers["parameters"]["strata"] or [None]:  # every per-variable table has "All patients" too
        strata = ["all"] + ([k for k in section if k.startswith(f"{variable}=")] if variable else [])
        if variable and len(strata) == 1:
            continue
        rows: dict[str, dict[str, str]] = {}
        for stratum in strata:
            summary = section[stratum]
            column = f"{stratum_label(stratum, with_variable=False)} (N={summary['n_patients']})"
            for count in summary["counts"]:
                ci = (count["ci_low"], count["ci_high"]) if count.get("ci_low") is not None else None
                rows.setdefault(_complication_label(count["dimension"], count["category"]), {})[column] = (
                    f"{percent_ci(count['patients'], summary['n_patients'], EXACT, ci=ci, digits=1)}; {count['events']} ev."
                )
        frame = pd.DataFrame.from_dict(rows, orient="index").rename_axis("Complication").reset_index()
        where = f"by {variable_label(variable).lower()}" if variable else "all patients"
        tables.append(
            DisplayTable(
                "Complications",
                f"Complications, {where}: patients with ≥ 1 event n/N, % ({CI_NAMES[EXACT]}); number of events",
                frame,
                "SIR adverse-event classification (Khalilzadeh 2017); CTCAE v5.0 grades.",
            )
        )
    return tables


def serious_events_table(numbers: dict[str, Any]) -> list[DisplayTable]:
    """Serious adverse events of all patients, one row each (no free text, no dates: days from day 0)."""
    events = (numbers["complications"].get("all") or {}).get("serious_events")
    if events is None:
        return []
    frame = (
        pd.DataFrame(
            [
                {
                    "Patient": e["study_id"],
                    "Onset, day": MISSING if e.get("onset_day") is None else e["onset_day"],
                    "Resolved, day": MISSING if e.get("resolution_day") is None else e["resolution_day"],
                    "SIR grade": str(e.get("sir_grade") or MISSING).replace("_", " "),
                    "CTCAE grade": e.get("ctcae_grade") or MISSING,
                    "Related to": str(e.get("relatedness") or MISSING).replace("_", " "),
                }
                for e in events
            ]
        )
        if events
        else pd.DataFrame({"Patient": ["none recorded"]})
    )
    return [
        DisplayTable(
            "Complications",
            f"Serious adverse events, all patients ({len(events)})",
            frame,
            "Days from the index procedure (day 0); resolution missing = not resolved or not recorded.",
        )
    ]


def _landmarks(numbers: dict[str, Any], section: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for stratum in _strata(numbers, section["at_days"]):
        days = section["at_days"][stratum]
        row = {STRATUM: stratum_label(stratum)}
        for day in LANDMARK_DAYS:
            point = days.get(day) or {}
            est = point.get("estimate")
            low, high = point.get("ci_low"), point.get("ci_high")
            interval = "" if low is None or high is None else f" ({100 * low:.1f}–{100 * high:.1f})"
            row[f"Day {day}"] = MISSING if est is None else f"{100 * est:.1f}%{interval}, at risk {point.get('at_risk', MISSING)}"
        rows.append(row)
    return pd.DataFrame(rows)


def _test_rows(tests: list[dict[str, Any]], counts_label: str, counts, statistic: str) -> pd.DataFrame:
    """One row per compared variable; a test that could not be computed says "see note" (reasons in ``_test_notes``)."""
    return pd.DataFrame(
        [
            {
                "Compared by": variable_label(t["variable"]),
                "Groups": len(t["groups"]),
                counts_label: ", ".join(counts(g) for g in t["groups"]),
                "Chi-square": number(t.get(statistic), 2),
                "df": t.get("df"),
                "p-value": "see note" if t.get("skipped_reason") else p_value_text(t.get("p_value")),
            }
            for t in tests
        ]
    )


def _test_notes(tests: list[dict[str, Any]], note: str = "") -> str:
    reasons = [f"{variable_label(t['variable'])}: {t['skipped_reason']}." for t in tests if t.get("skipped_reason")]
    return " ".join([note, *reasons]).strip()


def logrank_table(tests: list[dict[str, Any]]) -> pd.DataFrame:
    return _test_rows(
        tests, "Observed / expected events", lambda g: f"{g['group']} {g['observed']:.0f}/{g['expected']:.1f}", "chisq"
    )


def gray_table(tests: list[dict[str, Any]]) -> pd.DataFrame:
    """Gray's K-sample test of cumulative incidence, one row per stratification variable."""
    return _test_rows(
        tests, "SREs / competing deaths", lambda g: f"{g['group']} {g['events']}/{g['competing_events']}", "statistic"
    )


def cox_table(model: dict[str, Any]) -> tuple[pd.DataFrame, str]:
    """Hazard ratios with a flag beside each row that must not be read as an estimate, and a note with
    the model's size and every model-level flag in words."""
    rows = [
        {
            "Covariate": f"{variable_label(t['variable'])}: {t['level']} vs {t['reference']}",
            "Hazard ratio (95% CI)": mean_ci_text(t.get("hr"), t.get("ci_low"), t.get("ci_high"), 2)
            if t.get("estimable", True)
            else "not estimable",
            "p-value": p_value_text(t.get("p_value")) if t.get("estimable", True) else MISSING,
            "Flag": _cox_flag(model, t),
        }
        for t in model["terms"]
    ]
    notes = [f"{model['n']} patients, {model['events']} events; Efron ties; reference level = {model.get('reference_rule')}."]
    if model.get("skipped_reason"):
        notes.append(f"Model not fitted: {model['skipped_reason']}.")
    notes += [f"Dropped {d['variable']}: {d['reason']}." for d in model.get("dropped") or []]
    notes += [flag["message"].rstrip(".") + "." for flag in model.get("flags") or []]
    frame = pd.DataFrame(rows) if rows else pd.DataFrame({"Covariate": ["(no model: see the note below)"]})
    return frame, " ".join(notes)


def survival_tables(numbers: dict[str, Any]) -> list[DisplayTable]:
    sre, os_ = numbers["sre"], numbers["overall_survival"]
    sre_cox, sre_note = cox_table(sre["cox"])
    os_cox, os_note = cox_table(os_["cox"])
    tables = [
        DisplayTable(
            "Skeletal-related events",
            "Cumulative incidence of first SRE, % (95% CI), death as competing risk (Aalen–Johansen)",
            _landmarks(numbers, sre),
            "At risk: patients still followed and event-free.",
        ),
        *(
            [
                DisplayTable(
                    "Skeletal-related events",
                    "SRE cumulative incidence between strata: Gray's test (death as competing risk)",
                    gray_table(sre["gray"]),
                    _test_notes(
                        sre["gray"],
                        "Gray 1988, as R cmprsk::cuminc (rho = 0): "
                        "compares the cumulative incidence curves shown in this section.",
                    ),
                )
            ]
            if sre.get("gray")
            else []
        ),
        DisplayTable(
            "Skeletal-related events",
            "SRE between strata: cause-specific log-rank test (deaths censored)",
            logrank_table(sre["logrank"]),
            _test_notes(
                sre["logrank"],
                "Compares SRE hazards among patients "
                "still alive, not the cumulative incidence; with death as a competing risk, Gray's test is the "
                "comparison of the curves."
                if sre.get("gray")
                else "",
            ),
        ),
        DisplayTable("Skeletal-related events", "SRE: cause-specific Cox model, hazard ratios", sre_cox, sre_note),
        DisplayTable("Overall survival", "Overall survival, % (95% CI) (Kaplan–Meier)", _landmarks(numbers, os_)),
        DisplayTable(
            "Overall survival",
            "Overall survival between strata: log-rank test",
            logrank_table(os_["logrank"]),
            _test_notes(os_["logrank"]),
        ),
        DisplayTable("Overall survival", "Overall survival: Cox model, hazard ratios", os_cox, os_note),
    ]
    return [t for t in tables if not t.frame.empty]  # no strata requested: no between-strata tests to show


def completion_table(numbers: dict[str, Any]) -> list[DisplayTable]:
    """SISAQOL-style completion per visit: what happened to every treated patient at each visit."""
    flow = numbers.get("patient_flow")
    if not flow:
        return []
    rows = [
        {
            "Visit": visit_label(v["visit"]),
            "Treated": v["treated"],
            "Not yet due": v["not_yet_due"],
            "Left before: died": v["not_applicable_died"],
            "Left before: other exit": v["not_applicable_exit"],
            "Expected (ITT)": v["expected"],
            "Received": f"{v['received']} ({percent(v['completion_rate'])})",
            "Not done": v["not_done"],
            "Visit not done": v.get("visit_not_done", 0),
            "Missed": v["missed"],
            "Window open": v["window_open"],
            "Analysed": MISSING if v["analysed"] is None else v["analysed"],
            "Received, not evaluable": MISSING if v["not_evaluable"] is None else v["not_evaluable"],
        }
        for v in flow["visits"]
    ]
    note = (
        "Treated = Not yet due + Left before (died, other exit) + Expected; Expected = Received + Not done + Visit not "
        "done + Missed + Window open. Received: visit recorded with worst pain (% of expected). Not done: visit recorded without "
        "worst pain. Visit not done: recorded as not taking place, with a reason. Missed: window closed with no visit. "
        "Window open: target day passed, window still open at the "
        "cut-off. Left before: exit on or before the target day (visit not applicable). Analysed: pain response "
        "evaluable; received but not evaluable = baseline pain or opioid dose missing."
    )
    return [
        DisplayTable(
            "Patient flow",
            "Completion by visit: expected, received and missing BPI assessments (treated patients)",
            pd.DataFrame(rows),
            note,
        )
    ]


SOURCE_LABELS = {"patient": "Patient (by link)", "staff": "Staff"}


def pro_tables(numbers: dict[str, Any]) -> list[DisplayTable]:
    """PRO completion per visit by source, and pain response by source (sensitivity analysis), issue 15."""
    completion = numbers.get("pro_completion") or {}
    if not completion:
        return []
    rows = [
        {
            "Visit": visit_label(visit),
            "Expected (ITT)": e["expected"],
            "Received": f"{e['received']} ({percent(e['completion_rate'])})",
            **{
                f"From {SOURCE_LABELS[s].lower()}": f"{e['received_by_source'][s]} ({percent(e['completion_rate_by_source'][s])})"
                for s in SOURCE_LABELS
            },
        }
        for visit, e in completion.items()
    ]
    by_source = numbers.get("pain_response_by_source") or {}
    response = pd.DataFrame(
        [
            {
                "Visit": visit_label(visit),
                **{
                    SOURCE_LABELS[s]: percent_ci(e.get("responders"), e.get("evaluable"), ci=_ci(e))
                    for s, e in sources.items()
                    if s in SOURCE_LABELS
                },
            }
            for visit, sources in by_source.items()
        ]
    )
    return [
        DisplayTable(
            "Patient-reported outcomes",
            "PRO completion by visit: expected, received and received by source (worst pain)",
            pd.DataFrame(rows),
            "Expected: the visit's ITT population. Received: worst pain recorded (% of expected); from the patient: the "
            "patient answered the questionnaire by link; from staff: entered by site staff (clinic or phone).",
        ),
        DisplayTable(
            "Patient-reported outcomes",
            f"Sensitivity analysis: responders among evaluable patients by source of the pain score, n/N, % ({CI_NAMES[WILSON]})",
            response,
            "Pain response (international consensus) computed separately for patient-reported and staff-entered worst pain. "
            "Patient-reported opioid answers count as MME only after staff review; until then the visit is not evaluable.",
        ),
    ]


def _ci(entry: dict[str, Any]) -> tuple[float, float] | None:
    low, high = entry.get("ci_low"), entry.get("ci_high")
    return None if low is None or high is None else (low, high)


def report_tables(numbers: dict[str, Any]) -> list[DisplayTable]:
    """Every PDF table except Table 1, in report order."""
    return [
        *completion_table(numbers),
        *pain_tables(numbers),
        *omed_tables(numbers),
        *response_tables(numbers),
        *pro_tables(numbers),
        *time_to_response_tables(numbers),
        *complication_tables(numbers),
        *serious_events_table(numbers),
        *survival_tables(numbers),
        *propensity_tables(numbers),
    ]


def cohort_tables(numbers: dict[str, Any]) -> list[DisplayTable]:
    """Table 1: all patients, then one table per chosen variable (all + its levels)."""
    frame = pd.DataFrame.from_dict(numbers["cohort"], orient="index")
    variables = numbers["parameters"]["strata"] or [None]
    tables = []
    for variable in variables:
        columns = ["all"] + ([c for c in frame.columns if c.startswith(f"{variable}=")] if variable else [])
        shown = frame[columns].rename(columns=lambda c: stratum_label(c, with_variable=False))
        shown = shown.rename_axis("Characteristic").reset_index()
        where = f"by {variable_label(variable).lower()}" if variable else "all patients"
        tables.append(
            DisplayTable(
                "Table 1",
                f"Table 1. Baseline characteristics, {where}",
                shown,
                "Continuous: mean (SD) or median [IQR]; categorical: n (% of the column's patients).",
            )
        )
    return tables
