"""The job sends in batches (issue 15 benchmark): constant queries per batch, failures retried, texts unchanged."""

from __future__ import annotations

import datetime as dt
import logging
import smtplib

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from pro import dispatch, sending, stopping, tokens
from pro.emails import Composer, Mailer
from pro.links import patient_url, url_maker
from pro.models import EventKind, Invitation, InvitationEvent, InvitationStatus, InvitationToken, StopReason
from pro.services import set_contact
from tests.factories import enroll_patient
from trials.domain import schedule

REFUSED: set[str] = set()
USED: set[int] = set()


class RefusingBackend(EmailBackend):
    """locmem, except that a recipient in ``REFUSED`` is refused the way an SMTP server refuses one."""

    def send_messages(self, messages):
        USED.add(id(self))
        for message in messages:
            refused = [to for to in message.to if to in REFUSED]
            if refused:
                raise smtplib.SMTPRecipientsRefused({to: (550, b"mailbox unavailable") for to in refused})
        return super().send_messages(messages)


def _patients(coordinator, site, today, n: int, start: int = 0) -> list:
    """``n`` patients whose week-1 window (days 5–10) is open today (day 7), each with a contact."""
    out = []
    for i in range(start, start + n):
        patient = enroll_patient(
            coordinator, site, enrollment_date=today - dt.timedelta(days=7), day0=today - dt.timedelta(days=7)
        )
        set_contact(patient, email=f"patient.{i}@example.org", actor=coordinator)
        out.append(patient)
    return out


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)


def _batch_queries(now: dt.datetime, today: dt.date) -> tuple[int, dispatch.Outcome]:
    """Queries of sending every pending invitation in one batch (``send_due`` with room for all)."""
    queryset = dispatch.due(EventKind.INVITED, now=now, today=today)
    with CaptureQueriesContext(connection) as queries, Mailer() as mailer:
        outcome = dispatch.send_due(
            EventKind.INVITED, queryset, now=now, today=today, mailer=mailer, composer=Composer(), size=50
        )
    return len(queries), outcome


@pytest.mark.django_db
def test_a_batch_takes_the_same_queries_for_two_messages_as_for_seven(coordinator, site, today, job_settings):
    now = _noon(today)
    _patients(coordinator, site, today, 2)
    sending.create_due(now, sending.sending_sites(now))
    small, outcome = _batch_queries(now, today)
    assert (outcome.sent, outcome.failed) == (2, 0) and len(mail.outbox) == 2
    _patients(coordinator, site, today, 7, start=2)
    sending.create_due(now, sending.sending_sites(now))
    large, outcome = _batch_queries(now, today)
    assert (outcome.sent, outcome.failed) == (7, 0) and len(mail.outbox) == 9
    # claim transaction: claim, events (in a savepoint), tokens; the stop re-check; record transaction: events out of
    # the sending state, one UPDATE per next-reminder date; each transaction a savepoint pair inside the test's
    assert small == large <= 12


@pytest.mark.django_db
def test_a_whole_tick_takes_the_same_queries_whatever_the_number_of_messages(coordinator, site, today, job_settings):
    now = _noon(today)
    _patients(coordinator, site, today, 2)
    with CaptureQueriesContext(connection) as small:
        assert sending.run(now).invited == 2
    _patients(coordinator, site, today, 6, start=2)
    with CaptureQueriesContext(connection) as large:
        assert sending.run(now).invited == 6
    assert len(small) == len(large) <= 42  # + the interrupted-message sweep and each batch's second transaction


@pytest.mark.django_db
def test_batches_of_two_send_every_message_once_and_record_it(coordinator, site, today, job_settings):
    job_settings.PRO_SEND_BATCH_SIZE = 2
    now = _noon(today)
    patients = _patients(coordinator, site, today, 5)
    result = sending.run(now)
    assert (result.created, result.invited, result.claimed) == (5, 5, 5)
    assert sorted(m.to[0] for m in mail.outbox) == [f"patient.{i}@example.org" for i in range(5)]
    for patient in patients:
        invitation = Invitation.objects.get(patient=patient)
        assert invitation.status == InvitationStatus.SENT and invitation.sent_at == now
        assert invitation.next_reminder_on == today + dt.timedelta(days=1)
        assert invitation.tokens.count() == 1
        assert list(invitation.events.values_list("kind", "sequence")) == [(EventKind.INVITED, 0)]
    assert sending.run(now + dt.timedelta(hours=1)).invited == 0 and len(mail.outbox) == 5  # the next tick: nothing
    reminders = sending.run(now + dt.timedelta(days=1))
    assert reminders.reminded == 5 and len(mail.outbox) == 10
    assert all(m.subject.startswith("Reminder") for m in mail.outbox[5:])
    reminded = Invitation.objects.get(patient=patients[0])
    assert (reminded.reminders_sent, reminded.next_reminder_on) == (1, today + dt.timedelta(days=3))


@pytest.mark.django_db
def test_a_refused_message_is_logged_failed_not_sent_and_the_next_tick_sends_it_once(
    coordinator, site, today, job_settings, caplog
):
    now = _noon(today)
    a, b, c = _patients(coordinator, site, today, 3)
    REFUSED.add("patient.1@example.org")
    with caplog.at_level(logging.INFO):
        result = sending.run(now)
    assert (result.invited, result.failed) == (2, 1)
    assert sorted(m.to[0] for m in mail.outbox) == ["patient.0@example.org", "patient.2@example.org"]
    failed = Invitation.objects.get(patient=b)
    assert failed.status == InvitationStatus.PENDING and failed.sent_at is None
    assert list(failed.events.values_list("kind", "detail")) == [(EventKind.FAILED, "invited: SMTPRecipientsRefused")]
    # no link was handed out: its token revoked (kept, as every row is)
    assert list(InvitationToken.objects.filter(invitation=failed).values_list("revoked_at", flat=True)) == [now]
    assert "example.org" not in caplog.text and "failed: SMTPRecipientsRefused" in caplog.text
    REFUSED.clear()
    retry = sending.run(now + dt.timedelta(hours=1))
    assert (retry.invited, retry.failed) == (1, 0)
    assert sorted(m.to[0] for m in mail.outbox) == [f"patient.{i}@example.org" for i in range(3)]
    assert InvitationEvent.objects.filter(kind=EventKind.INVITED).count() == 3
    assert Invitation.objects.get(patient=b).status == InvitationStatus.SENT
    # a reminder that fails keeps its number and its due date, and goes out on the next tick
    REFUSED.add("patient.0@example.org")
    assert sending.run(now + dt.timedelta(days=1)).failed == 1
    first = Invitation.objects.get(patient=a)
    assert (first.reminders_sent, first.next_reminder_on) == (0, today + dt.timedelta(days=1))
    REFUSED.clear()
    assert sending.run(now + dt.timedelta(days=1, hours=1)).reminded == 1
    kinds = list(first.events.values_list("kind", "sequence"))
    assert kinds == [(EventKind.INVITED, 0), (EventKind.FAILED, 1), (EventKind.REMINDED, 1)]  # reminder 1 failed, then went
    assert Invitation.objects.get(patient=c).reminders_sent == 1


@pytest.mark.django_db
def test_claimed_rows_exclude_every_stop_condition(coordinator, site, today, job_settings):
    now = _noon(today)
    sent, entered, erased = _patients(coordinator, site, today, 3)
    sending.create_due(now, sending.sending_sites(now))
    Invitation.objects.filter(patient=entered).update(reminders_stopped_at=now, stop_reason=StopReason.VISIT_ENTERED)
    set_contact(erased, email="", actor=coordinator)
    with Mailer() as mailer:
        rows = dispatch.claim(dispatch.due(EventKind.INVITED, now=now, today=today))
        assert [r.pk for r in rows] == [Invitation.objects.get(patient=sent).pk]
        assert dispatch.send_claimed(
            EventKind.INVITED, rows, now=now, today=today, mailer=mailer, composer=Composer()
        ) == dispatch.Outcome(sent=1, claimed=1)


@pytest.mark.django_db
def test_a_message_whose_event_appeared_after_the_claim_is_not_sent(coordinator, site, today, job_settings):
    """The unique event row is the last guard: a writer that did not hold the row lock inserted the event between
    the claim and the batch's insert — that message is dropped, the others go out."""
    now = _noon(today)
    first, second = _patients(coordinator, site, today, 2)
    sending.create_due(now, sending.sending_sites(now))
    with Mailer() as mailer:
        rows = dispatch.claim(dispatch.due(EventKind.INVITED, now=now, today=today))
        taken = Invitation.objects.get(patient=first)
        InvitationEvent.objects.create(invitation=taken, kind=EventKind.INVITED, sequence=0, at=now)
        outcome = dispatch.send_claimed(EventKind.INVITED, rows, now=now, today=today, mailer=mailer, composer=Composer())
    assert outcome == dispatch.Outcome(sent=1, skipped=1, claimed=2)
    assert [m.to[0] for m in mail.outbox] == ["patient.1@example.org"]
    assert Invitation.objects.get(pk=taken.pk).status == InvitationStatus.PENDING
    assert Invitation.objects.get(patient=second).status == InvitationStatus.SENT


@pytest.mark.django_db
def test_stops_go_in_batches_each_logged(coordinator, site, today, job_settings):
    now = _noon(today)
    _patients(coordinator, site, today, 5)
    sending.run(now)
    closed = now + dt.timedelta(days=10)
    assert stopping.stop_finished(closed, size=2) == 5
    assert set(Invitation.objects.values_list("status", "stop_reason")) == {(InvitationStatus.EXPIRED, StopReason.WINDOW_CLOSED)}
    assert InvitationEvent.objects.filter(kind=EventKind.EXPIRED, detail="Visit window closed").count() == 5
    assert stopping.stop_finished(closed, size=2) == 0


def test_the_composed_text_is_the_template_rendered_with_the_real_values(settings):
    settings.PRO_PUBLIC_BASE_URL = "https://registry.example.org/"
    token = "A" * 43
    composer = Composer()
    for language in ("en", "es"):
        for reminder in (False, True):
            texts = dict(visit_code="week1", site_name="Smith & Jones <Clinic>", closes_on=dt.date(2026, 12, 3), token=token)
            subject, body = composer.texts(language=language, reminder=reminder, **texts)
            context = {
                "study": settings.REGISTRY_STUDY_CODE,
                "site_name": texts["site_name"],
                "visit_label": schedule.VISITS_BY_CODE["week1"].label,
                "url": patient_url(token),
                "closes_on": texts["closes_on"],
                "reminder": reminder,
            }
            with translation.override(language):
                assert subject == render_to_string("pro/email/invitation_subject.txt", context).strip()
                assert body == render_to_string("pro/email/invitation.txt", context)
            assert "https://registry.example.org/q/" + token + "/" in body


def test_url_maker_gives_patient_url():
    token = tokens.issue.__name__.ljust(43, "x")
    assert url_maker()(token) == patient_url(token)


class FlakyConnection:
    """A connection whose first send drops (as a server closing the connection would)."""

    def __init__(self) -> None:
        self.opened = self.closed = self.sent = 0

    def open(self):
        self.opened += 1
        return True

    def close(self):
        self.closed += 1

    def send_messages(self, messages):
        if self.sent == 0:
            self.sent = -1
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        self.sent = max(self.sent, 0) + len(messages)
        return len(messages)


def test_a_dropped_connection_fails_one_message_and_the_next_reopens_it():
    connection_ = FlakyConnection()
    with Mailer(connection_) as mailer:
        with pytest.raises(smtplib.SMTPServerDisconnected):
            mailer.send(mail.EmailMessage("s", "b", "f@example.org", ["t@example.org"]))
        mailer.send(mail.EmailMessage("s", "b", "f@example.org", ["t@example.org"]))
        mailer.send(mail.EmailMessage("s", "b", "f@example.org", ["t@example.org"]))
    assert (connection_.opened, connection_.closed, connection_.sent) == (2, 2, 2)


def test_reminder_date_in_the_site_time_zone(job_settings):
    sent_at = dt.datetime(2026, 3, 2, 3, tzinfo=dt.UTC)  # 1 March, 21:00 in Chicago
    assert dispatch.reminder_date(sent_at, 0, "America/Chicago", dt.date(2026, 3, 10)) == dt.date(2026, 3, 2)
    assert dispatch.reminder_date(sent_at, 1, "America/Chicago", dt.date(2026, 3, 10)) == dt.date(2026, 3, 4)
    assert dispatch.reminder_date(sent_at, 1, "America/Chicago", dt.date(2026, 3, 3)) is None  # after the window
    assert dispatch.reminder_date(sent_at, 2, "UTC", dt.date(2026, 3, 10)) is None  # every reminder went out
    assert dispatch.reminder_date(None, 0, "UTC", timezone.localdate()) is None


def test_send_all_spreads_messages_over_the_connections_and_reports_each_failure(job_settings):
    USED.clear()
    messages = [mail.EmailMessage("s", "b", "f@example.org", [f"t{i}@example.org"]) for i in range(7)]
    REFUSED.add("t4@example.org")
    with Mailer(connections=3) as mailer:
        errors = mailer.send_all(messages)
        assert mailer.send_all(messages[:1]) == [None]  # a later batch reuses the tick's connections
    assert [type(e).__name__ if e else None for e in errors] == [None] * 4 + ["SMTPRecipientsRefused"] + [None] * 2
    assert sorted(m.to[0] for m in mail.outbox) == sorted([f"t{i}@example.org" for i in range(7) if i != 4] + ["t0@example.org"])
    assert 1 < len(USED) <= 3
