"""A coordinator's day in a real browser: worklist → month-1 visit with two opioids → completed."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in, screenshot
from tests.factories import enroll_patient
from tests.web.conftest import enroll_days_ago
from trials.models import PainAssessment, Visit

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def due_patient(coordinator, site, today):
    return enroll_days_ago(coordinator, site, today, day0_ago=25)  # month 1 due


def _fill_opioid_row(page, index: int, drug: str, dose: str, per_day: str) -> None:
    page.locator(f"#id_med-{index}-drug").select_option(drug)
    page.locator(f"#id_med-{index}-dose").fill(dose)
    page.locator(f"#id_med-{index}-doses_per_day").fill(per_day)


def test_coordinator_enters_month1_with_two_opioids(page, live_server, coordinator, due_patient):
    log_in(page, live_server.url, coordinator.username)
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
    row = page.locator(f'tr[data-visit="{due_patient.study_id}:month1"]')
    expect(row).to_contain_text("Due")
    expect(row).to_contain_text("5 days left")
    screenshot(page, "worklist")

    row.get_by_role("link", name="Enter visit").click()
    expect(page.get_by_role("heading", name="Month 1 visit")).to_be_visible()
    page.get_by_label("Worst pain in the last 24 hours").fill("5")
    page.get_by_label("Pain right now").fill("3")
    for label, value in (("General activity", "4"), ("Mood", "3"), ("Walking ability", "5")):
        page.get_by_label(label, exact=True).fill(value)
    expect(page.locator("#interference-score")).to_contain_text("missing (3 of 7")
    page.get_by_label("Sleep", exact=True).fill("4")
    expect(page.locator("#interference-score")).to_have_text("4 (4 of 7 answered)")

    add = page.get_by_role("button", name="Add opioid")
    add.click()
    _fill_opioid_row(page, 0, "oxycodone", "10", "2")  # 30 MME/day (CDC example)
    add.click()
    _fill_opioid_row(page, 1, "fentanyl", "25", "1")  # 25 mcg/h × 2.4 = 60
    expect(page.locator("#id_med-1-route")).to_have_value("transdermal")
    add.click()  # a third row, removed again in place
    _fill_opioid_row(page, 2, "morphine", "15", "4")
    expect(page.locator("#mme-total")).to_have_text("150 MME/day")
    page.get_by_role("button", name="Remove opioid row 3").click()
    expect(page.locator("tr.med-row")).to_have_count(2)
    rows = page.locator("tr.med-row .row-mme")
    expect(rows.nth(0)).to_have_text("30")
    expect(rows.nth(1)).to_have_text("60")
    expect(page.locator("#mme-total")).to_have_text("90 MME/day")
    screenshot(page, "visit_form")

    page.get_by_role("button", name="Save visit").click()
    expect(page.get_by_role("heading", name=due_patient.study_id)).to_be_visible()
    visit_row = page.locator('#visits tr[data-visit="month1"]')
    expect(visit_row).to_contain_text("Completed")
    expect(visit_row).to_contain_text("90")
    visit = Visit.objects.get(patient=due_patient, visit_code="month1")
    assert visit.visit_date is not None and visit.omed() == 90

    page.get_by_role("link", name="Worklist").click()
    expect(page.locator(f'tr[data-visit="{due_patient.study_id}:month1"]')).to_have_count(0)


def test_worst_pain_11_is_refused_beside_the_field(page, live_server, coordinator, due_patient):
    log_in(page, live_server.url, coordinator.username)
    page.goto(f"{live_server.url}/patients/{due_patient.study_id}/visits/month1/")
    page.get_by_label("Worst pain in the last 24 hours").fill("11")
    page.get_by_label("No opioids (OMED 0)").check()
    expect(page.locator("#mme-total")).to_have_text("0 (no opioids)")
    page.get_by_role("button", name="Save visit").click()
    error = page.locator("#field-worst .field-error")
    expect(error).to_contain_text("between 0 and 10")
    expect(page.locator("#id_worst")).to_have_value("11")
    visit = Visit.objects.get(patient=due_patient, visit_code="month1")
    assert visit.visit_date is None
    assert not PainAssessment.objects.filter(visit=visit).exists()


def test_another_sites_patient_is_404(page, live_server, coordinator, other_coordinator, other_site, today):
    foreign = enroll_patient(
        other_coordinator, other_site, enrollment_date=today - dt.timedelta(days=30), day0=today - dt.timedelta(days=25)
    )
    log_in(page, live_server.url, coordinator.username)
    response = page.goto(f"{live_server.url}/patients/{foreign.study_id}/")
    assert response.status == 404
    response = page.goto(f"{live_server.url}/patients/{foreign.study_id}/visits/month1/")
    assert response.status == 404


def test_data_manager_sees_completeness(page, live_server, data_manager, coordinator, due_patient):
    log_in(page, live_server.url, data_manager.username)
    expect(page.get_by_role("heading", name="Data quality")).to_be_visible()
    table = page.locator("table#completeness")
    expect(table).to_be_visible()
    # Baseline, day 3 and week 1 windows closed without data: 0 of 3 expected visits.
    expect(table.locator('tr[data-site="ATL"]')).to_contain_text("(0/3)")
    screenshot(page, "dashboard")
