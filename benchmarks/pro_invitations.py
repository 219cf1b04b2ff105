"""Benchmark (issue 15): the daily invitation job on the 100,000-patient registry, two overlapping beat ticks.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_h15a_100k \\
        .venv/bin/python benchmarks/pro_invitations.py [--day YYYY-MM-DD]

1. Every patient without a study exit gets an encrypted contact (once; bulk).
2. The PRO tables are emptied (benchmark database only); every window open the day before ``--day`` (default today)
   gets its invitation, marked sent with its reminders done — the state of a registry after daily runs.
   Then ``ANALYZE`` (the planner statistics autovacuum keeps on a live registry; this server may run without it).
3. Timed: two job processes (Django set up and warmed, as two running workers) start the tick for ``--day`` at the
   same instant (two overlapping beat ticks), both sending through a real SMTP server (aiosmtpd) run by this script.
   Checked: every invitation and reminder event exists once, the SMTP server received exactly one message per event,
   and no (recipient, subject) pair arrived twice. Printed: wall time of the two ticks against the goal (well inside a
   minute: ≤ 30 s), each process's time by phase, milliseconds and database queries per message, load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from email.parser import BytesHeaderParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.pgbench_db import ensure_database, setup_django  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/registry_bench"
GOAL_SECONDS = 30.0  # "well inside a minute" (issue 15): half of it


def _job(now_iso: str) -> None:
    """Child process: set up and warm like a running worker, say READY, wait for GO on stdin, run one tick at
    ``now_iso``; print its counts, seconds by phase and number of database queries as JSON."""
    setup_django(DEFAULT_DB)
    from django.db import connection

    from pro import sending
    from pro.links import patient_url

    patient_url("warm-up")  # the URLconf import (scipy via analytics) happens once per worker process, not per tick
    connection.ensure_connection()
    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    print("READY", flush=True)
    sys.stdin.readline()
    woke = time.time()
    started = time.perf_counter()
    with connection.execute_wrapper(count):
        result = sending.run(dt.datetime.fromisoformat(now_iso), any_hour=True)
    print(
        json.dumps(
            {
                "invited": result.invited,
                "reminded": result.reminded,
                "created": result.created,
                "stopped": result.stopped,
                "claimed": result.claimed,
                "failed": result.failed,
                "phases": result.phase_seconds,
                "queries": queries,
                "seconds": time.perf_counter() - started,
                "woke": woke,
                "done": time.time(),
            }
        ),
        flush=True,
    )
    os._exit(0)  # a worker process stays up; the interpreter's slow teardown (scipy, pandas) is not the job's


class Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = BytesHeaderParser().parsebytes(envelope.original_content or envelope.content)  # headers only
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


def _steady_state(before: dt.datetime, *, reminders: bool = False) -> int:
    """The registry after daily runs up to ``before``: every window open then has its invitation, sent.

    Without ``reminders`` every one is marked sent with its reminders done (the day measured sends only the windows
    opening that day). With ``reminders`` each was sent on its opening day, the reminders due before the day measured
    went out and the next one is due as the job would have set it (the day measured sends those reminders too).
    (Sending them through SMTP would only measure the catch-up of a registry that never ran the job.)"""
    from django.conf import settings

    from pro import sending
    from pro.models import Invitation, InvitationStatus

    sending.create_due(before, sending.sending_sites(before, any_hour=True))
    pending = Invitation.objects.filter(status=InvitationStatus.PENDING)
    if not reminders:
        return pending.update(status=InvitationStatus.SENT, sent_at=before, next_reminder_on=None)
    day = before.date() + dt.timedelta(days=1)
    groups: dict[tuple[dt.date, int, dt.date | None], list[int]] = {}
    for pk, opens, closes in pending.values_list("pk", "window_opens_on", "window_closes_on"):
        due = [opens + dt.timedelta(days=n) for n in settings.PRO_REMINDER_OFFSETS_DAYS]
        due = [d for d in due if d <= closes]
        done = sum(d < day for d in due)
        groups.setdefault((opens, done, due[done] if done < len(due) else None), []).append(pk)
    for (opens, done, following), ids in groups.items():
        Invitation.objects.filter(pk__in=ids).update(
            status=InvitationStatus.SENT,
            sent_at=dt.datetime.combine(opens, dt.time(16), tzinfo=dt.UTC),  # the opening day at sites from UTC−12 to UTC+7
            reminders_sent=done,
            next_reminder_on=following,
        )
    return sum(len(ids) for ids in groups.values())


def _analyze() -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


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
    parser.add_argument("--reminders", action="store_true", help="also the reminders due that day (see _steady_state)")
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
        """``n`` job processes, started and warmed first, then released at the same instant. Wall time: from the release
        to the last tick's end (each child's clock; the interpreter's exit afterwards is not part of a worker's tick)."""
        cmd = [sys.executable, __file__, "--job", at.isoformat()]
        procs = [
            subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # noqa: S603
            for _ in range(n)
        ]
        for p in procs:
            assert p.stdout is not None
            while (line := p.stdout.readline()) and line.strip() != "READY":
                pass
        go = time.time()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("GO\n")
            p.stdin.flush()
        outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        return max(o["done"] for o in outs) - go, outs

    try:
        _reset()
        before = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(12), tzinfo=dt.UTC)
        t0 = time.perf_counter()
        warm = _steady_state(before, reminders=args.reminders)
        mode = " (reminders as due)" if args.reminders else ""
        print(
            f"state after the day before ({before.date()}): {warm:,} invitations of open windows, marked sent{mode} "
            f"({time.perf_counter() - t0:.1f} s); ANALYZE {_analyze():.1f} s"
        )
        inbox.received.clear()
        events_before = InvitationEvent.objects.filter(kind__in=[EventKind.INVITED, EventKind.REMINDED]).count()
        at = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
        load_before = _load()
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        seconds, outs = tick(at, 2)
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        server_cpu = cpu_after.ru_utime + cpu_after.ru_stime - cpu.ru_utime - cpu.ru_stime
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
    messages = invited + reminded
    print(f"two overlapping ticks on {day}: {seconds:.1f} s wall; load average before {load_before}, after {_load()}")
    first = min(o["woke"] for o in outs)
    for i, o in enumerate(outs, 1):
        phases = ", ".join(f"{name} {value:.2f} s" for name, value in o["phases"].items())
        print(
            f"  tick {i} (started +{o['woke'] - first:.3f} s): {o['seconds']:.2f} s ({phases}); "
            f"{o['invited']:,} invited + {o['reminded']:,} reminded, "
            f"{o['created']:,} created, {o['stopped']:,} stopped, {o['failed']:,} failed; {o['queries']:,} queries"
        )
    print(
        f"  sent {invited:,} invitations + {reminded:,} reminders (split {[o['invited'] + o['reminded'] for o in outs]}); "
        f"{events:,} message events; SMTP received {len(inbox.received):,}; duplicate (recipient, subject): {len(duplicates)}"
    )
    print(f"  the SMTP server (aiosmtpd, in this process) used {server_cpu:.1f} s of CPU meanwhile")
    if messages:
        send_ms = 1000 * sum(o["phases"]["send"] for o in outs) / messages
        whole_ms = 1000 * sum(o["seconds"] for o in outs) / messages
        queries = sum(o["queries"] for o in outs)
        print(
            f"per message: {send_ms:.2f} ms of send phase, {whole_ms:.2f} ms of whole tick (process time summed over "
            f"both ticks); {queries / messages:.3f} queries per message ({queries:,} queries in all)"
        )
    ok = messages == events == len(inbox.received) and not duplicates and once
    print("exactly once:", "yes" if ok else "NO")
    verdict = "OK" if seconds <= GOAL_SECONDS else "ABOVE GOAL"
    print(
        f"goal: well inside a minute (≤ {GOAL_SECONDS:.0f} s wall for both ticks) — {verdict}: {seconds:.1f} s "
        f"= {seconds / 60:.2f} × the minute"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
