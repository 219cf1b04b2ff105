"""Weighted outcome estimators of the propensity-score comparisons (issue 16; docs/analytics-methods.md
"Propensity-weighted comparisons"), split from analytics.stats.propensity: weighted response rates and their
difference (HC0 sandwich SE), weighted Kaplan–Meier / Aalen–Johansen steps, and the weighted Cox model with Efron
ties and the robust (Lin–Wei) sandwich variance, as R ``coxph(..., weights = w, robust = TRUE)``. Inputs are the
analysed patients with their stabilised weight ``w``; nothing here fits the propensity model."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from scipy import stats

from .cox import FIT_OPTIONS
from .response import NOT_EVALUABLE, RESPONDERS
from .results import Result, optional_float
from .risk_sets import SRE
from .strata import as_text
from .survival import Z_95

MIN_COX_EVENTS = 5


@dataclass(frozen=True)
class WeightedRate(Result):
    n: int
    weighted_n: float
    responders: int
    rate: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class ResponseComparison(Result):
    visit: str
    treated: WeightedRate
    control: WeightedRate
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    skipped_reason: str | None = None


@dataclass(frozen=True)
class WeightedCurvePoint(Result):
    day: float
    estimate: float
    at_risk: int
    weighted_at_risk: float


@dataclass(frozen=True)
class WeightedCurve(Result):
    arm: str
    n: int
    events: int
    points: tuple[WeightedCurvePoint, ...]


@dataclass(frozen=True)
class HazardRatio(Result):
    endpoint: str
    n: int
    events_treated: int
    events_control: int
    hr: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    log_hr: float | None
    se: float | None
    variance: str
    skipped_reason: str | None = None


# --- outcomes --------------------------------------------------------------------------------------


def weighted_rate(y: np.ndarray, w: np.ndarray) -> WeightedRate:
    """Σw·y/Σw with the HC0 sandwich SE √(Σw²(y − p)²)/Σw and a Wald 95% CI clipped to [0, 1]."""
    if len(y) == 0:
        return WeightedRate(0, 0.0, 0, None, None, None, None)
    total = float(w.sum())
    p = float((w * y).sum() / total)
    se = float(math.sqrt((w**2 * (y - p) ** 2).sum()) / total)
    low, high = (max(0.0, p - Z_95 * se), min(1.0, p + Z_95 * se)) if se > 0 else (None, None)
    return WeightedRate(len(y), total, int(y.sum()), p, se, low, high)


def response_comparisons(analysed: pd.DataFrame, adresp: pd.DataFrame, visits: Sequence[str]) -> tuple[ResponseComparison, ...]:
    """Weighted response rate per arm and their difference at each visit (evaluable patients)."""
    rows = []
    # Each adresp row's analysed patient (-1: not analysed), looked up once for every visit (issue 17, worker memory:
    # a per-visit selection copied and re-typed the whole adresp — 50 MB at 100,000 patients).
    position = pd.Index(as_text(analysed["study_id"])).get_indexer(as_text(adresp["study_id"]))
    response = adresp["response"]
    text = as_text(response)
    usable = (position >= 0) & response.notna().to_numpy() & (text != NOT_EVALUABLE).to_numpy()
    responder = text.isin(RESPONDERS).to_numpy(dtype=float)
    visit_text = as_text(adresp["visit"]).to_numpy()
    arm_treated = analysed["treated"].to_numpy() == 1
    arm_weight = analysed["w"].to_numpy(dtype=float)
    for visit in visits:
        at = np.flatnonzero(usable & (visit_text == visit))  # adresp's row order, as before
        y, t, w = responder[at], arm_treated[position[at]], arm_weight[position[at]]
        treated, control = weighted_rate(y[t], w[t]), weighted_rate(y[~t], w[~t])
        reason = None
        if treated.n == 0 or control.n == 0:
            reason = "no evaluable patients in an arm"
        elif treated.se in (None, 0.0) and control.se in (None, 0.0):
            reason = "every evaluable patient in both arms has the same outcome (e.g. no responders): no interval"
        if reason:
            rows.append(ResponseComparison(visit, treated, control, None, None, None, reason))
            continue
        assert treated.rate is not None and control.rate is not None  # both arms have evaluable patients here
        difference = treated.rate - control.rate
        se = math.sqrt((treated.se or 0.0) ** 2 + (control.se or 0.0) ** 2)
        rows.append(ResponseComparison(visit, treated, control, difference, difference - Z_95 * se, difference + Z_95 * se))
    return tuple(rows)


def weighted_steps(time: np.ndarray, status: np.ndarray, w: np.ndarray, cause: int | None = None) -> tuple[np.ndarray, ...]:
    """Weighted KM (``cause`` None: any status > 0 is the event) or Aalen–Johansen CIF of ``cause`` (other
    positive statuses compete) at each distinct event time: (times, estimate, at-risk count, weighted at risk).

    n_j = Σ w over time ≥ t_j, d_j = Σ w over events at t_j; KM S = Π(1 − d_j/n_j), AJ F = Σ S(t_j−)·d1_j/n_j."""
    times = np.unique(time[status > 0])
    order = np.argsort(time)
    sorted_t, sorted_w = time[order], w[order]
    tail = np.concatenate((np.cumsum(sorted_w[::-1])[::-1], [0.0]))
    first = np.searchsorted(sorted_t, times, side="left")
    n = tail[first]
    count = len(time) - first
    events = pd.Series(w[status > 0]).groupby(time[status > 0]).sum().reindex(times).to_numpy()
    surv = np.cumprod(1.0 - events / n)
    if cause is None:
        return times, surv, count, n
    mask = status == cause
    d1 = pd.Series(w[mask]).groupby(time[mask]).sum().reindex(times, fill_value=0.0).to_numpy()
    prev = np.concatenate(([1.0], surv[:-1]))
    cif = np.cumsum(prev * d1 / n)
    keep = d1 > 0
    return times[keep], cif[keep], count[keep], n[keep]


def _curve(arm: str, time, status, w, cause: int | None) -> WeightedCurve:
    times, estimate, count, n = weighted_steps(time, status, w, cause)
    points = tuple(
        WeightedCurvePoint(float(t), float(e), int(c), float(m)) for t, e, c, m in zip(times, estimate, count, n, strict=True)
    )
    events = int((status == cause).sum()) if cause is not None else int((status > 0).sum())
    return WeightedCurve(arm, len(time), events, points)


def efron_score_residuals(time, event, x, w, beta) -> np.ndarray:
    """Score residuals (n × p) of a weighted Cox model with Efron ties at ``beta`` — R ``residuals(coxph, "score")``
    (Therneau & Grambsch 2000, §3.7; survival's coxscore2.c).

    A tied death set of d deaths at t is d sub-steps k = 0..d−1 with hazard increment h_k = w̄/(S0 − (k/d)·S0_D)
    and mean x̄_k = (S1 − (k/d)·S1_D)/(S0 − (k/d)·S0_D) (w̄ the mean weight of the deaths, S0/S1 the risk-set sums
    of w·e^η and w·e^η·x, S0_D/S1_D those of the deaths). Subject i's residual is
    δ_i(x_i − mean_k x̄_k) − Σ_{t_j ≤ t_i} e^{η_i} Σ_k c_ik (x_i − x̄_k) h_k with c_ik = 1, except 1 − k/d for the
    deaths of that time. (lifelines' ``robust=True`` uses Breslow-type residuals, which differ from R with ties.)
    """
    time, event, w = np.asarray(time, float), np.asarray(event, int), np.asarray(w, float)
    x = np.asarray(x, float).reshape(len(time), -1)
    r = np.exp(x @ beta)
    risk = w * r
    times = np.unique(time[event == 1])
    order = np.argsort(time, kind="mergesort")
    ts = time[order]
    # risk-set sums (time >= t_j) via reverse cumsum
    rev0 = np.concatenate((np.cumsum(risk[order][::-1])[::-1], [0.0]))
    rev1 = np.vstack((np.cumsum((risk[:, None] * x)[order][::-1], axis=0)[::-1], np.zeros((1, x.shape[1]))))
    first = np.searchsorted(ts, times, side="left")
    S0, S1 = rev0[first], rev1[first]
    dmask = event == 1
    idx = np.searchsorted(times, time[dmask])
    d = np.bincount(idx, minlength=len(times)).astype(float)
    wd = np.bincount(idx, weights=w[dmask], minlength=len(times))
    S0D = np.bincount(idx, weights=risk[dmask], minlength=len(times))
    S1D = np.vstack([np.bincount(idx, weights=(risk[dmask] * x[dmask, j]), minlength=len(times)) for j in range(x.shape[1])]).T
    p = x.shape[1]
    A, A2 = np.zeros(len(times)), np.zeros(len(times))
    B, B2, XB = (np.zeros((len(times), p)) for _ in range(3))
    for j in range(len(times)):
        dj = int(d[j])
        meanwt = wd[j] / dj
        for k in range(dj):
            f = k / dj
            den = S0[j] - f * S0D[j]
            h = meanwt / den
            xbar = (S1[j] - f * S1D[j]) / den
            A[j] += h
            B[j] += xbar * h
            A2[j] += (1 - f) * h
            B2[j] += (1 - f) * xbar * h
            XB[j] += xbar / dj
    cA, cB = np.cumsum(A), np.cumsum(B, axis=0)
    last = np.searchsorted(times, time, side="right") - 1  # last event time <= t_i
    ok = last >= 0
    sumA = np.where(ok, cA[np.maximum(last, 0)], 0.0)
    sumB = np.where(ok[:, None], cB[np.maximum(last, 0)], 0.0)
    # deaths: own time uses the (1 - k/d)-weighted increments
    sumA[dmask] += A2[idx] - A[idx]
    sumB[dmask] += B2[idx] - B[idx]
    U = -(r[:, None] * (x * sumA[:, None] - sumB))
    U[dmask] += x[dmask] - XB[idx]
    return U


def robust_variance(time, event, x, w, beta, naive_variance) -> np.ndarray:
    """Robust (sandwich) variance of a weighted Cox fit: D'D with D = w·U·V, U the Efron score residuals and V the
    model-based variance — R ``coxph(weights = w, robust = TRUE)``'s ``var`` (Lin & Wei 1989; Binder 1992)."""
    u = efron_score_residuals(time, event, x, w, beta)
    d = (np.asarray(w, float)[:, None] * u) @ naive_variance
    return d.T @ d


def weighted_cox(
    frame: pd.DataFrame, endpoint: str, *, weighted: bool = True, labels: tuple[str, str] = ("treated", "control")
) -> HazardRatio:
    """Cox HR treated vs control; ``frame`` has time, event (0/1), treated (0/1) and w.

    weighted: lifelines ``weights_col="w"`` for β, the robust variance from :func:`robust_variance` (R coxph(weights =
    w, robust = TRUE), Wald CI exp(β ± 1.96·se)); otherwise the unadjusted model-based fit. Too few events or an arm
    without events → ``skipped_reason``."""
    variance_label = (
        "robust sandwich (Lin & Wei 1989), Efron score residuals" if weighted else "model-based (inverse information)"
    )
    t = frame["treated"] == 1
    e1, e0 = int(frame.loc[t, "event"].sum()), int(frame.loc[~t, "event"].sum())
    reason = None
    noun = "deaths" if endpoint == "os" else "SREs"
    if e1 + e0 < MIN_COX_EVENTS:
        reason = f"too few {noun} ({e1 + e0}; at least {MIN_COX_EVENTS} needed)"
    elif e1 == 0 or e0 == 0:
        arm = labels[0] if e1 == 0 else labels[1]
        reason = f"no {noun} in the {arm} arm: the hazard ratio is not estimable (separation)"
    if reason:
        return HazardRatio(endpoint, len(frame), e1, e0, None, None, None, None, None, None, variance_label, reason)
    columns = ["time", "event", "treated"] + (["w"] if weighted else [])
    fitter = CoxPHFitter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fitter.fit(
                frame[columns],
                duration_col="time",
                event_col="event",
                weights_col="w" if weighted else None,
                fit_options=FIT_OPTIONS,
            )
        except (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError):
            return HazardRatio(
                endpoint, len(frame), e1, e0, None, None, None, None, None, None, variance_label, "the Cox model did not converge"
            )
    beta = float(fitter.params_["treated"])
    variance = fitter.variance_matrix_.to_numpy()
    if weighted:
        variance = robust_variance(frame["time"], frame["event"], frame[["treated"]], frame["w"], np.array([beta]), variance)
    se = math.sqrt(float(variance[0, 0]))
    return HazardRatio(
        endpoint,
        len(frame),
        e1,
        e0,
        optional_float(math.exp(beta)),
        optional_float(math.exp(beta - Z_95 * se)),
        optional_float(math.exp(beta + Z_95 * se)),
        optional_float(2 * stats.norm.sf(abs(beta / se))) if se > 0 else None,
        beta,
        se,
        variance_label,
    )


def _endpoint_frame(analysed: pd.DataFrame, adtte: pd.DataFrame, endpoint: str) -> pd.DataFrame:
    columns = {"os": ("os_days", "os_event"), "sre": ("sre_days", "sre_event")}[endpoint]
    joined = (
        analysed[["study_id", "treated", "w"]]
        .merge(adtte[["study_id", *columns]].astype({"study_id": str}), on="study_id", how="inner")
        .dropna(subset=list(columns))
    )
    status = joined[columns[1]].astype(int)
    return pd.DataFrame(
        {
            "study_id": joined["study_id"],
            "time": joined[columns[0]].astype(float),
            "status": status,
            "event": (status == SRE).astype(int) if endpoint == "sre" else (status > 0).astype(int),
            "treated": joined["treated"].astype(int),
            "w": joined["w"].astype(float),
        }
    )
