"""Adverse events, skeletal-related events and study exit (imaging follow-up: ``trials.services.imaging``)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from trials.access import require_site_write
from trials.domain import sre as sre_rules
from trials.errors import DomainValidationError, ErrorCollector
from trials.models import (
    AdverseEvent,
    AEOutcome,
    ExitType,
    ImagingAssessment,
    Patient,
    RadiationCourse,
    SIRGrade,
    SkeletalEvent,
    StudyExit,
)
from trials.services.data_query_rules import rules_run_after_commit
from trials.services.patients import today
from trials.services.records import create_record
from trials.services.timeline import active_exit, check_event_date


def adverse_event_rules(ae: AdverseEvent, errors: ErrorCollector) -> None:
    """An adverse event's rules: onset date (``check_event_date``), CTCAE v5.0 grade 1–5, resolution after
    onset, SIR 'death' together with CTCAE grade 5 (fatal and serious)."""
    check_event_date(ae.patient, "onset_date", ae.onset_date, errors, today=today(ae.patient.site))
    errors.check(1 <= ae.ctcae_grade <= 5, "ctcae_grade", "CTCAE v5.0 grade must be 1–5.")
    if ae.resolution_date is not None:
        errors.check(ae.resolution_date >= ae.onset_date, "resolution_date", "Resolution cannot be before onset.")
        errors.check(ae.resolution_date <= today(ae.patient.site), "resolution_date", "Cannot be in the future.")
    # SIR "death" and CTCAE grade 5 both mean the AE caused death (docs/domain.md §7).
    errors.check(
        (ae.sir_grade == SIRGrade.DEATH) == (ae.ctcae_grade == 5),
        "ctcae_grade",
        "SIR grade 'death' and CTCAE grade 5 go together (death related to the AE).",
    )
    if ae.ctcae_grade == 5:
        errors.check(ae.outcome == AEOutcome.FATAL, "outcome", "A grade 5 AE has outcome 'fatal'.")
        errors.check(ae.serious, "serious", "A fatal AE is serious.")


@transaction.atomic
def adverse_event_report(*, actor, patient: Patient, data: dict[str, Any]) -> AdverseEvent:
    require_site_write(actor, patient.site_id)
    ae = create_record(AdverseEvent(patient=patient, **data), actor=actor, rules=adverse_event_rules)
    rules_run_after_commit(patient)
    return ae


def planned_radiation_covering(patient: Patient, event_date) -> RadiationCourse | None:
    """The patient's active planned course covering ``event_date`` (the rule: ``trials.domain.sre``)."""
    courses = {
        (c.start_date, c.end_date): c for c in RadiationCourse.objects.active().filter(patient_id=patient.pk).order_by("pk")
    }
    covering = sre_rules.planned_course_covering(event_date, list(courses))
    return None if covering is None else courses[covering]


def skeletal_event_rules(sre: SkeletalEvent, errors: ErrorCollector) -> None:
    """A skeletal-related event's rules: event date (``check_event_date``); radiation to bone that is the
    protocol's planned course is not an SRE."""
    check_event_date(sre.patient, "event_date", sre.event_date, errors, today=today(sre.patient.site))
    if sre.event_type == sre_rules.RADIATION_TO_BONE and sre.event_date is not None:
        course = planned_radiation_covering(sre.patient, sre.event_date)
        if course is not None:
            errors.add(
                "event_type",
                f"Radiation on {sre.event_date} is the protocol's planned course ({course.start_date} to "
                f"{course.end_date}); planned radiation is not an SRE.",
            )


@transaction.atomic
def skeletal_event_report(*, actor, patient: Patient, data: dict[str, Any]) -> SkeletalEvent:
    require_site_write(actor, patient.site_id)
    sre = create_record(SkeletalEvent(patient=patient, **data), actor=actor, rules=skeletal_event_rules)
    rules_run_after_commit(patient)
    return sre


def study_exit_rules(exit_: StudyExit, errors: ErrorCollector) -> None:
    """A study exit's rules: dated between enrollment and today; last contact on or before it (on it for a
    death); no visit data after it, and no AE or SRE after a death."""
    patient = exit_.patient
    errors.check(
        exit_.exit_date >= patient.enrollment_date, "exit_date", f"Must not be before enrollment ({patient.enrollment_date})."
    )
    errors.check(exit_.exit_date <= today(patient.site), "exit_date", "Cannot be in the future.")
    errors.check(exit_.last_contact_date <= exit_.exit_date, "last_contact_date", "Last contact cannot be after the exit date.")
    errors.check(
        exit_.last_contact_date >= patient.enrollment_date, "last_contact_date", "Last contact cannot be before enrollment."
    )
    if exit_.exit_type == ExitType.DEATH:
        errors.check(
            exit_.last_contact_date == exit_.exit_date, "last_contact_date", "For a death, last contact is the date of death."
        )
    else:
        errors.check(not exit_.death_cause, "death_cause", "A cause of death is recorded only for a death.")
    late = patient.visits.active().filter(visit_date__gt=exit_.exit_date).order_by("visit_date").first()
    if late is not None:
        errors.add("exit_date", f"Visit {late.visit_code} has data on {late.visit_date}, after this exit date.")
    if exit_.exit_type == ExitType.DEATH:
        dated = (
            (AdverseEvent, "onset_date", "adverse event"),
            (SkeletalEvent, "event_date", "SRE"),
            (ImagingAssessment, "assessment_date", "imaging follow-up"),
        )
        for model, date_field, label in dated:
            after = model.objects.active().filter(patient_id=patient.pk, **{f"{date_field}__gt": exit_.exit_date}).exists()
            errors.check(not after, "exit_date", f"An {label} is dated after this date of death.")


@transaction.atomic
def study_exit_record(*, actor, patient: Patient, data: dict[str, Any]) -> StudyExit:
    """Record death, withdrawal, loss to follow-up or completion; later visits become not applicable."""
    require_site_write(actor, patient.site_id)
    Patient.objects.select_for_update().get(pk=patient.pk)
    if active_exit(patient) is not None:
        raise DomainValidationError({"patient": "The patient has already exited the study; correct that record instead."})
    data = dict(data)
    if data.get("exit_type") == ExitType.DEATH and not data.get("last_contact_date"):
        data["last_contact_date"] = data.get("exit_date")
    exit_ = create_record(StudyExit(patient=patient, **data), actor=actor, rules=study_exit_rules)
    rules_run_after_commit(patient)
    return exit_
