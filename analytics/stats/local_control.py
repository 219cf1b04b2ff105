"""Local tumour control after ablation (issue 10 part B; docs/domain.md §12): technical success per lesion and the
cumulative incidence of local tumour progression (LTP) per patient, death competing.

Terms: Ahmed et al., Image-guided tumor ablation: standardization of terminology and reporting criteria — a
10-year update, Radiology 2014;273:241–260. Input frames: ``lesion_control`` and ``adltp`` of
``analytics.local_control`` (contracts there).

- **Technical success rate**: lesions with no viable tumour on the first post-procedure imaging over the lesions
  whose first imaging was evaluable (none or present), with its exact Clopper–Pearson 95% CI (as R
  ``binom.test``; ``analytics.stats.complications.clopper_pearson``). The lesions whose first imaging was not
  evaluable and those without a first post-procedure imaging are counted beside it, never dropped silently.
- **LTP analysis population**: LTP is defined only after a follow-up study documented complete ablation (Ahmed
  2014), so the LTP curve of a stratum is estimated on its patients with complete ablation at the first
  follow-up imaging (``adltp.ltp_population``); the others are counted per reason in ``excluded`` (residual
  tumour, first imaging not evaluable, no first imaging marked, no follow-up imaging), never dropped silently.
- **Technique efficacy** (per patient, the gate of that population): patients with complete ablation at the first
  follow-up imaging over the imaged patients, with its exact Clopper–Pearson 95% CI.
- **LTP cumulative incidence**: Aalen–Johansen with death without LTP competing, the same estimator, exact-ties
  risk sets, variance (Gray's ``cmprsk::cuminc``) and log-log CI as the SRE cumulative incidence
  (``analytics.stats.competing_risks.aalen_johansen_curve``), at 3, 6 and 12 months (days 90, 180, 365). Day 0 is
  the index procedure; without LTP, death competes at its date, otherwise censored at the last imaging.
- **Populations**: ``all`` and the ``guidance=``/``modality=`` strata are the treated patients whose index
  procedure had local tumour control intent (the primary population); the ``intent=`` strata are all treated
  patients by intent.
- **Not estimable** (a reason instead of numbers, never an exception): a stratum without patients, without any
  imaging follow-up, (LTP) without a patient with complete ablation at the first follow-up imaging or without any
  LTP event in them; (technical success) without an evaluable first imaging.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import pandas as pd

from .competing_risks import aalen_johansen_curve
from .complications import CI_METHOD, clopper_pearson
from .results import CurvePoint, Result, SurvivalCurve, ratio
from .risk_sets import LANDMARK_DAYS
from .strata import ALL, iter_strata

LTP_CAUSE = 1
# Why a treated patient is outside the LTP analysis population (analytics.local_control: ``ltp_exclusion``).
LTP_EXCLUSIONS = ("residual_tumour", "first_imaging_not_evaluable", "no_first_imaging_marked", "no_follow_up_imaging")
LOCAL_CONTROL = "local_control"
LTP_LANDMARK_DAYS: tuple[int, ...] = LANDMARK_DAYS[1:]  # months 3, 6, 12 (docs/domain.md §2)
PRIMARY_STRATA = ("guidance", "modality")
LTP_LABEL = "Cumulative incidence of local tumour progression, Aalen–Johansen with death as a competing risk"
TECHNICAL_SUCCESS_DEFINITION = (
    "complete ablation (no viable tumour in or at the edge of the ablation zone) on the first post-procedure imaging, "
    "over lesions whose first imaging was evaluable (Ahmed et al., Radiology 2014;273:241)"
)
LTP_DEFINITION = (
    "tumour foci at the edge of the ablation zone after at least one follow-up imaging study documented complete "
    "ablation (Ahmed et al., Radiology 2014;273:241); analysed in the patients with complete ablation at the first "
    "follow-up imaging (technique efficacy), the others (residual unablated tumour, first imaging not evaluable or not "
    "marked, never imaged) counted and excluded; time from the index procedure (day 0) to the first LTP of any treated "
    "lesion; death without LTP competing at its date; otherwise censored at the last imaging. LTP is seen only on "
    "imaging, so it is dated at the imaging that found it and an LTP after the last imaging of a patient who then died "
    "is counted as death without LTP (LTP underestimated, deaths overestimated); and only patients who reached the "
    "first follow-up imaging are analysed, so neither LTP nor death can precede it (immortal time from day 0)"
)
PRIMARY_POPULATION = "treated patients whose index procedure had local tumour control intent"
INTENT_POPULATION = "all treated patients, by procedure intent"


@dataclass(frozen=True)
class TechnicalSuccessRate(Result):
    """Technical success of the lesions of one stratum (counts per first finding; the rate over evaluable lesions)."""

    stratum: str
    population: str
    n_patients: int
    n_lesions: int
    success: int
    residual_tumour: int
    not_evaluable: int
    no_first_imaging: int
    evaluable: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: str = CI_METHOD
    skipped_reason: str | None = None


@dataclass(frozen=True)
class LtpCurve(Result):
    """The LTP cumulative incidence of one stratum: the Aalen–Johansen curve on its LTP analysis population
    (``curve.n`` patients), the stratum's treated patients (``n_patients``), the imaged ones, the excluded ones
    per reason (LTP_EXCLUSIONS, every key present) and technique efficacy (``complete_ablation`` / ``imaged``)."""

    stratum: str
    population: str
    n_patients: int
    imaged: int
    complete_ablation: int
    technique_efficacy: float | None
    technique_efficacy_ci_low: float | None
    technique_efficacy_ci_high: float | None
    excluded: dict[str, int]
    curve: SurvivalCurve


@dataclass(frozen=True)
class LocalTumourControl(Result):
    population: str
    technical_success_definition: str
    ltp_definition: str
    technical_success: tuple[TechnicalSuccessRate, ...]
    ltp: tuple[LtpCurve, ...]


def ltc_strata(frame: pd.DataFrame) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """(stratum, population, rows): ``all`` and the guidance/modality levels of the local-control-intent rows,
    then the intent levels of every row (module docstring)."""
    primary = frame[frame["intent"] == LOCAL_CONTROL] if "intent" in frame.columns else frame.iloc[:0]
    for stratum, rows in iter_strata(primary, PRIMARY_STRATA):
        yield stratum, PRIMARY_POPULATION, rows
    for stratum, rows in iter_strata(frame, ("intent",)):
        if stratum != ALL:
            yield stratum, INTENT_POPULATION, rows


def technical_success_rate(lesions: pd.DataFrame, *, stratum: str = ALL, population: str = "") -> TechnicalSuccessRate:
    """Counts of the first findings and the technical success rate with its exact 95% CI (module docstring)."""
    finding = lesions["first_finding"].astype(object)
    success, residual = int((finding == "none").sum()), int((finding == "present").sum())
    evaluable = success + residual
    low, high = clopper_pearson(success, evaluable)
    reason = None
    if lesions.empty:
        reason = "not estimable: no treated lesion in this stratum"
    elif not evaluable:
        reason = "not estimable: no lesion with an evaluable first post-procedure imaging"
    return TechnicalSuccessRate(
        stratum=stratum,
        population=population,
        n_patients=int(lesions["study_id"].nunique()),
        n_lesions=len(lesions),
        success=success,
        residual_tumour=residual,
        not_evaluable=int((finding == "not_evaluable").sum()),
        no_first_imaging=int((finding == "no_first_imaging").sum()),
        evaluable=evaluable,
        rate=ratio(success, evaluable),
        ci_low=low,
        ci_high=high,
        skipped_reason=reason,
    )


def _not_estimable(curve: SurvivalCurve, reason: str) -> SurvivalCurve:
    """The curve with no estimate (at-risk counts kept) and the reason."""
    landmarks = tuple(CurvePoint(p.day, None, None, None, p.at_risk) for p in curve.landmarks)
    return replace(curve, points=(), landmarks=landmarks, skipped_reason=reason)


def ltp_cumulative_incidence(
    adltp: pd.DataFrame, *, stratum: str = ALL, population: str = "", landmarks: Sequence[float] = LTP_LANDMARK_DAYS
) -> LtpCurve:
    """Aalen–Johansen cumulative incidence of first LTP, death without LTP competing, on the rows of ``adltp`` in
    the LTP analysis population (``ltp_population``); the other rows counted by ``ltp_exclusion`` (module
    docstring)."""
    analysed = adltp[adltp["ltp_population"].astype(bool)]
    curve = aalen_johansen_curve(
        analysed["ltp_days"].to_numpy(),
        analysed["ltp_event"].to_numpy(),
        cause=LTP_CAUSE,
        stratum=stratum,
        endpoint="ltp",
        label=LTP_LABEL,
        landmarks=landmarks,
    )
    imaged, complete = int(adltp["imaged"].astype(bool).sum()), len(analysed)
    reasons = adltp.loc[~adltp["ltp_population"].astype(bool), "ltp_exclusion"].astype(object)
    excluded = {reason: int((reasons == reason).sum()) for reason in LTP_EXCLUSIONS}
    if adltp.empty:
        curve = _not_estimable(curve, "not estimable: no patients in this stratum")
    elif not imaged:
        curve = _not_estimable(curve, "not estimable: no imaging follow-up recorded in this stratum")
    elif not complete:
        curve = _not_estimable(
            curve, f"not estimable: no patient with complete ablation at the first follow-up imaging ({imaged} imaged)"
        )
    elif not curve.events:
        curve = _not_estimable(
            curve, f"not estimable: no local tumour progression observed ({complete} patients with complete ablation)"
        )
    low, high = clopper_pearson(complete, imaged)
    return LtpCurve(
        stratum=stratum,
        population=population,
        n_patients=len(adltp),
        imaged=imaged,
        complete_ablation=complete,
        technique_efficacy=ratio(complete, imaged),
        technique_efficacy_ci_low=low,
        technique_efficacy_ci_high=high,
        excluded=excluded,
        curve=curve,
    )


def local_tumour_control(lesions: pd.DataFrame, adltp: pd.DataFrame) -> LocalTumourControl:
    """Technical success and LTP cumulative incidence for every stratum of :func:`ltc_strata`."""
    return LocalTumourControl(
        population=PRIMARY_POPULATION,
        technical_success_definition=TECHNICAL_SUCCESS_DEFINITION,
        ltp_definition=LTP_DEFINITION,
        technical_success=tuple(
            technical_success_rate(rows, stratum=key, population=population) for key, population, rows in ltc_strata(lesions)
        ),
        ltp=tuple(
            ltp_cumulative_incidence(rows, stratum=key, population=population) for key, population, rows in ltc_strata(adltp)
        ),
    )
