"""A whole worker killed with SIGKILL mid-report: the run is back within minutes and completes exactly once (issues 7, 14).

The worker (main process + prefork child, in its own process group) is killed
with ``killpg(SIGKILL)``, as the kernel's OOM killer or ``docker compose stop``
past its grace period would: nothing rejects the message, which stays
unacknowledged in Redis until the broker's visibility timeout (an hour). The
run's heartbeat stops instead; the real beat process's recovery sweep sees it
stale and re-queues the run with a new delivery number; a second worker
completes it. Intervals are shortened through the environment (heartbeat 1 s,
stale after 4 s, sweep every 1 s) so this takes seconds; production defaults
recover within stale + sweep = 3 minutes.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from django.test import override_settings
from django.utils import timezone

from analytics.dataset import snapshot_extract, snapshot_fingerprint
from analytics.models import ReportRun, RunStatus
from analytics.services import report_run_request
from tests.analytics.seeded import seeded_registry
from tests.integration.conftest import start_beat, start_worker, stop_worker
from tests.integration.test_report_worker import wait_finished

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
RECOVERY_PROMISE_SECONDS = 5 * 60
PATIENTS = 60


def wait_running(run_id: int, log, timeout: float = 120) -> ReportRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = ReportRun.objects.get(pk=run_id)
        if run.status == RunStatus.RUNNING and run.stage not in ("", "extract"):
            return run
        if run.is_finished:
            pytest.fail(f"run finished before it could be interrupted: {run.status}")
        time.sleep(0.05)
    pytest.fail(f"run {run_id} never started:\n{log.read_text()[-3000:]}")


@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_whole_worker_sigkilled_mid_run_is_recovered_by_the_heartbeat_sweep_exactly_once(
    postgres_and_redis, private_queue, tmp_path
):
    fast = {
        "REPORTS_HEARTBEAT_SECONDS": "1",
        "REPORTS_HEARTBEAT_STALE_SECONDS": "4",
        "REPORTS_RECOVERY_SWEEP_SECONDS": "1",
        "CELERY_TASK_DEFAULT_QUEUE": private_queue,  # beat's sweeps and the sweep's re-queue go to this test's queue
        "CELERY_VISIBILITY_TIMEOUT": "3600",  # recovery must not come from the broker's redelivery
    }
    seeded_registry(PATIENTS)
    first_log, second_log, beat_log = tmp_path / "worker1.log", tmp_path / "worker2.log", tmp_path / "beat.log"
    beat = start_beat(postgres_and_redis, beat_log, tmp_path / "celerybeat-schedule", **fast)
    try:
        first = start_worker(postgres_and_redis, private_queue, first_log, pool="prefork", own_process_group=True, **fast)
        try:
            run, _ = report_run_request(actor=None, parameters={"strata": ["modality", "region"]}, force=True)
            interrupted = wait_running(run.pk, first_log)
            assert (interrupted.attempts, interrupted.delivery) == (1, 0)  # the sweep leaves a live run alone
            assert timezone.now() - interrupted.heartbeat_at < timezone.timedelta(seconds=4)
            os.killpg(first.pid, signal.SIGKILL)  # the main process and its pool child at once
            first.wait(timeout=10)
            killed_at = time.monotonic()
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
        assert ReportRun.objects.get(pk=run.pk).status == RunStatus.RUNNING  # left mid-way: nobody rejected its message
        second = start_worker(postgres_and_redis, private_queue, second_log, **fast)
        try:
            done = wait_finished(run.pk, second_log, timeout=RECOVERY_PROMISE_SECONDS)
            recovered_in = time.monotonic() - killed_at
        finally:
            stop_worker(second)
    finally:
        stop_worker(beat)
    assert done.status == RunStatus.SUCCEEDED, done.error_message
    assert recovered_in < RECOVERY_PROMISE_SECONDS
    print(f"recovered and completed {recovered_in:.1f} s after the kill")  # noqa: T201 - the figure the README quotes
    assert "recover_stalled_report_runs" in beat_log.read_text()  # the real beat drove the sweep
    assert (done.attempts, done.delivery) == (2, 1)  # started once by each worker, re-queued once, finished once
    second_text = second_log.read_text()
    assert second_text.count("Task analytics.tasks.report_run_execute[") == 2  # received + succeeded, once
    assert "succeeded" in second_text and "obsolete message" not in second_text
    assert ReportRun.objects.count() == 1
    assert done.fingerprint == snapshot_fingerprint(snapshot_extract())
    assert {"result.json", "adtte.csv", "adresp.csv", "tables.xlsx", "report.pdf"} <= set(done.artifacts)
    for name in done.artifacts:
        assert (done.directory / name).stat().st_size > 0
    result = json.loads((done.directory / "result.json").read_text())
    assert result["fingerprint"] == done.fingerprint and result["n_patients"] == done.result["n_patients"] > PATIENTS * 3 // 4
    assert (done.directory / "report.pdf").read_bytes().startswith(b"%PDF")
