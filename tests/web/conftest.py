"""Helpers for the web UI tests: patients placed so a chosen visit is due, overdue or closed today."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.factories import enroll_patient


def enroll_days_ago(actor, site, today: dt.date, *, day0_ago: int, **overrides):
    """A patient whose day 0 was ``day0_ago`` days ago (enrolled 5 days before day 0)."""
    return enroll_patient(
        actor,
        site,
        enrollment_date=today - dt.timedelta(days=day0_ago + 5),
        day0=today - dt.timedelta(days=day0_ago),
        **overrides,
    )


@pytest.fixture
def month1_due_patient(coordinator, site, today):
    """Day 0 was 25 days ago: month 1 (window 21–42, target 30) is due with 5 days left."""
    return enroll_days_ago(coordinator, site, today, day0_ago=25)


@pytest.fixture
def coordinator_client(client, coordinator):
    client.force_login(coordinator)
    return client
