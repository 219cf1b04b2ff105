"""Issue 15 acceptance: a real SMTP server (aiosmtpd), a real Celery worker and beat, time driven forward.

Patient A gets the invitation when the week-1 window opens, one reminder, submits, and gets nothing more; patient B
gets a reminder every day until the window closes, then nothing; patient C, who exited, gets nothing. Beat ticks
every second (``PRO_INVITATIONS_EVERY_SECONDS``); the worker runs each task at the instant the test writes to its
clock file (tests/integration/pro_clock.py), one site-local day after another.
"""

from __future__ import annotations

import datetime as dt
import email
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings

from pro.models import Invitation
from pro.services import record_submission, set_contact
from tests.factories import enroll_patient, make_user
from tests.integration.conftest import _process_env, _wait_ready, start_beat, stop_worker
from trials.models import Role, Site, StudyExit


class Inbox:
    """aiosmtpd handler keeping (recipient, subject) of every message received."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        subject = email.message_from_bytes(envelope.original_content or envelope.content).get("Subject", "")
        with self.lock:
            self.messages.extend((rcpt, subject) for rcpt in envelope.rcpt_tos)
        return "250 OK"

    def subjects(self, rcpt: str) -> list[str]:
        with self.lock:
            return [s for r, s in self.messages if r == rcpt]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_invitations_reminders_that_stop_and_nothing_for_an_exited_patient(postgres_and_redis, tmp_path):
    broker = postgres_and_redis
    day0 = dt.date(2026, 3, 2)
    site = Site.objects.create(code="ATL", name="Atlanta", time_zone="America/New_York")
    coordinator = make_user("coord_it", Role.COORDINATOR, site)
    patients = {}
    for name in ("a", "b", "c"):
        patients[name] = enroll_patient(coordinator, site, enrollment_date=day0 - dt.timedelta(days=1), day0=day0)
        set_contact(patients[name], email=f"patient.{name}@example.org", actor=coordinator)
    StudyExit.objects.create(patient=patients["c"], exit_type="withdrawal", exit_date=day0, last_contact_date=day0)
    week1 = patients["a"].visits.get(visit_code="week1")
    assert (week1.window_start, week1.window_end) == (day0 + dt.timedelta(days=5), day0 + dt.timedelta(days=10))

    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    clock = tmp_path / "clock"
    queue = f"pro-it-{uuid.uuid4().hex[:8]}"

    env = {
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
        "PRO_TEST_CLOCK_FILE": str(clock),
        "PRO_REMINDER_OFFSETS_DAYS": "1,2,3,4,5",
        "PRO_VISIT_CODES": "week1",
        "PRO_SEND_FROM_HOUR": "8",
        "PRO_INVITATIONS_EVERY_SECONDS": "1",
        "CELERY_TASK_DEFAULT_QUEUE": queue,
    }
    log = tmp_path / "worker.log"
    clock.write_text(dt.datetime(2026, 3, 6, 14, tzinfo=dt.UTC).isoformat())  # day 4, 09:00 New York: nothing opens
    with log.open("a") as out:
        worker = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                str(Path(sys.executable).with_name("celery")),
                "-A",
                "tests.integration.pro_clock",
                "worker",
                "--pool=solo",
                "-l",
                "info",
                "-Q",
                queue,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{queue}@%h",
            ],
            cwd=settings.BASE_DIR,
            env=_process_env(broker, env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _wait_ready(worker, log, " ready.")
    beat = start_beat(broker, tmp_path / "beat.log", tmp_path / "beat-schedule", **env)

    def runs() -> int:
        return log.read_text().count("PRO invitations:")

    def advance_to(day: int) -> None:
        """Move the worker's clock to 09:00 New York on day0 + ``day`` and wait for two whole runs at that time."""
        clock.write_text(dt.datetime.combine(day0 + dt.timedelta(days=day), dt.time(14), tzinfo=dt.UTC).isoformat())
        start = runs()
        deadline = time.monotonic() + 90
        while runs() < start + 2:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            assert worker.poll() is None and beat.poll() is None, log.read_text()[-3000:]
            time.sleep(0.3)

    try:
        advance_to(4)
        assert inbox.messages == []
        advance_to(5)  # the window opens: A and B invited, C (exited) not
        assert len(inbox.subjects("patient.a@example.org")) == 1 and len(inbox.subjects("patient.b@example.org")) == 1
        assert "Reminder" not in inbox.subjects("patient.a@example.org")[0]
        advance_to(6)  # one reminder each; A then submits
        assert [s.startswith("Reminder") for s in inbox.subjects("patient.a@example.org")] == [False, True]
        record_submission(Invitation.objects.get(visit=week1))
        for day in range(7, 13):  # B: reminders on days 7–10; the window closes after day 10; days 11–12 nothing
            advance_to(day)
    finally:
        stop_worker(beat)
        stop_worker(worker)
        smtp.stop()
    assert [s.startswith("Reminder") for s in inbox.subjects("patient.a@example.org")] == [False, True]
    assert [s.startswith("Reminder") for s in inbox.subjects("patient.b@example.org")] == [False, True, True, True, True, True]
    assert inbox.subjects("patient.c@example.org") == []
    b = Invitation.objects.get(visit__patient=patients["b"], visit_code="week1")
    assert b.status == "expired" and b.stop_reason == "window_closed"
    assert not Invitation.objects.filter(patient=patients["c"]).exists()
    assert "example.org" not in log.read_text()  # no address in the worker's log lines
