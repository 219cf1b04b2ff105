"""API of data management and interop: exports per role, query lifecycle, signing, locking and unlocking."""

from __future__ import annotations

import io

import pytest
from lxml import etree
from openpyxl import load_workbook
from rest_framework.test import APIClient

from apicore.tokens import api_token_issue
from tests.data_management.conftest import PASSWORD
from tests.factories import if_match
from trials.interop.odm import odm_validate
from trials.models import DataQuery, Lock, QueryStatus, Signature

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=user)[0]}")
    return client


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_odm_and_redcap_exports_for_staff_and_403_for_sponsors(coordinator, sponsor, month1):
    odm = client_for(coordinator).get("/api/v1/export/odm.xml")
    assert odm.status_code == 200 and odm["Content-Type"] == "application/xml"
    assert odm_validate(etree.fromstring(_body(odm)).getroottree()) == []
    records = client_for(coordinator).get("/api/v1/export/redcap/records.csv")
    assert records.status_code == 200 and month1.patient.study_id in records.content.decode()
    dictionary = client_for(coordinator).get("/api/v1/export/redcap/dictionary.csv")
    assert dictionary.content.decode().startswith("Variable / Field Name,Form Name,")
    assert client_for(sponsor).get("/api/v1/export/odm.xml").status_code == 403


def test_exports_are_scoped_to_the_caller(coordinator, other_coordinator, month1):
    assert month1.patient.study_id not in client_for(other_coordinator).get("/api/v1/export/redcap/records.csv").content.decode()


def test_registry_workbook_is_deidentified_for_sponsors(coordinator, sponsor, month1):
    staff = load_workbook(io.BytesIO(client_for(coordinator).get("/api/v1/export/registry.xlsx").content), read_only=True)
    assert "visits" in staff.sheetnames and "data-queries" in staff.sheetnames
    staff_header = [c.value for c in next(staff["visits"].iter_rows(max_row=1))]
    assert "visit_date" in staff_header
    book = load_workbook(io.BytesIO(client_for(sponsor).get("/api/v1/export/registry.xlsx").content), read_only=True)
    assert "data-queries" not in book.sheetnames
    header = [c.value for c in next(book["visits"].iter_rows(max_row=1))]
    assert "visit_day" in header and "visit_date" not in header
    ae_header = [c.value for c in next(book["adverse-events"].iter_rows(max_row=1))]
    assert "term" not in ae_header  # free text withheld
    rows = list(book["visits"].iter_rows(min_row=2, values_only=True))
    assert 30 in [row[header.index("visit_day")] for row in rows]


def test_query_lifecycle_through_the_api(data_manager, coordinator, month1):
    dm, site = client_for(data_manager), client_for(coordinator)
    opened = dm.post(
        "/api/v1/data-queries/",
        {"record_type": "visit", "object_id": month1.pk, "field_name": "visit_date", "message": "Confirm the date"},
        format="json",
    )
    assert opened.status_code == 201, opened.content
    pk = opened.json()["id"]
    listed = site.get("/api/v1/data-queries/?status=open").json()
    assert [q["id"] for q in listed] == [pk] and listed[0]["patient"] == month1.patient.study_id
    assert site.post(f"/api/v1/data-queries/{pk}/answer/", {"message": "Correct as entered"}, format="json").status_code == 200
    assert site.post(f"/api/v1/data-queries/{pk}/close/", {}, format="json").status_code == 403
    closed = dm.post(f"/api/v1/data-queries/{pk}/close/", {"message": "OK"}, format="json")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    reopened = dm.post(f"/api/v1/data-queries/{pk}/reopen/", {"message": "Source differs"}, format="json")
    assert reopened.json()["status"] == "open"
    assert [r["action"] for r in reopened.json()["responses"]] == ["open", "answer", "close", "reopen"]
    assert DataQuery.objects.get().status == QueryStatus.OPEN


def test_signing_through_the_api_refuses_a_wrong_password(site_investigator, month1):
    client = client_for(site_investigator)
    wrong = client.post(f"/api/v1/signatures/visits/{month1.pk}/", {"password": "nope"}, format="json")
    assert wrong.status_code == 400 and "password" in wrong.json()["errors"]
    signed = client.post(f"/api/v1/signatures/visits/{month1.pk}/", {"password": PASSWORD, "meaning": "approval"}, format="json")
    assert signed.status_code == 201 and signed.json()["signer"] == "si_atl"
    assert (signed.json()["meaning_code"], signed.json()["printed_name"], signed.json()["time_zone"]) == (
        "approval",
        "si_atl",
        "UTC",
    )
    assert Signature.objects.get().meaning == "I approve the data of this visit as complete and accurate."
    free_text = client.post(
        f"/api/v1/signatures/visits/{month1.pk}/", {"password": PASSWORD, "meaning": "Looks fine"}, format="json"
    )
    assert free_text.status_code == 400 and "meaning" in free_text.json()["errors"]


def test_lock_and_unlock_through_the_api(data_manager, coordinator, patient, month1):
    dm = client_for(data_manager)
    locked = dm.post("/api/v1/locks/", {"patient": patient.study_id, "reason": "Interim cut-off"}, format="json")
    assert locked.status_code == 201
    refused = client_for(coordinator).patch(
        f"/api/v1/visits/{month1.pk}/", {"pain": {"worst": 7}, "reason": "typo"}, format="json", **if_match(month1)
    )
    assert refused.status_code == 400 and "locked" in refused.json()["errors"]
    assert (
        client_for(coordinator).post(f"/api/v1/locks/{locked.json()['id']}/unlock/", {"message": "x"}, format="json").status_code
        == 403
    )
    no_reason = dm.post(f"/api/v1/locks/{locked.json()['id']}/unlock/", {}, format="json")
    assert no_reason.status_code == 400 and "unlock_reason" in no_reason.json()["errors"]
    unlocked = dm.post(f"/api/v1/locks/{locked.json()['id']}/unlock/", {"message": "Resolving queries"}, format="json")
    assert unlocked.status_code == 200 and unlocked.json()["unlock_reason"] == "Resolving queries"
    allowed = client_for(coordinator).patch(
        f"/api/v1/visits/{month1.pk}/", {"pain": {"worst": 7}, "reason": "typo"}, format="json", **if_match(month1)
    )
    assert allowed.status_code == 200
    assert not Lock.objects.filter(unlocked_at__isnull=True).exists()
