"""The XLSX sheets of local tumour control (issue 10 part B): result.json's ``local_tumour_control`` flattened."""

from __future__ import annotations

from typing import Any

import pandas as pd

SECTION = "Local tumour control"


def section_of(numbers: dict[str, Any]) -> dict[str, Any]:
    section = numbers.get("local_tumour_control") or {}
    return section if "technical_success" in section else {}


def technical_success_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    """XLSX: one row per stratum, the counts per first finding and the rate with its exact 95% CI."""
    rows = [{"stratum": stratum, **entry} for stratum, entry in section_of(numbers).get("technical_success", {}).items()]
    return pd.DataFrame(rows)


def ltp_frame(numbers: dict[str, Any]) -> pd.DataFrame:
    """XLSX: one row per stratum × landmark day: the LTP cumulative incidence, its CI, at risk, events, deaths; the
    stratum's treated patients, the imaged ones, technique efficacy with its exact CI, the patients analysed (complete
    ablation at the first follow-up imaging) and those excluded per reason (``excluded_<reason>``)."""
    rows = []
    for stratum, entry in section_of(numbers).get("ltp", {}).get("strata", {}).items():
        for day, point in sorted(entry["at_days"].items(), key=lambda item: int(item[0])):
            rows.append(
                {
                    "stratum": stratum,
                    "population": entry["population"],
                    "day": int(day),
                    **point,
                    "patients": entry["n_patients"],
                    "imaged": entry["imaged"],
                    "technique_efficacy": entry["technique_efficacy"],
                    "technique_efficacy_ci_low": entry["technique_efficacy_ci_low"],
                    "technique_efficacy_ci_high": entry["technique_efficacy_ci_high"],
                    "analysed": entry["n"],
                    **{f"excluded_{reason}": count for reason, count in entry["excluded"].items()},
                    "ltp_events": entry["events"],
                    "competing_deaths": entry["competing_events"],
                    "note": entry["skipped_reason"] or "",
                }
            )
    return pd.DataFrame(rows)
