"""Data manager dashboard: completeness by site × visit, overdue per site, out-of-window visits."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from lxml import html

from tests.factories import visit_data
from tests.web.conftest import enroll_days_ago
from trials import services
from trials.web.selectors.dashboard import dashboard_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def registry(coordinator, other_coordinator, site, other_site, today):
    a = enroll_days_ago(coordinator, site, today, day0_ago=50)  # baseline..month1 closed
    b = enroll_days_ago(coordinator, site, today, day0_ago=50)
    for code, on in (("baseline", a.day0), ("day3", a.day0 + dt.timedelta(days=3)), ("month1", a.day0 + dt.timedelta(days=30))):
        services.visit_record(actor=coordinator, visit=a.visits.get(visit_code=code), data=visit_data(on))
    services.visit_record(actor=coordinator, visit=b.visits.get(visit_code="month1"), data=visit_data(today))  # out of window
    c = enroll_days_ago(other_coordinator, other_site, today, day0_ago=35)  # month1 overdue
    return a, b, c


def test_completeness_by_site_and_visit(data_manager, registry, today):
    d = dashboard_for(data_manager)
    atl, bos = d.rows
    assert atl.site_code == "ATL" and bos.site_code == "BOS"
    baseline, day3, week1, month1 = atl.cells[:4]
    assert (baseline.completed, baseline.expected) == (1, 2)
    assert (day3.completed, day3.expected) == (1, 2)
    assert (week1.completed, week1.expected) == (0, 2)
    assert (month1.completed, month1.expected) == (2, 2)  # out-of-window data still counts as data
    assert atl.cells[4].expected == 0  # month 3 window not open yet
    assert (atl.total.completed, atl.total.expected) == (4, 8)
    assert bos.overdue == 1 and atl.overdue == 0
    assert [v.patient.study_id for v in d.out_of_window] == [registry[1].study_id]


def test_dashboard_page_shows_the_table(client, data_manager, registry):
    client.force_login(data_manager)
    tree = html.fromstring(client.get(reverse("dashboard")).content)
    atl = tree.xpath('//table[@id="completeness"]//tr[@data-site="ATL"]')[0].text_content()
    assert "50%" in atl and "(4/8)" in atl
    assert tree.xpath('//table[@id="completeness"]//tr[@data-site="BOS"]/td[@data-overdue="1"]')
    assert registry[1].study_id in tree.xpath('//table[@id="out-of-window"]')[0].text_content()
