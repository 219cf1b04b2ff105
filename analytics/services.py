"""Writes to ReportRun — the only place its status, progress and result change.

A run moves queued → running → succeeded | failed. ``report_run_request``
reuses a succeeded run with the same parameters and the same data fingerprint
instead of recomputing, and otherwise enqueues the task on transaction commit
(STYLE.md "Side effects") so the worker never reads an uncommitted run.

Recovery (issue 14): a running run carries a heartbeat (``heartbeat_at``), written at
start, at every stage and by a timer thread in the worker. ``report_runs_recover``
(a beat task every few tens of seconds) re-queues a running run whose heartbeat
is older than ``REPORTS_HEARTBEAT_STALE_SECONDS`` — its worker was killed — or
fails it with a readable message once it has been started
``REPORTS_RECOVERY_MAX_ATTEMPTS`` times. Each re-queue bumps ``delivery``; a
task message carrying an older number (the dead worker's message, redelivered
by the broker later) raises ``RunSuperseded`` and does nothing, so a run
completes exactly once.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from analytics.dataset import registry_data_version
from analytics.models import ReportRun, RunStatus
from analytics.parameters import parameters_parse
from trials.access import access_for

logger = logging.getLogger(__name__)
MAX_ERROR_LENGTH = 4000


class ReportQuotaExceeded(Exception):
    """The user already has ``REPORTS_MAX_ACTIVE_RUNS_PER_USER`` runs queued or running (HTTP 429)."""

    def __init__(self, limit: int):
        super().__init__(
            f"You already have {limit} report runs queued or running; wait until one of them finishes before "
            "requesting another (a run whose parameters and data have not changed is reused without counting)."
        )
        self.limit = limit


def check_report_quota(*, actor) -> None:
    """Raise ``ReportQuotaExceeded`` when ``actor`` has as many unfinished runs as the per-user limit.

    Called inside the transaction that creates the run, with the user's row locked, so two
    simultaneous requests cannot both take the last free place.
    """
    limit = settings.REPORTS_MAX_ACTIVE_RUNS_PER_USER
    get_user_model()._default_manager.select_for_update().filter(pk=actor.pk).first()
    active = ReportRun.objects.filter(requested_by=actor, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).count()
    if active >= limit:
        raise ReportQuotaExceeded(limit)


class RunSuperseded(Exception):
    """This task message is obsolete: the run was re-queued since (newer ``delivery``) or is already finished."""


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

    ``actor`` None is the system (nightly beat, command line), which has no quota. A user must be
    allowed to start reports (``PermissionDenied`` for sponsors) and may have at most
    ``REPORTS_MAX_ACTIVE_RUNS_PER_USER`` new runs unfinished (``ReportQuotaExceeded``). Reuse is
    decided on the registry's data version (one cheap query, see
    ``registry_data_version``) rather than by re-extracting the snapshot in the
    request; ``force`` skips reuse.
    """
    if actor is not None and not access_for(actor).can_start_reports:
        raise PermissionDenied(
            "Only investigators and data managers start report runs; sponsors read the finished reports."
            if access_for(actor).can_request_reports
            else "Your role may not request analysis reports."
        )
    params = parameters_parse(parameters)
    if not force:
        existing = reusable_run(parameters_key=params.key, data_version=registry_data_version())
        if existing is not None:
            return existing, True
    with transaction.atomic():
        if actor is not None:
            check_report_quota(actor=actor)
        run = ReportRun.objects.create(
            parameters=params.as_dict(), parameters_key=params.key, requested_by=actor, status=RunStatus.QUEUED
        )
        if enqueue:
            transaction.on_commit(lambda: report_run_enqueue(run.pk))
    return run, False


def report_run_enqueue(run_id: int) -> None:
    """Send the task; a broker outage marks the run failed rather than leaving it queued forever."""
    from analytics.tasks import report_run_execute

    delivery = ReportRun.objects.filter(pk=run_id).values_list("delivery", flat=True).first()
    try:
        report_run_execute.delay(run_id, delivery=delivery)
    except Exception as exc:  # noqa: BLE001 - any broker error must be recorded on the run
        logger.exception("Could not enqueue report run %s", run_id)
        report_run_fail(run_id=run_id, message=f"Could not queue the run on the worker: {exc}")


@transaction.atomic
def report_run_start(*, run_id: int, delivery: int | None = None) -> ReportRun:
    """Mark running (again, on a retry or redelivery): progress reset, previous error cleared.

    ``delivery`` is the number the task message carries (None: not sent by a
    message, e.g. ``run_report --sync``). Raises ``RunSuperseded`` when the run
    was re-queued since, or has already finished, so the message does nothing.
    """
    run = ReportRun.objects.select_for_update().get(pk=run_id)
    if delivery is not None and run.delivery != delivery:
        raise RunSuperseded(f"Report run {run_id} was re-queued since this message (delivery {delivery}, now {run.delivery}).")
    if delivery is not None and run.is_finished:
        raise RunSuperseded(f"Report run {run_id} has already finished ({run.status}).")
    run.status = RunStatus.RUNNING
    run.progress = 0
    run.stage = ""
    run.error_message = ""
    run.timings = {}
    run.started_at = run.heartbeat_at = timezone.now()
    run.finished_at = None
    run.attempts = F("attempts") + 1
    run.save()
    run.refresh_from_db()
    return run


def _this_delivery(run_id: int, delivery: int | None):
    """The run while it is running under this delivery (any delivery when None)."""
    runs = ReportRun.objects.filter(pk=run_id, status=RunStatus.RUNNING)
    return runs if delivery is None else runs.filter(delivery=delivery)


def report_run_progress(
    *, run_id: int, stage: str, progress: int, timings: dict[str, float] | None = None, delivery: int | None = None
) -> None:
    """One UPDATE (also a heartbeat); no row lock, so a terminal watching the run never blocks the worker."""
    changes: dict[str, Any] = {"stage": stage, "progress": max(0, min(100, int(progress))), "heartbeat_at": timezone.now()}
    if timings is not None:
        changes["timings"] = timings
    _this_delivery(run_id, delivery).update(**changes)


def report_run_heartbeat(*, run_id: int, delivery: int | None = None) -> bool:
    """Record that the worker running ``run_id`` is alive; False when the run is no longer its to run."""
    return bool(_this_delivery(run_id, delivery).update(heartbeat_at=timezone.now()))


@transaction.atomic
def report_run_succeed(
    *,
    run_id: int,
    fingerprint: str,
    result: dict[str, Any],
    artifacts: list[str],
    timings: dict[str, float],
    data_version: str = "",
    delivery: int | None = None,
) -> ReportRun:
    """Store the result; raises ``RunSuperseded`` if the run was re-queued or given up on meanwhile."""
    run = ReportRun.objects.select_for_update().get(pk=run_id)
    if delivery is not None and (run.delivery != delivery or run.status != RunStatus.RUNNING):
        raise RunSuperseded(f"Report run {run_id} was re-queued or stopped while this worker ran it; its result is not stored.")
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


def report_run_fail(*, run_id: int, message: str, stage: str | None = None, delivery: int | None = None) -> None:
    """Record a readable failure; works whatever state the run is in (never stuck running).

    With ``delivery``, only while the run still belongs to that delivery (a worker
    whose run was re-queued meanwhile does not fail the new attempt).
    """
    text = message.strip() or "The report run failed without an error message."
    if stage:
        text = f"Stage '{stage}' failed: {text}"
    runs = ReportRun.objects.filter(pk=run_id)
    if delivery is not None:
        runs = runs.filter(delivery=delivery)
    runs.update(status=RunStatus.FAILED, error_message=text[:MAX_ERROR_LENGTH], finished_at=timezone.now())


def stalled_runs(stale: Q) -> list[tuple[int, int, int, Any]]:
    """``(id, delivery, attempts, heartbeat_at)`` of running runs matching ``stale`` (read without locks)."""
    return list(
        ReportRun.objects.filter(stale, status=RunStatus.RUNNING).values_list("pk", "delivery", "attempts", "heartbeat_at")
    )


def report_runs_recover(*, stale_after: float | None = None, max_attempts: int | None = None) -> dict[str, list[int]]:
    """Re-queue running runs whose worker stopped heartbeating; fail those started ``max_attempts`` times.

    ``stale_after`` (seconds, default ``REPORTS_HEARTBEAT_STALE_SECONDS``) must
    be several heartbeat intervals. Each run is taken by one conditional UPDATE
    (still running, same delivery, heartbeat still stale), so two sweeps running
    at once (overlapping beat ticks, two beat processes) act on it exactly once.
    Returns ``{"requeued": [ids], "failed": [ids]}``.
    """
    stale_after = settings.REPORTS_HEARTBEAT_STALE_SECONDS if stale_after is None else stale_after
    max_attempts = settings.REPORTS_RECOVERY_MAX_ATTEMPTS if max_attempts is None else max_attempts
    now = timezone.now()
    cutoff = now - timedelta(seconds=stale_after)
    stale = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    done: dict[str, list[int]] = {"requeued": [], "failed": []}
    for run_id, delivery, attempts, heartbeat_at in stalled_runs(stale):
        this_one = ReportRun.objects.filter(stale, pk=run_id, status=RunStatus.RUNNING, delivery=delivery)
        last = f"{heartbeat_at:%Y-%m-%d %H:%M:%S %Z}" if heartbeat_at else "its start"
        if attempts >= max_attempts:
            message = (
                f"The worker running this report stopped responding (no heartbeat for {stale_after:g} s, last at {last}) "
                f"and the run had already been started {attempts} times, so it was stopped rather than retried again. "
                "Request the report again; if this repeats, check the worker's logs (memory limit, killed container)."
            )
            if this_one.update(status=RunStatus.FAILED, delivery=F("delivery") + 1, error_message=message, finished_at=now):
                logger.error("Report run %s: worker lost on attempt %s; failed", run_id, attempts)
                done["failed"].append(run_id)
            continue
        with transaction.atomic():
            if this_one.update(status=RunStatus.QUEUED, delivery=F("delivery") + 1, stage="", progress=0, heartbeat_at=None):
                logger.warning("Report run %s: no heartbeat since %s; re-queued (attempt %s was lost)", run_id, last, attempts)
                transaction.on_commit(functools.partial(report_run_enqueue, run_id))
                done["requeued"].append(run_id)
    return done
