"""Per-visit descriptive statistics of pain (BPI, docs/domain.md §3) and opioid use
(OMED, docs/domain.md §5).

Conventions (docs/analytics-methods.md):
- SD with ddof = 1; 95% CI of a mean from the t distribution with n − 1 df
  (none when n < 2).
- Quartiles by numpy's default "linear" method (R's ``quantile`` type 7).
- Change from baseline is paired: visit − baseline over patients with both
  values, so a negative change in pain is an improvement.
- "≥ 2-point improvement" in worst pain: change ≤ −2, the partial-response
  threshold of docs/domain.md §4, among paired patients.
- Opioid-free: OMED == 0 among non-missing values ("no opioids" is an explicit
  0, distinct from missing; docs/domain.md §5).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd
from scipy import stats

from trials.domain.schedule import VISIT_CODES

from .response import PAIN_CHANGE_POINTS
from .results import ChangeFromBaseline, OmedVisitSummary, PainVisitSummary, Proportion, optional_float
from .strata import STRATA_VARIABLES, has_duplicate_rows, iter_strata, require_columns

BASELINE = VISIT_CODES[0]
PAIN_VARIABLES: tuple[str, ...] = ("worst", "average", "interference")
PRIMARY_PAIN_VARIABLE = "worst"  # docs/domain.md §3
CONFIDENCE = 0.95
QUANTILE_METHOD: Final = "linear"  # numpy default = R type 7


def _clean(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="raise").astype(float).dropna().to_numpy()


def mean_ci(values: np.ndarray) -> tuple[float | None, float | None]:
    """Two-sided 95% t-interval of the mean (None when n < 2)."""
    n = len(values)
    if n < 2:
        return None, None
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * values.std(ddof=1) / np.sqrt(n)
    centre = float(values.mean())
    return centre - float(half), centre + float(half)


def _location(values: np.ndarray) -> dict[str, float | None]:
    if len(values) == 0:
        return {"mean": None, "sd": None, "median": None, "q1": None, "q3": None}
    q1, median, q3 = np.percentile(values, [25, 50, 75], method=QUANTILE_METHOD)
    sd = float(values.std(ddof=1)) if len(values) > 1 else None
    return {"mean": float(values.mean()), "sd": sd, "median": float(median), "q1": float(q1), "q3": float(q3)}


def _visit_order(visits: set[str]) -> list[str]:
    return [v for v in VISIT_CODES if v in visits] + sorted(visits - set(VISIT_CODES))


def _paired(later: pd.DataFrame, baseline: pd.DataFrame | None, variable: str, position: np.ndarray | None = None) -> np.ndarray:
    """visit − baseline of ``variable`` for the ``later`` rows whose patient has a baseline row, in
    ``later``'s row order (as an inner merge on study_id would give), missing differences dropped.
    ``position``: each later row's baseline row (−1: none), when already known."""
    if baseline is None or later.empty or baseline.empty:
        return np.empty(0)
    if position is None:
        position = pd.Index(baseline["study_id"]).get_indexer(later["study_id"])  # one baseline row per patient
    matched = position >= 0
    later_values = pd.to_numeric(later[variable]).to_numpy(dtype=float)[matched]
    base_values = pd.to_numeric(baseline[variable]).to_numpy(dtype=float)[position[matched]]
    diff = later_values - base_values
    return diff[~np.isnan(diff)]


class _RowsByVisit(dict):
    """visit → the frame's rows at that visit (in the frame's row order), split once; remembers each
    visit's baseline-row positions so they are looked up once for every variable."""

    def baseline_positions(self, visit: str) -> np.ndarray | None:
        cache = self.__dict__.setdefault("_positions", {})
        if visit not in cache:
            baseline, later = self.get(BASELINE), self.get(visit)
            cache[visit] = (
                None if baseline is None or later is None else pd.Index(baseline["study_id"]).get_indexer(later["study_id"])
            )
        return cache[visit]


def _rows_by_visit(frame: pd.DataFrame) -> _RowsByVisit:
    return _RowsByVisit((str(visit), rows) for visit, rows in frame.groupby("visit", observed=True, sort=False))


def paired_differences(frame: pd.DataFrame, variable: str, visit: str) -> np.ndarray:
    """visit − baseline of ``variable`` for patients with both values."""
    by_visit = _rows_by_visit(frame)
    return _paired(by_visit.get(visit, frame.iloc[:0]), by_visit.get(BASELINE), variable)


def change_from_baseline(differences: np.ndarray) -> ChangeFromBaseline:
    """Mean (t 95% CI) and median of paired differences."""
    low, high = mean_ci(differences)
    has = len(differences) > 0
    return ChangeFromBaseline(
        n_paired=len(differences),
        mean=float(differences.mean()) if has else None,
        ci_low=low,
        ci_high=high,
        median=float(np.median(differences)) if has else None,
    )


def _proportion(hits: int, denominator: int) -> Proportion:
    return Proportion(n=hits, denominator=denominator, proportion=hits / denominator if denominator else None)


def pain_visit_summary(frame: pd.DataFrame, variable: str, visit: str, stratum: str = "all") -> PainVisitSummary:
    """Descriptive statistics of one pain variable at one visit."""
    return _pain_summary(_rows_by_visit(frame), variable, visit, stratum)


def _pain_summary(by_visit: _RowsByVisit, variable: str, visit: str, stratum: str) -> PainVisitSummary:
    at_visit = by_visit.get(visit)
    values = _clean(at_visit[variable]) if at_visit is not None else np.empty(0)
    low, high = mean_ci(values)
    change = improved = None
    if visit != BASELINE:
        diffs = (
            np.empty(0)
            if at_visit is None
            else _paired(at_visit, by_visit.get(BASELINE), variable, by_visit.baseline_positions(visit))
        )
        change = change_from_baseline(diffs)
        if variable == PRIMARY_PAIN_VARIABLE:
            improved = _proportion(int((diffs <= -PAIN_CHANGE_POINTS).sum()), len(diffs))
    return PainVisitSummary(
        stratum=stratum,
        variable=variable,
        visit=visit,
        n=len(values),
        **_location(values),
        ci_low=optional_float(low),
        ci_high=optional_float(high),
        change=change,
        improved_2_points=improved,
    )


def _check_pain(pain: pd.DataFrame, variables: Sequence[str]) -> None:
    require_columns(pain, ["study_id", "visit", *variables], name="pain")
    if has_duplicate_rows(pain, ("study_id", "visit")):
        raise ValueError("pain has more than one row per study_id × visit")


def pain_visit_summaries(
    pain: pd.DataFrame,
    *,
    variables: Sequence[str] = PAIN_VARIABLES,
    strata_variables: Sequence[str] = STRATA_VARIABLES,
) -> tuple[PainVisitSummary, ...]:
    """Summaries per stratum × variable × visit (schedule order, docs/domain.md §2)."""
    _check_pain(pain, variables)
    visits = _visit_order(set(pain["visit"]))
    return tuple(
        _pain_summary(by_visit, variable, visit, stratum)
        for stratum, by_visit in _strata_by_visit(pain, strata_variables)
        for variable in variables
        for visit in visits
    )


def _strata_by_visit(frame: pd.DataFrame, strata_variables: Sequence[str]):
    """``(stratum, rows per visit)`` for every stratum, each stratum's frame split by visit once."""
    for stratum, sub in iter_strata(frame, strata_variables):
        yield stratum, _rows_by_visit(sub)


def omed_visit_summary(frame: pd.DataFrame, visit: str, stratum: str = "all") -> OmedVisitSummary:
    """OMED at one visit: n, median, IQR, mean, opioid-free share, paired change."""
    return _omed_summary(_rows_by_visit(frame), visit, stratum)


def _omed_summary(by_visit: _RowsByVisit, visit: str, stratum: str) -> OmedVisitSummary:
    at_visit = by_visit.get(visit)
    values = _clean(at_visit["omed"]) if at_visit is not None else np.empty(0)
    location = _location(values)
    change = None
    if visit != BASELINE:
        diffs = (
            np.empty(0)
            if at_visit is None
            else _paired(at_visit, by_visit.get(BASELINE), "omed", by_visit.baseline_positions(visit))
        )
        change = change_from_baseline(diffs)
    return OmedVisitSummary(
        stratum=stratum,
        visit=visit,
        n=len(values),
        median=location["median"],
        q1=location["q1"],
        q3=location["q3"],
        mean=location["mean"],
        opioid_free=_proportion(int((values == 0).sum()), len(values)),
        change=change,
    )


def omed_visit_summaries(
    pain: pd.DataFrame, *, strata_variables: Sequence[str] = STRATA_VARIABLES
) -> tuple[OmedVisitSummary, ...]:
    """OMED summaries per stratum × visit."""
    _check_pain(pain, ["omed"])
    visits = _visit_order(set(pain["visit"]))
    return tuple(
        _omed_summary(by_visit, visit, stratum)
        for stratum, by_visit in _strata_by_visit(pain, strata_variables)
        for visit in visits
    )
