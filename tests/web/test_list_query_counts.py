"""Every list page costs the same number of queries on a small and on a larger registry (issue 17 item 6).

Each page is requested at two data sizes; the counts must be equal (no query per row) and equal to the pinned
number, so that a new query on any list page is a visible, reviewed change. The reports page must also never
select a run's ``result`` JSON (a 2.8 MB document per run at 100,000 patients that the list never shows).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analytics.models import ReportRun, RunStatus
from tests.factories import make_user, visit_data
from tests.web.conftest import enroll_days_ago
from trials import services
from trials.models import Role
from trials.services.data_queries import data_query_open

pytestmark = pytest.mark.django_db

# (url name, query string, role) -> pinned query count of a repeated request: session, user, memberships, the page's
# own queries and the open-queries panel included (the worklist also counts the overdue-questionnaire panel, issue 15).
PINNED = {
    ("worklist", "", "coordinator"): 17,
    ("patient_list", "", "coordinator"): 10,
    ("patient_list", "q=ATL", "coordinator"): 10,
    ("patient_list", "", "data_manager"): 10,
    ("status_matrix", "", "data_manager"): 16,
    ("dm_queries", "", "data_manager"): 9,
    ("audit_log", "", "data_manager"): 25,  # + one per record type and related model on the page (at most 15 + 6); no count
    ("reports", "", "investigator"): 8,
    ("user_list", "", "data_manager"): 10,
}


def _grow(actors, site, today, n: int, offset: int) -> None:
    """``n`` more patients, each with a recorded month-1 visit, an open data query, a user and a finished report run."""
    for k in range(n):
        patient = enroll_days_ago(actors["coordinator"], site, today, day0_ago=25 + (offset + k) % 20)
        baseline = patient.visits.get(visit_code="baseline")
        services.visit_record(actor=actors["coordinator"], visit=baseline, data=visit_data(today - dt.timedelta(days=1)))
        data_query_open(actor=actors["data_manager"], record=baseline, field_name="visit_date", message="Please confirm")
        make_user(f"coordinator_{offset + k}", Role.COORDINATOR, site)
        ReportRun.objects.create(
            parameters={"strata": ["modality"]},
            parameters_key=f"key{offset + k}",
            status=RunStatus.SUCCEEDED,
            progress=100,
            fingerprint="f" * 64,
            data_version="v",
            result={"n_patients": offset + k, "padding": ["x" * 100] * 50},
            requested_by=actors["investigator"],
        )


@pytest.fixture
def actors(coordinator, data_manager, investigator):
    return {"coordinator": coordinator, "data_manager": data_manager, "investigator": investigator}


def _count(client, user, url: str) -> tuple[int, list[str]]:
    client.force_login(user)
    client.get(url)  # the steady state is measured: session saved, cached aggregates present
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries]


def test_every_list_page_has_a_constant_pinned_query_count(client, actors, site, today):
    _grow(actors, site, today, 2, offset=0)
    urls = {key: reverse(key[0]) + (f"?{key[1]}" if key[1] else "") for key in PINNED}
    small = {key: _count(client, actors[key[2]], url)[0] for key, url in urls.items()}
    _grow(actors, site, today, 9, offset=2)
    large = {key: _count(client, actors[key[2]], url)[0] for key, url in urls.items()}
    assert large == small, {k: (small[k], large[k]) for k in small if small[k] != large[k]}
    assert small == PINNED


def test_reports_page_never_selects_the_result_json(client, actors, site, today):
    _grow(actors, site, today, 3, offset=0)
    count, sql = _count(client, actors["investigator"], reverse("reports"))
    run_selects = [s for s in sql if 'FROM "analytics_reportrun"' in s]
    assert run_selects, sql
    assert not any('"analytics_reportrun"."result"' in s for s in run_selects), run_selects
    assert count == PINNED[("reports", "", "investigator")]
    response = client.get(reverse("reports"))
    assert len(response.context["runs"]) == 3
    assert all("result" in run.run.get_deferred_fields() for run in response.context["runs"])
