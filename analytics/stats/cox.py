"""Cox proportional hazards (Cox, JRSS B 1972;34:187) via lifelines
``CoxPHFitter``: Efron's method for ties (R ``coxph`` default), Wald 95% CI
exp(β ± 1.96·se) and Wald p-values.

Endpoints (docs/domain.md §6): overall survival (``os_days``, ``os_event``) and
the cause-specific hazard of first SRE (``sre_event == 1`` is the event;
deaths without SRE and censorings are censored).

Covariates are categorical (modality, augmentation, radiation_sequence,
region), one-hot coded against a reference level. Registry rule: the
reference is the most frequent level among the analysed rows, ties broken by
the alphabetically first level — the largest group gives the most stable
contrasts. Analysed rows are complete cases.

Degenerate cases never raise; they are reported:
- a covariate absent from the frame or with a single level is dropped and
  listed in ``dropped``;
- no covariate left, or fewer than max(MIN_EVENTS, parameters + 1) events, or
  a fit that fails → a result with ``skipped_reason``;
- fewer than 10 events per parameter (Peduzzi et al., J Clin Epidemiol
  1996;49:1373) and lifelines convergence warnings are listed in ``warnings``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter

from .results import CoxResult, CoxTerm, DroppedCovariate, optional_float
from .risk_sets import ENDPOINT_COLUMNS, SRE
from .strata import require_columns

COX_COVARIATES: tuple[str, ...] = ("modality", "augmentation", "radiation_sequence", "region")
MIN_EVENTS = 5
MIN_EVENTS_PER_PARAMETER = 10
TIES = "efron"
REFERENCE_RULE = "most frequent level (ties: alphabetically first)"
# Tighter than lifelines' defaults (1e-7, 1e-9): its Newton loop stops before applying the last step,
# which leaves β ~1e-6 short of R coxph; with these, estimates agree with R to ~1e-9.
FIT_OPTIONS = {"precision": 1e-14, "r_precision": 1e-12}


def reference_level(values: pd.Series) -> str:
    """Most frequent level, ties broken by the alphabetically first (as str)."""
    counts = values.astype(str).value_counts()
    return sorted(counts.index, key=lambda level: (-counts[level], level))[0]


def _analysis_frame(adtte: pd.DataFrame, endpoint: str, covariates: Sequence[str]):
    """Complete-case frame with ``time``/``event`` and the usable covariates."""
    time_col, status_col = ENDPOINT_COLUMNS[endpoint]
    require_columns(adtte, [time_col, status_col], name="adtte")
    dropped = [DroppedCovariate(c, "column absent") for c in covariates if c not in adtte.columns]
    present = [c for c in covariates if c in adtte.columns]
    frame = adtte[[time_col, status_col, *present]].dropna()
    status = pd.to_numeric(frame[status_col], errors="raise")
    out = pd.DataFrame({"time": pd.to_numeric(frame[time_col]).astype(float)}, index=frame.index)
    out["event"] = (status == SRE).astype(int) if endpoint == "sre" else (status > 0).astype(int)
    for c in present:
        if frame[c].astype(str).nunique() < 2:
            dropped.append(DroppedCovariate(c, "single level"))
        else:
            out[c] = frame[c].astype(str)
    return out, [c for c in present if c in out.columns], dropped


def _design(frame: pd.DataFrame, covariates: Sequence[str]) -> tuple[pd.DataFrame, list[tuple[str, str, str, str]]]:
    """One-hot design (0/1 columns ``"<variable>=<level>"``) and term metadata."""
    design = frame[["time", "event"]].copy()
    terms = []
    for c in covariates:
        ref = reference_level(frame[c])
        for level in sorted(set(frame[c]) - {ref}):
            name = f"{c}={level}"
            design[name] = (frame[c] == level).astype(float)
            terms.append((name, c, level, ref))
    return design, terms


def _skip(endpoint, n, events, dropped, reason, epp=None, notes=()) -> CoxResult:
    return CoxResult(endpoint, n, events, (), tuple(dropped), TIES, REFERENCE_RULE, epp, tuple(notes), reason)


def _fit(design: pd.DataFrame) -> tuple[CoxPHFitter | None, list[str], str | None]:
    fitter = CoxPHFitter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fitter.fit(design, duration_col="time", event_col="event", fit_options=FIT_OPTIONS)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError) as exc:
            return None, [], f"fit failed: {type(exc).__name__}: {exc}"
    return fitter, sorted({str(w.message).strip().splitlines()[0].split(" For example")[0] for w in caught}), None


def cox_fit(
    adtte: pd.DataFrame, *, endpoint: str = "os", covariates: Sequence[str] = COX_COVARIATES
) -> CoxResult:
    """Cox model of ``endpoint`` ("os" or cause-specific "sre") on categorical covariates."""
    if endpoint not in ENDPOINT_COLUMNS:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {sorted(ENDPOINT_COLUMNS)}")
    frame, used, dropped = _analysis_frame(adtte, endpoint, covariates)
    n, events = len(frame), int(frame["event"].sum())
    design, terms = _design(frame, used)
    if not terms:
        return _skip(endpoint, n, events, dropped, "no covariate with at least two levels")
    epp = events / len(terms)
    notes = [f"{epp:.1f} events per parameter (< {MIN_EVENTS_PER_PARAMETER})"] if epp < MIN_EVENTS_PER_PARAMETER else []
    if events < max(MIN_EVENTS, len(terms) + 1):
        return _skip(endpoint, n, events, dropped, f"too few events ({events}) for {len(terms)} parameter(s)", epp, notes)
    fitter, fit_warnings, error = _fit(design)
    if fitter is None:
        return _skip(endpoint, n, events, dropped, error, epp, notes)
    summary = fitter.summary
    rows = tuple(
        CoxTerm(
            term=name, variable=var, level=level, reference=ref,
            hr=optional_float(summary.loc[name, "exp(coef)"]),
            ci_low=optional_float(summary.loc[name, "exp(coef) lower 95%"]),
            ci_high=optional_float(summary.loc[name, "exp(coef) upper 95%"]),
            p_value=optional_float(summary.loc[name, "p"]),
        )
        for name, var, level, ref in terms
    )
    return CoxResult(endpoint, n, events, rows, tuple(dropped), TIES, REFERENCE_RULE, epp, tuple(notes + fit_warnings))


def cox_fits(
    adtte: pd.DataFrame, *, endpoints: Sequence[str] = ("os", "sre"), covariates: Sequence[str] = COX_COVARIATES
) -> tuple[CoxResult, ...]:
    """:func:`cox_fit` for each endpoint."""
    return tuple(cox_fit(adtte, endpoint=e, covariates=covariates) for e in endpoints)
