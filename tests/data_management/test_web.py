"""Web UI of data management: open queries on the worklist, answering and closing, signing, locking, exports page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.data_management.conftest import PASSWORD
from trials.models import Lock, QueryStatus, Signature
from trials.services.data_queries import data_query_open
from trials.services.locking import patient_lock

pytestmark = pytest.mark.django_db


def test_open_queries_show_on_the_coordinator_worklist(client, coordinator, other_coordinator, data_manager, month1):
    query = data_query_open(actor=data_manager, record=month1, field_name="visit_date", message="Confirm the visit date")
    client.force_login(coordinator)
    page = client.get(reverse("worklist")).content.decode()
    assert f'data-query="{query.pk}"' in page and "Confirm the visit date" in page
    client.force_login(other_coordinator)
    assert f'data-query="{query.pk}"' not in client.get(reverse("worklist")).content.decode()


def test_coordinator_answers_and_data_manager_closes_in_the_ui(client, coordinator, data_manager, month1):
    query = data_query_open(actor=data_manager, record=month1, field_name="visit_date", message="Confirm")
    url = reverse("dm_query_detail", args=[query.pk])
    client.force_login(coordinator)
    assert str(month1.visit_date) in client.get(url).content.decode()
    assert client.post(url, {"action": "answer", "message": "Seen in clinic that day"}).status_code == 302
    query.refresh_from_db()
    assert query.status == QueryStatus.ANSWERED
    client.post(url, {"action": "close", "message": ""})
    query.refresh_from_db()
    assert query.status == QueryStatus.ANSWERED  # refused: coordinators cannot close
    client.force_login(data_manager)
    client.post(url, {"action": "close", "message": "OK"})
    query.refresh_from_db()
    assert query.status == QueryStatus.CLOSED


def test_signing_in_the_ui_refuses_a_wrong_password(client, site_investigator, month1):
    client.force_login(site_investigator)
    url = reverse("dm_visit_sign", args=[month1.patient.study_id, "month1"])
    wrong = client.post(url, {"meaning": "Reviewed", "password": "wrong"})
    assert wrong.status_code == 200 and "password is not correct" in wrong.content.decode()
    assert not Signature.objects.exists()
    assert client.post(url, {"meaning": "Reviewed", "password": PASSWORD}).status_code == 302
    assert Signature.objects.get().signer == site_investigator


def test_locking_and_unlocking_in_the_ui(client, data_manager, coordinator, patient):
    client.force_login(coordinator)
    assert client.post(reverse("dm_locks"), {"patient": patient.study_id, "reason": "x"}).status_code == 403
    client.force_login(data_manager)
    client.post(reverse("dm_locks"), {"patient": patient.study_id, "reason": "Interim cut-off"})
    lock = Lock.objects.get()
    assert lock.patient == patient and lock.is_active
    client.post(reverse("dm_locks"), {"unlock": lock.pk, "unlock_reason": ""})
    lock.refresh_from_db()
    assert lock.is_active  # no reason, no unlock
    client.post(reverse("dm_locks"), {"unlock": lock.pk, "unlock_reason": "Queries resolved"})
    lock.refresh_from_db()
    assert not lock.is_active and lock.unlock_reason == "Queries resolved"


def test_ui_visit_form_is_refused_while_locked(client, data_manager, coordinator, patient, month1):
    patient_lock(actor=data_manager, patient=patient, reason="Database lock 2026")
    client.force_login(coordinator)
    data = {"visit_date": month1.visit_date.isoformat(), "expected_version": str(month1.version), "worst": "9", "least": "1",
            "average": "3", "current": "2", "opioid_status": "none", "reason": "typo", "med-TOTAL_FORMS": "0",
            "med-INITIAL_FORMS": "0", "med-MIN_NUM_FORMS": "0", "med-MAX_NUM_FORMS": "20"}
    response = client.post(reverse("visit_entry", args=[patient.study_id, "month1"]), data)
    assert response.status_code == 200 and "Database lock 2026" in response.content.decode()
    month1.pain.refresh_from_db()
    assert month1.pain.worst == 4


def test_exports_page_links_the_downloads(client, coordinator):
    client.force_login(coordinator)
    page = client.get(reverse("dm_exports")).content.decode()
    for link in ("/api/v1/export/odm.xml", "/api/v1/export/redcap/records.csv", "/api/v1/export/registry.xlsx"):
        assert link in page
    assert client.get("/api/v1/export/redcap/dictionary.csv").status_code == 200  # the session authenticates the download
