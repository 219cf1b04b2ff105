"""Applying the rows through the services, record by record, in one transaction (``redcap_import``)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from trials import services
from trials.errors import DomainValidationError
from trials.interop.redcap import RedcapRow, records_read
from trials.interop.redcap_import.mapping import SECTION_MODELS, FieldRule, Mapping, MappingError, Section
from trials.interop.redcap_import.report import IMPORTED, NO_DATA, REFUSED, UNCHANGED, UPDATED, ImportReport, RowError, RowOutcome
from trials.interop.redcap_import.rows import _classify, _collect, _has_source_values, _instance, _service_errors
from trials.interop.redcap_import.values import DATE_FORMATS, MissingCode
from trials.models import Patient, Site


@dataclass
class _Context:
    actor: Any
    mapping: Mapping
    report: ImportReport
    outcomes: dict[int, RowOutcome]
    reason: str

    def why(self, row: RedcapRow) -> str:
        return f"{self.reason}, row {row.number}"[:100]


class _RecordFailed(Exception):
    """Raised inside a record's savepoint so everything of that record is rolled back together."""


def _site_of(ctx: _Context, row: RedcapRow, outcome: RowOutcome) -> Site | None:
    code = ctx.mapping.site_code
    if ctx.mapping.site_rule is not None:
        rule = ctx.mapping.site_rule
        code = row.values.get(rule.source, "")
        code = str((rule.value_map or {}).get(code, code))
    site = Site.objects.filter(code__iexact=code).first() if code else None
    if site is None:
        outcome.errors.append(
            RowError(
                row.number,
                row.record_id,
                ctx.mapping.site_rule.source if ctx.mapping.site_rule else "",
                "site",
                f"no registry site with code {code!r}",
            )
        )
    return site


def _update(
    ctx: _Context, instance, values: dict[str, Any], row: RedcapRow, outcome: RowOutcome, label: str, rules: list[FieldRule]
) -> None:
    changes = {k: v for k, v in values.items() if getattr(instance, k) != v}
    if not changes:
        outcome.note(UNCHANGED, label)
        return
    try:
        services.clinical_record_update(actor=ctx.actor, instance=instance, changes=changes, reason=ctx.why(row))
    except DomainValidationError as exc:
        outcome.errors += _service_errors(exc, row, rules)
        raise _RecordFailed from exc
    outcome.note(UPDATED, label)


def _import_record(ctx: _Context, record_rows: list[RedcapRow]) -> None:
    mapping, report = ctx.mapping, ctx.report
    report.records += 1
    single_rows = [r for r in record_rows if not r.repeat_instrument]
    patient_rows = [r for r in single_rows if not mapping.patient.event or r.event == mapping.patient.event]
    values: dict[int, dict[str, dict[str, Any]]] = {}
    for row in record_rows:  # read every value of every row first: every unreadable value is reported
        sections = _sections_of(row, mapping)
        values[row.number] = {
            s.name if not s.visit_code else "visit": _collect(s, row, mapping.date_format, ctx.outcomes[row.number])
            for s in sections
        }
    if any(ctx.outcomes[r.number].errors for r in record_rows):
        for row in record_rows:
            ctx.outcomes[row.number].note(REFUSED if ctx.outcomes[row.number].errors else NO_DATA)
        return
    first = patient_rows[0] if patient_rows else record_rows[0]
    site = _site_of(ctx, first, ctx.outcomes[first.number])
    if site is None:
        ctx.outcomes[first.number].note(REFUSED)
        return
    patient = Patient.objects.filter(site=site, source_record_id=first.record_id).active().first()
    try:
        with transaction.atomic():
            patient = _patient(ctx, site, patient, patient_rows, record_rows, values)
            _repeats(
                ctx, patient, record_rows, values, events={"lesion", "radiation", "adverse_event", "skeletal_event", "imaging"}
            )
            _visits(ctx, patient, record_rows, values)
            _exit(ctx, patient, single_rows, values)
    except _RecordFailed:
        for row in record_rows:
            outcome = ctx.outcomes[row.number]
            if outcome.errors:
                outcome.note(REFUSED)
            else:  # not reached or rolled back with its record
                outcome.status, outcome.records = NO_DATA, [f"not imported: record {row.record_id} has a refused row"]
        return


def _sections_of(row: RedcapRow, mapping: Mapping) -> list[Section]:
    if row.repeat_instrument:
        return [mapping.repeating[row.repeat_instrument]]
    found = []
    if not mapping.patient.event or row.event == mapping.patient.event:
        found += [mapping.patient] + [s for s in mapping.singles if s.name in ("lesion", "procedure")]
    found += [s for s in mapping.singles if s.name == "study_exit" and (s.event == row.event)]
    found += [v for v in mapping.visits if v.event == row.event]
    return found


def _patient(ctx: _Context, site: Site, patient: Patient | None, patient_rows, record_rows, values) -> Patient:
    mapping = ctx.mapping
    if not patient_rows:
        if patient is not None:
            return patient
        row = record_rows[0]
        outcome = ctx.outcomes[row.number]
        outcome.errors.append(
            RowError(
                row.number,
                row.record_id,
                "redcap_event_name",
                "patient",
                f"record {row.record_id} is not in the registry and the file has no row of event "
                f"{mapping.patient.event!r} with its enrollment data",
            )
        )
        raise _RecordFailed
    row = patient_rows[0]
    outcome, data = ctx.outcomes[row.number], values[row.number]
    rules = {s.name: s.rules for s in [mapping.patient, *mapping.singles]}
    lesion_data = data.get("lesion")
    index_row = None
    if lesion_data is None:  # the index lesion comes from the repeating lesion instrument
        lesion_rows = [r for r in record_rows if r.repeat_instrument and mapping.repeating[r.repeat_instrument].name == "lesion"]
        index_row = next(
            (r for r in lesion_rows if values[r.number]["lesion"].get("is_index")), lesion_rows[0] if lesion_rows else None
        )
        lesion_data = dict(values[index_row.number]["lesion"]) if index_row is not None else {}
    lesion_data.pop("is_index", None)
    if patient is None:
        try:
            patient = services.patient_enroll(actor=ctx.actor, site=site, patient_data=data["patient"], lesion_data=lesion_data)
        except DomainValidationError as exc:
            outcome.errors += _service_errors(exc, row, rules["patient"]) + _service_errors(
                exc, row, rules.get("lesion", []), "lesion."
            )
            raise _RecordFailed from exc
        Patient.objects.filter(pk=patient.pk).update(source_record_id=row.record_id)  # set once, with the enrollment
        patient.source_record_id = row.record_id
        ctx.report.created.append((row.record_id, patient.study_id))
        outcome.note(IMPORTED, patient.study_id)
        if index_row is not None:
            index = patient.lesions.get(is_index=True)
            if index.repeat_instance != int(_instance(index_row)):  # keep the source's instance number
                type(index).objects.filter(pk=index.pk).update(repeat_instance=int(_instance(index_row)))
                index.repeat_instance = int(_instance(index_row))
            ctx.outcomes[index_row.number].note(IMPORTED, f"{patient.study_id} lesion #{index.repeat_instance}")
    else:
        _update(ctx, patient, data["patient"], row, outcome, patient.study_id, rules["patient"])
        index_lesion = patient.lesions.active().filter(is_index=True).first()
        if index_lesion is not None and "lesion" in data:
            _update(ctx, index_lesion, lesion_data, row, outcome, f"{patient.study_id} index lesion", rules.get("lesion", []))
    if data.get("procedure"):
        procedure = patient.procedures.active().filter(is_index=True).first()
        if procedure is None:
            try:
                services.procedure_record(actor=ctx.actor, patient=patient, data=data["procedure"])
            except DomainValidationError as exc:
                outcome.errors += _service_errors(exc, row, rules["procedure"])
                raise _RecordFailed from exc
            outcome.note(IMPORTED, f"{patient.study_id} procedure")
        else:
            _update(ctx, procedure, data["procedure"], row, outcome, f"{patient.study_id} procedure", rules["procedure"])
        patient.refresh_from_db()
    return patient


REPEAT_SERVICES = {
    "lesion": lambda actor, patient, data: services.lesion_add(actor=actor, patient=patient, lesion_data=data),
    "radiation": lambda actor, patient, data: services.radiation_record(actor=actor, patient=patient, data=data),
    "adverse_event": lambda actor, patient, data: services.adverse_event_report(actor=actor, patient=patient, data=data),
    "skeletal_event": lambda actor, patient, data: services.skeletal_event_report(actor=actor, patient=patient, data=data),
    "imaging": lambda actor, patient, data: services.imaging_assessment_record(actor=actor, patient=patient, data=data),
}


def _repeats(ctx: _Context, patient: Patient, record_rows, values, *, events: set[str]) -> None:
    for row in record_rows:
        if not row.repeat_instrument:
            continue
        section = ctx.mapping.repeating[row.repeat_instrument]
        if section.name not in events:
            continue
        outcome, data = ctx.outcomes[row.number], dict(values[row.number][section.name])
        if outcome.status == IMPORTED:  # the index lesion, enrolled with the patient
            continue
        model = SECTION_MODELS[section.name]
        instance_number = int(_instance(row))
        existing = model._default_manager.filter(patient=patient, repeat_instance=instance_number).first()
        label = f"{patient.study_id} {section.name.replace('_', ' ')} #{instance_number}"
        if existing is not None and getattr(existing, "voided_at", None) is None:
            data.pop("is_index", None)
            _update(ctx, existing, data, row, outcome, label, section.rules)
            continue
        if existing is None:
            data["repeat_instance"] = instance_number  # keep the source's stable instance number
        data.pop("is_index", None)
        try:
            created = REPEAT_SERVICES[section.name](ctx.actor, patient, data)
        except DomainValidationError as exc:
            outcome.errors += _service_errors(exc, row, section.rules)
            raise _RecordFailed from exc
        outcome.note(IMPORTED, f"{patient.study_id} {section.name.replace('_', ' ')} #{created.repeat_instance}")


def _visits(ctx: _Context, patient: Patient, record_rows, values) -> None:
    for section in ctx.mapping.visits:
        rows = [r for r in record_rows if r.event == section.event and not r.repeat_instrument]
        opioid_rows = [
            r
            for r in record_rows
            if r.event == section.event and r.repeat_instrument and ctx.mapping.repeating[r.repeat_instrument].name == "opioid"
        ]
        if not rows and not opioid_rows:
            continue
        row = rows[0] if rows else opioid_rows[0]
        outcome = ctx.outcomes[row.number]
        visit_values = values[row.number].get("visit", {}) if rows else {}
        if not visit_values.get("visit_date") and not visit_values.get("not_done_reason"):
            if (rows and _has_source_values(section, row) and set(visit_values) - {"visit_date"}) or opioid_rows:
                outcome.errors.append(
                    RowError(
                        row.number,
                        row.record_id,
                        _source_of(section, "visit_date"),
                        "visit_date",
                        "the visit has data but no visit date; enter the date the visit took place",
                    )
                )
                raise _RecordFailed
            continue  # an event row without data (REDCap exports one per event)
        visit = patient.visits.get(visit_code=section.visit_code)
        before = services.VisitData.from_visit(visit)
        pain = {k.removeprefix("pain."): v for k, v in visit_values.items() if k.startswith("pain.")}
        codes = {k: v.code for k, v in pain.items() if isinstance(v, MissingCode)}
        pain = {k: v for k, v in pain.items() if not isinstance(v, MissingCode)}
        changes = {k: v for k, v in visit_values.items() if not k.startswith("pain.")}
        if codes:
            changes["missing_codes"] = codes
        if opioid_rows:
            changes["medications"] = [
                _medication(values[r.number]["opioid"]) for r in sorted(opioid_rows, key=lambda r: int(_instance(r)))
            ]
        data = before.with_changes(pain=pain, **changes)
        label = f"{patient.study_id} {section.visit_code}"
        recorded = visit.has_data or visit.is_not_done
        if _comparable_visit(data) == _comparable_visit(before) and recorded:
            for r in [row, *opioid_rows]:
                ctx.outcomes[r.number].note(UNCHANGED, label)
            continue
        try:
            services.visit_record(actor=ctx.actor, visit=visit, data=data, reason=ctx.why(row) if recorded else None)
        except DomainValidationError as exc:
            outcome.errors += _service_errors(exc, row, section.rules)
            raise _RecordFailed from exc
        status = UPDATED if recorded else IMPORTED
        for r in [row, *opioid_rows]:
            ctx.outcomes[r.number].note(status, label)
        ctx.report.visits_recorded += 1


def _comparable_visit(data: services.VisitData) -> tuple:
    """Visit input with blanks dropped, for deciding 'unchanged' (a blank factor source equals an absent one)."""

    def clean(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if v not in (None, "")}

    parts = []
    for part in fields(data):
        value = getattr(data, part.name)
        if isinstance(value, dict):
            value = clean(value)
        elif isinstance(value, list):
            value = [clean(v) if isinstance(v, dict) else v for v in value]
        parts.append((part.name, value))
    return tuple(parts)


def _medication(values: dict[str, Any]) -> dict[str, Any]:
    """An opioid row as visit input: a factor counts as explicit only with its source (else the MME table gives it)."""
    entry = dict(values)
    if not entry.get("factor_source"):
        entry.pop("mme_factor", None)
    return entry


def _source_of(section: Section, target: str) -> str:
    return next((r.source for r in section.rules if r.target == target), "")


def _exit(ctx: _Context, patient: Patient, single_rows, values) -> None:
    section = next((s for s in ctx.mapping.singles if s.name == "study_exit"), None)
    if section is None:
        return
    for row in [r for r in single_rows if r.event == section.event]:
        data, outcome = values[row.number].get("study_exit", {}), ctx.outcomes[row.number]
        if not _has_source_values(section, row):
            continue
        existing = patient.exits.active().first()
        if existing is not None:
            _update(ctx, existing, data, row, outcome, f"{patient.study_id} study exit", section.rules)
            continue
        try:
            services.study_exit_record(actor=ctx.actor, patient=patient, data=data)
        except DomainValidationError as exc:
            outcome.errors += _service_errors(exc, row, section.rules)
            raise _RecordFailed from exc
        outcome.note(IMPORTED, f"{patient.study_id} study exit")


def _check_sources(rows: list[RedcapRow], mapping: Mapping, header: list[str]) -> None:
    missing = sorted(mapping.sources() - set(header))
    if missing:
        raise MappingError(f"The records file has no column(s) {', '.join(missing)} named by the mapping.")
    # An event name typo: a mapped event no row holds while the file has an unmapped event that looks like it.
    in_file = {r.event for r in rows if r.event}
    unmapped = sorted(in_file - mapping.events() - mapping.ignore_events)
    keyed = [("patient.event", mapping.patient.event)] + [(f"{s.name}.event", s.event) for s in mapping.singles if s.event]
    keyed += [(f"visits[{i}].event", v.event) for i, v in enumerate(mapping.visits)]
    for key, event in keyed:
        close = difflib.get_close_matches(event, unmapped, n=1) if event and event not in in_file else []
        if close:
            raise MappingError(
                f"{key}: no row of the records file has event {event!r}; did you mean {close[0]!r} (in the file, not mapped)?"
            )


def redcap_import(
    *,
    mapping: Mapping,
    records: str | Path,
    actor=None,
    dry_run: bool = False,
    date_format: str | None = None,
    source_name: str = "",
) -> ImportReport:
    """Validate every row through the services; commit only when no row was refused and this is not a dry run.

    ``records``: a path (``Path``, or a ``str`` naming an existing file) or the CSV text itself.
    ``date_format``: ``YMD`` (default, REDCap's raw export: YYYY-MM-DD), ``MDY`` or ``DMY`` (files saved by Excel).
    Raises ``MappingError`` (bad mapping, unknown user/site, columns missing) and ``FileNotFoundError`` before any row
    is imported.
    """
    if date_format:
        if date_format not in DATE_FORMATS:
            raise MappingError(f"--date-format: {date_format!r} is not one of {', '.join(DATE_FORMATS)}.")
        mapping.date_format = date_format
    if actor is None:
        actor = get_user_model().objects.filter(username=mapping.imported_by).first()
        if actor is None:
            raise MappingError(f"No user {mapping.imported_by!r} to import as; set 'imported_by' in the mapping or pass --user.")
    if mapping.site_code and not Site.objects.filter(code__iexact=mapping.site_code).exists():
        raise MappingError(f"site: no registry site with code {mapping.site_code!r}.")
    rows, header = records_read(records, with_header=True)
    _check_sources(rows, mapping, header)
    name = source_name or (
        Path(records).name if isinstance(records, Path) or (isinstance(records, str) and "\n" not in records) else "uploaded file"
    )
    report = ImportReport(dry_run=dry_run, source=name, rows_read=len(rows))
    grouped = _classify(rows, mapping, report)
    ctx = _Context(actor, mapping, report, {o.row: o for o in report.rows}, f"REDCap import of {name}")
    with transaction.atomic():
        for record_rows in grouped.values():
            _import_record(ctx, record_rows)
        report.committed = not dry_run and not report.errors
        if not report.committed:
            transaction.set_rollback(True)
    report.rows.sort(key=lambda o: o.row)
    return report
