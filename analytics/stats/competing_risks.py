"""Cumulative incidence of SRE with death as a competing risk: the
Aalen–Johansen estimator (Aalen & Johansen, Scand J Stat 1978;5:141;
docs/domain.md §6).

Estimate: at each distinct event time t_j with n_j at risk, d1_j events of
the cause of interest and d_j events of any cause,
    F(t_j) = F(t_{j−1}) + S(t_j−)·d1_j/n_j,   S(t_j) = S(t_j−)·(1 − d_j/n_j),
where S is the all-cause Kaplan–Meier. Tied events of different causes share
the risk set at their time (exact ties, no jitter), as in ``cmprsk::cuminc``
and ``survival::survfit`` multi-state.

Variance: the delta-method variance of Gray's ``cmprsk::cuminc`` (Fortran
routine ``cinc``, R package cmprsk 2.2; Gray, Ann Stat 1988;16:1141),
re-derived here. With S⁻ = S(t_j−), S = S(t_j), F = F(t_j), a tie factor
τ(d, n) = 1 − (d − 1)/(n − 1) for d > 1 (1 otherwise), and three running
sums v1, v2, v3:
- each time with competing events d2 > 0 (and S > 0) adds, with
  w = S⁻²·τ(d2)·d2/n², a = F/S, b = 1/S: v1 += a²w, v2 += abw, v3 += b²w;
- each time with events of the cause d1 > 0 adds, with w = S⁻²·τ(d1)·d1/n²,
  b = 1/S (0 if S = 0), a = 1 + b·F: v1 += a²w, v2 += abw, v3 += b²w;
- Var F(t_j) = v1 + F²·v3 − 2F·v2, recorded at times with d1 > 0.
So, as in ``cuminc``/``timepoints``, the variance reported at a day is the
one at the last event of the cause ≤ that day.

Confidence interval (log-log, Pintilie, Competing Risks: A Practical
Perspective, 2006; as ``tidycmprsk``): with se = √Var,
    F^exp(∓1.96·se/(F·log F))  (lower uses −, upper +),
which stays inside (0, 1). None when F is 0 or 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .results import CurvePoint, SurvivalCurve, optional_float
from .risk_sets import LANDMARK_DAYS, SRE, clean_time_status, endpoint_time_status, risk_set_table, step_index
from .strata import STRATA_VARIABLES, iter_strata
from .survival import Z_95

AJ_VARIANCE = "delta method of cmprsk::cuminc (Gray 1988)"
AJ_CI = "log-log: F^exp(±1.96·se/(F·log F)) (Pintilie 2006; tidycmprsk)"
SRE_AJ_LABEL = "Cumulative incidence of SRE, Aalen–Johansen with death as a competing risk"


def _tie_factor(d: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d > 1, 1.0 - (d - 1.0) / (n - 1.0), 1.0)


def _variance_increments(s_prev, s_now, cif, d, n, *, competing: bool) -> tuple[np.ndarray, ...]:
    """Per-time increments of (v1, v2, v3) from one kind of event (module doc)."""
    w = s_prev**2 * _tie_factor(d, n) * d / n**2
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(s_now > 0, 1.0 / s_now, 0.0)
    a = cif * b if competing else 1.0 + b * cif
    use = (d > 0) & (s_now > 0) if competing else d > 0
    w = np.where(use, w, 0.0)
    return a * a * w, a * b * w, b * b * w


def aalen_johansen_steps(time: np.ndarray, status: np.ndarray, cause: int = SRE) -> dict[str, np.ndarray]:
    """CIF of ``cause`` and its cuminc variance at each distinct event time."""
    table = risk_set_table(time, status)
    n = table.at_risk
    d1 = table.events.get(cause, np.zeros(len(n)))
    d2 = table.all_events - d1
    s_now = np.cumprod(1.0 - (d1 + d2) / n)
    s_prev = np.concatenate(([1.0], s_now[:-1]))
    cif = np.cumsum(s_prev * d1 / n)
    own = _variance_increments(s_prev, s_now, cif, d1, n, competing=False)
    other = _variance_increments(s_prev, s_now, cif, d2, n, competing=True)
    v1, v2, v3 = (np.cumsum(x + y) for x, y in zip(own, other, strict=True))
    variance = np.maximum(v1 + cif**2 * v3 - 2.0 * cif * v2, 0.0)
    jumps = d1 > 0
    return {
        "time": table.times[jumps],
        "at_risk": n[jumps],
        "cif": cif[jumps],
        "var": variance[jumps],
        "max_time": np.array([table.max_time]),
    }


def loglog_ci(estimate: float, variance: float) -> tuple[float | None, float | None]:
    """(lower, upper) = F^exp(∓z·se/(F·log F)); None outside 0 < F < 1.

    A CIF that reaches 1 by a sum of increments can land a rounding error below it
    (0.9999999999999999); within 1e-12 of 1 it is taken as 1 (no interval)."""
    if not 0.0 < estimate < 1.0 - 1e-12:
        return None, None
    k = Z_95 * np.sqrt(variance) / (estimate * np.log(estimate))
    return optional_float(estimate ** np.exp(-k)), optional_float(estimate ** np.exp(k))


def _point(day: float, estimate: float | None, variance: float, at_risk: int) -> CurvePoint:
    low, high = (None, None) if estimate is None else loglog_ci(estimate, variance)
    return CurvePoint(day=float(day), estimate=optional_float(estimate), ci_low=low, ci_high=high, at_risk=at_risk)


def _landmark(steps: dict[str, np.ndarray], time: np.ndarray, day: float) -> CurvePoint:
    """Value at the last jump ≤ ``day`` (0 before the first); None past follow-up."""
    at_risk = int((time >= day).sum())
    if len(time) == 0 or day > steps["max_time"][0]:
        return _point(day, None, 0.0, at_risk)
    i = step_index(steps["time"], day)
    if i < 0:
        return _point(day, 0.0, 0.0, at_risk)
    return _point(day, float(steps["cif"][i]), float(steps["var"][i]), at_risk)


def aalen_johansen_curve(
    time,
    status,
    *,
    cause: int = SRE,
    stratum: str = "all",
    endpoint: str = "sre",
    label: str = SRE_AJ_LABEL,
    landmarks: Sequence[float] = LANDMARK_DAYS,
) -> SurvivalCurve:
    """Aalen–Johansen cumulative incidence of ``cause`` (status 0 = censored,
    any other positive status = competing). Points at each time the curve
    jumps; landmarks at ``landmarks`` days."""
    t, s = clean_time_status(time, status)
    steps = aalen_johansen_steps(t, s, cause)
    points = tuple(
        _point(steps["time"][i], float(steps["cif"][i]), float(steps["var"][i]), int(steps["at_risk"][i]))
        for i in range(len(steps["time"]))
    )
    return SurvivalCurve(
        stratum=stratum,
        endpoint=endpoint,
        method="aalen_johansen",
        label=label,
        variance=AJ_VARIANCE,
        confidence_interval=AJ_CI,
        n=len(t),
        events=int((s == cause).sum()),
        competing_events=int(((s > 0) & (s != cause)).sum()),
        points=points,
        landmarks=tuple(_landmark(steps, t, day) for day in landmarks),
        skipped_reason=None if len(t) else "no patients with a follow-up time",
    )


def sre_cumulative_incidence(
    adtte: pd.DataFrame,
    *,
    strata_variables: Sequence[str] = STRATA_VARIABLES,
    landmarks: Sequence[float] = LANDMARK_DAYS,
) -> tuple[SurvivalCurve, ...]:
    """Aalen–Johansen CIF of first SRE, death without SRE competing, for "all"
    and each stratum (docs/domain.md §6)."""
    curves = []
    for stratum, sub in iter_strata(adtte, strata_variables):
        time, status = endpoint_time_status(sub, "sre")
        curves.append(aalen_johansen_curve(time, status, stratum=stratum, landmarks=landmarks))
    return tuple(curves)
