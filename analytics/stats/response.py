"""Pain response (International Consensus on Palliative Radiotherapy Endpoints,
Chow et al., IJROBP 2012;82:1730; docs/domain.md §4).

Each follow-up visit is compared with baseline on worst pain (P, 0–10) and
oral morphine equivalent dose (OMED, MME/day). ΔP = P − P₀, B = baseline
OMED, O = follow-up OMED. The registry conventions that the consensus leaves
open are the module constants and the ``_analgesic_*``/``_omed_*`` helpers
below — the one place to change them deliberately.

Exact boundaries: OMED is compared in integer hundredths of MME/day, the
precision it is derived and stored with (``MedicationUse.mme_per_day``, two
decimals; per-visit sums are taken in hundredths too, analytics/derive.py),
and the percentage thresholds are rational: O ≤ 0.75·B is 4·O ≤ 3·B and
O ≥ 1.25·B is 4·O ≥ 5·B. So codeine 16 mg × 4/day (9.60 MME) → × 3/day
(7.20 MME) is exactly a 25% reduction, although 0.75 × 9.6 = 7.199999999999999
in binary floating point. Worst pain is an integer 0–10 and compared as one.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from fractions import Fraction

import numpy as np
import pandas as pd

from trials.domain.schedule import VISIT_CODES

from .results import PainResponseRates, ratio
from .shared import shared
from .strata import STRATA_VARIABLES, has_duplicate_rows, iter_patient_strata, require_columns, restrict

CR, PR, PD = "CR", "PR", "PD"
INDETERMINATE, NOT_EVALUABLE = "indeterminate", "not_evaluable"
CATEGORIES: tuple[str, ...] = (CR, PR, PD, INDETERMINATE, NOT_EVALUABLE)
RESPONDERS = frozenset({CR, PR})

# docs/domain.md §4 and its registry conventions.
PAIN_CHANGE_POINTS = 2  # ΔP ≤ −2 (PR), ΔP ≥ 2 (PD)
REDUCTION_FACTOR = Fraction(3, 4)  # analgesic reduction ≥ 25%: B > 0 and O ≤ 0.75·B
INCREASE_FACTOR = Fraction(5, 4)  # OMED increase ≥ 25%: O ≥ 1.25·B (B > 0); O > 0 (B = 0)
OMED_SCALE = 100  # OMED is compared in integer hundredths of MME/day (its stored precision)
STABLE_OR_ONE_POINT = (0, 1)  # "pain stable or 1 point above baseline": ΔP ∈ {0, 1}
MAX_PAIN = 10

ADRESP_COLUMNS = ("study_id", "visit", "worst_pain_baseline", "worst_pain", "omed_baseline", "omed")


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _validate(p0: float, p: float, b: float, o: float) -> None:
    for name, pain in (("worst_pain_baseline", p0), ("worst_pain", p)):
        if not 0 <= pain <= MAX_PAIN:
            raise ValueError(f"{name} must be within 0–{MAX_PAIN}, got {pain}")
    for name, dose in (("omed_baseline", b), ("omed", o)):
        if dose < 0:
            raise ValueError(f"{name} must be ≥ 0, got {dose}")


def omed_hundredths(values) -> np.ndarray:
    """OMED (MME/day, float or Decimal, array-like) as exact integer hundredths (int64).

    Values carry two decimals (module doc); the float nearest to one is within 1e-12 of the
    integer, so rounding recovers it exactly."""
    return np.rint(np.asarray(values, dtype=float) * OMED_SCALE).astype(np.int64)


def _at_most(o, factor: Fraction, b):
    """o ≤ factor·b in integers: o·den ≤ num·b."""
    return o * factor.denominator <= b * factor.numerator


def _at_least(o, factor: Fraction, b):
    return o * factor.denominator >= b * factor.numerator


def _analgesic_increase(b, o):
    """Registry convention: any increase, O > B (0 → positive included). b, o: integer hundredths."""
    return o > b


def _analgesic_reduction_25(b, o):
    """Registry convention: B > 0 and O ≤ 0.75·B (exact: 4·O ≤ 3·B)."""
    return (b > 0) & _at_most(o, REDUCTION_FACTOR, b)


def _omed_increase_25(b, o):
    """Registry convention: O ≥ 1.25·B when B > 0 (exact: 4·O ≥ 5·B); O > 0 when B = 0."""
    return np.where(b > 0, _at_least(o, INCREASE_FACTOR, b), o > 0)


def _pain_stable_or_one_point(dp):
    """Registry convention: ΔP ∈ {0, 1}."""
    return np.isin(dp, STABLE_OR_ONE_POINT)


def _conditions(p0, p, b, o) -> list:
    """Boolean conditions for CR, PR, PD in rule order (docs/domain.md §4).

    ``b``/``o`` are OMED in MME/day; they are compared as exact integer hundredths."""
    b, o = omed_hundredths(b), omed_hundredths(o)
    dp = p - p0
    increase = _analgesic_increase(b, o)
    reduction = _analgesic_reduction_25(b, o)
    omed_up = _omed_increase_25(b, o)
    stable_omed = ~reduction & ~omed_up
    complete = (p == 0) & ~increase
    partial = ((dp <= -PAIN_CHANGE_POINTS) & ~increase) | (reduction & (dp <= 0))
    # A rise of both pain (ΔP ≥ 2) and OMED (≥ 25%) is also PD (convention).
    progression = ((dp >= PAIN_CHANGE_POINTS) & (stable_omed | omed_up)) | (omed_up & _pain_stable_or_one_point(dp))
    return [complete, partial, progression]


def pain_response_classify(
    worst_pain_baseline: float | None,
    worst_pain: float | None,
    omed_baseline: float | None,
    omed: float | None,
) -> str:
    """Classify one follow-up visit as CR, PR, PD, indeterminate or not_evaluable.

    docs/domain.md §4: CR = P 0 without analgesic increase; PR = ΔP ≤ −2 without
    analgesic increase, or analgesic reduction ≥ 25% with ΔP ≤ 0; PD = ΔP ≥ 2
    with stable OMED (or with OMED up ≥ 25%), or OMED up ≥ 25% with ΔP ∈ {0, 1};
    rules applied in that order, anything else indeterminate. Any missing
    value (P, O, or a baseline) → not_evaluable. Out-of-range values raise
    ValueError.
    """
    values = (worst_pain_baseline, worst_pain, omed_baseline, omed)
    if any(_is_missing(v) for v in values):
        return NOT_EVALUABLE
    p0, p, b, o = (float(v) for v in values if v is not None)
    _validate(p0, p, b, o)
    arrays = (np.array([p0]), np.array([p]), np.array([b]), np.array([o]))
    for label, condition in zip((CR, PR, PD), _conditions(*arrays), strict=True):
        if bool(condition[0]):
            return label
    return INDETERMINATE


def pain_response_classify_frame(adresp: pd.DataFrame, rows: np.ndarray | None = None) -> pd.Series:
    """Vectorised :func:`pain_response_classify` over an adresp frame (same index), or over the rows at positions
    ``rows`` only (the result has their index; only those rows' values are copied: issue 17, worker memory)."""
    require_columns(adresp, ADRESP_COLUMNS[2:], name="adresp")
    cols = []
    for column in ADRESP_COLUMNS[2:]:  # one float64 copy of each column (of the rows asked for)
        values = pd.to_numeric(adresp[column], errors="raise").to_numpy(dtype=float, na_value=np.nan)
        cols.append(values.copy() if rows is None else values[rows])
    missing = np.isnan(cols[0])
    for c in cols[1:]:
        missing |= np.isnan(c)
    for c in cols:  # the copies are this function's own: missing values set to 0 in place
        c[missing] = 0.0
    p0, p, b, o = cols
    if np.any((p0 < 0) | (p0 > MAX_PAIN) | (p < 0) | (p > MAX_PAIN)):
        raise ValueError(f"worst pain must be within 0–{MAX_PAIN}")
    if np.any((b < 0) | (o < 0)):
        raise ValueError("OMED must be ≥ 0")
    # codes into CATEGORIES, then its str objects: one per category, not a new string per row (issue 17 memory)
    codes = np.select(_conditions(p0, p, b, o), [0, 1, 2], default=CATEGORIES.index(INDETERMINATE))
    codes = np.where(missing, CATEGORIES.index(NOT_EVALUABLE), codes)
    index = adresp.index if rows is None else adresp.index[rows]
    return pd.Series(np.array(CATEGORIES, dtype=object)[codes], index=index, name="response", dtype=object)


def response_column(adresp: pd.DataFrame, rows: np.ndarray | None = None) -> pd.Series:
    """The ``response`` column of :func:`with_response` (no copy of the frame), or of the rows at positions
    ``rows`` only (with their index)."""
    computed = pain_response_classify_frame(adresp, rows)
    if "response" in adresp:
        recorded = adresp["response"] if rows is None else adresp["response"].take(rows)
        response = recorded.astype(object).where(recorded.notna(), computed)
    else:
        response = computed
    unknown = set(response) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"unknown response categories: {sorted(map(str, unknown))}")
    return response.rename("response")


def with_response(adresp: pd.DataFrame) -> pd.DataFrame:
    """Copy of adresp whose ``response`` is filled by the classifier where missing.

    A recorded (non-missing) response is kept as given.
    """
    frame = adresp.copy()
    frame["response"] = response_column(adresp)
    return frame


@shared
def follow_up_responses(adresp: pd.DataFrame) -> pd.DataFrame:
    """study_id, visit and response (:func:`with_response`) of ``adresp``'s follow-up rows (baseline left out), in
    adresp's row order and index; shared by a report's fit units (analytics.stats.shared): the caller must not
    modify it. Only these three columns are kept — they are all its users read, and the memo holds the frame
    for the whole compute stage (issue 17, worker memory: 25 → 7 MB at 100,000 patients)."""
    rows = np.flatnonzero((adresp["visit"] != VISIT_CODES[0]).to_numpy())
    response = response_column(adresp, rows)  # classified on those rows' values only: no copy of the frame
    return pd.DataFrame(
        {"study_id": adresp["study_id"].take(rows), "visit": adresp["visit"].take(rows), "response": response}, copy=False
    )


def _visit_order(visits: Collection[str]) -> list[str]:
    """Schedule order (docs/domain.md §2), unknown codes last, baseline excluded."""
    known = [v for v in VISIT_CODES[1:] if v in visits]
    return known + sorted(set(visits) - set(VISIT_CODES))


def _rates_at_visit(stratum: str, visit: str, rows: pd.DataFrame, itt: set[str] | None) -> PainResponseRates:
    counts = {c: int((rows["response"] == c).sum()) for c in CATEGORIES}
    responder_ids = set(rows.loc[rows["response"].isin(RESPONDERS), "study_id"])
    evaluable = len(rows) - counts[NOT_EVALUABLE]
    itt_responders = len(responder_ids & itt) if itt is not None else None
    return PainResponseRates(
        stratum=stratum,
        visit=visit,
        counts=counts,
        n_records=len(rows),
        evaluable=evaluable,
        responders=len(responder_ids),
        evaluable_rate=ratio(len(responder_ids), evaluable),
        itt_denominator=len(itt) if itt is not None else None,
        itt_responders=itt_responders,
        itt_rate=ratio(itt_responders, len(itt)) if itt is not None and itt_responders is not None else None,
        responders_outside_itt=len(responder_ids - itt) if itt is not None else 0,
    )


def pain_response_rates(
    adresp: pd.DataFrame,
    *,
    itt_population: Mapping[str, Collection[str]],
    patients: pd.DataFrame | None = None,
    strata_variables: Sequence[str] = STRATA_VARIABLES,
) -> tuple[PainResponseRates, ...]:
    """Response counts and rates per stratum × follow-up visit (docs/domain.md §4).

    ``evaluable_rate`` = (CR + PR) / (CR + PR + PD + indeterminate).
    ``itt_rate`` = (CR + PR) / |ITT|, where ``itt_population[visit]`` is the set
    of study_ids alive and on study at the visit's target day; patients in it
    without an evaluable record count as non-responders. A responder outside
    the ITT set (a data inconsistency) is excluded from the ITT numerator and
    counted in ``responders_outside_itt`` so it is visible, never silently
    inflating the rate. A visit absent from ``itt_population`` has ITT fields
    None. Strata come from ``patients`` (study_id + stratum columns); without
    it only the whole cohort ("all") is reported.
    """
    require_columns(adresp, ADRESP_COLUMNS, name="adresp")
    if has_duplicate_rows(adresp, ("study_id", "visit")):
        raise ValueError("adresp has more than one row per study_id × visit")
    frame = follow_up_responses(adresp)
    visits = _visit_order(set(frame["visit"]) | set(itt_population))
    results = []
    for stratum, members in iter_patient_strata(patients, strata_variables):
        sub = restrict(frame, members)
        for visit in visits:
            itt = itt_population.get(visit)
            itt_set = None if itt is None else set(itt) if members is None else set(itt) & members
            results.append(_rates_at_visit(stratum, visit, sub[sub["visit"] == visit], itt_set))
    return tuple(results)
