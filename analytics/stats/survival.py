"""Kaplan–Meier estimation (Kaplan & Meier, JASA 1958;53:457; docs/domain.md §6).

Matches R ``survival::survfit`` defaults: Greenwood variance and
``conf.type = "log"``, i.e. S·exp(±z·se) with se² = Σ d/(n(n − d)),
z = Φ⁻¹(0.975), the upper limit capped at 1; no interval once S = 0.

Two uses:
- overall survival (``os_days``/``os_event``);
- the SRE "1 − KM" curve with deaths censored. docs/domain.md §6: it
  overestimates the cumulative incidence of SRE when deaths compete, and is
  reported only alongside — and labelled against — the Aalen–Johansen
  estimate (``competing_risks.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .results import CurvePoint, SurvivalCurve, optional_float
from .risk_sets import (
    LANDMARK_DAYS,
    SRE,
    cause_specific,
    clean_time_status,
    endpoint_time_status,
    risk_set_table,
    step_index,
)
from .strata import STRATA_VARIABLES, iter_strata

Z_95 = float(stats.norm.ppf(0.975))
KM_VARIANCE = "Greenwood"
KM_CI = "log (survfit default): S·exp(±1.96·se), se² = Greenwood sum; upper capped at 1"
OS_LABEL = "Overall survival (Kaplan–Meier)"
SRE_KM_LABEL = "Cumulative incidence of SRE, 1 − Kaplan–Meier with deaths censored (overestimates: ignores competing deaths)"


def _km_steps(time: np.ndarray, event: np.ndarray) -> dict[str, np.ndarray]:
    """S, Greenwood se of log S and log-CI at each distinct event time."""
    table = risk_set_table(time, event)
    n, d = table.at_risk, table.all_events
    surv = np.cumprod(1.0 - d / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.cumsum(d / (n * (n - d)))
        se = np.sqrt(greenwood)
        low = np.where(surv > 0, surv * np.exp(-Z_95 * se), np.nan)
        high = np.where(surv > 0, np.minimum(1.0, surv * np.exp(Z_95 * se)), np.nan)
    return {"time": table.times, "at_risk": n, "surv": surv, "low": low, "high": high}


def _point(steps: dict[str, np.ndarray], i: int, *, complement: bool) -> CurvePoint:
    surv, low, high = steps["surv"][i], steps["low"][i], steps["high"][i]
    if complement:
        surv, low, high = 1.0 - surv, 1.0 - high, 1.0 - low
    return CurvePoint(
        day=float(steps["time"][i]),
        estimate=float(surv),
        ci_low=optional_float(low),
        ci_high=optional_float(high),
        at_risk=int(steps["at_risk"][i]),
    )


def _landmark(steps, time: np.ndarray, day: float, *, complement: bool) -> CurvePoint:
    """Step-function value at ``day``: the last event time ≤ day; None past follow-up."""
    at_risk = int((time >= day).sum())
    if len(time) == 0 or day > time.max():
        return CurvePoint(day=float(day), estimate=None, ci_low=None, ci_high=None, at_risk=at_risk)
    i = step_index(steps["time"], day)
    if i < 0:  # before the first event: S = 1 with a zero-width interval, as survfit
        value = 0.0 if complement else 1.0
        return CurvePoint(day=float(day), estimate=value, ci_low=value, ci_high=value, at_risk=at_risk)
    point = _point(steps, i, complement=complement)
    return CurvePoint(day=float(day), estimate=point.estimate, ci_low=point.ci_low, ci_high=point.ci_high, at_risk=at_risk)


def kaplan_meier_curve(
    time,
    event,
    *,
    stratum: str = "all",
    endpoint: str = "os",
    complement: bool = False,
    label: str = OS_LABEL,
    landmarks: Sequence[float] = LANDMARK_DAYS,
) -> SurvivalCurve:
    """Kaplan–Meier curve of (time, event); ``complement`` gives 1 − S.

    ``event`` is 1 for an event and 0 for censoring; rows with a missing time
    or event are dropped. With ``complement`` the estimate is 1 − S and the
    interval is (1 − upper, 1 − lower).
    """
    t, e = clean_time_status(time, event)
    if np.any(e > 1):
        raise ValueError("event must be 0/1; use cause_specific() for a competing-risks status")
    steps = _km_steps(t, e)
    return SurvivalCurve(
        stratum=stratum,
        endpoint=endpoint,
        method="one_minus_kaplan_meier" if complement else "kaplan_meier",
        label=label,
        variance=KM_VARIANCE,
        confidence_interval=KM_CI,
        n=len(t),
        events=int(e.sum()),
        competing_events=0,
        points=tuple(_point(steps, i, complement=complement) for i in range(len(steps["time"]))),
        landmarks=tuple(_landmark(steps, t, day, complement=complement) for day in landmarks),
        skipped_reason=None if len(t) else "no patients with a follow-up time",
    )


def overall_survival(
    adtte: pd.DataFrame,
    *,
    strata_variables: Sequence[str] = STRATA_VARIABLES,
    landmarks: Sequence[float] = LANDMARK_DAYS,
) -> tuple[SurvivalCurve, ...]:
    """Overall survival KM for "all" and each stratum (docs/domain.md §6)."""
    curves = []
    for stratum, sub in iter_strata(adtte, strata_variables):
        time, status = endpoint_time_status(sub, "os")
        curves.append(kaplan_meier_curve(time, status, stratum=stratum, endpoint="os", landmarks=landmarks))
    return tuple(curves)


def sre_one_minus_km(
    adtte: pd.DataFrame,
    *,
    strata_variables: Sequence[str] = STRATA_VARIABLES,
    landmarks: Sequence[float] = LANDMARK_DAYS,
) -> tuple[SurvivalCurve, ...]:
    """1 − KM of time to first SRE with deaths censored — labelled as the
    overestimate it is under competing death (docs/domain.md §6)."""
    curves = []
    for stratum, sub in iter_strata(adtte, strata_variables):
        time, status = endpoint_time_status(sub, "sre")
        curve = kaplan_meier_curve(
            time,
            cause_specific(status, SRE),
            stratum=stratum,
            endpoint="sre",
            complement=True,
            label=SRE_KM_LABEL,
            landmarks=landmarks,
        )
        curves.append(curve)
    return tuple(curves)
