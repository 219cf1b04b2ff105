"""Analysis snapshot: the registry as pandas DataFrames, in a constant number of queries.

Each ``<thing>_query`` is exactly one ``.values_list()`` query (joins, no
per-patient queries) that ``frame_load`` turns into a DataFrame; it excludes
voided records — and the children of voided parents. ``snapshot_extract`` runs all of them (one query per frame, whatever
the number of patients) and ``snapshot_fingerprint`` hashes a canonical
serialization of the content, so a report can say exactly which data it used
(DESIGN.md "Analytics" 1).

Every frame carries the record ``version`` of its rows: a clinical change
through ``clinical_record_update`` always bumps it, so any edit — even of a
field the analysis does not read — yields a new fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import BooleanField, Exists, ExpressionWrapper, F, Func, IntegerField, OuterRef, Q, QuerySet

from analytics.copy_frames import (
    copy_frame,
    copy_statement,
    epoch_days_to_datetime,
)
from trials.crf import DATA_TYPES
from trials.domain.bpi import INTENSITY_ITEMS, INTERFERENCE_ITEMS
from trials.domain.schedule import VISIT_CODES
from trials.models import (
    AdverseEvent,
    ImagingAssessment,
    Lesion,
    MedicationUse,
    PainAssessment,
    Patient,
    Procedure,
    RadiationCourse,
    SkeletalEvent,
    StudyExit,
    Visit,
)

DATE_COLUMNS = (
    "consent_date",
    "enrollment_date",
    "day0",
    "procedure_date",
    "start_date",
    "end_date",
    "target_date",
    "visit_date",
    "onset_date",
    "resolution_date",
    "event_date",
    "exit_date",
    "last_contact_date",
    "assessment_date",
    "ltp_date",
)


DECIMAL_COLUMNS = ("mme_per_day",)


EPOCH_DAYS_SQL = "(%(expressions)s - DATE '1970-01-01')"  # PostgreSQL: date − date is a whole number of days
PATIENT_KEY = "study_id"  # every frame's patient column: a categorical over the snapshot's sorted study_ids


@dataclass(frozen=True)
class FrameQuery:
    """One extraction query: ``columns`` maps frame column → ORM lookup; the ``study_id`` column is the patient."""

    queryset: QuerySet
    columns: dict[str, str]

    def values_list(self) -> QuerySet:
        return self.queryset.values_list(*self.columns.values())

    def keyed_values_list(self) -> QuerySet:
        """The same query with the patient's integer primary key in place of its study_id text and every date as
        its day number since 1970-01-01 (the COPY path, PostgreSQL: no date text to parse, issue 17)."""
        types = self.data_types()
        lookups: list[Any] = [
            lookup[: -len("study_id")] + "id"
            if column == PATIENT_KEY
            else Func(F(lookup), template=EPOCH_DAYS_SQL, output_field=IntegerField())
            if types[column] == "date"
            else lookup
            for column, lookup in self.columns.items()
        ]
        return self.queryset.values_list(*lookups)

    def data_types(self) -> dict[str, str]:
        """Column → integer | float | date | boolean | text, read from the model fields with the case-report
        forms' type table (``trials.crf.DATA_TYPES``, issue 10's single field declaration)."""
        annotations = self.queryset.query.annotations
        return {
            column: _annotation_type(annotations[lookup]) if lookup in annotations else _lookup_type(self.queryset.model, lookup)
            for column, lookup in self.columns.items()
        }


def _annotation_type(expression) -> str:
    """The column type of a computed column (e.g. ``opioid_reviewed``, a boolean of ``opioid_reviewed_at``)."""
    field = expression.output_field
    return next((t for cls, t in DATA_TYPES.items() if isinstance(field, cls)), "text")


def _lookup_type(model, lookup: str) -> str:
    *path, name = lookup.split("__")
    for part in path:
        model = model._meta.get_field(part).related_model
    field = model._meta.get_field(name)
    return next((t for cls, t in DATA_TYPES.items() if isinstance(field, cls)), "text")


def text_categorical(values: pd.Series, first: tuple[str, ...] = ()) -> pd.Categorical:
    """Text as a categorical: the ``first`` codes in their order, then any other value sorted."""
    present = pd.unique(values.dropna()) if values.dtype != "category" else values.cat.categories[values.cat.categories.notna()]
    extra = sorted(set(present) - set(first))
    if values.dtype == "category":
        return values.cat.set_categories([*first, *extra]).array
    return pd.Categorical(values, categories=[*first, *extra])


# Integer columns held narrower than int64 (issue 17, worker memory: the 11 BPI items are a third of the snapshot at
# 8 bytes each): the BPI items are 0–10 (docs/domain.md §3), a record version is a PositiveIntegerField (< 2**31).
# With a missing value an int8/int16 column is float32 (exact for these whole numbers), otherwise float64.
NARROW_INTEGERS: dict[str, type[np.signedinteger]] = {
    **{item: np.int8 for item in INTENSITY_ITEMS + INTERFERENCE_ITEMS},
    "version": np.int32,
}


def _number_dtype(numbers: pd.Series, narrow: type[np.signedinteger] | None, is_float: bool) -> np.dtype:
    """The dtype a number column is held in: ``narrow`` (or float32 when a value is missing and ``narrow`` has at
    most 16 bits) when every value fits it, else int64 (complete) / float64 (a value missing, or a float column)."""
    complete = not numbers.isna().any()
    if is_float:
        return np.dtype(float)
    if narrow is not None and len(numbers):
        limits = np.iinfo(narrow)
        fits = bool(limits.min <= numbers.min() and numbers.max() <= limits.max)
        if fits and complete:
            return np.dtype(narrow)
        if fits and limits.bits <= 16:
            return np.dtype(np.float32)
    return np.dtype(np.int64 if complete else float)


def _typed(frame: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    """The one column representation of both extraction paths (so both give the same frames and fingerprint):
    text → categorical (``visit`` with the schedule's visit codes first), integers → int64 (float64 when a
    value is missing; ``NARROW_INTEGERS`` narrower), decimals → float64, dates → datetime64[ns], booleans → bool
    (object when missing)."""
    out: dict[str, Any] = {}
    for column in frame.columns:
        values, kind = frame[column], types.get(column, "text")
        if column == PATIENT_KEY:
            out[column] = values
        elif kind == "text":
            out[column] = text_categorical(values, VISIT_CODES if column == "visit" else ())
        elif kind in ("integer", "float"):
            numbers = values.astype(float) if values.dtype == object else values
            target = _number_dtype(numbers, NARROW_INTEGERS.get(column) if kind == "integer" else None, kind == "float")
            out[column] = numbers if numbers.dtype == target else numbers.astype(target)  # no copy when already so
        elif kind == "date":
            text = values.dtype == object and isinstance(values.dropna().iloc[0] if values.notna().any() else None, str)
            out[column] = pd.to_datetime(values, format="%Y-%m-%d" if text else None).astype("datetime64[ns]")
        elif kind == "boolean":
            flags = values.map({"t": True, "f": False, True: True, False: False}) if values.dtype != bool else values
            out[column] = flags.astype(bool) if flags.notna().all() else flags.astype(object).where(flags.notna(), None)
        else:  # pragma: no cover - DATA_TYPES has no other kind
            out[column] = values
    return pd.DataFrame(out, index=frame.index, copy=False)  # the typed columns as they are: no second copy


def _with_patient_categories(frame: pd.DataFrame, categories: pd.Index) -> pd.DataFrame:
    if PATIENT_KEY in frame.columns:
        frame[PATIENT_KEY] = pd.Categorical(frame[PATIENT_KEY], categories=categories)
    return frame


def frame_load(query: FrameQuery, categories: pd.Index | None = None) -> pd.DataFrame:
    """Run the query once through the ORM (SQLite and any other database); typed as ``_typed`` says."""
    frame = pd.DataFrame.from_records(list(query.values_list()), columns=list(query.columns))
    frame = _typed(frame, query.data_types())
    if categories is None:
        categories = pd.Index(np.sort(frame[PATIENT_KEY].to_numpy(dtype=object)), dtype=object)
    return _with_patient_categories(frame, categories)


def frame_copy(query: FrameQuery, patient_codes: pd.Series | None, categories: pd.Index | None) -> pd.DataFrame:
    """The frame of ``query`` through COPY with the patient's integer key, mapped to the study_id categorical
    (``patient_codes``: patient pk → position in ``categories``) — no study_id text leaves the database."""
    types = query.data_types()
    columns = list(query.columns)
    if patient_codes is None:  # the patients frame itself: its study_ids are the categories
        raw = copy_frame(query.queryset.values_list("id", *query.columns.values()), ["_pk", *columns], types)
        frame = _typed(raw.drop(columns="_pk"), types)
        return frame.assign(_pk=raw["_pk"].astype(np.int64))
    read_as = {column: "integer" if kind == "date" else kind for column, kind in types.items()}  # days since 1970
    raw = copy_frame(query.keyed_values_list(), columns, {**read_as, PATIENT_KEY: "integer"})
    codes = patient_codes.reindex(raw[PATIENT_KEY].astype(np.int64)).to_numpy() if len(raw) else np.array([], dtype=np.int64)
    for column in (c for c, kind in types.items() if kind == "date" and c in raw.columns):
        raw[column] = epoch_days_to_datetime(raw[column])
    del raw[PATIENT_KEY]  # in place: ``drop`` would copy every other column
    frame = _typed(raw, types)
    del raw
    keys: Any = pd.Categorical.from_codes(codes.astype(np.int64), categories=categories)
    frame.insert(columns.index(PATIENT_KEY), PATIENT_KEY, keys)
    return frame


def _active_children(model, patient_path: str = "patient") -> QuerySet:
    """Active rows of ``model`` whose patient is active too."""
    return model.objects.filter(voided_at__isnull=True, **{f"{patient_path}__voided_at__isnull": True})


def patients_query() -> FrameQuery:
    return FrameQuery(
        Patient.objects.filter(voided_at__isnull=True),
        {
            "study_id": "study_id",
            "site": "site__code",
            "birth_year": "birth_year",
            "sex": "sex",
            "histology": "histology",
            "ecog": "ecog",
            "consent_date": "consent_date",
            "enrollment_date": "enrollment_date",
            "day0": "day0",
            "version": "version",
        },
    )


def lesions_query() -> FrameQuery:
    """Index lesions (one per patient by constraint)."""
    return FrameQuery(
        _active_children(Lesion).filter(is_index=True),
        {
            "study_id": "patient__study_id",
            "region": "region",
            "spine_level": "spine_level",
            "bone": "bone",
            "lesion_type": "lesion_type",
            "size_mm": "size_mm",
            "sins_pain": "sins_pain",
            "sins_alignment": "sins_alignment",
            "sins_collapse": "sins_collapse",
            "sins_posterolateral": "sins_posterolateral",
            "version": "version",
        },
    )


def procedures_query() -> FrameQuery:
    """Index procedures (one per patient by constraint); their date is day 0."""
    return FrameQuery(
        _active_children(Procedure).filter(is_index=True),
        {
            "study_id": "patient__study_id",
            "procedure_date": "procedure_date",
            "modality": "modality",
            "augmentation": "augmentation",
            "intent": "intent",
            "guidance": "guidance",
            "version": "version",
        },
    )


def radiation_query() -> FrameQuery:
    """Planned radiation courses of the index lesion — never SREs (docs/domain.md §6)."""
    return FrameQuery(
        _active_children(RadiationCourse),
        {
            "study_id": "patient__study_id",
            "sequence": "sequence",
            "start_date": "start_date",
            "end_date": "end_date",
            "version": "version",
        },
    )


def visits_query() -> FrameQuery:
    reviewed = ExpressionWrapper(Q(opioid_reviewed_at__isnull=False), output_field=BooleanField())
    return FrameQuery(
        _active_children(Visit).annotate(opioid_reviewed=reviewed),
        {
            "study_id": "patient__study_id",
            "visit": "visit_code",
            "target_date": "target_date",
            "visit_date": "visit_date",
            "opioid_status": "opioid_status",
            "not_done_reason": "not_done_reason",
            # Provenance (issue 15): patient-reported opioid answers count as MME only once staff reviewed them.
            "opioid_source": "opioid_source",
            "opioid_reviewed": "opioid_reviewed",
            "version": "version",
        },
    )


def pain_query() -> FrameQuery:
    """BPI items per visit (docs/domain.md §3); only assessments of active visits."""
    items = {item: item for item in INTENSITY_ITEMS + INTERFERENCE_ITEMS}
    return FrameQuery(
        _active_children(PainAssessment, "visit__patient").filter(visit__voided_at__isnull=True),
        {"study_id": "visit__patient__study_id", "visit": "visit__visit_code", **items, "source": "source", "version": "version"},
    )


def medications_query() -> FrameQuery:
    """Opioid entries with their stored MME/day (docs/domain.md §5)."""
    return FrameQuery(
        _active_children(MedicationUse, "visit__patient").filter(visit__voided_at__isnull=True),
        {
            "study_id": "visit__patient__study_id",
            "visit": "visit__visit_code",
            "drug": "drug",
            "route": "route",
            "mme_per_day": "mme_per_day",
            "mme_table_version": "mme_table_version",
            "version": "version",
        },
    )


def adverse_events_query() -> FrameQuery:
    return FrameQuery(
        _active_children(AdverseEvent),
        {
            "study_id": "patient__study_id",
            "term": "term",
            "onset_date": "onset_date",
            "sir_grade": "sir_grade",
            "ctcae_grade": "ctcae_grade",
            "relatedness": "relatedness",
            "serious": "serious",
            "resolution_date": "resolution_date",
            "version": "version",
        },
    )


def skeletal_events_query() -> FrameQuery:
    return FrameQuery(
        _active_children(SkeletalEvent),
        {
            "study_id": "patient__study_id",
            "event_type": "event_type",
            "event_date": "event_date",
            "at_index_lesion": "at_index_lesion",
            "version": "version",
        },
    )


def exits_query() -> FrameQuery:
    return FrameQuery(
        _active_children(StudyExit),
        {
            "study_id": "patient__study_id",
            "exit_type": "exit_type",
            "exit_date": "exit_date",
            "last_contact_date": "last_contact_date",
            "version": "version",
        },
    )


IMAGING_COLUMNS = (
    "study_id",
    "lesion_instance",
    "index_lesion",
    "assessment_date",
    "imaging_modality",
    "first_post_procedure",
    "viable_tumour",
    "local_tumour_progression",
    "ltp_date",
    "version",
)


def imaging_query() -> FrameQuery:
    """Imaging follow-up of treated lesions (issue 10 part B; docs/domain.md §12): one row per active imaging
    study; ``index_lesion`` is True when its lesion number is the patient's active index lesion."""
    index_lesion = Exists(
        Lesion.objects.filter(
            patient_id=OuterRef("patient_id"), is_index=True, voided_at__isnull=True, repeat_instance=OuterRef("lesion_instance")
        )
    )
    columns = {c: c for c in IMAGING_COLUMNS}
    columns["study_id"] = "patient__study_id"
    return FrameQuery(_active_children(ImagingAssessment).annotate(index_lesion=index_lesion), columns)


def empty_imaging_frame() -> pd.DataFrame:
    """The imaging frame of a snapshot built without one (hand-built test snapshots): no rows."""
    return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c in DATE_COLUMNS else object) for c in IMAGING_COLUMNS})


@dataclass(frozen=True)
class Snapshot:
    """The registry content one report run analyses."""

    patients: pd.DataFrame
    lesions: pd.DataFrame
    procedures: pd.DataFrame
    radiation: pd.DataFrame
    visits: pd.DataFrame
    pain: pd.DataFrame
    medications: pd.DataFrame
    adverse_events: pd.DataFrame
    skeletal_events: pd.DataFrame
    exits: pd.DataFrame
    imaging: pd.DataFrame = field(default_factory=empty_imaging_frame)

    def frames(self) -> dict[str, pd.DataFrame]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


FRAME_QUERIES = {
    "patients": patients_query,
    "lesions": lesions_query,
    "procedures": procedures_query,
    "radiation": radiation_query,
    "visits": visits_query,
    "pain": pain_query,
    "medications": medications_query,
    "adverse_events": adverse_events_query,
    "skeletal_events": skeletal_events_query,
    "exits": exits_query,
    "imaging": imaging_query,
}


def snapshot_extract(*, method: str | None = None) -> Snapshot:
    """All frames, one query each (``len(FRAME_QUERIES)`` queries for any registry size).

    ``method``: ``"copy"`` (PostgreSQL's ``COPY … TO STDOUT`` with integer patient keys; the default on
    PostgreSQL) or ``"orm"`` (``values_list``; the default elsewhere, e.g. SQLite). Both give the same frames:
    every ``study_id`` column is a categorical over the sorted study_ids of the active patients (its codes are
    the integer patient key the derivation works on), other text columns categoricals, the rest typed by
    ``_typed``. Call inside ``transaction.atomic()`` on PostgreSQL with REPEATABLE READ semantics if frames
    must be mutually consistent under concurrent writes; the pipeline does so.
    """
    method = method or ("copy" if connection.vendor == "postgresql" else "orm")
    if method == "orm":
        patients = frame_load(patients_query())
        categories = patients[PATIENT_KEY].cat.categories
        frames = {name: frame_load(query(), categories) for name, query in FRAME_QUERIES.items() if name != "patients"}
        return Snapshot(patients=patients, **frames)
    if method != "copy":
        raise ValueError(f"method must be 'copy' or 'orm', not {method!r}")
    patients = frame_copy(patients_query(), None, None)
    study_ids = patients[PATIENT_KEY].astype(object).to_numpy()
    order = np.argsort(study_ids, kind="stable")
    categories = pd.Index(study_ids[order], dtype=object)
    positions = np.empty(len(order), dtype=np.int64)
    positions[order] = np.arange(len(order))
    patient_codes = pd.Series(positions, index=patients.pop("_pk").to_numpy())
    patients[PATIENT_KEY] = pd.Categorical.from_codes(positions, categories=categories)
    frames = {name: frame_copy(query(), patient_codes, categories) for name, query in FRAME_QUERIES.items() if name != "patients"}
    return Snapshot(patients=patients, **frames)


# The snapshot's fingerprint and the registry's data version live in analytics.data_version (re-exported here).
from analytics.data_version import (  # noqa: E402 - after Snapshot, which it hashes
    FINGERPRINT_FLOAT_DECIMALS,
    FINGERPRINT_HASH_KEY,
    VERSIONED_MODELS,
    canonical_frame_bytes,
    registry_change_token,
    registry_data_version,
    registry_data_version_cached,
    snapshot_fingerprint,
)

__all__ = [
    "FINGERPRINT_FLOAT_DECIMALS",
    "FINGERPRINT_HASH_KEY",
    "FRAME_QUERIES",
    "VERSIONED_MODELS",
    "FrameQuery",
    "Snapshot",
    "canonical_frame_bytes",
    "copy_frame",
    "copy_statement",
    "epoch_days_to_datetime",
    "frame_copy",
    "frame_load",
    "registry_change_token",
    "registry_data_version",
    "registry_data_version_cached",
    "snapshot_extract",
    "snapshot_fingerprint",
]
