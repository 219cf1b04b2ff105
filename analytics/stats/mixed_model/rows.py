"""The mixed model's analysis rows (analytics.stats.mixed_model re-exports ``mixed_model_frame``, ``patient_codes``
and ``death_days``): one row per patient × follow-up visit with the change from the patient's baseline value,
records dated after death left out (docs/analytics-methods.md "Mixed models")."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from trials.domain.schedule import FOLLOW_UP_CODES, VISIT_CODES, VISITS_BY_CODE

from ..shared import shared
from ..strata import as_text, require_columns

BASELINE = VISIT_CODES[0]


@shared
def patient_codes(pain: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, study_ids)`` of ``pain``'s study_id column: one integer code per row (int32: the memo holds 2 MB at
    100,000 patients) and the distinct study_ids (text, in order of first appearance), as ``pd.factorize``. Shared
    by a report's fit units (analytics.stats.shared: the 18 mixed-model units factorized the same 500,000 study_id
    texts; issue 17, report CPU): read-only."""
    codes, uniques = pd.factorize(as_text(pain["study_id"]).to_numpy())
    return codes.astype(np.int32 if len(uniques) < 2**31 else np.int64), np.asarray(uniques, dtype=object)


@shared
def death_days(pain: pd.DataFrame, adtte: pd.DataFrame) -> np.ndarray:
    """The day of death (``os_days`` where ``os_event`` is 1; float) of each patient of :func:`patient_codes`, in its
    order; NaN where the patient is alive, censored or not in ``adtte`` (never "after death"). Shared by a report's
    fit units (the 18 mixed-model units each looked up the same deaths among 100,000 study_ids: a third of their
    analysis rows' time; issue 17, report CPU): read-only."""
    _, patients = patient_codes(pain)
    died = adtte[adtte["os_event"] == 1]
    death_day = np.full(len(patients), np.nan)
    known = pd.Index(patients).get_indexer(died["study_id"].astype(str).to_numpy())
    death_day[known[known >= 0]] = died["os_days"].astype(float).to_numpy()[known >= 0]
    return death_day


def _visit_codes(visits: pd.Series, text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One integer code per row and the visit name of each code; a missing visit gets a code of its own whose name
    is None (so it is no visit of the schedule). A categorical column is coded by its categories (no text hashed)."""
    if isinstance(visits.dtype, pd.CategoricalDtype):
        codes = visits.cat.codes.to_numpy().astype(np.intp)
        names = np.asarray(visits.cat.categories, dtype=object)
    else:
        codes, names = pd.factorize(text)
        names = np.asarray(names, dtype=object)
    return np.where(codes < 0, len(names), codes), np.append(names, np.array([None], dtype=object))


def mixed_model_frame(
    pain: pd.DataFrame,
    endpoint: str,
    *,
    visits: Sequence[str] = FOLLOW_UP_CODES,
    adtte: pd.DataFrame | None = None,
    strata: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, int]:
    """The analysis rows of ``endpoint`` and the number of records excluded as dated after death.

    ``pain``: the long pain frame (one row per patient × visit: study_id, visit, the endpoint column,
    stratum columns; analytics/derive.py). ``adtte`` (optional): study_id, os_days, os_event. Returns
    one row per patient × follow-up visit with a value and a baseline value: study_id, visit, the
    endpoint, ``baseline``, ``value``, ``change`` (value − baseline, the endpoint's units) and the other
    columns of ``pain`` — only those named in ``strata`` when given (the report's stratum columns: the
    rows are selected on arrays and copied once, issue 17 worker memory).
    """
    require_columns(pain, ("study_id", "visit", endpoint), name="pain")
    visit = as_text(pain["visit"]).to_numpy()
    # Patients and visits as integer codes: the per-row lookups below index arrays instead of hashing text
    # (issue 17: the report calls this once per endpoint × stratification variable).
    patient, patients = patient_codes(pain)
    visit_code, visit_names = _visit_codes(pain["visit"], visit)
    present = pain[endpoint].notna().to_numpy()
    value = pain[endpoint].to_numpy(dtype=float, na_value=np.nan)
    first = np.flatnonzero((visit_names == BASELINE)[visit_code] & present)
    _, earliest = np.unique(patient[first], return_index=True)  # a patient's first baseline record
    baseline = np.full(len(patients), np.nan)
    baseline[patient[first[earliest]]] = value[first[earliest]]
    index = np.flatnonzero(np.isin(visit_names, list(visits))[visit_code] & present)
    base = baseline[patient[index]]
    index, base = index[~np.isnan(base)], base[~np.isnan(base)]
    after_death = 0
    if adtte is not None and len(index):
        death_day = death_days(pain, adtte)
        target_day = np.array([float(VISITS_BY_CODE[v].target_day) if v in VISITS_BY_CODE else np.nan for v in visit_names])
        late = target_day[visit_code[index]] > death_day[patient[index]]
        after_death = int(late.sum())
        index, base = index[~late], base[~late]
    carried = [c for c in pain.columns if c not in ("study_id", "visit") and (strata is None or c == endpoint or c in strata)]
    rows = pd.DataFrame(
        {
            "study_id": patients[patient[index]],
            "visit": visit[index],
            **{c: pain[c].array.take(index) for c in carried},
            "baseline": base,
            "value": value[index],
        },
        copy=False,  # every column is a new array already: no consolidated second copy (issue 17, worker memory)
    )
    rows["change"] = rows["value"] - rows["baseline"]
    return rows, after_death
