"""Typed, frozen results of the outcome statistics.

Every result is a frozen dataclass whose ``to_dict()`` returns plain,
JSON-serialisable Python types: numpy scalars become ``int``/``float``,
NaN and infinities become ``None``, tuples become lists, nested results
become dicts. Keys are the dataclass field names, in declaration order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

import numpy as np
import pandas as pd


def plain(value: Any) -> Any:
    """Convert ``value`` to JSON-serialisable Python (NaN/±inf/pd.NA → None).

    Dispatches on the exact type first (a report's result holds ~400,000 values: issue 17, compute CPU), then
    falls back to the general rules below for subclasses and numpy scalars; both give the same values."""
    convert = _EXACT.get(type(value))
    if convert is not None:
        return convert(value)
    return _plain_general(value)


def _plain_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _plain_dict(value: dict) -> dict[str, Any]:
    return {str(k): plain(v) for k, v in value.items()}


def _plain_sequence(value: list | tuple) -> list[Any]:
    return [plain(v) for v in value]


def _identity(value: Any) -> Any:
    return value


_EXACT: dict[type, Any] = {
    type(None): _identity,
    str: _identity,
    bool: _identity,
    int: _identity,
    float: _plain_float,
    dict: _plain_dict,
    list: _plain_sequence,
    tuple: _plain_sequence,
}


def _dataclass_converter(cls: type):
    """A converter for instances of the dataclass ``cls`` (registered in ``_EXACT`` on first use)."""
    names = tuple(f.name for f in fields(cls))

    def convert(value: Any) -> dict[str, Any]:
        return {name: plain(getattr(value, name)) for name in names}

    return convert


def _plain_general(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if is_dataclass(value) and not isinstance(value, type):
        convert = _EXACT[type(value)] = _dataclass_converter(type(value))
        return convert(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def optional_float(value: Any) -> float | None:
    """``float(value)``, or None for None/NaN/±inf."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def ratio(numerator: int, denominator: int) -> float | None:
    """numerator / denominator, or None when the denominator is 0."""
    return numerator / denominator if denominator else None


class Result:
    """Mixin giving every result dataclass its ``to_dict()``."""

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


# --- survival curves (KM, 1 − KM, Aalen–Johansen) -------------------------


@dataclass(frozen=True)
class CurvePoint(Result):
    """One step of a curve: value from ``day`` until the next point."""

    day: float
    estimate: float | None  # None past the end of follow-up
    ci_low: float | None
    ci_high: float | None
    at_risk: int


@dataclass(frozen=True)
class SurvivalCurve(Result):
    """A Kaplan–Meier, 1 − Kaplan–Meier or Aalen–Johansen curve.

    ``points`` has one entry per event time (for Aalen–Johansen: per time
    with an event of the cause of interest, where the curve jumps);
    ``landmarks`` holds the step-function value at fixed days (None beyond
    the largest follow-up time).
    """

    stratum: str
    endpoint: str
    method: str
    label: str
    variance: str
    confidence_interval: str
    n: int
    events: int
    competing_events: int
    points: tuple[CurvePoint, ...]
    landmarks: tuple[CurvePoint, ...]
    skipped_reason: str | None = None


# --- log-rank ---------------------------------------------------------------


@dataclass(frozen=True)
class LogRankGroup(Result):
    group: str
    n: int
    observed: float
    expected: float


@dataclass(frozen=True)
class LogRankResult(Result):
    """``survdiff`` (rho = 0) comparison of the levels of ``variable``."""

    endpoint: str
    variable: str
    groups: tuple[LogRankGroup, ...]
    chisq: float | None
    df: int
    p_value: float | None
    skipped_reason: str | None = None


@dataclass(frozen=True)
class GrayGroup(Result):
    group: str
    n: int
    events: int
    competing_events: int


@dataclass(frozen=True)
class GrayTestResult(Result):
    """Gray's K-sample test of cumulative incidence (``cmprsk::cuminc`` ``$Tests``)."""

    endpoint: str
    variable: str
    test: str
    groups: tuple[GrayGroup, ...]
    statistic: float | None
    df: int
    p_value: float | None
    skipped_reason: str | None = None


# --- Cox ----------------------------------------------------------------------


@dataclass(frozen=True)
class StatFlag(Result):
    """A reason to distrust (or not show) a number, in words a clinician reads.

    ``code`` is one of "aliased", "separation", "few_events_per_parameter",
    "non_convergence"; ``term`` names the row it belongs to ("" = the model).
    """

    code: str
    message: str
    term: str = ""


@dataclass(frozen=True)
class CoxTerm(Result):
    """One hazard ratio; ``estimable`` False (aliased or separated) means the
    numbers, if any, must not be read as estimates — ``flags`` says why."""

    term: str
    variable: str
    level: str
    reference: str
    hr: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    estimable: bool = True
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class DroppedCovariate(Result):
    variable: str
    reason: str


@dataclass(frozen=True)
class CoxResult(Result):
    endpoint: str
    n: int
    events: int
    terms: tuple[CoxTerm, ...]
    dropped: tuple[DroppedCovariate, ...]
    ties: str
    reference_rule: str
    events_per_parameter: float | None
    warnings: tuple[str, ...]
    skipped_reason: str | None = None
    flags: tuple[StatFlag, ...] = ()


# --- pain response ------------------------------------------------------------


@dataclass(frozen=True)
class PainResponseRates(Result):
    """Response counts and rates at one visit in one stratum (docs/domain.md §4)."""

    stratum: str
    visit: str
    counts: dict[str, int]
    n_records: int
    evaluable: int
    responders: int
    evaluable_rate: float | None
    itt_denominator: int | None
    itt_responders: int | None
    itt_rate: float | None
    responders_outside_itt: int


# --- descriptive ----------------------------------------------------------------


@dataclass(frozen=True)
class ChangeFromBaseline(Result):
    """Paired change (visit − baseline) among patients with both values."""

    n_paired: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    median: float | None


@dataclass(frozen=True)
class Proportion(Result):
    n: int
    denominator: int
    proportion: float | None


@dataclass(frozen=True)
class PainVisitSummary(Result):
    stratum: str
    variable: str
    visit: str
    n: int
    mean: float | None
    sd: float | None
    median: float | None
    q1: float | None
    q3: float | None
    ci_low: float | None
    ci_high: float | None
    change: ChangeFromBaseline | None
    improved_2_points: Proportion | None


@dataclass(frozen=True)
class OmedVisitSummary(Result):
    stratum: str
    visit: str
    n: int
    median: float | None
    q1: float | None
    q3: float | None
    mean: float | None
    opioid_free: Proportion
    change: ChangeFromBaseline | None


# --- complications ------------------------------------------------------------


@dataclass(frozen=True)
class ComplicationCount(Result):
    """Patients with ≥ 1 event (and their rate, with its exact Clopper–Pearson 95% CI) and event
    count in a category. The CI is None when the stratum has no patients."""

    dimension: str
    category: str
    patients: int
    patient_rate: float | None
    events: int
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class SeriousAdverseEvent(Result):
    """One serious adverse event, without free text or dates: days from day 0 only."""

    study_id: str
    onset_day: int | None
    sir_grade: str
    ctcae_grade: int | None
    relatedness: str
    resolution_day: int | None


@dataclass(frozen=True)
class ComplicationSummary(Result):
    stratum: str
    n_patients: int
    n_events: int
    events_outside_denominator: int
    counts: tuple[ComplicationCount, ...]
    ci_method: str = ""
    serious_events: tuple[SeriousAdverseEvent, ...] = ()
