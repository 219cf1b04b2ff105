"""The registry data version: a cheap token that changes with every clinical change and with nothing else."""

import pytest

from analytics.dataset import registry_data_version
from analytics.models import ReportRun, RunStatus
from analytics.services import report_run_request
from trials import services

pytestmark = pytest.mark.django_db


def test_data_version_changes_with_each_clinical_write_only(patient, coordinator):
    v1 = registry_data_version()
    assert registry_data_version() == v1  # reading changes nothing
    services.clinical_record_update(actor=coordinator, instance=patient, changes={"ecog": 2}, reason="Re-assessed")
    v2 = registry_data_version()
    assert v2 != v1
    lesion = patient.lesions.first()
    services.clinical_record_void(actor=coordinator, instance=lesion, reason="Duplicate entry")
    assert registry_data_version() not in (v1, v2)


def test_reuse_is_decided_without_extracting_the_snapshot(
    patient, investigator, coordinator, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the eager task runs on commit
        run, reused = report_run_request(actor=investigator, parameters={"strata": ["modality"]})
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and not reused and run.data_version == registry_data_version()
    with django_assert_max_num_queries(4):  # memberships, data version, the reuse lookup — no frame queries
        again, reused = report_run_request(actor=investigator, parameters={"strata": ["modality"]})
    assert reused and again.pk == run.pk
    services.clinical_record_update(actor=coordinator, instance=patient, changes={"ecog": 0}, reason="Re-assessed")
    fresh, reused = report_run_request(actor=investigator, parameters={"strata": ["modality"]})
    assert not reused and fresh.pk != run.pk and ReportRun.objects.count() == 2
