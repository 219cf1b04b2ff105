"""No invitation row is locked while the job talks to SMTP (review of issue 15's sending), on PostgreSQL.

A batch's messages block inside the mail backend (as with a stuck relay) while, on another connection, a
coordinator enters one patient's visit (the signal stops its reminders under ``SELECT … FOR UPDATE``) and another
patient submits (``record_submission`` locks its invitation). Both must finish at once; ``lock_timeout`` makes a
regression fail in seconds instead of hanging. Needs PostgreSQL (real row locks between connections): skips on
SQLite with the reason, fails in CI (tests.conftest.require_service).
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection, connections, transaction

from pro import sending
from pro.models import EventKind, Invitation, InvitationEvent, StopReason
from pro.services import record_submission, set_contact
from tests.conftest import require_service
from tests.factories import enroll_patient
from trials.models import Visit

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
IN_SEND = threading.Event()
RELEASE = threading.Event()
LOCK_TIMEOUT_SECONDS = 3


class StuckRelayBackend(EmailBackend):
    """locmem whose every send waits until the test releases it (a relay that does not answer)."""

    def send_messages(self, messages):
        IN_SEND.set()
        if not RELEASE.wait(60):
            raise TimeoutError("the test never released the relay")
        return super().send_messages(messages)


def test_staff_stop_and_a_submission_finish_while_a_batch_is_being_sent(coordinator, site, today, settings):
    require_service(
        connection.vendor == "postgresql", "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry"
    )
    settings.PRO_VISIT_CODES = ["week1"]
    settings.PRO_REMINDER_OFFSETS_DAYS = [1, 3]
    settings.EMAIL_BACKEND = "tests.integration.test_pro_send_locks.StuckRelayBackend"
    IN_SEND.clear()
    RELEASE.clear()
    day0 = today - dt.timedelta(days=7)  # week 1 (days 5–10) is open today
    entered, submits = (enroll_patient(coordinator, site, enrollment_date=day0, day0=day0) for _ in range(2))
    for i, patient in enumerate((entered, submits)):
        set_contact(patient, email=f"locks.{i}@example.org", actor=coordinator)
    noon = dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)
    sending.create_due(noon, sending.sending_sites(noon))
    results: list[sending.RunResult] = []
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            results.append(sending.run(noon))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        assert IN_SEND.wait(30), errors
        assert InvitationEvent.objects.filter(kind=EventKind.INVITED, sending_since__isnull=False).count() == 2
        with connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'")
        started = time.monotonic()
        with transaction.atomic():  # as the visit form's save does
            visit = Visit.objects.get(patient=entered, visit_code="week1")
            visit.visit_date = today
            visit.save()
        record_submission(Invitation.objects.get(patient=submits))
        waited = time.monotonic() - started
    finally:
        RELEASE.set()
        thread.join(60)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert waited < LOCK_TIMEOUT_SECONDS and not errors and len(results) == 1
    assert (results[0].invited, results[0].failed) == (2, 0) and len(mail.outbox) == 2  # both were on the wire
    stopped, submitted = (Invitation.objects.get(patient=p) for p in (entered, submits))
    assert (stopped.status, stopped.stop_reason, stopped.next_reminder_on) == ("sent", StopReason.VISIT_ENTERED, None)
    assert (submitted.status, submitted.stop_reason, submitted.next_reminder_on) == ("submitted", StopReason.SUBMITTED, None)
    assert stopped.sent_at == submitted.sent_at == noon
    assert not InvitationEvent.objects.filter(sending_since__isnull=False).exists()
