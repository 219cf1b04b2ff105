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

Degenerate cases never raise; they are reported in words (``flags``, and
their messages in ``warnings``), never as a library's text:
- a covariate absent from the frame or with a single level is dropped and
  listed in ``dropped``;
- an **aliased** dummy column (a linear combination of earlier columns in
  covariate order, e.g. augmentation "implant" exactly when region is
  "peripheral") is dropped as R ``coxph`` does (R reports its coefficient as
  NA): it stays in ``terms`` with every number None, ``estimable`` False,
  and is named in ``dropped`` with the columns it is a combination of;
- no covariate left, or fewer than max(MIN_EVENTS, parameters + 1) events, or
  a fit that fails → a result with ``skipped_reason``;
- **separation** (monotone likelihood: a level, or the reference, without
  events, or |log HR| > SEPARATION_LOG_HR), fewer than 10 events per
  parameter (Peduzzi et al., J Clin Epidemiol 1996;49:1373) and
  non-convergence are flagged — per term (``CoxTerm.flags``, ``estimable``)
  and for the model (``CoxResult.flags``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter

from .results import CoxResult, CoxTerm, DroppedCovariate, StatFlag, optional_float
from .risk_sets import ENDPOINT_COLUMNS, SRE
from .strata import as_text, require_columns

COX_COVARIATES: tuple[str, ...] = ("modality", "augmentation", "radiation_sequence", "region")
MIN_EVENTS = 5
MIN_EVENTS_PER_PARAMETER = 10
TIES = "efron"
REFERENCE_RULE = "most frequent level (ties: alphabetically first)"
# Tighter than lifelines' defaults (1e-7, 1e-9): its Newton loop stops before applying the last step,
# which leaves β ~1e-6 short of R coxph; with these, estimates agree with R to ~1e-9.
FIT_OPTIONS = {"precision": 1e-14, "r_precision": 1e-12}
# A column whose residual, after projection on the earlier (centred) columns, is below this
# fraction of its own norm is aliased (R coxph: Cholesky with toler.chol = eps^0.75 ≈ 1.8e-12).
ALIAS_TOLERANCE = 1e-9
# |log HR| above this (HR beyond e^±10 ≈ 22026) is an estimate running off to 0 or ∞.
SEPARATION_LOG_HR = 10.0
EVENT_NOUNS = {"os": "deaths", "sre": "SREs"}
ALIASED, SEPARATION, FEW_EVENTS, NON_CONVERGENCE = "aliased", "separation", "few_events_per_parameter", "non_convergence"
FIT_FAILED = (
    "not computable: the model could not be fitted (the estimates did not converge; "
    "typically a covariate level without events or covariates that determine each other)"
)


def reference_level(values: pd.Series) -> str:
    """Most frequent level, ties broken by the alphabetically first (as str)."""
    counts = as_text(values).value_counts()
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
        if as_text(frame[c]).nunique() < 2:
            dropped.append(DroppedCovariate(c, "single level"))
        else:
            out[c] = as_text(frame[c])
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


def aliased_columns(design: pd.DataFrame, names: Sequence[str]) -> dict[str, list[str]]:
    """Columns (in order) that are linear combinations of earlier ones → the earlier columns involved.

    Columns are centred first: a Cox model has no intercept, so a column constant over the rows is
    aliased with the baseline hazard."""
    x = design[list(names)].to_numpy(dtype=float)
    x = x - x.mean(axis=0)
    kept: list[int] = []
    aliased: dict[str, list[str]] = {}
    for j, name in enumerate(names):
        column = x[:, j]
        if kept:
            coef, *_ = np.linalg.lstsq(x[:, kept], column, rcond=None)
            residual = column - x[:, kept] @ coef
        else:
            coef, residual = np.empty(0), column
        if np.linalg.norm(residual) <= ALIAS_TOLERANCE * max(1.0, float(np.linalg.norm(column))):
            aliased[name] = [names[k] for k, c in zip(kept, coef, strict=True) if abs(c) > 1e-8]
        else:
            kept.append(j)
    return aliased


def _skip(endpoint, n, events, dropped, reason, epp=None, flags=(), terms=()) -> CoxResult:
    flags = tuple(flags)
    return CoxResult(
        endpoint,
        n,
        events,
        tuple(terms),
        tuple(dropped),
        TIES,
        REFERENCE_RULE,
        epp,
        tuple(f.message for f in flags),
        reason,
        flags,
    )


def _fit_flags(caught) -> list[StatFlag]:
    """Human flags for lifelines' convergence warnings (their text, with URLs, is not shown)."""
    text = " ".join(str(w.message) for w in caught).lower()
    flags = []
    if "separation" in text:
        flags.append(StatFlag(SEPARATION, "the fit reports possible complete separation: hazard ratios may be infinite"))
    if "failed to converge" in text or "norm(delta) is still high" in text:
        flags.append(StatFlag(NON_CONVERGENCE, "the model fit did not converge: the hazard ratios are unreliable"))
    return flags


def _fit(design: pd.DataFrame) -> tuple[CoxPHFitter | None, list[StatFlag]]:
    fitter = CoxPHFitter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fitter.fit(design, duration_col="time", event_col="event", fit_options=FIT_OPTIONS)
        except (ValueError, TypeError, ArithmeticError, np.linalg.LinAlgError, RuntimeError):
            return None, []
    return fitter, _fit_flags(caught)


def _separation(
    frame: pd.DataFrame, endpoint: str, variable: str, level: str, reference: str, log_hr: float | None, se: float | None
) -> str | None:
    """Why the term's estimate runs off to 0 or ∞ (None when it does not)."""
    noun = EVENT_NOUNS[endpoint]
    in_level = frame[frame[variable] == level]
    in_reference = frame[frame[variable] == reference]
    if in_level["event"].sum() == 0:
        return (
            f"no {noun} among {variable}={level} (n={len(in_level)}): hazard ratio not estimable "
            "(separation; the estimate runs to 0)"
        )
    if in_reference["event"].sum() == 0:
        return (
            f"no {noun} in the reference group {variable}={reference} (n={len(in_reference)}): hazard ratio "
            "not estimable (separation; the estimate runs to infinity)"
        )
    if log_hr is not None and abs(log_hr) > SEPARATION_LOG_HR or se is None:
        return "the estimate diverges (hazard ratio beyond 1/22026–22026): separation suspected, not estimable"
    return None


def _terms(fitter, frame, endpoint, terms, aliased) -> tuple[list[CoxTerm], list[StatFlag]]:
    summary = fitter.summary
    rows, flags = [], []
    for name, var, level, ref in terms:
        if name in aliased:
            rows.append(CoxTerm(name, var, level, ref, None, None, None, None, estimable=False, flags=(ALIASED,)))
            continue
        log_hr = optional_float(summary.loc[name, "coef"])
        reason = _separation(frame, endpoint, var, level, ref, log_hr, optional_float(summary.loc[name, "se(coef)"]))
        if reason:
            flags.append(StatFlag(SEPARATION, f"{name}: {reason}", name))
        rows.append(
            CoxTerm(
                term=name,
                variable=var,
                level=level,
                reference=ref,
                hr=optional_float(summary.loc[name, "exp(coef)"]),
                ci_low=optional_float(summary.loc[name, "exp(coef) lower 95%"]),
                ci_high=optional_float(summary.loc[name, "exp(coef) upper 95%"]),
                p_value=optional_float(summary.loc[name, "p"]),
                estimable=reason is None,
                flags=(SEPARATION,) if reason else (),
            )
        )
    return rows, flags


def cox_not_computed(endpoint: str, reason: str) -> CoxResult:
    """A Cox result with no terms, ``n = events = 0`` and ``skipped_reason = reason`` (a model that could not be fitted)."""
    return _skip(endpoint, 0, 0, (), reason)


def cox_fit(adtte: pd.DataFrame, *, endpoint: str = "os", covariates: Sequence[str] = COX_COVARIATES) -> CoxResult:
    """Cox model of ``endpoint`` ("os" or cause-specific "sre") on categorical covariates.

    Raises ValueError only for an unknown endpoint or a frame without the endpoint's columns;
    every data problem gives a result with ``skipped_reason`` and/or ``flags`` (module doc).
    """
    if endpoint not in ENDPOINT_COLUMNS:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {sorted(ENDPOINT_COLUMNS)}")
    frame, used, dropped = _analysis_frame(adtte, endpoint, covariates)
    n, events = len(frame), int(frame["event"].sum())
    design, terms = _design(frame, used)
    if not terms:
        return _skip(endpoint, n, events, dropped, "no covariate with at least two levels")
    aliased = aliased_columns(design, [t[0] for t in terms])
    for name, combination in aliased.items():
        dropped.append(
            DroppedCovariate(
                name,
                "aliased: a linear combination of "
                + (", ".join(combination) or "the baseline")
                + "; dropped from the model (R coxph reports NA)",
            )
        )
    flags = [StatFlag(ALIASED, f"{d.variable} {d.reason}", d.variable) for d in dropped if d.variable in aliased]
    parameters = len(terms) - len(aliased)
    epp = events / parameters if parameters else None
    if epp is not None and epp < MIN_EVENTS_PER_PARAMETER:
        flags.append(
            StatFlag(
                FEW_EVENTS,
                f"{epp:.1f} events per parameter (< {MIN_EVENTS_PER_PARAMETER}, Peduzzi 1996): "
                "hazard ratios may be biased and their intervals unreliable",
            )
        )
    if not parameters:
        return _skip(endpoint, n, events, dropped, "no covariate left after dropping aliased columns", epp, flags)
    if events < max(MIN_EVENTS, parameters + 1):
        return _skip(endpoint, n, events, dropped, f"too few events ({events}) for {parameters} parameter(s)", epp, flags)
    fitter, fit_flags = _fit(design.drop(columns=list(aliased)))
    if fitter is None:
        return _skip(endpoint, n, events, dropped, FIT_FAILED, epp, flags)
    rows, term_flags = _terms(fitter, frame, endpoint, terms, aliased)
    if term_flags:  # the separation is already named per term
        fit_flags = [f for f in fit_flags if f.code != SEPARATION]
    all_flags = tuple(flags + term_flags + fit_flags)
    return CoxResult(
        endpoint,
        n,
        events,
        tuple(rows),
        tuple(dropped),
        TIES,
        REFERENCE_RULE,
        epp,
        tuple(f.message for f in all_flags),
        None,
        all_flags,
    )


def cox_fits(
    adtte: pd.DataFrame, *, endpoints: Sequence[str] = ("os", "sre"), covariates: Sequence[str] = COX_COVARIATES
) -> tuple[CoxResult, ...]:
    """:func:`cox_fit` for each endpoint."""
    return tuple(cox_fit(adtte, endpoint=e, covariates=covariates) for e in endpoints)
