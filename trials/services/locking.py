"""Data locks at a data cut-off: a data manager locks one patient, one site or the whole study (issues 6, 11).

Enforcement is central: ``save_audited`` — the one place every clinical write
ends — calls ``lock_check``, so services, the API, the web UI, imports and the
admin are all refused alike. Unlocking needs a reason and is audited. At most one active lock per patient,
per site and for the study is a database constraint: concurrent requests for
the same lock end in one row and a clear "already locked" for the others.

This module imports no other service (``records`` imports it).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from trials.access import access_for
from trials.errors import DomainValidationError
from trials.models import Lock, LockScope, Patient, Site
from trials.models.base import stamp_history
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


def _site_id_of(instance: models.Model) -> int | None:
    if isinstance(instance, Patient):
        return instance.site_id
    patient = getattr(instance, "patient", None) if getattr(instance, "patient_id", None) else None
    if patient is None:
        visit = getattr(instance, "visit", None)
        patient = None if visit is None else visit.patient
    return None if patient is None else patient.site_id


def active_lock_for(patient_id: int | None, site_id: int | None = None) -> Lock | None:
    """The lock in force for this patient: the study-wide lock, their site's, or their own."""
    condition = Q(scope=LockScope.STUDY)
    if site_id is not None:
        condition |= Q(scope=LockScope.SITE, site_id=site_id)
    elif patient_id is not None:
        condition |= Q(scope=LockScope.SITE, site__patients__id=patient_id)
    if patient_id is not None:
        condition |= Q(scope=LockScope.PATIENT, patient_id=patient_id)
    locks = Lock.objects.filter(unlocked_at__isnull=True).filter(condition)
    return locks.select_related("patient", "site").order_by("locked_at").first()


def active_locks_by_patient(patients) -> dict[int, Lock]:
    """patient id -> the lock in force for each of ``patients`` (objects with ``pk`` and ``site_id``), in 1 query."""
    patients = list(patients)
    if not patients:
        return {}
    locks = list(
        Lock.objects.filter(unlocked_at__isnull=True)
        .select_related("patient", "site")
        .filter(
            Q(scope=LockScope.STUDY)
            | Q(scope=LockScope.SITE, site_id__in={p.site_id for p in patients})
            | Q(scope=LockScope.PATIENT, patient_id__in=[p.pk for p in patients])
        )
        .order_by("locked_at")
    )
    result: dict[int, Lock] = {}
    for patient in patients:
        for lock in locks:
            if lock.scope == LockScope.STUDY or lock.site_id == patient.site_id or lock.patient_id == patient.pk:
                result[patient.pk] = lock
                break
    return result


def visible_locks(user, locks):
    """The locks ``user`` may see: all for study-wide readers; else their sites', their patients' and the study's."""
    access = access_for(user)
    if access.reads_all:
        return locks
    sites = access.readable_site_ids
    return locks.filter(Q(scope=LockScope.STUDY) | Q(site_id__in=sites) | Q(patient__site_id__in=sites))


def lock_message(lock: Lock) -> str:
    """One sentence naming the lock, its date and reason, for errors and banners."""
    return f"{lock.target_label} is locked since {lock.locked_at:%d %b %Y} ({lock.reason})."


def lock_check(instance: models.Model) -> None:
    """Refuse a write to locked data with an error naming the lock."""
    lock = active_lock_for(patient_id_of(instance), _site_id_of(instance))
    if lock is None:
        return
    raise DomainValidationError({LOCK_FIELD: f"{lock_message(lock)[:-1]}; a data manager must unlock it with a reason first."})


def _require_data_manager(actor) -> None:
    if not access_for(actor).is_data_manager:
        raise PermissionDenied("Only a data manager may lock or unlock data.")


def _require_reason(reason: str | None, field: str) -> str:
    if not reason or not reason.strip():
        raise DomainValidationError({field: "A reason is required (e.g. the data cut-off it serves)."})
    require_clean_text(reason, field)
    return reason.strip()


def _save(lock: Lock, *, actor, reason: str) -> Lock:
    stamp_history(lock, actor, reason)
    lock.save()
    return lock


def _create(lock: Lock, *, actor, reason: str, already: str) -> Lock:
    """Insert the lock; the partial unique constraints turn a concurrent duplicate into ``already``."""
    try:
        with transaction.atomic():  # savepoint: the IntegrityError must not poison the caller's transaction
            return _save(lock, actor=actor, reason=reason)
    except IntegrityError as exc:
        raise DomainValidationError({LOCK_FIELD: already}) from exc


@transaction.atomic
def patient_lock(*, actor, patient: Patient, reason: str | None) -> Lock:
    """Lock one patient's data (all their records)."""
    _require_data_manager(actor)
    reason = _require_reason(reason, "reason")
    already = f"Patient {patient.study_id} is already locked."
    if Lock.objects.filter(patient=patient, unlocked_at__isnull=True).exists():
        raise DomainValidationError({LOCK_FIELD: already})
    lock = Lock(scope=LockScope.PATIENT, patient=patient, reason=reason, locked_by=actor, locked_at=timezone.now())
    return _create(lock, actor=actor, reason=f"Locked: {reason}", already=already)


@transaction.atomic
def site_lock(*, actor, site: Site, reason: str | None) -> Lock:
    """Lock every patient of one site (and new enrollments there)."""
    _require_data_manager(actor)
    reason = _require_reason(reason, "reason")
    already = f"Site {site.code} is already locked."
    if Lock.objects.filter(scope=LockScope.SITE, site=site, unlocked_at__isnull=True).exists():
        raise DomainValidationError({LOCK_FIELD: already})
    lock = Lock(scope=LockScope.SITE, site=site, reason=reason, locked_by=actor, locked_at=timezone.now())
    return _create(lock, actor=actor, reason=f"Site {site.code} locked: {reason}", already=already)


@transaction.atomic
def study_lock(*, actor, reason: str | None) -> Lock:
    """Lock the whole study (every patient, and new enrollments) at a data cut-off."""
    _require_data_manager(actor)
    reason = _require_reason(reason, "reason")
    already = "The study is already locked."
    if Lock.objects.filter(scope=LockScope.STUDY, unlocked_at__isnull=True).exists():
        raise DomainValidationError({LOCK_FIELD: already})
    lock = Lock(scope=LockScope.STUDY, reason=reason, locked_by=actor, locked_at=timezone.now())
    return _create(lock, actor=actor, reason=f"Study locked: {reason}", already=already)


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
