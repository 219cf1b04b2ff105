"""Generic audited writes shared by every clinical service: stamping, update with a reason, void.

Each entity registers a validator (``register_validator``) that checks its
field and cross-record rules; creates and updates both run it, so a rule is
written once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from trials.access import access_for, require_site_write, site_of
from trials.errors import ConflictError, DomainValidationError, ErrorCollector
from trials.models import ClinicalRecord, Patient, RepeatingRecord, Signature, Visit
from trials.models.base import concrete_field, stamp_history
from trials.services.data_query_rules import rules_run_after_commit
from trials.services.locking import lock_check, patient_id_of
from trials.services.text import require_clean_text, text_field_errors

Validator = Callable[[Any, ErrorCollector], None]
_VALIDATORS: dict[type[models.Model], Validator] = {}
# Consequences of an update inside the same transaction (e.g. day 0 moved → visits realigned).
AfterUpdate = Callable[..., None]
_AFTER_UPDATE: dict[type[models.Model], AfterUpdate] = {}

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


def register_validator(model: type[models.Model]) -> Callable[[Validator], Validator]:
    def decorator(func: Validator) -> Validator:
        _VALIDATORS[model] = func
        return func

    return decorator


def register_after_update(model: type[models.Model]) -> Callable[[AfterUpdate], AfterUpdate]:
    def decorator(func: AfterUpdate) -> AfterUpdate:
        _AFTER_UPDATE[model] = func
        return func

    return decorator


def field_errors(instance: models.Model, errors: ErrorCollector, *, exclude: set[str] | None = None) -> None:
    """Django field validation (choices, ranges, required) translated to named-rule messages."""
    try:
        instance.full_clean(exclude=list(exclude or ()), validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            for message in messages:
                errors.add(field, message)
    text_field_errors(instance, errors)  # control characters, NUL, lone surrogates (issue 13)


def validate(instance: ClinicalRecord, *, exclude: set[str] | None = None) -> None:
    """Field rules, then the entity's cross-record rules; raises with every failure named."""
    errors = ErrorCollector()
    field_errors(instance, errors, exclude={"created_by", "updated_by", "voided_by"} | (exclude or set()))
    validator = _VALIDATORS.get(type(instance))
    if validator is not None and not errors.errors:
        validator(instance, errors)
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


def create_record(instance: RecordT, *, actor, reason: str = "") -> RecordT:
    validate(instance)
    return save_audited(instance, actor=actor, reason=reason)


def require_reason(reason: str | None, field: str = "reason") -> str:
    if not reason or not reason.strip():
        raise DomainValidationError({field: "A reason for change is required when changing data already entered."})
    require_clean_text(reason, field)
    return reason.strip()


def check_version(instance: ClinicalRecord, expected_version: int | None) -> None:
    if expected_version is not None and int(expected_version) != instance.version:
        raise ConflictError(current_version=instance.version, expected_version=int(expected_version))


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
    validate(current)
    current.version += 1
    before = type(current).objects.get(pk=current.pk)
    save_audited(current, actor=actor, reason=reason)
    after_update = _AFTER_UPDATE.get(type(current))
    if after_update is not None:
        after_update(before=before, after=current, actor=actor, reason=reason)
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
