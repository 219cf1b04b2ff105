"""CDISC Dataset-JSON v1.1 export (issue 13 item 10): analysis data sets and registry tables, JSON and NDJSON.

Data sets:

- ``ADSL`` — one row per treated patient (ADaM subject-level-like): site, sex, histology, ECOG, strata, age;
- ``ADTTE`` — time to SRE and overall survival in days from day 0 with event flags (``analytics.derive``);
- ``ADRESP`` — pain response per follow-up visit (ITT population, IPMCC criteria; ``analytics.derive``);
- the registry tables of ``/api/v1/export/<table>.csv`` (``PATIENTS``, ``LESIONS``, ``VISITS``, ``AE``…).

Each file carries the dataset metadata Dataset-JSON 1.1 defines (``datasetJSONVersion``, ``fileOID``,
``itemGroupOID``, ``records``, ``name``, ``label``, ``columns`` with ``itemOID``/``name``/``label``/``dataType``,
``studyOID``/``metaDataVersionOID`` matching the ODM export, ``sourceSystem``) and is written row by row
(``dataset_json_stream``): memory stays flat for the registry tables. NDJSON (Dataset-JSON 1.1 NDJSON
representation): line 1 is the metadata, every further line one row array.

Rows are scoped to the user (``scope_queryset``); sponsors get the de-identified form: no calendar dates (days
from day 0 instead), no free text, age instead of birth year with ages over 89 as ``"90+"`` (DOMAIN.md §10).
Stored text passes ``export_text`` (control characters as U+FFFD); the values are verbatim otherwise (a
machine-oriented format: no spreadsheet neutralisation).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from trials.access import access_for, scope_queryset
from trials.domain.age import AGE_TOP_CATEGORY, age_reported
from trials.interop.exports import table_rows
from trials.interop.tabular import EXPORTS, sponsor_columns
from trials.models import Patient
from trials.services.text import export_text

VERSION = "1.1.0"
ANALYSIS = ("adsl", "adtte", "adresp")
TABLE_NAMES = {
    "patients": "PATIENTS",
    "lesions": "LESIONS",
    "procedures": "PROC",
    "radiation-courses": "RADIATION",
    "visits": "VISITS",
    "adverse-events": "AE",
    "skeletal-events": "SRE",
    "imaging-assessments": "IMAGING",
    "study-exits": "EXITS",
    "sites": "SITES",
}
LABELS = {
    "adsl": "Subject-level analysis data set (one row per treated patient)",
    "adtte": "Time-to-event analysis data set: SRE and overall survival, days from day 0",
    "adresp": "Pain response per follow-up visit (ITT population)",
}
ADSL_STAFF_DATES = ("consent_date", "enrollment_date", "day0")


@dataclass
class Column:
    name: str
    data_type: str  # string | integer | decimal | double | boolean | date | datetime
    label: str

    def meta(self, dataset: str) -> dict:
        return {
            "itemOID": f"IT.{dataset}.{self.name.upper()}",
            "name": self.name.upper(),
            "label": self.label,
            "dataType": self.data_type,
        }


@dataclass
class Dataset:
    name: str  # e.g. ADTTE
    label: str
    columns: list[Column]
    records: int
    rows: Iterator[list]
    reference: bool = False


def dataset_names() -> list[str]:
    return [*ANALYSIS, *EXPORTS]


def _json_value(value, data_type: str):
    if value is None or (isinstance(value, float) and value != value):  # NaN → null
        return None
    if data_type == "decimal":
        return format(Decimal(str(value)).normalize(), "f")  # Dataset-JSON: decimals as strings, exact
    if data_type in ("date", "datetime"):
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    if data_type == "integer":
        return int(value)
    if data_type == "double":
        return float(value)
    if data_type == "boolean":
        return bool(value)
    return export_text(str(value))


# --- analysis data sets ---------------------------------------------------------------------------------------------


def _frame_type(series) -> str:
    kind = series.dtype.kind
    return {"i": "integer", "u": "integer", "f": "double", "b": "boolean", "M": "date"}.get(kind, "string")


def _analysis_frame(name: str, user):
    from analytics.dataset import snapshot_extract
    from analytics.derive import analysis_sets_build
    from analytics.parameters import parameters_parse

    sets = analysis_sets_build(snapshot_extract(), parameters_parse({}))
    frame = {"adsl": sets.patients, "adtte": sets.adtte, "adresp": sets.adresp}[name].copy()
    readable = set(scope_queryset(user, Patient.objects.all()).values_list("study_id", flat=True))
    frame = frame[frame["study_id"].isin(readable)]
    for column in frame.columns:
        if str(frame[column].dtype) == "category":
            frame[column] = frame[column].astype(object)
    sponsor = access_for(user).is_sponsor_only
    if name == "adsl":
        frame = frame.drop(
            columns=[c for c in frame.columns if c in ("birth_year",)] + (list(ADSL_STAFF_DATES) if sponsor else []),
            errors="ignore",
        )
        if sponsor:
            frame["age"] = [age_reported(int(a)) for a in frame["age"]]
            frame["age"] = frame["age"].astype(str)
    return frame.reset_index(drop=True)


def _analysis_dataset(name: str, user) -> Dataset:
    frame = _analysis_frame(name, user)
    columns = [Column(c, _frame_type(frame[c]), c.replace("_", " ").capitalize()) for c in frame.columns]
    types = [c.data_type for c in columns]

    def rows() -> Iterator[list]:
        for values in frame.itertuples(index=False, name=None):
            yield [
                _json_value(v.date() if t == "date" and hasattr(v, "date") else v, t) for v, t in zip(values, types, strict=True)
            ]

    return Dataset(name.upper(), LABELS[name], columns, len(frame), rows())


# --- registry tables ------------------------------------------------------------------------------------------------


def _field_type(model, path: str) -> tuple[str, str]:
    current, field = model, None
    for part in path.split("__"):
        field = current._meta.get_field(part)
        current = field.related_model or current
    label = str(getattr(field, "verbose_name", path)).capitalize()
    if isinstance(field, models.BooleanField):
        return "boolean", label
    if isinstance(field, models.DateTimeField):
        return "datetime", label
    if isinstance(field, models.DateField):
        return "date", label
    if isinstance(field, models.DecimalField):
        return "decimal", label
    if isinstance(field, models.IntegerField | models.AutoField | models.ForeignKey):
        return "integer", label
    return "string", label


def _table_dataset(name: str, user) -> Dataset:
    spec = EXPORTS[name]
    sponsor = access_for(user).is_sponsor_only
    paths = sponsor_columns(spec) if sponsor else list(spec.columns)
    header, rows = table_rows(user, name)
    columns = []
    for path, column in zip(paths, header, strict=True):
        if path == "voided_at":
            columns.append(Column(column, "boolean", "Voided (kept, marked; never deleted)"))
        elif sponsor and path in spec.dates:
            columns.append(Column(column, "integer", f"{path.replace('_', ' ').capitalize()}: days from day 0"))
        elif sponsor and path == "birth_year":
            columns.append(Column(column, "string", f"Age at enrollment (years; {AGE_TOP_CATEGORY}+ above 89)"))
        else:
            columns.append(Column(column, *_field_type(spec.model, path)))
    queryset = scope_queryset(user, spec.model._default_manager.all())
    types = [c.data_type for c in columns]
    converted = ([_json_value(v, t) for v, t in zip(row, types, strict=True)] for row in rows)
    return Dataset(
        TABLE_NAMES.get(name, name.upper().replace("-", "_")),
        f"Registry table {name}",
        columns,
        queryset.count(),
        converted,
        reference=name == "sites",
    )


def dataset_build(name: str, user) -> Dataset:
    """One data set as ``user`` may see it (``trials.access.SYSTEM``: the command line, everything).

    Raises ``KeyError`` for an unknown name."""
    if name in ANALYSIS:
        return _analysis_dataset(name, user)
    if name in EXPORTS:
        return _table_dataset(name, user)
    raise KeyError(name)


def _metadata(dataset: Dataset) -> dict:
    now = timezone.now().replace(microsecond=0)
    study = settings.REGISTRY_STUDY_CODE
    return {
        "datasetJSONCreationDateTime": now.isoformat(),
        "datasetJSONVersion": VERSION,
        "fileOID": f"F.{study}.{dataset.name}.{now:%Y%m%dT%H%M%S}",
        "dbLastModifiedDateTime": now.isoformat(),
        "originator": "Bone metastasis ablation registry",
        "sourceSystem": {"name": "bone-mets-ablation-registry", "version": "1"},
        "studyOID": f"ST.{study}",
        "metaDataVersionOID": "MDV.1",
        "itemGroupOID": f"IG.{dataset.name}",
        "isReferenceData": dataset.reference,
        "records": dataset.records,
        "name": dataset.name,
        "label": dataset.label,
        "columns": [c.meta(dataset.name) for c in dataset.columns],
    }


def dataset_json_stream(dataset: Dataset, *, ndjson: bool = False) -> Iterator[str]:
    """The data set as Dataset-JSON 1.1 text, in chunks (JSON: one object with ``rows``; NDJSON: one line each)."""
    meta = _metadata(dataset)
    if ndjson:
        yield json.dumps(meta) + "\n"
        for row in dataset.rows:
            yield json.dumps(row) + "\n"
        return
    yield json.dumps(meta)[:-1] + ', "rows": ['
    for index, row in enumerate(dataset.rows):
        yield ("," if index else "") + json.dumps(row)
    yield "]}"


def dataset_json_text(name: str, user, *, ndjson: bool = False) -> str:
    return "".join(dataset_json_stream(dataset_build(name, user), ndjson=ndjson))
