"""Derived analysis data sets from a snapshot: adtte, adresp, the pain long frame, AEs.

Pure pandas, no ORM. Conventions (one place, docs/analytics-pipeline.md):

- **Analysis population**: patients with an active index procedure; day 0 is
  the procedure date (docs/domain.md §2). Patients not yet treated are left out.
- **Data cut-off**: the latest date recorded anywhere in the snapshot, so the
  derived sets depend on the data only (same data → same numbers), never on
  the day the report runs.
- **Last contact** (censoring, docs/domain.md §6): the exit's ``last_contact_date``
  when the patient has exited; otherwise the latest of day 0, completed visit
  dates, AE onsets and SRE dates.
- **SRE**: first SkeletalEvent on or after day 0 and not after the end of
  follow-up. Hypercalcaemia counts only when the run switches it on; radiation
  to bone inside the planned RadiationCourse dates is never an SRE (registry
  convention, docs/domain.md §6). An SRE on the day of death is an SRE (it is not
  "death without a prior SRE").
- **ITT population** of a follow-up visit (docs/domain.md §4): treated patients
  alive and on study at the visit's target day — no exit, or exit after the
  target date — with the target date on or before the data cut-off; a patient
  with data at the visit is always included.
- **OMED** per visit (docs/domain.md §5): sum of MME/day when opioid status is
  "taking" (missing when no entry is recorded), 0 when "none", missing when
  "unknown". The sum is taken in exact integer hundredths of MME/day.
  Opioid answers the patient reported by link (issue 15) and staff have not
  reviewed yet are **missing**, not OMED: a self-report counts as MME only after
  review (docs/analytics-methods.md, "Patient-reported outcomes").
- **Pain source** (issue 15): ``pain_source`` of a pain row / ADRESP row is who gave
  the visit's BPI answers, "patient" (questionnaire by link) or "staff"; missing
  when the visit has no worst pain.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from analytics.dataset import DATE_COLUMNS, Snapshot
from analytics.parameters import RunParameters
from analytics.stats.response import OMED_SCALE, omed_hundredths, pain_response_classify_frame
from trials.domain import sins
from trials.domain.age import age_years
from trials.domain.bpi import INTERFERENCE_ITEMS, MIN_INTERFERENCE_ANSWERED
from trials.domain.mme import OPIOIDS_NONE, OPIOIDS_TAKING
from trials.domain.schedule import VISIT_CODES, VISITS_BY_CODE
from trials.domain.sre import HYPERCALCAEMIA, RADIATION_TO_BONE, during_planned_radiation

BASELINE = VISIT_CODES[0]
STRATUM_COLUMNS = ("site", "modality", "augmentation", "radiation_sequence", "region")
NO_RADIATION = "none"
ADTTE_COLUMNS = ("study_id", *STRATUM_COLUMNS, "sre_days", "sre_event", "os_days", "os_event")
ADRESP_COLUMNS = ("study_id", "visit", "worst_pain_baseline", "worst_pain", "omed_baseline", "omed", "response", "pain_source")
PAIN_COLUMNS = ("study_id", "visit", "worst", "average", "interference", "omed", "pain_source", *STRATUM_COLUMNS)
PATIENT_SOURCE = "patient"
AES_COLUMNS = ("study_id", "sir_grade", "ctcae_grade", "relatedness", "serious", "onset_day", "resolution_day", *STRATUM_COLUMNS)


@dataclass(frozen=True)
class AnalysisSets:
    """Everything the computations need, one row per analysis unit."""

    patients: pd.DataFrame  # one row per treated patient: study_id, strata, baseline characteristics
    adtte: pd.DataFrame
    adresp: pd.DataFrame
    pain: pd.DataFrame
    aes: pd.DataFrame
    itt_population: dict[str, list[str]]
    cutoff: pd.Timestamp | None
    # one row per enrolled patient (treated or not): study_id, treated, day0, exit_type, exit_date (patient flow)
    enrolment: pd.DataFrame | None = None
    # study_id, visit of the visits recorded as not done (a reason given, no data; docs/domain.md §2)
    visits_not_done: pd.DataFrame | None = None


def data_cutoff(snapshot: Snapshot) -> pd.Timestamp | None:
    """Latest date recorded in the snapshot (see module docstring)."""
    candidates = [
        snapshot.procedures["procedure_date"],
        snapshot.visits["visit_date"],
        snapshot.exits["exit_date"],
        snapshot.skeletal_events["event_date"],
        snapshot.adverse_events["onset_date"],
        snapshot.radiation["end_date"],
    ]
    latest = [c.max() for c in candidates if len(c) and pd.notna(c.max())]
    return max(latest) if latest else None


def analysis_patients(snapshot: Snapshot) -> pd.DataFrame:
    """Treated patients with their strata and baseline characteristics; day0 = procedure date."""
    frame = snapshot.patients.drop(columns=["version", "day0"]).merge(
        snapshot.procedures[["study_id", "procedure_date", "modality", "augmentation"]], on="study_id", how="inner"
    )
    frame = frame.rename(columns={"procedure_date": "day0"})
    if "intent" in snapshot.procedures.columns:  # issue 16: the contrast of the propensity-weighted comparison
        frame = frame.merge(snapshot.procedures[["study_id", "intent"]], on="study_id", how="left")
    lesions = snapshot.lesions.assign(sins_total=lesion_sins_total(snapshot.lesions))
    frame = frame.merge(lesions[["study_id", "region", "sins_total"]], on="study_id", how="left")
    sequence = snapshot.radiation.sort_values(["study_id", "start_date"]).drop_duplicates("study_id")
    frame = frame.merge(sequence[["study_id", "sequence"]], on="study_id", how="left")
    frame["radiation_sequence"] = frame.pop("sequence").fillna(NO_RADIATION)
    frame["age"] = age_years(frame["birth_year"], frame["enrollment_date"].dt.year)  # docs/domain.md §10
    return frame.sort_values("study_id", kind="mergesort").reset_index(drop=True)


SINS_COLUMNS = ("spine_level", "sins_pain", "lesion_type", "sins_alignment", "sins_collapse", "sins_posterolateral")


def lesion_sins_total(lesions: pd.DataFrame) -> pd.Series:
    """SINS total (0–18) per lesion row when it is spinal and all six components are recorded, else NaN
    (trials.domain.sins, Fourney 2011; docs/domain.md §8)."""
    if lesions.empty or any(c not in lesions.columns for c in SINS_COLUMNS):
        return pd.Series(np.nan, index=lesions.index, dtype=float)

    points = {
        "spine_level": {level: sins.LOCATION_POINTS[sins.sins_location(level)] for level in sins.SPINE_LEVELS},
        "sins_pain": sins.PAIN_POINTS,
        "lesion_type": sins.BONE_LESION_POINTS,
        "sins_alignment": sins.ALIGNMENT_POINTS,
        "sins_collapse": sins.COLLAPSE_POINTS,
        "sins_posterolateral": sins.POSTEROLATERAL_POINTS,
    }
    # Vectorised sins.sins_total: an unrecorded component maps to NaN, so the sum is NaN (min_count).
    parts = pd.concat([lesions[c].map(table).astype(float) for c, table in points.items()], axis=1)
    total = parts.sum(axis=1, min_count=len(points)).where(parts.notna().all(axis=1))
    return total.where(lesions["region"] == "spine").astype(float)


def _days(later: pd.Series, day0: pd.Series) -> pd.Series:
    """Days from day 0; a last contact recorded before day 0 counts as day 0."""
    return (later - day0).dt.days.astype(float).clip(lower=0)


def last_contact(snapshot: Snapshot, patients: pd.DataFrame) -> pd.Series:
    """Per study_id (aligned to ``patients``): exit last contact, else latest clinical date."""
    dates = [
        patients[["study_id", "day0"]].rename(columns={"day0": "date"}),
        snapshot.visits[["study_id", "visit_date"]].rename(columns={"visit_date": "date"}),
        snapshot.adverse_events[["study_id", "onset_date"]].rename(columns={"onset_date": "date"}),
        snapshot.skeletal_events[["study_id", "event_date"]].rename(columns={"event_date": "date"}),
    ]
    known = [d.dropna() for d in dates if len(d.dropna())]
    if not known:  # no treated patient and no dated record: no contact to censor at
        return pd.Series(pd.NaT, index=patients.index, dtype="datetime64[ns]")
    latest = pd.concat(known).groupby("study_id")["date"].max()
    exits = snapshot.exits.set_index("study_id")["last_contact_date"]
    contact = patients["study_id"].map(exits)
    return contact.fillna(patients["study_id"].map(latest))


def qualifying_sres(snapshot: Snapshot, patients: pd.DataFrame, *, include_hypercalcaemia: bool) -> pd.DataFrame:
    """SRE rows that count (docs/domain.md §6), with their day 0."""
    events = snapshot.skeletal_events.merge(patients[["study_id", "day0"]], on="study_id", how="inner")
    if not include_hypercalcaemia:
        events = events[events["event_type"] != HYPERCALCAEMIA]
    events = events[events["event_date"] >= events["day0"]]
    radiation = (
        events[events["event_type"] == RADIATION_TO_BONE]
        .reset_index()
        .merge(snapshot.radiation[["study_id", "start_date", "end_date"]], on="study_id", how="inner")
    )
    planned = radiation.loc[
        during_planned_radiation(radiation["event_date"], radiation["start_date"], radiation["end_date"]), "index"
    ]
    return events.drop(index=planned.unique())


def build_adtte(snapshot: Snapshot, patients: pd.DataFrame, params: RunParameters) -> pd.DataFrame:
    """One row per patient: first SRE with death competing, and overall survival (docs/domain.md §6)."""
    exits = snapshot.exits.set_index("study_id")
    exit_type = patients["study_id"].map(exits["exit_type"])
    died = exit_type.eq("death")
    death_date = patients["study_id"].map(exits["exit_date"]).where(died)
    contact = last_contact(snapshot, patients)
    end_of_follow_up = death_date.fillna(contact)
    sres = qualifying_sres(snapshot, patients, include_hypercalcaemia=params.include_hypercalcaemia)
    first_sre = patients["study_id"].map(sres.groupby("study_id")["event_date"].min())
    has_sre = first_sre.notna() & (first_sre <= end_of_follow_up)
    frame = patients[["study_id", *STRATUM_COLUMNS]].copy()
    frame["sre_days"] = _days(first_sre.where(has_sre, end_of_follow_up), patients["day0"])
    frame["sre_event"] = np.select([has_sre, died], [1, 2], default=0)
    frame["os_days"] = _days(end_of_follow_up, patients["day0"])
    frame["os_event"] = died.astype(int)
    return frame[list(ADTTE_COLUMNS)]


def visit_omed(snapshot: Snapshot) -> pd.DataFrame:
    """study_id, visit, omed (docs/domain.md §5; see module docstring)."""
    columns = ["study_id", "visit", "opioid_status", *(c for c in ("opioid_source", "opioid_reviewed") if c in snapshot.visits)]
    visits = snapshot.visits[snapshot.visits["visit_date"].notna()][columns]
    # Summed in exact integer hundredths of MME/day (the stored precision), not as floats.
    meds = snapshot.medications.assign(mme_per_day=omed_hundredths(snapshot.medications["mme_per_day"]))
    sums = meds.groupby(["study_id", "visit"], as_index=False)["mme_per_day"].sum()
    sums["mme_per_day"] = sums["mme_per_day"] / OMED_SCALE
    frame = visits.merge(sums, on=["study_id", "visit"], how="left")
    # The rule of trials.domain.mme.visit_omed, column-wise: 0 for "none", the sum for "taking"
    # (missing when no entry is recorded), missing otherwise.
    frame["omed"] = np.where(frame["opioid_status"] == OPIOIDS_NONE, 0.0, np.nan)
    taking = frame["opioid_status"] == OPIOIDS_TAKING
    frame.loc[taking, "omed"] = frame.loc[taking, "mme_per_day"]
    if "opioid_source" in frame:  # a patient's self-report waits for staff review before it counts (issue 15)
        unreviewed = frame["opioid_source"].eq(PATIENT_SOURCE) & ~frame["opioid_reviewed"].fillna(False).astype(bool)
        frame.loc[unreviewed, "omed"] = np.nan
    return frame[["study_id", "visit", "omed"]]


def interference_scores(pain: pd.DataFrame) -> pd.Series:
    """Mean of answered items when ≥ 4 of 7 are answered, else missing (docs/domain.md §3)."""
    items = pain[list(INTERFERENCE_ITEMS)].astype(float)
    return items.mean(axis=1).where(items.notna().sum(axis=1) >= MIN_INTERFERENCE_ANSWERED)


def build_pain(snapshot: Snapshot, patients: pd.DataFrame, params: RunParameters) -> pd.DataFrame:
    """Long frame, one row per patient × visit with data (baseline + the run's visits)."""
    wanted = (BASELINE, *params.visits)
    visits = snapshot.visits[snapshot.visits["visit_date"].notna() & snapshot.visits["visit"].isin(wanted)]
    frame = visits[["study_id", "visit"]].merge(patients[["study_id", *STRATUM_COLUMNS]], on="study_id", how="inner")
    pain = snapshot.pain.copy()
    pain["interference"] = interference_scores(pain)
    if "source" not in pain:
        pain["source"] = None
    pain["pain_source"] = pain["source"].where(pain["worst"].notna())
    frame = frame.merge(
        pain[["study_id", "visit", "worst", "average", "interference", "pain_source"]], on=["study_id", "visit"], how="left"
    )
    frame = frame.merge(visit_omed(snapshot), on=["study_id", "visit"], how="left")
    for column in ("worst", "average", "interference", "omed"):
        frame[column] = frame[column].astype(float)
    order = {code: i for i, code in enumerate(VISIT_CODES)}
    frame = frame.assign(_order=frame["visit"].map(order)).sort_values(["study_id", "_order"], kind="mergesort")
    return frame.drop(columns="_order")[list(PAIN_COLUMNS)].reset_index(drop=True)


def itt_population(snapshot: Snapshot, patients: pd.DataFrame, params: RunParameters, cutoff) -> dict[str, list[str]]:
    """Per follow-up visit: study_ids alive and on study at its target day (module docstring)."""
    exit_date = patients["study_id"].map(snapshot.exits.set_index("study_id")["exit_date"])
    with_data = snapshot.visits[snapshot.visits["visit_date"].notna()]
    population = {}
    for visit in params.visits:
        target = patients["day0"] + pd.Timedelta(days=VISITS_BY_CODE[visit].target_day)
        reached = target <= cutoff if cutoff is not None else pd.Series(False, index=patients.index)  # no dates: none
        on_study = (exit_date.isna() | (exit_date > target)) & reached
        recorded = patients["study_id"].isin(with_data.loc[with_data["visit"] == visit, "study_id"])
        population[visit] = sorted(patients.loc[on_study | recorded, "study_id"])
    return population


def build_adresp(pain: pd.DataFrame, itt: dict[str, list[str]]) -> pd.DataFrame:
    """One row per patient × follow-up visit of the ITT population (docs/domain.md §4)."""
    rows = pd.DataFrame([(study_id, visit) for visit, ids in itt.items() for study_id in ids], columns=["study_id", "visit"])
    baseline = pain[pain["visit"] == BASELINE].set_index("study_id")
    at_visit = pain[pain["visit"] != BASELINE][["study_id", "visit", "worst", "omed", "pain_source"]]
    frame = rows.merge(at_visit, on=["study_id", "visit"], how="left").rename(columns={"worst": "worst_pain"})
    frame["worst_pain_baseline"] = frame["study_id"].map(baseline["worst"]).astype(float)
    frame["omed_baseline"] = frame["study_id"].map(baseline["omed"]).astype(float)
    frame["worst_pain"] = frame["worst_pain"].astype(float)
    frame["omed"] = frame["omed"].astype(float)
    frame["response"] = pain_response_classify_frame(frame) if len(frame) else pd.Series(dtype=object)
    order = {code: i for i, code in enumerate(VISIT_CODES)}
    frame = frame.assign(_order=frame["visit"].map(order)).sort_values(["study_id", "_order"], kind="mergesort")
    return frame.drop(columns="_order")[list(ADRESP_COLUMNS)].reset_index(drop=True)


def build_aes(snapshot: Snapshot, patients: pd.DataFrame) -> pd.DataFrame:
    """One row per adverse event of a treated patient; onset/resolution as days from day 0 (no dates, no term)."""
    frame = snapshot.adverse_events.merge(patients[["study_id", "day0", *STRATUM_COLUMNS]], on="study_id", how="inner")
    for column, date in (("onset_day", "onset_date"), ("resolution_day", "resolution_date")):
        dates = pd.to_datetime(frame[date]) if date in frame.columns else pd.Series(pd.NaT, index=frame.index)
        frame[column] = (dates - frame["day0"]).dt.days
    return frame[list(AES_COLUMNS)].sort_values(["study_id", "sir_grade"], kind="mergesort").reset_index(drop=True)


def build_enrolment(snapshot: Snapshot, patients: pd.DataFrame) -> pd.DataFrame:
    """Every enrolled patient with whether an index procedure is recorded, its date and the exit if any."""
    exits = snapshot.exits.drop_duplicates("study_id").set_index("study_id")
    frame = snapshot.patients[["study_id"]].copy()
    frame["treated"] = frame["study_id"].isin(patients["study_id"])
    frame["day0"] = frame["study_id"].map(patients.set_index("study_id")["day0"])
    frame["exit_type"] = frame["study_id"].map(exits["exit_type"])
    frame["exit_date"] = frame["study_id"].map(exits["exit_date"])
    return frame.sort_values("study_id", kind="mergesort").reset_index(drop=True)


def visits_not_done(snapshot: Snapshot) -> pd.DataFrame:
    """study_id, visit of the visits whose not-done reason is filled in (the visit did not take place)."""
    visits = snapshot.visits
    if "not_done_reason" not in visits.columns:
        return pd.DataFrame({"study_id": pd.Series(dtype=object), "visit": pd.Series(dtype=object)})
    reason = visits["not_done_reason"].fillna("").astype(str).str.strip()
    return visits.loc[reason != "", ["study_id", "visit"]].reset_index(drop=True)


def with_date_columns(snapshot: Snapshot) -> Snapshot:
    """Every date column as datetime64, also in empty frames (whose columns would be object)."""
    frames = {}
    for name, frame in snapshot.frames().items():
        dates = [c for c in frame.columns if c in DATE_COLUMNS and not pd.api.types.is_datetime64_any_dtype(frame[c])]
        frames[name] = frame.assign(**{c: pd.to_datetime(frame[c]) for c in dates}) if dates else frame
    return replace(snapshot, **frames)


def as_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """Visit and stratum columns as pandas categoricals: the per-stratum, per-visit selections of the
    statistics compare codes instead of Python strings (same numbers, about a third faster at scale)."""
    columns = [c for c in ("visit", *STRATUM_COLUMNS) if c in frame.columns]
    return frame.astype({c: "category" for c in columns}) if columns else frame


def analysis_sets_build(snapshot: Snapshot, params: RunParameters) -> AnalysisSets:
    snapshot = with_date_columns(snapshot)
    patients = analysis_patients(snapshot)
    cutoff = data_cutoff(snapshot)
    pain = build_pain(snapshot, patients, params)
    itt = itt_population(snapshot, patients, params, cutoff)
    return AnalysisSets(
        patients=as_categories(patients),
        adtte=as_categories(build_adtte(snapshot, patients, params)),
        adresp=as_categories(build_adresp(pain, itt)),
        pain=as_categories(pain),
        aes=as_categories(build_aes(snapshot, patients)),
        itt_population=itt,
        cutoff=cutoff,
        enrolment=build_enrolment(snapshot, patients),
        visits_not_done=visits_not_done(snapshot),
    )
