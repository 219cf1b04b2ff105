"""Oversight journeys in a real browser (issue 11): sign-off on visible data, field queries, a patient lock,
user management and the audit log. One test per journey; screenshots at tablet, desktop and phone width."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.e2e.conftest import log_in, screenshot
from tests.factories import enroll_patient, make_user, visit_data
from trials import services
from trials.models import DataQuery, Lock, QueryStatus, Role, Signature

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
OXY = {"drug": "oxycodone", "route": "oral", "dose": "10", "unit": "mg", "doses_per_day": "2"}


def widths(page, name: str) -> None:
    """Screenshots of the current page at tablet (the context's), desktop and phone width."""
    screenshot(page, name)
    for suffix, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        screenshot(page, f"{name}_{suffix}")
    page.set_viewport_size({"width": 820, "height": 1180})


def new_page(browser):
    context = browser.new_context(viewport={"width": 820, "height": 1180}, accept_downloads=True)
    context.set_default_timeout(15_000)
    return context.new_page()


@pytest.fixture
def completed(coordinator, site, today):
    """A patient whose month-1 visit is entered (BPI with interference items, one opioid row)."""
    patient = enroll_patient(
        coordinator, site, enrollment_date=today - dt.timedelta(days=100), day0=today - dt.timedelta(days=95)
    )
    data = visit_data(patient.day0 + dt.timedelta(days=30), worst=6, meds=[OXY])
    data.pain.update({"general_activity": 5, "mood": 4, "walking_ability": 7, "sleep": 3})
    services.visit_record(actor=coordinator, visit=patient.visits.get(visit_code="month1"), data=data)
    return patient


def test_site_investigator_signs_visible_data_and_sees_it_invalidated(page, live_server, site, coordinator, completed):
    investigator = make_user("si_atl", Role.SITE_INVESTIGATOR, site)
    investigator.first_name, investigator.last_name = "Ada", "Okafor"
    investigator.save()
    log_in(page, live_server.url, investigator.username)
    page.goto(f"{live_server.url}/patients/{completed.study_id}/")
    expect(page.get_by_role("link", name="Enter visit")).to_have_count(0)
    page.locator('#visits tr[data-visit="month1"]').get_by_role("link", name="View and sign").click()
    expect(page.get_by_role("heading", name=f"Month 1 · {completed.study_id}")).to_be_visible()
    bpi = page.locator("#bpi-values")
    expect(bpi.locator("tr", has_text="Worst pain in the last 24 hours")).to_contain_text("6")
    expect(bpi.locator("tr", has_text="Walking ability")).to_contain_text("7")
    expect(page.locator("#interference")).to_have_text("4.75")
    expect(page.locator("#opioids")).to_contain_text("Oxycodone")
    expect(page.locator("#omed")).to_contain_text("30 MME/day")
    page.get_by_label("Approval — I approve the data of this visit as complete and accurate.").check()
    page.get_by_label("Your password").fill("pw-Secret-123")
    widths(page, "visit_view_sign")
    page.get_by_role("button", name="Sign electronically").click()
    expect(page.locator("#signed-chip")).to_have_text("Signed")
    manifest = page.locator("#signatures li").first
    expect(manifest).to_contain_text("Ada Okafor")
    expect(manifest).to_contain_text("UTC")
    expect(manifest).to_contain_text("Approval")
    screenshot(page, "visit_signed")
    page.goto(f"{live_server.url}/patients/{completed.study_id}/")
    expect(page.locator('#visits tr[data-visit="month1"]')).to_contain_text("Signed")

    visit = completed.visits.get(visit_code="month1")  # the coordinator corrects the worst pain
    data = visit_data(visit.visit_date, worst=5, meds=[OXY])
    services.visit_record(actor=coordinator, visit=visit, data=data, reason="Transcription error on the paper form")
    page.goto(f"{live_server.url}/patients/{completed.study_id}/visits/month1/view/")
    expect(page.locator("#signed-chip")).to_have_text("Signature invalidated")
    expect(page.locator("#resign-banner")).to_be_visible()
    expect(page.locator("#signatures li").first).to_contain_text("Invalidated")
    expect(page.get_by_role("heading", name="Sign again")).to_be_visible()
    screenshot(page, "visit_signature_invalidated")
    assert Signature.objects.get().invalidated_at is not None


def test_data_manager_queries_a_field_coordinator_answers_data_manager_closes(
    page, browser, live_server, data_manager, coordinator, completed
):
    log_in(page, live_server.url, data_manager.username)
    page.goto(f"{live_server.url}/patients/{completed.study_id}/visits/month1/view/")
    page.locator('td[data-field="painassessment.worst"]').get_by_role("link", name="Open query").click()
    expect(page.locator("#query-field")).to_have_text("Brief Pain Inventory: Worst pain in the last 24 hours")
    page.get_by_label("Question for the site").fill("The source document says 5: please check.")
    screenshot(page, "query_open")
    page.get_by_role("button", name="Open query").click()
    expect(page.locator('td[data-field="painassessment.worst"]')).to_contain_text("Query open")

    site_page = new_page(browser)
    log_in(site_page, live_server.url, coordinator.username)
    site_page.goto(f"{live_server.url}/worklist/")
    site_page.locator("#open-queries").get_by_role("link").first.click()
    site_page.get_by_label("Message").fill("Checked the source: 6 is right (5 was the previous visit).")
    site_page.get_by_role("button", name="Answer").click()
    expect(site_page.locator("#query-status")).to_have_text("Answered")
    screenshot(site_page, "query_answered")
    site_page.context.close()

    query = DataQuery.objects.get()
    page.goto(f"{live_server.url}/data-management/queries/{query.pk}/")
    expect(page.locator("#thread")).to_contain_text("Checked the source")
    page.get_by_role("button", name="Close").click()
    expect(page.locator("#query-status")).to_have_text("Closed")
    query.refresh_from_db()
    assert query.status == QueryStatus.CLOSED


def test_data_manager_locks_one_patient_after_confirming_and_the_coordinator_sees_it(
    page, browser, live_server, data_manager, coordinator, completed
):
    log_in(page, live_server.url, data_manager.username)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Locks").click()
    page.get_by_label("One patient").check()
    page.get_by_label("Patient (study ID)").fill(completed.study_id)
    page.get_by_label("Reason").fill("Interim analysis cut-off")
    page.get_by_role("button", name="Review the lock").click()
    expect(page.locator("#lock-summary")).to_contain_text(f"patient {completed.study_id}")
    assert not Lock.objects.exists()
    widths(page, "lock_confirm")
    page.get_by_role("button", name=f"Lock patient {completed.study_id}").click()
    expect(page.locator(".messages")).to_contain_text(f"Locked patient {completed.study_id}")
    assert Lock.objects.get().patient == completed

    site_page = new_page(browser)
    log_in(site_page, live_server.url, coordinator.username)
    site_page.goto(f"{live_server.url}/patients/{completed.study_id}/")
    expect(site_page.locator("#lock-banner")).to_contain_text("Interim analysis cut-off")
    expect(site_page.get_by_role("link", name="Correct")).to_have_count(0)
    screenshot(site_page, "patient_locked")
    site_page.context.close()


def test_data_manager_creates_a_coordinator_and_deactivates_one(page, live_server, data_manager, coordinator, site):
    log_in(page, live_server.url, data_manager.username)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    form = page.locator("#user-create")
    form.get_by_label("Username").fill("coord_new")
    form.get_by_label("First name").fill("Ana")
    form.get_by_label("Last name").fill("Ruiz")
    form.get_by_label("Initial password").fill("Kestrel-Harbour-42")
    form.get_by_label("Role").select_option(Role.COORDINATOR)
    form.get_by_label("Site").select_option(label=str(site))
    form.get_by_label("Reason").fill("New coordinator; delegation log signed")
    widths(page, "users")
    form.get_by_role("button", name="Create user").click()
    expect(page.locator(".messages")).to_contain_text("Created coord_new as Site coordinator @ ATL")
    new = get_user_model().objects.get(username="coord_new")
    assert new.memberships.get().site == site

    page.goto(f"{live_server.url}/users/{coordinator.pk}/")
    status = page.locator("#account-status")
    status.get_by_label("Reason").fill("Left the site on 30 Nov")
    status.get_by_role("button", name=f"Deactivate {coordinator.username}").click()
    expect(page.locator("#status-chip")).to_have_text("Deactivated")
    expect(page.locator("#account-history")).to_contain_text("Left the site on 30 Nov")
    widths(page, "user_deactivated")
    coordinator.refresh_from_db()
    assert not coordinator.is_active


def test_audit_log_filtered_and_exported(page, live_server, data_manager, coordinator, completed):
    visit = completed.visits.get(visit_code="month1")
    services.visit_record(
        actor=coordinator,
        visit=visit,
        data=visit_data(visit.visit_date, worst=5, meds=[OXY]),
        reason="=cmd|' /C calc'!A0 source says 5",
    )
    log_in(page, live_server.url, data_manager.username)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    filters = page.locator("#audit-filters")
    filters.get_by_label("Patient (study ID)").fill(completed.study_id)
    filters.get_by_label("Record type").select_option(label="Brief Pain Inventory")
    filters.get_by_role("button", name="Filter").click()
    rows = page.locator("#audit-log tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Worst pain in the last 24 hours")
    widths(page, "audit_log")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    content = download.value.path().read_text(encoding="utf-8")
    exported = list(csv.DictReader(io.StringIO(content)))
    assert [r["action"] for r in exported] == ["Changed", "Created"]
    assert exported[0]["reason"].startswith("'=cmd")  # a formula is neutralised for spreadsheets
    assert exported[0]["changes"] == "Worst pain in the last 24 hours: 6 -> 5"


def test_status_matrix_and_error_pages_at_every_width(page, live_server, investigator, completed):
    log_in(page, live_server.url, investigator.username)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Record status").click()
    expect(page.locator(f'#matrix tr[data-patient="{completed.study_id}"] td[data-visit="month1"]')).to_have_attribute(
        "data-state", "complete"
    )
    widths(page, "status_matrix")
    page.goto(f"{live_server.url}/patients/{completed.study_id}/visits/month1/")
    expect(page.get_by_role("heading", name="You do not have access to this page")).to_be_visible()
    widths(page, "forbidden")
