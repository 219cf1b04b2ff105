"""The mapping file: loading and validation (``mapping_load``), its rules and sections, and ``registry_mapping()``."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, fields
from decimal import InvalidOperation
from pathlib import Path
from typing import Any

from django.db import models

from trials import services
from trials.domain import missing, schedule
from trials.interop.redcap import RECORD_ID
from trials.interop.redcap_import.values import DATE_FORMATS, _convert
from trials.models import (
    AdverseEvent,
    ClinicalRecord,
    ImagingAssessment,
    Lesion,
    MedicationUse,
    Patient,
    Procedure,
    RadiationCourse,
    SkeletalEvent,
    StudyExit,
)
from trials.models.base import concrete_field
from trials.services.patients import PATIENT_INPUT_FIELDS
from trials.services.visits import MEDICATION_FIELDS, entered_fields

# Visit targets a mapping may name: the visit input's own fields (not its opioid rows) and each BPI item.
VISIT_FIELDS = {f.name for f in fields(services.VisitData)} - {"pain", "medications"} | {
    f"pain.{p}" for p in services.visits.PAIN_FIELDS
}
SECTION_MODELS: dict[str, type[models.Model]] = {
    "patient": Patient,
    "lesion": Lesion,
    "procedure": Procedure,
    "study_exit": StudyExit,
    "radiation": RadiationCourse,
    "opioid": MedicationUse,
    "adverse_event": AdverseEvent,
    "skeletal_event": SkeletalEvent,
    "imaging": ImagingAssessment,
}
REPEATING_FORMS = ("lesion", "radiation", "opioid", "adverse_event", "skeletal_event", "imaging")
# Fields the system keeps (audit stamps, versions, voiding, generated IDs): never a mapping target.
SYSTEM_FIELDS = {f.name for f in ClinicalRecord._meta.get_fields()} | {
    "id",
    "study_id",
    "site",
    "patient",
    "visit",
    "repeat_instance",
    "source_record_id",
    "protocol_deviation",
    "mme_per_day",
    "mme_table_version",
}
DAG = "redcap_data_access_group"


class MappingError(ValueError):
    """The mapping file itself is wrong (raised before any row is read); the message names the mapping key."""


def allowed_targets(section: str) -> set[str]:
    """Registry fields a mapping section may fill (what a user enters on the form; never system fields)."""
    if section == "visit":
        return set(VISIT_FIELDS)
    if section == "patient":
        return set(PATIENT_INPUT_FIELDS)
    if section == "opioid":
        return set(MEDICATION_FIELDS) | {"mme_factor"}
    model = SECTION_MODELS[section]
    return set(entered_fields(model, parent="patient")) - SYSTEM_FIELDS | ({"is_index"} if section == "lesion" else set())


@dataclass
class FieldRule:
    target: str
    key: str  # where the rule is in the mapping, for messages: "visits[0].fields.pain.worst"
    source: str = ""
    constant: Any = None
    value_map: dict[str, Any] | None = None
    transform: str = ""
    missing: tuple[str, ...] = ()


@dataclass
class Section:
    name: str  # patient | lesion | procedure | study_exit | visit | <repeating form>
    rules: list[FieldRule]
    event: str = ""
    visit_code: str = ""
    instrument: str = ""


@dataclass
class Mapping:
    site_code: str
    site_rule: FieldRule | None
    record_id: str
    imported_by: str
    date_format: str
    patient: Section
    singles: list[Section]  # lesion, procedure (patient row), study_exit (its event)
    visits: list[Section]
    repeating: dict[str, Section]  # REDCap instrument → section
    ignore_events: frozenset[str] = frozenset()  # declared on purpose: their rows are counted as ignored
    ignore_instruments: frozenset[str] = frozenset()

    @property
    def patient_event(self) -> str:
        return self.patient.event

    def events(self) -> set[str]:
        return {self.patient.event} | {s.event for s in self.singles if s.event} | {v.event for v in self.visits}

    def sources(self) -> set[str]:
        sections = [self.patient, *self.singles, *self.visits, *self.repeating.values()]
        found = {r.source for s in sections for r in s.rules if r.source} | {self.record_id}
        return found | ({self.site_rule.source} if self.site_rule else set())


def _model_field(section: str, target: str) -> models.Field | None:
    if section == "visit":
        return None
    return concrete_field(SECTION_MODELS[section], target)


def _rules(raw: Any, where: str, section: str) -> list[FieldRule]:
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: 'fields' must be an object of registry field → rule.")
    allowed = allowed_targets(section)
    rules = []
    for target, spec in raw.items():
        key = f"{where}.{target}"
        if target in SYSTEM_FIELDS - {"is_index"} or target.removeprefix("pain.") in SYSTEM_FIELDS:
            raise MappingError(f"{key}: {target!r} is an audit or system field the registry keeps itself; it cannot be imported.")
        if target not in allowed:
            close = difflib.get_close_matches(target, sorted(allowed), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else f" Fields: {', '.join(sorted(allowed))}."
            raise MappingError(f"{key}: the registry has no field {target!r} in {section}.{hint}")
        if not isinstance(spec, dict) or ("from" not in spec and "value" not in spec):
            raise MappingError(f"{key}: give 'from' (a REDCap field) or 'value' (a constant).")
        if spec.get("transform", "") not in ("", "year"):
            raise MappingError(f"{key}: unknown transform {spec['transform']!r} (known: year).")
        missing = spec.get("missing", [])
        if not isinstance(missing, list) or not all(isinstance(code, str) and code for code in missing):
            raise MappingError(f'{key}.missing: list the missing-data codes as strings, e.g. ["UNK", "NASK"].')
        rule = FieldRule(
            target, key, spec.get("from", ""), spec.get("value"), spec.get("map"), spec.get("transform", ""), tuple(missing)
        )
        _check_constants(rule, section)
        rules.append(rule)
    return rules


def _check_constants(rule: FieldRule, section: str) -> None:
    """A constant (or a value-map result) must be a valid value of the target field's type and choices."""
    model_field = _model_field(section, rule.target)
    candidates = []
    if not rule.source:
        candidates.append(("value", rule.constant))
    if rule.value_map is not None:
        if not isinstance(rule.value_map, dict):
            raise MappingError(f"{rule.key}.map: give an object of REDCap code → registry value.")
        candidates += [(f"map[{code!r}]", value) for code, value in rule.value_map.items()]
    for label, value in candidates:
        if value is None:
            continue
        try:
            converted = _convert(
                str(value) if not isinstance(value, bool) else ("1" if value else "0"), model_field, rule.target, "YMD"
            )
        except (ValueError, InvalidOperation) as exc:
            raise MappingError(f"{rule.key}.{label}: {value!r} is not a valid {rule.target}: {exc}") from exc
        choices = {str(k) for k, _ in (model_field.choices or ())} if model_field is not None else set()
        if choices and str(converted) not in choices:
            raise MappingError(
                f"{rule.key}.{label}: {value!r} is not one of {rule.target}'s codes ({', '.join(sorted(choices))})."
            )


def _section(raw: dict, where: str, name: str, *, needs_event: bool = False) -> Section:
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: must be an object with 'fields'.")
    event = raw.get("event", "")
    if needs_event and not event:
        raise MappingError(f"{where}.event: name the REDCap event (unique event name, e.g. 'month1_arm_1').")
    return Section(name, _rules(raw.get("fields", {}), f"{where}.fields", name), event=event)


def mapping_load(source: str | Path | dict) -> Mapping:
    """Read and validate a mapping (path or dict). Raises ``MappingError`` naming the mapping key at fault."""
    if isinstance(source, dict):
        raw = source
    else:
        try:
            raw = json.loads(Path(source).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise MappingError(f"No mapping file {source}.") from exc
        except json.JSONDecodeError as exc:
            raise MappingError(f"The mapping is not valid JSON: {exc}.") from exc
    if not isinstance(raw, dict):
        raise MappingError("The mapping must be a JSON object.")
    known = {
        "site",
        "imported_by",
        "record_id",
        "date_format",
        "patient",
        "lesion",
        "procedure",
        "study_exit",
        "visits",
        "repeating",
        "ignore",
        "_comment",
    }
    for key in raw:
        if key not in known:
            raise MappingError(f"{key}: unknown mapping section (known: {', '.join(sorted(known - {'_comment'}))}).")
    site = raw.get("site")
    site_rule = None
    if isinstance(site, dict):
        if not site.get("from"):
            raise MappingError('site: give a site code, or {"from": "redcap_data_access_group"}.')
        site_rule = FieldRule("site", "site", site["from"], value_map=site.get("map"))
        site = ""
    elif not site:
        raise MappingError("site: the mapping must name the registry site (its code) the records belong to.")
    date_format = raw.get("date_format", "YMD")
    if date_format not in DATE_FORMATS:
        raise MappingError(f"date_format: {date_format!r} is not one of {', '.join(DATE_FORMATS)}.")
    if "patient" not in raw:
        raise MappingError("patient: the mapping needs a 'patient' section (enrollment).")
    patient = _section(raw["patient"], "patient", "patient")
    repeating = {}
    for instrument, spec in (raw.get("repeating") or {}).items():
        where = f"repeating.{instrument}"
        if not isinstance(spec, dict) or spec.get("form") not in REPEATING_FORMS:
            raise MappingError(f"{where}.form: name the registry form ({', '.join(REPEATING_FORMS)}).")
        section = _section(spec, where, spec["form"])
        section.instrument = instrument
        repeating[instrument] = section
    if "lesion" not in raw and not any(s.name == "lesion" for s in repeating.values()):
        raise MappingError("lesion: enrollment needs the index lesion: a 'lesion' section or a repeating lesion instrument.")
    singles = [
        _section(raw[name], name, name, needs_event=name == "study_exit")
        for name in ("lesion", "procedure", "study_exit")
        if name in raw
    ]
    visits = []
    codes = [v.code for v in schedule.DEFAULT_SCHEDULE]
    for index, spec in enumerate(raw.get("visits", [])):
        where = f"visits[{index}]"
        if not isinstance(spec, dict):
            raise MappingError(f"{where}: must be an object with 'event', 'visit_code' and 'fields'.")
        if spec.get("visit_code") not in codes:
            close = difflib.get_close_matches(str(spec.get("visit_code")), codes, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise MappingError(
                f"{where}.visit_code: {spec.get('visit_code')!r} is not a registry visit ({', '.join(codes)}).{hint}"
            )
        section = _section(spec, where, "visit", needs_event=True)
        section.visit_code = spec["visit_code"]
        visits.append(section)
    events = [patient.event] + [s.event for s in singles if s.event] + [v.event for v in visits]
    for event in set(events):
        if event and events.count(event) > 1 and event != patient.event:
            raise MappingError(f"visits: event {event!r} is mapped twice.")
    ignore = raw.get("ignore", {})
    if not isinstance(ignore, dict) or set(ignore) - {"events", "instruments"}:
        raise MappingError('ignore: give {"events": [...], "instruments": [...]} (rows of these are counted as ignored).')
    return Mapping(
        site,
        site_rule,
        raw.get("record_id", RECORD_ID),
        raw.get("imported_by", ""),
        date_format,
        patient,
        singles,
        visits,
        repeating,
        frozenset(ignore.get("events", [])),
        frozenset(ignore.get("instruments", [])),
    )


def registry_mapping(*, imported_by: str = "") -> dict[str, Any]:
    """The mapping that imports the registry's own REDCap export (``export_redcap``) back: every form item to its
    field, sites from ``redcap_data_access_group``. Used by the round-trip test and as a starting point for sites."""
    from trials.interop.forms import FORMS_BY_NAME
    from trials.interop.redcap import unique_event_name

    def fields_of(form: str, section: str) -> dict[str, dict[str, str]]:
        allowed = allowed_targets(section)
        return {item.name: {"from": item.variable} for item in FORMS_BY_NAME[form].items if item.name in allowed}

    visit_items = {
        **{i.name: {"from": i.variable} for i in FORMS_BY_NAME["visit"].items if i.name in VISIT_FIELDS},
        **{
            f"pain.{i.name}": {"from": i.variable, "missing": list(missing.MISSING_CODES)}
            for i in FORMS_BY_NAME["bpi"].items
            if i.entered
        },  # the answers' source and submission time are provenance: not imported
    }
    enrollment = unique_event_name("enrollment")
    return {
        "site": {"from": DAG},
        "imported_by": imported_by,
        "record_id": RECORD_ID,
        "patient": {"event": enrollment, "fields": fields_of("registration", "patient")},
        "procedure": {"fields": fields_of("procedure", "procedure")},
        "study_exit": {"event": unique_event_name("ongoing"), "fields": fields_of("study_exit", "study_exit")},
        "visits": [
            {"event": unique_event_name(v.code), "visit_code": v.code, "fields": visit_items} for v in schedule.DEFAULT_SCHEDULE
        ],
        "repeating": {form: {"form": form, "fields": fields_of(form, form)} for form in REPEATING_FORMS},
    }
