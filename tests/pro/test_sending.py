"""The invitation job (issue 15 §2): invitations when the window opens (site-local), reminders that stop, once each."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from pro import dispatch, sending, tokens
from pro.models import EventKind, Invitation, InvitationEvent, InvitationStatus, StopReason
from pro.services import record_submission, set_contact
from tests.factories import enroll_patient
from trials.models import StudyExit


def at(day: dt.date, hour: int, tz: str = "UTC") -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=ZoneInfo(tz))


@pytest.fixture
def pro_settings(settings):
    settings.PRO_REMINDER_OFFSETS_DAYS = [1, 3]
    settings.PRO_SEND_FROM_HOUR = 8
    settings.PRO_PUBLIC_BASE_URL = "https://registry.example.org"
    return settings


@pytest.fixture
def fresh_patient(coordinator, site, today, pro_settings):
    """Enrolled today with day 0 today: week 1's window is days 5–10 (site-local)."""
    patient = enroll_patient(coordinator, site, enrollment_date=today, day0=today)
    set_contact(patient, email="first.patient@example.org", actor=coordinator)
    return patient


def _week1(patient):
    return patient.visits.get(visit_code="week1")


@pytest.mark.django_db
def test_invited_when_the_window_opens_at_the_site_reminded_once_then_nothing_after_submission(fresh_patient, time_machine):
    site = fresh_patient.site
    site.time_zone = "America/Chicago"
    site.save()
    visit = _week1(fresh_patient)
    opens = visit.window_start
    # 07:59 Chicago on the opening day: before the sending hour, nothing; 08:00 local: the invitation (day 3 visit too)
    time_machine.move_to(at(opens, 7, "America/Chicago"))
    result = sending.run()
    assert result.invited == 0 and not mail.outbox
    time_machine.move_to(at(opens, 8, "America/Chicago"))
    sending.run()
    week1 = Invitation.objects.get(visit=visit)
    assert week1.status == InvitationStatus.SENT
    sent = [m for m in mail.outbox if "Week 1" in m.subject]
    assert len(sent) == 1 and sent[0].to == ["first.patient@example.org"]
    link = next(line for line in sent[0].body.splitlines() if line.startswith("https://registry.example.org/q/"))
    assert tokens.resolve(link.rsplit("/", 2)[-2]) == week1
    assert fresh_patient.study_id not in sent[0].body + sent[0].subject
    # a second tick the same day: nothing new
    sending.run()
    assert len([m for m in mail.outbox if "Week 1" in m.subject]) == 1
    # next day at the site: reminder 1
    time_machine.move_to(at(opens + dt.timedelta(days=1), 9, "America/Chicago"))
    sending.run()
    reminders = [m for m in mail.outbox if m.subject.startswith("Reminder") and "Week 1" in m.subject]
    assert len(reminders) == 1
    record_submission(week1)
    for days in range(2, 8):
        time_machine.move_to(at(opens + dt.timedelta(days=days), 9, "America/Chicago"))
        sending.run()
    assert len([m for m in mail.outbox if "Week 1" in m.subject]) == 2
    kinds = list(InvitationEvent.objects.filter(invitation=week1).values_list("kind", flat=True))
    assert kinds == [EventKind.INVITED, EventKind.REMINDED, EventKind.SUBMITTED]
    assert Invitation.objects.get(pk=week1.pk).stop_reason == StopReason.SUBMITTED


@pytest.mark.django_db
def test_reminders_until_the_window_closes_then_expired_and_nothing_more(fresh_patient, time_machine):
    visit = _week1(fresh_patient)
    for day in range((visit.window_end - visit.window_start).days + 4):
        time_machine.move_to(at(visit.window_start + dt.timedelta(days=day), 10))
        sending.run()
    week1 = [m for m in mail.outbox if "Week 1" in m.subject]
    assert [m.subject.startswith("Reminder") for m in week1] == [False, True, True]
    invitation = Invitation.objects.get(visit=visit)
    assert invitation.status == InvitationStatus.EXPIRED and invitation.stop_reason == StopReason.WINDOW_CLOSED
    assert tokens.resolve(tokens.issue.__name__) is None


@pytest.mark.django_db
def test_a_patient_who_exits_or_whose_visit_staff_entered_gets_nothing(fresh_patient, coordinator, site, today, time_machine):
    other = enroll_patient(coordinator, site, enrollment_date=today, day0=today)
    set_contact(other, email="second@example.org", actor=coordinator)
    StudyExit.objects.create(patient=fresh_patient, exit_type="withdrawal", exit_date=today, last_contact_date=today)
    visit = _week1(other)
    time_machine.move_to(at(visit.window_start, 10))
    sending.run()
    assert {m.to[0] for m in mail.outbox} == {"second@example.org"}
    assert not Invitation.objects.filter(patient=fresh_patient).exists()
    visit.visit_date = visit.window_start
    visit.save()
    invitation = Invitation.objects.get(visit=visit)
    assert invitation.stop_reason == StopReason.VISIT_ENTERED  # at once, by the signal
    count = len(mail.outbox)
    for day in range(1, 6):
        time_machine.move_to(at(visit.window_start + dt.timedelta(days=day), 10))
        sending.run()
    assert len([m for m in mail.outbox[count:] if "Week 1" in m.subject]) == 0


@pytest.mark.django_db
def test_a_message_is_claimed_before_it_is_sent_so_a_second_run_cannot_send_it_again(fresh_patient, time_machine):
    visit = _week1(fresh_patient)
    now = at(visit.window_start, 10)
    time_machine.move_to(now)
    sending.create_due(now, sending.sending_sites(now))
    invitation = Invitation.objects.get(visit=visit)
    # another run already inserted this message's event (it holds the claim): this run must not send
    InvitationEvent.objects.create(invitation=invitation, kind=EventKind.INVITED, sequence=0, at=now)
    assert dispatch.send_one(invitation.pk, EventKind.INVITED, now=now, today=visit.window_start) == "skipped"
    assert not mail.outbox
