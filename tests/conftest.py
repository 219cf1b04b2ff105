"""Shared fixtures: users per role, a small enrolled patient, and service availability checks."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from django.contrib.auth import get_user_model

from tests.factories import enroll_patient, make_user
from tests.production_settings import production_settings  # noqa: F401 - fixture shared by every test directory
from trials.models import Role, Site

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_service(available: bool, reason: str) -> None:
    """Skip on a laptop without the service; in CI a missing service is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} — required in CI")
    pytest.skip(reason)


# Tests that share one external resource across processes — the Redis broker database of CELERY_BROKER_URL (real
# Celery workers), Chromium against a live server, PostgreSQL databases created and dropped by name — run in one
# pytest-xdist group, i.e. one after another on the same worker (`make test` runs `-n auto --dist loadgroup`).
SERIAL_SERVICE_TESTS = (
    "tests/integration/",
    "tests/e2e/",
    "tests/reliability/",
    "tests/api/test_reports.py",
    "tests/analytics/test_fits.py",
    "tests/analytics/test_run_recovery.py",
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """xdist groups (set before xdist reads them): the tests of ``SERIAL_SERVICE_TESTS`` in "services", every other
    test in its module's group, so that data a module builds once (module fixtures, ``tests/module_data.py``) is
    built by one worker, not by each. Without the xdist plugin (``-p no:xdist``) there are no groups to set."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if item.nodeid.startswith(SERIAL_SERVICE_TESTS):
            item.add_marker(pytest.mark.xdist_group(name="services"))
        else:
            item.add_marker(pytest.mark.xdist_group(name=item.nodeid.split("::", 1)[0]))


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache. Cached aggregates are keyed by the registry's change token, which
    assumes committed data only grows; a test database rolled back between tests breaks that assumption (on SQLite
    the next test can reach the same history counts and ids with different data)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def site(db) -> Site:
    return Site.objects.create(code="ATL", name="Atlanta")


@pytest.fixture
def other_site(db) -> Site:
    return Site.objects.create(code="BOS", name="Boston")


@pytest.fixture
def coordinator(site):
    return make_user("coord", Role.COORDINATOR, site)


@pytest.fixture
def other_coordinator(other_site):
    return make_user("coord_bos", Role.COORDINATOR, other_site)


@pytest.fixture
def data_manager(db):
    return make_user("dm", Role.DATA_MANAGER, None)


@pytest.fixture
def investigator(db):
    return make_user("inv", Role.INVESTIGATOR, None)


@pytest.fixture
def sponsor(db):
    return make_user("spons", Role.SPONSOR, None)


@pytest.fixture
def today() -> dt.date:
    from django.utils import timezone

    return timezone.localdate()


@pytest.fixture
def patient(coordinator, site, today):
    """A spine patient enrolled 100 days ago, day 0 = 95 days ago, procedure recorded."""
    return enroll_patient(coordinator, site, enrollment_date=today - dt.timedelta(days=100), day0=today - dt.timedelta(days=95))


@pytest.fixture
def user_model():
    return get_user_model()
