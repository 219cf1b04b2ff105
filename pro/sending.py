"""The invitation job (issue 15 §2): invitations when a visit window opens, reminders that stop, exactly once.

``run(now)`` is what the beat task calls (``pro.tasks.send_invitations``, hourly; a site's messages go out on the
first tick at or after ``PRO_SEND_FROM_HOUR`` site-local time, so the job is daily per site whatever its time zone):

1. **stop** — open invitations whose window closed (expired), whose patient exited (stopped), whose visit staff
   entered, or that were submitted get their reminders stopped, with an ``InvitationEvent`` saying why;
2. **create** — every follow-up visit whose window is open today at its site (site-local date, never before consent),
   without data, of a consenting patient with an e-mail and no study exit, gets its ``Invitation`` (one per visit);
3. **send** — each pending invitation, then each reminder due (``PRO_REMINDER_OFFSETS_DAYS`` after the invitation,
   while the window is open), is sent in its own transaction: the invitation row is locked
   (``select_for_update(skip_locked=True)``: a second tick running at the same time skips it), the message's
   ``InvitationEvent`` (unique per invitation, kind and number) is inserted *before* the message goes out, and every
   stop condition is checked again under the lock. Two overlapping ticks therefore send each message once.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation

from pro import tokens
from pro.links import patient_url
from pro.models import (
    EventKind,
    Invitation,
    InvitationEvent,
    InvitationStatus,
    PatientContact,
    StopReason,
    TokenChannel,
    window_expiry,
)
from pro.services import default_instruments, log_event
from trials.domain import schedule
from trials.models import Site, StudyExit, Visit

logger = logging.getLogger("pro.sending")
OPEN_STATUSES = (InvitationStatus.PENDING, InvitationStatus.SENT, InvitationStatus.OPENED)


@dataclass
class RunResult:
    """Counts of one run (logged; the benchmark reads them)."""

    created: int = 0
    invited: int = 0
    reminded: int = 0
    stopped: int = 0
    skipped_locked: int = 0
    failed: int = 0
    seconds: float = 0.0
    sites_sending: list[str] = field(default_factory=list)


def visit_codes() -> tuple[str, ...]:
    """Visits patients are invited for: the follow-ups (``PRO_VISIT_CODES``; baseline is collected in clinic)."""
    return tuple(getattr(settings, "PRO_VISIT_CODES", schedule.FOLLOW_UP_CODES))


def sending_sites(now: dt.datetime, *, any_hour: bool = False) -> dict[int, dt.date]:
    """{site id: site-local date} of the sites where it is at least ``PRO_SEND_FROM_HOUR`` local time at ``now``
    (every active site with ``any_hour``)."""
    out = {}
    for pk, tz in Site.objects.filter(active=True).values_list("pk", "time_zone"):
        local = timezone.localtime(now, ZoneInfo(tz))
        if any_hour or local.hour >= settings.PRO_SEND_FROM_HOUR:
            out[pk] = local.date()
    return out


def _exited():
    return Exists(StudyExit.objects.filter(patient_id=OuterRef("patient_id"), voided_at__isnull=True))


def stop_finished(now: dt.datetime) -> int:
    """Stop reminders of open invitations that must get no more messages; returns how many were stopped."""
    stopped = 0
    live = Invitation.objects.filter(status__in=OPEN_STATUSES, reminders_stopped_at__isnull=True)
    rules = [
        (live.filter(expires_at__lte=now), StopReason.WINDOW_CLOSED, InvitationStatus.EXPIRED),
        (live.filter(_exited()), StopReason.EXITED, InvitationStatus.STOPPED),
        (
            live.filter(Q(visit__visit_date__isnull=False) | ~Q(visit__not_done_reason="")),
            StopReason.VISIT_ENTERED,
            None,
        ),
        (
            live.exclude(
                Exists(PatientContact.objects.filter(patient_id=OuterRef("patient_id"), consented=True, erased_at__isnull=True))
            ),
            StopReason.NO_CONTACT,
            None,
        ),
    ]
    for queryset, reason, status in rules:
        for pk in list(queryset.values_list("pk", flat=True)):
            stopped += stop_reminders(pk, reason, now=now, status=status)
    return stopped


def stop_reminders(
    invitation_id: int, reason: str, *, now: dt.datetime | None = None, status: str | None = None, actor=None
) -> int:
    """Stop an invitation's reminders (and set ``status``, e.g. expired/stopped) in one transaction, logged.

    Returns 1 when it stopped them, 0 when they were already stopped. Called by the job, on submission
    (``reason='submitted'``) and when staff enter the visit or the patient exits (signals)."""
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


def create_due(now: dt.datetime, sites: dict[int, dt.date]) -> int:
    """Create the invitations of visits whose window is open today at their site; returns how many were created."""
    if not sites:
        return 0
    instruments = default_instruments()
    by_date: dict[dt.date, list[int]] = {}
    for pk, day in sites.items():
        by_date.setdefault(day, []).append(pk)
    contacts = PatientContact.objects.filter(patient_id=OuterRef("patient_id"), consented=True, erased_at__isnull=True).exclude(
        email_encrypted=""
    )
    created = 0
    for day, site_ids in by_date.items():
        visits = (
            Visit.objects.filter(
                patient__site_id__in=site_ids,
                visit_code__in=visit_codes(),
                window_start__lte=day,
                window_end__gte=day,
                patient__consent_date__lte=day,
                visit_date__isnull=True,
                not_done_reason="",
                voided_at__isnull=True,
                patient__voided_at__isnull=True,
            )
            .filter(Exists(contacts))
            .exclude(_exited())
            .exclude(Exists(Invitation.objects.filter(visit_id=OuterRef("pk"))))
            .values_list(
                "pk",
                "patient_id",
                "visit_code",
                "window_start",
                "window_end",
                "patient__consent_date",
                "patient__site__time_zone",
            )
        )
        rows = list(visits)
        if not rows:
            continue
        languages = dict(
            PatientContact.objects.filter(patient_id__in={r[1] for r in rows}).values_list("patient_id", "preferred_language")
        )
        batch = [
            Invitation(
                patient_id=patient_id,
                visit_id=visit_id,
                visit_code=code,
                window_opens_on=max(start, consent),
                window_closes_on=end,
                expires_at=window_expiry(end, tz),
                language=languages.get(patient_id, "en"),
            )
            for visit_id, patient_id, code, start, end, consent, tz in rows
        ]
        with transaction.atomic():
            made = Invitation.objects.bulk_create(batch, batch_size=2000, ignore_conflicts=True)
            ids = list(
                Invitation.objects.filter(visit_id__in=[b.visit_id for b in made], instruments__isnull=True).values_list(
                    "pk", flat=True
                )
            )
            through = Invitation.instruments.through
            through.objects.bulk_create(
                [through(invitation_id=i, instrument_id=instrument.pk) for i in ids for instrument in instruments],
                batch_size=5000,
                ignore_conflicts=True,
            )
        created += len(ids)
    return created


def next_reminder_on(invitation: Invitation, reminders_sent: int) -> dt.date | None:
    """Site-local date the next reminder is due: the invitation's local date + ``PRO_REMINDER_OFFSETS_DAYS[n]``;
    None when every reminder went out or the next would fall after the window's last day."""
    offsets = settings.PRO_REMINDER_OFFSETS_DAYS
    if invitation.sent_at is None or reminders_sent >= len(offsets):
        return None
    invited_on = timezone.localtime(invitation.sent_at, ZoneInfo(invitation.patient.site.time_zone)).date()
    due = invited_on + dt.timedelta(days=offsets[reminders_sent])
    return due if due <= invitation.window_closes_on else None


def _reminder_due(invitation: Invitation, today: dt.date) -> bool:
    due = next_reminder_on(invitation, invitation.reminders_sent)
    return due is not None and due <= today


def _still_wanted(invitation: Invitation, now: dt.datetime) -> bool:
    """Every stop condition, re-checked under the row lock right before a message goes out."""
    if invitation.status not in OPEN_STATUSES or invitation.reminders_stopped_at is not None or now >= invitation.expires_at:
        return False
    visit = Visit.objects.only("visit_date", "not_done_reason").get(pk=invitation.visit_id)
    if visit.visit_date is not None or visit.not_done_reason:
        return False
    if StudyExit.objects.filter(patient_id=invitation.patient_id, voided_at__isnull=True).exists():
        return False
    return True


def send_one(invitation_id: int, kind: str, *, now: dt.datetime, today: dt.date, actor=None, connection=None) -> str:
    """Send one message of an invitation (``invited``, ``reminded`` or ``resent``) exactly once.

    Returns 'sent', 'locked' (another run holds the row), 'skipped' (not due / no longer wanted) or 'failed'.
    The event row is inserted before the message leaves and the transaction commits after it left; a failed
    send rolls the event back (the next run retries) and is logged as ``failed`` without any address."""
    try:
        with transaction.atomic():
            invitation = (
                Invitation.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("patient__site")
                .filter(pk=invitation_id)
                .first()
            )
            if invitation is None:
                return "locked"
            if kind == EventKind.INVITED and invitation.status != InvitationStatus.PENDING:
                return "skipped"
            if kind == EventKind.REMINDED and not _reminder_due(invitation, today):
                return "skipped"
            if kind != EventKind.RESENT and not _still_wanted(invitation, now):
                return "skipped"
            contact = PatientContact.objects.filter(patient_id=invitation.patient_id).first()
            if contact is None or not contact.can_be_invited:
                return "skipped"
            sequence = invitation.reminders_sent + 1 if kind == EventKind.REMINDED else 0
            if kind == EventKind.RESENT:
                sequence = InvitationEvent.objects.filter(invitation=invitation, kind=EventKind.RESENT).count() + 1
            try:
                with transaction.atomic():
                    log_event(invitation, kind, at=now, actor=actor, sequence=sequence, detail=_detail(kind, sequence))
            except IntegrityError:
                return "skipped"  # this message went out already (the unique event row exists)
            token = tokens.issue(invitation, channel=TokenChannel.EMAIL)
            _message(invitation, contact, token, reminder=kind == EventKind.REMINDED, connection=connection).send()
            if kind == EventKind.REMINDED:
                invitation.reminders_sent = sequence
                invitation.last_reminded_at = now
            elif invitation.status == InvitationStatus.PENDING:
                invitation.status, invitation.sent_at = InvitationStatus.SENT, now
            invitation.next_reminder_on = next_reminder_on(invitation, invitation.reminders_sent)
            invitation.save(update_fields=["status", "sent_at", "reminders_sent", "last_reminded_at", "next_reminder_on"])
    except Exception as exc:  # noqa: BLE001 - an SMTP error must not stop the other invitations
        logger.warning("PRO message %s for invitation %s failed: %s", kind, invitation_id, type(exc).__name__)
        invitation = Invitation.objects.filter(pk=invitation_id).first()
        if invitation is not None:
            log_event(invitation, EventKind.FAILED, at=now, detail=f"{kind}: {type(exc).__name__}")
        return "failed"
    return "sent"


def _detail(kind: str, sequence: int) -> str:
    if kind == EventKind.REMINDED:
        return f"Reminder {sequence}"
    if kind == EventKind.RESENT:
        return f"Re-sent ({sequence})"
    return ""


def _message(invitation: Invitation, contact: PatientContact, token: str, *, reminder: bool, connection=None):
    """The e-mail: study name, site, visit and the link — no identifier, no clinical content."""
    site = invitation.patient.site
    visit_label = schedule.VISITS_BY_CODE[invitation.visit_code].label
    context = {
        "study": settings.REGISTRY_STUDY_CODE,
        "site_name": site.name,
        "visit_label": visit_label,
        "url": patient_url(token),
        "closes_on": invitation.window_closes_on,
        "reminder": reminder,
    }
    with translation.override(invitation.language or "en"):
        subject = render_to_string("pro/email/invitation_subject.txt", context).strip()
        body = render_to_string("pro/email/invitation.txt", context)
    return EmailMultiAlternatives(subject, body, settings.PRO_FROM_EMAIL, [contact.email], connection=connection)


def run(now: dt.datetime | None = None, *, any_hour: bool = False) -> RunResult:
    """One tick of the job (stop, create, send invitations, send reminders). Safe to run twice at once.

    ``any_hour``: ignore ``PRO_SEND_FROM_HOUR`` (the demo seeding and the benchmark)."""
    started = time.perf_counter()
    now = now or timezone.now()
    result = RunResult()
    result.stopped = stop_finished(now)
    sites = sending_sites(now, any_hour=any_hour)
    result.sites_sending = sorted(Site.objects.filter(pk__in=sites).values_list("code", flat=True))
    result.created = create_due(now, sites)
    connection = get_connection()
    connection.open()
    try:
        for site_id, today in sites.items():
            pending = Invitation.objects.filter(
                patient__site_id=site_id, status=InvitationStatus.PENDING, window_opens_on__lte=today, expires_at__gt=now
            ).values_list("pk", flat=True)
            for pk in list(pending):
                _count(result, send_one(pk, EventKind.INVITED, now=now, today=today, connection=connection))
            reminders = Invitation.objects.filter(
                patient__site_id=site_id,
                status__in=(InvitationStatus.SENT, InvitationStatus.OPENED),
                reminders_stopped_at__isnull=True,
                next_reminder_on__lte=today,
                expires_at__gt=now,
            ).values_list("pk", flat=True)
            for pk in list(reminders):
                _count(result, send_one(pk, EventKind.REMINDED, now=now, today=today, connection=connection), reminder=True)
    finally:
        connection.close()
    result.seconds = time.perf_counter() - started
    logger.info(
        "PRO invitations: %s created, %s invited, %s reminded, %s stopped, %s locked by another run, %s failed in %.1f s",
        result.created,
        result.invited,
        result.reminded,
        result.stopped,
        result.skipped_locked,
        result.failed,
        result.seconds,
    )
    return result


def _count(result: RunResult, outcome: str, *, reminder: bool = False) -> None:
    if outcome == "sent":
        if reminder:
            result.reminded += 1
        else:
            result.invited += 1
    elif outcome == "locked":
        result.skipped_locked += 1
    elif outcome == "failed":
        result.failed += 1


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
    from pro.services import invitation_for_visit

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
    from pro.services import invitation_for_visit

    _window_open_today(visit)
    invitation = invitation_for_visit(visit)
    if not invitation.is_open:
        raise ActionRefused(f"The invitation is {invitation.get_status_display().lower()}.")
    with transaction.atomic():
        token = tokens.issue(invitation, channel=TokenChannel.CLINIC)
        log_event(invitation, EventKind.LINK_SHOWN, actor=actor)
    return patient_url(token)
