"""All registry tables as CSV files and as one XLSX workbook, scoped to the user (issue 6).

Rows come from ``scope_queryset`` (through the API's export specs, so the API's
CSV endpoints and these files agree column for column); sponsors get the
de-identified form (docs/domain.md §10): calendar dates become days from day 0, free
text and audit stamps are withheld, birth year becomes age. Data-management
tables (queries, signatures, locks) hold free text and are for staff only.

These files are for people (issue 13): no stored value can become a live formula. CSV text
cells pass OWASP's rule (``spreadsheet_text``: a leading = + - @ tab or CR gets an apostrophe);
XLSX text cells are written as text (data type ``s`` with Excel's quote prefix), never as
formulas; control characters stored before the input rule are shown as U+FFFD.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from trials.access import access_for, scope_queryset
from trials.interop.tabular import (
    EXPORTS,
    ExportSpec,
    sponsor_columns,
    sponsor_rows,
    spreadsheet_rows,
    staff_rows,
    text_column_indexes,
)
from trials.models import DataQuery, Lock, MedicationUse, PainAssessment, Signature
from trials.services.text import export_text

EXTRA_TABLES: dict[str, ExportSpec] = {
    "pain-assessments": ExportSpec(
        PainAssessment,
        (
            "id",
            "version",
            "visit__patient__study_id",
            "visit__visit_code",
            "worst",
            "least",
            "average",
            "current",
            "general_activity",
            "mood",
            "walking_ability",
            "normal_work",
            "relations",
            "sleep",
            "enjoyment_of_life",
            "relief_pct",
            "voided_at",
            "updated_at",
        ),
        day0="visit__patient__day0",
        coded=(
            "worst",
            "least",
            "average",
            "current",
            "general_activity",
            "mood",
            "walking_ability",
            "normal_work",
            "relations",
            "sleep",
            "enjoyment_of_life",
            "relief_pct",
        ),
        codes="visit__missing_codes",
    ),
    "medications": ExportSpec(
        MedicationUse,
        (
            "id",
            "version",
            "visit__patient__study_id",
            "visit__visit_code",
            "drug",
            "route",
            "dose",
            "unit",
            "doses_per_day",
            "mme_factor",
            "factor_source",
            "mme_per_day",
            "mme_table_version",
            "voided_at",
            "updated_at",
        ),
        day0="visit__patient__day0",
    ),
}
STAFF_ONLY_TABLES: dict[str, ExportSpec] = {
    "data-queries": ExportSpec(
        DataQuery,
        (
            "id",
            "patient__study_id",
            "content_type__model",
            "object_id",
            "field_name",
            "rule_code",
            "status",
            "message",
            "opened_by__username",
            "opened_at",
            "closed_by__username",
            "closed_at",
        ),
        day0="",
    ),
    "signatures": ExportSpec(
        Signature,
        ("id", "visit__patient__study_id", "visit__visit_code", "visit_version", "signer__username", "meaning", "signed_at"),
        day0="",
    ),
    "locks": ExportSpec(
        Lock,
        (
            "id",
            "patient__study_id",
            "reason",
            "locked_by__username",
            "locked_at",
            "unlocked_by__username",
            "unlocked_at",
            "unlock_reason",
        ),
        day0="",
    ),
}


def tables_for(user) -> dict[str, ExportSpec]:
    tables = {**EXPORTS, **EXTRA_TABLES}
    if not access_for(user).is_sponsor_only:
        tables.update(STAFF_ONLY_TABLES)
    return tables


def table_rows(user, name: str) -> tuple[list[str], Iterator[tuple]]:
    """Header and rows of one table as ``user`` may see it (``trials.access.SYSTEM``: the command line, everything)."""
    spec = tables_for(user)[name]
    queryset = scope_queryset(user, spec.model._default_manager.all())
    sponsor = access_for(user).is_sponsor_only
    return (sponsor_rows if sponsor else staff_rows)(spec, queryset)


def _csv_text(user, name: str) -> str:
    """One table as CSV for a spreadsheet user: text columns neutralised (OWASP CSV injection)."""
    spec = tables_for(user)[name]
    sponsor = access_for(user).is_sponsor_only
    header, rows = table_rows(user, name)
    columns = sponsor_columns(spec) if sponsor else list(spec.columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(spreadsheet_rows(rows, text_column_indexes(spec.model, columns)))
    return buffer.getvalue()


def tables_csv_write(user, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in tables_for(user):
        path = directory / f"{name}.csv"
        path.write_text(_csv_text(user, name), encoding="utf-8")
        written.append(path)
    return written


def tables_csv_zip(user) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in tables_for(user):
            archive.writestr(f"{name}.csv", _csv_text(user, name))
    return buffer.getvalue()


def _cell(sheet, value):
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=export_text(value))
        cell.data_type = "s"  # text, even when it starts with "=": never a live formula
        cell.quotePrefix = True  # and Excel keeps it text when the cell is edited
        return cell
    if hasattr(value, "tzinfo") and getattr(value, "tzinfo", None) is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones; the registry stores UTC
    return value


def registry_xlsx(user) -> bytes:
    """One workbook, one sheet per table (write-only mode: memory stays flat)."""
    workbook = Workbook(write_only=True)
    for name in tables_for(user):
        header, rows = table_rows(user, name)
        sheet = workbook.create_sheet(title=name[:31])
        sheet.append(header)
        for row in rows:
            sheet.append([_cell(sheet, v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
