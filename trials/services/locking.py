"""Data locks at a data cut-off: a data manager locks one patient or the whole study (issue 6).

Enforcement is central: ``save_audited`` — the one place every clinical write
ends — calls ``lock_check``, so services, the API, the web UI, imports and the
admin are all refused alike. Unlocking needs a reason and is audited.

This module imports no other service (``records`` imports it).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from trials.access import access_for
from trials.errors import DomainValidationError
from trials.models import Lock, Patient, Role
from trials.services.text import require_clean_text

LOCK_FIELD = "locked"


def patient_id_of(instance: models.Model) -> int | None:
    """The patient a clinical record belongs to (None for a patient not yet saved)."""
    if isinstance(instance, Patient):
        return instance.pk
    if hasattr(instance, "patient_id"):
        return instance.patient_id
    visit = getattr(instance, "visit", None)
    return None if visit is None else visit.patient_id


def active_lock_for(patient_id: int | None) -> Lock | None:
    """The lock in force for this patient: a study-wide lock, or the patient's own."""
    locks = Lock.objects.filter(unlocked_at__isnull=True)
    condition = Q(patient__isnull=True) if patient_id is None else Q(patient__isnull=True) | Q(patient_id=patient_id)
    return locks.filter(condition).select_related("patient").order_by("locked_at").first()


def lock_check(instance: models.Model) -> None:
    """Refuse a write to locked data with an error naming the lock."""
    lock = active_lock_for(patient_id_of(instance))
    if lock is None:
        return
    what = "The study is locked" if lock.is_study_wide else f"Patient {lock.patient.study_id} is locked"
    raise DomainValidationError(
        {LOCK_FIELD: f"{what} since {lock.locked_at:%Y-%m-%d} ({lock.reason}); a data manager must unlock it with a reason first."}
    )


def _require_data_manager(actor) -> None:
    access = access_for(actor)
    if not (Role.DATA_MANAGER in access.roles or getattr(actor, "is_superuser", False)):
        raise PermissionDenied("Only a data manager may lock or unlock data.")


def _require_reason(reason: str | None, field: str) -> str:
    if not reason or not reason.strip():
        raise DomainValidationError({field: "A reason is required (e.g. the data cut-off it serves)."})
    require_clean_text(reason, field)
    return reason.strip()


def _save(lock: Lock, *, actor, reason: str) -> Lock:
    lock._history_user = actor
    lock._change_reason = reason[:100]  # history_change_reason is varchar(100); the full text is on the row
    lock.save()
    return lock


@transaction.atomic
def patient_lock(*, actor, patient: Patient, reason: str | None) -> Lock:
    """Lock one patient's data (all their records)."""
    _require_data_manager(actor)
    reason = _require_reason(reason, "reason")
    Patient.objects.select_for_update().get(pk=patient.pk)
    if Lock.objects.filter(patient=patient, unlocked_at__isnull=True).exists():
        raise DomainValidationError({LOCK_FIELD: f"Patient {patient.study_id} is already locked."})
    lock = Lock(patient=patient, reason=reason, locked_by=actor, locked_at=timezone.now())
    return _save(lock, actor=actor, reason=f"Locked: {reason}")


@transaction.atomic
def study_lock(*, actor, reason: str | None) -> Lock:
    """Lock the whole study (every patient, and new enrollments) at a data cut-off."""
    _require_data_manager(actor)
    reason = _require_reason(reason, "reason")
    if Lock.objects.select_for_update().filter(patient__isnull=True, unlocked_at__isnull=True).exists():
        raise DomainValidationError({LOCK_FIELD: "The study is already locked."})
    lock = Lock(patient=None, reason=reason, locked_by=actor, locked_at=timezone.now())
    return _save(lock, actor=actor, reason=f"Study locked: {reason}")


@transaction.atomic
def lock_release(*, actor, lock: Lock, reason: str | None) -> Lock:
    """Unlock with a reason; the lock row stays as the record of the lock period."""
    _require_data_manager(actor)
    reason = _require_reason(reason, "unlock_reason")
    lock = Lock.objects.select_for_update().get(pk=lock.pk)
    if not lock.is_active:
        raise DomainValidationError({LOCK_FIELD: "This lock was already released."})
    lock.unlocked_at, lock.unlocked_by, lock.unlock_reason = timezone.now(), actor, reason
    return _save(lock, actor=actor, reason=f"Unlocked: {reason}")
