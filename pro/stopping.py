"""Stopping reminders (issue 15 §2): one invitation at a time (signals, staff) or in batches (the daily job).

An invitation gets no more messages once its window closed (status ``expired``), the visit or the patient was
voided (``stopped``), the patient exited (``stopped``), staff entered the visit, the contact was erased or consent
withdrawn, or the questionnaire was submitted (``pro.services.record_submission``). Every stop sets
``reminders_stopped_at`` and ``stop_reason`` and is logged as an ``InvitationEvent`` (``stopped`` or ``expired``,
the reason's label as detail) in the same transaction."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from pro.models import EventKind, Invitation, InvitationEvent, InvitationStatus, PatientContact, StopReason
from pro.services import log_event
from trials.models import StudyExit

OPEN_STATUSES = (InvitationStatus.PENDING, InvitationStatus.SENT, InvitationStatus.OPENED)


def exited() -> Exists:
    """``EXISTS`` a non-voided study exit of the row's ``patient_id`` (for invitation and visit querysets)."""
    return Exists(StudyExit.objects.filter(patient_id=OuterRef("patient_id"), voided_at__isnull=True))


def deliverable(queryset: QuerySet[Invitation], now: dt.datetime) -> QuerySet[Invitation]:
    """``queryset`` narrowed to invitations a message may still go to at ``now``: open, window not closed, visit not
    entered, neither visit nor patient voided, no study exit, a consented unerased contact with an e-mail. (Whether
    reminders were stopped is the caller's: staff may re-send after a stop.)"""
    return queryset.filter(
        status__in=OPEN_STATUSES,
        expires_at__gt=now,
        visit__visit_date__isnull=True,
        visit__not_done_reason="",
        visit__voided_at__isnull=True,
        patient__voided_at__isnull=True,
        patient__pro_contact__consented=True,
        patient__pro_contact__erased_at__isnull=True,
        patient__pro_contact__email_encrypted__gt="",
    ).exclude(exited())


def batch_size() -> int:
    """Invitations claimed per transaction by the job (``PRO_SEND_BATCH_SIZE``, default 100)."""
    return settings.PRO_SEND_BATCH_SIZE


def stop_rules(now: dt.datetime) -> list[tuple[QuerySet[Invitation], str, str | None]]:
    """(open invitations to stop, stop reason, new status or None) in the order the job applies them: an invitation
    matching several rules gets the first one's reason."""
    live = Invitation.objects.filter(status__in=OPEN_STATUSES, reminders_stopped_at__isnull=True)
    usable_contact = PatientContact.objects.filter(patient_id=OuterRef("patient_id"), consented=True, erased_at__isnull=True)
    voided = Q(visit__voided_at__isnull=False) | Q(patient__voided_at__isnull=False)
    return [
        (live.filter(voided), StopReason.VOIDED, InvitationStatus.STOPPED),
        (live.filter(expires_at__lte=now), StopReason.WINDOW_CLOSED, InvitationStatus.EXPIRED),
        (live.filter(exited()), StopReason.EXITED, InvitationStatus.STOPPED),
        (live.filter(Q(visit__visit_date__isnull=False) | ~Q(visit__not_done_reason="")), StopReason.VISIT_ENTERED, None),
        (live.exclude(Exists(usable_contact)), StopReason.NO_CONTACT, None),
    ]


def stop_finished(now: dt.datetime, *, size: int | None = None) -> int:
    """Stop the reminders of every open invitation that must get no more messages; returns how many were stopped.

    Each rule is applied in batches of ``size`` (``batch_size()``), one transaction per batch: the rows are locked
    with ``FOR UPDATE SKIP LOCKED`` (a concurrent tick stops the rows it holds, this one the rest), updated in one
    statement and their events inserted in one statement — a constant number of queries per batch."""
    size = size or batch_size()
    stopped = 0
    for queryset, reason, status in stop_rules(now):
        while True:
            with transaction.atomic():
                ids = list(
                    queryset.select_for_update(skip_locked=True, of=("self",)).order_by("pk").values_list("pk", flat=True)[:size]
                )
                if ids:
                    _stop_many(ids, reason, status, now)
            stopped += len(ids)
            if len(ids) < size:
                break
    return stopped


def _stop_many(ids: list[int], reason: str, status: str | None, now: dt.datetime) -> None:
    """Stop ``ids`` (locked by the caller, all open with reminders running): two statements."""
    changes: dict[str, object] = {"reminders_stopped_at": now, "stop_reason": reason}
    if status:
        changes["status"] = status
    Invitation.objects.filter(pk__in=ids).update(**changes)
    kind = EventKind.EXPIRED if status == InvitationStatus.EXPIRED else EventKind.STOPPED
    detail = str(StopReason(reason).label)
    InvitationEvent.objects.bulk_create([InvitationEvent(invitation_id=pk, kind=kind, at=now, detail=detail) for pk in ids])


def stop_reminders(
    invitation_id: int, reason: str, *, now: dt.datetime | None = None, status: str | None = None, actor=None
) -> int:
    """Stop an invitation's reminders (and set ``status``, e.g. expired/stopped) in one transaction, logged.

    Returns 1 when it stopped them, 0 when they were already stopped. Called on submission (``reason='submitted'``)
    and when staff enter or void the visit, void the patient or the patient exits (``pro.signals``). The job holds
    an invitation's row lock only while it claims a batch (milliseconds), never while its messages go out."""
    now = now or timezone.now()
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().filter(pk=invitation_id).first()
        if invitation is None:
            return 0
        changed = False
        if invitation.reminders_stopped_at is None:
            invitation.reminders_stopped_at, invitation.stop_reason = now, reason
            changed = True
        if status and invitation.status in OPEN_STATUSES:
            invitation.status = status
            changed = True
        if not changed:
            return 0
        invitation.save(update_fields=["reminders_stopped_at", "stop_reason", "status"])
        kind = EventKind.EXPIRED if status == InvitationStatus.EXPIRED else EventKind.STOPPED
        log_event(invitation, kind, at=now, actor=actor, detail=StopReason(reason).label)
    return 1
