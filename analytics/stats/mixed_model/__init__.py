"""Repeated-measures model of pain (issue 16 item 1; docs/analytics-methods.md "Exploratory analyses").

A linear mixed model (Laird & Ware, Biometrics 1982;38:963; Fitzmaurice, Laird & Ware, *Applied
Longitudinal Analysis*, 2nd ed., Wiley 2011, ch. 8) of the **change from baseline** of one pain
endpoint at every follow-up visit, using every patient's available visits::

    change_ij = β0 + visit_j + baseline_i + stratum_i + visit_j × stratum_i + b_i + e_ij,
    b_i ~ N(0, τ²) (random intercept per patient), e_ij ~ N(0, σ²),

with visit and stratum as categorical fixed effects (treatment coding: the first follow-up visit of
the schedule and the first stratum level in sorted order are the references), the baseline value as a
continuous covariate, fitted by REML: the model of ``statsmodels`` ``MixedLM(...).fit(reml=True)`` and
``nlme::lme(change ~ visit * stratum + baseline, random = ~ 1 | study_id, method = "REML")``, whose
estimates ``reml_fit`` reproduces (tests check both to 1e-4 or better) from per-patient sums: MixedLM
loops over patients in Python and took ~2 s per model on the 150-patient demo registry (18 models
per report); ``reml_fit`` works on sums per distinct visit count and takes milliseconds there.
Without a stratification variable the model is ``change ~ visit + baseline``. MOTION's primary
endpoint (cryoablation; Jennings et al., Radiol Imaging Cancer 2021;3:e200101: adjusted change in
worst pain at week 8, −2.61, 95% CI −3.45 to −1.78) is the context for the primary endpoint, worst
pain (BPI item 3, 0–10); BPI interference (0–10) and OMED (MME/day) are secondary endpoints.

**Model-based mean change** at each visit and stratum level is the contrast L·β evaluated at the mean
baseline value of the patients in the model; its variance is L·V·Lᵀ with V the REML covariance of the
fixed effects; the 95% CI is L·β ± 1.959964·√(L·V·Lᵀ) (Wald, normal quantile, as statsmodels reports
fixed effects). V is (Σ_i X_iᵀ V_i⁻¹ X_i)⁻¹ at the REML variance estimates, as ``vcov`` of ``nlme::lme``
(statsmodels' inverse Hessian differs from it in the fifth decimal). The **stratum difference** at a
visit is the difference of two such contrasts (level
minus the reference level), with its Wald CI and two-sided p value.

Data rules: a patient enters with a baseline value and at least one follow-up value of the endpoint;
rows with a missing stratum value are left out of that stratum's model (they are in the unstratified
one). **Deaths truncate follow-up**: no values exist after death, none are imputed, and a record at a
visit whose target day is after the recorded day of death (adtte ``os_days``, ``os_event`` = 1) is
excluded; the model assumes those missing values are missing at random given the observed ones.

Never raises on degenerate data: one patient, a stratum level or visit without data, a singular
design, a failed or non-converged fit each give a result with ``skipped_reason`` (no estimates) or a
``note`` (a visit or level left out). Malformed input (missing columns) raises ValueError.
"""

from ..reml import RemlFit, reml_fit
from ..strata import ALL
from .fit import _design, mixed_model_fit, mixed_models
from .results import (
    CONFIDENCE,
    DEATH_TRUNCATION,
    ENDPOINTS,
    FIT_METHOD,
    PRIMARY_ENDPOINT,
    FixedEffect,
    MixedModelResult,
    ModelDifference,
    ModelMean,
)
from .rows import BASELINE, death_days, mixed_model_frame, patient_codes

__all__ = [
    "ALL",
    "BASELINE",
    "CONFIDENCE",
    "DEATH_TRUNCATION",
    "ENDPOINTS",
    "FIT_METHOD",
    "PRIMARY_ENDPOINT",
    "FixedEffect",
    "MixedModelResult",
    "ModelDifference",
    "ModelMean",
    "RemlFit",
    "_design",
    "death_days",
    "mixed_model_fit",
    "mixed_model_frame",
    "mixed_models",
    "patient_codes",
    "reml_fit",
]
