"""Writes that must be refused (issue 14): updates and voids without If-Match (428) or on a stale version (409),
sponsors starting report runs (403),
more unfinished report runs than the per-user quota (429)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import resolve, reverse

from analytics.models import ReportRun, RunStatus
from tests.api.matrix_cases import detail_kwargs
from tests.factories import if_match

pytestmark = pytest.mark.django_db


def test_update_without_if_match_is_428_and_changes_nothing(registry):
    ae = registry.patients["own"].adverse_events.get()
    client = registry.client("coordinator")
    for headers in ({}, {"HTTP_IF_MATCH": "*"}):
        response = client.patch(
            f"/api/v1/adverse-events/{ae.pk}/", {"outcome": "sequelae", "reason": "SDV"}, format="json", **headers
        )
        assert response.status_code == 428
        body = response.json()
        assert body["code"] == "precondition_required" and "If-Match" in body["errors"] and "ETag" in body["detail"]
    visit = registry.patients["own"].visits.get(visit_code="month1")
    put = client.put(
        f"/api/v1/visits/{visit.pk}/",
        {"visit_date": str(visit.visit_date), "opioid_status": "none", "pain": {"worst": 1}, "medications": [], "reason": "x"},
        format="json",
    )
    assert put.status_code == 428
    ae.refresh_from_db()
    assert (ae.outcome, ae.version) == ("recovered", 1)
    assert (
        client.patch(
            f"/api/v1/adverse-events/{ae.pk}/", {"outcome": "sequelae", "reason": "SDV"}, format="json", **if_match(ae)
        ).status_code
        == 200
    )


def test_two_edits_from_the_same_version_cannot_both_win(registry):
    ae = registry.patients["own"].adverse_events.get()
    first, second = registry.client("coordinator"), registry.client("data_manager")
    version = if_match(ae)
    assert (
        first.patch(
            f"/api/v1/adverse-events/{ae.pk}/", {"outcome": "recovering", "reason": "a"}, format="json", **version
        ).status_code
        == 200
    )
    assert (
        second.patch(
            f"/api/v1/adverse-events/{ae.pk}/", {"outcome": "sequelae", "reason": "b"}, format="json", **version
        ).status_code
        == 409
    )
    ae.refresh_from_db()
    assert ae.outcome == "recovering"


VOIDABLE = [
    "patient",
    "lesion",
    "procedure",
    "radiationcourse",
    "visit",
    "adverseevent",
    "skeletalevent",
    "imagingassessment",
    "studyexit",
]


@pytest.mark.parametrize("resource", VOIDABLE)
def test_void_without_if_match_is_428_stale_is_409_current_voids(registry, resource):
    """Every clinical resource: a void must name the version it acts on, like an update."""
    kwargs = detail_kwargs(resource, registry, "own")
    url = reverse(f"api:{resource}-void", kwargs=kwargs)
    model = resolve(url).func.cls.base_queryset.model
    record = model.objects.get(**({"study_id": kwargs["study_id"]} if "study_id" in kwargs else {"pk": kwargs["pk"]}))
    version = record.version
    client = registry.client("coordinator")
    for headers in ({}, {"HTTP_IF_MATCH": "*"}):
        response = client.post(url, {"reason": "Entered in error"}, format="json", **headers)
        assert response.status_code == 428, (resource, response.json())
        body = response.json()
        assert body["status"] == 428 and body["code"] == "precondition_required"
        assert "If-Match" in body["errors"] and "ETag" in body["detail"]
    stale = client.post(url, {"reason": "Entered in error"}, format="json", HTTP_IF_MATCH=f'"{version + 1}"')
    assert stale.status_code == 409 and stale.json()["code"] == "conflict" and "If-Match" in stale.json()["errors"]
    record.refresh_from_db()
    assert record.voided_at is None and record.version == version  # refused voids change nothing
    done = client.post(url, {"reason": "Entered in error"}, format="json", HTTP_IF_MATCH=f'"{version}"')
    assert done.status_code == 200, (resource, done.json())
    assert done.json()["voided"] is True and done["ETag"] == f'"{version + 1}"'
    record.refresh_from_db()
    assert record.voided_at is not None and record.void_reason == "Entered in error"


def test_the_schema_requires_if_match_on_updates_and_voids(registry):
    schema = Client().get("/api/v1/schema/?format=json").json()
    operations = [
        schema["paths"]["/api/v1/adverse-events/{id}/"]["patch"],
        schema["paths"]["/api/v1/adverse-events/{id}/"]["put"],
    ]
    operations += [item["post"] for path, item in schema["paths"].items() if path.endswith("/void/")]
    assert len(operations) >= 2 + 8
    for operation in operations:
        if_match_param = next(p for p in operation["parameters"] if p["name"] == "If-Match")
        assert if_match_param["required"] is True and "428" in operation["responses"] and "409" in operation["responses"]


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
        status=RunStatus.FAILED
    )
    assert investigator.post("/api/v1/reports/", {"force": True}, format="json").status_code == 202


def test_the_web_form_names_the_quota(registry, no_worker, settings):
    settings.REPORTS_MAX_ACTIVE_RUNS_PER_USER = 1
    web = Client()
    web.force_login(registry.users["investigator"])
    assert web.post("/reports/", {"strata": ["modality"], "force": "on"}).status_code == 302
    page = web.post("/reports/", {"strata": ["modality"], "force": "on"})
    assert page.status_code == 200 and "1 report runs queued or running" in page.content.decode()
