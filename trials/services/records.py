"""Generic audited writes shared by every clinical service: stamping, validation, creation.

Validation is explicit: a service calls ``validate(instance, rules)`` (or ``create_record(instance,
rules=…)``) with the entity's rule function (e.g. ``patients.patient_rules``), then acts. Updates and
voids of any record type live in ``trials.services.corrections``, whose ``RECORD_RULES`` table names
each model's rules and consequences in one place, written out rather than registered at import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from trials.access import access_for
from trials.errors import ConflictError, DomainValidationError, ErrorCollector
from trials.models import ClinicalRecord, Patient, RepeatingRecord, Signature, Visit
from trials.models.base import concrete_field, stamp_history
from trials.services.locking import lock_check
from trials.services.text import require_clean_text, text_field_errors

# An entity's cross-record rules: adds every failure to the collector (field → message).
Rules = Callable[[Any, ErrorCollector], None]

# Fields no caller may set through an update.
PROTECTED_FIELDS = {
    "id",
    "pk",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "version",
    "voided_at",
    "voided_by",
    "void_reason",
    "study_id",
    "patient",
    "visit",
    "site",
}

# Fields only a data manager may write (a protocol deviation is a data-management decision).
DATA_MANAGER_FIELDS: dict[type[models.Model], set[str]] = {Patient: {"protocol_deviation"}}


RecordT = TypeVar("RecordT", bound="ClinicalRecord")


def check_data_manager_fields(actor, model: type[models.Model], values: Mapping[str, Any], errors: ErrorCollector) -> None:
    """Name every data-manager-only field a non data manager tried to set to a non-blank value."""
    if access_for(actor).is_data_manager:
        return
    for name in sorted(DATA_MANAGER_FIELDS.get(model, set()) & set(values)):
        if str(values[name] or "").strip():
            errors.add(
                name,
                "Only a data manager may record a protocol deviation."
                if name == "protocol_deviation"
                else "Only a data manager may change this field.",
            )


def field_errors(instance: models.Model, errors: ErrorCollector, *, exclude: set[str] | None = None) -> None:
    """Django field validation (choices, ranges, required) translated to named-rule messages."""
    try:
        instance.full_clean(exclude=list(exclude or ()), validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            for message in messages:
                errors.add(field, message)
    text_field_errors(instance, errors)  # control characters, NUL, lone surrogates (issue 13)


def validate(instance: ClinicalRecord, rules: Rules | None, *, exclude: set[str] | None = None) -> None:
    """Field rules (Django's: choices, ranges, required; text hygiene), then ``rules`` (the entity's
    cross-record rules, skipped while a field rule fails). Raises ``DomainValidationError`` naming every failure."""
    errors = ErrorCollector()
    field_errors(instance, errors, exclude={"created_by", "updated_by", "voided_by"} | (exclude or set()))
    if rules is not None and not errors.errors:
        rules(instance, errors)
    errors.raise_if_any()


def save_audited(instance: RecordT, *, actor, reason: str = "") -> RecordT:
    """Save with who/why recorded in the history (django-simple-history)."""
    lock_check(instance)  # locked data is refused on every path (issue 6)
    now_new = instance.pk is None
    if now_new:
        instance.created_by = actor
        if isinstance(instance, RepeatingRecord) and instance.repeat_instance is None:
            instance.repeat_instance = next_repeat_instance(instance)
    instance.updated_by = actor
    stamp_history(instance, actor, reason or ("Initial entry" if now_new else ""))
    instance.save()
    if isinstance(instance, Visit) and not now_new:
        invalidate_stale_signatures(instance, actor=actor)
    return instance


def invalidate_stale_signatures(visit: Visit, *, actor) -> int:
    """Mark signatures of earlier versions of ``visit`` invalidated (kept, with history); returns how many.

    Every edit of a visit (its date, BPI, opioid rows, a void) raises the visit's
    version, so a signature of an older version no longer covers the data.
    """
    stale = list(
        Signature.objects.select_for_update().filter(
            visit_id=visit.pk, invalidated_at__isnull=True, visit_version__lt=visit.version
        )
    )
    now = timezone.now()
    for signature in stale:
        signature.invalidated_at, signature.invalidated_by_version = now, visit.version
        stamp_history(signature, actor, f"Invalidated: the visit was changed (version {visit.version}); it must be signed again.")
        signature.save(update_fields=["invalidated_at", "invalidated_by_version"])
    return len(stale)


def next_repeat_instance(instance: RepeatingRecord) -> int:
    """The next instance number among the parent's records of this kind, voided ones included (they keep theirs).

    The parent row is locked (SELECT … FOR UPDATE) so two concurrent entries cannot take the same number.
    """
    parent_field = concrete_field(type(instance), instance.repeat_parent)
    parent_id = getattr(instance, parent_field.attname)
    parent_model = cast(type[models.Model], parent_field.related_model)
    parent_model._default_manager.select_for_update().filter(pk=parent_id).exists()
    siblings = type(instance)._default_manager.filter(**{parent_field.attname: parent_id})
    return (siblings.aggregate(top=models.Max("repeat_instance"))["top"] or 0) + 1


def create_record(instance: RecordT, *, actor, rules: Rules | None, reason: str = "") -> RecordT:
    """Validate ``instance`` (``validate(instance, rules)``), then save it audited; returns it saved."""
    validate(instance, rules)
    return save_audited(instance, actor=actor, reason=reason)


def require_reason(reason: str | None, field: str = "reason") -> str:
    if not reason or not reason.strip():
        raise DomainValidationError({field: "A reason for change is required when changing data already entered."})
    require_clean_text(reason, field)
    return reason.strip()


def check_version(instance: ClinicalRecord, expected_version: int | None) -> None:
    if expected_version is not None and int(expected_version) != instance.version:
        raise ConflictError(current_version=instance.version, expected_version=int(expected_version))
