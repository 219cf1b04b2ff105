"""Visit entry as coordinators expect: one round of errors, out-of-window confirmation, prefill, next visit, opioid guidance."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from lxml import html

from tests.factories import enroll_patient
from tests.web.test_visit_form import OXY, _error_beside, _post_data, _url

pytestmark = pytest.mark.django_db


def test_parse_range_and_date_errors_all_shown_in_one_round(coordinator_client, month1_due_patient, today):
    visit = month1_due_patient.visits.get(visit_code="month1")
    post = _post_data(visit, today + dt.timedelta(days=1), worst="six", meds=[OXY])
    post["least"] = "11"
    post["med-0-dose"] = "-5"
    body = coordinator_client.post(_url(month1_due_patient), post).content.decode()
    assert "whole number" in _error_beside(body, "id_worst").lower()  # the form's parse error
    assert "between 0 and 10" in _error_beside(body, "id_least")  # the service's range rule
    assert "Cannot be in the future" in _error_beside(body, "id_visit_date")  # the service's date rule
    assert "positive" in _error_beside(body, "id_med-0-dose")  # the opioid row's rule
    visit.refresh_from_db()
    assert visit.visit_date is None


def test_out_of_window_date_needs_explicit_confirmation(coordinator_client, month1_due_patient, today):
    visit = month1_due_patient.visits.get(visit_code="month1")  # window: day 21–42; today is day 25
    early = today - dt.timedelta(days=10)  # day 15
    body = coordinator_client.post(_url(month1_due_patient), _post_data(visit, early, meds=[OXY])).content.decode()
    message = _error_beside(body, "id_visit_date")
    assert "outside the Month 1 window" in message and "tick" in message
    assert not html.fromstring(body).xpath('//div[@id="window-confirmation"][@hidden]')  # the checkbox is offered
    visit.refresh_from_db()
    assert visit.visit_date is None
    post = _post_data(visit, early, meds=[OXY]) | {"confirm_out_of_window": "on"}
    assert coordinator_client.post(_url(month1_due_patient), post).status_code == 302
    visit.refresh_from_db()
    assert (visit.visit_date, visit.out_of_window) == (early, True)


def test_in_window_date_needs_no_confirmation(coordinator_client, month1_due_patient, today):
    visit = month1_due_patient.visits.get(visit_code="month1")
    assert coordinator_client.post(_url(month1_due_patient), _post_data(visit, today, meds=[OXY])).status_code == 302


def _date_value(client, patient, code) -> str | None:
    tree = html.fromstring(client.get(_url(patient, code)).content.decode())
    return tree.xpath('//input[@id="id_visit_date"]')[0].get("value")


def test_date_prefilled_only_when_today_is_in_the_window(coordinator_client, month1_due_patient, today):
    assert _date_value(coordinator_client, month1_due_patient, "month1") == today.isoformat()
    assert _date_value(coordinator_client, month1_due_patient, "week1") is None  # window closed 15 days ago
    assert _date_value(coordinator_client, month1_due_patient, "month3") is None  # not open yet


def test_window_shown_never_starts_before_consent(coordinator_client, coordinator, site, today):
    day0 = today - dt.timedelta(days=2)
    patient = enroll_patient(
        coordinator, site, enrollment_date=day0 - dt.timedelta(days=3), consent_date=day0 - dt.timedelta(days=4), day0=day0
    )
    baseline = patient.visits.get(visit_code="baseline")
    assert baseline.window_start == day0 - dt.timedelta(days=14)
    tree = html.fromstring(coordinator_client.get(_url(patient, "baseline")).content.decode())
    window = tree.xpath('//p[@id="visit-window"]')[0]
    assert window.get("data-start") == (day0 - dt.timedelta(days=4)).isoformat()
    consent = day0 - dt.timedelta(days=4)
    assert f"Window {consent.day} {consent:%b %Y}" in window.text_content()


def test_save_and_go_to_the_next_visit(coordinator_client, month1_due_patient, today):
    week1 = month1_due_patient.visits.get(visit_code="week1")
    late = today - dt.timedelta(days=1)
    page = html.fromstring(coordinator_client.get(_url(month1_due_patient, "week1")).content.decode())
    assert page.xpath('//button[@name="then"][@value="next"]')[0].text_content().strip() == "Save and enter Month 1"
    post = _post_data(week1, late, status="none") | {"confirm_out_of_window": "on", "then": "next"}
    response = coordinator_client.post(_url(month1_due_patient, "week1"), post)
    assert response["Location"] == _url(month1_due_patient, "month1")


def test_buprenorphine_is_offered_with_guidance_and_saved_with_an_explicit_factor(coordinator_client, month1_due_patient, today):
    visit = month1_due_patient.visits.get(visit_code="month1")
    page = html.fromstring(coordinator_client.get(_url(month1_due_patient)).content.decode())
    assert page.xpath('//template[@id="med-row-template"]') is not None
    bup = {"drug": "buprenorphine", "route": "other", "dose": "0.4", "unit": "mg", "doses_per_day": "2"}
    body = coordinator_client.post(_url(month1_due_patient), _post_data(visit, today, meds=[bup])).content.decode()
    message = _error_beside(body, "id_med-0-drug")
    assert "partial agonist" in message and "Explicit MME factor" in message
    assert "oxymorphone" not in message  # guidance, not a list of every drug
    bup |= {"mme_factor": "30", "factor_source": "Institutional table 2025"}
    assert coordinator_client.post(_url(month1_due_patient), _post_data(visit, today, meds=[bup])).status_code == 302
    med = visit.medications.get()
    assert (med.mme_factor, med.mme_per_day, med.mme_table_version) == (
        Decimal("30"),
        Decimal("24.00"),
        "explicit: Institutional table 2025",
    )


def test_parenteral_route_gets_guidance(coordinator_client, month1_due_patient, today):
    visit = month1_due_patient.visits.get(visit_code="month1")
    iv = {"drug": "morphine", "route": "iv", "dose": "2", "unit": "mg", "doses_per_day": "6"}
    body = coordinator_client.post(_url(month1_due_patient), _post_data(visit, today, meds=[iv])).content.decode()
    assert "intravenous route (the table converts oral morphine)" in _error_beside(body, "id_med-0-route")
