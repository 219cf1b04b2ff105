"""The registry tables in tabular form: columns, rows, the sponsor's de-identified columns (issue 6).

One definition of every table, shared by the streaming CSV endpoints (``trials.api.exports``), the CSV/XLSX
files (``trials.interop.exports``) and Dataset-JSON (``trials.interop.dataset_json``), so they agree column
for column. Rows come from ``.values_list(...).iterator(chunk_size=…)`` so memory stays flat however many rows
there are. Sponsors get the de-identified columns (``trials.deidentification``, docs/domain.md §10): dates as
days from day 0, no free text, age instead of birth year.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from django.db.models import BooleanField, CharField, ExpressionWrapper, IntegerField, Model, Q, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

from trials import crf
from trials.deidentification import FREE_TEXT_FIELDS, day_field_name, is_device_identifier
from trials.domain.age import age_deidentified
from trials.models import (
    AdverseEvent,
    ImagingAssessment,
    Lesion,
    PainAssessment,
    Patient,
    Procedure,
    RadiationCourse,
    Site,
    SkeletalEvent,
    StudyExit,
    Visit,
)
from trials.services.text import spreadsheet_text

CHUNK_SIZE = 5000
SAFE_TEXT_MEMO = 50_000  # distinct strings remembered by spreadsheet_rows before it starts afresh
CLINICAL = ("id", "version")
TIMESTAMPS = ("updated_at",)


@dataclass(frozen=True)
class ExportSpec:
    model: type[Model]
    columns: tuple[str, ...]  # values_list paths; the header is the path with "__" → "_"
    dates: tuple[str, ...] = ()  # columns holding calendar dates
    day0: str = "patient__day0"
    # BPI item columns exported as their missing-data code (NASK/UNK/NA/ASKU) when blank and coded;
    # ``codes`` is the path of the visit's ``missing_codes`` JSON.
    coded: tuple[str, ...] = ()
    codes: str = "missing_codes"


def form_columns(model, prefix: str = "") -> tuple[str, ...]:
    """The columns of one case-report form, in form order (``trials.crf``), as values_list paths."""
    return tuple(prefix + name for name in crf.form_of(model).fields)


def form_dates(model, prefix: str = "") -> tuple[str, ...]:
    return tuple(prefix + i.name for i in crf.form_of(model).items if i.data_type == "date")


def clinical_export(
    model,
    keys: tuple[str, ...],
    *,
    extra: tuple[str, ...] = (),
    extra_dates: tuple[str, ...] = (),
    day0: str = "patient__day0",
    coded: tuple[str, ...] = (),
) -> ExportSpec:
    """A clinical table: id and version, the record's keys, every field of its form (+ ``extra``), voided, updated."""
    return ExportSpec(
        model,
        (*CLINICAL, *keys, *form_columns(model), *extra, "voided_at", *TIMESTAMPS),
        dates=(*form_dates(model), *extra_dates),
        day0=day0,
        coded=coded,
    )


# Column lists come from the case-report forms: a field added to a form is exported without an edit here.
EXPORTS: dict[str, ExportSpec] = {
    "sites": ExportSpec(Site, ("id", "code", "name", "country", "active"), day0=""),
    "patients": clinical_export(Patient, ("study_id", "site__code"), day0="day0"),
    "lesions": clinical_export(Lesion, ("patient__study_id",)),
    "procedures": clinical_export(Procedure, ("patient__study_id",)),
    "radiation-courses": clinical_export(RadiationCourse, ("patient__study_id",)),
    "visits": clinical_export(
        Visit,
        ("patient__study_id", "patient__site__code", "visit_code", "target_date", "window_start", "window_end"),
        extra=form_columns(PainAssessment, "pain__"),
        extra_dates=("target_date", "window_start", "window_end"),
        coded=form_columns(PainAssessment, "pain__"),
    ),
    "adverse-events": clinical_export(AdverseEvent, ("patient__study_id",)),
    "skeletal-events": clinical_export(SkeletalEvent, ("patient__study_id",)),
    "imaging-assessments": clinical_export(ImagingAssessment, ("patient__study_id",)),
    "study-exits": clinical_export(StudyExit, ("patient__study_id",)),
}


def header_of(path: str) -> str:
    return path.replace("__", "_")


def field_of(model, path: str):
    """The model field a values_list path ends on (``"pain__worst"`` on Visit → PainAssessment.worst)."""
    current, field = model, None
    for part in path.split("__"):
        field = current._meta.get_field(part)
        current = field.related_model or current
    return field


def text_column_indexes(model, header_paths: list[str]) -> list[int]:
    """Positions of the columns holding stored text (char/text fields without choices), by values_list path."""
    indexes = []
    for index, path in enumerate(header_paths):
        field = field_of(model, path)
        if isinstance(field, CharField | TextField) and not field.choices:
            indexes.append(index)
    return indexes


def spreadsheet_rows(rows: Iterator[tuple], text_indexes: list[int]) -> Iterator[tuple | list]:
    """Rows for a file people open in a spreadsheet: the text columns pass ``spreadsheet_text``
    (control characters shown as U+FFFD, formula triggers = + - @ tab CR prefixed with an apostrophe).

    The same few strings repeat row after row (a patient's study id on each of its visits, the site codes), so
    each distinct string is made safe once: a dictionary lookup per cell instead of a regular expression."""
    if not text_indexes:
        yield from rows
        return
    safe: dict[str, str] = {}
    for row in rows:
        values = list(row)
        for index in text_indexes:
            value = values[index]
            if value.__class__ is str:
                found = safe.get(value)
                if found is None:
                    if len(safe) >= SAFE_TEXT_MEMO:
                        safe.clear()  # bounded: memory stays flat
                    found = safe[value] = spreadsheet_text(value)
                values[index] = found
        yield values


def code_columns(spec: ExportSpec, columns: list[str]):
    """Extra SELECT expressions for the missing-data codes of the coded columns, and the row function that puts
    each code in its item's place when the item has no value (REDCap style: the code sits in the field; a
    number stays a number — an XLSX cell keeps its type). ``coded_expression`` does the same in SQL for text
    outputs (CSV)."""
    coded = [(index, column) for index, column in enumerate(columns) if column in spec.coded]
    expressions = [KeyTextTransform(column.rsplit("__", 1)[-1], spec.codes) for _, column in coded]

    def merge(row: tuple) -> tuple:
        width = len(row) - len(coded)
        values = list(row[:width])
        for k, (index, _) in enumerate(coded):
            if values[index] is None:
                values[index] = row[width + k]
        return tuple(values)

    return expressions, merge


def coded_expression(spec: ExportSpec, column: str):  # noqa: ANN201 - an expression or None
    """A coded BPI item with its missing-data code in its place when the item has no value (REDCap style: the code
    sits in the field; a number stays a number), computed by the database: ``COALESCE(item::text, codes->>item)``.
    The items are integers, whose text is the same in PostgreSQL, SQLite and Python, so the CSV bytes are those of
    the value itself; for text outputs only (a number becomes its text)."""
    field = field_of(spec.model, column)
    code = KeyTextTransform(column.rsplit("__", 1)[-1], spec.codes)
    if isinstance(field, CharField | TextField):
        return Coalesce(column, code, output_field=TextField())  # a string is written as itself either way
    if not isinstance(field, IntegerField):
        return None  # dates, timestamps, decimals: their text differs between the database and Python; merged in Python
    return Coalesce(Cast(column, output_field=TextField()), code)


def staff_expression(spec: ExportSpec, column: str):
    """The SELECT expression of one staff column.

    Dates and timestamps are rendered as text by the database and ``voided`` is
    computed there: parsing them into Python objects only to print them again
    was most of the export's cost (see benchmarks/api_export.py).
    """
    if column == "voided_at":
        return ExpressionWrapper(Q(voided_at__isnull=False), output_field=BooleanField())
    if column in spec.dates or column in TIMESTAMPS:
        return Cast(column, output_field=TextField())
    return column


def staff_header(spec: ExportSpec) -> list[str]:
    """The header of a staff table: the column paths with ``__`` → ``_``, ``voided`` for ``voided_at``."""
    return ["voided" if c == "voided_at" else header_of(c) for c in spec.columns]


def sponsor_header(spec: ExportSpec, columns: list[str]) -> list[str]:
    """The header of a sponsor table (``sponsor_columns``): ``age`` for the birth year, dates as days from day 0."""
    return [
        "age" if c == "birth_year" else "voided" if c == "voided_at" else day_field_name(c) if c in spec.dates else header_of(c)
        for c in columns
    ]


def staff_rows(spec: ExportSpec, queryset, *, as_text: bool = False) -> tuple[list[str], Iterator[tuple]]:
    """Header and rows of a staff table. ``as_text``: the output is text (CSV), so the missing-data codes are merged
    by the database (``coded_expression``); otherwise in Python, keeping numbers numbers (XLSX)."""
    header = staff_header(spec)
    in_sql = {c: e for c in spec.coded if as_text and (e := coded_expression(spec, c)) is not None}
    expressions = [in_sql[c] if c in in_sql else staff_expression(spec, c) for c in spec.columns]
    codes, merge = code_columns(replace(spec, coded=tuple(c for c in spec.coded if c not in in_sql)), list(spec.columns))
    rows = queryset.values_list(*expressions, *codes).order_by("id").iterator(chunk_size=CHUNK_SIZE)
    return header, map(merge, rows) if codes else rows


def sponsor_columns(spec: ExportSpec) -> list[str]:
    """Columns a sponsor may see: no free text or device identifiers, no timestamps, no day 0 (it is 0), dates become days."""
    keep = []
    for column in spec.columns:
        leaf = column.rsplit("__", 1)[-1]
        if leaf in FREE_TEXT_FIELDS or is_device_identifier(leaf) or column in TIMESTAMPS or column == "day0":
            continue
        keep.append(column)
    return keep


def sponsor_rows(spec: ExportSpec, queryset, *, as_text: bool = False) -> tuple[list[str], Iterator[tuple]]:
    columns = sponsor_columns(spec)
    header = sponsor_header(spec, columns)
    extra = [spec.day0] if spec.day0 else []
    if "birth_year" in columns:
        extra.append("enrollment_date")
    transforms = []
    for index, column in enumerate(columns):
        if column in spec.dates:
            transforms.append((index, "date"))
        elif column == "birth_year":
            transforms.append((index, "age"))
        elif column == "voided_at":
            transforms.append((index, "voided"))
    width = len(columns)

    def convert(row: tuple) -> tuple:
        values = list(row[:width])
        day0 = row[width] if spec.day0 else None
        for index, kind in transforms:
            value = values[index]
            if kind == "date":
                values[index] = None if value is None else (value - day0).days
            elif kind == "age":
                values[index] = age_deidentified(row[-1].year, value)
            else:
                values[index] = value is not None
        return tuple(values)

    in_sql = {c: e for c in spec.coded if as_text and (e := coded_expression(spec, c)) is not None}
    selected = [in_sql[c] if c in in_sql else c for c in columns]
    codes, merge = code_columns(replace(spec, coded=tuple(c for c in spec.coded if c not in in_sql)), columns)
    rows = queryset.values_list(*selected, *extra, *codes).order_by("id").iterator(chunk_size=CHUNK_SIZE)
    return header, map(convert, map(merge, rows))
