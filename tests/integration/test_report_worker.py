"""A report run through a real Celery worker (Redis broker, PostgreSQL), issue 3 "Real services"."""

from __future__ import annotations

import json
import time

import pytest
from django.test import override_settings

from analytics.models import ReportRun, RunStatus
from analytics.services import report_run_request
from tests.analytics.seeded import seeded_registry

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
RUN_TIMEOUT = 300


def wait_finished(run_id: int, log, timeout: float = RUN_TIMEOUT) -> ReportRun:
    deadline, seen = time.monotonic() + timeout, set()
    while time.monotonic() < deadline:
        run = ReportRun.objects.get(pk=run_id)
        seen.add((run.status, run.stage))
        if run.is_finished:
            return run
        time.sleep(0.5)
    pytest.fail(f"run {run_id} not finished after {timeout} s (seen {sorted(seen)}):\n{log.read_text()[-3000:]}")


@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_report_run_through_a_real_worker_produces_the_artifacts(celery_worker_process):
    process, log = celery_worker_process
    seeded_registry(60)
    run, reused = report_run_request(actor=None, parameters={"strata": ["modality"]})
    assert not reused
    assert ReportRun.objects.get(pk=run.pk).status in {RunStatus.QUEUED, RunStatus.RUNNING}  # not run in this process
    run = wait_finished(run.pk, log)
    assert run.status == RunStatus.SUCCEEDED, run.error_message
    assert "analytics.tasks.report_run_execute[" in log.read_text()  # the worker, not this process, ran it
    assert {"result.json", "adtte.csv", "adresp.csv", "tables.xlsx", "report.pdf"} <= set(run.artifacts)
    result = json.loads((run.directory / "result.json").read_text())
    assert result["fingerprint"] == run.fingerprint and result["n_patients"] == run.result["n_patients"] > 50
    assert set(run.timings) == {"extract", "derive", "compute", "render"}
    again, reused = report_run_request(actor=None, parameters={"strata": ["modality"]})
    assert reused and again.pk == run.pk
    assert process.poll() is None
