"""Every page uses the same scoping as the API: another site's patient does not exist (404)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from tests.factories import enroll_patient, make_user
from trials.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def foreign_patient(other_coordinator, other_site, today):
    return enroll_patient(
        other_coordinator, other_site, enrollment_date=today - dt.timedelta(days=40), day0=today - dt.timedelta(days=35)
    )


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("patient_detail", {}),
        ("visit_entry", {"visit_code": "month1"}),
        ("visit_history", {"visit_code": "month1"}),
        ("adverse_event_add", {}),
        ("skeletal_event_add", {}),
    ],
)
def test_another_sites_patient_is_404_on_every_page(coordinator_client, foreign_patient, name, extra):
    url = reverse(name, kwargs={"study_id": foreign_patient.study_id, **extra})
    assert coordinator_client.get(url).status_code == 404
    assert coordinator_client.post(url, {}).status_code == 404


def test_own_patient_opens(coordinator_client, patient):
    response = coordinator_client.get(reverse("patient_detail", kwargs={"study_id": patient.study_id}))
    assert response.status_code == 200
    assert patient.study_id in response.content.decode()


def test_patient_list_shows_only_own_site(coordinator_client, patient, foreign_patient):
    body = coordinator_client.get(reverse("patient_list")).content.decode()
    assert patient.study_id in body
    assert foreign_patient.study_id not in body


def test_search_by_study_id(coordinator_client, coordinator, site, today, patient):
    second = enroll_patient(coordinator, site, enrollment_date=today - dt.timedelta(days=20), day0=today - dt.timedelta(days=15))
    body = coordinator_client.get(reverse("patient_list"), {"q": second.study_id.split("-")[1]}).content.decode()
    assert second.study_id in body
    assert patient.study_id not in body


def test_study_wide_roles_read_every_site(client, data_manager, foreign_patient):
    client.force_login(data_manager)
    assert client.get(reverse("patient_detail", kwargs={"study_id": foreign_patient.study_id})).status_code == 200


def test_site_investigator_reads_but_cannot_enter_visits(client, site, patient):
    client.force_login(make_user("si", Role.SITE_INVESTIGATOR, site))
    assert client.get(reverse("patient_detail", kwargs={"study_id": patient.study_id})).status_code == 200
    assert client.get(reverse("visit_entry", kwargs={"study_id": patient.study_id, "visit_code": "month3"})).status_code == 403


def test_sponsor_is_kept_out_of_clinical_pages(client, sponsor, patient):
    client.force_login(sponsor)
    assert client.get(reverse("patient_list")).status_code == 403
    assert client.get(reverse("patient_detail", kwargs={"study_id": patient.study_id})).status_code == 403
    assert client.get(reverse("home")).status_code == 200


def test_anonymous_is_sent_to_login(client, patient):
    response = client.get(reverse("patient_detail", kwargs={"study_id": patient.study_id}))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_coordinator_cannot_open_dashboard(coordinator_client):
    assert coordinator_client.get(reverse("dashboard")).status_code == 403
