"""Celery app for the PRO integration test's worker: the project's app, with every task run at the instant written
in the file ``PRO_TEST_CLOCK_FILE`` (time-machine), so the test drives the worker's clock forward day by day while
beat keeps sending real ticks. Used only by tests/integration/test_pro_invitations.py (``celery -A
tests.integration.pro_clock worker``)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import time_machine
from celery.signals import task_postrun, task_prerun

from config.celery_app import app

__all__ = ["app"]
_travel: list = []


@task_prerun.connect
def _start_travel(**kwargs) -> None:
    clock = Path(os.environ["PRO_TEST_CLOCK_FILE"]).read_text().strip()
    traveller = time_machine.travel(dt.datetime.fromisoformat(clock), tick=False)
    traveller.start()
    _travel.append(traveller)


@task_postrun.connect
def _stop_travel(**kwargs) -> None:
    while _travel:
        _travel.pop().stop()
