"""Two invitation ticks at the same instant on PostgreSQL (issue 15): every message once, split between them.

Needs PostgreSQL (``FOR UPDATE SKIP LOCKED`` between real concurrent transactions); skips on SQLite with the
reason, fails in CI (tests.conftest.require_service). Batches of 3 and a slow mail backend keep both ticks sending
at the same time; benchmarks/pro_invitations.py does the same with two processes, real SMTP and 100,000 patients.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection, connections

from pro import sending
from pro.models import EventKind, Invitation, InvitationEvent
from pro.services import set_contact
from tests.conftest import require_service
from tests.factories import enroll_patient

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
PATIENTS = 12


class SlowBackend(EmailBackend):
    """locmem taking 20 ms per message, as an SMTP exchange might: the two ticks overlap for real."""

    def send_messages(self, messages):
        time.sleep(0.02 * len(messages))
        return super().send_messages(messages)


def _two_ticks(now: dt.datetime) -> list[sending.RunResult]:
    barrier = threading.Barrier(2)
    results: list[sending.RunResult] = []
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(sending.run(now))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and len(results) == 2, errors
    return results


def test_two_overlapping_ticks_send_each_invitation_and_reminder_once(coordinator, site, today, settings):
    require_service(
        connection.vendor == "postgresql", "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry"
    )
    settings.PRO_SEND_BATCH_SIZE = 3
    settings.PRO_VISIT_CODES = ["week1"]
    settings.PRO_REMINDER_OFFSETS_DAYS = [1, 3]
    settings.EMAIL_BACKEND = "tests.integration.test_pro_overlap.SlowBackend"
    day0 = today - dt.timedelta(days=7)  # week 1 (days 5–10) is open today
    for i in range(PATIENTS):
        patient = enroll_patient(coordinator, site, enrollment_date=day0, day0=day0)
        set_contact(patient, email=f"overlap.{i}@example.org", actor=coordinator)
    noon = dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)

    for at, kind, subjects in (
        (noon, EventKind.INVITED, PATIENTS),
        (noon + dt.timedelta(days=1), EventKind.REMINDED, 2 * PATIENTS),
    ):
        results = _two_ticks(at)
        assert sum(r.invited + r.reminded for r in results) == PATIENTS
        assert len(mail.outbox) == subjects
        assert all(n == 1 for n in Counter((m.to[0], m.subject) for m in mail.outbox).values())
        events = Counter(InvitationEvent.objects.filter(kind=kind).values_list("invitation_id", flat=True))
        assert len(events) == PATIENTS and set(events.values()) == {1}
    assert Invitation.objects.filter(reminders_sent=1).count() == PATIENTS
