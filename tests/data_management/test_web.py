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
    page = client.get(url).content.decode()
    assert f'id="current-value">{month1.visit_date:%-d %b %Y}<' in page  # the UI date format, e.g. 26 Sep 2026
    assert "Visit: Visit date" in page and "visit.visit_date" not in page
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
    wrong = client.post(url, {"meaning": "review", "password": "wrong"})
    assert wrong.status_code == 200 and "password is not correct" in wrong.content.decode()
    assert not Signature.objects.exists()
    assert client.post(url, {"meaning": "review", "password": PASSWORD}).status_code == 302
    assert Signature.objects.get().signer == site_investigator


def test_locking_and_unlocking_in_the_ui(client, data_manager, coordinator, patient):
    client.force_login(coordinator)
    assert (
        client.post(
            reverse("dm_locks"), {"scope": "patient", "patient": patient.study_id, "reason": "x", "confirm": "yes"}
        ).status_code
        == 403
    )
    client.force_login(data_manager)
    no_scope = client.post(reverse("dm_locks"), {"patient": "", "reason": "Interim cut-off"})
    assert no_scope.status_code == 200 and not Lock.objects.exists()  # an empty patient no longer locks the study
    review = client.post(reverse("dm_locks"), {"scope": "patient", "patient": patient.study_id, "reason": "Interim cut-off"})
    assert f"You are about to lock <strong>patient {patient.study_id}</strong> (1 patient)" in review.content.decode()
    assert not Lock.objects.exists()  # nothing locked before the confirmation
    client.post(
        reverse("dm_locks"), {"scope": "patient", "patient": patient.study_id, "reason": "Interim cut-off", "confirm": "yes"}
    )
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
    data = {
        "visit_date": month1.visit_date.isoformat(),
        "expected_version": str(month1.version),
        "worst": "9",
        "least": "1",
        "average": "3",
        "current": "2",
        "opioid_status": "none",
        "reason": "typo",
        "med-TOTAL_FORMS": "0",
        "med-INITIAL_FORMS": "0",
        "med-MIN_NUM_FORMS": "0",
        "med-MAX_NUM_FORMS": "20",
    }
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


def test_study_and_site_locks_need_an_explicit_scope_and_confirmation(client, data_manager, site, patient):
    client.force_login(data_manager)
    review = client.post(reverse("dm_locks"), {"scope": "study", "reason": "Final database lock"}).content.decode()
    assert "the whole study: every patient of every site" in review and "(1 patient)" in review and not Lock.objects.exists()
    missing_site = client.post(reverse("dm_locks"), {"scope": "site", "reason": "Close-out", "confirm": "yes"})
    assert "Choose the site to lock." in missing_site.content.decode() and not Lock.objects.exists()
    client.post(reverse("dm_locks"), {"scope": "site", "site": site.pk, "reason": "Close-out", "confirm": "yes"})
    lock = Lock.objects.get()
    assert (lock.scope, lock.site, lock.patient) == ("site", site, None)
    page = client.get(reverse("patient_detail", args=[patient.study_id])).content.decode()
    assert f"Site {site.code} is locked since" in page


def test_menu_links_follow_the_role(client, data_manager, coordinator, investigator):
    from trials.web.context import nav_links_for

    def labels(user):
        return [label for _, label in nav_links_for(user)]

    assert {"Queries", "Locks", "Exports", "Data quality", "Users", "Audit log", "Record status"} <= set(labels(data_manager))
    assert "Locks" not in labels(coordinator) and "Users" not in labels(coordinator) and "Queries" in labels(coordinator)
    assert "Users" not in labels(investigator) and "Reports" in labels(investigator)
    data_manager.is_staff = True
    data_manager.save()
    client.force_login(data_manager)
    page = client.get(reverse("dm_locks")).content.decode()
    assert 'href="/admin/"' in page and 'href="/data-management/queries/"' in page
