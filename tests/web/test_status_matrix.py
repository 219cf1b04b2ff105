"""Record status matrix (issue 11 item 5): one cell per visit with its state, filters, and a pinned query count."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from lxml import html

from tests.data_management.conftest import PASSWORD
from tests.factories import make_user, visit_data
from tests.web.conftest import enroll_days_ago
from trials import services
from trials.models import Role
from trials.services.data_queries import data_query_open
from trials.services.locking import patient_lock
from trials.services.signoff import visit_sign

pytestmark = pytest.mark.django_db
# Session, user, memberships; sites for the filter and their local dates; patient count, page ids, their rows; visits
# (with BPI), signatures, exits, locks,
# open queries; the session re-saved (SESSION_SAVE_EVERY_REQUEST: savepoint, update, release).
MATRIX_QUERIES = 16


def _record(actor, patient, code, day):
    visit = patient.visits.get(visit_code=code)
    return services.visit_record(actor=actor, visit=visit, data=visit_data(patient.day0 + dt.timedelta(days=day)))


def _cells(client, **params):
    doc = html.fromstring(client.get(reverse("status_matrix"), params).content.decode())
    return {
        tr.get("data-patient"): {td.get("data-visit"): td.get("data-state") for td in tr.xpath("td") if td.get("data-visit")}
        for tr in doc.xpath('//table[@id="matrix"]/tbody/tr[@data-patient]')
    }


def _queries(client, **params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("status_matrix"), params).status_code == 200
    return len(ctx.captured_queries)


def test_cells_show_each_state_and_the_filters_select_patients(client, coordinator, data_manager, site, today):
    si = make_user("si_atl", Role.SITE_INVESTIGATOR, site)
    signed = enroll_days_ago(coordinator, site, today, day0_ago=40)  # month 1 signed, week 1 missed
    overdue = enroll_days_ago(coordinator, site, today, day0_ago=33)  # month 1 overdue (target day 30)
    queried = enroll_days_ago(coordinator, site, today, day0_ago=25)  # month 1 due, baseline complete with an open query
    visit_sign(actor=si, visit=_record(coordinator, signed, "month1", 30), password=PASSWORD, meaning="review")
    baseline = _record(coordinator, queried, "baseline", 0)
    data_query_open(actor=data_manager, record=baseline, field_name="visit_date", message="Confirm")
    patient_lock(actor=data_manager, patient=signed, reason="Cut-off")
    client.force_login(data_manager)

    cells = _cells(client)
    assert cells[signed.study_id]["month1"] == "signed" and cells[signed.study_id]["week1"] == "missed"
    assert cells[overdue.study_id]["month1"] == "overdue" and cells[overdue.study_id]["month3"] == "upcoming"
    assert cells[queried.study_id]["month1"] == "not_started" and cells[queried.study_id]["baseline"] == "complete"
    page = client.get(reverse("status_matrix")).content.decode()
    row = html.fromstring(page).xpath(f'//tr[@data-patient="{queried.study_id}"]/td[@data-visit="baseline"]')[0]
    assert "open query" in row.text_content()
    locked_row = html.fromstring(page).xpath(f'//tr[@data-patient="{signed.study_id}"]/th')[0]
    assert "locked" in locked_row.text_content()

    assert set(_cells(client, status="overdue")) == {overdue.study_id}
    assert set(_cells(client, status="signed")) == {signed.study_id}
    assert set(_cells(client, status="open_query")) == {queried.study_id}
    assert set(_cells(client, status="locked")) == {signed.study_id}
    for state in (
        "missed",
        "overdue",
        "not_started",
        "complete",
        "signed",
        "incomplete",
    ):  # the SQL filter agrees with the cells shown
        assert set(_cells(client, status=state)) == {p for p, row in cells.items() if state in row.values()}, state


def test_query_count_is_pinned_whatever_the_page_holds(client, coordinator, data_manager, site, other_site, today):
    client.force_login(data_manager)
    for i in range(3):
        patient = enroll_days_ago(coordinator, site, today, day0_ago=40 + i)
        _record(coordinator, patient, "month1", 30)
    small = _queries(client)
    for i in range(12):
        patient = enroll_days_ago(coordinator, site, today, day0_ago=60 + i)
        _record(coordinator, patient, "baseline", 0)
        data_query_open(
            actor=data_manager, record=patient.visits.get(visit_code="baseline"), field_name="visit_date", message="?"
        )
    patient_lock(actor=data_manager, patient=patient, reason="Cut-off")
    assert _queries(client) == small == MATRIX_QUERIES
    # A status filter skips the count (an EXISTS over every patient); "next page" comes from one extra id.
    assert _queries(client, site=site.pk, status="open_query") == MATRIX_QUERIES - 1


def test_a_coordinator_sees_only_their_sites_patients(client, coordinator, other_coordinator, site, other_site, today):
    own = enroll_days_ago(coordinator, site, today, day0_ago=10)
    foreign = enroll_days_ago(other_coordinator, other_site, today, day0_ago=10)
    client.force_login(coordinator)
    cells = _cells(client)
    assert own.study_id in cells and foreign.study_id not in cells
