"""The dashboard's cached aggregate equals a fresh computation on a seeded registry, before and after edits
(issue 17 item 6), and costs a fixed handful of queries once cached."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.dataset import registry_change_token, registry_data_version, registry_data_version_cached
from tests.analytics.seeded import seeded_registry
from tests.factories import make_user, visit_data
from trials import services
from trials.models import Role, Site, Visit
from trials.web.selectors.dashboard import dashboard_compute, dashboard_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(coordinator):
    seeded_registry(60)


def _writer(patient):
    """A coordinator of the patient's site (the seeder's system user writes nothing through the services)."""
    return make_user(f"coord_{patient.pk}", Role.COORDINATOR, patient.site)


def _flat(d) -> list:
    """Everything the page shows, as plain values."""
    rows = [
        (
            r.site_code,
            [(c.completed, c.expected, c.not_done) for c in r.cells],
            r.overdue,
            r.items and (r.items.blank, r.items.coded),
        )
        for r in d.rows
    ]
    return [d.on, d.visit_labels, rows, [v.pk for v in d.out_of_window], d.out_of_window_total]


def _equal_to_fresh(user, at=None):
    cached = dashboard_for(user, at=at)
    fresh = dashboard_compute(user, at=at)
    assert _flat(cached) == _flat(fresh)
    return cached


def test_cached_dashboard_equals_a_fresh_computation_before_and_after_edits(seeded, data_manager, coordinator):
    before = _equal_to_fresh(data_manager)
    assert sum(r.total.expected for r in before.rows) > 0 and len(before.rows) >= 3
    assert _flat(dashboard_for(data_manager)) == _flat(before)  # served again: same answer

    # An edit: data for a visit that had none (a missed or upcoming one) changes completeness.
    visit = Visit.objects.filter(visit_date__isnull=True, not_done_reason="", visit_code="month1").first()
    services.visit_record(actor=_writer(visit.patient), visit=visit, data=visit_data(visit.target_date))
    after = _equal_to_fresh(data_manager)
    assert _flat(after) != _flat(before)

    # Another: a study exit makes later visits not applicable.
    patient = Visit.objects.filter(visit_date__isnull=True, window_end__lt=timezone.localdate()).first().patient
    exit_day = timezone.localdate() - dt.timedelta(days=1)
    services.study_exit_record(
        actor=_writer(patient),
        patient=patient,
        data={"exit_type": "withdrawal", "exit_date": exit_day, "last_contact_date": exit_day},
    )
    _equal_to_fresh(data_manager)

    # No write, but the days pass: windows close, so the counts change and the cache must follow.
    later = timezone.now() + dt.timedelta(days=40)
    moved = _equal_to_fresh(data_manager, at=later)
    assert _flat(moved)[2] != _flat(after)[2]

    # A site moves to another time zone (an audited write): still equal.
    site = Site.objects.order_by("pk").first()
    site.time_zone = "Pacific/Kiritimati"
    site.save()
    _equal_to_fresh(data_manager)


def test_scope_is_part_of_the_key(seeded, data_manager):
    site = Site.objects.order_by("pk").first()
    local = make_user("coord_scope", Role.COORDINATOR, site)
    everyone = dashboard_for(data_manager)
    mine = _equal_to_fresh(local)
    assert [r.site_code for r in mine.rows] == [site.code] != [r.site_code for r in everyone.rows]


def test_cached_dashboard_costs_two_queries(seeded, data_manager):
    dashboard_for(data_manager)
    with CaptureQueriesContext(connection) as ctx:
        dashboard_for(data_manager)
    assert len(ctx.captured_queries) == 2  # the sites' local dates, the change token


def test_change_token_moves_with_writes_only(seeded, coordinator):
    token, version = registry_change_token(), registry_data_version()
    assert registry_change_token() == token  # reading changes nothing
    assert registry_data_version_cached() == version
    visit = Visit.objects.filter(visit_date__isnull=True, visit_code="month3").first()
    services.visit_record(actor=_writer(visit.patient), visit=visit, data=visit_data(visit.target_date))
    assert registry_change_token() != token
    assert registry_data_version_cached() == registry_data_version() != version
