"""Issue 17 item 5: a report's fit jobs fanned out across two real Celery workers (Redis, PostgreSQL)
give byte for byte the result.json numbers of the serial in-process path."""

from __future__ import annotations

import json
import re

import pytest
from django.test import override_settings

from analytics.compute import numbers_compute
from analytics.dataset import snapshot_extract, snapshot_fingerprint
from analytics.derive import analysis_sets_build
from analytics.fits import fit_units
from analytics.parameters import parameters_parse
from analytics.render.files import numbers_json, result_numbers
from analytics.services import report_run_request
from tests.analytics.seeded import seeded_registry
from tests.integration.conftest import start_worker, stop_worker
from tests.integration.test_report_worker import wait_finished

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
UNIT_DONE = re.compile(r"analytics\.tasks\.fit_units_work\[[^\]]+\] succeeded in [\d.e-]+s: '([^']+)'")


@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_fanned_out_report_gives_the_serial_numbers_byte_for_byte(postgres_and_redis, private_queue, tmp_path):
    seeded_registry(80)
    parameters = {"strata": ["modality", "site", "augmentation", "region"]}
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers = [start_worker(postgres_and_redis, private_queue, log) for log in logs]
    try:
        run, reused = report_run_request(actor=None, parameters=parameters)
        assert not reused
        run = wait_finished(run.pk, logs[0])
        assert run.status == "succeeded", run.error_message
    finally:
        for process in workers:
            stop_worker(process)
    texts = [log.read_text() for log in logs]
    runner = next(i for i, text in enumerate(texts) if "analytics.tasks.report_run_execute[" in text)
    helped = UNIT_DONE.findall(texts[1 - runner])
    assert helped, f"the other worker ran no fit unit:\n{texts[1 - runner][-3000:]}"
    assert len(helped) < len(fit_units(parameters["strata"]))  # the run's own worker computed the rest

    params = parameters_parse(parameters)
    snapshot = snapshot_extract()
    serial = numbers_compute(analysis_sets_build(snapshot, params), params, fingerprint=snapshot_fingerprint(snapshot))
    fanned = result_numbers(json.loads((run.directory / "result.json").read_text()))
    assert "fit_failures" not in fanned
    assert numbers_json(fanned) == numbers_json(serial)
