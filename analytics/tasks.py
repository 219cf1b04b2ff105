"""Celery tasks: run a ReportRun by ID, and refresh the default report nightly.

``report_run_execute`` takes the run's ID (never an object), is idempotent
(a redelivered or retried message re-runs every stage and rewrites the same
artifacts), acknowledges late and is re-queued if the worker dies, and retries
on transient database/broker errors. Every other error is recorded on the run
as a readable message: a run never stays ``running`` because of an error.

A worker killed whole (SIGKILL, OOM, ``docker compose stop`` past its grace
period) leaves its message unacknowledged until the broker's visibility timeout
(an hour). Instead, while a run executes a ``RunHeartbeat`` thread stamps
``heartbeat_at`` every ``REPORTS_HEARTBEAT_SECONDS``, and the beat task
``recover_stalled_report_runs`` re-queues (or, after
``REPORTS_RECOVERY_MAX_ATTEMPTS`` starts, fails) runs whose heartbeat stopped:
see ``analytics.services.report_runs_recover``.
"""

from __future__ import annotations

import logging
import threading
from contextlib import nullcontext
from datetime import timedelta

from celery import Task, shared_task
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerOperationalError

from analytics.fanout import fit_units_work
from analytics.models import ReportRun, RunStatus
from analytics.pipeline import StageError, report_run_pipeline
from analytics.services import (
    RunSuperseded,
    report_run_fail,
    report_run_heartbeat,
    report_run_request,
    report_runs_recover,
)

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
            report_run_fail(
                run_id=run_id,
                message=f"{type(exc).__name__}: {exc} (after {self.request.retries} retries)",
                delivery=kwargs.get("delivery"),
            )


class RunHeartbeat:
    """Context manager: a daemon thread stamps the run's ``heartbeat_at`` every ``interval`` seconds.

    The thread uses its own database connection (closed when it stops); a
    database error is logged and the next beat tries again, so a short outage
    does not stop the heartbeat for good.
    """

    def __init__(self, run_id: int, delivery: int | None, interval: float):
        self.run_id, self.delivery, self.interval = run_id, delivery, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"report-run-{run_id}-heartbeat", daemon=True)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    if not report_run_heartbeat(run_id=self.run_id, delivery=self.delivery):
                        logger.warning("Report run %s is no longer this worker's to run (re-queued or finished).", self.run_id)
                except DatabaseError:
                    logger.warning("Report run %s: heartbeat not recorded (database error); retrying", self.run_id, exc_info=True)
        finally:
            connections.close_all()  # this thread's connections only

    def __enter__(self) -> RunHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 10)


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
def report_run_execute(self, run_id: int, delivery: int | None = None) -> str:
    """Run the report pipeline for ``run_id``; returns the final status ("superseded": obsolete message, nothing done).

    ``delivery`` is the run's delivery number when the message was sent (None
    for messages from before heartbeats existed: always executed).
    """
    if not ReportRun.objects.filter(pk=run_id).exists():
        logger.warning("Report run %s does not exist; nothing to do.", run_id)
        return "missing"
    interval = settings.REPORTS_HEARTBEAT_SECONDS
    heartbeat = RunHeartbeat(run_id, delivery, interval) if interval > 0 and not self.request.is_eager else nullcontext()
    try:
        with heartbeat:
            report_run_pipeline(run_id, delivery=delivery, queue=(self.request.delivery_info or {}).get("routing_key"))
    except RunSuperseded as exc:
        logger.warning("Report run %s: obsolete message, nothing done (%s)", run_id, exc)
        return "superseded"
    except StageError as exc:
        if _transient(exc):
            raise exc.cause from exc  # autoretry_for re-queues it; on_failure records the last one
        logger.exception("Report run %s failed in stage %s", run_id, exc.stage)
        report_run_fail(run_id=run_id, stage=exc.stage, message=str(exc), delivery=delivery)
        return RunStatus.FAILED
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        logger.exception("Report run %s failed", run_id)
        report_run_fail(run_id=run_id, message=f"{type(exc).__name__}: {exc}", delivery=delivery)
        return RunStatus.FAILED
    return RunStatus.SUCCEEDED


@shared_task(name="analytics.tasks.fit_units_work", ignore_result=True, acks_late=False)
def fit_units_work_task(token: str) -> str:
    """Take and run one unit of a report's fan-out (analytics.fanout); "" when none was left.

    Acknowledged on receipt: a unit whose worker dies is re-run by the coordinating process after
    ``REPORTS_FIT_UNIT_TIMEOUT_SECONDS``, not redelivered.
    """
    return fit_units_work(token)


@shared_task(name="analytics.tasks.recover_stalled_report_runs", ignore_result=True)
def recover_stalled_report_runs() -> dict[str, list[int]]:
    """Beat, every ``REPORTS_RECOVERY_SWEEP_SECONDS``: re-queue or fail runs whose worker stopped heartbeating."""
    return report_runs_recover()


def report_runs_fail_stale(*, older_than: timedelta | None = None) -> int:
    """Mark runs that have been running (or queued) far longer than any run takes as failed."""
    limit = older_than or timedelta(seconds=getattr(settings, "REPORTS_STALE_AFTER_SECONDS", 6 * 3600))
    cutoff = timezone.now() - limit
    stale = ReportRun.objects.filter(status__in=[RunStatus.RUNNING, RunStatus.QUEUED], created_at__lt=cutoff)
    ids = list(stale.values_list("pk", flat=True))
    for run_id in ids:
        report_run_fail(run_id=run_id, message=f"No progress for more than {limit}; the worker was probably lost.")
    return len(ids)


@shared_task(
    name="analytics.tasks.refresh_default_report",
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    max_retries=MAX_RETRIES,
    retry_backoff=60,
)
def refresh_default_report() -> int:
    """Nightly (beat): fail stale runs, then request the default report (re-used if the data did not change)."""
    report_runs_fail_stale()
    run, reused = report_run_request(actor=None, parameters={})
    logger.info("Default report: run %s (%s)", run.pk, "re-used, data unchanged" if reused else "queued")
    return run.pk
