"""The job's claims (review of issue 15's sending): no lock across SMTP, stops seen after the claim, interrupted
sends, the event insert's retries, exact "created" counts, and voided visits/patients getting nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from pro import dispatch, sending, stopping, tokens
from pro import instruments as definitions
from pro.emails import Composer, Mailer, SendAbandoned
from pro.models import (
    EventKind,
    Instrument,
    Invitation,
    InvitationEvent,
    InvitationStatus,
    InvitationToken,
    PatientContact,
    StopReason,
)
from pro.services import default_instruments, invitation_for_visit, record_submission
from tests.pro.test_sending_batches import _noon, _patients
from trials import services as trial_services
from trials.models import Patient, Visit

pytestmark = pytest.mark.django_db


def _recipients() -> list[tuple[str, bool]]:
    return sorted((m.to[0], m.subject.startswith("Reminder")) for m in mail.outbox)


# --- stop conditions seen after the claim ------------------------------------------------------------------------


def test_a_reminder_stopped_between_claim_and_send_is_neither_sent_nor_recorded(
    coordinator, site, today, job_settings, monkeypatch
):
    """The claim commits before SMTP, so a submission can land in between: the check before sending sees it."""
    now = _noon(today)
    submits, waits = _patients(coordinator, site, today, 2)
    assert sending.run(now).invited == 2
    issue_many = tokens.issue_many

    def then_submit(ids, **kwargs):  # the patient submits right after the reminder batch was claimed
        issued = issue_many(ids, **kwargs)
        record_submission(Invitation.objects.get(patient=submits))
        return issued

    monkeypatch.setattr(tokens, "issue_many", then_submit)
    result = sending.run(now + dt.timedelta(days=1))
    assert (result.reminded, result.failed, result.claimed) == (1, 0, 2)
    assert _recipients() == [("patient.0@example.org", False), ("patient.1@example.org", False), ("patient.1@example.org", True)]
    submitted = Invitation.objects.get(patient=submits)
    assert (submitted.status, submitted.reminders_sent, submitted.next_reminder_on) == (InvitationStatus.SUBMITTED, 0, None)
    assert list(submitted.events.order_by("id").values_list("kind", "detail")) == [
        (EventKind.INVITED, ""),
        (EventKind.WITHDRAWN, "reminded: stopped before sending"),  # the claimed reminder's event, kept
        (EventKind.SUBMITTED, ""),
    ]
    # the withdrawn reminder's link was never handed out: revoked, not deleted
    assert submitted.tokens.count() == 2 and submitted.tokens.filter(revoked_at__isnull=True).count() == 1
    assert Invitation.objects.get(patient=waits).reminders_sent == 1
    assert not InvitationEvent.objects.filter(sending_since__isnull=False).exists()


def test_a_message_in_flight_when_staff_stop_is_recorded_but_the_stop_is_kept(coordinator, site, today, job_settings):
    """Staff entered the visit while its invitation was on the wire: the message counts as sent (it left), the
    invitation keeps its stop and gets no reminder date."""
    now = _noon(today)
    (patient,) = _patients(coordinator, site, today, 1)
    sending.create_due(now, sending.sending_sites(now))
    visit = Visit.objects.get(patient=patient, visit_code="week1")

    class EnterVisitWhileSending(Mailer):
        def send_all(self, messages, *, deadline=None):
            visit.visit_date = today
            visit.save()  # pro.signals stops the reminders: no row lock of the job is in the way
            return super().send_all(messages, deadline=deadline)

    with EnterVisitWhileSending() as mailer:
        outcome = dispatch.send_due(
            EventKind.INVITED, dispatch.due(EventKind.INVITED, now=now, today=today), now=now, today=today,
            mailer=mailer, composer=Composer(),
        )  # fmt: skip
    assert (outcome.sent, outcome.failed) == (1, 0) and len(mail.outbox) == 1
    invitation = Invitation.objects.get(visit=visit)
    assert (invitation.status, invitation.sent_at, invitation.next_reminder_on) == (InvitationStatus.SENT, now, None)
    assert invitation.stop_reason == StopReason.VISIT_ENTERED
    events = list(invitation.events.order_by("id").values_list("kind", "sending_since"))
    assert events == [(EventKind.INVITED, None), (EventKind.STOPPED, None)]
    assert sending.run(now + dt.timedelta(days=1)).reminded == 0


# --- interrupted sends ---------------------------------------------------------------------------------------------


def test_a_claim_left_by_a_dead_process_blocks_its_message_until_the_timeout_then_it_is_sent_once(
    coordinator, site, today, job_settings, time_machine
):
    now = _noon(today)
    time_machine.move_to(now, tick=False)
    _patients(coordinator, site, today, 2)
    sending.create_due(now, sending.sending_sites(now))
    with transaction.atomic():  # a process claims and logs a batch of one, then dies before sending it
        rows = dispatch.claim(dispatch.due(EventKind.INVITED, now=now, today=today), limit=1)
        dead = dispatch.prepare(EventKind.INVITED, rows, now=now, today=today)
    (lost,) = dead.rows
    first = sending.run(now + dt.timedelta(minutes=5))
    assert (first.invited, first.interrupted) == (1, 0)  # the other patient; the claimed message is not sent twice
    assert [m.to[0] for m in mail.outbox] == ["patient.1@example.org"]
    later = now + dt.timedelta(minutes=31)
    time_machine.move_to(later, tick=False)
    second = sending.run(later)
    assert (second.invited, second.interrupted) == (1, 1)
    assert sorted(m.to[0] for m in mail.outbox) == ["patient.0@example.org", "patient.1@example.org"]
    invitation = Invitation.objects.get(pk=lost.pk)
    assert invitation.status == InvitationStatus.SENT and invitation.sent_at == later
    events = list(invitation.events.values_list("kind", "detail", "sending_since"))
    assert events == [(EventKind.FAILED, "invited: interrupted", None), (EventKind.INVITED, "", None)]
    assert invitation.tokens.count() == 2  # the dead process's link may have gone out: it keeps working
    assert sending.run(later + dt.timedelta(hours=1)).interrupted == 0


def test_no_message_is_started_after_the_batch_deadline_and_the_next_tick_sends_it(coordinator, site, today, job_settings):
    now = _noon(today)
    _patients(coordinator, site, today, 2)
    job_settings.PRO_SENDING_TIMEOUT_SECONDS = 0  # the deadline (half of it) has passed when the batch sends
    result = sending.run(now)
    assert (result.invited, result.failed) == (0, 2) and not mail.outbox
    assert set(InvitationEvent.objects.values_list("kind", "detail")) == {(EventKind.FAILED, "invited: SendAbandoned")}
    assert InvitationToken.objects.count() == 2 and not InvitationToken.objects.filter(revoked_at__isnull=True).exists()
    job_settings.PRO_SENDING_TIMEOUT_SECONDS = 30 * 60  # the default
    assert sending.run(now + dt.timedelta(hours=1)).invited == 2 and len(mail.outbox) == 2


def test_send_all_past_its_deadline_tries_nothing():
    messages = [mail.EmailMessage("s", "b", "f@example.org", [f"t{i}@example.org"]) for i in range(3)]
    with Mailer() as mailer:
        errors = mailer.send_all(messages, deadline=0.0)
    assert all(isinstance(e, SendAbandoned) for e in errors) and not mail.outbox


# --- the event insert's retries ------------------------------------------------------------------------------------


def test_the_event_insert_is_retried_in_a_savepoint_until_no_duplicate_is_left(
    coordinator, site, today, job_settings, monkeypatch
):
    """Two other ticks' claims commit while this batch logs: each collision drops that message, the rest go out."""
    now = _noon(today)
    a, b, c = _patients(coordinator, site, today, 3)
    sending.create_due(now, sending.sending_sites(now))
    rows = dispatch.claim(dispatch.due(EventKind.INVITED, now=now, today=today))
    ours, theirs = {p: Invitation.objects.get(patient=p) for p in (a, b, c)}, []
    InvitationEvent.objects.create(invitation=ours[a], kind=EventKind.INVITED, sequence=0, at=now)  # first collision
    taken = dispatch._taken

    def another_tick_commits_meanwhile(kind, batch):
        found = taken(kind, batch)
        if not theirs:  # after this look-up, a second tick's event for b: the retry collides again
            theirs.append(InvitationEvent.objects.create(invitation=ours[b], kind=EventKind.INVITED, sequence=0, at=now))
        return found

    monkeypatch.setattr(dispatch, "_taken", another_tick_commits_meanwhile)
    with Mailer() as mailer:
        outcome = dispatch.send_claimed(EventKind.INVITED, rows, now=now, today=today, mailer=mailer, composer=Composer())
    assert outcome == dispatch.Outcome(sent=1, skipped=2, claimed=3)
    assert [m.to[0] for m in mail.outbox] == ["patient.2@example.org"]
    assert InvitationEvent.objects.filter(kind=EventKind.INVITED).count() == 3  # one per invitation
    assert Invitation.objects.get(patient=c).status == InvitationStatus.SENT
    assert Invitation.objects.get(patient=b).status == InvitationStatus.PENDING  # the other tick records its own


# --- "created" counts what was inserted ----------------------------------------------------------------------------


@pytest.fixture
def shipped_instruments(db) -> int:
    """The BPI and opioid self-report (migration pro.0002 installs them; a transactional test's flush removes them
    from a reused database). Returns how many every invitation gets."""
    for code in definitions.SHIPPED:
        if not Instrument.objects.current().filter(code=code).exists():
            definitions.install(Instrument, definitions.shipped_definition(code), shipped=True)
    return len(default_instruments())


@pytest.mark.parametrize("patients", [1, 2])
def test_created_counts_only_the_invitations_this_tick_inserted(
    coordinator, site, today, job_settings, monkeypatch, patients, shipped_instruments
):
    """Another writer inserts one of the visits' invitations between the job's look-up and its insert (a second tick,
    a coordinator's "Send now"): it is neither counted nor given this tick's instruments."""
    now = _noon(today)
    made = _patients(coordinator, site, today, patients)
    raced = Visit.objects.get(patient=made[0], visit_code="week1")
    contacts = PatientContact.objects
    lookup = contacts.filter

    def languages_then_race(*args, **kwargs):
        if "patient_id__in" in kwargs and not Invitation.objects.filter(visit=raced).exists():
            invitation_for_visit(raced, instruments=[])
        return lookup(*args, **kwargs)

    monkeypatch.setattr(contacts, "filter", languages_then_race)
    assert sending.create_due(now, sending.sending_sites(now)) == patients - 1
    assert Invitation.objects.get(visit=raced).instruments.count() == 0
    assert shipped_instruments == 2
    assert all(i.instruments.count() == 2 for i in Invitation.objects.exclude(visit=raced))
    assert Invitation.objects.count() == patients


# --- voided visits and patients ------------------------------------------------------------------------------------


def test_voided_visits_and_patients_are_never_claimed_and_the_job_stops_them(coordinator, site, today, job_settings):
    now = _noon(today)
    live, visit_voided, patient_voided = _patients(coordinator, site, today, 3)
    sending.create_due(now, sending.sending_sites(now))
    # voided without the signals (a bulk correction, a restore): only the claim and the job's stop rule see it
    Visit.objects.filter(patient=visit_voided, visit_code="week1").update(voided_at=now)
    Patient.objects.filter(pk=patient_voided.pk).update(voided_at=now)
    assert [r.pk for r in dispatch.claim(dispatch.due(EventKind.INVITED, now=now, today=today))] == [
        Invitation.objects.get(patient=live).pk
    ]
    assert stopping.stop_finished(now) == 2
    for patient in (visit_voided, patient_voided):
        invitation = Invitation.objects.get(patient=patient)
        assert (invitation.status, invitation.stop_reason) == (InvitationStatus.STOPPED, StopReason.VOIDED)
        assert list(invitation.events.values_list("kind", "detail")) == [(EventKind.STOPPED, "Visit or patient voided")]
    assert sending.run(now).invited == 1 and [m.to[0] for m in mail.outbox] == ["patient.0@example.org"]


def test_voiding_a_visit_or_a_patient_stops_its_invitations_at_once(coordinator, site, today, job_settings):
    now = _noon(today)
    visit_voided, patient_voided = _patients(coordinator, site, today, 2)
    assert sending.run(now).invited == 2
    week1 = Visit.objects.get(patient=visit_voided, visit_code="week1")
    trial_services.clinical_record_void(actor=coordinator, instance=week1, reason="Entered on the wrong patient")
    trial_services.clinical_record_void(
        actor=coordinator, instance=Patient.objects.get(pk=patient_voided.pk), reason="Registered twice"
    )
    for patient in (visit_voided, patient_voided):
        invitation = Invitation.objects.get(patient=patient)
        assert (invitation.status, invitation.stop_reason) == (InvitationStatus.STOPPED, StopReason.VOIDED)
        assert invitation.reminders_stopped_at is not None and invitation.reminders_stopped_at <= timezone.now()
    assert sending.run(now + dt.timedelta(days=1)).reminded == 0 and len(mail.outbox) == 2
