"""The report's tables, flattened from the numbers (one DataFrame per XLSX sheet / PDF table)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from analytics.render.local_control_tables import ltp_frame, technical_success_frame
from analytics.render.propensity_report import balance_frame, outcomes_frame
from analytics.stats.response import CATEGORIES


def cohort_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(numbers["cohort"], orient="index")
    return frame.rename_axis("characteristic").reset_index()


def _change(entry: dict[str, Any] | None) -> dict[str, Any]:
    change = entry or {}
    return {
        "change_n": change.get("n_paired"),
        "change_mean": change.get("mean"),
        "change_ci_low": change.get("ci_low"),
        "change_ci_high": change.get("ci_high"),
    }


def pain_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for variable, visits in numbers["pain"].items():
        for visit, strata in visits.items():
            for stratum, e in strata.items():
                improved = e.get("improved_2_points") or {}
                rows.append(
                    {
                        "variable": variable,
                        "visit": visit,
                        "stratum": stratum,
                        "n": e["n"],
                        "mean": e["mean"],
                        "sd": e["sd"],
                        "ci_low": e["ci_low"],
                        "ci_high": e["ci_high"],
                        "median": e["median"],
                        "q1": e["q1"],
                        "q3": e["q3"],
                        **_change(e.get("change")),
                        "improved_2_points": improved.get("proportion"),
                    }
                )
    return pd.DataFrame(rows)


def omed_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for visit, strata in numbers["omed"].items():
        for stratum, e in strata.items():
            rows.append(
                {
                    "visit": visit,
                    "stratum": stratum,
                    "n": e["n"],
                    "median": e["median"],
                    "q1": e["q1"],
                    "q3": e["q3"],
                    "mean": e["mean"],
                    "opioid_free": (e.get("opioid_free") or {}).get("proportion"),
                    **_change(e.get("change")),
                }
            )
    return pd.DataFrame(rows)


def response_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for visit, strata in numbers["pain_response"].items():
        for stratum, e in strata.items():
            rows.append(
                {
                    "visit": visit,
                    "stratum": stratum,
                    **{c: e[c] for c in CATEGORIES},
                    "evaluable_rate": e["evaluable_rate"],
                    "itt_denominator": e["itt_denominator"],
                    "itt_rate": e["itt_rate"],
                }
            )
    return pd.DataFrame(rows)


TTR_CIF = "cumulative incidence of first response (Aalen–Johansen, death competing)"
TTR_DURABILITY = "still responding, among responders assessed at a later visit"


def time_to_response_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    """Per stratum: the CIF of first pain response at days 3, 7, 30 and the durability per later visit."""
    rows = []
    for stratum, e in (numbers.get("time_to_response") or {}).items():
        common = {
            "stratum": stratum,
            "n": e["n"],
            "responders": e["responders"],
            "deaths_before_response": e["deaths_before_response"],
            "censored": e["censored"],
            "median_days": e["median_days"],
            "note": e["note"],
        }
        for day, point in e["at_days"].items():
            rows.append(
                {
                    **common,
                    "quantity": TTR_CIF,
                    "day": int(day),
                    "estimate": point["estimate"],
                    "ci_low": point["ci_low"],
                    "ci_high": point["ci_high"],
                    "at_risk": point["at_risk"],
                }
            )
        for d in e["durability"]:
            rows.append(
                {
                    **common,
                    "quantity": TTR_DURABILITY,
                    "day": d["day"],
                    "visit": d["visit"],
                    "estimate": d["proportion"],
                    "assessed": d["assessed"],
                    "still_responding": d["still_responding"],
                }
            )
    return pd.DataFrame(rows)


def complications_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for stratum, summary in numbers["complications"].items():
        for c in summary["counts"]:
            rows.append(
                {
                    "stratum": stratum,
                    "n_patients": summary["n_patients"],
                    "dimension": c["dimension"],
                    "category": c["category"],
                    "patients": c["patients"],
                    "patient_rate": c["patient_rate"],
                    "ci_low": c.get("ci_low"),
                    "ci_high": c.get("ci_high"),
                    "events": c["events"],
                }
            )
    return pd.DataFrame(rows)


def _at_days_rows(section: dict[str, Any], label: str) -> list[dict[str, Any]]:
    rows = []
    for stratum, days in section["at_days"].items():
        for day, point in days.items():
            rows.append({"estimate_of": label, "stratum": stratum, "day": int(day), **point})
    return rows


def survival_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    sre = numbers["sre"]
    rows = _at_days_rows(sre, "SRE cumulative incidence (Aalen–Johansen, death competing)")
    rows += _at_days_rows(sre["one_minus_km"], "SRE 1 − Kaplan–Meier, deaths censored (overestimate)")
    rows += _at_days_rows(numbers["overall_survival"], "Overall survival (Kaplan–Meier)")
    return pd.DataFrame(rows)


def logrank_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for section in (numbers["sre"], numbers["overall_survival"]):
        for test in section["logrank"]:
            rows.append(
                {
                    "endpoint": test["endpoint"],
                    "test": test.get("test", "log-rank"),
                    "variable": test["variable"],
                    "groups": len(test["groups"]),
                    "chisq": test["chisq"],
                    "df": test["df"],
                    "p_value": test["p_value"],
                    "note": test["skipped_reason"],
                }
            )
        for test in section.get("gray", []):  # Gray's test beside the cause-specific log-rank (SRE)
            rows.append(
                {
                    "endpoint": test["endpoint"],
                    "test": "Gray's test (cumulative incidence)",
                    "variable": test["variable"],
                    "groups": len(test["groups"]),
                    "chisq": test["statistic"],
                    "df": test["df"],
                    "p_value": test["p_value"],
                    "note": test["skipped_reason"],
                }
            )
    return pd.DataFrame(rows)


# Short words for the Cox flags beside each row (the full sentence is in result.json ``cox.flags``).
COX_FLAG_WORDS = {
    "aliased": "aliased: dropped (as R, NA)",
    "separation": "separation: not estimable",
    "few_events_per_parameter": "few events per parameter (<10)",
    "non_convergence": "fit did not converge",
}


def _cox_flag(model: dict[str, Any], term: dict[str, Any] | None) -> str:
    codes = list((term or {}).get("flags") or [])
    codes += [f["code"] for f in model.get("flags") or [] if not f.get("term") and f["code"] not in codes]
    return "; ".join(COX_FLAG_WORDS.get(code, code) for code in codes)


def cox_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    """One row per Cox term; a term that is not estimable shows its flag instead of numbers."""
    rows = []
    for section in (numbers["sre"], numbers["overall_survival"]):
        model = section["cox"]
        for term in model["terms"]:
            shown = term.get("estimable", True)
            rows.append(
                {
                    "endpoint": model["endpoint"],
                    "n": model["n"],
                    "events": model["events"],
                    "term": term["term"],
                    "reference": term["reference"],
                    **{k: term[k] if shown else None for k in ("hr", "ci_low", "ci_high", "p_value")},
                    "flag": _cox_flag(model, term),
                }
            )
        if not model["terms"]:
            rows.append(
                {
                    "endpoint": model["endpoint"],
                    "n": model["n"],
                    "events": model["events"],
                    "term": model.get("skipped_reason") or "no terms",
                    "flag": _cox_flag(model, None),
                }
            )
    return pd.DataFrame(rows)


def patient_flow_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    """Enrolled → treated → exits: one row per stage (STROBE item 13)."""
    flow = numbers.get("patient_flow")
    if not flow:
        return pd.DataFrame(columns=["stage", "patients"])
    rows = [
        ("enrolled", flow["enrolled"]),
        ("not treated (no index procedure recorded)", flow["not_treated"]),
        ("treated (analysis population)", flow["treated"]),
    ]
    rows += [(f"treated, exit: {kind.replace('_', ' ')}", count) for kind, count in flow["exits"].items()]
    return pd.DataFrame(rows, columns=["stage", "patients"])


def visit_completion_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    """Per visit: expected / received / not done / missed / not applicable / analysed (SISAQOL completion)."""
    flow = numbers.get("patient_flow")
    return pd.DataFrame(flow["visits"] if flow else [])


def pro_completion_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    """Per visit: expected (ITT), received, received from the patient / from staff and the completion rates (issue 15)."""
    rows = [
        {
            "visit": visit,
            "expected": e["expected"],
            "received": e["received"],
            "received_patient": e["received_by_source"]["patient"],
            "received_staff": e["received_by_source"]["staff"],
            "completion_rate": e["completion_rate"],
            "completion_rate_patient": e["completion_rate_by_source"]["patient"],
            "completion_rate_staff": e["completion_rate_by_source"]["staff"],
        }
        for visit, e in (numbers.get("pro_completion") or {}).items()
    ]
    return pd.DataFrame(rows)


def response_by_source_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    """Sensitivity analysis: pain response among evaluable patients per visit × pain source, Wilson 95% CI."""
    rows = [
        {"visit": visit, "source": source, **e}
        for visit, sources in (numbers.get("pain_response_by_source") or {}).items()
        for source, e in sources.items()
    ]
    return pd.DataFrame(rows)


def mixed_model_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    """One row per model × visit × level: model-based mean change (and the difference from the reference
    level), with N, convergence and the reason when the model was not fitted (analytics.stats.mixed_model)."""
    rows = []
    for endpoint, models in (numbers.get("mixed_model") or {}).items():
        for variable, m in models.items():
            common = {
                "endpoint": endpoint,
                "variable": variable,
                "formula": m["formula"],
                "n_patients": m["n_patients"],
                "n_observations": m["n_observations"],
                "converged": m["converged"],
                "baseline_mean": m["baseline_mean"],
            }
            if m["skipped_reason"]:
                rows.append({**common, "note": m["skipped_reason"]})
                continue
            differences = {(d["visit"], d["level"]): d for d in m["differences"]}
            for mean in m["means"]:
                d = differences.get((mean["visit"], mean["level"])) or {}
                rows.append(
                    {
                        **common,
                        "visit": mean["visit"],
                        "level": mean["level"],
                        "n_visit_level": mean["n_observations"],
                        "mean_change": mean["estimate"],
                        "se": mean["se"],
                        "ci_low": mean["ci_low"],
                        "ci_high": mean["ci_high"],
                        "reference_level": m["reference_level"],
                        "difference_vs_reference": d.get("estimate"),
                        "difference_ci_low": d.get("ci_low"),
                        "difference_ci_high": d.get("ci_high"),
                        "difference_p_value": d.get("p_value"),
                        "note": "; ".join(m["notes"]),
                    }
                )
    return pd.DataFrame(rows)


def mixed_model_fixed_effects_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    """Every fixed-effect coefficient with its SE (REML), per endpoint and model."""
    rows = [
        {"endpoint": endpoint, "variable": variable, **fe}
        for endpoint, models in (numbers.get("mixed_model") or {}).items()
        for variable, m in models.items()
        for fe in m["fixed_effects"]
    ]
    return pd.DataFrame(rows)


def site_benchmarking_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    """One row per indicator × site: rate, denominator, 95% and 99.8% limits, position."""
    rows = []
    for indicator, f in (numbers.get("site_benchmarking") or {}).items():
        for site in f["sites"]:
            rows.append({"indicator": indicator, "registry_rate": f["registry_rate"], **site, "note": "; ".join(f["notes"])})
    return pd.DataFrame(rows)


TABLES = {
    "cohort": cohort_frame,
    "pain": pain_frame,
    "omed": omed_frame,
    "pain_response": response_frame,
    "pro_completion": pro_completion_frame,
    "pain_response_by_source": response_by_source_frame,
    "time_to_response": time_to_response_frame,
    "complications": complications_frame,
    "survival_at_days": survival_frame,
    "logrank": logrank_frame,
    "cox": cox_frame,
    "patient_flow": patient_flow_frame,
    "visit_completion": visit_completion_frame,
    "mixed_model": mixed_model_frame,
    "mixed_model_fixed_effects": mixed_model_fixed_effects_frame,
    "site_benchmarking": site_benchmarking_frame,
    "propensity_balance": balance_frame,
    "propensity_outcomes": outcomes_frame,
    "local_control_success": technical_success_frame,
    "local_control_ltp": ltp_frame,
}


def result_tables(numbers: dict[str, Any]) -> dict[str, pd.DataFrame]:
    return {name: build(numbers) for name, build in TABLES.items()}
