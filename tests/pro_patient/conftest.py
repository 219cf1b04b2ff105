"""A patient with a week-1 window open today and a questionnaire link for it (issue 15)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from pro import instruments as definitions
from pro import tokens
from pro.models import Instrument
from pro.services import invitation_for_visit
from tests.factories import enroll_patient
from trials.models import Visit

ES_TEST_TRANSLATION = Path(__file__).with_name("es_test_translation.json")


@pytest.fixture(autouse=True)
def fresh_throttle():
    """The link throttle counts in the cache: every test starts with none of another test's refused links."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def home_patient(coordinator, site, today):
    """Day 0 was 6 days ago: the week-1 window (days 5–10) is open, day 3's (2–4) has closed."""
    return enroll_patient(coordinator, site, enrollment_date=today - dt.timedelta(days=11), day0=today - dt.timedelta(days=6))


@pytest.fixture
def week1_visit(home_patient) -> Visit:
    return Visit.objects.get(patient=home_patient, visit_code="week1")


@pytest.fixture
def shipped_instruments(db):
    """The BPI and opioid self-report rows (migration pro.0002 installs them; a transactional browser test's flush
    removes them again, so they are put back here)."""
    for code in definitions.SHIPPED:
        if not Instrument.objects.current().filter(code=code).exists():
            definitions.install(Instrument, definitions.shipped_definition(code), shipped=True)


@pytest.fixture
def invitation(week1_visit, shipped_instruments):
    return invitation_for_visit(week1_visit)


@pytest.fixture
def link(invitation) -> str:
    """A fresh token of the week-1 invitation."""
    return tokens.issue(invitation)


@pytest.fixture
def spanish_instruments(shipped_instruments):
    """Load the test-only Spanish texts into the installed instruments, as a site loads its licensed translation."""
    fixture = json.loads(ES_TEST_TRANSLATION.read_text(encoding="utf-8"))
    for instrument in Instrument.objects.current():
        merged = definitions.load_translation(instrument.definition, fixture[instrument.code])
        instrument.definition, instrument.languages = merged, definitions.validated_languages(merged)
        instrument.save()
