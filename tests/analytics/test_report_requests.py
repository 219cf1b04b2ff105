"""Report run requests that need no registry data: role, parameter validation, the nightly sweep of stale runs
(kept apart from test_pipeline.py, whose module-wide seeded registry already holds the ATL site)."""

from __future__ import annotations

import pytest

from analytics import services
from analytics.models import ReportRun, RunStatus
from analytics.tasks import report_runs_fail_stale

pytestmark = pytest.mark.django_db


def test_requests_need_a_reporting_role(coordinator):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.report_run_request(actor=coordinator, parameters={})


def test_unknown_parameters_are_rejected_naming_the_field(db):
    from trials.errors import DomainValidationError

    with pytest.raises(DomainValidationError) as error:
        services.report_run_request(actor=None, parameters={"strata": ["colour"]})
    assert "strata" in error.value.errors


def test_stale_running_runs_are_failed_by_the_nightly_sweep(db):
    import datetime as dt

    run = ReportRun.objects.create(parameters={}, parameters_key="x", status=RunStatus.RUNNING)
    ReportRun.objects.filter(pk=run.pk).update(created_at=run.created_at - dt.timedelta(days=1))
    assert report_runs_fail_stale() == 1
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "worker" in run.error_message
