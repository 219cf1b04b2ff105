"""Issue 17 (report CPU): a Celery worker hides its start-up objects from the garbage collector, so a full
collection during a report scans only what the run allocated."""

from __future__ import annotations

import gc

from celery.signals import worker_process_init, worker_ready

from config.celery_app import gc_freeze_startup_objects


def test_the_freeze_runs_when_a_worker_or_a_pool_process_starts():
    for signal in (worker_ready, worker_process_init):
        assert any(receiver() is gc_freeze_startup_objects for _, receiver in signal.receivers), signal.name


def test_after_the_freeze_a_collection_no_longer_sees_the_start_up_objects():
    ballast = [[i] for i in range(300_000)]  # long-lived container objects, as a worker's modules are
    try:
        assert len(gc.get_objects()) > len(ballast)
        gc_freeze_startup_objects()
        assert gc.get_freeze_count() >= len(ballast)
        assert len(gc.get_objects()) < len(ballast)  # what a full collection walks: not the frozen objects
    finally:
        gc.unfreeze()
        del ballast
