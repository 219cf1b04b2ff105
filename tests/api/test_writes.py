"""Writes go through the services: reason required, If-Match → 409 with nothing overwritten, void, history, ETags."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.factories import if_match
from trials.models import AdverseEvent, Patient, Visit

pytestmark = pytest.mark.django_db


def test_patch_without_reason_is_400_naming_reason(registry):
    ae = registry.patients["own"].adverse_events.get()
    response = registry.client("coordinator").patch(
        f"/api/v1/adverse-events/{ae.pk}/", {"outcome": "recovered"}, format="json", **if_match(ae)
    )
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and body["code"] == "invalid"
    assert "reason" in body["errors"] and "reason" in body["errors"]["reason"][0].lower()
    ae.refresh_from_db()
    assert ae.outcome == "recovered" and ae.version == 1  # unchanged: it was "recovered" from the fixture


def test_stale_if_match_is_409_and_nothing_is_overwritten(registry):
    ae = registry.patients["own"].adverse_events.get()
    client = registry.client("coordinator")
    first = client.patch(
        f"/api/v1/adverse-events/{ae.pk}/", {"outcome": "recovering", "reason": "SDV"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert first.status_code == 200 and first["ETag"] == '"2"'
    stale = client.patch(
        f"/api/v1/adverse-events/{ae.pk}/", {"outcome": "sequelae", "reason": "SDV"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert stale.status_code == 409
    assert stale.json()["code"] == "conflict" and "If-Match" in stale.json()["errors"]
    ae.refresh_from_db()
    assert (ae.outcome, ae.version) == ("recovering", 2)


def test_malformed_if_match_is_400(registry):
    ae = registry.patients["own"].adverse_events.get()
    response = registry.client("coordinator").patch(
        f"/api/v1/adverse-events/{ae.pk}/", {"outcome": "recovering", "reason": "x"}, format="json", HTTP_IF_MATCH="yesterday"
    )
    assert response.status_code == 400 and "If-Match" in response.json()["errors"]


def test_domain_rule_errors_name_the_field(registry):
    ae = registry.patients["own"].adverse_events.get()
    response = registry.client("coordinator").patch(
        f"/api/v1/adverse-events/{ae.pk}/", {"ctcae_grade": 5, "reason": "x"}, format="json", **if_match(ae)
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "ctcae_grade" in errors and "SIR grade 'death'" in " ".join(errors["ctcae_grade"])


def test_create_goes_through_the_service_and_is_audited(registry, today):
    patient = registry.patients["own"]
    body = {
        "patient": patient.study_id,
        "term": "Hematoma",
        "onset_date": str(patient.day0 + dt.timedelta(days=1)),
        "sir_grade": "mild",
        "ctcae_grade": 1,
        "relatedness": "procedure",
        "serious": False,
        "outcome": "recovered",
    }
    response = registry.client("coordinator").post("/api/v1/adverse-events/", body, format="json")
    assert response.status_code == 201, response.json()
    created = AdverseEvent.objects.get(pk=response.json()["id"])
    assert created.created_by.username == "coord" and created.history.count() == 1
    future = {**body, "onset_date": str(today + dt.timedelta(days=3))}
    rejected = registry.client("coordinator").post("/api/v1/adverse-events/", future, format="json")
    assert rejected.status_code == 400 and "onset_date" in rejected.json()["errors"]


def test_enrollment_reports_failed_eligibility_per_field(registry, today):
    body = {
        "site": "ATL",
        "birth_year": 1960,
        "sex": "F",
        "histology": "breast",
        "ecog": 4,
        "consent_date": str(today - dt.timedelta(days=2)),
        "enrollment_date": str(today - dt.timedelta(days=1)),
        "day0": str(today),
        "screening_worst_pain": 3,
        "index_lesion": {"region": "pelvis", "bone": "ilium", "lesion_type": "lytic", "mechanical_or_functional_pain": True},
    }
    response = registry.client("coordinator").post("/api/v1/patients/", body, format="json")
    assert response.status_code == 400
    assert {"ecog", "screening_worst_pain"} <= set(response.json()["errors"])
    ok = registry.client("coordinator").post("/api/v1/patients/", {**body, "ecog": 1, "screening_worst_pain": 7}, format="json")
    assert ok.status_code == 201 and ok.json()["study_id"].startswith("ATL-")
    assert Patient.objects.get(study_id=ok.json()["study_id"]).visits.count() == 7


def test_void_needs_a_reason_and_keeps_the_record(registry):
    sre = registry.patients["own"].skeletal_events.get()
    client = registry.client("coordinator")
    assert client.post(f"/api/v1/skeletal-events/{sre.pk}/void/", {}, format="json", **if_match(sre)).status_code == 400
    response = client.post(
        f"/api/v1/skeletal-events/{sre.pk}/void/", {"reason": "Duplicate entry"}, format="json", **if_match(sre)
    )
    assert response.status_code == 200 and response.json()["voided"] is True
    sre.refresh_from_db()
    assert sre.void_reason == "Duplicate entry"
    assert client.get(f"/api/v1/skeletal-events/{sre.pk}/").json()["voided"] is True


def test_history_lists_who_when_reason_and_changes(registry):
    ae = registry.patients["own"].adverse_events.get()
    client = registry.client("coordinator")
    client.patch(
        f"/api/v1/adverse-events/{ae.pk}/", {"outcome": "sequelae", "reason": "Follow-up call"}, format="json", **if_match(ae)
    )
    history = client.get(f"/api/v1/adverse-events/{ae.pk}/history/").json()
    assert [h["action"] for h in history] == ["created", "changed"]
    last = history[-1]
    assert last["who"] == "coord" and last["reason"] == "Follow-up call" and last["when"]
    changes = {c["field"]: (c["old"], c["new"]) for c in last["changes"]}
    assert changes["outcome"] == ("recovered", "sequelae") and changes["version"] == (1, 2)


def test_visit_patch_records_through_visit_record(registry):
    visit = registry.patients["own"].visits.get(visit_code="month1")
    client = registry.client("coordinator")
    no_reason = client.patch(f"/api/v1/visits/{visit.pk}/", {"pain": {"worst": 2}}, format="json", **if_match(visit))
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["errors"]
    response = client.patch(
        f"/api/v1/visits/{visit.pk}/", {"pain": {"worst": 2}, "reason": "Transcription"}, format="json", **if_match(visit)
    )
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["pain"]["worst"] == 2 and data["pain"]["least"] == 1  # other items kept
    assert data["omed"] == "30.00" and len(data["medications"]) == 1  # oxycodone 10 mg × 2 = 30 MME/day kept
    bad = client.patch(f"/api/v1/visits/{visit.pk}/", {"pain": {"worst": 12}, "reason": "x"}, format="json", **if_match(visit))
    assert bad.status_code == 400 and "pain.worst" in bad.json()["errors"]


def test_first_visit_entry_needs_no_reason(registry):
    patient = registry.patients["own"]
    visit = patient.visits.get(visit_code="week1")
    body = {
        "visit_date": str(patient.day0 + dt.timedelta(days=7)),
        "opioid_status": "none",
        "pain": {"worst": 5},
        "medications": [],
    }
    response = registry.client("coordinator").put(f"/api/v1/visits/{visit.pk}/", body, format="json", **if_match(visit))
    assert response.status_code == 200, response.json()
    assert Visit.objects.get(pk=visit.pk).visit_date == patient.day0 + dt.timedelta(days=7)
    assert response.json()["omed"] == "0.00"


def test_etag_and_if_none_match_give_304(registry):
    client = registry.client("investigator")
    patient = registry.patients["own"]
    detail = client.get(f"/api/v1/patients/{patient.study_id}/")
    assert detail["ETag"] == f'"{patient.version}"'
    assert client.get(f"/api/v1/patients/{patient.study_id}/", HTTP_IF_NONE_MATCH=detail["ETag"]).status_code == 304
    listing = client.get("/api/v1/patients/")
    assert client.get("/api/v1/patients/", HTTP_IF_NONE_MATCH=listing["ETag"]).status_code == 304
    registry.client("data_manager").patch(
        f"/api/v1/patients/{patient.study_id}/", {"ecog": 0, "reason": "SDV"}, format="json", **if_match(patient)
    )
    assert client.get("/api/v1/patients/", HTTP_IF_NONE_MATCH=listing["ETag"]).status_code == 200
    assert client.get(f"/api/v1/patients/{patient.study_id}/", HTTP_IF_NONE_MATCH=detail["ETag"]).status_code == 200


def test_error_shape_is_the_same_for_401_403_404(registry):
    anonymous = registry.client("anonymous").get("/api/v1/patients/")
    forbidden = registry.client("sponsor").post("/api/v1/adverse-events/", {}, format="json")
    missing = registry.client("coordinator").get("/api/v1/patients/BOS-0001/")
    for response, status in ((anonymous, 401), (forbidden, 403), (missing, 404)):
        assert response.status_code == status
        assert set(response.json()) == {"status", "code", "detail", "errors"} and response.json()["status"] == status
    assert anonymous["WWW-Authenticate"] == "Token"


def test_doses_per_day_zero_is_400_naming_the_field(registry):
    patient = registry.patients["own"]
    visit = patient.visits.get(visit_code="week1")
    med = {"drug": "oxycodone", "route": "oral", "dose": "10", "unit": "mg", "doses_per_day": "0"}
    body = {
        "visit_date": str(patient.day0 + dt.timedelta(days=7)),
        "opioid_status": "taking",
        "pain": {"worst": 5},
        "medications": [med],
    }
    response = registry.client("coordinator").put(f"/api/v1/visits/{visit.pk}/", body, format="json", **if_match(visit))
    assert response.status_code == 400
    assert "medications[0].doses_per_day" in json.dumps(response.json())
    assert Visit.objects.get(pk=visit.pk).visit_date is None
