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

Speed (issue 17): the work runs on integer keys — a patient is the code of its ``study_id`` categorical
(the snapshot's sorted study_ids, so code order is study_id order) and a patient × visit is
``code × len(visit codes) + visit code``, with the schedule's visits first in schedule order. Per-patient
and per-visit values live in dense arrays indexed by those keys: no text merge or sort, linear in N. The
study_id text is put back once, in the analysis sets; their content and column types are those of the
text-keyed derivation before (``tests/analytics/test_report_golden.py`` holds them to it byte for byte).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from analytics.dataset import DATE_COLUMNS, PATIENT_KEY, Snapshot, text_categorical
from analytics.local_control import build_adltp, build_lesion_control, local_control_inputs
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
    # local tumour control (issue 10 part B; analytics.local_control): one row per lesion unit / per treated patient
    lesion_control: pd.DataFrame | None = None
    adltp: pd.DataFrame | None = None


# --- integer keys -----------------------------------------------------------------------------


def _is_coded(snapshot: Snapshot) -> bool:
    dtype = snapshot.patients[PATIENT_KEY].dtype if PATIENT_KEY in snapshot.patients.columns else None
    if not isinstance(dtype, pd.CategoricalDtype):
        return False
    for frame in snapshot.frames().values():
        if PATIENT_KEY in frame.columns and frame[PATIENT_KEY].dtype != dtype:
            return False
        if "visit" in frame.columns:
            visit = frame["visit"].dtype
            if not isinstance(visit, pd.CategoricalDtype) or tuple(visit.categories[: len(VISIT_CODES)]) != VISIT_CODES:
                return False
    return True


def snapshot_coded(snapshot: Snapshot) -> Snapshot:
    """The snapshot with dates as datetime64, every ``study_id`` a categorical over one sorted set of study_ids
    and every ``visit`` a categorical with the schedule's codes first (what ``snapshot_extract`` returns; hand-built
    snapshots of plain columns are converted). Returns ``snapshot`` itself when it is already so."""
    snapshot = with_date_columns(snapshot)
    if _is_coded(snapshot):
        return snapshot
    frames = snapshot.frames()
    ids: set[Any] = set()
    for frame in frames.values():
        if PATIENT_KEY in frame.columns:
            ids.update(frame[PATIENT_KEY].dropna().astype(object))
    categories = pd.Index(np.array(sorted(ids), dtype=object))
    coded = {}
    for name, frame in frames.items():
        changes = {}
        if PATIENT_KEY in frame.columns:
            changes[PATIENT_KEY] = pd.Categorical(frame[PATIENT_KEY].astype(object), categories=categories)
        if "visit" in frame.columns:
            changes["visit"] = text_categorical(frame["visit"].astype(object), VISIT_CODES)
        coded[name] = frame.assign(**changes) if changes else frame
    return replace(snapshot, **coded)


def _codes(frame: pd.DataFrame, column: str = PATIENT_KEY) -> np.ndarray:
    return frame[column].cat.codes.to_numpy().astype(np.int64)


def _n_patients(snapshot: Snapshot) -> int:
    return len(snapshot.patients[PATIENT_KEY].cat.categories)


def _n_visits(snapshot: Snapshot) -> int:
    return len(snapshot.visits["visit"].cat.categories) if "visit" in snapshot.visits.columns else len(VISIT_CODES)


def _visit_keys(frame: pd.DataFrame, n_visits: int) -> np.ndarray:
    """patient code × n_visits + visit code (one integer per patient × visit)."""
    return _codes(frame) * n_visits + _codes(frame, "visit")


def _dense(size: int, keys: np.ndarray, values, fill=np.nan, dtype=float) -> np.ndarray:
    """An array of ``size`` with ``values`` at ``keys`` (the last wins on a repeated key) and ``fill`` elsewhere."""
    out = np.full(size, fill, dtype=dtype)
    out[keys] = np.asarray(values)
    return out


def _per_patient_extreme(size: int, keys: np.ndarray, dates: np.ndarray, *, latest: bool) -> np.ndarray:
    """Latest (or earliest) datetime64 per patient code, NaT where the patient has none."""
    empty = np.iinfo(np.int64).min if latest else np.iinfo(np.int64).max
    out = np.full(size, empty, dtype=np.int64)
    known = ~np.isnat(dates)
    (np.maximum if latest else np.minimum).at(out, keys[known], dates[known].astype("datetime64[ns]").astype(np.int64))
    result = out.view("datetime64[ns]").copy()
    result[out == empty] = np.datetime64("NaT")
    return result


def _from_codes(codes: Any, dtype: Any) -> Any:
    """``pd.Categorical.from_codes`` with a categorical ``dtype`` (typed loosely: the stubs have no overload for it)."""
    return pd.Categorical.from_codes(codes, dtype=dtype)


def _category_of(values: pd.Series, codes: np.ndarray) -> pd.Categorical:
    """``values`` (a categorical per source row) taken at ``codes`` rows — no text touched."""
    return _from_codes(values.cat.codes.to_numpy()[codes], values.dtype)


def _as_text(values: pd.Series) -> pd.Series:
    """A categorical column back to plain text (object), as the text-keyed derivation had it."""
    return values.astype(object) if isinstance(values.dtype, pd.CategoricalDtype) else values


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns other than visit and strata (``as_categories`` makes those) back to object."""
    keep = {"visit", *STRATUM_COLUMNS}
    changes = {
        c: frame[c].astype(object).where(frame[c].notna(), np.nan)
        for c in frame.columns
        if c not in keep and isinstance(frame[c].dtype, pd.CategoricalDtype)
    }
    return _with_columns(frame, changes)


def _with_columns(frame: pd.DataFrame, changes: dict[str, Any]) -> pd.DataFrame:
    """``frame.assign(**changes)`` for existing columns, without the deep copy of every other column that ``assign``
    makes: the new frame shares them (issue 17, worker memory — the derivation's working frames are dropped as soon
    as their analysis set is made, so nothing writes to the shared columns)."""
    if not changes:
        return frame
    columns = {c: changes[c] if c in changes else frame[c] for c in frame.columns}
    return pd.DataFrame(columns, index=frame.index, copy=False)


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
    """Treated patients with their strata and baseline characteristics; day0 = procedure date. One row per
    patient in study_id order (the categorical's code order); ``study_id`` stays the snapshot's categorical."""
    snapshot = snapshot_coded(snapshot)
    frame = snapshot.patients.drop(columns=["version", "day0"], errors="ignore").merge(
        snapshot.procedures[["study_id", "procedure_date", "modality", "augmentation"]], on="study_id", how="inner"
    )
    frame = frame.rename(columns={"procedure_date": "day0"})
    if "intent" in snapshot.procedures.columns:  # issue 16: the contrast of the propensity-weighted comparison
        frame = frame.merge(snapshot.procedures[["study_id", "intent"]], on="study_id", how="left")
    lesions = snapshot.lesions.assign(sins_total=lesion_sins_total(snapshot.lesions))
    frame = frame.merge(lesions[["study_id", "region", "sins_total"]], on="study_id", how="left")
    sequence = snapshot.radiation.sort_values(["study_id", "start_date"]).drop_duplicates("study_id")
    frame = frame.merge(sequence[["study_id", "sequence"]], on="study_id", how="left")
    frame["radiation_sequence"] = _as_text(frame.pop("sequence")).fillna(NO_RADIATION)
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


def _exit_per_patient(snapshot: Snapshot, column: str, size: int) -> np.ndarray:
    """The exit's ``column`` per patient code (missing without an exit)."""
    exits = snapshot.exits
    values = exits[column]
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return _dense(size, _codes(exits), values.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT"), "datetime64[ns]")
    return _dense(size, _codes(exits), _as_text(values).to_numpy(dtype=object), None, object)


def last_contact(snapshot: Snapshot, patients: pd.DataFrame) -> pd.Series:
    """Per patient (aligned to ``patients``): exit last contact, else latest clinical date."""
    snapshot = snapshot_coded(snapshot)
    size = _n_patients(snapshot)
    sources = [
        (_codes(patients), patients["day0"]),
        (_codes(snapshot.visits), snapshot.visits["visit_date"]),
        (_codes(snapshot.adverse_events), snapshot.adverse_events["onset_date"]),
        (_codes(snapshot.skeletal_events), snapshot.skeletal_events["event_date"]),
    ]
    keys = np.concatenate([k for k, _ in sources])
    dates = np.concatenate([d.to_numpy(dtype="datetime64[ns]") for _, d in sources])
    latest = _per_patient_extreme(size, keys, dates, latest=True)
    contact = _exit_per_patient(snapshot, "last_contact_date", size)
    merged = np.where(np.isnat(contact), latest, contact)
    return pd.Series(merged[_codes(patients)], index=patients.index, dtype="datetime64[ns]")


def qualifying_sres(snapshot: Snapshot, patients: pd.DataFrame, *, include_hypercalcaemia: bool) -> pd.DataFrame:
    """SRE rows that count (docs/domain.md §6), with their day 0."""
    snapshot = snapshot_coded(snapshot)
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
    snapshot = snapshot_coded(snapshot)
    size, codes = _n_patients(snapshot), _codes(patients)
    exit_type = _exit_per_patient(snapshot, "exit_type", size)[codes]
    died = pd.Series(exit_type == "death", index=patients.index)
    death_date = pd.Series(_exit_per_patient(snapshot, "exit_date", size)[codes], index=patients.index).where(died)
    contact = last_contact(snapshot, patients)
    end_of_follow_up = death_date.fillna(contact)
    sres = qualifying_sres(snapshot, patients, include_hypercalcaemia=params.include_hypercalcaemia)
    first = _per_patient_extreme(size, _codes(sres), sres["event_date"].to_numpy(dtype="datetime64[ns]"), latest=False)
    first_sre = pd.Series(first[codes], index=patients.index)
    has_sre = first_sre.notna() & (first_sre <= end_of_follow_up)
    frame = patients[["study_id", *STRATUM_COLUMNS]].copy()
    frame["sre_days"] = _days(first_sre.where(has_sre, end_of_follow_up), patients["day0"])
    frame["sre_event"] = np.select([has_sre, died], [1, 2], default=0)
    frame["os_days"] = _days(end_of_follow_up, patients["day0"])
    frame["os_event"] = died.astype(int)
    return frame[list(ADTTE_COLUMNS)]


def _omed_by_key(snapshot: Snapshot) -> np.ndarray:
    """OMED per patient × visit key (NaN where the visit has no data or the rule gives missing)."""
    size = _n_patients(snapshot) * _n_visits(snapshot)
    visits = snapshot.visits[snapshot.visits["visit_date"].notna()]
    meds = snapshot.medications
    med_keys = _visit_keys(meds, _n_visits(snapshot))
    # Summed in exact integer hundredths of MME/day (the stored precision), not as floats.
    hundredths = omed_hundredths(meds["mme_per_day"]).astype(float) if len(meds) else np.zeros(0)
    sums = np.bincount(med_keys, weights=hundredths, minlength=size)[:size] / OMED_SCALE
    counts = np.bincount(med_keys, minlength=size)[:size]
    # The rule of trials.domain.mme.visit_omed, column-wise: 0 for "none", the sum for "taking"
    # (missing when no entry is recorded), missing otherwise.
    status = _as_text(visits["opioid_status"]).to_numpy(dtype=object)
    keys = _visit_keys(visits, _n_visits(snapshot))
    omed = np.where(status == OPIOIDS_NONE, 0.0, np.nan)
    taking = status == OPIOIDS_TAKING
    omed[taking] = np.where(counts[keys[taking]] > 0, sums[keys[taking]], np.nan)
    if "opioid_source" in visits:  # a patient's self-report waits for staff review before it counts (issue 15)
        source = _as_text(visits["opioid_source"]).to_numpy(dtype=object)
        reviewed = visits["opioid_reviewed"].fillna(False).astype(bool).to_numpy()
        omed[(source == PATIENT_SOURCE) & ~reviewed] = np.nan
    return _dense(size, keys, omed)


def visit_omed(snapshot: Snapshot) -> pd.DataFrame:
    """study_id, visit, omed of every visit with data, in the snapshot's visit order (docs/domain.md §5;
    see module docstring)."""
    snapshot = snapshot_coded(snapshot)
    visits = snapshot.visits[snapshot.visits["visit_date"].notna()][["study_id", "visit"]].copy()
    visits["omed"] = _omed_by_key(snapshot)[_visit_keys(visits, _n_visits(snapshot))]
    return visits.reset_index(drop=True)


def _pain_source(pain: pd.DataFrame) -> np.ndarray:
    """Who gave each pain row's BPI answers ("patient" / "staff"; issue 15), missing where worst pain is missing."""
    source = _as_text(pain["source"]) if "source" in pain else pd.Series(None, index=pain.index, dtype=object)
    return source.where(pain["worst"].notna()).to_numpy(dtype=object)


def interference_scores(pain: pd.DataFrame) -> pd.Series:
    """Mean of answered items when ≥ 4 of 7 are answered, else missing (docs/domain.md §3).

    Accumulated an item at a time — the same additions in the same order as a row mean (missing items adding 0.0),
    without the frame of seven float64 columns and its masks (100 MB at 100,000 patients; issue 17, worker memory)."""
    total = np.zeros(len(pain))
    answered = np.zeros(len(pain), dtype=np.int64)
    for item in INTERFERENCE_ITEMS:
        values = pain[item].to_numpy(dtype=float, na_value=np.nan)
        known = ~np.isnan(values)
        total += np.where(known, values, 0.0)
        answered += known
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / answered
    return pd.Series(np.where(answered >= MIN_INTERFERENCE_ANSWERED, mean, np.nan), index=pain.index)


def build_pain(snapshot: Snapshot, patients: pd.DataFrame, params: RunParameters) -> pd.DataFrame:
    """Long frame, one row per treated patient × visit with data (baseline + the run's visits), in study_id then
    schedule order; ``study_id``, ``visit`` and strata as categoricals (``analysis_sets_build`` makes them plain)."""
    snapshot = snapshot_coded(snapshot)
    n_visits = _n_visits(snapshot)
    size = _n_patients(snapshot) * n_visits
    row_of_patient = _dense(_n_patients(snapshot), _codes(patients), np.arange(len(patients)), -1, np.int64)
    wanted = [VISIT_CODES.index(v) for v in (BASELINE, *params.visits)]
    visits = snapshot.visits
    keep = visits["visit_date"].notna().to_numpy() & np.isin(_codes(visits, "visit"), wanted)
    keep &= row_of_patient[_codes(visits)] >= 0
    keys = np.sort(_visit_keys(visits, n_visits)[keep], kind="stable")
    codes, visit_codes = keys // n_visits, keys % n_visits
    rows = row_of_patient[codes]
    pain = snapshot.pain
    pain_keys = _visit_keys(pain, n_visits)
    frame = pd.DataFrame(
        {
            "study_id": _from_codes(codes, visits["study_id"].dtype),
            "visit": _from_codes(visit_codes, visits["visit"].dtype),
            "worst": _dense(size, pain_keys, pain["worst"].astype(float))[keys],
            "average": _dense(size, pain_keys, pain["average"].astype(float))[keys],
            "interference": _dense(size, pain_keys, interference_scores(pain))[keys],
            "omed": _omed_by_key(snapshot)[keys],
            "pain_source": _dense(size, pain_keys, _pain_source(pain), None, object)[keys],
        }
    )
    for column in STRATUM_COLUMNS:
        values = patients[column]
        frame[column] = _category_of(values, rows) if isinstance(values.dtype, pd.CategoricalDtype) else values.to_numpy()[rows]
    return frame[list(PAIN_COLUMNS)]


def _itt_masks(snapshot: Snapshot, patients: pd.DataFrame, params: RunParameters, cutoff) -> dict[str, np.ndarray]:
    """Per follow-up visit: a boolean per row of ``patients``, True when in the ITT population (module docstring)."""
    codes = _codes(patients)
    exit_date = pd.Series(_exit_per_patient(snapshot, "exit_date", _n_patients(snapshot))[codes], index=patients.index)
    with_data = snapshot.visits[snapshot.visits["visit_date"].notna()]
    recorded_keys = np.zeros(_n_patients(snapshot) * _n_visits(snapshot), dtype=bool)
    recorded_keys[_visit_keys(with_data, _n_visits(snapshot))] = True
    masks = {}
    for visit in params.visits:
        target = patients["day0"] + pd.Timedelta(days=VISITS_BY_CODE[visit].target_day)
        reached = target <= cutoff if cutoff is not None else pd.Series(False, index=patients.index)  # no dates: none
        on_study = ((exit_date.isna() | (exit_date > target)) & reached).to_numpy()
        recorded = recorded_keys[codes * _n_visits(snapshot) + VISIT_CODES.index(visit)]
        masks[visit] = on_study | recorded
    return masks


def itt_population(snapshot: Snapshot, patients: pd.DataFrame, params: RunParameters, cutoff) -> dict[str, list[str]]:
    """Per follow-up visit: study_ids (sorted) alive and on study at its target day (module docstring)."""
    snapshot = snapshot_coded(snapshot)
    ids = _as_text(patients["study_id"]).to_numpy(dtype=object)
    order = np.argsort(_codes(patients), kind="stable") if isinstance(patients["study_id"].dtype, pd.CategoricalDtype) else None
    population = {}
    for visit, mask in _itt_masks(snapshot, patients, params, cutoff).items():
        chosen = ids[order][mask[order]] if order is not None else np.array(sorted(ids[mask]), dtype=object)
        population[visit] = chosen.tolist()
    return population


def _adresp(pain: pd.DataFrame, patients: pd.DataFrame, masks: dict[str, np.ndarray]) -> pd.DataFrame:
    """adresp on integer keys: every (patient, visit) of the ITT masks, in study_id then schedule order."""
    n_visits = len(pain["visit"].cat.categories)
    size = len(pain["study_id"].cat.categories) * n_visits
    codes = _codes(patients)
    keys = np.sort(
        np.concatenate(
            [codes[mask] * n_visits + VISIT_CODES.index(visit) for visit, mask in masks.items()] or [np.zeros(0, np.int64)]
        )
    )
    pain_keys = _visit_keys(pain, n_visits)
    baseline = (pain["visit"] == BASELINE).to_numpy()
    at_visit = ~baseline
    patient_of = keys // n_visits
    base_keys = pain_keys[baseline] // n_visits
    frame = pd.DataFrame(
        {
            "study_id": _from_codes(patient_of, pain["study_id"].dtype),
            "visit": _from_codes(keys % n_visits, pain["visit"].dtype),
            "worst_pain_baseline": _dense(size // n_visits, base_keys, pain["worst"].to_numpy()[baseline])[patient_of],
            "worst_pain": _dense(size, pain_keys[at_visit], pain["worst"].to_numpy()[at_visit])[keys],
            "omed_baseline": _dense(size // n_visits, base_keys, pain["omed"].to_numpy()[baseline])[patient_of],
            "omed": _dense(size, pain_keys[at_visit], pain["omed"].to_numpy()[at_visit])[keys],
            "pain_source": _dense(size, pain_keys[at_visit], pain["pain_source"].to_numpy(dtype=object)[at_visit], None, object)[
                keys
            ],
        }
    )
    frame["response"] = pain_response_classify_frame(frame) if len(frame) else pd.Series(dtype=object)
    return frame[list(ADRESP_COLUMNS)]


def build_adresp(pain: pd.DataFrame, itt: dict[str, list[str]]) -> pd.DataFrame:
    """One row per patient × follow-up visit of the ITT population (docs/domain.md §4), in study_id then
    schedule order. ``pain``: the long frame of ``build_pain``; ``itt``: ``itt_population``."""
    ids = sorted(set(_as_text(pain["study_id"]).dropna()).union(*map(set, itt.values())))
    categories = pd.Index(ids, dtype=object)
    coded = pain.assign(
        study_id=pd.Categorical(_as_text(pain["study_id"]), categories=categories),
        visit=text_categorical(_as_text(pain["visit"]), VISIT_CODES),
    )
    patients = pd.DataFrame({"study_id": pd.Categorical(ids, categories=categories)})
    masks = {visit: patients["study_id"].isin(members).to_numpy() for visit, members in itt.items()}
    return _plain(_adresp(coded, patients, masks)).assign(
        visit=lambda f: f["visit"].astype(object), study_id=lambda f: f["study_id"].astype(object)
    )


def build_aes(snapshot: Snapshot, patients: pd.DataFrame) -> pd.DataFrame:
    """One row per adverse event of a treated patient; onset/resolution as days from day 0 (no dates, no term)."""
    snapshot = snapshot_coded(snapshot)
    frame = snapshot.adverse_events.merge(patients[["study_id", "day0", *STRATUM_COLUMNS]], on="study_id", how="inner")
    for column, date in (("onset_day", "onset_date"), ("resolution_day", "resolution_date")):
        dates = pd.to_datetime(frame[date]) if date in frame.columns else pd.Series(pd.NaT, index=frame.index)
        frame[column] = (dates - frame["day0"]).dt.days
    return frame[list(AES_COLUMNS)].sort_values(["study_id", "sir_grade"], kind="mergesort").reset_index(drop=True)


def build_enrolment(snapshot: Snapshot, patients: pd.DataFrame) -> pd.DataFrame:
    """Every enrolled patient with whether an index procedure is recorded, its date and the exit if any."""
    snapshot = snapshot_coded(snapshot)
    size = _n_patients(snapshot)
    codes = _codes(snapshot.patients)
    treated = _dense(
        size, _codes(patients), patients["day0"].to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT"), "datetime64[ns]"
    )
    is_treated = np.zeros(size, dtype=bool)
    is_treated[_codes(patients)] = True
    exits = snapshot.exits.drop_duplicates("study_id")
    exit_type = _dense(size, _codes(exits), _as_text(exits["exit_type"]).to_numpy(dtype=object), np.nan, object)
    exit_date = _dense(
        size, _codes(exits), exits["exit_date"].to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT"), "datetime64[ns]"
    )
    frame = pd.DataFrame(
        {
            "study_id": snapshot.patients["study_id"].to_numpy(),
            "treated": is_treated[codes],
            "day0": treated[codes],
            "exit_type": exit_type[codes],
            "exit_date": exit_date[codes],
        }
    )
    return frame.iloc[np.argsort(codes, kind="stable")].reset_index(drop=True)


def visits_not_done(snapshot: Snapshot) -> pd.DataFrame:
    """study_id, visit of the visits whose not-done reason is filled in (the visit did not take place)."""
    snapshot = snapshot_coded(snapshot)
    visits = snapshot.visits
    if "not_done_reason" not in visits.columns:
        return pd.DataFrame({"study_id": pd.Series(dtype=object), "visit": pd.Series(dtype=object)})
    reason = visits["not_done_reason"]
    if isinstance(reason.dtype, pd.CategoricalDtype):  # strip the categories, not every row
        given = np.append(pd.Series(reason.cat.categories, dtype=object).astype(str).str.strip().ne("").to_numpy(), False)
        done = given[reason.cat.codes.to_numpy()]  # code -1 (missing) → the appended False
    else:
        done = (reason.fillna("").astype(str).str.strip() != "").to_numpy()
    return _plain(visits.loc[done, ["study_id", "visit"]].reset_index(drop=True)).assign(visit=lambda f: _as_text(f["visit"]))


def with_date_columns(snapshot: Snapshot) -> Snapshot:
    """Every date column as datetime64, also in empty frames (whose columns would be object)."""
    frames = {}
    for name, frame in snapshot.frames().items():
        dates = [c for c in frame.columns if c in DATE_COLUMNS and not pd.api.types.is_datetime64_any_dtype(frame[c])]
        frames[name] = frame.assign(**{c: pd.to_datetime(frame[c]) for c in dates}) if dates else frame
    return replace(snapshot, **frames) if any(frames[n] is not f for n, f in snapshot.frames().items()) else snapshot


def _category(values: pd.Series) -> pd.Series:
    """``values.astype("category")`` of the plain text: the observed values, sorted, as categories. A categorical
    column is recoded without touching its text (only its categories are sorted)."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return values.astype("category")
    used = values.cat.remove_unused_categories()
    ordered = sorted(used.cat.categories)
    return used.cat.reorder_categories(ordered) if list(used.cat.categories) != ordered else used


def as_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """Visit and stratum columns as pandas categoricals: the per-stratum, per-visit selections of the
    statistics compare codes instead of Python strings (same numbers, about a third faster at scale)."""
    columns = [c for c in ("visit", *STRATUM_COLUMNS) if c in frame.columns]
    return _with_columns(frame, {c: _category(frame[c]) for c in columns})


def analysis_sets_build(snapshot: Snapshot, params: RunParameters) -> AnalysisSets:
    """The analysis sets of ``snapshot`` under ``params`` (see the module docstring for every convention).

    Works on integer keys (``snapshot_coded``); the sets carry ``study_id`` as text and visit and strata as
    categoricals, exactly as the text-keyed derivation did."""
    snapshot = snapshot_coded(snapshot)
    patients = analysis_patients(snapshot)
    cutoff = data_cutoff(snapshot)
    # Each set is put in its final form as soon as it is built and its working copy dropped, the largest first
    # (issue 17, worker memory: the integer-keyed pain and adresp frames no longer outlive their final forms).
    pain = build_pain(snapshot, patients, params)
    masks = _itt_masks(snapshot, patients, params, cutoff)
    ids = _as_text(patients["study_id"]).to_numpy(dtype=object)
    itt = {visit: ids[mask].tolist() for visit, mask in masks.items()}  # patients are in study_id order
    adresp = as_categories(_plain(_adresp(pain, patients, masks)))
    del masks, ids
    pain = as_categories(_plain(pain))
    adtte = as_categories(_plain(build_adtte(snapshot, patients, params)))
    aes = as_categories(_plain(build_aes(snapshot, patients)))
    enrolment = _plain(build_enrolment(snapshot, patients))
    local_control = local_control_inputs(snapshot, patients)
    lesion_control = build_lesion_control(snapshot, patients, local_control)
    adltp = build_adltp(snapshot, patients, local_control)
    return AnalysisSets(
        patients=as_categories(_plain(patients)),
        adtte=adtte,
        adresp=adresp,
        pain=pain,
        aes=aes,
        itt_population=itt,
        cutoff=cutoff,
        enrolment=enrolment,
        visits_not_done=visits_not_done(snapshot),
        lesion_control=lesion_control,
        adltp=adltp,
    )
