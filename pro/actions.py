"""Coordinator actions on a patient's questionnaires (issue 15 §2): "Send now" / "Resend" and the clinic link."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from pro import tokens
from pro.dispatch import send_one
from pro.links import patient_url
from pro.models import EventKind, InvitationStatus, PatientContact, TokenChannel
from pro.services import invitation_for_visit, log_event
from trials.models import StudyExit, Visit


class ActionRefused(ValueError):
    """A coordinator action that cannot be done now; the message says why (shown to the coordinator)."""


def _window_open_today(visit: Visit) -> dt.date:
    today = visit.patient.site.local_date()
    opens = max(visit.window_start, visit.patient.consent_date)
    if not opens <= today <= visit.window_end:
        raise ActionRefused(
            f"The {visit.get_visit_code_display()} window is {opens:%d %b} – {visit.window_end:%d %b %Y}: not open today."
        )
    if visit.visit_date is not None or visit.not_done_reason:
        raise ActionRefused("The visit is already entered: no questionnaire is needed.")
    if StudyExit.objects.filter(patient_id=visit.patient_id, voided_at__isnull=True).exists():
        raise ActionRefused("The patient has exited the study.")
    return today


def send_now(visit: Visit, *, actor) -> str:
    """Coordinator's "Send now" / "Resend": the invitation e-mail at once (first message, or a re-send with a new
    link; the earlier links keep working). Raises ``ActionRefused`` when the window is not open, the visit is
    entered, the patient exited, or there is no usable contact. Returns 'invited' or 'resent'."""
    today = _window_open_today(visit)
    contact = PatientContact.objects.filter(patient_id=visit.patient_id).first()
    if contact is None or not contact.can_be_invited:
        raise ActionRefused("No e-mail address on file (or the patient declined invitations): record the contact first.")
    invitation = invitation_for_visit(visit)
    if invitation.status == InvitationStatus.SUBMITTED:
        raise ActionRefused("The questionnaire was already submitted.")
    if not invitation.is_open:
        raise ActionRefused(f"The invitation is {invitation.get_status_display().lower()}.")
    kind = EventKind.INVITED if invitation.status == InvitationStatus.PENDING else EventKind.RESENT
    outcome = send_one(invitation.pk, kind, now=timezone.now(), today=today, actor=actor)
    if outcome != "sent":
        raise ActionRefused("The message could not be sent now (see the invitation log); try again in a minute.")
    return "invited" if kind == EventKind.INVITED else "resent"


def clinic_link(visit: Visit, *, actor) -> str:
    """A fresh link for a tablet in clinic (QR code / printout), logged as ``link_shown``; returns the URL.
    Same refusals as ``send_now`` except that no e-mail address is needed."""
    _window_open_today(visit)
    invitation = invitation_for_visit(visit)
    if not invitation.is_open:
        raise ActionRefused(f"The invitation is {invitation.get_status_display().lower()}.")
    with transaction.atomic():
        token = tokens.issue(invitation, channel=TokenChannel.CLINIC)
        log_event(invitation, EventKind.LINK_SHOWN, actor=actor)
    return patient_url(token)
