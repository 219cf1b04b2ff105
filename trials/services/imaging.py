"""Imaging follow-up of treated lesions: local tumour control after ablation (issue 10, part B).

Terms: Ahmed et al., Radiology 2014;273:241 (``trials.models.imaging``; docs/domain.md §12).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from trials.access import require_site_write
from trials.errors import ErrorCollector
from trials.models import ExitType, ImagingAssessment, Lesion, Patient, Procedure, ViableTumour
from trials.services.data_query_rules import rules_run_after_commit
from trials.services.patients import today
from trials.services.records import create_record
from trials.services.timeline import active_exit


def _same_lesion(assessment: ImagingAssessment):
    """The other active imaging records of the same patient and lesion."""
    others = ImagingAssessment.objects.active().filter(
        patient_id=assessment.patient_id, lesion_instance=assessment.lesion_instance
    )
    return others.exclude(pk=assessment.pk) if assessment.pk else others


def _check_dates(assessment: ImagingAssessment, errors: ErrorCollector) -> None:
    """Imaging and LTP dates: not before the index procedure, not after death or study exit, not in the future."""
    patient = assessment.patient
    procedure = Procedure.objects.active().filter(patient_id=patient.pk, is_index=True).first()
    if procedure is None:
        errors.add("assessment_date", "Record the index procedure first: imaging follow-up is timed from it.")
        return
    exit_ = active_exit(patient)
    for field in ("assessment_date", "ltp_date"):
        value = getattr(assessment, field)
        if value is None:
            continue
        errors.check(
            value >= procedure.procedure_date, field, f"Must not be before the index procedure ({procedure.procedure_date})."
        )
        errors.check(value <= today(patient.site), field, "Cannot be in the future.")
        if exit_ is not None:
            what = "the patient's death" if exit_.exit_type == ExitType.DEATH else "the study exit"
            errors.check(value <= exit_.exit_date, field, f"Must not be after {what} ({exit_.exit_date}).")


def imaging_assessment_rules(assessment: ImagingAssessment, errors: ErrorCollector) -> None:
    """An imaging follow-up's rules (definitions: Ahmed et al., Radiology 2014;273:241; docs/domain.md §12): the lesion
    exists; dates between the index procedure and death or exit, not in the future; the LTP date with LTP only, not
    after the imaging; LTP never on the first post-procedure imaging, with viable tumour present and after an imaging
    of the lesion showed complete ablation; one first post-procedure imaging per lesion, the earliest."""
    lesion_exists = (
        Lesion.objects.active().filter(patient_id=assessment.patient_id, repeat_instance=assessment.lesion_instance).exists()
    )
    errors.check(lesion_exists, "lesion_instance", f"The patient has no treated lesion number {assessment.lesion_instance}.")
    _check_dates(assessment, errors)
    ltp = assessment.local_tumour_progression
    if ltp:
        errors.check(assessment.ltp_date is not None, "ltp_date", "Required when local tumour progression is yes.")
        errors.check(
            not assessment.first_post_procedure,
            "local_tumour_progression",
            "Local tumour progression cannot be found on the first post-procedure imaging: tumour seen there is "
            "residual unablated tumour (viable tumour 'present').",
        )
        errors.check(
            assessment.viable_tumour == ViableTumour.PRESENT,
            "viable_tumour",
            "Local tumour progression means viable tumour is present at the edge of the ablation zone.",
        )
    else:
        errors.check(assessment.ltp_date is None, "ltp_date", "Leave blank unless local tumour progression is yes.")
    if assessment.ltp_date is not None and assessment.assessment_date is not None:
        errors.check(assessment.ltp_date <= assessment.assessment_date, "ltp_date", "Cannot be after the imaging date.")
    if not lesion_exists or assessment.assessment_date is None:
        return
    others = _same_lesion(assessment)
    first = others.filter(first_post_procedure=True).order_by("assessment_date").first()
    if assessment.first_post_procedure:
        errors.check(
            first is None,
            "first_post_procedure",
            f"This lesion's first post-procedure imaging is already recorded ({first.assessment_date if first else ''}).",
        )
        earlier = others.filter(assessment_date__lt=assessment.assessment_date).order_by("assessment_date").first()
        errors.check(
            earlier is None,
            "first_post_procedure",
            f"Imaging of this lesion on {earlier.assessment_date if earlier else ''} is earlier; the first "
            "post-procedure imaging is the earliest one.",
        )
    elif first is not None:
        errors.check(
            assessment.assessment_date >= first.assessment_date,
            "assessment_date",
            f"Must not be before this lesion's first post-procedure imaging ({first.assessment_date}).",
        )
    if ltp and assessment.ltp_date is not None:
        complete_before = others.filter(viable_tumour=ViableTumour.NONE, assessment_date__lt=assessment.ltp_date).exists()
        errors.check(
            complete_before,
            "local_tumour_progression",
            "Local tumour progression needs an earlier imaging of this lesion showing complete ablation (viable tumour "
            "'none'); without one, record residual unablated tumour (viable tumour 'present').",
        )


@transaction.atomic
def imaging_assessment_record(*, actor, patient: Patient, data: dict[str, Any]) -> ImagingAssessment:
    """Record one imaging study of a treated lesion after the index ablation (validated, audited, one transaction).

    ``data``: the entered fields of the imaging follow-up form (``trials.crf``). Raises
    ``DomainValidationError`` naming the field and the rule; ``PermissionDenied`` without write access to the site.
    """
    require_site_write(actor, patient.site_id)
    assessment = create_record(ImagingAssessment(patient=patient, **data), actor=actor, rules=imaging_assessment_rules)
    rules_run_after_commit(patient)
    return assessment
