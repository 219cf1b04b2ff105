"""Visit status uses the site's local date: one instant, two sites, two answers.

At 2026-06-15 20:00 in Chicago (CDT, UTC−5) it is 2026-06-16 01:00 UTC and
03:00 in Berlin (CEST, UTC+2). A month-1 visit whose window ends on 15 June is
therefore still open (overdue) in Chicago and already missed in Berlin.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from lxml import html

from tests.api.conftest import token_client
from tests.factories import enroll_patient, make_user
from trials.domain.schedule import VISIT_CODES, VisitStatus
from trials.models import Role, Site
from trials.web.selectors.dashboard import dashboard_for
from trials.web.selectors.worklist import worklist_for

pytestmark = pytest.mark.django_db

INSTANT = dt.datetime(2026, 6, 15, 20, 0, tzinfo=ZoneInfo("America/Chicago"))
WINDOW_END = dt.date(2026, 6, 15)
DAY0 = WINDOW_END - dt.timedelta(days=42)  # month 1 window: days 21–42, target day 30


@pytest.fixture
def frozen():
    with time_machine.travel(INSTANT, tick=False):
        yield


@pytest.fixture
def two_sites(frozen):
    chicago = Site.objects.create(code="CHI", name="Chicago", time_zone="America/Chicago")
    berlin = Site.objects.create(code="BER", name="Berlin", country="DE", time_zone="Europe/Berlin")
    users = {code: make_user(f"coord_{code.lower()}", Role.COORDINATOR, s) for code, s in (("CHI", chicago), ("BER", berlin))}
    patients = {
        code: enroll_patient(users[code], s, enrollment_date=DAY0 - dt.timedelta(days=5), day0=DAY0)
        for code, s in (("CHI", chicago), ("BER", berlin))
    }
    return {"sites": {"CHI": chicago, "BER": berlin}, "users": users, "patients": patients}


def test_the_sites_local_dates_differ_at_this_instant(two_sites):
    assert two_sites["sites"]["CHI"].local_date() == dt.date(2026, 6, 15)
    assert two_sites["sites"]["BER"].local_date() == dt.date(2026, 6, 16)


def test_same_visit_overdue_in_chicago_and_missed_in_berlin(two_sites):
    for code, expected in (("CHI", VisitStatus.OVERDUE), ("BER", VisitStatus.MISSED)):
        patient = two_sites["patients"][code]
        visit = patient.visits.get(visit_code="month1")
        assert visit.window_end == WINDOW_END
        assert visit.status_on(patient.site.local_date()) == expected


def test_worklist_uses_the_site_date(two_sites):
    chicago = worklist_for(two_sites["users"]["CHI"])
    assert chicago.on == dt.date(2026, 6, 15)
    assert [(r.patient.study_id, r.visit.visit_code, r.status) for r in chicago.rows] == [
        (two_sites["patients"]["CHI"].study_id, "month1", VisitStatus.OVERDUE)
    ]
    assert chicago.rows[0].days_to_window_end() == 0  # last day of the window, in Chicago
    berlin = worklist_for(two_sites["users"]["BER"])
    assert berlin.on == dt.date(2026, 6, 16)
    assert berlin.rows == []
    assert berlin.counts["missed"] == chicago.counts["missed"] + 1  # baseline, day 3, week 1 (+ month 1 in Berlin)


def test_patient_page_shows_each_sites_status(client, two_sites):
    for code, label in (("CHI", "Overdue"), ("BER", "Missed")):
        client.force_login(two_sites["users"][code])
        body = client.get(reverse("patient_detail", args=[two_sites["patients"][code].study_id])).content.decode()
        chip = html.fromstring(body).xpath('//tr[@data-visit="month1"]//span[contains(@class, "chip")]')[0]
        assert chip.text_content().strip() == label


def test_dashboard_counts_each_site_on_its_own_date(two_sites, data_manager):
    rows = {row.site_code: row for row in dashboard_for(data_manager).rows}
    month1 = VISIT_CODES.index("month1")
    assert rows["CHI"].overdue == 1 and rows["CHI"].cells[month1].expected == 0
    assert rows["BER"].overdue == 0 and rows["BER"].cells[month1].expected == 1


def test_api_status_filter_uses_the_site_date(two_sites, data_manager):
    client = token_client(data_manager)
    overdue = client.get("/api/v1/visits/?status=overdue").json()["results"]
    missed = client.get("/api/v1/visits/?status=missed&visit=month1").json()["results"]
    assert [v["visit_code"] for v in overdue] == ["month1"] and len(overdue) == 1
    assert len(missed) == 1
    assert overdue[0]["id"] != missed[0]["id"]


def test_time_zone_must_be_an_iana_name(db):
    site = Site(code="XYZ", name="Nowhere", time_zone="Mars/Olympus_Mons")
    with pytest.raises(ValidationError) as exc:
        site.full_clean()
    assert "IANA time zone" in str(exc.value.message_dict["time_zone"])


def test_new_sites_default_to_the_configured_zone(db, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    assert Site.objects.create(code="NEW", name="New").time_zone == "Europe/Berlin"
