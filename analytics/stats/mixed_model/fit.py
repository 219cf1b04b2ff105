"""The mixed model's fit (analytics.stats.mixed_model, whose docstring gives the model, its sources and its data
rules): the fixed-effect design, REML by per-patient sums (analytics.stats.reml), model-based means and stratum
differences with Wald CIs, and ``mixed_models``, every endpoint × stratification variable of a report."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from trials.domain.schedule import FOLLOW_UP_CODES

from ..reml import GroupSums, IndicatorDesign, reml_fit_sums
from ..results import optional_float
from ..strata import ALL, STRATA_VARIABLES, require_columns, whole_cohort_included
from .results import (
    BASELINE_TERM,
    ENDPOINTS,
    INTERCEPT,
    FixedEffect,
    MixedModelResult,
    ModelDifference,
    ModelMean,
    Z,
    _header,
    _skipped,
    _visit_words,
    _words,
)
from .rows import mixed_model_frame


def _design(
    variable: str, visits: list[str], levels: list[str], empty: Collection[tuple[str, str]] = ()
) -> tuple[np.ndarray, list[str], int]:
    """Treatment-coded design with R's ``lme`` column names (first visit and level = reference), as one row
    per visit × level cell (row ``i·len(levels) + j`` for ``visits[i]``, ``levels[j]``): the intercept, visit,
    level and interaction indicators, 0 in the baseline column (its index is returned: the value is the
    patient's); no interaction column for an ``empty`` (visit, level) cell (it has no data: not estimable).
    Returns (table, names, baseline column). The n × p matrix itself is never built (reml.IndicatorDesign
    gives its rows block by block: at 100,000 patients and ten sites it was ~210 MB)."""
    names = [INTERCEPT, *(f"visit{v}" for v in visits[1:]), *(f"{variable}{level}" for level in levels[1:]), BASELINE_TERM]
    baseline_column = len(names) - 1
    cells = [(v, level) for v in visits[1:] for level in levels[1:] if (v, level) not in empty]
    names += [f"visit{v}:{variable}{level}" for v, level in cells]
    interaction = {cell: baseline_column + 1 + k for k, cell in enumerate(cells)}
    table = np.zeros((len(visits) * len(levels), len(names)))
    table[:, 0] = 1.0
    for i, v in enumerate(visits):
        for j, level in enumerate(levels):
            row = table[i * len(levels) + j]
            if i:
                row[i] = 1.0
            if j:
                row[len(visits) - 1 + j] = 1.0
            if (v, level) in interaction:
                row[interaction[(v, level)]] = 1.0
    return table, names, baseline_column


def _level_codes(rows: pd.DataFrame, variable: str) -> tuple[np.ndarray, list[str]]:
    """Each row's index into the sorted levels of ``variable`` (as strings), and those levels; for "all",
    zeros and ["all"]. Codes, not a column of level strings per row (issue 17 worker memory)."""
    if variable == ALL:
        return np.zeros(len(rows), dtype=np.intp), [ALL]
    codes, values = pd.factorize(rows[variable])
    text = [str(value) for value in values]
    levels = sorted(set(text))
    return np.array([levels.index(t) for t in text], dtype=np.intp)[codes], levels


def _rank_deficient(xtx: np.ndarray) -> bool:
    """True when the design's columns are (numerically) collinear: rank of the column-scaled XᵀX < p."""
    scale = np.sqrt(np.diag(xtx))
    if np.any(scale == 0):
        return True
    gram = xtx / np.outer(scale, scale)
    return int(np.linalg.matrix_rank(gram, hermitian=True, tol=1e-10)) < len(scale)


def _contrast(names: list[str], variable: str, visit: str, level: str, baseline: float) -> np.ndarray:
    """L such that L·β is the model-based mean change at (visit, level) at baseline value ``baseline``."""
    index = {name: i for i, name in enumerate(names)}
    row = np.zeros(len(names))
    row[index[INTERCEPT]] = 1.0
    row[index[BASELINE_TERM]] = baseline
    for name in (f"visit{visit}", f"{variable}{level}", f"visit{visit}:{variable}{level}"):
        if name in index:
            row[index[name]] = 1.0
    return row


def _wald(
    contrast: np.ndarray, beta: np.ndarray, cov: np.ndarray
) -> tuple[float | None, float | None, float | None, float | None]:
    estimate = float(contrast @ beta)
    variance = float(contrast @ cov @ contrast)
    if not math.isfinite(variance) or variance < 0:
        return optional_float(estimate), None, None, None
    se = math.sqrt(variance)
    return estimate, se, estimate - Z * se, estimate + Z * se


def mixed_model_fit(
    rows: pd.DataFrame,
    endpoint: str,
    variable: str = ALL,
    *,
    visits: Sequence[str] = FOLLOW_UP_CODES,
    notes: Sequence[str] = (),
) -> MixedModelResult:
    """Fit the model of the module docstring to ``rows`` (from ``mixed_model_frame``).

    ``variable``: a stratification column of ``rows`` (its levels as strings), or "all" for the
    unstratified model. ``visits``: the follow-up visit codes in schedule order; visits without data are
    left out, and a visit × level cell without data is not estimated (its mean and difference are None),
    each with a note; the reference visit is the first with data for every level. Returns a
    MixedModelResult; degenerate data give ``skipped_reason`` instead of raising.
    """
    notes = list(notes)
    if variable != ALL:
        require_columns(rows, (variable,), name="mixed-model rows")
    # only the columns the fit reads: the copies below (a level column, the visits used) stay small (issue 17)
    # a frame of the columns themselves (no consolidated copy of them), filtered only when a value is missing
    wanted = [c for c in ("study_id", "visit", "baseline", "change", variable) if c in rows.columns]
    rows = pd.DataFrame({c: rows[c] for c in wanted}, copy=False)
    if variable != ALL:
        unknown = rows[variable].isna().to_numpy()
        if unknown.any():
            notes.append(f"{int(unknown.sum())} record(s) with no {_words(variable)} recorded left out.")
            rows = rows[~unknown]
    if rows.empty:
        return _skipped(endpoint, variable, "no patient has a baseline and a follow-up value", rows=rows, notes=notes)
    level_code, levels = _level_codes(rows, variable)
    if variable != ALL and len(levels) < 2:
        reason = f"only one level of {_words(variable)} has data ({levels[0]})"
        return _skipped(endpoint, variable, reason, rows=rows, notes=notes)
    visits = list(dict.fromkeys(visits))
    visit_codes, visit_values = pd.factorize(rows["visit"])
    position = {visit: i for i, visit in enumerate(visits)}
    visit_code = np.array([position.get(v, -1) for v in visit_values], dtype=np.intp)[visit_codes]
    listed = visit_code >= 0
    counts = np.bincount(visit_code[listed] * len(levels) + level_code[listed], minlength=len(visits) * len(levels))
    counts = counts.reshape(len(visits), len(levels))  # rows per visit × level cell
    used, empty = [], set()
    for i, visit in enumerate(visits):
        present = {level for j, level in enumerate(levels) if counts[i, j]}
        if not present:
            notes.append(f"{_visit_words(visit)}: no data, left out of the model.")
            continue
        missing = [level for level in levels if level not in present]
        if missing:
            notes.append(f"{_visit_words(visit)}: no data for {_words(variable)} = {', '.join(missing)}, not estimated there.")
            empty |= {(visit, level) for level in missing}
        used.append(visit)
    complete = [v for v in used if not any((v, level) in empty for level in levels)]
    kept = np.isin(visit_code, [position[v] for v in used])
    if not kept.all():
        rows, visit_code, level_code = rows[kept], visit_code[kept], level_code[kept]
    n_patients = int(rows["study_id"].nunique())
    if not complete:
        reason = f"no visit has data for every level of {_words(variable)}"
        return _skipped(endpoint, variable, reason, rows=rows, notes=notes)
    if n_patients < 2:
        return _skipped(endpoint, variable, "fewer than 2 patients: no between-patient variance", rows=rows, notes=notes)
    # the reference visit: the first with data for every level (a level's main effect must be estimable there)
    order = [complete[0], *(v for v in used if v != complete[0])]
    table, names, baseline_column = _design(variable, order, levels, empty)
    in_order = np.full(len(visits), -1, dtype=np.intp)
    in_order[[position[v] for v in order]] = np.arange(len(order))
    cell = in_order[visit_code] * len(levels) + level_code
    design = IndicatorDesign(table, cell, rows["baseline"].to_numpy(dtype=float), baseline_column)
    y = rows["change"].to_numpy(dtype=float)
    groups = rows["study_id"].to_numpy()
    try:
        sums = GroupSums(y, design, groups)
        if len(rows) <= design.p or _rank_deficient(sums.xtx):
            reason = "singular design: too few observations or collinear terms (e.g. the same baseline value for every patient)"
            return _skipped(endpoint, variable, reason, rows=rows, notes=notes)
        fitted = reml_fit_sums(sums)
    except (np.linalg.LinAlgError, ValueError, ZeroDivisionError) as error:
        return _skipped(endpoint, variable, f"the fit failed: {error}", rows=rows, notes=notes)
    beta, cov, tau2, sigma2, converged = fitted.beta, fitted.cov, fitted.tau2, fitted.sigma2, fitted.converged
    if not converged or not np.all(np.isfinite(cov)):
        return _skipped(endpoint, variable, "the REML fit did not converge", rows=rows, notes=notes)
    baseline_mean = float(rows.drop_duplicates("study_id")["baseline"].mean())
    means, differences = [], []
    for visit in used:
        contrasts = {}
        for level in levels:
            count = int(counts[position[visit], levels.index(level)])
            if (visit, level) in empty:
                means.append(ModelMean(visit, level, 0, None, None, None, None))
                continue
            contrasts[level] = _contrast(names, variable, visit, level, baseline_mean)
            estimate, se, low, high = _wald(contrasts[level], beta, cov)
            means.append(ModelMean(visit, level, count, estimate, se, low, high))
        for level in levels[1:]:
            if level not in contrasts or levels[0] not in contrasts:
                differences.append(ModelDifference(visit, level, levels[0], None, None, None, None, None))
                continue
            estimate, se, low, high = _wald(contrasts[level] - contrasts[levels[0]], beta, cov)
            p = None if not se or estimate is None else float(2 * scipy_stats.norm.sf(abs(estimate) / se))
            differences.append(ModelDifference(visit, level, levels[0], estimate, se, low, high, p))
    se_all = np.sqrt(np.clip(np.diag(cov), 0, None))
    if tau2 <= 1e-6 * sigma2:
        notes.append("The random-intercept variance is estimated at 0 (no between-patient variation beyond the fixed effects).")
    return MixedModelResult(
        **_header(endpoint, variable),
        reference_visit=order[0],
        reference_level=None if variable == ALL else levels[0],
        levels=tuple(levels),
        visits=tuple(used),
        n_patients=n_patients,
        n_observations=len(rows),
        baseline_mean=baseline_mean,
        converged=converged,
        random_intercept_variance=tau2,
        residual_variance=sigma2,
        fixed_effects=tuple(FixedEffect(n, float(b), float(s)) for n, b, s in zip(names, beta, se_all, strict=True)),
        means=tuple(means),
        differences=tuple(differences),
        notes=tuple(notes),
    )


def mixed_models(
    pain: pd.DataFrame,
    *,
    adtte: pd.DataFrame | None = None,
    strata_variables: Sequence[str] = STRATA_VARIABLES,
    visits: Sequence[str] = FOLLOW_UP_CODES,
    endpoints: Sequence[str] = tuple(ENDPOINTS),
    include_all: bool | None = None,
) -> tuple[MixedModelResult, ...]:
    """Per endpoint: the unstratified model, then one model per stratification variable in ``pain``.

    ``pain``: the long pain frame (analytics/derive.py ``PAIN_COLUMNS``); ``adtte`` (optional) gives the
    days of death that truncate follow-up; ``visits``: follow-up visit codes (schedule order is kept).
    Endpoint columns absent from ``pain`` are skipped; ``include_all`` False leaves out the unstratified
    model (default: as ``iter_strata``, i.e. left out inside ``levels_only``, where the report's fit jobs
    compute it in its own unit). Raises ValueError only on malformed input.
    """
    require_columns(pain, ("study_id", "visit"), name="pain")
    ordered = [v for v in FOLLOW_UP_CODES if v in set(visits)]
    include_all = whole_cohort_included() if include_all is None else include_all
    results = []
    for endpoint in endpoints:
        if endpoint not in pain.columns:
            continue
        rows, after_death = mixed_model_frame(pain, endpoint, visits=ordered, adtte=adtte, strata=strata_variables)
        notes = [f"{after_death} record(s) dated after the day of death excluded."] if after_death else []
        if include_all:
            results.append(mixed_model_fit(rows, endpoint, ALL, visits=ordered, notes=notes))
        for variable in strata_variables:
            if variable in rows.columns:
                results.append(mixed_model_fit(rows, endpoint, variable, visits=ordered, notes=notes))
    return tuple(results)
