"""Six data managers lock the study at the same instant: one study-wide lock, five clear refusals (issue 11).

Needs PostgreSQL (real concurrent transactions); skips on SQLite with the reason,
fails in CI (tests.conftest.require_service). Before the partial unique
constraint ``lock_one_active_study_wide`` this created four study-wide locks.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from tests.conftest import require_service
from tests.factories import make_user
from trials.errors import DomainValidationError
from trials.models import Lock, LockScope, Role
from trials.services.locking import site_lock, study_lock

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
CONCURRENT = 6


def _race(action) -> tuple[list, list]:
    """Run ``action(i)`` in CONCURRENT threads released together; returns (results, errors)."""
    barrier = threading.Barrier(CONCURRENT)
    results, errors = [], []

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(action(i))
        except DomainValidationError as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


@pytest.fixture
def data_managers(db):
    require_service(
        connection.vendor == "postgresql", "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry"
    )
    return [make_user(f"dm{i}", Role.DATA_MANAGER, None) for i in range(CONCURRENT)]


def test_six_concurrent_study_locks_create_exactly_one(data_managers):
    results, errors = _race(lambda i: study_lock(actor=data_managers[i], reason=f"Final cut-off ({i})"))
    assert Lock.objects.filter(scope=LockScope.STUDY, unlocked_at__isnull=True).count() == 1
    assert len(results) == 1 and len(errors) == CONCURRENT - 1
    assert all(exc.errors == {"locked": ["The study is already locked."]} for exc in errors)


def test_six_concurrent_site_locks_create_exactly_one(data_managers, site):
    results, errors = _race(lambda i: site_lock(actor=data_managers[i], site=site, reason="Site close-out"))
    assert Lock.objects.filter(scope=LockScope.SITE, site=site, unlocked_at__isnull=True).count() == 1
    assert len(results) == 1 and len(errors) == CONCURRENT - 1
