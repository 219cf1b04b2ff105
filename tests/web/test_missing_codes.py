"""Missing-data codes per BPI item and 'visit not done': stored apart from blanks, exported as codes, counted apart."""

from __future__ import annotations

import csv
import dataclasses
import io
import zipfile

import pytest
from django.urls import reverse
from lxml import html
from openpyxl import load_workbook

from tests.api.conftest import token_client
from tests.web.test_visit_form import _error_beside, _post_data, _url
from trials import services
from trials.domain.schedule import VisitStatus
from trials.errors import DomainValidationError
from trials.interop.exports import registry_xlsx, tables_csv_zip
from trials.web.selectors.dashboard import dashboard_for
from trials.web.selectors.worklist import worklist_for

pytestmark = pytest.mark.django_db


def _coded_month1(coordinator, patient, today):
    visit = patient.visits.get(visit_code="month1")
    data = services.VisitData(
        visit_date=today,
        pain={"worst": None, "least": 2, "average": 3, "current": None, "sleep": None},
        opioid_status="none",
        missing_codes={"worst": "ASKU", "current": "UNK"},
    )
    services.visit_record(actor=coordinator, visit=visit, data=data)
    visit.refresh_from_db()
    return visit


def test_codes_are_stored_apart_from_blanks(coordinator, month1_due_patient, today):
    visit = _coded_month1(coordinator, month1_due_patient, today)
    assert visit.missing_codes == {"worst": "ASKU", "current": "UNK"}
    assert visit.pain.worst is None and visit.pain.sleep is None  # both empty: one coded, one plain blank
    assert services.VisitData.from_visit(visit).missing_codes == {"worst": "ASKU", "current": "UNK"}


@pytest.mark.parametrize(
    ("pain", "codes", "key", "text"),
    [
        ({"worst": 4}, {"worst": "UNK"}, "pain.worst", "not both"),
        ({}, {"worst": "MAYBE"}, "pain.worst", "NASK, UNK, NA, ASKU"),
        ({}, {"visit_date": "UNK"}, "missing_codes.visit_date", "BPI items only"),
    ],
)
def test_code_rules_name_the_item(coordinator, month1_due_patient, today, pain, codes, key, text):
    visit = month1_due_patient.visits.get(visit_code="month1")
    with pytest.raises(DomainValidationError) as exc:
        services.visit_record(actor=coordinator, visit=visit, data=services.VisitData(today, pain, "none", [], codes))
    assert text in " ".join(exc.value.errors[key])


def test_a_value_entered_later_replaces_the_code(coordinator, month1_due_patient, today):
    visit = _coded_month1(coordinator, month1_due_patient, today)
    data = services.VisitData.from_visit(visit).with_changes(pain={"worst": 6})
    assert data.missing_codes == {"current": "UNK"}
    services.visit_record(actor=coordinator, visit=visit, data=data, reason="Patient answered on the phone")
    visit.refresh_from_db()
    assert (visit.pain.worst, visit.missing_codes) == (6, {"current": "UNK"})


def test_visit_not_done_is_its_own_status_not_missed(coordinator, data_manager, month1_due_patient, today):
    visit = month1_due_patient.visits.get(visit_code="month1")
    with pytest.raises(DomainValidationError) as exc:
        services.visit_record(
            actor=coordinator, visit=visit, data=services.VisitData(today, {"worst": 3}, "none", not_done_reason="In hospital")
        )
    assert {"not_done_reason", "visit_date"} <= set(exc.value.errors)
    week1 = month1_due_patient.visits.get(visit_code="week1")  # window closed: missed until recorded as not done
    missed_before = worklist_for(coordinator).counts["missed"]
    for v in (visit, week1):
        services.visit_record(
            actor=coordinator, visit=v, data=services.VisitData(None, not_done_reason="Admitted to another hospital")
        )
        v.refresh_from_db()
        assert v.status_on(today) == VisitStatus.NOT_DONE
    worklist = worklist_for(coordinator)
    assert month1_due_patient.study_id not in {r.patient.study_id for r in worklist.rows}
    assert worklist.counts["missed"] == missed_before - 1
    row = dashboard_for(data_manager).rows[0]
    assert (row.total.not_done, row.total.expected - row.total.completed - row.total.not_done) == (2, 2)  # baseline, day 3 missed


def test_web_form_codes_and_not_done(coordinator_client, month1_due_patient, today):
    visit = month1_due_patient.visits.get(visit_code="month1")
    post = _post_data(visit, today, status="none") | {"worst": "", "worst__missing": "NASK", "least__missing": "UNK"}
    body = coordinator_client.post(_url(month1_due_patient), post).content.decode()
    assert "not both" in _error_beside(body, "id_least")  # least = 2 was also given
    post["least__missing"] = ""
    assert coordinator_client.post(_url(month1_due_patient), post).status_code == 302
    visit.refresh_from_db()
    assert visit.missing_codes == {"worst": "NASK"}
    page = html.fromstring(coordinator_client.get(_url(month1_due_patient)).content.decode())
    assert page.xpath('//select[@name="worst__missing"]/option[@selected]')[0].get("value") == "NASK"
    week1 = month1_due_patient.visits.get(visit_code="week1")
    post = {
        "expected_version": str(week1.version),
        "not_done_reason": "Patient in intensive care",
        "med-TOTAL_FORMS": "0",
        "med-INITIAL_FORMS": "0",
        "med-MIN_NUM_FORMS": "0",
        "med-MAX_NUM_FORMS": "20",
    }
    assert coordinator_client.post(_url(month1_due_patient, "week1"), post).status_code == 302
    week1.refresh_from_db()
    assert week1.not_done_reason == "Patient in intensive care" and week1.visit_date is None
    timeline = coordinator_client.get(reverse("patient_detail", args=[month1_due_patient.study_id])).content.decode()
    assert "Not done: Patient in intensive care" in html.fromstring(timeline).xpath('//tr[@data-visit="week1"]')[0].text_content()


def test_api_round_trip_and_exports_carry_the_codes(coordinator, data_manager, sponsor, month1_due_patient, today):
    visit = month1_due_patient.visits.get(visit_code="month1")
    client = token_client(coordinator)
    body = {
        "visit_date": today.isoformat(),
        "opioid_status": "none",
        "pain": {"least": 1},
        "medications": [],
        "missing_codes": {"worst": "NA"},
    }
    response = client.patch(f"/api/v1/visits/{visit.pk}/", body, format="json", HTTP_IF_MATCH=f'"{visit.version}"')
    assert response.status_code == 200, response.json()
    assert client.get(f"/api/v1/visits/{visit.pk}/").json()["missing_codes"] == {"worst": "NA"}
    bad = client.patch(
        f"/api/v1/visits/{visit.pk}/",
        {"missing_codes": {"worst": "??"}, "reason": "x"},
        format="json",
        HTTP_IF_MATCH=f'"{visit.version + 1}"',
    )
    assert bad.status_code == 400 and "pain.worst" in bad.json()["errors"]
    for user in (data_manager, sponsor):
        rows = list(
            csv.DictReader(io.StringIO(b"".join(token_client(user).get("/api/v1/export/visits.csv").streaming_content).decode()))
        )
        month1 = next(r for r in rows if r["visit_code"] == "month1")
        assert (month1["pain_worst"], month1["pain_least"], month1["pain_average"]) == ("NA", "1", "")  # code, value, blank
    with zipfile.ZipFile(io.BytesIO(tables_csv_zip(data_manager))) as archive:
        pain = list(csv.DictReader(io.StringIO(archive.read("pain-assessments.csv").decode("utf-8-sig"))))
    assert pain[0]["worst"] == "NA"
    sheet = load_workbook(io.BytesIO(registry_xlsx(data_manager)))["pain-assessments"]
    header = [c.value for c in sheet[1]]
    assert sheet.cell(row=2, column=header.index("worst") + 1).value == "NA"


def test_completeness_counts_coded_items_apart_from_blanks(coordinator, data_manager, month1_due_patient, today):
    _coded_month1(coordinator, month1_due_patient, today)
    items = dashboard_for(data_manager).rows[0].items
    # 12 items: least and average answered, worst ASKU and current UNK coded, 8 plain blanks (sleep among them).
    assert (items.blank, items.coded) == (8, {"NASK": 0, "UNK": 1, "NA": 0, "ASKU": 1})


def test_void_clears_codes_and_not_done(coordinator, month1_due_patient, today):
    visit = _coded_month1(coordinator, month1_due_patient, today)
    services.visit_data_void(actor=coordinator, visit=visit, reason="Wrong patient")
    visit.refresh_from_db()
    assert (visit.missing_codes, visit.not_done_reason, visit.visit_date) == ({}, "", None)
    assert dataclasses.asdict(services.VisitData.from_visit(visit))["missing_codes"] == {}
