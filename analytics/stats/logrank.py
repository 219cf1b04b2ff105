"""Log-rank test between the levels of a stratification variable (Mantel,
Cancer Chemother Rep 1966;50:163; Peto & Peto 1972), matching R
``survival::survdiff`` with rho = 0.

At each distinct event time t_j of the pooled sample (N_j at risk, D_j
events; n_gj, d_gj in group g):
    E_g = Σ_j n_gj·D_j/N_j,
    V_gh = Σ_j D_j·(N_j − D_j)/(N_j − 1) · (n_gj/N_j)·(δ_gh − n_hj/N_j)  (N_j > 1).
As survdiff: groups with E_g = 0 are left out, the first remaining group is
dropped, χ² = (O − E)ᵀ V⁻¹ (O − E) on the rest, df = (groups with E > 0) − 1.
Groups are ordered by the sorted string form of their level (R's factor
order for character data).

Never raises on data: fewer than two groups with expected events, or a
variance matrix that is singular (e.g. at every event time everyone at risk
had the event, so N_j − D_j = 0 — R's survdiff stops with "system is
computationally singular" there), give a result with ``chisq``/``p_value``
None and a human ``skipped_reason`` starting "not computable".

For SRE the test is cause-specific (docs/domain.md §6): deaths without SRE are
censored, so it compares cause-specific hazards, not cumulative incidences.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .results import LogRankGroup, LogRankResult
from .risk_sets import ENDPOINT_COLUMNS, SRE, clean_time_status
from .strata import STRATA_VARIABLES, require_columns

NOT_COMPUTABLE_GROUPS = "not computable: fewer than two groups with events expected"
NOT_COMPUTABLE_VARIANCE = (
    "not computable: the test has no variance (at each event time every patient at risk had the event, "
    "so the groups cannot be compared)"
)


def _group_tables(time: np.ndarray, event: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """(n_gj, d_gj) matrices, groups × pooled distinct event times."""
    event_times = np.unique(time[event > 0])
    n = np.zeros((k, len(event_times)))
    d = np.zeros((k, len(event_times)))
    for g in range(k):
        tg, eg = time[codes == g], event[codes == g]
        n[g] = len(tg) - np.searchsorted(np.sort(tg), event_times, side="left")
        d[g] = pd.Series(tg[eg > 0]).value_counts().reindex(event_times, fill_value=0).to_numpy()
    return n, d


def _expected_and_variance(n: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    big_n, big_d = n.sum(axis=0), d.sum(axis=0)
    expected = (n * big_d / big_n).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(big_n > 1, big_d * (big_n - big_d) / (big_n - 1), 0.0)
    share = n / big_n
    var = np.einsum("j,gj,hj->gh", scale, share, -share)
    var[np.diag_indices_from(var)] += (scale * share).sum(axis=1)
    return expected, var


def logrank_test(time, event, group, *, endpoint: str = "", variable: str = "") -> LogRankResult:
    """survdiff (rho = 0) of (time, event 0/1) across the levels of ``group``.

    Rows with a missing time, event or group are dropped. Fewer than two
    groups with expected events, or a singular variance matrix, give a result
    with ``skipped_reason`` "not computable: <reason>" (never an exception).
    """
    frame = pd.DataFrame(
        {
            "time": np.asarray(time, dtype=object),
            "event": np.asarray(event, dtype=object),
            "group": np.asarray(group, dtype=object),
        }
    ).dropna()
    t, e = clean_time_status(frame["time"], frame["event"])
    if np.any(e > 1):
        raise ValueError("event must be 0/1; use cause_specific() for a competing-risks status")
    labels = frame["group"].astype(str).to_numpy()
    levels = sorted(set(labels.tolist()))
    codes = np.searchsorted(levels, labels)
    n, d = _group_tables(t, e, codes, len(levels))
    observed = d.sum(axis=1)
    expected, var = _expected_and_variance(n, d)
    rows = tuple(
        LogRankGroup(group=lvl, n=int((codes == i).sum()), observed=float(observed[i]), expected=float(expected[i]))
        for i, lvl in enumerate(levels)
    )
    usable = np.flatnonzero(expected > 0)
    if len(usable) < 2:
        return LogRankResult(endpoint, variable, rows, None, 0, None, NOT_COMPUTABLE_GROUPS)
    rest = usable[1:]
    diff = (observed - expected)[rest]
    sub = var[np.ix_(rest, rest)]
    if not np.all(np.isfinite(sub)) or np.linalg.matrix_rank(sub) < len(rest):
        return LogRankResult(endpoint, variable, rows, None, 0, None, NOT_COMPUTABLE_VARIANCE)
    chisq = float(diff @ np.linalg.solve(sub, diff))
    df = len(usable) - 1
    return LogRankResult(endpoint, variable, rows, chisq, df, float(stats.chi2.sf(chisq, df)))


def logrank_by(adtte: pd.DataFrame, variable: str, *, endpoint: str = "os") -> LogRankResult:
    """Log-rank across the levels of ``variable`` for "os" or cause-specific "sre"."""
    if endpoint not in ENDPOINT_COLUMNS:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {sorted(ENDPOINT_COLUMNS)}")
    time_col, status_col = ENDPOINT_COLUMNS[endpoint]
    require_columns(adtte, [variable, time_col, status_col], name="adtte")
    status = pd.to_numeric(adtte[status_col], errors="raise")
    event = (status == SRE).astype(float).where(status.notna()) if endpoint == "sre" else status
    return logrank_test(adtte[time_col], event, adtte[variable], endpoint=endpoint, variable=variable)


def logrank_tests(
    adtte: pd.DataFrame,
    *,
    strata_variables: Sequence[str] = STRATA_VARIABLES,
    endpoints: Sequence[str] = ("os", "sre"),
) -> tuple[LogRankResult, ...]:
    """:func:`logrank_by` for every endpoint × stratification variable present."""
    return tuple(
        logrank_by(adtte, variable, endpoint=endpoint)
        for endpoint in endpoints
        for variable in strata_variables
        if variable in adtte.columns
    )
