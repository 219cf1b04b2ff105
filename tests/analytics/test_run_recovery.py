"""Run recovery (issue 14): heartbeats, the beat sweep that re-queues or fails runs whose worker died,
and obsolete task messages doing nothing. The whole-worker SIGKILL is in tests/integration/test_worker_killed.py."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from django.utils import timezone

from analytics import services
from analytics.models import ReportRun, RunStatus
from analytics.tasks import RunHeartbeat, recover_stalled_report_runs, report_run_execute
from tests.analytics.seeded import seeded_registry

pytestmark = pytest.mark.django_db


def _running(*, heartbeat_age: float | None, attempts: int = 1, delivery: int = 0) -> ReportRun:
    """A run a worker started (``attempts`` times) and last heartbeat ``heartbeat_age`` seconds ago."""
    run, _ = services.report_run_request(actor=None, parameters={}, force=True, enqueue=False)
    beat = None if heartbeat_age is None else timezone.now() - dt.timedelta(seconds=heartbeat_age)
    started = timezone.now() - dt.timedelta(seconds=(heartbeat_age or 0) + 60)
    ReportRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING,
        stage="compute",
        progress=40,
        attempts=attempts,
        delivery=delivery,
        heartbeat_at=beat,
        started_at=started,
    )
    return ReportRun.objects.get(pk=run.pk)


def test_start_and_every_stage_stamp_the_heartbeat(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    run, _ = services.report_run_request(actor=None, parameters={}, force=True, enqueue=False)
    assert run.heartbeat_at is None
    started = services.report_run_start(run_id=run.pk, delivery=0)
    assert started.heartbeat_at == started.started_at
    ReportRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - dt.timedelta(hours=1))
    services.report_run_progress(run_id=run.pk, stage="derive", progress=25, delivery=0)
    assert timezone.now() - ReportRun.objects.get(pk=run.pk).heartbeat_at < dt.timedelta(seconds=5)


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_stamps_the_run_on_a_timer_and_stops_with_the_run():
    run = _running(heartbeat_age=3600)
    with RunHeartbeat(run.pk, 0, interval=0.05) as heartbeat:
        deadline = time.monotonic() + 10
        while ReportRun.objects.get(pk=run.pk).heartbeat_at < timezone.now() - dt.timedelta(seconds=60):
            assert time.monotonic() < deadline, "no heartbeat within 10 s"
            time.sleep(0.05)
    assert not heartbeat._thread.is_alive()
    # a heartbeat for a delivery that is no longer current records nothing
    assert services.report_run_heartbeat(run_id=run.pk, delivery=0)
    assert not services.report_run_heartbeat(run_id=run.pk, delivery=1)


def test_a_live_run_and_queued_runs_are_left_alone(settings):
    settings.REPORTS_HEARTBEAT_STALE_SECONDS = 120
    live = _running(heartbeat_age=30)
    queued, _ = services.report_run_request(actor=None, parameters={}, force=True, enqueue=False)
    assert recover_stalled_report_runs() == {"requeued": [], "failed": []}
    assert ReportRun.objects.get(pk=live.pk).status == RunStatus.RUNNING
    assert ReportRun.objects.get(pk=queued.pk).status == RunStatus.QUEUED


def test_a_run_whose_worker_died_is_requeued_and_then_completes_once(settings, tmp_path, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path
    settings.REPORTS_HEARTBEAT_STALE_SECONDS = 120
    seeded_registry(30)
    dead = _running(heartbeat_age=300)
    busy = _running(heartbeat_age=None)
    services.report_run_progress(run_id=busy.pk, stage="derive", progress=25)  # a stage just ended: alive
    with django_capture_on_commit_callbacks(execute=False) as sends:
        outcome = recover_stalled_report_runs()
    assert outcome == {"requeued": [dead.pk], "failed": []}
    assert ReportRun.objects.get(pk=busy.pk).status == RunStatus.RUNNING
    requeued = ReportRun.objects.get(pk=dead.pk)
    assert (requeued.status, requeued.delivery, requeued.stage, requeued.progress) == (RunStatus.QUEUED, 1, "", 0)
    assert len(sends) == 1
    sends[0]()  # the message is sent on commit; in tests the worker is eager
    done = ReportRun.objects.get(pk=dead.pk)
    assert (done.status, done.attempts, done.delivery) == (RunStatus.SUCCEEDED, 2, 1), done.error_message
    # the dead worker's own message, redelivered by the broker later, does nothing
    assert report_run_execute.apply(args=[dead.pk], kwargs={"delivery": 0}).get() == "superseded"
    # ... and neither does a duplicate of the current one once the run has finished
    assert report_run_execute.apply(args=[dead.pk], kwargs={"delivery": 1}).get() == "superseded"
    assert ReportRun.objects.get(pk=dead.pk).attempts == 2


def test_a_run_without_any_heartbeat_is_judged_by_its_start_time(settings):
    settings.REPORTS_HEARTBEAT_STALE_SECONDS = 30
    run = _running(heartbeat_age=None)  # started 60 s ago and never stamped
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services, "report_run_enqueue", lambda run_id: None)
        assert recover_stalled_report_runs()["requeued"] == [run.pk]


def test_after_max_attempts_the_run_is_failed_with_a_readable_message(settings):
    settings.REPORTS_HEARTBEAT_STALE_SECONDS = 120
    settings.REPORTS_RECOVERY_MAX_ATTEMPTS = 3
    run = _running(heartbeat_age=600, attempts=3)
    assert recover_stalled_report_runs() == {"requeued": [], "failed": [run.pk]}
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.finished_at is not None and run.delivery == 1
    assert "stopped responding" in run.error_message and "started 3 times" in run.error_message
    assert "Request the report again" in run.error_message
    # the lost worker's message, redelivered later, cannot revive it
    assert report_run_execute.apply(args=[run.pk], kwargs={"delivery": 0}).get() == "superseded"
    assert ReportRun.objects.get(pk=run.pk).status == RunStatus.FAILED


def test_a_worker_whose_run_was_requeued_cannot_store_its_result_or_fail_the_new_attempt(settings):
    run = _running(heartbeat_age=0, delivery=0)
    ReportRun.objects.filter(pk=run.pk).update(delivery=1)  # the sweep re-queued it; a new worker is on it
    with pytest.raises(services.RunSuperseded):
        services.report_run_succeed(run_id=run.pk, fingerprint="f" * 64, result={}, artifacts=[], timings={}, delivery=0)
    services.report_run_fail(run_id=run.pk, message="late error from the old worker", delivery=0)
    run.refresh_from_db()
    assert (run.status, run.error_message) == (RunStatus.RUNNING, "")


def test_stale_must_span_several_heartbeats():
    import subprocess
    import sys

    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings.test'; django.setup()"
    env = {"REPORTS_HEARTBEAT_SECONDS": "60", "REPORTS_HEARTBEAT_STALE_SECONDS": "90", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    assert out.returncode != 0 and "at least 3 x REPORTS_HEARTBEAT_SECONDS" in out.stderr


def test_the_operator_command_lists_unfinished_runs_and_recovers_a_stalled_one(settings, monkeypatch):
    from io import StringIO

    from django.core.management import call_command

    settings.REPORTS_HEARTBEAT_STALE_SECONDS = 120
    monkeypatch.setattr(services, "report_run_enqueue", lambda run_id: None)  # the message itself is tested above
    live, dead = _running(heartbeat_age=10), _running(heartbeat_age=600)
    out = StringIO()
    call_command("recover_report_runs", stdout=out)
    text = out.getvalue()
    assert re.search(rf"run {live.pk}: running, stage 'compute', attempt 1, last heartbeat 1\d s ago", text), text
    assert f"run {dead.pk}: worker lost; re-queued" in text and f"run {live.pk}: worker lost" not in text
    assert ReportRun.objects.get(pk=dead.pk).status == RunStatus.QUEUED
    out = StringIO()
    call_command("recover_report_runs", "--stale-after", "5", stdout=out)
    assert f"run {live.pk}: worker lost; re-queued" in out.getvalue()


def test_the_admin_shows_each_runs_attempts_and_last_heartbeat(admin_client):
    run = _running(heartbeat_age=600, attempts=2)
    listing = admin_client.get("/admin/analytics/reportrun/").content.decode()
    assert "column-heartbeat_at" in listing and "column-attempts" in listing
    detail = admin_client.get(f"/admin/analytics/reportrun/{run.pk}/change/").content.decode()
    assert "field-heartbeat_at" in detail and "field-delivery" in detail
