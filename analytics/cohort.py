"""Cohort table: baseline characteristics, all patients and by each stratum of the run (the report's "Table 1").

Pure pandas over the analysis sets. Continuous variables are "mean (SD)" or
"median [Q1–Q3]"; categorical ones "n (%)" of the column's patients.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analytics.derive import BASELINE, AnalysisSets
from analytics.stats.strata import stratum_key

ALL_COLUMN = "all"


def _mean_sd(values: pd.Series) -> str:
    values = values.dropna().astype(float)
    if values.empty:
        return "–"
    sd = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{values.mean():.1f} ({sd:.1f})" if pd.notna(sd) else f"{values.mean():.1f}"


def _median_iqr(values: pd.Series) -> str:
    values = values.dropna().astype(float)
    if values.empty:
        return "–"
    q1, median, q3 = values.quantile([0.25, 0.5, 0.75])
    return f"{median:.1f} [{q1:.1f}–{q3:.1f}]"


def _n_pct(mask: pd.Series) -> str:
    return _count_pct(int(mask.sum()), len(mask))


def _count_pct(n: int, total: int) -> str:
    return f"{n} ({100 * n / total:.0f}%)" if total else "0"


def _column(group: pd.DataFrame) -> dict[str, str]:
    rows = {
        "Patients, n": str(len(group)),
        "Age, years, mean (SD)": _mean_sd(group["age"]),
        "Female, n (%)": _n_pct(group["sex"] == "F"),
        "ECOG 0–1, n (%)": _n_pct(group["ecog"] <= 1),
        "Baseline worst pain, mean (SD)": _mean_sd(group["baseline_worst"]),
        "Baseline opioid dose, MME/day, median [IQR]": _median_iqr(group["baseline_omed"]),
        "Opioid-free at baseline, n (%)": _n_pct(group["baseline_omed"] == 0),
    }
    for variable in ("region", "augmentation", "radiation_sequence", "histology"):
        counts = group[variable].value_counts(sort=False)  # one pass per variable, not one comparison per level
        counts = counts[counts > 0]  # a categorical's unused categories are no level of this group
        for level in sorted(counts.index, key=str):
            rows[f"{variable.replace('_', ' ').capitalize()}: {level}, n (%)"] = _count_pct(int(counts[level]), len(group))
    return rows


def cohort_table(sets: AnalysisSets, strata: Sequence[str] = ("modality",)) -> pd.DataFrame:
    """Rows = characteristics; columns = "all", then "<variable>=<level>" for each level (sorted) of
    each variable in ``strata``, in the run's order. Patients whose value is missing are in "all" only."""
    baseline = sets.pain[sets.pain["visit"] == BASELINE].set_index("study_id")
    frame = sets.patients.assign(
        baseline_worst=sets.patients["study_id"].map(baseline["worst"]),
        baseline_omed=sets.patients["study_id"].map(baseline["omed"]),
    )
    columns = {ALL_COLUMN: _column(frame)}
    for variable in strata:
        for level in sorted(frame[variable].dropna().unique(), key=str):
            columns[stratum_key(variable, level)] = _column(frame[frame[variable] == level])
    table = pd.DataFrame(columns)
    return table.fillna("0 (0%)")
