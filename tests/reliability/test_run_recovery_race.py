"""Two recovery sweeps at once (overlapping beat ticks, or two beat processes) act on each stalled run
exactly once: one re-queue, one message, one delivery bump (issue 14). Real concurrent transactions on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import close_old_connections
from django.utils import timezone

from analytics import services
from analytics.models import ReportRun, RunStatus

pytestmark = pytest.mark.django_db(transaction=True)
SWEEPS = 3


def test_overlapping_sweeps_requeue_or_fail_each_stalled_run_exactly_once(postgres, monkeypatch, settings):
    settings.REPORTS_HEARTBEAT_STALE_SECONDS = 60
    settings.REPORTS_RECOVERY_MAX_ATTEMPTS = 3
    old = timezone.now() - dt.timedelta(minutes=10)
    runs = [
        ReportRun.objects.create(
            parameters={},
            parameters_key=str(i),
            status=RunStatus.RUNNING,
            attempts=1 + (i % 4 == 0) * 2,
            started_at=old,
            heartbeat_at=old,
        )
        for i in range(12)
    ]
    to_fail = {run.pk for run in runs if run.attempts >= 3}
    sent: list[int] = []
    monkeypatch.setattr(services, "report_run_enqueue", lambda run_id: sent.append(run_id))
    # every sweep has read the whole stalled list before any of them writes: a real overlap, every time
    real_list, listed = services.stalled_runs, threading.Barrier(SWEEPS)

    def list_then_wait(stale):
        found = real_list(stale)
        listed.wait(timeout=30)
        return found

    monkeypatch.setattr(services, "stalled_runs", list_then_wait)
    outcomes: list[dict[str, list[int]]] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            outcomes.append(services.report_runs_recover())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=sweep) for _ in range(SWEEPS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    requeued = [pk for outcome in outcomes for pk in outcome["requeued"]]
    failed = [pk for outcome in outcomes for pk in outcome["failed"]]
    assert sorted(requeued) == sorted(sent) == sorted({run.pk for run in runs} - to_fail)  # each once, across sweeps
    assert sorted(failed) == sorted(to_fail)
    for run in ReportRun.objects.filter(pk__in=[r.pk for r in runs]):
        assert run.delivery == 1, (run.pk, run.delivery)  # bumped once, not once per sweep
        assert run.status == (RunStatus.FAILED if run.pk in to_fail else RunStatus.QUEUED)
