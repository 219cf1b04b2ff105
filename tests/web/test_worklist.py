"""Worklist selector: docs/domain.md §2 statuses, urgency order, counts, and a constant query count."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import visit_data
from tests.web.conftest import enroll_days_ago
from trials import services
from trials.domain.schedule import VisitStatus, visit_status
from trials.web.selectors.worklist import worklist_for

pytestmark = pytest.mark.django_db


def _keys(worklist):
    return [(row.patient.study_id, row.visit.visit_code, row.status) for row in worklist.rows]


@pytest.fixture
def cohort(coordinator, site, today):
    """Patients placed so that today each has a known month-1 / month-3 status."""
    due = enroll_days_ago(coordinator, site, today, day0_ago=25)  # month1 due (target in 5 days)
    overdue = enroll_days_ago(coordinator, site, today, day0_ago=35)  # month1 overdue (5 days late)
    overdue_m3 = enroll_days_ago(coordinator, site, today, day0_ago=95)  # month3 overdue
    exited = enroll_days_ago(coordinator, site, today, day0_ago=36)
    services.study_exit_record(
        actor=coordinator,
        patient=exited,
        data={
            "exit_type": "withdrawal",
            "exit_date": today - dt.timedelta(days=1),
            "last_contact_date": today - dt.timedelta(days=1),
        },
    )
    completed = enroll_days_ago(coordinator, site, today, day0_ago=26)
    services.visit_record(actor=coordinator, visit=completed.visits.get(visit_code="month1"), data=visit_data(today))
    return {"due": due, "overdue": overdue, "overdue_m3": overdue_m3, "exited": exited, "completed": completed}


def test_statuses_follow_domain_rule_and_urgency(coordinator, cohort, today):
    worklist = worklist_for(coordinator)
    assert _keys(worklist) == [
        (cohort["overdue"].study_id, "month1", VisitStatus.OVERDUE),  # window closes in 7 days
        (cohort["overdue_m3"].study_id, "month3", VisitStatus.OVERDUE),  # window closes in 10 days
        (cohort["due"].study_id, "month1", VisitStatus.DUE),
    ]
    for row in worklist.rows:
        expected = visit_status(row.visit.definition, day0=row.patient.day0, on=today, has_data=False)
        assert row.status == expected


def test_exit_makes_the_open_visit_not_applicable_and_completed_visits_leave(coordinator, cohort, today):
    ids = {row.patient.study_id for row in worklist_for(coordinator).rows}
    assert cohort["exited"].study_id not in ids
    assert cohort["completed"].study_id not in ids


def test_counts_per_status(coordinator, cohort, today):
    counts = worklist_for(coordinator).counts
    assert counts["overdue"] == 2
    assert counts["due"] == 1
    # Missed (window closed, no data): baseline/day3/week1 of every patient whose windows closed
    # before any exit, plus month1 of the day-95 patient. The exited patient's closed visits stay missed.
    assert counts["missed"] == 3 * 5 + 1


def test_status_filter(coordinator, cohort, today):
    rows = worklist_for(coordinator, status="due").rows
    assert [r.patient.study_id for r in rows] == [cohort["due"].study_id]


def test_other_sites_visits_are_not_listed(coordinator, other_coordinator, other_site, cohort, today):
    foreign = enroll_days_ago(other_coordinator, other_site, today, day0_ago=25)
    assert foreign.study_id not in {r.patient.study_id for r in worklist_for(coordinator).rows}
    assert [r.patient.study_id for r in worklist_for(other_coordinator).rows] == [foreign.study_id]


def _query_count(user, today) -> int:
    user = type(user).objects.get(pk=user.pk)  # fresh user: membership lookup counted too
    with CaptureQueriesContext(connection) as ctx:
        worklist = worklist_for(user)
        for row in worklist.rows:  # what the template touches
            str(row.patient.site.code), row.visit.window_end
    return len(ctx.captured_queries)


def test_query_count_is_constant(coordinator, site, today):
    enroll_days_ago(coordinator, site, today, day0_ago=25)
    small = _query_count(coordinator, today)
    for ago in (26, 30, 35, 40, 80, 95, 100):
        enroll_days_ago(coordinator, site, today, day0_ago=ago)
    assert _query_count(coordinator, today) == small
    assert small == 6  # memberships, the sites' local dates, counts, the page's visits+patients+sites, exits, missed count


def test_worklist_page_lists_rows_and_counts(coordinator_client, cohort):
    response = coordinator_client.get(reverse("worklist"))
    body = response.content.decode()
    assert response.status_code == 200
    assert body.index(cohort["overdue"].study_id) < body.index(cohort["due"].study_id)
    assert 'id="count-overdue">2<' in body
    assert "5 days late" in body
    assert "5 days left" in body
    filtered = coordinator_client.get(reverse("worklist"), {"status": "due"}).content.decode()
    assert cohort["overdue"].study_id not in filtered
    assert cohort["due"].study_id in filtered


def test_home_sends_each_role_to_its_page(client, coordinator, data_manager):
    client.force_login(coordinator)
    assert client.get(reverse("home"))["Location"] == reverse("worklist")
    client.force_login(data_manager)
    assert client.get(reverse("home"))["Location"] == reverse("dashboard")


@pytest.fixture
def busy_site(coordinator, site, today):
    """Twelve patients whose open visits mix overdue and due, some with equal window ends (tie-breaks)."""
    for ago in (21, 22, 25, 25, 29, 31, 33, 35, 35, 41, 88, 95):
        enroll_days_ago(coordinator, site, today, day0_ago=ago)


def _python_order(worklist_rows):
    """The urgency order the worklist had before paging moved into SQL: status, window end, target, study id."""
    rank = {VisitStatus.OVERDUE: 0, VisitStatus.DUE: 1}
    return sorted(worklist_rows, key=lambda r: (rank[r.status], r.visit.window_end, r.visit.target_date, r.patient.study_id))


def test_pages_concatenate_to_the_urgency_order(coordinator, busy_site, today):
    everything = worklist_for(coordinator, page_size=500)
    assert len(everything.rows) == everything.counts["overdue"] + everything.counts["due"] > 6
    assert _keys(everything) == [(r.patient.study_id, r.visit.visit_code, r.status) for r in _python_order(everything.rows)]
    paged, number = [], 1
    while True:
        worklist = worklist_for(coordinator, page_size=4, page=number)
        assert len(worklist.rows) <= 4 and worklist.counts == everything.counts
        paged += _keys(worklist)
        if not worklist.page.has_next():
            break
        number += 1
    assert paged == _keys(everything)
    statuses = [status for *_, status in paged]
    assert statuses.index(VisitStatus.DUE) > statuses.index(VisitStatus.OVERDUE)
    assert statuses == sorted(statuses, key=lambda s: s != VisitStatus.OVERDUE)  # every overdue before every due
    due_only = worklist_for(coordinator, status="due", page_size=3, page=2)
    assert due_only.page.paginator.count == everything.counts["due"]
    assert {r.status for r in due_only.rows} == {VisitStatus.DUE}


def test_worklist_page_query_count_is_pinned_at_two_sizes(coordinator_client, coordinator, site, today, monkeypatch):
    monkeypatch.setattr("trials.web.selectors.worklist.WORKLIST_PAGE_SIZE", 5)
    enroll_days_ago(coordinator, site, today, day0_ago=25)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert coordinator_client.get(reverse("worklist")).status_code == 200
        return len(ctx.captured_queries)

    small = queries()
    for ago in range(20, 32):  # 12 more patients: more open visits than one page holds
        enroll_days_ago(coordinator, site, today, day0_ago=ago)
    response = coordinator_client.get(reverse("worklist"))
    assert response.context["worklist"].page.paginator.count > len(response.context["rows"]) == 5
    assert queries() == small


def test_worklist_page_links_the_next_page_keeping_filters(coordinator_client, coordinator, site, today, monkeypatch):
    monkeypatch.setattr("trials.web.selectors.worklist.WORKLIST_PAGE_SIZE", 3)
    for ago in range(31, 42):
        enroll_days_ago(coordinator, site, today, day0_ago=ago)
    body = coordinator_client.get(reverse("worklist"), {"status": "overdue"}).content.decode()
    assert "status=overdue&amp;page=2" in body
    second = coordinator_client.get(reverse("worklist"), {"status": "overdue", "page": 2})
    assert second.context["worklist"].page.number == 2
    assert {r["row"].status for r in second.context["rows"]} == {VisitStatus.OVERDUE}
