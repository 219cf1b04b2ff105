"""Confounding-adjusted comparison of a binary contrast by inverse probability of treatment weighting
(issue 16, item 2; docs/analytics-methods.md "Propensity-weighted comparisons").

Exploratory: an observational registry's treatment choices follow the patient's disease, so a raw comparison of
"cement" with "no cement" mixes the effect of cement with that of the lesions it is given to. The steps, in order:

1. **Contrast** (``CONTRASTS``): treated and control levels of one variable; other levels are left out
   (e.g. implants in the cement contrast).
2. **Covariates** (pre-specified, ``NUMERIC_COVARIATES`` and ``CATEGORICAL_COVARIATES``): age, sex, ECOG, histology
   group, region, SINS where the index lesion is spinal (``sins_spine``: the SINS total for spine lesions, 0 elsewhere —
   with the region term it is a slope within the spine), baseline BPI worst pain, baseline OMED, and the radiation
   sequence unless it is the contrast. The contrast's own variable is never a covariate.
   - **Missing values**: complete cases — a patient missing any covariate is left out and counted per covariate
     (``excluded_missing``); R ``glm`` does the same (``na.omit``).
   - **Sparse levels**: a categorical level with fewer than ``MIN_LEVEL_PER_ARM`` patients in either arm is pooled
     into ``"other (pooled)"``; a pooled level still that sparse joins the most frequent level; a covariate left with
     one level (or a numeric one that is constant) is dropped and listed in ``dropped``.
3. **Propensity score** e(x) = P(treated | x): logistic regression (statsmodels ``Logit``, Newton–Raphson;
   reference level of each categorical covariate = its most frequent level, ties alphabetical, as the Cox models).
   Perfect or quasi-complete separation (a fitted probability within ``SEPARATION_EPS`` of 0 or 1, |coefficient| >
   ``SEPARATION_COEF``, or the fit failing to converge) gives a reason instead of weights.
4. **Trimming** (Crump et al., Biometrika 2009;96:187): patients with e outside [``TRIM_LOW``, ``TRIM_HIGH``] =
   [0.05, 0.95] are excluded — their counterfactual arm is barely represented, so their weights would dominate.
   **Poor overlap**: trimming removes more than ``MAX_TRIMMED_SHARE`` of the patients, or leaves fewer than
   ``MIN_ARM_PATIENTS`` in an arm → no estimate, with the reason.
5. **Stabilised weights** (Robins, Hernán & Brumback, Epidemiology 2000;11:550; Cole & Hernán, Am J Epidemiol
   2008;168:656): w = P̂(T = 1)/e for treated and P̂(T = 0)/(1 − e) for controls, P̂ the treated share after
   trimming; their mean is ≈ 1 in each arm. The estimand is the average treatment effect in the trimmed population.
6. **Balance** (Austin, Stat Med 2009;28:3083; weighted form Austin & Stuart, Stat Med 2015;34:3661): standardised
   mean difference d = (x̄₁ − x̄₀)/√((s₁² + s₀²)/2) for every numeric covariate and every level of a categorical one
   (binary: s² = p(1 − p)); before weighting on the complete cases, after weighting on the trimmed patients with
   weighted means and variances s²_w = Σw/((Σw)² − Σw²)·Σw(x − x̄_w)². |d| > ``SMD_THRESHOLD`` = 0.1 is flagged;
   **any flagged covariate after weighting → no estimate** ("balance not reached", naming the covariates).
7. **Outcomes**, only when overlap and balance hold:
   - pain response (CR or PR among evaluable patients, docs/domain.md §4) per follow-up visit: weighted share per arm
     Σw·y/Σw with the robust (sandwich, HC0) standard error √(Σw²(y − p)²)/Σw, Wald 95% CI clipped to [0, 1], and the
     difference treated − control (variances added: the arms are independent samples). The variance treats the
     weights as known, which is conservative for the ATE (Lunceford & Davidian, Stat Med 2004;23:2937);
   - weighted Kaplan–Meier of overall survival and weighted Aalen–Johansen cumulative incidence of SRE (death
     competing) per arm: the usual product-limit / Aalen–Johansen formulas with weighted risk sets and events
     (R ``survfit(..., weights = w)``); no pointwise intervals (their model-based variance is wrong with estimated
     weights) — the inference is the Cox model's robust interval;
   - weighted Cox models (lifelines ``CoxPHFitter`` with ``weights_col``, Efron ties, for β; R
     ``coxph(Surv(t, e) ~ treated, weights = w, robust = TRUE)``) of overall survival and of the cause-specific SRE
     hazard (deaths censored), hazard ratio treated vs control with the robust (Lin & Wei, JASA 1989;84:1074)
     sandwich 95% CI. The sandwich is computed from Efron score residuals
     (:func:`analytics.stats.weighted_outcomes.robust_variance`): lifelines'
     own ``robust=True`` uses Breslow-type residuals and differs from R by ~1e-3 on tied days (measured). For
     comparison, the unadjusted Cox hazard ratio on the complete cases.

Degenerate inputs never raise: an empty arm, separation, no events or no responders give ``status`` /
``reason`` / ``skipped_reason`` in words.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm

from .cox import reference_level
from .results import Result, optional_float
from .risk_sets import SRE
from .shared import shared
from .strata import as_text
from .weighted_outcomes import (
    HazardRatio,
    ResponseComparison,
    WeightedCurve,
    _curve,
    _endpoint_frame,
    response_comparisons,
    weighted_cox,
)

TRIM_LOW, TRIM_HIGH = 0.05, 0.95
MAX_TRIMMED_SHARE = 0.25
MIN_ARM_PATIENTS = 10
MIN_LEVEL_PER_ARM = 5
SMD_THRESHOLD = 0.1
SEPARATION_EPS = 1e-6
SEPARATION_COEF = 15.0
POOLED = "other (pooled)"
NUMERIC_COVARIATES: tuple[str, ...] = ("age", "ecog", "sins_spine", "worst_pain_baseline", "omed_baseline")
CATEGORICAL_COVARIATES: tuple[str, ...] = ("sex", "histology_group", "region", "radiation_sequence")
COVARIATE_LABELS = {
    "age": "Age, years",
    "ecog": "ECOG performance status",
    "sins_spine": "SINS (spine lesions; 0 elsewhere)",
    "worst_pain_baseline": "Baseline BPI worst pain",
    "omed_baseline": "Baseline opioid dose, MME/day",
    "sex": "Sex",
    "histology_group": "Histology group",
    "region": "Region",
    "radiation_sequence": "Radiation sequence",
}
# The primaries that most often metastasise to bone and cause SREs (Coleman, Clin Cancer Res 2006;12:6243s);
# the rest are "other".
HISTOLOGY_GROUPS = ("breast", "lung", "prostate", "renal", "myeloma")
OK, NOT_ESTIMABLE, POOR_OVERLAP, IMBALANCED = "estimated", "not_estimable", "poor_overlap", "balance_not_reached"
METHOD = (
    "IPTW with stabilised weights (Cole & Hernán 2008); propensity score by logistic regression on the pre-specified "
    "baseline covariates, complete cases; trimming of propensity scores outside [0.05, 0.95] (Crump 2009); balance by "
    "standardised mean differences, |d| ≤ 0.1 (Austin 2009); weighted Cox with robust (sandwich) SE"
)


@dataclass(frozen=True)
class Contrast:
    """Treated vs control levels of ``variable`` in the covariate frame."""

    name: str
    label: str
    variable: str
    treated: tuple[str, ...]
    control: tuple[str, ...]
    treated_label: str
    control_label: str


CONTRASTS: dict[str, Contrast] = {
    c.name: c
    for c in (
        Contrast("cement", "Cement vs no augmentation", "augmentation", ("cement",), ("none",), "Cement", "No augmentation"),
        Contrast(
            "radiation_sequence",
            "Radiation before vs after the ablation",
            "radiation_sequence",
            ("before",),
            ("after",),
            "Radiation before",
            "Radiation after",
        ),
        Contrast("modality", "Cryoablation vs heat-based ablation", "modality", ("cryo",), ("RFA", "MWA"), "Cryo", "RFA/MWA"),
        Contrast(
            "intent",
            "Local tumour control vs palliative intent",
            "intent",
            ("local_control",),
            ("palliative",),
            "Local control",
            "Palliative",
        ),
    )
}


# --- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BalanceRow(Result):
    """SMD of one numeric covariate or one level (``"<covariate>=<level>"``) before and after weighting."""

    term: str
    covariate: str
    label: str
    treated_before: float | None
    control_before: float | None
    smd_before: float | None
    treated_after: float | None
    control_after: float | None
    smd_after: float | None
    flagged_before: bool
    flagged_after: bool


@dataclass(frozen=True)
class PropensityTerm(Result):
    term: str
    coefficient: float
    se: float


@dataclass(frozen=True)
class PropensityResult(Result):
    contrast: str
    label: str
    variable: str
    treated_levels: tuple[str, ...]
    control_levels: tuple[str, ...]
    treated_label: str
    control_label: str
    status: str
    reason: str | None
    method: str
    covariates: tuple[str, ...]
    dropped: tuple[str, ...]
    pooled_levels: dict[str, list[str]]
    n_in_contrast: int
    excluded_missing: dict[str, int]
    n_complete: int
    n_treated: int
    n_control: int
    trimming: str
    n_trimmed: int
    n_analysed_treated: int
    n_analysed_control: int
    propensity_model: tuple[PropensityTerm, ...]
    weights: dict[str, float | None]
    balance: tuple[BalanceRow, ...]
    max_smd_after: float | None
    response: tuple[ResponseComparison, ...]
    os_curves: tuple[WeightedCurve, ...]
    sre_curves: tuple[WeightedCurve, ...]
    cox_os: HazardRatio | None
    cox_sre: HazardRatio | None
    unadjusted_cox_os: HazardRatio | None
    unadjusted_cox_sre: HazardRatio | None


# --- covariates ------------------------------------------------------------------------------------


def histology_group(histology: pd.Series) -> pd.Series:
    """``HISTOLOGY_GROUPS`` kept, every other known histology "other", missing stays missing."""
    values = histology.astype(object)
    return values.where(values.isna() | values.isin(HISTOLOGY_GROUPS), "other")


@shared
def covariate_frame(patients: pd.DataFrame, pain: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: study_id, the contrast variables and the covariates (module doc). Shared by a report's
    fit units (one per contrast; analytics.stats.shared): callers must not modify it.

    ``patients`` needs study_id, age, sex, ecog, histology, region, radiation_sequence, augmentation and modality;
    ``intent`` and ``sins_total`` are optional (missing when absent). ``pain`` is the long frame (study_id, visit,
    worst, omed): the baseline row gives ``worst_pain_baseline`` and ``omed_baseline`` (MME/day).
    """
    frame = pd.DataFrame({"study_id": patients["study_id"].astype(str).to_numpy()})
    for column in ("augmentation", "modality", "radiation_sequence", "region", "sex", "intent"):
        values = patients[column].astype(object) if column in patients.columns else pd.Series(None, index=patients.index)
        frame[column] = values.where(values.notna() & (values.astype(str) != ""), None).to_numpy()
    frame["age"] = pd.to_numeric(patients["age"], errors="coerce").astype(float).to_numpy()
    frame["ecog"] = pd.to_numeric(patients["ecog"], errors="coerce").astype(float).to_numpy()
    frame["histology_group"] = histology_group(patients["histology"]).to_numpy()
    sins = patients["sins_total"] if "sins_total" in patients.columns else pd.Series(np.nan, index=patients.index)
    spine = patients["region"].astype(str).eq("spine")
    frame["sins_spine"] = np.where(spine, pd.to_numeric(sins, errors="coerce"), 0.0)
    baseline = pain[as_text(pain["visit"]) == "baseline"].drop_duplicates("study_id").set_index("study_id")
    frame["worst_pain_baseline"] = frame["study_id"].map(baseline["worst"]).astype(float)
    frame["omed_baseline"] = frame["study_id"].map(baseline["omed"]).astype(float)
    return frame


def _pool_levels(values: pd.Series, treated: pd.Series) -> tuple[pd.Series, list[str]]:
    """Pool levels with < MIN_LEVEL_PER_ARM patients in either arm (module doc, step 2)."""

    def sparse(series: pd.Series) -> set[str]:
        table = pd.crosstab(series, treated)
        table = table.reindex(columns=[False, True], fill_value=0)
        return {str(level) for level in table.index[(table < MIN_LEVEL_PER_ARM).any(axis=1)]}

    values = values.astype(str)
    small = sparse(values)
    if not small:
        return values, []
    pooled = values.where(~values.isin(small), POOLED)
    if POOLED in sparse(pooled):
        pooled = pooled.replace(POOLED, reference_level(values[~values.isin(small)]) if (~values.isin(small)).any() else POOLED)
    return pooled, sorted(small)


def _design(frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Intercept, numeric columns and one dummy per non-reference level (``"<covariate>=<level>"``): the n × p
    float64 matrix (filled column by column, no pandas frame or interleaved copy of it: issue 17, worker memory)
    and its column names."""
    names = ["(Intercept)", *numeric]
    dummies = []
    for c in categorical:
        ref = reference_level(frame[c])
        for level in sorted(set(frame[c]) - {ref}):
            names.append(f"{c}={level}")
            dummies.append((c, level))
    design = np.empty((len(frame), len(names)))
    design[:, 0] = 1.0
    for j, c in enumerate(numeric, start=1):
        design[:, j] = frame[c].to_numpy(dtype=float)
    for j, (c, level) in enumerate(dummies, start=1 + len(numeric)):
        design[:, j] = frame[c].to_numpy() == level
    return design, names


def propensity_fit(treated: np.ndarray, design: np.ndarray, names: Sequence[str]):
    """Logistic regression of ``treated`` (0/1, length n) on ``design`` (n × p, intercept first; its columns
    ``names``) → (fitted result, reason or None); the result's ``params`` and ``bse`` are arrays in column order.

    statsmodels ``Logit`` by Newton–Raphson to 1e-12 (the same maximum-likelihood fit as R ``glm(family = binomial)``,
    whose IRLS the oracle runs to 1e-14; 5× faster than statsmodels' GLM IRLS at 24,000 patients, same estimates to
    1e-13). Separation (module doc, step 3) returns a reason.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # check_rank=False: statsmodels' rank check (a QR of a copy of the design, ~3× its size) only sets the
            # degrees of freedom, which no number here uses; a singular design still fails in the Newton step
            model = sm.Logit(treated, design, check_rank=False)
            fit = model.fit(method="newton", tol=1e-12, maxiter=100, disp=0)
        except (ValueError, np.linalg.LinAlgError, ArithmeticError) as error:
            name = type(error).__name__
            if "separation" in str(error).lower() or "Separation" in name:
                return None, "perfect separation in the propensity model: some covariate pattern determines the treatment"
            return None, "the propensity model could not be fitted (covariates that determine each other)"
    text = " ".join(str(w.message) for w in caught).lower()
    p = np.asarray(fit.predict())
    extreme = [name for name, b in zip(names, fit.params, strict=True) if abs(b) > SEPARATION_COEF and name != "(Intercept)"]
    if "separation" in text or np.any((p < SEPARATION_EPS) | (p > 1 - SEPARATION_EPS)) or extreme:
        named = f" ({', '.join(extreme)})" if extreme else ""
        return None, (
            f"perfect or quasi-complete separation in the propensity model{named}: some patients' treatment is "
            "determined by their covariates, so the arms are not comparable"
        )
    if not fit.mle_retvals.get("converged", False):
        return None, "the propensity model did not converge"
    return fit, None


# --- balance ---------------------------------------------------------------------------------------


def weighted_mean_var(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted mean and the unbiased weighted variance Σw/((Σw)² − Σw²)·Σw(x − x̄)² (Austin & Stuart 2015)."""
    total = w.sum()
    mean = float((w * x).sum() / total)
    denominator = total**2 - (w**2).sum()
    var = float(total / denominator * (w * (x - mean) ** 2).sum()) if denominator > 0 else 0.0
    return mean, var


def smd(x: np.ndarray, treated: np.ndarray, w: np.ndarray | None = None, *, binary: bool = False) -> tuple[float | None, ...]:
    """(mean treated, mean control, standardised difference) — Austin 2009 (module doc, step 6)."""
    w = np.ones(len(x)) if w is None else w
    t, c = treated == 1, treated == 0
    if t.sum() == 0 or c.sum() == 0:
        return None, None, None
    m1, v1 = weighted_mean_var(x[t], w[t])
    m0, v0 = weighted_mean_var(x[c], w[c])
    if binary:
        v1, v0 = m1 * (1 - m1), m0 * (1 - m0)
    pooled = math.sqrt((v1 + v0) / 2)
    if pooled == 0:
        return m1, m0, 0.0 if m1 == m0 else None
    return m1, m0, (m1 - m0) / pooled


def balance_table(
    before: pd.DataFrame, after: pd.DataFrame, weights: np.ndarray, numeric: Sequence[str], categorical: Sequence[str]
) -> tuple[BalanceRow, ...]:
    """SMD rows before (unweighted, ``before``) and after weighting (``after`` with ``weights``)."""
    rows = []
    terms: list[tuple[str, str, str, bool, str | None]] = [(c, c, COVARIATE_LABELS[c], False, None) for c in numeric]
    for c in categorical:
        for value in sorted(set(before[c].astype(str))):
            terms.append((f"{c}={value}", c, f"{COVARIATE_LABELS[c]}: {value}", True, value))
    for term, covariate, label, binary, level in terms:

        def values(frame: pd.DataFrame, covariate=covariate, binary=binary, level=level) -> np.ndarray:
            column = frame[covariate]
            return (column.astype(str) == level).to_numpy(dtype=float) if binary else column.to_numpy(dtype=float)

        t1, c1, d1 = smd(values(before), before["treated"].to_numpy(), binary=binary)
        t2, c2, d2 = smd(values(after), after["treated"].to_numpy(), weights, binary=binary)
        rows.append(
            BalanceRow(
                term,
                covariate,
                label,
                optional_float(t1),
                optional_float(c1),
                optional_float(d1),
                optional_float(t2),
                optional_float(c2),
                optional_float(d2),
                d1 is not None and abs(d1) > SMD_THRESHOLD,
                d2 is None or abs(d2) > SMD_THRESHOLD,
            )
        )
    return tuple(rows)


# --- the analysis ----------------------------------------------------------------------------------


def _result(contrast: Contrast, status: str, reason: str | None, **fields) -> PropensityResult:
    defaults: dict[str, Any] = {
        "method": METHOD,
        "covariates": (),
        "dropped": (),
        "pooled_levels": {},
        "n_in_contrast": 0,
        "excluded_missing": {},
        "n_complete": 0,
        "n_treated": 0,
        "n_control": 0,
        "trimming": f"propensity score outside [{TRIM_LOW}, {TRIM_HIGH}] excluded (Crump et al. 2009)",
        "n_trimmed": 0,
        "n_analysed_treated": 0,
        "n_analysed_control": 0,
        "propensity_model": (),
        "weights": {},
        "balance": (),
        "max_smd_after": None,
        "response": (),
        "os_curves": (),
        "sre_curves": (),
        "cox_os": None,
        "cox_sre": None,
        "unadjusted_cox_os": None,
        "unadjusted_cox_sre": None,
    }
    defaults.update(fields)
    return PropensityResult(
        contrast=contrast.name,
        label=contrast.label,
        variable=contrast.variable,
        treated_levels=contrast.treated,
        control_levels=contrast.control,
        treated_label=contrast.treated_label,
        control_label=contrast.control_label,
        status=status,
        reason=reason,
        **defaults,
    )


def _weights_summary(analysed: pd.DataFrame) -> dict[str, float | None]:
    summary: dict[str, float | None] = {}
    for arm, t in (("treated", 1), ("control", 0)):
        w = analysed.loc[analysed["treated"] == t, "w"].to_numpy(dtype=float)
        summary[f"{arm}_mean"] = optional_float(w.mean()) if len(w) else None
        summary[f"{arm}_max"] = optional_float(w.max()) if len(w) else None
        summary[f"{arm}_ess"] = optional_float(w.sum() ** 2 / (w**2).sum()) if len(w) else None  # Kish
    summary["min"] = optional_float(analysed["w"].min()) if len(analysed) else None
    summary["max"] = optional_float(analysed["w"].max()) if len(analysed) else None
    return summary


@dataclass
class Weighting:
    """Steps 1–6 of one contrast: ``complete`` (complete cases with ``treated`` 0/1 and, once fitted, ``ps``),
    ``design`` (the propensity model's n × p design matrix, intercept first; its columns ``design_names``),
    ``analysed`` (the trimmed patients with their stabilised weight ``w``), the result fields so far (``fields``)
    and, when it stops early, ``status`` and ``reason``."""

    contrast: Contrast
    fields: dict
    complete: pd.DataFrame | None = None
    design: np.ndarray | None = None
    design_names: tuple[str, ...] = ()
    analysed: pd.DataFrame | None = None
    status: str = OK
    reason: str | None = None

    def stop(self, status: str, reason: str | None) -> Weighting:
        self.status, self.reason = status, reason
        return self


def propensity_weighting(covariates: pd.DataFrame, contrast: Contrast | str) -> Weighting:
    """Contrast, covariates, propensity model, trimming, stabilised weights and balance (module doc, steps 1–6).

    Raises KeyError only for an unknown contrast name."""
    contrast = CONTRASTS[contrast] if isinstance(contrast, str) else contrast
    state = Weighting(contrast, {})
    if contrast.variable not in covariates.columns:
        return state.stop(NOT_ESTIMABLE, f"{contrast.variable} is not recorded")
    in_contrast = covariates[contrast.variable].astype(object).isin(contrast.treated + contrast.control).to_numpy()
    numeric = [c for c in NUMERIC_COVARIATES if c != contrast.variable]
    categorical = [c for c in CATEGORICAL_COVARIATES if c != contrast.variable]
    wanted = numeric + categorical
    missing = {c: in_contrast & covariates[c].isna().to_numpy() for c in wanted}
    rows = np.flatnonzero(in_contrast & ~np.logical_or.reduce(list(missing.values())))
    complete = covariates.take(rows)  # the complete cases: the only copy of the covariates (issue 17, worker memory)
    complete.index = pd.RangeIndex(len(complete))
    complete["treated"] = complete[contrast.variable].isin(contrast.treated).astype(int)
    counts = state.fields
    counts.update(
        n_in_contrast=int(in_contrast.sum()),
        excluded_missing={c: int(m.sum()) for c, m in missing.items() if m.any()},
        n_complete=len(complete),
        n_treated=int(complete["treated"].sum()),
        n_control=int((1 - complete["treated"]).sum()),
    )
    for arm, n in ((contrast.treated_label, counts["n_treated"]), (contrast.control_label, counts["n_control"])):
        if n < MIN_ARM_PATIENTS:
            return state.stop(
                NOT_ESTIMABLE, f"{n} patient(s) in the {arm} arm with complete covariates (at least {MIN_ARM_PATIENTS} needed)"
            )
    treated = complete["treated"].astype(bool)
    pooled_levels, dropped = {}, []
    for c in categorical:
        complete[c], pooled = _pool_levels(complete[c], treated)
        if pooled:
            pooled_levels[c] = pooled
        if complete[c].nunique() < 2:
            dropped.append(c)
    dropped += [c for c in numeric if complete[c].nunique() < 2]
    numeric = [c for c in numeric if c not in dropped]
    categorical = [c for c in categorical if c not in dropped]
    counts.update(covariates=tuple(numeric + categorical), dropped=tuple(dropped), pooled_levels=pooled_levels)
    state.complete = complete
    state.design, names = _design(complete, numeric, categorical)
    state.design_names = tuple(names)
    fit, reason = propensity_fit(complete["treated"].to_numpy(dtype=float), state.design, names)
    if fit is None:
        return state.stop(NOT_ESTIMABLE, reason)
    counts["propensity_model"] = tuple(
        PropensityTerm(name, float(b), float(se)) for name, b, se in zip(names, fit.params, fit.bse, strict=True)
    )
    complete["ps"] = np.asarray(fit.predict())
    inside = complete["ps"].between(TRIM_LOW, TRIM_HIGH)
    analysed = complete.take(np.flatnonzero(inside))
    share = analysed["treated"].mean() if len(analysed) else 0.0
    analysed["w"] = np.where(analysed["treated"] == 1, share / analysed["ps"], (1 - share) / (1 - analysed["ps"]))
    state.analysed = analysed
    counts.update(
        n_trimmed=int((~inside).sum()),
        n_analysed_treated=int(analysed["treated"].sum()),
        n_analysed_control=int((1 - analysed["treated"]).sum()),
        weights=_weights_summary(analysed),
    )
    trimmed_share = counts["n_trimmed"] / len(complete)
    if trimmed_share > MAX_TRIMMED_SHARE or min(counts["n_analysed_treated"], counts["n_analysed_control"]) < MIN_ARM_PATIENTS:
        return state.stop(
            POOR_OVERLAP,
            f"poor overlap: {counts['n_trimmed']} of {len(complete)} patients ({trimmed_share:.0%}) have a propensity score "
            f"outside [{TRIM_LOW}, {TRIM_HIGH}], leaving {counts['n_analysed_treated']} {contrast.treated_label} and "
            f"{counts['n_analysed_control']} {contrast.control_label} (limits: at most {MAX_TRIMMED_SHARE:.0%} trimmed, "
            f"at least {MIN_ARM_PATIENTS} per arm)",
        )
    balance = balance_table(complete, analysed, analysed["w"].to_numpy(dtype=float), numeric, categorical)
    after = [abs(r.smd_after) for r in balance if r.smd_after is not None]
    counts.update(balance=balance, max_smd_after=max(after) if after else None)
    unbalanced = [r.label for r in balance if r.flagged_after]
    if unbalanced:
        return state.stop(
            IMBALANCED,
            f"balance not reached after weighting: |SMD| > {SMD_THRESHOLD} for {', '.join(unbalanced)}; "
            "no adjusted estimate is shown",
        )
    return state


def propensity_analysis(
    covariates: pd.DataFrame,
    adtte: pd.DataFrame,
    adresp: pd.DataFrame,
    contrast: Contrast | str,
    *,
    visits: Sequence[str] = (),
) -> PropensityResult:
    """The whole IPTW comparison of ``contrast`` (module doc, steps 1–7).

    ``covariates`` is :func:`covariate_frame`'s output; ``adtte`` one row per patient (study_id, os_days, os_event,
    sre_days, sre_event: 1 SRE, 2 death without SRE, 0 censored); ``adresp`` one row per patient × visit (study_id,
    visit, response). Raises KeyError only for an unknown contrast name.
    """
    state = propensity_weighting(covariates, contrast)
    contrast, counts = state.contrast, state.fields
    if state.status != OK:
        return _result(contrast, state.status, state.reason, **counts)
    complete, analysed = state.complete, state.analysed
    assert complete is not None and analysed is not None  # set whenever the weighting succeeded
    # Only these columns are read from here on: the covariates, the design matrix and their copies are let go before
    # the outcome fits (issue 17, worker memory).
    unweighted = complete[["study_id", "treated"]].assign(w=1.0)
    analysed = analysed[["study_id", "treated", "w"]]
    state.complete = state.design = state.analysed = None
    del complete
    labels = (contrast.treated_label, contrast.control_label)
    outcome: dict[str, object] = {"response": response_comparisons(analysed, adresp, visits)}
    for endpoint, cause in (("os", None), ("sre", SRE)):
        ends = _endpoint_frame(analysed, adtte, endpoint)
        everyone = _endpoint_frame(unweighted, adtte, endpoint)
        arms = ((contrast.treated_label, ends["treated"] == 1), (contrast.control_label, ends["treated"] == 0))
        outcome[f"{endpoint}_curves"] = tuple(
            _curve(
                arm, ends.loc[rows, "time"].to_numpy(), ends.loc[rows, "status"].to_numpy(), ends.loc[rows, "w"].to_numpy(), cause
            )
            for arm, rows in arms
        )
        outcome[f"cox_{endpoint}"] = weighted_cox(ends, endpoint, labels=labels)
        outcome[f"unadjusted_cox_{endpoint}"] = weighted_cox(everyone, endpoint, weighted=False, labels=labels)
    return _result(contrast, OK, None, **counts, **outcome)


def propensity_analyses(
    covariates: pd.DataFrame,
    adtte: pd.DataFrame,
    adresp: pd.DataFrame,
    *,
    contrasts: Sequence[str] = tuple(CONTRASTS),
    visits: Sequence[str] = (),
) -> tuple[PropensityResult, ...]:
    """:func:`propensity_analysis` for each named contrast."""
    return tuple(propensity_analysis(covariates, adtte, adresp, name, visits=visits) for name in contrasts)
