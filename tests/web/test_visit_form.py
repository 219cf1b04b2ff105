"""Visit entry through the web form: saving, errors beside fields, reason for change, audit history."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from lxml import html

from trials.models import PainAssessment, Visit

pytestmark = pytest.mark.django_db


def _url(patient, code="month1", name="visit_entry"):
    return reverse(name, kwargs={"study_id": patient.study_id, "visit_code": code})


def _post_data(visit: Visit, today, *, worst="6", status="taking", meds=(), reason=None) -> dict:
    data = {
        "visit_date": today.isoformat(),
        "expected_version": str(visit.version),
        "worst": worst,
        "least": "2",
        "average": "4",
        "current": "3",
        "general_activity": "5",
        "mood": "4",
        "walking_ability": "6",
        "normal_work": "",
        "relations": "",
        "sleep": "3",
        "enjoyment_of_life": "",
        "relief_pct": "50",
        "opioid_status": status,
        "med-TOTAL_FORMS": str(len(meds)),
        "med-INITIAL_FORMS": "0",
        "med-MIN_NUM_FORMS": "0",
        "med-MAX_NUM_FORMS": "20",
    }
    for i, row in enumerate(meds):
        for key, value in row.items():
            data[f"med-{i}-{key}"] = value
    if reason is not None:
        data["reason"] = reason
    return data


OXY = {"drug": "oxycodone", "route": "oral", "dose": "10", "unit": "mg", "doses_per_day": "2"}  # 30 MME/day (CDC example)
FENTANYL = {"drug": "fentanyl", "route": "transdermal", "dose": "25", "unit": "mcg/h", "doses_per_day": "1"}  # 60 MME/day


def _error_beside(body: str, field_id: str) -> str:
    """Text of the error list inside the field's own wrapper (or table cell)."""
    tree = html.fromstring(body)
    errors = tree.xpath(f'//*[@id="{field_id}_error"]')
    assert errors, f"no error shown beside {field_id}"
    container = errors[0].getparent()
    assert container.xpath(f'.//*[@id="{field_id}"]'), "the error is not next to its field"
    return errors[0].text_content()


def test_month1_with_two_opioid_rows_saves_and_computes_omed(coordinator_client, month1_due_patient, today):
    visit = month1_due_patient.visits.get(visit_code="month1")
    response = coordinator_client.post(_url(month1_due_patient), _post_data(visit, today, meds=[OXY, FENTANYL]))
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.visit_date == today
    assert visit.omed() == Decimal("90.00")
    assert visit.pain.worst == 6
    detail = coordinator_client.get(response["Location"]).content.decode()
    row = html.fromstring(detail).xpath('//tr[@data-visit="month1"]')[0].text_content()
    assert "Completed" in row and "90" in row
    assert month1_due_patient.study_id not in coordinator_client.get(reverse("worklist")).content.decode()


def test_worst_pain_11_shows_the_error_beside_the_field_and_saves_nothing(coordinator_client, month1_due_patient, today):
    visit = month1_due_patient.visits.get(visit_code="month1")
    response = coordinator_client.post(_url(month1_due_patient), _post_data(visit, today, worst="11", meds=[OXY]))
    assert response.status_code == 200
    assert "between 0 and 10" in _error_beside(response.content.decode(), "id_worst")
    visit.refresh_from_db()
    assert visit.visit_date is None
    assert not PainAssessment.objects.filter(visit=visit).exists()
    assert not visit.medications.exists()


def test_opioid_row_error_is_beside_that_row(coordinator_client, month1_due_patient, today):
    visit = month1_due_patient.visits.get(visit_code="month1")
    bad = {**OXY, "route": "transdermal"}
    body = coordinator_client.post(_url(month1_due_patient), _post_data(visit, today, meds=[OXY, bad])).content.decode()
    assert "No CDC 2022 conversion factor" in _error_beside(body, "id_med-1-route")
    assert not html.fromstring(body).xpath('//*[@id="id_med-0-route_error"]')


def test_taking_opioids_without_rows_is_explained_at_the_opioid_question(coordinator_client, month1_due_patient, today):
    visit = month1_due_patient.visits.get(visit_code="month1")
    body = coordinator_client.post(_url(month1_due_patient), _post_data(visit, today, meds=[])).content.decode()
    assert "at least one opioid row" in _error_beside(body, "id_opioid_status")


def test_explicit_no_opioids_is_zero(coordinator_client, month1_due_patient, today):
    visit = month1_due_patient.visits.get(visit_code="month1")
    coordinator_client.post(_url(month1_due_patient), _post_data(visit, today, status="none"))
    visit.refresh_from_db()
    assert visit.omed() == Decimal("0")


def test_the_page_carries_the_mme_table_and_live_outputs(coordinator_client, month1_due_patient):
    body = coordinator_client.get(_url(month1_due_patient)).content.decode()
    tree = html.fromstring(body)
    import json

    table = json.loads(tree.xpath('//script[@id="mme-table"]')[0].text)
    assert table["version"] == "CDC 2022"
    assert table["drugs"]["oxycodone"] == {"route": "oral", "unit": "mg", "factor": "1.5"}
    assert tree.xpath('//output[@id="mme-total"]') and tree.xpath('//output[@id="interference-score"]')
    assert tree.xpath('//template[@id="med-row-template"]')
    for field_id in ("id_worst", "id_visit_date", "id_sleep"):
        assert tree.xpath(f'//label[@for="{field_id}"]'), f"{field_id} has no label"


def _record_first(client, patient, today):
    visit = patient.visits.get(visit_code="month1")
    assert client.post(_url(patient), _post_data(visit, today, meds=[OXY])).status_code == 302
    visit.refresh_from_db()
    return visit


def test_correction_requires_a_reason(coordinator_client, month1_due_patient, today):
    visit = _record_first(coordinator_client, month1_due_patient, today)
    form_page = coordinator_client.get(_url(month1_due_patient)).content.decode()
    assert 'name="reason"' in form_page
    response = coordinator_client.post(_url(month1_due_patient), _post_data(visit, today, worst="3", meds=[OXY], reason=""))
    assert response.status_code == 200
    assert "reason for change is required" in _error_beside(response.content.decode(), "id_reason")
    visit.refresh_from_db()
    assert visit.pain.worst == 6


def test_correction_with_reason_is_saved_and_in_the_audit_history(coordinator_client, month1_due_patient, today):
    visit = _record_first(coordinator_client, month1_due_patient, today)
    response = coordinator_client.post(
        _url(month1_due_patient), _post_data(visit, today, worst="3", meds=[OXY], reason="Transcription error on the paper form")
    )
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.pain.worst == 3
    history = coordinator_client.get(_url(month1_due_patient, name="visit_history")).content.decode()
    assert "Transcription error on the paper form" in history
    row = [
        tr.text_content()
        for tr in html.fromstring(history).xpath('//table[@id="audit"]/tbody/tr')
        if "Transcription" in tr.text_content()
    ]
    assert any("Worst pain in the last 24 hours" in text and "6" in text and "3" in text and "coord" in text for text in row)
    assert "no field changes" not in history and "Opioid row #" not in history


def test_stale_version_is_reported_not_overwritten(coordinator_client, month1_due_patient, today):
    visit = _record_first(coordinator_client, month1_due_patient, today)
    stale = _post_data(visit, today, worst="2", meds=[OXY], reason="late edit")
    stale["expected_version"] = str(visit.version - 1)
    body = coordinator_client.post(_url(month1_due_patient), stale).content.decode()
    assert "Reload it and apply your change again" in body
    visit.refresh_from_db()
    assert visit.pain.worst == 6


def test_doses_per_day_zero_is_an_error_beside_the_field(coordinator_client, month1_due_patient, today):
    visit = month1_due_patient.visits.get(visit_code="month1")
    body = coordinator_client.post(
        _url(month1_due_patient), _post_data(visit, today, meds=[{**OXY, "doses_per_day": "0"}])
    ).content.decode()
    assert "must be positive" in _error_beside(body, "id_med-0-doses_per_day")
    visit.refresh_from_db()
    assert visit.visit_date is None and not visit.medications.exists()
