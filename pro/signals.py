"""Reminders stop the moment staff enter or void the visit, void the patient, or the patient exits (issue 15 §2),
not only at the next tick."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from pro.models import Invitation, InvitationStatus, StopReason
from trials.models import Patient, StudyExit, Visit

OPEN = (InvitationStatus.PENDING, InvitationStatus.SENT, InvitationStatus.OPENED)


@receiver(post_save, sender=Visit, dispatch_uid="pro_stop_on_visit_entered")
def stop_when_visit_entered(sender, instance: Visit, **kwargs) -> None:
    if instance.voided_at is not None:
        ids = list(Invitation.objects.filter(visit_id=instance.pk, status__in=OPEN).values_list("pk", flat=True))
        if ids:
            _stop(ids, StopReason.VOIDED, InvitationStatus.STOPPED)
        return
    if instance.visit_date is None and not instance.not_done_reason:
        return
    ids = list(
        Invitation.objects.filter(visit_id=instance.pk, status__in=OPEN, reminders_stopped_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    if ids:
        _stop(ids, StopReason.VISIT_ENTERED, None)  # in the visit write's transaction: rolled back with it


@receiver(post_save, sender=StudyExit, dispatch_uid="pro_stop_on_exit")
def stop_when_exited(sender, instance: StudyExit, **kwargs) -> None:
    if instance.voided_at is not None:
        return
    ids = list(Invitation.objects.filter(patient_id=instance.patient_id, status__in=OPEN).values_list("pk", flat=True))
    if ids:
        _stop(ids, StopReason.EXITED, InvitationStatus.STOPPED)


@receiver(post_save, sender=Patient, dispatch_uid="pro_stop_on_patient_voided")
def stop_when_patient_voided(sender, instance: Patient, **kwargs) -> None:
    if instance.voided_at is None:
        return
    ids = list(Invitation.objects.filter(patient_id=instance.pk, status__in=OPEN).values_list("pk", flat=True))
    if ids:
        _stop(ids, StopReason.VOIDED, InvitationStatus.STOPPED)


def _stop(ids: list[int], reason: str, status: str | None) -> None:
    from pro.stopping import stop_reminders

    for pk in ids:
        stop_reminders(pk, reason, status=status)
