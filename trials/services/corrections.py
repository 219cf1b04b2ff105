"""Corrections of any clinical record after entry: ``clinical_record_update`` and ``clinical_record_void``.

``RECORD_RULES`` names, per model, the cross-record rules an update must pass (the same function its
entering service calls) and the consequences of an update inside the same transaction (day 0 moved →
visits realigned). It is written out here, once, instead of being filled by decorators at import time:
what an update of a record checks and does can be read in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from trials.access import require_site_write, site_of
from trials.errors import DomainValidationError, ErrorCollector
from trials.models import (
    AdverseEvent,
    ClinicalRecord,
    ImagingAssessment,
    Lesion,
    Patient,
    Procedure,
    RadiationCourse,
    SkeletalEvent,
    StudyExit,
)
from trials.services import events, imaging, patients, treatment
from trials.services.data_query_rules import rules_run_after_commit
from trials.services.locking import patient_id_of
from trials.services.records import (
    PROTECTED_FIELDS,
    Rules,
    check_data_manager_fields,
    check_version,
    require_reason,
    save_audited,
    validate,
)

# Consequences of an update, run inside its transaction: ``after_update(before=, after=, actor=, reason=)``.
AfterUpdate = Callable[..., None]


@dataclass(frozen=True)
class RecordRules:
    """What an update of one model checks (``validate``) and then does (``after_update``)."""

    validate: Rules | None = None
    after_update: AfterUpdate | None = None


NO_RULES = RecordRules()

RECORD_RULES: dict[type[models.Model], RecordRules] = {
    Patient: RecordRules(patients.patient_rules, patients.patient_after_update),
    Lesion: RecordRules(patients.lesion_rules),
    Procedure: RecordRules(treatment.procedure_rules, treatment.procedure_after_update),
    RadiationCourse: RecordRules(treatment.radiation_rules),
    AdverseEvent: RecordRules(events.adverse_event_rules),
    SkeletalEvent: RecordRules(events.skeletal_event_rules),
    ImagingAssessment: RecordRules(imaging.imaging_assessment_rules),
    StudyExit: RecordRules(events.study_exit_rules),
}


def _locked_copy(instance: ClinicalRecord) -> ClinicalRecord:
    """Re-read the row under SELECT … FOR UPDATE so concurrent edits serialise."""
    return type(instance).objects.select_for_update().get(pk=instance.pk)


@transaction.atomic
def clinical_record_update(
    *,
    actor,
    instance: ClinicalRecord,
    changes: Mapping[str, Any],
    reason: str | None,
    expected_version: int | None = None,
) -> ClinicalRecord:
    """Change fields of an existing clinical record: reason required, validated, audited, versioned."""
    reason = require_reason(reason)
    require_site_write(actor, site_of(instance))
    current = _locked_copy(instance)
    if current.is_voided:
        raise DomainValidationError({"non_field_errors": "This record is voided and cannot be changed."})
    check_version(current, expected_version)
    errors = ErrorCollector()
    check_data_manager_fields(actor, type(current), changes, errors)
    field_names = {f.name for f in current._meta.concrete_fields} | {f.attname for f in current._meta.concrete_fields}
    for name, value in changes.items():
        if name in PROTECTED_FIELDS or name not in field_names or not current._meta.get_field(name).editable:
            errors.add(name, "This field cannot be changed here.")
            continue
        setattr(current, name, value)
    errors.raise_if_any()
    rules = RECORD_RULES.get(type(current), NO_RULES)
    validate(current, rules.validate)
    current.version += 1
    before = type(current).objects.get(pk=current.pk)
    save_audited(current, actor=actor, reason=reason)
    if rules.after_update is not None:
        rules.after_update(before=before, after=current, actor=actor, reason=reason)
    rules_run_after_commit(patient_id_of(current))
    return current


@transaction.atomic
def clinical_record_void(
    *, actor, instance: ClinicalRecord, reason: str | None, expected_version: int | None = None
) -> ClinicalRecord:
    """Void instead of delete: the record stays, marked with who, when and why."""
    reason = require_reason(reason)
    require_site_write(actor, site_of(instance))
    current = _locked_copy(instance)
    check_version(current, expected_version)
    if current.is_voided:
        raise DomainValidationError({"non_field_errors": "This record is already voided."})
    current.voided_at = timezone.now()
    current.voided_by = actor
    current.void_reason = reason
    current.version += 1
    save_audited(current, actor=actor, reason=f"Voided: {reason}")
    rules_run_after_commit(patient_id_of(current))
    return current
