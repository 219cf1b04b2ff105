"""The study-wide audit log page and its CSV export (issue 11 item 8)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse

from tests.factories import enroll_patient, visit_data
from trials import services
from trials.models import AccountEvent
from trials.web.selectors.audit_log import AuditFilters, audit_log, audit_log_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(coordinator, other_coordinator, site, other_site, today):
    """Two sites' patients; one month-1 visit corrected with a reason that looks like a spreadsheet formula."""
    atl = enroll_patient(coordinator, site, enrollment_date=today - dt.timedelta(days=100), day0=today - dt.timedelta(days=95))
    bos = enroll_patient(
        other_coordinator, other_site, enrollment_date=today - dt.timedelta(days=100), day0=today - dt.timedelta(days=95)
    )
    visit = atl.visits.get(visit_code="month1")
    services.visit_record(actor=coordinator, visit=visit, data=visit_data(atl.day0 + dt.timedelta(days=30), worst=6))
    services.visit_record(
        actor=coordinator,
        visit=visit,
        data=visit_data(atl.day0 + dt.timedelta(days=30), worst=3),
        reason='=HYPERLINK("http://x") source document says 3',
    )
    return atl, bos


def _csv(client, **params):
    response = client.get(reverse("audit_log_csv"), params)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_filters_by_patient_record_type_and_user_and_exports_the_same_rows(client, data_manager, coordinator, history):
    atl, bos = history
    client.force_login(data_manager)
    page = client.get(reverse("audit_log"), {"patient": atl.study_id, "record_type": "painassessment"}).content.decode()
    assert "Brief Pain Inventory of " + atl.study_id in page and bos.study_id not in page
    assert "Worst pain in the last 24 hours" in page and "<del>6</del> → <ins>3</ins>" in page
    rows = _csv(client, patient=atl.study_id, record_type="painassessment")
    assert [r["action"] for r in rows] == ["Changed", "Created"]
    assert rows[0]["reason"].startswith("'=HYPERLINK")  # neutralised for spreadsheets
    assert rows[0]["changes"] == "Worst pain in the last 24 hours: 6 -> 3" and rows[0]["patient"] == atl.study_id
    assert dt.datetime.fromisoformat(rows[0]["when_utc"]).utcoffset() == dt.timedelta(0)
    bos_rows = _csv(client, site=bos.site_id)
    assert bos_rows and all(r["site"] == "BOS" for r in bos_rows)
    by_user = _csv(client, user=coordinator.pk)
    assert by_user and all(r["user"] == "coord" for r in by_user) and not any(r["patient"] == bos.study_id for r in by_user)
    assert _csv(client, date_from=(dt.date.today() + dt.timedelta(days=2)).isoformat()) == []


def test_action_filter_and_account_events(client, data_manager, coordinator, history):
    AccountEvent.objects.create(
        user=coordinator,
        actor=data_manager,
        action="deactivated",
        detail="1 session(s) ended",
        reason="@SUM(A1) left",
        at=dt.datetime.now(dt.UTC),
    )
    client.force_login(data_manager)
    rows = _csv(client, record_type="account")
    assert len(rows) == 1 and rows[0]["record"] == "User account coord" and rows[0]["reason"] == "'@SUM(A1) left"
    changed = _csv(client, action="~")
    assert changed and all(r["action"] == "Changed" for r in changed)


def test_page_is_paginated_fifty_rows_newest_first(client, data_manager, coordinator, history):
    from lxml import html

    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    AccountEvent.objects.bulk_create(
        [
            AccountEvent(
                user=coordinator,
                actor=data_manager,
                action="role_added",
                detail=f"#{i}",
                reason="bulk",
                at=start + dt.timedelta(minutes=i),
            )
            for i in range(80)
        ]
    )
    client.force_login(data_manager)
    everything = list(audit_log(data_manager, AuditFilters()))  # the whole log, one ORDER BY over the union
    total = len(everything)
    assert total > 100

    def page(number: int):
        tree = html.fromstring(client.get(reverse("audit_log"), {"page": number}).content.decode())
        rows = tree.xpath('//table[@id="audit-log"]/tbody/tr')
        has_next = any(a.text_content() == "Next" for a in tree.xpath('//nav[@class="pagination"]/a'))
        return tree, rows, has_next

    first, rows, has_next = page(1)
    assert len(rows) == 50 and has_next
    assert "#79" in rows[0].text_content()  # newest first
    assert first.get_element_by_id("audit-count").text_content().startswith("Changes 1–50 and more")
    # Walk every page (no count is shown): each page holds the next 50 rows of the whole log, in its order.
    seen, number = [], 1
    while True:
        _, rows, has_next = page(number)
        seen.extend(row.get("data-type") for row in rows)
        if not has_next:
            break
        number += 1
    assert number == (total + 49) // 50
    assert len(rows) == total - 50 * (number - 1)
    assert seen == [row[2] for row in everything]
    assert audit_log_rows(data_manager, AuditFilters(), 50, 101) == everything[50:101]


def test_only_study_wide_readers_see_the_log(client, coordinator, history):
    client.force_login(coordinator)
    assert client.get(reverse("audit_log")).status_code == 403
    assert client.get(reverse("audit_log_csv")).status_code == 403
