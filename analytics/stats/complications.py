"""Complication (adverse event) counts and rates (docs/domain.md §7).

Per category: the number of patients with ≥ 1 event, that number over the
patients in the stratum (the per-patient rate), and the number of events.
Denominators come from the ``patients`` frame, so patients without any
adverse event count. Categories:
- SIR classification (Khalilzadeh et al., JVIR 2017;28:1432);
- CTCAE v5.0 grade 1–5 and grade ≥ 3 (severe or worse);
- relatedness; serious (yes).
Events whose study_id is not in ``patients`` are excluded from every count
and reported as ``events_outside_denominator``.

Each per-patient rate carries its exact (Clopper–Pearson, 1934) two-sided
95% CI: ``scipy.stats.binomtest(k, n).proportion_ci(method="exact")``, the
interval of R's ``binom.test``; None when the stratum has no patients. Serious
events (``serious`` yes) are listed per stratum — study ID, onset and
resolution as days from day 0, SIR grade, CTCAE grade and relatedness — never
the free-text term or a calendar date (docs/domain.md §10).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
from scipy import stats

from .results import ComplicationCount, ComplicationSummary, SeriousAdverseEvent, ratio
from .strata import STRATA_VARIABLES, iter_patient_strata, require_columns

SIR_GRADES = ("mild", "moderate", "severe", "life_threatening", "death")
CTCAE_GRADES = (1, 2, 3, 4, 5)
CTCAE_SEVERE_MIN = 3  # CTCAE v5.0: 3 = severe or medically significant
RELATEDNESS = ("procedure", "cement_implant", "radiation", "disease_progression", "unrelated")
AES_COLUMNS = ("study_id", "sir_grade", "ctcae_grade", "relatedness", "serious")
CI_METHOD = "Clopper–Pearson exact 95% CI (as R binom.test)"
CONFIDENCE = 0.95


def clopper_pearson(k: int, n: int) -> tuple[float | None, float | None]:
    """Exact two-sided 95% CI of k/n (None, None when n = 0)."""
    if n <= 0:
        return None, None
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=CONFIDENCE, method="exact")
    return float(ci.low), float(ci.high)


def _is_serious(values: pd.Series) -> pd.Series:
    return values.map(lambda v: v is True or v == 1 or str(v).lower() in {"true", "yes"}).astype(bool)


def _day(value) -> int | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA else int(value)


def serious_events(events: pd.DataFrame) -> tuple[SeriousAdverseEvent, ...]:
    """The serious events of ``events``, ordered by study ID and onset day."""
    if "serious" not in events.columns or events.empty:
        return ()
    rows = events[_is_serious(events["serious"])]
    listed = [
        SeriousAdverseEvent(
            study_id=str(r["study_id"]),
            onset_day=_day(r.get("onset_day")),
            sir_grade=str(r["sir_grade"]),
            ctcae_grade=_day(pd.to_numeric(r["ctcae_grade"], errors="coerce")),
            relatedness=str(r["relatedness"]),
            resolution_day=_day(r.get("resolution_day")),
        )
        for _, r in rows.iterrows()
    ]
    return tuple(sorted(listed, key=lambda e: (e.study_id, -1 if e.onset_day is None else e.onset_day)))


def _count(dimension: str, category: str, events: pd.DataFrame, n_patients: int) -> ComplicationCount:
    patients = events["study_id"].nunique()
    low, high = clopper_pearson(patients, n_patients)
    return ComplicationCount(
        dimension=dimension,
        category=category,
        patients=patients,
        patient_rate=ratio(patients, n_patients),
        events=len(events),
        ci_low=low,
        ci_high=high,
    )


def _categories(aes: pd.DataFrame) -> list[tuple[str, str, pd.Series]]:
    """(dimension, category, row mask) for every reported category."""
    grade = pd.to_numeric(aes["ctcae_grade"], errors="coerce")
    serious = _is_serious(aes["serious"])
    masks = [("any", "any", pd.Series(True, index=aes.index))]
    masks += [("sir_grade", g, aes["sir_grade"] == g) for g in SIR_GRADES]
    masks += [("ctcae_grade", str(g), grade == g) for g in CTCAE_GRADES]
    masks.append(("ctcae_grade", f">={CTCAE_SEVERE_MIN}", grade >= CTCAE_SEVERE_MIN))
    masks += [("relatedness", r, aes["relatedness"] == r) for r in RELATEDNESS]
    masks.append(("serious", "yes", serious.astype(bool)))
    return masks


def complication_summary(
    aes: pd.DataFrame,
    patient_ids: set[str],
    stratum: str = "all",
    *,
    events_outside_denominator: int = 0,
) -> ComplicationSummary:
    """Counts over the events of ``patient_ids`` (the denominator)."""
    inside = aes[aes["study_id"].isin(patient_ids)]
    counts = tuple(
        _count(dimension, category, inside[mask], len(patient_ids)) for dimension, category, mask in _categories(inside)
    )
    return ComplicationSummary(
        stratum=stratum,
        n_patients=len(patient_ids),
        n_events=len(inside),
        events_outside_denominator=events_outside_denominator,
        counts=counts,
        ci_method=CI_METHOD,
        serious_events=serious_events(inside),
    )


def complication_summaries(
    aes: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    strata_variables: Sequence[str] = STRATA_VARIABLES,
) -> tuple[ComplicationSummary, ...]:
    """:func:`complication_summary` for "all" and each stratum of ``patients``.

    Stratum membership is taken from ``patients`` (not from the event rows);
    ``events_outside_denominator`` counts events of study_ids absent from
    ``patients`` (the same number in every stratum).
    """
    require_columns(aes, AES_COLUMNS, name="aes")
    require_columns(patients, ["study_id"], name="patients")
    cohort = set(patients["study_id"])
    outside = int((~aes["study_id"].isin(cohort)).sum())
    return tuple(
        complication_summary(aes, members, stratum, events_outside_denominator=outside)
        for stratum, members in iter_patient_strata(patients, strata_variables)
        if members is not None
    )
