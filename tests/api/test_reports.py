"""Report runs over the API: 202 + URL, status and artifacts with their media types, sponsor view, broker down → 503."""

from __future__ import annotations

import re
import time

import pytest
from django.test import override_settings

from analytics.models import ReportRun, RunStatus
from config.celery_app import app as celery_app
from tests.api.conftest import token_client
from tests.integration.conftest import celery_worker_process, postgres_and_redis, private_queue  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db
DATE_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}")


def test_request_answers_202_with_the_run_and_its_url(registry, report_run):
    response = registry.client("investigator").post("/api/v1/reports/", {"strata": ["modality"], "force": True}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["url"] == f"/api/v1/reports/{body['id']}/" == response["Location"]
    assert body["status"] == RunStatus.QUEUED and body["result"] is None
    assert ReportRun.objects.get(pk=body["id"]).requested_by.username == "inv"


def test_invalid_parameters_are_400_naming_the_field(registry, report_run):
    response = registry.client("data_manager").post("/api/v1/reports/", {"strata": ["shoe_size"]}, format="json")
    assert response.status_code == 400 and "strata[0]" in response.json()["errors"]


def test_finished_run_shows_result_and_artifact_links_with_media_types(registry, report_run):
    client = registry.client("data_manager")
    body = client.get(f"/api/v1/reports/{report_run.pk}/").json()
    assert (body["status"], body["progress"], body["fingerprint"]) == ("succeeded", 100, "f" * 64)
    assert body["result"]["n_patients"] == 4
    links = {a["name"]: a for a in body["artifacts"]}
    assert links["adtte.csv"]["media_type"] == "text/csv"
    png = client.get(links["pain_trajectory.png"]["url"])
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert b"".join(png.streaming_content).startswith(b"\x89PNG")
    assert client.get(links["adtte.csv"]["url"])["Content-Type"] == "text/csv"
    assert client.get(f"/api/v1/reports/{report_run.pk}/artifacts/nope.pdf").status_code == 404


def test_sponsor_gets_aggregates_without_dates_and_only_plots(registry, report_run):
    client = registry.client("sponsor")
    response = client.get(f"/api/v1/reports/{report_run.pk}/")
    assert response.status_code == 200 and not DATE_LIKE.search(response.content.decode())
    body = response.json()
    assert "metadata" not in body["result"] and "created_at" not in body
    assert [a["name"] for a in body["artifacts"]] == ["pain_trajectory.png"]
    assert client.get(f"/api/v1/reports/{report_run.pk}/artifacts/adtte.csv").status_code == 403
    assert not DATE_LIKE.search(client.get("/api/v1/reports/").content.decode())


def test_site_roles_may_not_request_reports(registry, report_run):
    response = registry.client("coordinator").post("/api/v1/reports/", {}, format="json")
    assert response.status_code == 403


def test_broker_down_is_503_with_retry_after_and_no_run_is_left_behind(registry, report_run, monkeypatch):
    monkeypatch.setattr(
        celery_app.conf, "broker_write_url", None, raising=False
    )  # first: its current value reads the environment
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")  # Celery reads the environment first
    before = ReportRun.objects.count()
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        response = registry.client("investigator").post("/api/v1/reports/", {"force": True}, format="json")
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0 and response.json()["code"] == "service_unavailable"
    assert ReportRun.objects.count() == before  # refused, not silently queued nowhere


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_report_round_trip_through_the_api_with_a_real_worker(celery_worker_process):  # noqa: F811
    from tests.analytics.seeded import seeded_registry
    from tests.factories import make_user
    from trials.models import Role

    process, log = celery_worker_process
    seeded_registry(40)
    client = token_client(make_user("inv_it", Role.INVESTIGATOR, None))
    accepted = client.post("/api/v1/reports/", {"strata": ["modality"], "force": True}, format="json")
    assert accepted.status_code == 202, accepted.json()
    url, deadline = accepted.json()["url"], time.monotonic() + 300
    while (body := client.get(url).json())["status"] not in {"succeeded", "failed"}:
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)
    assert body["status"] == "succeeded", body["error_message"]
    assert body["progress"] == 100 and len(body["fingerprint"]) == 64 and body["result"]["n_patients"] > 30
    links = {a["name"]: a for a in body["artifacts"]}
    pdf = client.get(links["report.pdf"]["url"])
    assert pdf["Content-Type"] == "application/pdf" and b"".join(pdf.streaming_content).startswith(b"%PDF")
    assert "analytics.tasks.report_run_execute[" in log.read_text()
