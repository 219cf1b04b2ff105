"""Login, logout, password change, role-aware home; the patient timeline in a constant number of queries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from lxml import html

from tests.factories import visit_data
from tests.web.conftest import enroll_days_ago
from trials import services

pytestmark = pytest.mark.django_db


def test_login_page_has_labelled_inputs_and_logs_in(client, coordinator):
    tree = html.fromstring(client.get(reverse("login")).content)
    for field_id in ("id_username", "id_password"):
        assert tree.xpath(f'//label[@for="{field_id}"]')
    bad = client.post(reverse("login"), {"username": "coord", "password": "wrong"})
    assert "did not match" in bad.content.decode()
    good = client.post(reverse("login"), {"username": "coord", "password": "pw-Secret-123"})
    assert good["Location"] == reverse("home")


def test_logout_ends_the_session(client, coordinator):
    client.force_login(coordinator)
    assert client.post(reverse("logout"))["Location"] == reverse("login")
    assert client.get(reverse("worklist")).status_code == 302


def test_password_change(client, coordinator):
    client.force_login(coordinator)
    response = client.post(
        reverse("password_change"),
        {"old_password": "pw-Secret-123", "new_password1": "Another-Long-Pass-42", "new_password2": "Another-Long-Pass-42"},
    )
    assert response["Location"] == reverse("password_change_done")
    coordinator.refresh_from_db()
    assert coordinator.check_password("Another-Long-Pass-42")


def test_session_expires_after_inactivity(settings):
    assert settings.SESSION_SAVE_EVERY_REQUEST is True  # the age counts from the last request
    assert 0 < settings.SESSION_COOKIE_AGE <= 12 * 3600


def test_investigator_home_is_the_reports_page(client, investigator):
    client.force_login(investigator)
    assert client.get(reverse("home"))["Location"] == reverse("reports")


def _timeline_queries(client, patient) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("patient_detail", kwargs={"study_id": patient.study_id}))
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_timeline_shows_everything_in_constant_queries(coordinator_client, coordinator, site, today):
    patient = enroll_days_ago(coordinator, site, today, day0_ago=40)
    baseline = _timeline_queries(coordinator_client, patient)
    services.radiation_record(
        actor=coordinator,
        patient=patient,
        data={
            "sequence": "after",
            "start_date": patient.day0 + dt.timedelta(days=7),
            "end_date": patient.day0 + dt.timedelta(days=11),
            "total_dose_gy": Decimal("20"),
            "fractions": 5,
            "technique": "conventional",
        },
    )
    oxy = {"drug": "oxycodone", "route": "oral", "dose": "10", "unit": "mg", "doses_per_day": "2"}
    for code, day in (("day3", 3), ("week1", 7), ("month1", 30)):
        services.visit_record(
            actor=coordinator,
            visit=patient.visits.get(visit_code=code),
            data=visit_data(patient.day0 + dt.timedelta(days=day), meds=[oxy, oxy]),
        )
    services.adverse_event_report(
        actor=coordinator,
        patient=patient,
        data={
            "term": "Pain flare",
            "onset_date": patient.day0 + dt.timedelta(days=1),
            "sir_grade": "mild",
            "ctcae_grade": 1,
            "relatedness": "procedure",
        },
    )
    services.skeletal_event_report(
        actor=coordinator, patient=patient, data={"event_type": "pathologic_fracture", "event_date": today - dt.timedelta(days=2)}
    )
    services.study_exit_record(
        actor=coordinator, patient=patient, data={"exit_type": "withdrawal", "exit_date": today, "last_contact_date": today}
    )
    assert _timeline_queries(coordinator_client, patient) == baseline

    tree = html.fromstring(coordinator_client.get(reverse("patient_detail", kwargs={"study_id": patient.study_id})).content)
    text = tree.text_content()
    assert "SINS" in text and "8 — potentially unstable" in text  # tests.factories.spine_lesion
    assert "Vertebroplasty" in text and "3.5 mL" in text
    assert "28.0 Gy / 23.3 Gy" in text  # 20 Gy / 5: BED10 28.0, EQD2 23.3 (docs/domain.md §9)
    month1 = tree.xpath('//tr[@data-visit="month1"]')[0].text_content()
    assert "Completed" in month1 and "60" in month1  # 2 × 30 MME/day
    assert "Pain flare" in text and "Pathologic fracture" in text and "Withdrawal of consent" in text


def test_history_of_a_visit_without_data(coordinator_client, month1_due_patient):
    url = reverse("visit_history", kwargs={"study_id": month1_due_patient.study_id, "visit_code": "month1"})
    body = coordinator_client.get(url).content.decode()
    assert "Visit schedule generated at enrollment" in body
