"""A worker killed with SIGKILL mid-report: the run is redelivered and completes exactly once (issue 7 §1).

Late acknowledgement + ``reject_on_worker_lost`` keep the message unacknowledged
in Redis; a new worker restores it after the visibility timeout (shortened here
to 5 s) and the idempotent stages rewrite the same artifacts.
"""

from __future__ import annotations

import json
import signal
import time

import pytest
from django.test import override_settings

from analytics.dataset import snapshot_extract, snapshot_fingerprint
from analytics.models import ReportRun, RunStatus
from analytics.services import report_run_request
from tests.analytics.seeded import seeded_registry
from tests.integration.conftest import start_worker, stop_worker
from tests.integration.test_report_worker import wait_finished

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
VISIBILITY = {"CELERY_VISIBILITY_TIMEOUT": "5"}


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
def test_sigkill_mid_run_then_new_worker_completes_it_exactly_once(postgres_and_redis, private_queue, tmp_path):
    seeded_registry(150)
    log = tmp_path / "worker.log"
    first = start_worker(postgres_and_redis, private_queue, log, **VISIBILITY)
    try:
        run, _ = report_run_request(actor=None, parameters={"strata": ["modality", "region"]}, force=True)
        interrupted = wait_running(run.pk, log)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert ReportRun.objects.get(pk=run.pk).status == RunStatus.RUNNING  # left mid-way by the dead worker
    second = start_worker(postgres_and_redis, private_queue, log, **VISIBILITY)
    try:
        done = wait_finished(run.pk, log)
    finally:
        stop_worker(second)
    assert done.status == RunStatus.SUCCEEDED, done.error_message
    assert done.attempts == interrupted.attempts + 1 == 2  # started once by each worker, finished once
    assert ReportRun.objects.count() == 1
    assert done.fingerprint == snapshot_fingerprint(snapshot_extract())
    assert {"result.json", "adtte.csv", "adresp.csv", "tables.xlsx", "report.pdf"} <= set(done.artifacts)
    for name in done.artifacts:
        assert (done.directory / name).stat().st_size > 0
    result = json.loads((done.directory / "result.json").read_text())
    assert result["fingerprint"] == done.fingerprint and result["n_patients"] == done.result["n_patients"] > 100
    assert (done.directory / "report.pdf").read_bytes().startswith(b"%PDF")
