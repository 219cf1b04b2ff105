"""Sponsors cannot recover calendar dates (issue 14): the bounding attacks, run as the sponsor, learn nothing.

The attacks of the issue: visit ``status`` filters computed against today (four of them bounded
day 0 for 49 patients, repeating them later pinned it), and halving ``updated_since`` (40 requests
recovered a record's ``updated_at`` to the millisecond). "Learn nothing" is asserted as: every
probe gets one and the same answer whatever its argument, and the sponsor's whole view of the
registry is byte-identical when "today" moves.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone
from rest_framework import serializers

from tests.factories import enroll_patient
from trials.api.deidentify import sponsor_serializer
from trials.domain.age import age_deidentified
from trials.domain.schedule import VisitStatus
from trials.interop.tabular import EXPORTS

pytestmark = pytest.mark.django_db
LIST_ENDPOINTS = (
    "sites",
    "patients",
    "lesions",
    "procedures",
    "radiation-courses",
    "visits",
    "adverse-events",
    "skeletal-events",
    "imaging-assessments",
    "study-exits",
)


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def sponsor_view(client) -> dict[str, tuple[int, bytes]]:
    """Everything a sponsor can list or export, with the status-filter probes."""
    urls = [f"/api/v1/{name}/?page_size=1000" for name in LIST_ENDPOINTS]
    urls += [f"/api/v1/export/{name}.csv" for name in EXPORTS]
    urls += [f"/api/v1/visits/?status={s.value}" for s in VisitStatus]
    urls += [f"/api/v1/visits/?status={s.value}&visit=month1" for s in VisitStatus]
    return {url: (r.status_code, body(r)) for url in urls for r in [client.get(url)]}


def test_every_status_filter_is_refused_for_sponsors_and_works_for_staff(registry):
    sponsor, staff = registry.client("sponsor"), registry.client("data_manager")
    for status in VisitStatus:
        refused = sponsor.get(f"/api/v1/visits/?status={status.value}")
        assert refused.status_code == 400, status
        assert "status" in refused.json()["errors"] and "today" in refused.json()["detail"]
        assert staff.get(f"/api/v1/visits/?status={status.value}").status_code == 200
    completed = staff.get("/api/v1/visits/?status=completed").json()["results"]
    assert {v["visit_code"] for v in completed} == {"month1"} and len(completed) == 2


def test_sponsor_view_is_identical_whatever_today_is(registry, monkeypatch):
    """Repeating the probes on a later day (how the issue pinned day 0 exactly) shows the sponsor nothing new."""
    client = registry.client("sponsor")
    before = sponsor_view(client)
    for shift in (1, 37, 200):
        later = timezone.localdate() + dt.timedelta(days=shift)
        monkeypatch.setattr(timezone, "localdate", lambda value=None, timezone=None, _d=later: _d)
        assert sponsor_view(client) == before, f"sponsor's view changed when today moved by {shift} days"
    # The same probes do see today move for staff (so the test would catch a status filter reachable by sponsors).
    staff = registry.client("data_manager")
    monkeypatch.undo()
    due_now = staff.get("/api/v1/visits/?status=missed").json()["results"]
    monkeypatch.setattr(timezone, "localdate", lambda value=None, timezone=None: dt.date.today() + dt.timedelta(days=400))
    assert len(staff.get("/api/v1/visits/?status=missed").json()["results"]) > len(due_now)


@pytest.mark.parametrize("resource", ["adverse-events", "visits", "patients", "sites"])
def test_updated_since_bisection_learns_nothing(registry, resource):
    """40 halvings of the interval around a record's ``updated_at``: every answer is the same 400."""
    client = registry.client("sponsor")
    low, high = dt.datetime(2000, 1, 1, tzinfo=dt.UTC), timezone.now() + dt.timedelta(days=1)
    answers = set()
    for _ in range(40):
        middle = low + (high - low) / 2
        response = client.get(f"/api/v1/{resource}/", {"updated_since": middle.isoformat()})
        assert response.status_code == 400
        assert "updated_since" in response.json()["errors"]
        answers.add(response.content)
        found = False  # an attacker would read "is my record in the page?"; a 400 never has one
        low, high = (low, middle) if found else (middle, high)
    assert len(answers) == 1, "the answers differ with the timestamp probed: the bisection learns something"
    staff = registry.client("data_manager").get(f"/api/v1/{resource}/", {"updated_since": "2000-01-01T00:00:00Z"})
    assert staff.status_code == 200 and staff.json()["results"]


def test_ordering_by_timestamps_is_not_offered(registry):
    """Lists are ordered by id only: an ``ordering`` parameter changes nothing."""
    client = registry.client("sponsor")
    plain = client.get("/api/v1/adverse-events/").content
    for ordering in ("updated_at", "-updated_at", "created_at", "-onset_date", "-id"):
        assert client.get(f"/api/v1/adverse-events/?ordering={ordering}").content == plain


def test_visit_representation_has_no_status_or_timestamp(registry):
    visit = registry.client("sponsor").get("/api/v1/visits/?page_size=1").json()["results"][0]
    assert not {"status", "updated_at", "created_at", "target_date", "window_start", "window_end"} & set(visit)
    assert {"target_day", "window_start_day", "window_end_day"} <= set(visit)


def test_ages_over_89_are_one_category(registry, today):
    """45 CFR 164.514(b)(2)(i)(C): JSON, CSV export and the XLSX workbook all say "90+"."""
    actor = registry.users["coordinator"]
    enrollment = today - dt.timedelta(days=20)
    old = enroll_patient(
        actor, registry.site, birth_year=enrollment.year - 93, enrollment_date=enrollment, day0=enrollment + dt.timedelta(days=3)
    )
    eighty_nine = enroll_patient(
        actor, registry.site, birth_year=enrollment.year - 89, enrollment_date=enrollment, day0=enrollment + dt.timedelta(days=3)
    )
    client = registry.client("sponsor")
    assert client.get(f"/api/v1/patients/{old.study_id}/").json()["age"] == "90+"
    assert client.get(f"/api/v1/patients/{eighty_nine.study_id}/").json()["age"] == 89
    rows = {r["study_id"]: r for r in csv.DictReader(io.StringIO(body(client.get("/api/v1/export/patients.csv")).decode()))}
    assert rows[old.study_id]["age"] == "90+" and rows[eighty_nine.study_id]["age"] == "89"
    assert "93" not in {r["age"] for r in rows.values()}
    from tests.api.test_sponsor import xlsx_text

    text, _ = xlsx_text(client.get("/api/v1/export/registry.xlsx"))
    assert "90+" in text.split("\n")
    assert [age_deidentified(2026, y) for y in (1937, 1936, 1900)] == [89, "90+", "90+"]


def test_device_identifiers_are_withheld(registry):
    procedure = registry.client("sponsor").get("/api/v1/procedures/").json()["results"][0]
    assert not {"device", "implant_type"} & set(procedure)

    class WithDeviceIds(serializers.Serializer):
        lot_number = serializers.CharField()
        serial_no = serializers.CharField()
        udi = serializers.CharField()
        device_serial = serializers.CharField()
        lotnumber = serializers.CharField()
        probes = serializers.IntegerField()

    assert set(sponsor_serializer(WithDeviceIds)().fields) == {"probes"}
