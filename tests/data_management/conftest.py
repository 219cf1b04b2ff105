"""Fixtures for data management: a site investigator and a patient with a completed month-1 visit."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.factories import make_user, visit_data
from trials import services
from trials.models import Role

PASSWORD = "pw-Secret-123"  # tests.factories.make_user's default
# Real REDCap exports copied into the repository (source and licence: tests/fixtures/SOURCES.md).
REDCAP_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "redcap"


@pytest.fixture
def site_investigator(site):
    return make_user("si_atl", Role.SITE_INVESTIGATOR, site)


def record_visit(actor, patient, code: str, day: int, **kwargs):
    visit = patient.visits.get(visit_code=code)
    return services.visit_record(actor=actor, visit=visit, data=visit_data(patient.day0 + dt.timedelta(days=day), **kwargs))


@pytest.fixture
def month1(coordinator, patient):
    """The patient's month-1 visit, recorded on day 30 (worst pain 4, no opioids)."""
    return record_visit(coordinator, patient, "month1", 30)
