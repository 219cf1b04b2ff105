"""Bulk reads for sync: cursor pages up to 1,000, updated_since, filters, and streamed CSV exports."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from tests.factories import if_match
from trials.api import exports
from trials.interop import csv_copy

pytestmark = pytest.mark.django_db


def test_cursor_pages_walk_every_row_and_cap_at_1000(registry):
    client = registry.client("data_manager")
    seen, url = [], "/api/v1/visits/?page_size=5"
    while url:
        page = client.get(url).json()
        seen += [v["id"] for v in page["results"]]
        url = page["next"]
    assert len(seen) == len(set(seen)) == 28 and seen == sorted(seen)
    assert len(client.get("/api/v1/visits/?page_size=5000").json()["results"]) == 28  # capped at 1,000, not refused


def test_updated_since_returns_only_later_changes(registry):
    client = registry.client("data_manager")
    mark = timezone.now()
    ae = registry.patients["other"].adverse_events.get()
    client.patch(f"/api/v1/adverse-events/{ae.pk}/", {"outcome": "recovering", "reason": "SDV"}, format="json", **if_match(ae))
    results = client.get("/api/v1/adverse-events/", {"updated_since": mark.isoformat()}).json()["results"]
    assert [r["id"] for r in results] == [ae.pk]
    assert client.get("/api/v1/adverse-events/?updated_since=yesterday").status_code == 400
    # any real offset is normalised to UTC; an impossible one (found by schemathesis on PostgreSQL) is a 400, not a 500
    shifted = mark.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))).isoformat()
    assert [r["id"] for r in client.get("/api/v1/adverse-events/", {"updated_since": shifted}).json()["results"]] == [ae.pk]
    bad = client.get("/api/v1/adverse-events/", {"updated_since": "0006-09-06T22:40:15.665300-19:25"})
    assert bad.status_code == 400 and "updated_since" in bad.json()["errors"]


def test_filters_by_site_visit_and_status(registry):
    client = registry.client("investigator")
    completed = client.get("/api/v1/visits/?status=completed&site=ATL").json()["results"]
    assert [(v["patient"], v["visit_code"]) for v in completed] == [(registry.patients["own"].study_id, "month1")]
    month12 = client.get("/api/v1/visits/?visit=month12&status=upcoming").json()["results"]
    assert {v["patient"] for v in month12} == {registry.patients["own"].study_id, registry.patients["other"].study_id}
    not_applicable = client.get("/api/v1/visits/?status=not_applicable&site=BOS").json()["results"]
    assert {v["patient"] for v in not_applicable} == {registry.patients["other_exited"].study_id}
    assert client.get("/api/v1/procedures/?modality=cryo").json()["results"] == []
    assert client.get("/api/v1/visits/?status=sleeping").status_code == 400


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_export_is_streamed_in_blocks_and_scoped(registry, monkeypatch):
    monkeypatch.setattr(exports, "ROWS_PER_BLOCK", 4)  # the Python writer (SQLite)
    monkeypatch.setattr(csv_copy, "ROWS_PER_BLOCK", 4)  # the COPY writer (PostgreSQL)
    response = registry.client("coordinator").get("/api/v1/export/visits.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    blocks = list(response.streaming_content)
    rows = list(csv.DictReader(io.StringIO(b"".join(blocks).decode())))
    assert len(blocks) >= 4 and len(rows) == 14
    assert {r["patient_site_code"] for r in rows} == {"ATL"}


@pytest.mark.django_db(transaction=True)  # autocommit, as in production: the export runs in no transaction
def test_an_export_abandoned_midway_leaves_the_connection_usable(registry, monkeypatch):
    # A client that goes away mid-download: the stream is closed between two blocks (on PostgreSQL, inside the
    # COPY, which psycopg then cancels and drains); the same connection answers the next request.
    monkeypatch.setattr(exports, "ROWS_PER_BLOCK", 2)
    monkeypatch.setattr(csv_copy, "ROWS_PER_BLOCK", 2)
    client = registry.client("coordinator")
    response = client.get("/api/v1/export/visits.csv")
    stream = iter(response.streaming_content)
    try:
        assert next(stream).startswith(b"id,") and next(stream)
    finally:
        response.close()  # what the server does when the client is gone: the export's generator is closed
    rows = _csv(client.get("/api/v1/export/visits.csv"))
    assert len(rows) == 14 and client.get("/api/v1/visits/?site=ATL").status_code == 200


def test_sponsor_export_is_deidentified(registry):
    rows = _csv(registry.client("sponsor").get("/api/v1/export/patients.csv"))
    assert len(rows) == 4
    assert {"age", "enrollment_day", "consent_day"} <= set(rows[0]) and not {"birth_year", "day0", "updated_at"} & set(rows[0])
    ae_rows = _csv(registry.client("sponsor").get("/api/v1/export/adverse-events.csv"))
    assert "term" not in ae_rows[0] and ae_rows[0]["onset_day"] == "1"


def test_unknown_export_is_404_json(registry):
    response = registry.client("investigator").get("/api/v1/export/secrets.csv")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
