"""Patient flow (STROBE, von Elm et al., Lancet 2007;370:1453, item 13) and questionnaire completion
per visit (SISAQOL, Coens et al., Lancet Oncol 2020;21:e83: expected / received forms).

Every enrolled patient is accounted for: enrolled → treated (index procedure recorded; the analysis
population, docs/domain.md §2) or not treated; among the treated, at each visit exactly one of

- **received**: the visit is recorded with BPI worst pain;
- **not done**: the visit is recorded but worst pain is not;
- **visit not done**: the visit is recorded as not done, with a reason (docs/domain.md §2);
- **missed**: no visit data although the patient was on study and the visit window had closed by
  the data cut-off;
- **window open**: no data yet, the target day has passed but the window is still open at the cut-off;
- **not applicable, died** / **not applicable, other exit** (withdrawal, lost to follow-up, study
  completion): no data and the patient had left the study on or before the visit's target day;
- **not yet due**: target day after the data cut-off.

**Expected** = received + not done + visit not done + missed + window open: the ITT population of the visit
(``analytics.derive.itt_population``: alive and on study at the target day, target on or before the
cut-off, or with data). **Analysed** = patients whose pain response is evaluable at the visit
(docs/domain.md §4); received but not analysed = baseline pain or opioid dose missing.

Vectorised over patients: one pass per visit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trials.domain.schedule import VISIT_CODES, VISITS_BY_CODE

from .response import NOT_EVALUABLE
from .results import Result
from .strata import as_text, require_columns

BASELINE = VISIT_CODES[0]
DEATH = "death"
ENROLMENT_COLUMNS = ("study_id", "treated", "day0", "exit_type", "exit_date")
VISIT_OUTCOMES = (
    "received",
    "not_done",
    "visit_not_done",
    "missed",
    "window_open",
    "not_applicable_died",
    "not_applicable_exit",
    "not_yet_due",
)


@dataclass(frozen=True)
class VisitCompletion(Result):
    """Counts of treated patients at one visit; the outcomes partition ``treated``."""

    visit: str
    treated: int
    expected: int
    received: int
    not_done: int
    visit_not_done: int
    missed: int
    window_open: int
    not_applicable_died: int
    not_applicable_exit: int
    not_yet_due: int
    analysed: int | None  # evaluable for pain response (None at baseline: no response there)
    not_evaluable: int | None  # received or not done, yet not evaluable
    completion_rate: float | None  # received / expected


@dataclass(frozen=True)
class PatientFlow(Result):
    enrolled: int
    not_treated: int
    treated: int
    exits: dict[str, int]  # treated patients by exit type (as of the cut-off); "on_study" = no exit
    deaths: int
    visits: tuple[VisitCompletion, ...]


def _visit_completion(
    treated: pd.DataFrame,
    pain: pd.DataFrame,
    adresp: pd.DataFrame,
    visit: str,
    cutoff: pd.Timestamp | None,
    not_done: pd.DataFrame,
) -> VisitCompletion:
    definition = VISITS_BY_CODE[visit]
    at_visit = pain[pain["visit"] == visit]
    recorded = treated["study_id"].isin(at_visit["study_id"]).to_numpy()
    with_pain = treated["study_id"].isin(at_visit.loc[at_visit["worst"].notna(), "study_id"]).to_numpy()
    target = treated["day0"] + pd.Timedelta(days=definition.target_day)
    window_end = treated["day0"] + pd.Timedelta(days=definition.window_end)
    exit_date = treated["exit_date"]
    gone = (exit_date.notna() & (exit_date <= target)).to_numpy()
    died = treated["exit_type"].eq(DEATH).to_numpy()
    limit = pd.Timestamp.max if cutoff is None else cutoff
    due = (target <= limit).to_numpy()
    closed = (window_end < limit).to_numpy()
    # declared not done while on study and due (as ITT counts it); otherwise not applicable / not yet due
    declared = treated["study_id"].isin(not_done.loc[not_done["visit"] == visit, "study_id"]).to_numpy()
    declared &= ~recorded & ~gone & due
    absent = ~recorded & ~declared
    counts = {
        "received": with_pain,
        "not_done": recorded & ~with_pain,
        "visit_not_done": declared,
        "not_applicable_died": absent & gone & died,
        "not_applicable_exit": absent & gone & ~died,
        "missed": absent & ~gone & due & closed,
        "window_open": absent & ~gone & due & ~closed,
        "not_yet_due": absent & ~gone & ~due,
    }
    totals: dict[str, int] = {key: int(mask.sum()) for key, mask in counts.items()}
    expected = totals["received"] + totals["not_done"] + totals["visit_not_done"] + totals["missed"] + totals["window_open"]
    analysed: int | None = None
    not_evaluable: int | None = None
    if visit != BASELINE:
        responses = adresp.loc[adresp["visit"] == visit, "response"]
        analysed = int((responses != NOT_EVALUABLE).sum())
        not_evaluable = totals["received"] + totals["not_done"] - analysed
    return VisitCompletion(
        visit=visit,
        treated=len(treated),
        expected=expected,
        **totals,
        analysed=analysed,
        not_evaluable=not_evaluable,
        completion_rate=totals["received"] / expected if expected else None,
    )


def patient_flow(
    enrolment: pd.DataFrame,
    pain: pd.DataFrame,
    adresp: pd.DataFrame,
    *,
    visits: Sequence[str],
    cutoff: pd.Timestamp | None,
    not_done: pd.DataFrame | None = None,
) -> PatientFlow:
    """Flow and completion counts.

    ``enrolment``: one row per enrolled (active) patient with ``study_id``, ``treated`` (bool), ``day0``
    (index procedure date, NaT when untreated), ``exit_type`` and ``exit_date`` (missing when on study).
    ``pain``: the analysis pain frame (one row per treated patient × recorded visit, ``worst`` may be
    missing); ``adresp``: one row per ITT patient × follow-up visit with ``response``; ``not_done``:
    ``study_id``, ``visit`` of visits recorded as not done (none when omitted).
    ``visits``: follow-up visit codes (baseline is always reported first).
    Raises ValueError when a frame lacks a contract column.
    """
    require_columns(enrolment, ENROLMENT_COLUMNS, name="enrolment")
    require_columns(pain, ("study_id", "visit", "worst"), name="pain")
    require_columns(adresp, ("study_id", "visit", "response"), name="adresp")
    treated = enrolment[enrolment["treated"].astype(bool)]
    exit_types = treated["exit_type"].fillna("on_study").astype(str)
    exits = {str(k): int(v) for k, v in exit_types.value_counts().sort_index().items()}
    ordered = [BASELINE, *(v for v in VISIT_CODES if v in set(visits) and v != BASELINE)]
    # only the columns read, visits as shared strings (a whole-frame copy with a string per row: issue 17 memory)
    pain_codes = pd.DataFrame({"study_id": pain["study_id"], "visit": as_text(pain["visit"]), "worst": pain["worst"]})
    adresp_codes = pd.DataFrame({"visit": as_text(adresp["visit"]), "response": adresp["response"]})
    not_done = pd.DataFrame({"study_id": [], "visit": []}) if not_done is None else not_done.astype({"visit": str})
    return PatientFlow(
        enrolled=len(enrolment),
        not_treated=int((~enrolment["treated"].astype(bool)).sum()),
        treated=len(treated),
        exits=exits,
        deaths=int(np.sum(treated["exit_type"].eq(DEATH))),
        visits=tuple(_visit_completion(treated, pain_codes, adresp_codes, v, cutoff, not_done) for v in ordered),
    )
