"""Import records from a site's REDCap export through a declarative mapping file (JSON).

The mapping names, for each registry field, the REDCap field it comes from (``"from"``) or a constant
(``"value"``), with an optional value map (``"map"``: REDCap code → registry code) and transform
(``"transform"``: ``"year"`` takes the year of a date). Sections: ``patient`` and ``lesion`` (enrollment
through ``patient_enroll``), optional ``procedure`` (``procedure_record``) and ``visits`` (one entry per
REDCap event → registry visit code, through ``visit_record``). REDCap fields the mapping does not name
are ignored — identifiers (names, addresses, full birth dates) never enter the registry.

Every record goes through the services, in one transaction: a dry run reports every failing row and
field and rolls back; a real run commits only when no row failed (all or nothing).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models, transaction

from trials import services
from trials.errors import DomainValidationError
from trials.interop.redcap import RedcapRow, records_read
from trials.models import Lesion, Patient, Procedure, Site

SECTION_MODELS: dict[str, type[models.Model]] = {"patient": Patient, "lesion": Lesion, "procedure": Procedure}
# Visit targets a mapping may name: the visit input's own fields (not its opioid rows) and each BPI item.
VISIT_FIELDS = {f.name for f in fields(services.VisitData)} - {"pain", "medications"} | {
    f"pain.{p}" for p in services.visits.PAIN_FIELDS
}


class MappingError(ValueError):
    """The mapping file itself is wrong (before any row is read)."""


@dataclass(frozen=True)
class RowError:
    row: int
    record_id: str
    redcap_field: str
    registry_field: str
    message: str

    def __str__(self) -> str:
        source = f"field {self.redcap_field}" if self.redcap_field else "(no REDCap field)"
        return f"row {self.row} (record {self.record_id}), {source} → {self.registry_field}: {self.message}"


@dataclass
class ImportReport:
    dry_run: bool
    records: int = 0
    created: list[tuple[str, str]] = field(default_factory=list)  # (REDCap record id, registry study ID)
    visits_recorded: int = 0
    errors: list[RowError] = field(default_factory=list)
    committed: bool = False


@dataclass
class FieldRule:
    target: str
    source: str = ""
    constant: Any = None
    value_map: dict[str, Any] | None = None
    transform: str = ""


@dataclass
class Mapping:
    site_code: str
    record_id: str
    imported_by: str
    sections: dict[str, list[FieldRule]]
    patient_event: str
    visits: list[tuple[str, str, list[FieldRule]]]  # (REDCap event, visit code, rules)


def _rules(raw: dict[str, Any], where: str) -> list[FieldRule]:
    rules = []
    for target, spec in (raw or {}).items():
        if not isinstance(spec, dict) or ("from" not in spec and "value" not in spec):
            raise MappingError(f"{where}.{target}: give 'from' (a REDCap field) or 'value' (a constant).")
        if spec.get("transform", "") not in ("", "year"):
            raise MappingError(f"{where}.{target}: unknown transform {spec['transform']!r} (known: year).")
        rules.append(FieldRule(target, spec.get("from", ""), spec.get("value"), spec.get("map"), spec.get("transform", "")))
    return rules


def _check_targets(section: str, rules: list[FieldRule]) -> None:
    if section == "visit":
        known = VISIT_FIELDS
    else:
        known = {f.name for f in SECTION_MODELS[section]._meta.concrete_fields}
    for rule in rules:
        if rule.target not in known:
            raise MappingError(f"{section}: the registry has no field {rule.target!r}.")


def mapping_load(source: str | Path | dict) -> Mapping:
    raw = source if isinstance(source, dict) else json.loads(Path(source).read_text(encoding="utf-8"))
    sections = {name: _rules(raw.get(name, {}).get("fields", {}), name) for name in SECTION_MODELS if name in raw}
    if "patient" not in sections or "lesion" not in sections:
        raise MappingError("The mapping needs a 'patient' and a 'lesion' section (enrollment needs both).")
    for name, rules in sections.items():
        _check_targets(name, rules)
    visits = []
    for index, spec in enumerate(raw.get("visits", [])):
        rules = _rules(spec.get("fields", {}), f"visits[{index}]")
        _check_targets("visit", rules)
        visits.append((spec.get("event", ""), spec["visit_code"], rules))
    if not raw.get("site"):
        raise MappingError("The mapping must name the registry 'site' (its code) the records belong to.")
    return Mapping(raw["site"], raw.get("record_id", "record_id"), raw.get("imported_by", ""), sections,
                   raw.get("patient", {}).get("event", ""), visits)


# --- values ---------------------------------------------------------------------------------------------------------

def _convert(value: str, model_field: models.Field | None, target: str) -> Any:
    """REDCap raw text → the registry's Python value, by the target field's type."""
    if target.startswith("pain."):
        return int(value)
    if target == "visit_date" or isinstance(model_field, models.DateField):
        return dt.date.fromisoformat(value)
    if isinstance(model_field, models.BooleanField):
        lowered = value.lower()
        if lowered not in {"1", "0", "yes", "no", "true", "false"}:
            raise ValueError(f"{value!r} is not yes/no (1/0)")
        return lowered in {"1", "yes", "true"}
    if isinstance(model_field, models.DecimalField):
        return Decimal(value)
    if isinstance(model_field, models.IntegerField):
        return int(value)
    return value


def _value(rule: FieldRule, row: RedcapRow, model: type[models.Model] | None) -> Any:
    if not rule.source:
        return rule.constant
    raw = row.values.get(rule.source, "")
    if rule.value_map is not None and raw != "":
        if raw not in rule.value_map:
            raise ValueError(f"value {raw!r} is not in the mapping's value map ({', '.join(map(str, rule.value_map))})")
        raw = rule.value_map[raw]
        if not isinstance(raw, str):
            return raw
    if raw == "":
        return None
    if rule.transform == "year":
        return dt.date.fromisoformat(raw).year
    model_field = None
    if model is not None:
        model_field = model._meta.get_field(rule.target)
    return _convert(raw, model_field, rule.target)


def _collect(rules: list[FieldRule], row: RedcapRow, model, errors: list[RowError]) -> dict[str, Any]:
    values = {}
    for rule in rules:
        try:
            value = _value(rule, row, model)
        except (ValueError, InvalidOperation) as exc:
            errors.append(RowError(row.number, row.record_id, rule.source, rule.target, f"cannot be read: {exc}"))
            continue
        if value is not None:
            values[rule.target] = value
    return values


def _service_errors(exc: DomainValidationError, row: RedcapRow, by_target: dict[str, FieldRule]) -> list[RowError]:
    errors = []
    for key, messages in exc.errors.items():
        rule = by_target.get(key) or by_target.get(key.split("[")[0])
        for message in messages:
            errors.append(RowError(row.number, row.record_id, rule.source if rule else "", key, message))
    return errors


# --- import ---------------------------------------------------------------------------------------------------------

def _group(rows: list[RedcapRow], mapping: Mapping) -> OrderedDict[str, list[RedcapRow]]:
    grouped: OrderedDict[str, list[RedcapRow]] = OrderedDict()
    for row in rows:
        grouped.setdefault(row.values.get(mapping.record_id, ""), []).append(row)
    return grouped


def _patient_row(rows: list[RedcapRow], mapping: Mapping) -> RedcapRow | None:
    candidates = [r for r in rows if not r.repeat_instrument]
    if mapping.patient_event:
        candidates = [r for r in candidates if r.event == mapping.patient_event]
    return candidates[0] if candidates else None


def _import_record(actor, site: Site, record_rows: list[RedcapRow], mapping: Mapping, report: ImportReport) -> None:
    row = _patient_row(record_rows, mapping)
    if row is None:
        first = record_rows[0]
        report.errors.append(RowError(first.number, first.record_id, "redcap_event_name", "patient",
                                      f"no row of event {mapping.patient_event!r} holds the enrollment data"))
        return
    errors: list[RowError] = []
    data = {name: _collect(rules, row, SECTION_MODELS[name], errors) for name, rules in mapping.sections.items()}
    by_target = {r.target: r for r in mapping.sections["patient"]} | {f"lesion.{r.target}": r for r in mapping.sections["lesion"]}
    if errors:
        report.errors += errors
        return
    try:
        with transaction.atomic():
            patient = services.patient_enroll(actor=actor, site=site, patient_data=data["patient"], lesion_data=data["lesion"])
            if data.get("procedure"):
                services.procedure_record(actor=actor, patient=patient, data=data["procedure"])
                patient.refresh_from_db()
            visits = _import_visits(actor, patient, record_rows, mapping, report)
    except DomainValidationError as exc:
        report.errors += _service_errors(exc, row, by_target | {r.target: r for r in mapping.sections.get("procedure", [])})
        return
    except _VisitsFailed:
        return
    report.created.append((row.record_id, patient.study_id))
    report.visits_recorded += visits


class _VisitsFailed(Exception):
    """Raised inside the record's savepoint so its enrollment is rolled back with the failing visits."""


def _import_visits(actor, patient: Patient, record_rows: list[RedcapRow], mapping: Mapping, report: ImportReport) -> int:
    recorded, failed = 0, False
    for event, visit_code, rules in mapping.visits:
        rows = [r for r in record_rows if r.event == event and not r.repeat_instrument]
        if not rows:
            continue
        row, errors = rows[0], []
        values = _collect(rules, row, None, errors)
        if not values.get("visit_date"):
            continue  # no data for this visit in REDCap
        if errors:
            report.errors += errors
            failed = True
            continue
        visit = patient.visits.get(visit_code=visit_code)
        pain = {k.removeprefix("pain."): v for k, v in values.items() if k.startswith("pain.")}
        data = services.VisitData.from_visit(visit).with_changes(
            pain=pain, **{k: v for k, v in values.items() if not k.startswith("pain.")}
        )
        try:
            with transaction.atomic():
                services.visit_record(actor=actor, visit=visit, data=data)
            recorded += 1
        except DomainValidationError as exc:
            report.errors += _service_errors(exc, row, {r.target: r for r in rules})
            failed = True
    if failed:
        raise _VisitsFailed
    return recorded


def redcap_import(*, mapping: Mapping, records: str | Path, actor=None, dry_run: bool = False) -> ImportReport:
    """Validate every row through the services; commit only when nothing failed and this is not a dry run."""
    if actor is None:
        actor = get_user_model().objects.filter(username=mapping.imported_by).first()
        if actor is None:
            raise MappingError(f"No user {mapping.imported_by!r} to import as; set 'imported_by' in the mapping or pass --user.")
    site = Site.objects.filter(code=mapping.site_code).first()
    if site is None:
        raise MappingError(f"No site with code {mapping.site_code!r}.")
    rows = records_read(records)
    _check_sources(rows, mapping)
    report = ImportReport(dry_run=dry_run)
    with transaction.atomic():
        for record_rows in _group(rows, mapping).values():
            report.records += 1
            _import_record(actor, site, record_rows, mapping, report)
        report.committed = not dry_run and not report.errors
        if not report.committed:
            transaction.set_rollback(True)
    if not report.committed and not dry_run:
        report.created, report.visits_recorded = [], 0  # rolled back: nothing was created
    return report


def _check_sources(rows: list[RedcapRow], mapping: Mapping) -> None:
    header = set(rows[0].values) if rows else set()
    wanted = {r.source for rules in mapping.sections.values() for r in rules if r.source}
    wanted |= {r.source for _, _, rules in mapping.visits for r in rules if r.source} | {mapping.record_id}
    missing = sorted(wanted - header)
    if rows and missing:
        raise MappingError(f"The records file has no column(s) {', '.join(missing)} named by the mapping.")
