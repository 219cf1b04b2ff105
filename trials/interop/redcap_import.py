"""Import records from a site's REDCap export through a declarative mapping file (JSON), accountably (issue 13).

The mapping names, for each registry field, the REDCap field it comes from (``"from"``) or a constant
(``"value"``), with an optional value map (``"map"``: REDCap code → registry code), transform
(``"transform"``: ``"year"`` takes the year of a date) and the missing-data codes the site uses in that field
(``"missing"``: e.g. ``["UNK", "NASK"]``; in ``pain.*`` fields a declared code that is one of the registry's codes
(NASK, UNK, NA, ASKU) is stored as the visit's missing-data code for that item, anything else is refused). Sections:

- ``site``: a registry site code, or ``{"from": "redcap_data_access_group"}`` (REDCap's data access group,
  matched to a site code ignoring case);
- ``patient`` (``event`` + ``fields``), with the index ``lesion`` and the index ``procedure`` read from the same row;
- ``visits``: one entry per REDCap event → registry visit code;
- ``study_exit`` (``event`` + ``fields``);
- ``repeating``: REDCap repeating instruments (``redcap_repeat_instrument``/``redcap_repeat_instance``) → registry
  forms ``lesion``, ``radiation``, ``opioid`` (rows of the visit of their event), ``adverse_event``, ``skeletal_event``.

The mapping is validated before any row is read (``mapping_load``). Every input row is accounted for in the
``ImportReport``: imported, updated, unchanged, refused (row, record, field, rule), blank (skipped) or holding no
mapped value. Patients are matched on their source record id (``Patient.source_record_id``, within the site), and
repeating records on their stable instance number, so a second import of the same file changes nothing; a changed
value is updated through the services with a reason naming the file and row. Everything runs in one transaction:
a dry run reports every failing row and rolls back; a real run commits only when no row was refused.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models, transaction

from trials import services
from trials.domain import missing, schedule
from trials.errors import DomainValidationError
from trials.interop.redcap import RECORD_ID, RedcapRow, records_read
from trials.models import (
    AdverseEvent,
    ClinicalRecord,
    Lesion,
    MedicationUse,
    Patient,
    Procedure,
    RadiationCourse,
    Site,
    SkeletalEvent,
    StudyExit,
)
from trials.services.patients import PATIENT_INPUT_FIELDS
from trials.services.visits import MEDICATION_FIELDS, entered_fields

# Visit targets a mapping may name: the visit input's own fields (not its opioid rows) and each BPI item.
VISIT_FIELDS = {f.name for f in fields(services.VisitData)} - {"pain", "medications"} | {
    f"pain.{p}" for p in services.visits.PAIN_FIELDS
}
SECTION_MODELS: dict[str, type[models.Model]] = {
    "patient": Patient, "lesion": Lesion, "procedure": Procedure, "study_exit": StudyExit,
    "radiation": RadiationCourse, "opioid": MedicationUse, "adverse_event": AdverseEvent, "skeletal_event": SkeletalEvent,
}
REPEATING_FORMS = ("lesion", "radiation", "opioid", "adverse_event", "skeletal_event")
# Fields the system keeps (audit stamps, versions, voiding, generated IDs): never a mapping target.
SYSTEM_FIELDS = {f.name for f in ClinicalRecord._meta.get_fields()} | {
    "id", "study_id", "site", "patient", "visit", "repeat_instance", "source_record_id", "protocol_deviation",
    "mme_per_day", "mme_table_version",
}
DATE_FORMATS = {"YMD": ("%Y-%m-%d", "YYYY-MM-DD"), "MDY": ("%m/%d/%Y", "M/D/YYYY"), "DMY": ("%d/%m/%Y", "D/M/YYYY")}
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


# --- report ---------------------------------------------------------------------------------------------------------

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


IMPORTED, UPDATED, UNCHANGED, REFUSED, NO_DATA = "imported", "updated", "unchanged", "refused", "no data"
IGNORED = "ignored (mapping)"
_RANK = {REFUSED: 5, IMPORTED: 4, UPDATED: 3, UNCHANGED: 2, IGNORED: 1, NO_DATA: 0}


@dataclass
class RowOutcome:
    """What became of one input row: its status and the registry records it produced or matched."""

    row: int
    record_id: str
    status: str = NO_DATA
    records: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def note(self, status: str, record: str = "") -> None:
        if _RANK[status] > _RANK[self.status]:
            self.status = status
        if record and record not in self.records:
            self.records.append(record)

    def __str__(self) -> str:
        what = f": {', '.join(self.records)}" if self.records else ""
        return f"row {self.row} (record {self.record_id}) {self.status}{what}"


@dataclass
class ImportReport:
    dry_run: bool
    source: str = ""
    rows_read: int = 0
    blank_rows: list[int] = field(default_factory=list)
    rows: list[RowOutcome] = field(default_factory=list)
    records: int = 0
    created: list[tuple[str, str]] = field(default_factory=list)  # (REDCap record id, registry study ID)
    visits_recorded: int = 0
    committed: bool = False

    @property
    def errors(self) -> list[RowError]:
        return [e for outcome in self.rows for e in outcome.errors]

    def counts(self) -> dict[str, int]:
        counted = {status: 0 for status in (IMPORTED, UPDATED, UNCHANGED, REFUSED, IGNORED, NO_DATA)}
        for outcome in self.rows:
            counted[outcome.status] += 1
        return {**counted, "blank (skipped)": len(self.blank_rows)}

    def summary(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in self.counts().items() if n)
        return f"{self.rows_read} row(s) read: {counts or 'nothing'}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready report (kept with a web import run)."""
        return {
            "source": self.source, "dry_run": self.dry_run, "committed": self.committed, "rows_read": self.rows_read,
            "counts": self.counts(), "blank_rows": self.blank_rows, "created": [list(c) for c in self.created],
            "rows": [{"row": o.row, "record_id": o.record_id, "status": o.status, "records": o.records,
                      "errors": [str(e) for e in o.errors]} for o in self.rows],
        }


# --- mapping --------------------------------------------------------------------------------------------------------

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
    return SECTION_MODELS[section]._meta.get_field(target)


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
            raise MappingError(f"{key}.missing: list the missing-data codes as strings, e.g. [\"UNK\", \"NASK\"].")
        rule = FieldRule(target, key, spec.get("from", ""), spec.get("value"), spec.get("map"), spec.get("transform", ""),
                         tuple(missing))
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
            converted = _convert(str(value) if not isinstance(value, bool) else ("1" if value else "0"), model_field,
                                 rule.target, "YMD")
        except (ValueError, InvalidOperation) as exc:
            raise MappingError(f"{rule.key}.{label}: {value!r} is not a valid {rule.target}: {exc}") from exc
        choices = {str(k) for k, _ in (model_field.choices or ())} if model_field is not None else set()
        if choices and str(converted) not in choices:
            raise MappingError(f"{rule.key}.{label}: {value!r} is not one of {rule.target}'s codes ({', '.join(sorted(choices))}).")


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
    known = {"site", "imported_by", "record_id", "date_format", "patient", "lesion", "procedure", "study_exit", "visits",
             "repeating", "ignore", "_comment"}
    for key in raw:
        if key not in known:
            raise MappingError(f"{key}: unknown mapping section (known: {', '.join(sorted(known - {'_comment'}))}).")
    site = raw.get("site")
    site_rule = None
    if isinstance(site, dict):
        if not site.get("from"):
            raise MappingError("site: give a site code, or {\"from\": \"redcap_data_access_group\"}.")
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
    singles = [_section(raw[name], name, name, needs_event=name == "study_exit") for name in ("lesion", "procedure", "study_exit")
               if name in raw]
    visits = []
    codes = [v.code for v in schedule.DEFAULT_SCHEDULE]
    for index, spec in enumerate(raw.get("visits", [])):
        where = f"visits[{index}]"
        if not isinstance(spec, dict):
            raise MappingError(f"{where}: must be an object with 'event', 'visit_code' and 'fields'.")
        if spec.get("visit_code") not in codes:
            close = difflib.get_close_matches(str(spec.get("visit_code")), codes, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise MappingError(f"{where}.visit_code: {spec.get('visit_code')!r} is not a registry visit ({', '.join(codes)}).{hint}")
        section = _section(spec, where, "visit", needs_event=True)
        section.visit_code = spec["visit_code"]
        visits.append(section)
    events = [patient.event] + [s.event for s in singles if s.event] + [v.event for v in visits]
    for event in set(events):
        if event and events.count(event) > 1 and event != patient.event:
            raise MappingError(f"visits: event {event!r} is mapped twice.")
    ignore = raw.get("ignore", {})
    if not isinstance(ignore, dict) or set(ignore) - {"events", "instruments"}:
        raise MappingError("ignore: give {\"events\": [...], \"instruments\": [...]} (rows of these are counted as ignored).")
    return Mapping(site, site_rule, raw.get("record_id", RECORD_ID), raw.get("imported_by", ""), date_format, patient,
                   singles, visits, repeating, frozenset(ignore.get("events", [])), frozenset(ignore.get("instruments", [])))


# --- values ---------------------------------------------------------------------------------------------------------

def _date(value: str, date_format: str) -> dt.date:
    pattern, shown = DATE_FORMATS[date_format]
    try:
        return dt.datetime.strptime(value, pattern).date()  # noqa: DTZ007 - a calendar date, no time of day
    except ValueError:
        others = ", ".join(f"{k} ({v[1]})" for k, v in DATE_FORMATS.items() if k != date_format)
        raise ValueError(f"{value!r} is not a date in the accepted format {shown}; for files in another format "
                         f"use --date-format ({others})") from None


def _convert(value: str, model_field: models.Field | None, target: str, date_format: str) -> Any:
    """REDCap raw text → the registry's Python value, by the target field's type."""
    if target.startswith("pain.") or isinstance(model_field, models.IntegerField):
        if not value.lstrip("-").isdigit():
            raise ValueError(f"{value!r} is not a whole number")
        return int(value)
    if target == "visit_date" or isinstance(model_field, models.DateField):
        return _date(value, date_format)
    if isinstance(model_field, models.BooleanField):
        lowered = value.lower()
        if lowered not in {"1", "0", "yes", "no", "true", "false"}:
            raise ValueError(f"{value!r} is not yes/no (1/0)")
        return lowered in {"1", "yes", "true"}
    if isinstance(model_field, models.DecimalField):
        try:
            return Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
    return value


@dataclass(frozen=True)
class MissingCode:
    """A BPI item's declared missing-data code read from a cell (stored in ``Visit.missing_codes``, not as a value)."""

    code: str


def _missing_code(rule: FieldRule, raw: str) -> MissingCode:
    """A declared code in a ``pain.<item>`` field that is one of the product's codes; anything else is refused."""
    accepted = ", ".join(missing.MISSING_CODES)
    if not rule.target.startswith("pain."):
        raise ValueError(f"{raw!r} is a missing-data code declared for {rule.source}, but the registry keeps missing-data "
                         f"codes for the BPI items (pain.*) only, not for {rule.target}; leave the cell blank if the value "
                         "was not collected")
    if raw not in missing.MISSING_CODES:
        raise ValueError(f"missing-data code {raw!r} declared for {rule.source} is not one of the registry's codes "
                         f"({accepted}); recode it in REDCap or leave the cell blank")
    return MissingCode(raw)


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
            raise ValueError(f"{exc}; if {raw!r} is a missing-data code, declare it for this field in the mapping "
                             f"(\"missing\": [\"{raw}\"])") from None
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


# --- rows -----------------------------------------------------------------------------------------------------------

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
            refuse("redcap_repeat_instrument", f"repeating instrument {instrument!r} is not in the mapping's 'repeating' "
                                               f"section (mapped: {known}); nothing of this row would be imported")
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
            refuse("redcap_repeat_instance", f"instance {_instance(row)} of event {row.event!r}: the registry's visits and "
                                             "enrollment happen once per patient, so a repeated event cannot be imported "
                                             "(record a later visit under its own event)")
            continue
        key = (record_id, row.event, instrument, _instance(row) if instrument else "")
        if key in seen:
            what = f"record {record_id}, event {row.event or '(none)'}" + (f", {instrument} #{key[3]}" if instrument else "")
            refuse("redcap_event_name", f"duplicate of row {seen[key]} ({what}): which one holds the data is unclear")
            continue
        seen[key] = row.number
        grouped.setdefault(record_id, []).append(row)
    return grouped


# --- import ---------------------------------------------------------------------------------------------------------

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
        outcome.errors.append(RowError(row.number, row.record_id, ctx.mapping.site_rule.source if ctx.mapping.site_rule else "",
                                       "site", f"no registry site with code {code!r}"))
    return site


def _update(ctx: _Context, instance, values: dict[str, Any], row: RedcapRow, outcome: RowOutcome, label: str,
            rules: list[FieldRule]) -> None:
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
        values[row.number] = {s.name if not s.visit_code else "visit": _collect(s, row, mapping.date_format, ctx.outcomes[row.number])
                              for s in sections}
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
            _repeats(ctx, patient, record_rows, values, events={"lesion", "radiation", "adverse_event", "skeletal_event"})
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
        outcome.errors.append(RowError(row.number, row.record_id, "redcap_event_name", "patient",
                                       f"record {row.record_id} is not in the registry and the file has no row of event "
                                       f"{mapping.patient.event!r} with its enrollment data"))
        raise _RecordFailed
    row = patient_rows[0]
    outcome, data = ctx.outcomes[row.number], values[row.number]
    rules = {s.name: s.rules for s in [mapping.patient, *mapping.singles]}
    lesion_data = data.get("lesion")
    index_row = None
    if lesion_data is None:  # the index lesion comes from the repeating lesion instrument
        lesion_rows = [r for r in record_rows if r.repeat_instrument and mapping.repeating[r.repeat_instrument].name == "lesion"]
        index_row = next((r for r in lesion_rows if values[r.number]["lesion"].get("is_index")), lesion_rows[0] if lesion_rows else None)
        lesion_data = dict(values[index_row.number]["lesion"]) if index_row is not None else {}
    lesion_data.pop("is_index", None)
    if patient is None:
        try:
            patient = services.patient_enroll(actor=ctx.actor, site=site, patient_data=data["patient"], lesion_data=lesion_data)
        except DomainValidationError as exc:
            outcome.errors += _service_errors(exc, row, rules["patient"]) + _service_errors(exc, row, rules.get("lesion", []), "lesion.")
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
        index = patient.lesions.active().filter(is_index=True).first()
        if index is not None and "lesion" in data:
            _update(ctx, index, lesion_data, row, outcome, f"{patient.study_id} index lesion", rules.get("lesion", []))
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
        existing = model.objects.filter(patient=patient, repeat_instance=instance_number).first()
        label = f"{patient.study_id} {section.name.replace('_', ' ')} #{instance_number}"
        if existing is not None and existing.voided_at is None:
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
        opioid_rows = [r for r in record_rows if r.event == section.event and r.repeat_instrument
                       and ctx.mapping.repeating[r.repeat_instrument].name == "opioid"]
        if not rows and not opioid_rows:
            continue
        row = rows[0] if rows else opioid_rows[0]
        outcome = ctx.outcomes[row.number]
        visit_values = values[row.number].get("visit", {}) if rows else {}
        if not visit_values.get("visit_date") and not visit_values.get("not_done_reason"):
            if (rows and _has_source_values(section, row) and set(visit_values) - {"visit_date"}) or opioid_rows:
                outcome.errors.append(RowError(row.number, row.record_id, _source_of(section, "visit_date"), "visit_date",
                                               "the visit has data but no visit date; enter the date the visit took place"))
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
            changes["medications"] = [_medication(values[r.number]["opioid"]) for r in sorted(opioid_rows, key=lambda r: int(_instance(r)))]
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
            raise MappingError(f"{key}: no row of the records file has event {event!r}; did you mean {close[0]!r} "
                               f"(in the file, not mapped)?")


def redcap_import(*, mapping: Mapping, records: str | Path, actor=None, dry_run: bool = False,
                  date_format: str | None = None, source_name: str = "") -> ImportReport:
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
    name = source_name or (Path(records).name if isinstance(records, Path) or (isinstance(records, str) and "\n" not in records)
                           else "uploaded file")
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


def registry_mapping(*, imported_by: str = "") -> dict[str, Any]:
    """The mapping that imports the registry's own REDCap export (``export_redcap``) back: every form item to its
    field, sites from ``redcap_data_access_group``. Used by the round-trip test and as a starting point for sites."""
    from trials.interop.forms import FORMS_BY_NAME
    from trials.interop.redcap import unique_event_name

    def fields_of(form: str, section: str) -> dict[str, dict[str, str]]:
        allowed = allowed_targets(section)
        return {item.name: {"from": item.variable} for item in FORMS_BY_NAME[form].items if item.name in allowed}

    visit_items = {**{i.name: {"from": i.variable} for i in FORMS_BY_NAME["visit"].items if i.name in VISIT_FIELDS},
                   **{f"pain.{i.name}": {"from": i.variable, "missing": list(missing.MISSING_CODES)}
                      for i in FORMS_BY_NAME["bpi"].items}}
    enrollment = unique_event_name("enrollment")
    return {
        "site": {"from": DAG}, "imported_by": imported_by, "record_id": RECORD_ID,
        "patient": {"event": enrollment, "fields": fields_of("registration", "patient")},
        "procedure": {"fields": fields_of("procedure", "procedure")},
        "study_exit": {"event": unique_event_name("ongoing"), "fields": fields_of("study_exit", "study_exit")},
        "visits": [{"event": unique_event_name(v.code), "visit_code": v.code, "fields": visit_items} for v in schedule.DEFAULT_SCHEDULE],
        "repeating": {form: {"form": form, "fields": fields_of(form, form)} for form in REPEATING_FORMS},
    }


# --- web import runs (kept and audited) -----------------------------------------------------------------------------

def import_run_check(*, actor, records_name: str, records_text: str, mapping_name: str, mapping_raw: dict,
                     date_format: str = "YMD"):
    """Dry-run an uploaded file and keep the run with its report (``ImportRun``). Raises ``MappingError`` (bad
    mapping or file header) before anything is kept; row problems are in the kept report."""
    import hashlib

    from trials.models import ImportRun, ImportStatus

    mapping = mapping_load(mapping_raw)
    report = redcap_import(mapping=mapping, records=records_text, actor=actor, dry_run=True, date_format=date_format,
                           source_name=records_name)
    refused = bool(report.errors)
    run = ImportRun(created_by=actor, records_name=records_name, records_text="" if refused else records_text,
                    records_sha256=hashlib.sha256(records_text.encode()).hexdigest(), mapping_name=mapping_name,
                    mapping=mapping_raw, date_format=date_format, dry_run_report=report.as_dict(),
                    status=ImportStatus.REFUSED if refused else ImportStatus.CHECKED)
    run._history_user = actor
    run._change_reason = f"Dry run: {report.summary()}"[:100]
    run.save()
    return run


def import_run_confirm(*, actor, run):
    """Run a checked import for real (all or nothing) and keep its report; the records text is then cleared."""
    from django.utils import timezone

    from trials.models import ImportRun, ImportStatus

    run = ImportRun.objects.select_for_update().get(pk=run.pk)
    if run.status != ImportStatus.CHECKED:
        raise DomainValidationError({"status": f"This import is {run.get_status_display().split(':')[0].lower()}; only a "
                                               "checked import waiting for confirmation can be run."})
    report = redcap_import(mapping=mapping_load(run.mapping), records=run.records_text, actor=actor,
                           date_format=run.date_format, source_name=run.records_name)
    run.report, run.records_text = report.as_dict(), ""
    run.status = ImportStatus.IMPORTED if report.committed else ImportStatus.REFUSED
    run.imported_at, run.imported_by = timezone.now(), actor
    run._history_user = actor
    run._change_reason = f"{'Imported' if report.committed else 'Refused'}: {report.summary()}"[:100]
    run.save()
    return run
