"""Broker outage (issue 7 §2): visits are still saved; report requests are refused with 503 + Retry-After, never lost.

The broker is a real closed port on loopback, not a mock: every attempt to
reach it fails the way a stopped Redis does.
"""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from analytics.models import ReportRun, RunStatus
from config.celery_app import app as celery_app
from tests.factories import if_match
from trials.models import PainAssessment, Visit

pytestmark = pytest.mark.django_db

CLOSED_PORT_BROKER = "redis://127.0.0.1:1/0"


@pytest.fixture
def broker_down(monkeypatch):
    monkeypatch.setattr(
        celery_app.conf, "broker_write_url", None, raising=False
    )  # first: its current value reads the environment
    monkeypatch.setattr(celery_app.conf, "broker_url", CLOSED_PORT_BROKER)
    monkeypatch.setenv("CELERY_BROKER_URL", CLOSED_PORT_BROKER)  # Celery's conf.broker_url reads the environment first
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=CLOSED_PORT_BROKER):
        yield


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_visit_saves_while_broker_is_down(broker_down, patient, coordinator):
    visit = Visit.objects.get(patient=patient, visit_code="month1")
    response = client_for(coordinator).patch(
        f"/api/v1/visits/{visit.pk}/",
        {"visit_date": str(visit.target_date), "opioid_status": "none", "pain": {"worst": 3}},
        format="json",
        **if_match(visit),
    )
    assert response.status_code == 200, response.content
    assert PainAssessment.objects.get(visit=visit).worst == 3


def test_report_request_refused_with_retry_after_and_nothing_left_queued(broker_down, investigator, patient):
    before = ReportRun.objects.count()
    response = client_for(investigator).post("/api/v1/reports/", {"strata": ["modality"], "force": True}, format="json")
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    body = response.json()
    assert body["status"] == 503 and body["code"] == "service_unavailable" and "broker" in body["detail"]
    # refused, not silently accepted: no run waits for a message that was never sent
    assert ReportRun.objects.count() == before
    assert not ReportRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).exists()
