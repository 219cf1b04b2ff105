"""Writes to ReportRun — the only place its status, progress and result change.

A run moves queued → running → succeeded | failed. ``report_run_request``
reuses a succeeded run with the same parameters and the same data fingerprint
instead of recomputing, and otherwise enqueues the task on transaction commit
(STYLE.md "Side effects") so the worker never reads an uncommitted run.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from analytics.dataset import registry_data_version
from analytics.models import ReportRun, RunStatus
from analytics.parameters import parameters_parse
from trials.access import access_for

logger = logging.getLogger(__name__)
MAX_ERROR_LENGTH = 4000


def reusable_run(*, parameters_key: str, data_version: str) -> ReportRun | None:
    """A succeeded run with these parameters made on data unchanged since (same data version, so same fingerprint)."""
    return (
        ReportRun.objects.filter(parameters_key=parameters_key, data_version=data_version, status=RunStatus.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .first()
    )


def report_run_request(
    *, actor, parameters: dict[str, Any] | None = None, force: bool = False, enqueue: bool = True
) -> tuple[ReportRun, bool]:
    """Return ``(run, reused)``: a finished run for the same parameters and data, or a new queued one.

    ``actor`` None is the system (nightly beat, command line). Reuse is
    decided on the registry's data version (one cheap query, see
    ``registry_data_version``) rather than by re-extracting the snapshot in the
    request; ``force`` skips reuse.
    """
    if actor is not None and not access_for(actor).can_request_reports:
        raise PermissionDenied("Your role may not request analysis reports.")
    params = parameters_parse(parameters)
    if not force:
        existing = reusable_run(parameters_key=params.key, data_version=registry_data_version())
        if existing is not None:
            return existing, True
    with transaction.atomic():
        run = ReportRun.objects.create(
            parameters=params.as_dict(), parameters_key=params.key, requested_by=actor, status=RunStatus.QUEUED
        )
        if enqueue:
            transaction.on_commit(lambda: report_run_enqueue(run.pk))
    return run, False


def report_run_enqueue(run_id: int) -> None:
    """Send the task; a broker outage marks the run failed rather than leaving it queued forever."""
    from analytics.tasks import report_run_execute

    try:
        report_run_execute.delay(run_id)
    except Exception as exc:  # noqa: BLE001 - any broker error must be recorded on the run
        logger.exception("Could not enqueue report run %s", run_id)
        report_run_fail(run_id=run_id, message=f"Could not queue the run on the worker: {exc}")


@transaction.atomic
def report_run_start(*, run_id: int) -> ReportRun:
    """Mark running (again, on a retry or redelivery): progress reset, previous error cleared."""
    run = ReportRun.objects.select_for_update().get(pk=run_id)
    run.status = RunStatus.RUNNING
    run.progress = 0
    run.stage = ""
    run.error_message = ""
    run.timings = {}
    run.started_at = timezone.now()
    run.finished_at = None
    run.attempts = F("attempts") + 1
    run.save()
    run.refresh_from_db()
    return run


def report_run_progress(*, run_id: int, stage: str, progress: int, timings: dict[str, float] | None = None) -> None:
    """One UPDATE; no row lock, so a terminal watching the run never blocks the worker."""
    changes: dict[str, Any] = {"stage": stage, "progress": max(0, min(100, int(progress)))}
    if timings is not None:
        changes["timings"] = timings
    ReportRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(**changes)


@transaction.atomic
def report_run_succeed(
    *,
    run_id: int,
    fingerprint: str,
    result: dict[str, Any],
    artifacts: list[str],
    timings: dict[str, float],
    data_version: str = "",
) -> ReportRun:
    run = ReportRun.objects.select_for_update().get(pk=run_id)
    run.data_version = data_version
    run.status = RunStatus.SUCCEEDED
    run.progress = 100
    run.stage = "done"
    run.fingerprint = fingerprint
    run.result = result
    run.artifacts = sorted(artifacts)
    run.timings = timings
    run.error_message = ""
    run.finished_at = timezone.now()
    run.save()
    return run


def report_run_fail(*, run_id: int, message: str, stage: str | None = None) -> None:
    """Record a readable failure; works whatever state the run is in (never stuck running)."""
    text = message.strip() or "The report run failed without an error message."
    if stage:
        text = f"Stage '{stage}' failed: {text}"
    ReportRun.objects.filter(pk=run_id).update(
        status=RunStatus.FAILED, error_message=text[:MAX_ERROR_LENGTH], finished_at=timezone.now()
    )
