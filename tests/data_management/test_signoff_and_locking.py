"""Electronic signature (wrong password refused) and locks refused on every path: services, API, UI, admin."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from rest_framework.test import APIClient

from apicore.tokens import api_token_issue
from tests.data_management.conftest import PASSWORD, record_visit
from tests.factories import enroll_patient, if_match, make_user, visit_data
from trials import services
from trials.errors import DomainValidationError
from trials.models import AdverseEvent, Lock, Role, Signature
from trials.services.locking import lock_release, patient_lock, study_lock
from trials.services.signoff import signature_is_current, visit_sign

pytestmark = pytest.mark.django_db


# --- signing --------------------------------------------------------------------------------------------------------


def test_site_investigator_signs_a_completed_visit_and_the_audit_trail_says_so(site_investigator, month1):
    site_investigator.first_name, site_investigator.last_name = "Ada", "Okafor"
    site_investigator.save()
    signature = visit_sign(actor=site_investigator, visit=month1, password=PASSWORD, meaning="approval")
    assert (signature.signer, signature.meaning_code, signature.visit_version) == (site_investigator, "approval", month1.version)
    assert signature.meaning == "I approve the data of this visit as complete and accurate."
    assert (signature.printed_name, signature.time_zone) == ("Ada Okafor", "UTC") and signature.signed_at is not None
    entry = month1.history.first()
    assert entry.history_user == site_investigator
    assert entry.history_change_reason == "Signed by Ada Okafor (Approval)"
    assert signature.history.first().history_change_reason.startswith("Electronic signature (Approval): I approve")


def test_a_meaning_outside_the_fixed_list_is_refused(site_investigator, month1):
    with pytest.raises(DomainValidationError) as exc:
        visit_sign(actor=site_investigator, visit=month1, password=PASSWORD, meaning="Looked at it")
    assert exc.value.errors["meaning"] == ["Choose the meaning of the signature: Author, Review, Approval."]
    assert not Signature.objects.exists()


def test_wrong_password_is_refused_and_nothing_is_signed(site_investigator, month1):
    with pytest.raises(DomainValidationError) as exc:
        visit_sign(actor=site_investigator, visit=month1, password="not-my-password")
    assert "password" in exc.value.errors
    assert not Signature.objects.exists()


def test_only_the_sites_investigator_signs_and_only_completed_visits(site_investigator, coordinator, other_site, patient, month1):
    with pytest.raises(PermissionDenied):
        visit_sign(actor=coordinator, visit=month1, password=PASSWORD)
    outsider = make_user("si_bos", Role.SITE_INVESTIGATOR, other_site)
    with pytest.raises(PermissionDenied):
        visit_sign(actor=outsider, visit=month1, password=PASSWORD)
    with pytest.raises(DomainValidationError) as exc:
        visit_sign(actor=site_investigator, visit=patient.visits.get(visit_code="month3"), password=PASSWORD)
    assert "visit" in exc.value.errors


def test_a_later_correction_supersedes_the_signature(site_investigator, coordinator, patient, month1):
    signature = visit_sign(actor=site_investigator, visit=month1, password=PASSWORD)
    corrected = services.visit_record(actor=coordinator, visit=month1, data=visit_data(month1.visit_date, worst=5), reason="typo")
    assert not signature_is_current(signature, corrected)
    signature.refresh_from_db()
    assert signature.invalidated_at is not None and signature.invalidated_by_version == corrected.version
    assert signature.history.first().history_change_reason.startswith("Invalidated: the visit was changed")
    assert signature.history.count() == 2  # signed, then invalidated: the row is kept
    again = visit_sign(actor=site_investigator, visit=corrected, password=PASSWORD, meaning="review")
    assert signature_is_current(again, corrected)
    signature.refresh_from_db()
    assert signature.invalidated_at is not None  # signing again does not revive the old signature


# --- locking through the services -----------------------------------------------------------------------------------


def test_patient_lock_refuses_every_service_write_until_unlocked_with_reason(data_manager, coordinator, patient, month1):
    lock = patient_lock(actor=data_manager, patient=patient, reason="Interim analysis cut-off")
    attempts = [
        lambda: services.visit_record(actor=coordinator, visit=month1, data=visit_data(month1.visit_date, worst=5), reason="x"),
        lambda: services.clinical_record_update(actor=coordinator, instance=patient, changes={"ecog": 2}, reason="x"),
        lambda: services.clinical_record_void(actor=coordinator, instance=month1.pain, reason="x"),
        lambda: services.adverse_event_report(
            actor=coordinator,
            patient=patient,
            data={
                "term": "Pain flare",
                "onset_date": patient.day0 + dt.timedelta(days=2),
                "sir_grade": "mild",
                "ctcae_grade": 1,
                "relatedness": "procedure",
            },
        ),
        # data managers are refused too: a lock is not a permission
        lambda: services.clinical_record_update(actor=data_manager, instance=patient, changes={"ecog": 2}, reason="x"),
    ]
    for attempt in attempts:
        with pytest.raises(DomainValidationError) as exc:
            attempt()
        assert "locked" in exc.value.errors and "Interim analysis cut-off" in exc.value.errors["locked"][0]
    assert not AdverseEvent.objects.exists()
    with pytest.raises(DomainValidationError) as exc:
        lock_release(actor=data_manager, lock=lock, reason="")
    assert "unlock_reason" in exc.value.errors
    lock_release(actor=data_manager, lock=lock, reason="Query resolution after cut-off")
    services.clinical_record_update(actor=coordinator, instance=patient, changes={"ecog": 2}, reason="source verified")
    lock.refresh_from_db()
    assert (lock.unlocked_by, lock.unlock_reason) == (data_manager, "Query resolution after cut-off")


def test_a_patient_lock_leaves_other_patients_editable(data_manager, coordinator, site, patient, today):
    other = enroll_patient(coordinator, site, enrollment_date=today - dt.timedelta(days=50), day0=today - dt.timedelta(days=45))
    patient_lock(actor=data_manager, patient=patient, reason="cut-off")
    services.clinical_record_update(actor=coordinator, instance=other, changes={"ecog": 2}, reason="verified")


def test_study_lock_refuses_enrollment_and_edits_and_signing(
    data_manager, coordinator, site_investigator, site, patient, month1, today
):
    study_lock(actor=data_manager, reason="Final database lock")
    with pytest.raises(DomainValidationError) as exc:
        enroll_patient(coordinator, site, enrollment_date=today - dt.timedelta(days=3), day0=today)
    assert "locked" in exc.value.errors
    with pytest.raises(DomainValidationError):
        record_visit(coordinator, patient, "month3", 90)
    with pytest.raises(DomainValidationError) as exc:
        visit_sign(actor=site_investigator, visit=month1, password=PASSWORD)
    assert "locked" in exc.value.errors


def test_only_data_managers_lock_and_a_reason_is_required(data_manager, coordinator, patient):
    with pytest.raises(PermissionDenied):
        patient_lock(actor=coordinator, patient=patient, reason="x")
    with pytest.raises(DomainValidationError) as exc:
        patient_lock(actor=data_manager, patient=patient, reason=" ")
    assert "reason" in exc.value.errors
    patient_lock(actor=data_manager, patient=patient, reason="cut-off")
    with pytest.raises(DomainValidationError):
        patient_lock(actor=data_manager, patient=patient, reason="again")
    assert Lock.objects.count() == 1


# --- locking through the API, the web UI and the admin --------------------------------------------------------------


def _token_client(user) -> APIClient:
    client = APIClient()
    secret, _ = api_token_issue(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def test_api_edits_of_a_locked_patient_are_refused_with_400_naming_the_lock(data_manager, coordinator, patient, month1):
    patient_lock(actor=data_manager, patient=patient, reason="Interim cut-off")
    client = _token_client(coordinator)
    response = client.patch(
        f"/api/v1/visits/{month1.pk}/", {"pain": {"worst": 7}, "reason": "typo"}, format="json", **if_match(month1)
    )
    assert response.status_code == 400, response.content
    assert "locked" in response.json()["errors"]
    response = client.patch(
        f"/api/v1/patients/{patient.study_id}/", {"ecog": 2, "reason": "typo"}, format="json", **if_match(patient)
    )
    assert response.status_code == 400 and "locked" in response.json()["errors"]
    month1.pain.refresh_from_db()
    assert month1.pain.worst == 4


def test_ui_visit_form_post_on_a_locked_patient_is_refused_and_shows_the_lock(client, data_manager, coordinator, patient, month1):
    patient_lock(actor=data_manager, patient=patient, reason="Interim cut-off")
    client.force_login(coordinator)
    url = reverse("visit_entry", kwargs={"study_id": patient.study_id, "visit_code": "month1"})
    data = {
        "visit_date": month1.visit_date.isoformat(),
        "expected_version": str(month1.version),
        "worst": "7",
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
    response = client.post(url, data)
    assert response.status_code == 200  # the form again, not the redirect of a successful save
    assert "Interim cut-off" in response.content.decode()
    month1.pain.refresh_from_db()
    assert month1.pain.worst == 4


def test_admin_cannot_change_a_locked_record(client, data_manager, patient, month1, user_model):
    patient_lock(actor=data_manager, patient=patient, reason="cut-off")
    admin = user_model.objects.create_superuser("root", password="x-Secret-123")
    client.force_login(admin)
    response = client.post(reverse("admin:trials_visit_change", args=[month1.pk]), {"visit_date": "2020-01-01"})
    assert response.status_code == 403
    month1.refresh_from_db()
    assert month1.visit_date != dt.date(2020, 1, 1)
    # and the admin's identity gets no bypass through the services either
    with pytest.raises(DomainValidationError) as exc:
        services.clinical_record_update(actor=admin, instance=month1, changes={"out_of_window": True}, reason="x")
    assert "locked" in exc.value.errors


def test_the_signature_time_is_manifested_in_the_sites_time_zone(client, site, site_investigator, month1):
    site.time_zone = "America/Chicago"
    site.save()
    signature = visit_sign(actor=site_investigator, visit=month1, password=PASSWORD, meaning="author")
    assert signature.time_zone == "America/Chicago"
    client.force_login(site_investigator)
    page = client.get(f"/patients/{month1.patient.study_id}/visits/month1/view/").content.decode()
    local = signature.signed_at.astimezone(ZoneInfo("America/Chicago"))
    assert f"{local:%-d %b %Y %H:%M} {local.tzname()} (America/Chicago)" in page
