"""Time to first pain response and its durability (issue 16 item 3; docs/analytics-methods.md).

Definitions (response categories: International Consensus on Palliative Radiotherapy Endpoints,
Chow et al., IJROBP 2012;82:1730, with the registry conventions of docs/domain.md §4 as coded in
``analytics.stats.response``; responders are CR + PR):

- **Time origin**: the index procedure, day 0 (docs/domain.md §2).
- **Time of a visit**: the visit's scheduled target day (docs/domain.md §2: day 3, week 1 = 7,
  month 1 = 30, month 3 = 90, month 6 = 180, month 12 = 365), so "responding by day 3" means
  "responding at the day-3 visit", as OPuS One and the seed interview state it; every patient
  assessed at a visit shares its day (exact ties).
- **Event (cause 1)**: the first follow-up visit classed CR or PR; time = that visit's day.
- **Competing event (cause 2)**: death (adtte ``os_event`` = 1) of a patient who never responded;
  time = ``os_days``.
- **Censored (0)**: a living non-responder, at the day of their last evaluable visit (CR, PR, PD
  or indeterminate); day 0 when they have none.

Cumulative incidence of first response is the Aalen–Johansen estimator with the exact-ties
handling and the ``cmprsk::cuminc`` delta-method variance / log-log CI already used for SRE
(``analytics.stats.competing_risks``; Aalen & Johansen, Scand J Stat 1978;5:141; Gray, Ann Stat
1988;16:1141). The **median time to response** is the first day the CIF reaches 0.5 (None, "not
reached", otherwise; with death competing the CIF may never reach 0.5). Proportions responding
**by day 3, week 1 and month 1** are the CIF at days 3, 7 and 30.

**Durability**: among the stratum's responders, at each later scheduled visit (target day after
the patient's first response), the number assessed (evaluable there) and the number still CR or
PR; the proportion is still-responding / assessed. Responders without an evaluable record at a
visit are not counted in it (no imputation).

Never raises on degenerate data: an empty stratum, one patient or no responders give a result
whose ``note`` says why numbers are missing or zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trials.domain.schedule import VISIT_CODES, VISITS_BY_CODE

from .competing_risks import aalen_johansen_curve
from .response import NOT_EVALUABLE, RESPONDERS, follow_up_responses
from .results import Result, SurvivalCurve, ratio
from .shared import shared
from .strata import STRATA_VARIABLES, as_text, iter_strata, require_columns

RESPONSE, DEATH_BEFORE_RESPONSE, CENSORED = 1, 2, 0
# Days 3, 7, 30: the target days of the day-3, week-1 and month-1 visits (docs/domain.md §2).
RESPONSE_LANDMARK_VISITS: tuple[str, ...] = ("day3", "week1", "month1")
RESPONSE_LANDMARK_DAYS: tuple[int, ...] = tuple(VISITS_BY_CODE[v].target_day for v in RESPONSE_LANDMARK_VISITS)
TTR_LABEL = "Cumulative incidence of first pain response (CR or PR), Aalen–Johansen with death as a competing risk"
NO_PATIENTS = "no patients in this stratum"
NO_RESPONDERS = "no patient had a pain response (CR or PR) at any follow-up visit"


@dataclass(frozen=True)
class DurabilityAtVisit(Result):
    """At one visit after their first response: responders assessed there and those still CR/PR."""

    visit: str
    day: int
    assessed: int
    still_responding: int
    proportion: float | None


@dataclass(frozen=True)
class TimeToResponse(Result):
    """Time to first pain response in one stratum (module docstring for the definitions).

    ``curve`` is the Aalen–Johansen CIF (days from day 0; ``landmarks`` at days 3, 7, 30);
    ``median_days`` is None when the CIF never reaches 0.5 (``median_reached`` False)."""

    stratum: str
    n: int
    responders: int
    deaths_before_response: int
    censored: int
    median_days: float | None
    median_reached: bool
    curve: SurvivalCurve
    durability: tuple[DurabilityAtVisit, ...]
    note: str | None = None


def _visit_day(visits: pd.Series) -> np.ndarray:
    """Target day of each visit code (NaN for a code outside the schedule)."""
    return (
        visits.astype(object).map(lambda v: VISITS_BY_CODE[v].target_day if v in VISITS_BY_CODE else np.nan).to_numpy(dtype=float)
    )


@dataclass(frozen=True)
class ResponseDays:
    """Each patient's pain-response days, from adresp's follow-up rows (stratum-free: a stratum is a set of patients).

    ``first``: study_id → target day of the first CR/PR (responders only); ``last``: study_id → target day of the
    last evaluable visit; ``later``: the evaluable visits of responders after their first response — study_id,
    visit, ``still`` (CR/PR there) — for the durability table."""

    first: pd.Series
    last: pd.Series
    later: pd.DataFrame


@shared
def response_days(adresp: pd.DataFrame) -> ResponseDays:
    """:class:`ResponseDays` of ``adresp`` (columns as :func:`time_to_response`), computed once per report and shared
    by its strata and fit units (analytics.stats.shared; issue 17: each stratum used to classify and copy adresp
    again — 180 MB at 100,000 patients). The caller must not modify it."""
    if (as_text(adresp["visit"]) != VISIT_CODES[0]).any():
        frame = follow_up_responses(adresp)
    else:  # no follow-up rows: nothing to classify (and no copy of adresp to find that out)
        frame = adresp.iloc[:0][["study_id", "visit"]].assign(response=pd.Series(dtype=object))
    days = pd.Series(_visit_day(frame["visit"]), index=frame.index)
    study = as_text(frame["study_id"])
    responded = frame["response"].isin(RESPONDERS) & days.notna()
    evaluable = (frame["response"] != NOT_EVALUABLE) & days.notna()
    first = days[responded].groupby(study[responded]).min()
    last = days[evaluable].groupby(study[evaluable]).max()
    after = (frame["response"] != NOT_EVALUABLE) & (days > study.map(first))  # NaN (non-responder, no day): False
    later = pd.DataFrame(
        {
            "study_id": study[after].to_numpy(),
            "visit": as_text(frame.loc[after, "visit"]).to_numpy(),
            "still": frame.loc[after, "response"].isin(RESPONDERS).to_numpy(),
        }
    )
    return ResponseDays(first, last, later)


def response_time_status(adresp: pd.DataFrame, adtte: pd.DataFrame) -> pd.DataFrame:
    """One row per adtte patient: study_id, ``ttr_days``, ``ttr_event`` (1 response, 2 death before
    response, 0 censored at the last evaluable visit) and ``first_response_day`` (NaN if none)."""
    return _time_status(response_days(adresp), adtte)


def _time_status(days: ResponseDays, adtte: pd.DataFrame) -> pd.DataFrame:
    require_columns(adtte, ("study_id", "os_days", "os_event"), name="adtte")
    ids = adtte["study_id"].astype(str)
    first_day = ids.map(days.first).to_numpy(dtype=float)
    last_day = ids.map(days.last).fillna(0.0).to_numpy(dtype=float)
    died = pd.to_numeric(adtte["os_event"], errors="coerce").fillna(0).to_numpy() == 1
    os_days = pd.to_numeric(adtte["os_days"], errors="coerce").to_numpy(dtype=float)
    has_response = ~np.isnan(first_day)
    death = ~has_response & died & ~np.isnan(os_days)
    time = np.where(has_response, first_day, np.where(death, os_days, last_day))
    status = np.select([has_response, death], [RESPONSE, DEATH_BEFORE_RESPONSE], default=CENSORED)
    return pd.DataFrame({"study_id": ids.to_numpy(), "ttr_days": time, "ttr_event": status, "first_response_day": first_day})


def durability(later: pd.DataFrame) -> tuple[DurabilityAtVisit, ...]:
    """Per scheduled visit after a first response: responders assessed there and still CR/PR.

    ``later``: the rows of :attr:`ResponseDays.later` of the patients concerned."""
    results = []
    for visit in VISIT_CODES[1:]:
        at_visit = later["still"].to_numpy()[later["visit"].to_numpy() == visit]
        if not len(at_visit):
            continue
        still = int(at_visit.sum())
        results.append(
            DurabilityAtVisit(
                visit=visit,
                day=VISITS_BY_CODE[visit].target_day,
                assessed=len(at_visit),
                still_responding=still,
                proportion=ratio(still, len(at_visit)),
            )
        )
    return tuple(results)


def _median(curve: SurvivalCurve) -> float | None:
    """First day the CIF reaches 0.5 (None when it never does)."""
    return next((p.day for p in curve.points if p.estimate is not None and p.estimate >= 0.5), None)


def _one_stratum(stratum: str, adtte: pd.DataFrame, days: ResponseDays, landmarks: Sequence[float]) -> TimeToResponse:
    ts = _time_status(days, adtte)
    curve = aalen_johansen_curve(
        ts["ttr_days"],
        ts["ttr_event"],
        cause=RESPONSE,
        stratum=stratum,
        endpoint="pain_response",
        label=TTR_LABEL,
        landmarks=landmarks,
    )
    responders = ts[ts["ttr_event"] == RESPONSE]
    later = days.later
    median = _median(curve)
    note = NO_PATIENTS if ts.empty else NO_RESPONDERS if responders.empty else None
    return TimeToResponse(
        stratum=stratum,
        n=len(ts),
        responders=len(responders),
        deaths_before_response=int((ts["ttr_event"] == DEATH_BEFORE_RESPONSE).sum()),
        censored=int((ts["ttr_event"] == CENSORED).sum()),
        median_days=median,
        median_reached=median is not None,
        curve=curve,
        durability=durability(later[later["study_id"].isin(set(responders["study_id"]))]),
        note=note,
    )


def time_to_response(
    adresp: pd.DataFrame,
    adtte: pd.DataFrame,
    *,
    strata_variables: Sequence[str] = STRATA_VARIABLES,
    landmarks: Sequence[float] = RESPONSE_LANDMARK_DAYS,
) -> tuple[TimeToResponse, ...]:
    """Time to first pain response (death competing) and durability, for "all" and each stratum.

    ``adresp``: one row per patient × follow-up visit (study_id, visit code, worst_pain_baseline,
    worst_pain, omed_baseline, omed in MME/day, optional response; analytics/derive.py).
    ``adtte``: one row per patient (study_id, strata, os_days in days from day 0, os_event 1 =
    died). Strata come from adtte's columns. Definitions and sources: module docstring. Raises
    ValueError only on malformed input (missing columns, out-of-range pain or dose); empty
    strata, one patient or no responders give a result with a ``note``.
    """
    require_columns(adresp, ("study_id", "visit"), name="adresp")
    days = response_days(adresp)  # once per call (and once per report inside shared_preparations), not per stratum
    return tuple(_one_stratum(stratum, sub, days, landmarks) for stratum, sub in iter_strata(adtte, strata_variables))
