"""Fixtures shared by the PRO job's tests."""

from __future__ import annotations

import pytest

from tests.pro.test_sending_batches import REFUSED


@pytest.fixture
def job_settings(settings):
    """The job on week 1 only, reminders on days 1 and 3, mail through ``RefusingBackend`` (refuses ``REFUSED``)."""
    settings.PRO_REMINDER_OFFSETS_DAYS = [1, 3]
    settings.PRO_SEND_FROM_HOUR = 8
    settings.PRO_VISIT_CODES = ["week1"]
    settings.PRO_PUBLIC_BASE_URL = "https://registry.example.org"
    settings.EMAIL_BACKEND = "tests.pro.test_sending_batches.RefusingBackend"
    REFUSED.clear()
    yield settings
    REFUSED.clear()
