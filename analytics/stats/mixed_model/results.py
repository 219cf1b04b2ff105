"""The mixed model's results and their labels (analytics.stats.mixed_model; docs/analytics-methods.md "Exploratory
analyses"): the endpoints, the result records as result.json carries them, and the record of a model not fitted."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy import stats as scipy_stats

from trials.domain.schedule import VISITS_BY_CODE

from ..results import Result
from ..strata import ALL

# endpoint column of the pain long frame → its label (docs/domain.md §3 and §5)
ENDPOINTS: dict[str, str] = {
    "worst": "worst pain (BPI item 3, 0-10)",
    "interference": "BPI pain interference (mean of the answered items, 0-10)",
    "omed": "oral morphine equivalent daily dose (MME/day)",
}
PRIMARY_ENDPOINT = "worst"
CONFIDENCE = 0.95
Z = float(scipy_stats.norm.ppf(0.5 + CONFIDENCE / 2))  # 1.959964
FIT_METHOD = "REML, random intercept per patient (profiled over tau^2/sigma^2; as statsmodels MixedLM and nlme::lme)"
DEATH_TRUNCATION = (
    "Deaths truncate follow-up: no values after death, none imputed (records dated after the day of death are excluded)."
)
INTERCEPT, BASELINE_TERM = "(Intercept)", "baseline"


@dataclass(frozen=True)
class FixedEffect(Result):
    """One fixed-effect coefficient, named as R's ``lme`` names it (e.g. ``visitweek1:modalityRFA``)."""

    term: str
    estimate: float | None
    se: float | None


@dataclass(frozen=True)
class ModelMean(Result):
    """Model-based mean change from baseline at one visit and stratum level (level "all" = unstratified)."""

    visit: str
    level: str
    n_observations: int
    estimate: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class ModelDifference(Result):
    """Difference in model-based mean change, ``level`` minus ``reference``, at one visit."""

    visit: str
    level: str
    reference: str
    estimate: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None


@dataclass(frozen=True)
class MixedModelResult(Result):
    """One fitted model (module docstring). ``skipped_reason`` set ⇒ no estimates, only the reason."""

    endpoint: str
    endpoint_label: str
    variable: str  # stratification variable, or "all" (unstratified)
    formula: str
    method: str
    reference_visit: str | None
    reference_level: str | None
    levels: tuple[str, ...]
    visits: tuple[str, ...]
    n_patients: int
    n_observations: int
    baseline_mean: float | None
    converged: bool | None
    random_intercept_variance: float | None
    residual_variance: float | None
    fixed_effects: tuple[FixedEffect, ...]
    means: tuple[ModelMean, ...]
    differences: tuple[ModelDifference, ...]
    notes: tuple[str, ...] = ()
    skipped_reason: str | None = None


def _words(variable: str) -> str:
    """A column name as words for a note ("radiation_sequence" → "radiation sequence")."""
    return variable.replace("_", " ")


def _visit_words(visit: str) -> str:
    return VISITS_BY_CODE[visit].label if visit in VISITS_BY_CODE else visit


def _formula(variable: str) -> str:
    if variable == ALL:
        return "change ~ visit + baseline + (1 | patient)"
    return f"change ~ visit * {variable} + baseline + (1 | patient)"


def _header(endpoint: str, variable: str) -> dict[str, str]:
    return {
        "endpoint": endpoint,
        "endpoint_label": ENDPOINTS.get(endpoint, endpoint),
        "variable": variable,
        "formula": _formula(variable),
        "method": FIT_METHOD,
    }


def _skipped(endpoint: str, variable: str, reason: str, *, rows: pd.DataFrame | None = None, notes=()) -> MixedModelResult:
    rows = rows if rows is not None else pd.DataFrame(columns=["study_id"])
    return MixedModelResult(
        **_header(endpoint, variable),
        reference_visit=None,
        reference_level=None,
        levels=(),
        visits=(),
        n_patients=int(rows["study_id"].nunique()),
        n_observations=len(rows),
        baseline_mean=None,
        converged=None,
        random_intercept_variance=None,
        residual_variance=None,
        fixed_effects=(),
        means=(),
        differences=(),
        notes=tuple(notes),
        skipped_reason=reason,
    )
