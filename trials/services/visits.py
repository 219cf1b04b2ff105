"""Recording visit data: BPI, opioid use (MME) and the visit date, as one audited unit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from trials.access import require_site_write
from trials.domain import missing, mme, schedule
from trials.errors import DomainValidationError, ErrorCollector
from trials.models import AnswerSource, ClinicalRecord, ExitType, MedicationUse, OpioidStatus, PainAssessment, Visit
from trials.selectors import active_medications
from trials.services.data_query_rules import rules_run_after_commit
from trials.services.patients import today
from trials.services.records import check_version, field_errors, require_reason, save_audited
from trials.services.text import text_problem
from trials.services.timeline import active_exit


def entered_fields(model: type[models.Model], *, parent: str) -> tuple[str, ...]:
    """The fields a user enters on ``model``, in declaration order: every editable concrete field except
    the audit/void bookkeeping of ``ClinicalRecord`` and the link to ``parent`` (derived, so a new field
    on the model is part of the record's input without editing a list)."""
    bookkeeping = {f.name for f in ClinicalRecord._meta.get_fields()} | {"id", parent}
    return tuple(f.name for f in model._meta.concrete_fields if f.editable and f.name not in bookkeeping)


# The BPI items of a visit in form order (docs/domain.md §3): intensity, interference, relief.
PAIN_FIELDS = entered_fields(PainAssessment, parent="visit")
# An opioid entry's input: drug, route, dose, unit, doses/day, factor source (+ an explicit factor with its source).
MEDICATION_FIELDS = entered_fields(MedicationUse, parent="visit")


def medication_input(med: MedicationUse) -> dict[str, Any]:
    """An existing opioid entry as input again; the factor is explicit only when it came with a source."""
    entry = {name: getattr(med, name) for name in MEDICATION_FIELDS}
    if med.factor_source:
        entry["mme_factor"] = med.mme_factor
    return entry


@dataclass
class VisitData:
    """Everything ``visit_record`` writes for one visit: date, BPI items, opioid answer and opioid rows.

    ``visit_record`` replaces the visit's data with this, so partial changes (API PATCH, a data-query
    correction, an import, the web form's initial values) start from ``VisitData.from_visit(visit)`` and
    apply ``.with_changes(...)``: a field nobody mentions keeps its recorded value.
    """

    visit_date: dt.date | None
    pain: dict[str, int | None] = field(default_factory=dict)
    opioid_status: str = OpioidStatus.UNKNOWN
    medications: list[dict[str, Any]] = field(default_factory=list)
    # Why a BPI item is blank ({item: code}, trials.domain.missing); a coded item has no value.
    missing_codes: dict[str, str] = field(default_factory=dict)
    # Non-blank: the visit did not take place (no date, scores or opioids), and this says why.
    not_done_reason: str = ""

    @classmethod
    def from_visit(cls, visit: Visit) -> VisitData:
        """The visit's recorded data as input again. Every field of this dataclass is read from the
        record (``pain`` and ``medications`` from the visit's BPI and active opioid rows, any other
        field from the visit attribute of the same name), so adding a field here cannot leave it behind."""
        pain = getattr(visit, "pain", None) if visit.pk else None
        readers = {
            "pain": lambda: {name: getattr(pain, name) for name in PAIN_FIELDS} if pain is not None else {},
            "medications": lambda: [medication_input(m) for m in active_medications(visit)] if visit.pk else [],
        }
        values: dict[str, Any] = {f.name: readers[f.name]() if f.name in readers else getattr(visit, f.name) for f in fields(cls)}
        return cls(**values)

    def with_changes(self, **changes: Any) -> VisitData:
        """A copy with the named parts replaced; ``pain`` items are merged into the recorded ones.

        Raises ``DomainValidationError`` naming any part that is not a field of the visit input.
        """
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise DomainValidationError({name: "Not a field of the visit." for name in unknown})
        given_pain = dict(changes.get("pain") or {})
        given_codes = dict(changes.get("missing_codes") or {})
        if "pain" in changes or "missing_codes" in changes:
            # A value entered replaces the item's code and a code replaces its value, unless both are given.
            codes = {**self.missing_codes, **given_codes}
            for item, value in given_pain.items():
                if value not in (None, "") and item not in given_codes:
                    codes.pop(item, None)
            changes["missing_codes"] = {k: v for k, v in codes.items() if v}
            pain = {**self.pain, **given_pain}
            for item, code in given_codes.items():
                if code and item not in given_pain:
                    pain[item] = None
            changes["pain"] = pain
        if "medications" in changes:
            changes["medications"] = [dict(m) for m in changes["medications"] or []]
        return replace(self, **changes)


def _doses_per_day(value: Decimal | None) -> Decimal:
    """Blank means once a day (one patch); any number given, 0 included, is validated as given."""
    return Decimal("1") if value is None else value


def medication_build(visit: Visit, raw: dict[str, Any], index: int, errors: ErrorCollector) -> MedicationUse | None:
    """Validate one opioid row and derive its MME/day; errors are named ``medications[i].field``."""
    prefix = f"medications[{index}]."
    values: dict[str, Any] = {}
    for name in ("dose", "doses_per_day", "mme_factor"):
        value = raw.get(name)
        if value in (None, ""):
            values[name] = None
            continue
        try:
            values[name] = Decimal(str(value))
        except (InvalidOperation, ValueError):
            errors.add(prefix + name, "Must be a number.")
            return None
    if values["dose"] is None:
        errors.add(prefix + "dose", "Dose is required.")
        return None
    drug, route, unit = raw.get("drug", ""), raw.get("route", ""), raw.get("unit", "")
    try:
        result = mme.mme_per_day(
            drug=drug,
            route=route,
            dose=values["dose"],
            unit=unit,
            doses_per_day=_doses_per_day(values["doses_per_day"]),
            explicit_factor=values["mme_factor"],
            factor_source=raw.get("factor_source", "") or "",
        )
    except mme.MMEError as exc:
        errors.add(prefix + exc.field, exc.message)
        return None
    med = MedicationUse(
        visit=visit,
        drug=drug,
        route=route,
        dose=values["dose"],
        unit=unit,
        doses_per_day=_doses_per_day(values["doses_per_day"]),
        mme_factor=result.factor,
        factor_source=raw.get("factor_source", "") or "",
        mme_per_day=result.mme_per_day,
        mme_table_version=result.table_version,
    )
    sub = ErrorCollector()
    field_errors(med, sub, exclude={"visit", "created_by", "updated_by", "voided_by"})
    for name, messages in sub.errors.items():
        for message in messages:
            errors.add(prefix + name, message)
    return med


def _check_visit_date(visit: Visit, visit_date: dt.date | None, errors: ErrorCollector) -> None:
    patient = visit.patient
    if visit_date is None:
        errors.add("visit_date", "The visit date is required.")
        return
    errors.check(
        visit_date >= patient.enrollment_date, "visit_date", f"Must not be before enrollment ({patient.enrollment_date})."
    )
    errors.check(visit_date <= today(patient.site), "visit_date", "Cannot be in the future.")
    exit_ = active_exit(patient)
    if exit_ is not None:
        what = "death" if exit_.exit_type == ExitType.DEATH else "study exit"
        errors.check(visit_date <= exit_.exit_date, "visit_date", f"Must not be after the patient's {what} ({exit_.exit_date}).")


def _pain_build(visit: Visit, pain: dict[str, Any], errors: ErrorCollector) -> PainAssessment:
    assessment = getattr(visit, "pain", None) if visit.pk else None
    assessment = assessment or PainAssessment(visit=visit)
    for name, value in pain.items():
        if name not in PAIN_FIELDS:
            errors.add(f"pain.{name}", "Unknown BPI item.")
            continue
        if value not in (None, ""):
            try:
                value = int(value)
            except (TypeError, ValueError):
                errors.add(f"pain.{name}", "Must be a whole number.")
                continue
            upper = 100 if name == "relief_pct" else 10
            if not 0 <= value <= upper:
                rule = "0% and 100% in steps of 10" if name == "relief_pct" else "0 and 10 (the Brief Pain Inventory scale)"
                errors.add(f"pain.{name}", f"Must be between {rule}; got {value}.")
                continue
            if name == "relief_pct" and value % 10:
                errors.add("pain.relief_pct", "Relief is recorded in steps of 10%.")
                continue
        setattr(assessment, name, None if value == "" else value)
    return assessment


def _check_missing_codes(data: VisitData, errors: ErrorCollector) -> None:
    """Codes only on BPI items, from the fixed list, and never beside a value; a visit not done holds no data."""
    for item, code in (data.missing_codes or {}).items():
        if item not in PAIN_FIELDS:
            errors.add(f"missing_codes.{item}", "Missing-data codes apply to the BPI items only.")
        elif code not in missing.MISSING_CODES:
            errors.add(f"pain.{item}", f"Unknown missing-data code {code!r}: use one of {', '.join(missing.MISSING_CODES)}.")
        elif data.pain.get(item) not in (None, ""):
            errors.add(f"pain.{item}", "Give a score or a missing-data code, not both.")
    problem = text_problem(data.not_done_reason or "")
    if problem:
        errors.add("not_done_reason", f"Reason the visit was not done {problem}")
    if data.not_done_reason.strip():
        entered = any(v not in (None, "") for v in data.pain.values()) or data.missing_codes or data.medications
        errors.check(not entered, "not_done_reason", "A visit not done has no scores, codes or opioid rows: clear them first.")
        errors.check(data.visit_date is None, "visit_date", "A visit not done has no visit date.")


def _visit_build(visit: Visit, data: VisitData, errors: ErrorCollector) -> tuple[PainAssessment, list[MedicationUse | None]]:
    _check_missing_codes(data, errors)
    if not data.not_done_reason.strip():
        _check_visit_date(visit, data.visit_date, errors)
    assessment = _pain_build(visit, data.pain, errors)
    if data.opioid_status not in OpioidStatus.values:
        errors.add("opioid_status", f"Must be one of {', '.join(OpioidStatus.values)}.")
    meds = [medication_build(visit, raw, i, errors) for i, raw in enumerate(data.medications)]
    if data.opioid_status == OpioidStatus.TAKING and not data.medications:
        errors.add("medications", "'Taking opioids' needs at least one opioid row; choose 'No opioids' otherwise.")
    if data.opioid_status != OpioidStatus.TAKING and data.medications:
        errors.add("opioid_status", "Opioid rows were entered: choose 'Taking opioids', or remove the rows.")
    return assessment, meds


@dataclass(frozen=True)
class Provenance:
    """Where ``visit_record``'s answers came from when not from staff (issue 15): the patient, by link.

    ``submitted_at`` is the questionnaire's submission time (aware datetime); ``reference`` names it in the audit
    ("questionnaire response #12").
    """

    source: str
    submitted_at: dt.datetime
    reference: str


def _opioid_answer(visit: Visit, meds: list[MedicationUse]) -> tuple:
    return (visit.opioid_status, sorted(map(_med_key, meds)))


def _stamp_provenance(visit: Visit, assessment: PainAssessment, provenance: Provenance | None, *, actor, opioids_changed: bool):
    """Patient answers carry their source and submission time; a staff change of a patient's opioid answers is
    their review (staff looked at them), so they count as MME from then on."""
    if provenance is not None:
        assessment.source, assessment.submitted_at = provenance.source, provenance.submitted_at
        visit.opioid_source, visit.opioid_submitted_at = provenance.source, provenance.submitted_at
        visit.opioid_reviewed_at, visit.opioid_reviewed_by = None, None
    elif opioids_changed and visit.opioid_review_pending:
        visit.opioid_reviewed_at, visit.opioid_reviewed_by = timezone.now(), actor


def visit_data_check(*, visit: Visit, data: VisitData) -> dict[str, list[str]]:
    """Every rule ``visit_record`` would apply to ``data``, without saving: {field key: messages}.

    Lets a form show its own parse errors and the service's rule errors in one round.
    """
    errors = ErrorCollector()
    _visit_build(visit, data, errors)
    return errors.errors


@transaction.atomic
def visit_record(
    *,
    actor,
    visit: Visit,
    data: VisitData,
    reason: str | None = None,
    expected_version: int | None = None,
    provenance: Provenance | None = None,
) -> Visit:
    """Record (or correct) a visit's data: date, BPI and opioid use, in one transaction.

    Correcting a visit that already has data requires a reason; opioid rows
    that change are voided and re-entered so the audit trail keeps both.
    ``provenance`` (patient answers, ``trials.services.patient_reports``) stamps the BPI and opioid answers
    with their source and submission time; without it the answers keep theirs (a staff correction of a
    patient's answers stays in the audit trail), and a staff change of patient opioid answers reviews them.
    """
    require_site_write(actor, visit.patient.site_id)
    visit = Visit.objects.select_for_update().select_related("patient").get(pk=visit.pk)
    if visit.is_voided:
        raise DomainValidationError({"visit": "This visit is voided."})
    check_version(visit, expected_version)
    is_correction = visit.has_data or visit.is_not_done
    if is_correction:
        reason = require_reason(reason)
    errors = ErrorCollector()
    assessment, meds = _visit_build(visit, data, errors)
    errors.raise_if_any()
    before = _opioid_answer(visit, list(visit.medications.active()))
    after = (data.opioid_status, sorted(_med_key(m) for m in meds if m is not None))
    _stamp_provenance(visit, assessment, provenance, actor=actor, opioids_changed=before != after)

    visit.visit_date = data.visit_date
    visit.out_of_window = data.visit_date is not None and not schedule.is_in_window(
        data.visit_date, visit.window_start, visit.window_end
    )
    visit.opioid_status = data.opioid_status
    visit.missing_codes = dict(data.missing_codes or {})
    visit.not_done_reason = data.not_done_reason.strip()
    visit.version += 1
    save_audited(visit, actor=actor, reason=reason or "Visit data entered")
    if any(getattr(assessment, f) is not None for f in PAIN_FIELDS) or assessment.pk or provenance is not None:
        if assessment.pk:
            assessment.version += 1
        save_audited(assessment, actor=actor, reason=reason or "")
    _replace_medications(visit, [m for m in meds if m is not None], actor=actor, reason=reason)
    rules_run_after_commit(visit.patient_id)
    return visit


def _med_key(m: MedicationUse) -> tuple:
    return (m.drug, m.route, Decimal(m.dose), m.unit, Decimal(m.doses_per_day), Decimal(m.mme_factor), m.factor_source)


def _replace_medications(visit: Visit, new: list[MedicationUse], *, actor, reason: str | None) -> None:
    existing = list(visit.medications.active())
    if sorted(map(_med_key, existing)) == sorted(map(_med_key, new)):
        return
    now = timezone.now()
    for med in existing:
        med.voided_at, med.voided_by = now, actor
        med.void_reason = f"Replaced by corrected opioid entries: {reason}"
        med.version += 1
        save_audited(med, actor=actor, reason=med.void_reason)
    for med in new:
        save_audited(med, actor=actor, reason=reason or "")


@transaction.atomic
def visit_data_void(*, actor, visit: Visit, reason: str | None, expected_version: int | None = None) -> Visit:
    """Void the data entered at a visit; the scheduled visit stays so it can be entered again.

    The visit date and opioid answer go back to blank, BPI items to blank and
    opioid rows are voided; every old value stays in the audit history with
    the reason ("Voided: <reason>").
    """
    reason = require_reason(reason)
    require_site_write(actor, visit.patient.site_id)
    visit = Visit.objects.select_for_update().select_related("patient").get(pk=visit.pk)
    check_version(visit, expected_version)
    if not (visit.has_data or visit.is_not_done):
        raise DomainValidationError({"non_field_errors": "This visit has no data to void."})
    why = f"Voided: {reason}"
    visit.visit_date, visit.out_of_window, visit.opioid_status = None, False, OpioidStatus.UNKNOWN
    visit.missing_codes, visit.not_done_reason = {}, ""
    # Blank answers have no provenance: the next entry (staff or patient) stamps its own.
    visit.opioid_source, visit.opioid_submitted_at = AnswerSource.STAFF, None
    visit.opioid_reviewed_at, visit.opioid_reviewed_by = None, None
    visit.version += 1
    save_audited(visit, actor=actor, reason=why)
    assessment = PainAssessment.objects.filter(visit=visit).first()
    if assessment is not None and (any(getattr(assessment, f) is not None for f in PAIN_FIELDS) or assessment.submitted_at):
        for name in PAIN_FIELDS:
            setattr(assessment, name, None)
        assessment.source, assessment.submitted_at = AnswerSource.STAFF, None
        assessment.version += 1
        save_audited(assessment, actor=actor, reason=why)
    _replace_medications(visit, [], actor=actor, reason=why)
    rules_run_after_commit(visit.patient_id)
    return visit
