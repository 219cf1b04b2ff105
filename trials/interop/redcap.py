"""REDCap exchange: the data dictionary CSV and the flat longitudinal records CSV, both ways.

Export lets a site mirror the study in REDCap (dictionary + events + instrument
designations, then the records); the readers parse REDCap's own files (tested
on the real exports in ``tests/fixtures/redcap/``). Importing records into the
registry is ``trials.interop.redcap_import``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from trials.domain.missing import MISSING_CODES
from trials.interop.forms import FORMS, Form, Item, events
from trials.interop.records import form_records, item_code, item_value, patients_for_export

# REDCap's data dictionary header, exactly as REDCap writes it.
DICTIONARY_COLUMNS = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
RECORD_ID = "record_id"
RECORD_META_COLUMNS = (
    RECORD_ID,
    "redcap_event_name",
    "redcap_repeat_instrument",
    "redcap_repeat_instance",
    "redcap_data_access_group",
)
CHOICE_TYPES = {"radio", "dropdown", "checkbox"}
COMPLETE = "2"  # REDCap's form status "Complete"
VALIDATION = {"date": "date_ymd", "integer": "integer", "float": "number"}


@dataclass
class RedcapField:
    name: str
    form: str
    field_type: str
    label: str
    choices: dict[str, str] = field(default_factory=dict)
    validation: str = ""
    minimum: str = ""
    maximum: str = ""
    identifier: bool = False
    note: str = ""


def choices_format(choices: Iterable[tuple[str, str]]) -> str:
    return " | ".join(f"{code}, {label}" for code, label in choices)


def choices_parse(text: str) -> dict[str, str]:
    """``"0, Female | 1, Male"`` → ``{"0": "Female", "1": "Male"}``."""
    parsed = {}
    for part in (text or "").split("|"):
        if part.strip():
            code, _, label = part.partition(",")
            parsed[code.strip()] = label.strip()
    return parsed


def unique_event_name(event_code: str) -> str:
    return f"{event_code}_arm_1"


# --- dictionary -----------------------------------------------------------------------------------------------------


def _field_of(item: Item) -> RedcapField:
    if item.choices:
        return RedcapField(item.variable, item.form, "dropdown", item.label, dict(item.choices))
    if item.data_type == "boolean":
        return RedcapField(item.variable, item.form, "yesno", item.label)
    note = "; ".join(
        filter(
            None,
            [
                f"Unit: {item.unit}" if item.unit else "",
                "Free text: withheld from sponsors" if item.free_text else "",
                f"Missing-data codes: {', '.join(MISSING_CODES)}" if item.form == "bpi" else "",
            ],
        )
    )
    return RedcapField(
        item.variable,
        item.form,
        "text",
        item.label,
        validation=VALIDATION.get(item.data_type, ""),
        minimum=_bound(item.minimum),
        maximum=_bound(item.maximum),
        note=note,
    )


def missing_data_codes_setting() -> str:
    """The text for REDCap's project setting "Missing Data Codes" (Project Setup > Additional customizations):
    one ``code, label`` per line, the registry's codes (``trials.domain.missing``). BPI items export a coded
    blank as its code in the item's cell, REDCap's missing-data-code convention."""
    return "".join(f"{code}, {label}\n" for code, label in MISSING_CODES.items())


def _bound(value: float | None) -> str:
    """A range bound of the case-report form as REDCap writes it ("" when open)."""
    return "" if value is None else f"{value:g}"


def registry_dictionary() -> list[RedcapField]:
    """The registry's forms as REDCap fields; ``record_id`` (the study ID) first, as REDCap requires."""
    fields = [RedcapField(RECORD_ID, FORMS[0].name, "text", "Study ID")]
    return fields + [_field_of(item) for form in FORMS for item in form.items]


def dictionary_csv(fields: Iterable[RedcapField] | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(DICTIONARY_COLUMNS)
    for f in fields if fields is not None else registry_dictionary():
        writer.writerow(
            [
                f.name,
                f.form,
                "",
                f.field_type,
                f.label,
                choices_format(f.choices.items()),
                f.note,
                f.validation,
                f.minimum,
                f.maximum,
                "y" if f.identifier else "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
            ]
        )
    return buffer.getvalue()


def _text_of(source: str | Path) -> str:
    """A path (``Path``, or a one-line ``str``) is read; any other ``str`` is the CSV text itself.

    Raises ``FileNotFoundError`` for a path that does not exist (a mistyped path is never read as an empty file).
    """
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"No file {path} (check the path).")
        return path.read_text(encoding="utf-8-sig")
    return str(source)


def dictionary_read(source: str | Path) -> list[RedcapField]:
    """Parse a REDCap data dictionary CSV (path or text); columns are read by position, as REDCap does."""
    rows = list(csv.reader(io.StringIO(_text_of(source))))
    if not rows or not rows[0] or not rows[0][0].strip().lower().startswith("variable"):
        raise ValueError("Not a REDCap data dictionary: the first column must be 'Variable / Field Name'.")
    fields = []
    for row in rows[1:]:
        if not row or not row[0].strip():
            continue
        row = row + [""] * (len(DICTIONARY_COLUMNS) - len(row))
        field_type = row[3].strip()
        fields.append(
            RedcapField(
                name=row[0].strip(),
                form=row[1].strip(),
                field_type=field_type,
                label=row[4].strip(),
                choices=choices_parse(row[5]) if field_type in CHOICE_TYPES else {},
                note=row[6].strip(),
                validation=row[7].strip(),
                minimum=row[8].strip(),
                maximum=row[9].strip(),
                identifier=row[10].strip().lower() == "y",
            )
        )
    return fields


# --- events and instrument designations (a longitudinal project's other two files) ---------------------------------


def events_csv() -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["event_name", "arm_num", "unique_event_name"])
    for event in events():
        writer.writerow([event.label, 1, unique_event_name(event.code)])
    return buffer.getvalue()


def instrument_designation_csv() -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["arm_num", "unique_event_name", "form"])
    for event in events():
        for form in event.forms:
            writer.writerow([1, unique_event_name(event.code), form.name])
    return buffer.getvalue()


def repeating_instruments_csv() -> str:
    """REDCap's repeating instruments declaration ("Repeating instruments and events" import: event_name,
    form_name, custom_form_label): without it REDCap refuses the repeat rows of ``records.csv``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["event_name", "form_name", "custom_form_label"])
    for event in events():
        for form in event.forms:
            if form.repeating:
                writer.writerow([unique_event_name(event.code), form.name, ""])
    return buffer.getvalue()


# --- records --------------------------------------------------------------------------------------------------------


def records_columns() -> list[str]:
    columns = list(RECORD_META_COLUMNS)
    for form in FORMS:
        columns += [item.variable for item in form.items] + [f"{form.name}_complete"]
    return columns


def _values(form: Form, record) -> dict[str, str]:
    found = {item.variable: item_value(record, item) or item_code(record, item) for item in form.items}
    values = {k: v for k, v in found.items() if v is not None}
    values[f"{form.name}_complete"] = COMPLETE
    return values


def records_rows(patients) -> Iterator[dict[str, str]]:
    """REDCap's flat longitudinal layout: one row per record × event, plus one per repeating-instrument instance."""
    for patient in patients:
        for event in events():
            base = {
                RECORD_ID: patient.study_id,
                "redcap_event_name": unique_event_name(event.code),
                "redcap_data_access_group": patient.site.code.lower(),
            }  # REDCap's DAG: the site
            single: dict[str, str] = {}
            repeats: list[dict[str, str]] = []
            for form in event.forms:
                records = form_records(patient, form, event)
                if not form.repeating:
                    for record in records[:1]:
                        single.update(_values(form, record))
                    continue
                for record in records:  # the stable repeat key, never a position (issue 13)
                    repeats.append(
                        {
                            **base,
                            "redcap_repeat_instrument": form.name,
                            "redcap_repeat_instance": str(record.repeat_instance),  # type: ignore[attr-defined]
                            **_values(form, record),
                        }
                    )
            if single:
                yield {**base, **single}
            yield from repeats


def records_csv(user, *, patients=None) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=records_columns(), lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(records_rows(patients if patients is not None else patients_for_export(user)))
    return buffer.getvalue()


@dataclass
class RedcapRow:
    number: int  # 1-based data row (the header is row 0), as a person counts rows in a spreadsheet
    values: dict[str, str]

    @property
    def record_id(self) -> str:
        return self.values.get(RECORD_ID, "")

    @property
    def event(self) -> str:
        return self.values.get("redcap_event_name", "")

    @property
    def repeat_instrument(self) -> str:
        return self.values.get("redcap_repeat_instrument", "")


def records_read(source: str | Path, *, with_header: bool = False):
    """Parse a REDCap records CSV (raw values, flat, classic or longitudinal); rows numbered 1, 2, … after the header.

    Returns the rows, or ``(rows, header)`` with ``with_header=True``. Raises ``ValueError`` for an empty file and
    ``FileNotFoundError`` for a missing path.
    """
    reader = csv.DictReader(io.StringIO(_text_of(source)))
    if not reader.fieldnames:
        raise ValueError("The records file is empty (no header row).")
    rows = [
        RedcapRow(number, {k: (v or "").strip() for k, v in row.items() if k is not None})
        for number, row in enumerate(reader, start=1)
    ]
    return (rows, list(reader.fieldnames)) if with_header else rows
