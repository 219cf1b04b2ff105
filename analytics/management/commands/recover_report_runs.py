"""``manage.py recover_report_runs [--stale-after SECONDS]``: the beat's recovery sweep, run once now.

Lists the runs that are running or queued with the age of their last heartbeat, then re-queues the running runs
whose worker stopped heartbeating (or fails them after REPORTS_RECOVERY_MAX_ATTEMPTS starts) — exactly what the
``recover_stalled_report_runs`` beat task does every REPORTS_RECOVERY_SWEEP_SECONDS. For an operator who does not
want to wait for the next sweep, or whose beat is down.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from analytics.models import ReportRun, RunStatus
from analytics.services import report_runs_recover


class Command(BaseCommand):
    help = "Re-queue (or fail, after too many attempts) report runs whose worker stopped heartbeating; list unfinished runs."

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-after",
            type=float,
            default=None,
            help=f"Seconds without a heartbeat before a running run counts as lost (default "
            f"{settings.REPORTS_HEARTBEAT_STALE_SECONDS:g}).",
        )

    def handle(self, *args, **opts):
        now = timezone.now()
        for run in ReportRun.objects.filter(status__in=[RunStatus.RUNNING, RunStatus.QUEUED]).order_by("pk"):
            beat = f"last heartbeat {(now - run.heartbeat_at).total_seconds():.0f} s ago" if run.heartbeat_at else "no heartbeat"
            self.stdout.write(f"run {run.pk}: {run.status}, stage '{run.stage or '-'}', attempt {run.attempts}, {beat}")
        outcome = report_runs_recover(stale_after=opts["stale_after"])
        for run_id in outcome["requeued"]:
            self.stdout.write(self.style.WARNING(f"run {run_id}: worker lost; re-queued"))
        for run_id in outcome["failed"]:
            self.stdout.write(self.style.ERROR(f"run {run_id}: worker lost too many times; failed (see its error message)"))
        if not outcome["requeued"] and not outcome["failed"]:
            self.stdout.write(self.style.SUCCESS("No stalled run."))
