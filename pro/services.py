"""Writes of the PRO backbone (each one transaction, logged as an ``InvitationEvent``)."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from pro.models import EventKind, Instrument, Invitation, InvitationEvent, PatientContact, window_expiry
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
