"""Celery tasks: run a ReportRun by ID, and refresh the default report nightly.

``report_run_execute`` takes the run's ID (never an object), is idempotent
(a redelivered or retried message re-runs every stage and rewrites the same
artifacts), acknowledges late and is re-queued if the worker dies, and retries
on transient database/broker errors. Every other error is recorded on the run
as a readable message: a run never stays ``running`` because of an error.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerOperationalError

from analytics.models import ReportRun, RunStatus
from analytics.pipeline import StageError, report_run_pipeline
from analytics.services import report_run_fail, report_run_request

logger = logging.getLogger(__name__)
TRANSIENT_ERRORS = (OperationalError, InterfaceError, BrokerOperationalError, ConnectionError)
MAX_RETRIES = 3


def _transient(exc: BaseException) -> bool:
    cause = exc.cause if isinstance(exc, StageError) else exc
    return isinstance(cause, TRANSIENT_ERRORS)


class ReportRunTask(Task):
    """Records the failure on the run when Celery gives up (retries exhausted, unexpected errors)."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):  # noqa: ARG002 - Celery's signature
        run_id = args[0] if args else kwargs.get("run_id")
        if run_id is not None:
            report_run_fail(run_id=run_id, message=f"{type(exc).__name__}: {exc} (after {self.request.retries} retries)")


@shared_task(
    bind=True,
    base=ReportRunTask,
    name="analytics.tasks.report_run_execute",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    max_retries=MAX_RETRIES,
    retry_backoff=5,
    retry_jitter=False,
)
def report_run_execute(self, run_id: int) -> str:
    """Run the report pipeline for ``run_id``; returns the final status."""
    if not ReportRun.objects.filter(pk=run_id).exists():
        logger.warning("Report run %s does not exist; nothing to do.", run_id)
        return "missing"
    try:
        report_run_pipeline(run_id)
    except StageError as exc:
        if _transient(exc):
            raise exc.cause from exc  # autoretry_for re-queues it; on_failure records the last one
        logger.exception("Report run %s failed in stage %s", run_id, exc.stage)
        report_run_fail(run_id=run_id, stage=exc.stage, message=str(exc))
        return RunStatus.FAILED
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        logger.exception("Report run %s failed", run_id)
        report_run_fail(run_id=run_id, message=f"{type(exc).__name__}: {exc}")
        return RunStatus.FAILED
    return RunStatus.SUCCEEDED


def report_runs_fail_stale(*, older_than: timedelta | None = None) -> int:
    """Mark runs that have been running (or queued) far longer than any run takes as failed."""
    limit = older_than or timedelta(seconds=getattr(settings, "REPORTS_STALE_AFTER_SECONDS", 6 * 3600))
    cutoff = timezone.now() - limit
    stale = ReportRun.objects.filter(status__in=[RunStatus.RUNNING, RunStatus.QUEUED], created_at__lt=cutoff)
    ids = list(stale.values_list("pk", flat=True))
    for run_id in ids:
        report_run_fail(run_id=run_id, message=f"No progress for more than {limit}; the worker was probably lost.")
    return len(ids)


@shared_task(name="analytics.tasks.refresh_default_report", acks_late=True, autoretry_for=TRANSIENT_ERRORS,
             max_retries=MAX_RETRIES, retry_backoff=60)
def refresh_default_report() -> int:
    """Nightly (beat): fail stale runs, then request the default report (re-used if the data did not change)."""
    report_runs_fail_stale()
    run, reused = report_run_request(actor=None, parameters={})
    logger.info("Default report: run %s (%s)", run.pk, "re-used, data unchanged" if reused else "queued")
    return run.pk
