"""Benchmark (issue 15): the daily invitation job on the 100,000-patient registry, two overlapping beat ticks.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_h15a_100k \\
        .venv/bin/python benchmarks/pro_invitations.py [--day YYYY-MM-DD]

1. Every patient without a study exit gets an encrypted contact (once; bulk).
2. The PRO tables are emptied (benchmark database only); every window open the day before ``--day`` (default today)
   gets its invitation, marked sent with its reminders done — the state of a registry after daily runs.
3. Timed: two job processes start at the same instant for ``--day`` (two overlapping beat ticks), both sending
   through a real SMTP server (aiosmtpd) run by this script. Checked: every invitation and reminder event exists once,
   the SMTP server received exactly one message per event, and no (recipient, subject) pair arrived twice.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.pgbench_db import ensure_database, setup_django  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/registry_bench"


def _job(now_iso: str) -> None:
    """Child process: one tick of the job at ``now_iso``; prints its counts as JSON."""
    setup_django(DEFAULT_DB)
    from pro import sending
    from pro.links import patient_url

    patient_url("warm-up")  # the URLconf import (scipy via analytics) happens once per worker process, not per tick
    started = time.perf_counter()
    result = sending.run(dt.datetime.fromisoformat(now_iso), any_hour=True)
    print(
        json.dumps(
            {
                "invited": result.invited,
                "reminded": result.reminded,
                "created": result.created,
                "locked": result.skipped_locked,
                "failed": result.failed,
                "seconds": time.perf_counter() - started,
            }
        )
    )


class Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.original_content or envelope.content)
        with self.lock:
            self.received.extend((rcpt, message.get("Subject", "")) for rcpt in envelope.rcpt_tos)
        return "250 OK"


def _contacts() -> int:
    from cryptography.fernet import Fernet

    from pro import crypto
    from pro.models import PatientContact
    from trials.models import Patient

    missing = list(Patient.objects.filter(pro_contact__isnull=True, exits__isnull=True).values_list("pk", flat=True))
    fernet = crypto.fernet()
    assert isinstance(fernet._fernets[0], Fernet)
    batch = [
        PatientContact(patient_id=pk, email_encrypted=fernet.encrypt(f"bench.{pk}@example.org".encode()).decode())
        for pk in missing
    ]
    PatientContact.objects.bulk_create(batch, batch_size=5000)
    return len(batch)


def _steady_state(before: dt.datetime) -> int:
    """The registry after daily runs up to ``before``: every window open then has its invitation, sent, reminders done.

    (Sending them through SMTP would only measure the catch-up of a registry that never ran the job.)"""
    from pro import sending
    from pro.models import Invitation, InvitationStatus

    sending.create_due(before, sending.sending_sites(before, any_hour=True))
    return Invitation.objects.filter(status=InvitationStatus.PENDING).update(
        status=InvitationStatus.SENT, sent_at=before, next_reminder_on=None
    )


def _reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE pro_invitationevent, pro_invitationtoken, pro_invitation_instruments, pro_questionnaireresponse, "
            "pro_invitation RESTART IDENTITY CASCADE"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--day", type=dt.date.fromisoformat, default=None)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        _job(args.job)
        return
    setup_django(DEFAULT_DB)
    ensure_database("the PRO invitation benchmark needs PostgreSQL")
    from aiosmtpd.controller import Controller
    from django.utils import timezone

    from pro.models import EventKind, InvitationEvent
    from trials.models import Patient, Visit

    day = args.day or timezone.localdate()
    patients, visits = Patient.objects.count(), Visit.objects.count()
    started = time.perf_counter()
    contacts = _contacts()
    print(f"registry: {patients:,} patients, {visits:,} visits; {contacts:,} contacts in {time.perf_counter() - started:.1f} s")
    opening = Visit.objects.filter(
        window_start=day, visit_date__isnull=True, visit_code__in=("day3", "week1", "month1", "month3", "month6", "month12")
    ).count()
    print(f"follow-up windows opening on {day}: {opening:,}")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    import logging

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command debug lines
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    env = {**os.environ, "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(port)}

    def tick(at: dt.datetime, n: int) -> tuple[float, list[dict]]:
        cmd = [sys.executable, __file__, "--job", at.isoformat()]
        t0 = time.perf_counter()
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(n)]  # noqa: S603
        outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        return time.perf_counter() - t0, outs

    try:
        _reset()
        before = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(12), tzinfo=dt.UTC)
        t0 = time.perf_counter()
        warm = _steady_state(before)
        print(
            f"state after the day before ({before.date()}): {warm:,} invitations of open windows, marked sent "
            f"({time.perf_counter() - t0:.1f} s)"
        )
        inbox.received.clear()
        events_before = InvitationEvent.objects.filter(kind__in=[EventKind.INVITED, EventKind.REMINDED]).count()
        at = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
        seconds, outs = tick(at, 2)
    finally:
        smtp.stop()
    invited = sum(o["invited"] for o in outs)
    reminded = sum(o["reminded"] for o in outs)
    events = InvitationEvent.objects.filter(kind__in=[EventKind.INVITED, EventKind.REMINDED]).count() - events_before
    duplicates = [k for k, c in Counter(inbox.received).items() if c > 1]
    from django.db.models import Count

    repeated = (
        InvitationEvent.objects.filter(kind__in=[EventKind.INVITED, EventKind.REMINDED])
        .values("invitation", "kind", "sequence")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    once = repeated == 0
    each = ", ".join(f"{o['seconds']:.1f} s" for o in outs)
    print(f"two overlapping ticks on {day}: {seconds:.1f} s wall (each: {each})")
    print(
        f"  sent {invited:,} invitations + {reminded:,} reminders (split {[o['invited'] + o['reminded'] for o in outs]}); "
        f"{events:,} message events; SMTP received {len(inbox.received):,}; duplicate (recipient, subject): {len(duplicates)}"
    )
    ok = invited + reminded == events == len(inbox.received) and not duplicates and once
    print("exactly once:", "yes" if ok else "NO")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
