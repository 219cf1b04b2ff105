"""Writes of the PRO backbone (each one transaction, logged as an ``InvitationEvent``)."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from pro.models import (
    EventKind,
    Instrument,
    Invitation,
    InvitationEvent,
    InvitationStatus,
    PatientContact,
    StopReason,
    window_expiry,
)
from trials.models import Visit

DEFAULT_INSTRUMENTS = ("bpi_sf", "opioid_self_report")


def default_instruments() -> list[Instrument]:
    """The active versions of the instruments every follow-up visit asks (BPI-SF and the opioid self-report)."""
    return list(Instrument.objects.current().filter(code__in=DEFAULT_INSTRUMENTS).order_by("code"))


def invitation_for_visit(visit: Visit, *, instruments: list[Instrument] | None = None, language: str | None = None) -> Invitation:
    """The visit's invitation, created (status pending, nothing sent) when it has none.

    Window dates are the visit's stored window (``window_opens_on`` never before consent); ``expires_at`` is the
    midnight after the window's last day in the site's time zone. Safe under concurrency: a racing creator's row is
    returned (one invitation per visit, a unique constraint)."""
    existing = Invitation.objects.filter(visit=visit).first()
    if existing is not None:
        return existing
    patient = visit.patient
    if language is None:
        contact = PatientContact.objects.filter(patient=patient).first()
        language = contact.preferred_language if contact else "en"
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                patient=patient,
                visit=visit,
                visit_code=visit.visit_code,
                window_opens_on=max(visit.window_start, patient.consent_date),
                window_closes_on=visit.window_end,
                expires_at=window_expiry(visit.window_end, patient.site.time_zone),
                language=language,
            )
            invitation.instruments.set(instruments if instruments is not None else default_instruments())
    except IntegrityError:
        return Invitation.objects.get(visit=visit)
    return invitation


def log_event(
    invitation: Invitation, kind: str, *, at: dt.datetime | None = None, actor=None, detail: str = "", sequence: int = 0
):
    """Append one line to the invitation's log (``InvitationEvent``); ``detail`` must never hold a contact detail."""
    return InvitationEvent.objects.create(
        invitation=invitation,
        kind=kind,
        sequence=sequence,
        at=at or timezone.now(),
        actor=actor if getattr(actor, "pk", None) else None,
        detail=detail[:200],
    )


__all__ = ["DEFAULT_INSTRUMENTS", "EventKind", "default_instruments", "invitation_for_visit", "log_event"]


def set_contact(
    patient, *, email: str, phone: str = "", preferred_language: str = "en", consented: bool = True, actor=None, reason: str = ""
):
    """Record or change a patient's contact (encrypted) in one transaction; the history keeps who and when, not the
    values. Raises ``django.core.exceptions.ValidationError`` naming the field for a malformed address."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    email = (email or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError as exc:
            raise ValidationError({"email": "Enter a valid e-mail address (name@example.org)."}) from exc
    if len(phone or "") > 32:
        raise ValidationError({"phone": "At most 32 characters."})
    with transaction.atomic():
        contact = PatientContact.objects.select_for_update().filter(patient=patient).first() or PatientContact(patient=patient)
        contact.email, contact.phone = email, phone
        contact.preferred_language, contact.consented, contact.erased_at = preferred_language, consented, None
        setattr(contact, "_change_reason", reason or "Contact recorded")  # noqa: B010 - simple_history hook
        if actor is not None and getattr(actor, "pk", None):
            setattr(contact, "_history_user", actor)  # noqa: B010
        contact.save()
    return contact


def erase_exited_contacts(now: dt.datetime | None = None) -> int:
    """Blank the contact details of patients whose study exit is ``PRO_CONTACT_RETENTION_DAYS`` or more days ago.

    Returns how many contacts were erased (``erased_at`` set; the row and its history stay, without values)."""
    from django.conf import settings

    from trials.models import StudyExit

    now = now or timezone.now()
    cutoff = timezone.localdate(now) - dt.timedelta(days=settings.PRO_CONTACT_RETENTION_DAYS)
    exited = StudyExit.objects.filter(voided_at__isnull=True, exit_date__lte=cutoff).values("patient_id")
    erased = 0
    for contact in PatientContact.objects.filter(patient_id__in=exited, erased_at__isnull=True):
        with transaction.atomic():
            contact.email_encrypted = contact.phone_encrypted = ""
            contact.erased_at = now
            setattr(contact, "_change_reason", f"Erased {settings.PRO_CONTACT_RETENTION_DAYS} days after study exit")  # noqa: B010
            contact.save()
            erased += 1
    return erased


def record_open(invitation: Invitation, *, now: dt.datetime | None = None) -> None:
    """The patient opened the link: first open stamps ``opened_at`` and status ``opened``; every open is logged."""
    now = now or timezone.now()
    with transaction.atomic():
        row = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if row.opened_at is None:
            row.opened_at = now
            if row.status in (InvitationStatus.PENDING, InvitationStatus.SENT):
                row.status = InvitationStatus.OPENED
            row.save(update_fields=["opened_at", "status"])
        log_event(row, EventKind.OPENED, at=now)
    invitation.refresh_from_db()


def record_submission(invitation: Invitation, *, now: dt.datetime | None = None) -> None:
    """Every questionnaire of the invitation is submitted: status ``submitted`` and reminders stop at once."""
    now = now or timezone.now()
    with transaction.atomic():
        row = Invitation.objects.select_for_update().get(pk=invitation.pk)
        row.status, row.submitted_at = InvitationStatus.SUBMITTED, now
        if row.reminders_stopped_at is None:
            row.reminders_stopped_at, row.stop_reason = now, StopReason.SUBMITTED
        row.next_reminder_on = None
        row.save(update_fields=["status", "submitted_at", "reminders_stopped_at", "stop_reason", "next_reminder_on"])
        log_event(row, EventKind.SUBMITTED, at=now)
    invitation.refresh_from_db()
