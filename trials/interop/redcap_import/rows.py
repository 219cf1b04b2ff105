"""Reading the rows: each mapped value of a row, service errors as row errors, and classifying/grouping the rows."""

from __future__ import annotations

import difflib
from collections import OrderedDict
from decimal import InvalidOperation
from typing import Any

from trials.errors import DomainValidationError
from trials.interop.redcap import RedcapRow
from trials.interop.redcap_import.mapping import FieldRule, Mapping, Section, _model_field
from trials.interop.redcap_import.report import IGNORED, REFUSED, ImportReport, RowError, RowOutcome
from trials.interop.redcap_import.values import _convert, _date, _missing_code


def _value(rule: FieldRule, row: RedcapRow, section: str, date_format: str) -> Any:
    if not rule.source:
        return rule.constant
    raw = row.values.get(rule.source, "")
    if raw in rule.missing:
        return _missing_code(rule, raw)
    if rule.value_map is not None and raw != "":
        if raw not in rule.value_map:
            raise ValueError(f"value {raw!r} is not in the mapping's value map ({', '.join(map(str, rule.value_map))})")
        raw = rule.value_map[raw]
        if not isinstance(raw, str):
            return raw
    if raw == "":
        return None
    if rule.transform == "year":
        return _date(raw, date_format).year
    try:
        return _convert(raw, _model_field(section, rule.target), rule.target, date_format)
    except ValueError as exc:
        if rule.source and not rule.missing and raw.isalpha() and raw.isupper():
            raise ValueError(
                f'{exc}; if {raw!r} is a missing-data code, declare it for this field in the mapping ("missing": ["{raw}"])'
            ) from None
        raise


def _collect(section: Section, row: RedcapRow, date_format: str, outcome: RowOutcome) -> dict[str, Any]:
    values = {}
    for rule in section.rules:
        try:
            value = _value(rule, row, section.name, date_format)
        except (ValueError, InvalidOperation) as exc:
            outcome.errors.append(RowError(row.number, row.record_id, rule.source, rule.target, f"cannot be read: {exc}"))
            continue
        if value is not None:
            values[rule.target] = value
    return values


def _has_source_values(section: Section, row: RedcapRow) -> bool:
    return any(row.values.get(r.source, "") != "" for r in section.rules if r.source)


def _service_errors(exc: DomainValidationError, row: RedcapRow, rules: list[FieldRule], prefix: str = "") -> list[RowError]:
    by_target = {prefix + r.target: r for r in rules}
    errors = []
    for key, messages in exc.errors.items():
        rule = by_target.get(key) or by_target.get(key.split("[")[0])
        for message in messages:
            errors.append(RowError(row.number, row.record_id, rule.source if rule else "", key, message))
    return errors


def _instance(row: RedcapRow) -> str:
    return row.values.get("redcap_repeat_instance", "")


def _classify(rows: list[RedcapRow], mapping: Mapping, report: ImportReport) -> OrderedDict[str, list[RedcapRow]]:
    """Blank rows skipped and counted; rows of unmapped events/instruments and duplicates refused; the rest grouped."""
    grouped: OrderedDict[str, list[RedcapRow]] = OrderedDict()
    seen: dict[tuple[str, str, str, str], int] = {}
    events = mapping.events()
    for row in rows:
        if not any(v for v in row.values.values()):
            report.blank_rows.append(row.number)
            continue
        record_id = row.values.get(mapping.record_id, "")
        outcome = RowOutcome(row.number, record_id)
        report.rows.append(outcome)

        def refuse(redcap_field: str, message: str, outcome=outcome, row=row) -> None:
            outcome.errors.append(RowError(row.number, outcome.record_id, redcap_field, "row", message))
            outcome.note(REFUSED)

        if not record_id:
            refuse(mapping.record_id, f"the record id ({mapping.record_id}) is empty")
            continue
        instrument = row.repeat_instrument
        if instrument in mapping.ignore_instruments or (row.event and row.event in mapping.ignore_events):
            outcome.note(IGNORED, f"{instrument or row.event} is ignored by the mapping")
            continue
        if instrument and instrument not in mapping.repeating:
            known = ", ".join(sorted(mapping.repeating)) or "none"
            refuse(
                "redcap_repeat_instrument",
                f"repeating instrument {instrument!r} is not in the mapping's 'repeating' "
                f"section (mapped: {known}); nothing of this row would be imported",
            )
            continue
        if instrument and not _instance(row).isdigit():
            refuse("redcap_repeat_instance", f"repeat instance {_instance(row)!r} is not a positive whole number")
            continue
        if not instrument and "redcap_event_name" in row.values and row.event not in events:
            close = difflib.get_close_matches(row.event, sorted(e for e in events if e), n=1)
            hint = f" (did the mapping mean {close[0]!r}?)" if close else ""
            refuse("redcap_event_name", f"event {row.event!r} is not in the mapping{hint}; nothing of this row would be imported")
            continue
        if not instrument and _instance(row) not in ("", "1"):
            refuse(
                "redcap_repeat_instance",
                f"instance {_instance(row)} of event {row.event!r}: the registry's visits and "
                "enrollment happen once per patient, so a repeated event cannot be imported "
                "(record a later visit under its own event)",
            )
            continue
        key = (record_id, row.event, instrument, _instance(row) if instrument else "")
        if key in seen:
            what = f"record {record_id}, event {row.event or '(none)'}" + (f", {instrument} #{key[3]}" if instrument else "")
            refuse("redcap_event_name", f"duplicate of row {seen[key]} ({what}): which one holds the data is unclear")
            continue
        seen[key] = row.number
        grouped.setdefault(record_id, []).append(row)
    return grouped
