"""Every paginated page answers any ``?page=`` value: missing, not a number, negative, or far past the end (a page
number whose offset would overflow a 64-bit SQL integer was a 500 on the count-free pages)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from tests.factories import enroll_patient
from trials.web.paging import MAX_PAGE, NextPage, page_number

pytestmark = pytest.mark.django_db

PAGES = [
    ("audit_log", {}),
    ("status_matrix", {}),
    ("status_matrix", {"status": "overdue"}),  # filtered: count-free
    ("patient_list", {}),
    ("user_list", {}),
    ("worklist", {}),
    ("pro_log", {}),
    ("reports", {}),
]
ODD_PAGES = ["", "0", "-3", "abc", "1e3", "2.5", "99999999999999999999999", str(2**63), "\u0669"]  # last: Arabic-Indic 9


@pytest.mark.parametrize(("name", "params"), PAGES, ids=[f"{n}{'-' + '-'.join(p) if p else ''}" for n, p in PAGES])
def test_any_page_value_is_answered_without_error(client, data_manager, coordinator, site, today, name, params):
    enroll_patient(coordinator, site, enrollment_date=today - dt.timedelta(days=100), day0=today - dt.timedelta(days=95))
    client.force_login(data_manager)
    for value in ODD_PAGES:
        response = client.get(reverse(name), {**params, "page": value})
        assert response.status_code == 200, (name, value, response.status_code)


def test_page_numbers_are_bounded():
    assert [page_number(v) for v in (None, "", "x", "-1", "0", "7", str(10**30))] == [1, 1, 1, 1, 1, 7, MAX_PAGE]
    asked = []
    page = NextPage(lambda start, stop: asked.append((start, stop)) or [], str(10**30), 50)
    assert asked == [((MAX_PAGE - 1) * 50, MAX_PAGE * 50 + 1)] and (MAX_PAGE * 50 + 1) < 2**62
    assert page.object_list == [] and page.has_previous and not page.has_next
