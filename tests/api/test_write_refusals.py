"""Writes that must be refused (issue 14): updates without If-Match (428), sponsors starting report runs (403),
more unfinished report runs than the per-user quota (429)."""

from __future__ import annotations

import pytest
from django.test import Client

from analytics.models import ReportRun, RunStatus
from tests.factories import if_match

pytestmark = pytest.mark.django_db


def test_update_without_if_match_is_428_and_changes_nothing(registry):
    ae = registry.patients["own"].adverse_events.get()
    client = registry.client("coordinator")
    for headers in ({}, {"HTTP_IF_MATCH": "*"}):
        response = client.patch(f"/api/v1/adverse-events/{ae.pk}/", {"outcome": "sequelae", "reason": "SDV"}, format="json", **headers)
        assert response.status_code == 428
        body = response.json()
        assert body["code"] == "precondition_required" and "If-Match" in body["errors"] and "ETag" in body["detail"]
    visit = registry.patients["own"].visits.get(visit_code="month1")
    put = client.put(f"/api/v1/visits/{visit.pk}/", {"visit_date": str(visit.visit_date), "opioid_status": "none",
                                                      "pain": {"worst": 1}, "medications": [], "reason": "x"}, format="json")
    assert put.status_code == 428
    ae.refresh_from_db()
    assert (ae.outcome, ae.version) == ("recovered", 1)
    assert client.patch(f"/api/v1/adverse-events/{ae.pk}/", {"outcome": "sequelae", "reason": "SDV"}, format="json",
                        **if_match(ae)).status_code == 200


def test_two_edits_from_the_same_version_cannot_both_win(registry):
    ae = registry.patients["own"].adverse_events.get()
    first, second = registry.client("coordinator"), registry.client("data_manager")
    version = if_match(ae)
    assert first.patch(f"/api/v1/adverse-events/{ae.pk}/", {"outcome": "recovering", "reason": "a"}, format="json", **version).status_code == 200
    assert second.patch(f"/api/v1/adverse-events/{ae.pk}/", {"outcome": "sequelae", "reason": "b"}, format="json", **version).status_code == 409
    ae.refresh_from_db()
    assert ae.outcome == "recovering"


def test_the_schema_requires_if_match_on_updates(registry):
    schema = Client().get("/api/v1/schema/?format=json").json()
    patch = schema["paths"]["/api/v1/adverse-events/{id}/"]["patch"]
    if_match_param = next(p for p in patch["parameters"] if p["name"] == "If-Match")
    assert if_match_param["required"] is True and "428" in patch["responses"]


@pytest.fixture
def no_worker(monkeypatch):
    """Runs stay queued: nothing is sent to a worker, so each request adds an unfinished run."""
    from analytics import services

    monkeypatch.setattr(services, "report_run_enqueue", lambda run_id: None)


def test_sponsors_cannot_start_report_runs(registry, no_worker):
    client = registry.client("sponsor")
    for body in ({}, {"force": True}, {"strata": ["modality"], "force": True}):
        response = client.post("/api/v1/reports/", body, format="json")
        assert response.status_code == 403 and "Sponsors read" in response.json()["detail"]
    assert not ReportRun.objects.exists()
    assert client.get("/api/v1/reports/").status_code == 200  # reading stays allowed


def test_each_user_has_a_quota_of_unfinished_runs(registry, no_worker, settings):
    settings.REPORTS_MAX_ACTIVE_RUNS_PER_USER = 3
    investigator = registry.client("investigator")
    statuses = [investigator.post("/api/v1/reports/", {"force": True}, format="json").status_code for _ in range(5)]
    assert statuses == [202, 202, 202, 429, 429]
    refused = investigator.post("/api/v1/reports/", {"force": True}, format="json").json()
    assert refused["code"] == "quota_exceeded" and "3 report runs queued or running" in refused["detail"]
    assert ReportRun.objects.filter(requested_by=registry.users["investigator"]).count() == 3
    # another user has their own quota
    assert registry.client("data_manager").post("/api/v1/reports/", {"force": True}, format="json").status_code == 202
    # a finished run frees a place
    ReportRun.objects.filter(pk=ReportRun.objects.filter(requested_by=registry.users["investigator"]).first().pk).update(
        status=RunStatus.FAILED)
    assert investigator.post("/api/v1/reports/", {"force": True}, format="json").status_code == 202


def test_the_web_form_names_the_quota(registry, no_worker, settings):
    settings.REPORTS_MAX_ACTIVE_RUNS_PER_USER = 1
    web = Client()
    web.force_login(registry.users["investigator"])
    assert web.post("/reports/", {"strata": ["modality"], "force": "on"}).status_code == 302
    page = web.post("/reports/", {"strata": ["modality"], "force": "on"})
    assert page.status_code == 200 and "1 report runs queued or running" in page.content.decode()
