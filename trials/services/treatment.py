"""Index procedure and radiation course."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from trials.access import require_site_write
from trials.domain import radiation
from trials.errors import DomainValidationError, ErrorCollector
from trials.models import Augmentation, Lesion, Patient, Procedure, RadiationCourse, RadiationSequence
from trials.services.data_query_rules import rules_run_after_commit
from trials.services.patients import patient_reschedule, today
from trials.services.records import create_record


def procedure_rules(proc: Procedure, errors: ErrorCollector) -> None:
    """The index procedure's rules: dated between enrollment and today; cement and implant details only with
    that augmentation; at least one probe; a radiation dose only with its unit."""
    patient = proc.patient
    errors.check(proc.procedure_date >= patient.enrollment_date, "procedure_date", "The procedure cannot be before enrollment.")
    errors.check(proc.procedure_date <= today(proc.patient.site), "procedure_date", "The procedure date cannot be in the future.")
    if proc.augmentation == Augmentation.CEMENT:
        errors.check(bool(proc.cement_technique), "cement_technique", "Cement augmentation needs its technique.")
        errors.check(
            proc.cement_volume_ml is not None and proc.cement_volume_ml > 0,
            "cement_volume_ml",
            "Cement volume (mL) must be positive.",
        )
        errors.check(proc.cement_leakage is not None, "cement_leakage", "Say whether cement leaked (yes/no).")
    else:
        errors.check(not proc.cement_technique, "cement_technique", "Only with cement augmentation.")
        errors.check(proc.cement_volume_ml is None, "cement_volume_ml", "Only with cement augmentation.")
        errors.check(proc.cement_leakage is None, "cement_leakage", "Only with cement augmentation.")
    if proc.augmentation == Augmentation.IMPLANT:
        errors.check(bool(proc.implant_type), "implant_type", "Implant augmentation needs the implant type.")
    else:
        errors.check(not proc.implant_type, "implant_type", "Only with implant augmentation.")
    errors.check(proc.probes >= 1, "probes", "At least one probe.")
    if proc.augmentation != Augmentation.CEMENT:
        errors.check(not proc.cement_fill, "cement_fill", "Only with cement augmentation.")
    errors.check(
        (proc.radiation_dose is None) == (not proc.radiation_dose_unit),
        "radiation_dose_unit",
        "Give the radiation dose together with its unit (dose-area or dose-length product).",
    )
    if proc.ablation_minutes is not None:
        errors.check(proc.ablation_minutes > 0, "ablation_minutes", "Ablation time must be positive.")


@transaction.atomic
def procedure_record(*, actor, patient: Patient, data: dict[str, Any], lesions: list[Lesion] | None = None) -> Procedure:
    """Record the index ablation; its date becomes day 0 (visit windows move if it differs from the plan)."""
    require_site_write(actor, patient.site_id)
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if Procedure.objects.active().filter(patient=patient, is_index=True).exists():
        raise DomainValidationError({"patient": "The index procedure is already recorded; edit it with a reason instead."})
    proc = Procedure(patient=patient, is_index=True, **data)
    lesions = lesions or list(patient.lesions.active().filter(is_index=True))
    foreign = [lesion for lesion in lesions if lesion.patient_id != patient.pk]
    if foreign:
        raise DomainValidationError({"lesions": "Lesions must belong to this patient."})
    create_record(proc, actor=actor, rules=procedure_rules)
    proc.lesions.set(lesions)
    if proc.procedure_date != patient.day0:
        patient_reschedule(actor=actor, patient=patient, day0=proc.procedure_date, reason="Day 0 set to the index procedure date")
    rules_run_after_commit(patient)
    return proc


def procedure_after_update(*, before: Procedure, after: Procedure, actor, reason: str) -> None:
    """A corrected index procedure date moves day 0 and the visit windows with it."""
    if after.is_index and before.procedure_date != after.procedure_date:
        patient_reschedule(actor=actor, patient=after.patient, day0=after.procedure_date, reason=reason)


def radiation_rules(course: RadiationCourse, errors: ErrorCollector) -> None:
    """The radiation course's rules: end ≥ start; positive dose, fractions and α/β; 'before'/'after' day 0 as
    its start date says; not in the future; at most 30 Gy per fraction."""
    day0 = course.patient.day0
    errors.check(course.end_date >= course.start_date, "end_date", "The course cannot end before it starts.")
    errors.check(course.total_dose_gy > 0, "total_dose_gy", "Total dose must be positive (Gy).")
    errors.check(course.fractions >= 1, "fractions", "At least one fraction.")
    errors.check(course.alpha_beta_gy > 0, "alpha_beta_gy", "α/β must be positive (Gy).")
    if course.sequence == RadiationSequence.BEFORE:
        errors.check(course.start_date < day0, "sequence", f"'Before' radiation must start before day 0 ({day0}).")
    else:
        errors.check(course.start_date >= day0, "sequence", f"'After' radiation must start on or after day 0 ({day0}).")
    if course.start_date is not None:
        errors.check(course.start_date <= today(course.patient.site), "start_date", "Cannot be in the future.")
    if course.total_dose_gy and course.fractions and course.total_dose_gy / course.fractions > 30:
        errors.add("total_dose_gy", "Dose per fraction above 30 Gy is implausible; check dose and fractions.")


@transaction.atomic
def radiation_record(*, actor, patient: Patient, data: dict[str, Any]) -> RadiationCourse:
    """Record the protocol's planned radiation course (docs/domain.md §9); BED/EQD2 derive from it."""
    require_site_write(actor, patient.site_id)
    data = {"alpha_beta_gy": radiation.DEFAULT_ALPHA_BETA_GY, **data}
    course = create_record(RadiationCourse(patient=patient, **data), actor=actor, rules=radiation_rules)
    rules_run_after_commit(patient)
    return course
