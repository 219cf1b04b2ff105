"""Derived data sets of local tumour control (issue 10 part B; docs/domain.md §12): per lesion and per patient.

Pure pandas, no ORM. Terms of Ahmed et al. (Radiology 2014;273:241). Conventions (docs/analytics-methods.md,
"Local tumour control"):

- **Lesion units** (``lesion_control``): every treated lesion of a treated patient that has imaging follow-up
  (by its lesion number), plus the patient's index lesion when it has none — so lesions never imaged are
  counted (``first_finding`` "no_first_imaging"), not dropped.
- **First finding**: viable tumour on the lesion's first post-procedure imaging ("none" = technical success,
  "present" = residual unablated tumour, "not_evaluable"), or "no_first_imaging" when no imaging of the
  lesion is marked first post-procedure. ``technical_success``: True / False for none / present, missing otherwise.
- **LTP analysis population** (``ltp_population``, per patient; Ahmed 2014: LTP is defined only after at least one
  follow-up study documented complete ablation, technique efficacy): at least one treated lesion with complete
  ablation on its first post-procedure imaging (first finding "none"). Every other patient is kept with the reason
  in ``ltp_exclusion`` (first that applies): "residual_tumour" (a lesion's first imaging showed viable tumour and
  none showed complete ablation: incomplete ablation, not LTP), "first_imaging_not_evaluable",
  "no_first_imaging_marked" (imaged, but no study marked first post-procedure) or "no_follow_up_imaging" (never
  imaged).
- **Time to first LTP** (``adltp``, one row per treated patient, days from the index procedure = day 0):
  event 1 at the earliest LTP date of any of the patient's lesions; else event 2 (death without LTP, a
  competing event) at the date of death; else censored (0) at the last imaging of any lesion — LTP can only
  be seen on imaging — or at day 0 when the patient has none (``imaged`` False; such patients are outside the LTP
  analysis population).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.dataset import Snapshot
from analytics.stats.local_control import LTP_EXCLUSIONS

LTP, DEATH_WITHOUT_LTP, CENSORED = 1, 2, 0
LOCAL_CONTROL = "local_control"
NO_FIRST_IMAGING = "no_first_imaging"
LTC_STRATA = ("intent", "guidance", "modality")
RESIDUAL_TUMOUR, FIRST_NOT_EVALUABLE, NO_FIRST_MARKED, NOT_IMAGED = LTP_EXCLUSIONS  # the reasons, in the order tried
LESION_COLUMNS = ("study_id", "lesion_instance", "index_lesion", *LTC_STRATA, "first_finding", "technical_success")
ADLTP_COLUMNS = (
    "study_id", *LTC_STRATA, "imaged", "ltp_population", "ltp_exclusion", "ltp_days", "ltp_event", "last_imaging_days",
)  # fmt: skip


def _text(values: pd.Series) -> pd.Series:
    """Plain text with blank as missing. A categorical is checked through its categories, not row by row."""
    text = values.astype(object)
    if isinstance(values.dtype, pd.CategoricalDtype):
        filled = np.append(np.asarray(values.cat.categories.astype(str).str.strip() != "", dtype=bool), False)
        return text.where(filled[values.cat.codes.to_numpy()], None)  # code -1 (missing) → the appended False
    return text.where(text.notna() & (text.astype(str).str.strip() != ""), None)


def _flag(values: pd.Series) -> pd.Series:
    return values.map(lambda v: v is True or v == 1 or str(v).lower() in {"true", "t"}).astype(bool)


def _keys(study_ids: pd.Series) -> np.ndarray:
    """The integer patient key of a coded snapshot's ``study_id`` categorical (analytics.derive.snapshot_coded: every
    frame's over one sorted set of study_ids, so key order is study_id order): its code, -1 where missing. The
    derivation joins, groups and sorts on these, not on text (issue 17, report CPU). Raises TypeError for a column
    that is not categorical."""
    if not isinstance(study_ids.dtype, pd.CategoricalDtype):
        raise TypeError("the local control derivation needs a coded snapshot (analytics.derive.snapshot_coded)")
    return study_ids.cat.codes.to_numpy().astype(np.int64)


def _study_ids(keys: pd.Series, categories: pd.Index) -> np.ndarray:
    """The study_id text (object) of integer patient keys: one str object per patient, the categories' own."""
    return np.asarray(categories, dtype=object)[keys.to_numpy()]


def _treated(snapshot: Snapshot, patients: pd.DataFrame) -> pd.DataFrame:
    """Patient key, day0 and the strata (intent, guidance, modality) of every treated patient."""
    frame = pd.DataFrame({"study_id": _keys(patients["study_id"]), "day0": patients["day0"].to_numpy()})
    procedures = snapshot.procedures
    keys = _keys(procedures["study_id"])
    first = ~pd.Index(keys).duplicated()
    for column in LTC_STRATA:
        values = procedures[column] if column in procedures.columns else pd.Series(None, index=procedures.index, dtype=object)
        per_patient = pd.Series(_text(values).to_numpy()[first], index=keys[first])
        frame[column] = frame["study_id"].map(per_patient)
    return frame


def _imaging(snapshot: Snapshot, treated: pd.DataFrame) -> pd.DataFrame:
    imaging = snapshot.imaging
    keys = _keys(imaging["study_id"])
    frame = pd.DataFrame(
        {
            "study_id": keys,
            "lesion_instance": pd.to_numeric(imaging["lesion_instance"]).to_numpy(dtype=float),
            "index_lesion": _flag(imaging["index_lesion"]).to_numpy(),
            "assessment_date": pd.to_datetime(imaging["assessment_date"]).to_numpy(dtype="datetime64[ns]"),
            "first_post_procedure": _flag(imaging["first_post_procedure"]).to_numpy(),
            "viable_tumour": _text(imaging["viable_tumour"]).to_numpy(),
            "local_tumour_progression": _flag(imaging["local_tumour_progression"]).to_numpy(),
            "ltp_date": pd.to_datetime(imaging["ltp_date"]).to_numpy(dtype="datetime64[ns]"),
        }
    )
    return frame[np.isin(keys, treated["study_id"].to_numpy())]


def local_control_inputs(snapshot: Snapshot, patients: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(treated, imaging)``: the treated patients with their strata and their imaging rows, which both
    ``build_lesion_control`` and ``build_adltp`` start from (built once per run: issue 17). Neither builder
    modifies them. ``snapshot``: coded (analytics.derive.snapshot_coded); ``patients``: its analysis patients.
    Both frames key the patient by its integer key (``_keys``), not its study_id text; raises TypeError for a
    snapshot that is not coded."""
    treated = _treated(snapshot, patients)
    return treated, _imaging(snapshot, treated)


def _lesion_units(treated: pd.DataFrame, imaging: pd.DataFrame) -> pd.DataFrame:
    """study_id, lesion_instance, index_lesion and first_finding of every lesion unit (module docstring)."""
    units = imaging[["study_id", "lesion_instance", "index_lesion"]].drop_duplicates(["study_id", "lesion_instance"])
    with_index = set(units.loc[units["index_lesion"], "study_id"])
    unimaged = treated.loc[~treated["study_id"].isin(with_index), ["study_id"]].assign(lesion_instance=np.nan, index_lesion=True)
    units = pd.concat([units, unimaged], ignore_index=True)
    first = imaging[imaging["first_post_procedure"]].sort_values("assessment_date", kind="mergesort")
    first = first.drop_duplicates(["study_id", "lesion_instance"])[["study_id", "lesion_instance", "viable_tumour"]]
    frame = units.merge(first, on=["study_id", "lesion_instance"], how="left")
    finding = frame.pop("viable_tumour").where(lambda v: v.notna(), NO_FIRST_IMAGING)
    codes, values = pd.factorize(finding)  # one str object per finding, not one per lesion (issue 17, worker memory)
    frame["first_finding"] = np.asarray(values, dtype=object)[codes]
    return frame


def build_lesion_control(
    snapshot: Snapshot, patients: pd.DataFrame, inputs: tuple[pd.DataFrame, pd.DataFrame] | None = None
) -> pd.DataFrame:
    """One row per lesion unit (module docstring), in study_id then lesion number order (the never-imaged index
    lesion, lesion number missing, last). ``patients``: the analysis patients (treated; study_id, day0);
    ``inputs``: ``local_control_inputs(snapshot, patients)`` if the caller has it."""
    treated, imaging = inputs or local_control_inputs(snapshot, patients)
    frame = _lesion_units(treated, imaging)
    success = frame["first_finding"].map({"none": True, "present": False})
    frame["technical_success"] = success.astype(object).where(success.notna(), None)
    frame = frame.merge(treated.drop(columns="day0"), on="study_id", how="left")
    frame = frame.sort_values(["study_id", "lesion_instance"], kind="mergesort", na_position="last")
    frame["study_id"] = _study_ids(frame["study_id"], patients["study_id"].cat.categories)
    return frame[list(LESION_COLUMNS)].reset_index(drop=True)


def _ltp_exclusion(treated: pd.DataFrame, imaging: pd.DataFrame, imaged: pd.Series) -> pd.Series:
    """Per treated patient (``treated``'s index): None for a patient in the LTP analysis population (a lesion whose
    first follow-up imaging showed no viable tumour), else the first reason of LTP_EXCLUSIONS that applies: a lesion
    with residual tumour, a first imaging not evaluable, imaged without a study marked first, never imaged.
    Vectorised (one grouped ``any`` per finding), linear in the patients."""
    units = _lesion_units(treated, imaging)
    findings = ("none", "present", "not_evaluable")
    flags = pd.DataFrame({f: units["first_finding"].eq(f).to_numpy() for f in findings}, index=units["study_id"].to_numpy())
    per_patient = flags.groupby(level=0, sort=False).any().reindex(treated["study_id"].to_numpy(), fill_value=False)
    # the reasons as the str objects themselves: np.where on text would make a new object per patient
    reasons = np.array([NOT_IMAGED, NO_FIRST_MARKED], dtype=object)[np.asarray(imaged, dtype=bool).astype(np.intp)]
    for finding, reason in (("not_evaluable", FIRST_NOT_EVALUABLE), ("present", RESIDUAL_TUMOUR), ("none", None)):
        reasons[per_patient[finding].to_numpy()] = reason  # in reverse priority: the first reason that applies wins
    return pd.Series(reasons, index=treated.index, dtype=object)


def build_adltp(
    snapshot: Snapshot, patients: pd.DataFrame, inputs: tuple[pd.DataFrame, pd.DataFrame] | None = None
) -> pd.DataFrame:
    """One row per treated patient with the time to first local tumour progression, death competing (module
    docstring); ``ltp_days``/``last_imaging_days`` in days from day 0, ``ltp_event`` 1 LTP, 2 death, 0 censored;
    ``ltp_population`` True for the LTP analysis population, else ``ltp_exclusion`` names why (LTP_EXCLUSIONS).
    ``inputs``: ``local_control_inputs(snapshot, patients)`` if the caller has it."""
    treated, imaging = inputs or local_control_inputs(snapshot, patients)
    by_patient = imaging.groupby("study_id", sort=False)
    last_imaging = treated["study_id"].map(by_patient["assessment_date"].max())
    ltp = treated["study_id"].map(imaging[imaging["local_tumour_progression"]].groupby("study_id")["ltp_date"].min())
    exits = snapshot.exits.assign(study_id=_keys(snapshot.exits["study_id"]))
    deaths = exits[_text(exits["exit_type"]) == "death"].drop_duplicates("study_id")
    death = treated["study_id"].map(pd.Series(pd.to_datetime(deaths["exit_date"]).to_numpy(), index=deaths["study_id"]))
    day0 = pd.to_datetime(treated["day0"])

    def days(dates: pd.Series) -> pd.Series:
        return (pd.to_datetime(dates) - day0).dt.days.astype(float).clip(lower=0)

    has_ltp, died = ltp.notna(), death.notna() & ltp.isna()
    frame = treated.drop(columns="day0")
    frame["imaged"] = last_imaging.notna().to_numpy()
    frame["ltp_exclusion"] = _ltp_exclusion(treated, imaging, last_imaging.notna())
    frame["ltp_population"] = frame["ltp_exclusion"].isna()
    frame["last_imaging_days"] = days(last_imaging)
    frame["ltp_event"] = np.select([has_ltp, died], [LTP, DEATH_WITHOUT_LTP], default=CENSORED)
    frame["ltp_days"] = np.where(has_ltp, days(ltp), np.where(died, days(death), days(last_imaging).fillna(0.0)))
    frame = frame[list(ADLTP_COLUMNS)].sort_values("study_id", kind="mergesort").reset_index(drop=True)
    frame["study_id"] = _study_ids(frame["study_id"], patients["study_id"].cat.categories)
    return frame
