"""A report run's stages: extract → derive → compute → render, with progress and timings.

``report_run_pipeline(run_id)`` is what the Celery task (and ``run_report
--sync``) calls. Every stage is idempotent: re-running a run re-extracts and
rewrites the same artifact files in MEDIA_ROOT/reports/<id>/.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from analytics.compute import numbers_compute
from analytics.dataset import registry_data_version, snapshot_extract, snapshot_fingerprint
from analytics.derive import analysis_sets_build
from analytics.fanout import fanout_enabled, fanout_runner
from analytics.memory import large_allocations_mapped, memory_release
from analytics.models import ReportRun, RunStatus
from analytics.parameters import parameters_parse
from analytics.render import artifacts_render, render_inputs
from analytics.services import report_run_progress, report_run_start, report_run_succeed

# (stage, progress when it finishes)
STAGES: tuple[tuple[str, int], ...] = (("extract", 25), ("derive", 40), ("compute", 70), ("render", 100))


class StageError(Exception):
    """A stage failed; ``stage`` names it so the run's message says where."""

    def __init__(self, stage: str, cause: BaseException):
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.stage = stage
        self.cause = cause


@lru_cache(maxsize=1)
def code_version() -> str:
    """Git commit of the running code, else the project's version from settings (if any)."""
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv
            ["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607 - git on PATH
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return getattr(settings, "REPORTS_CODE_VERSION", "unknown")
    return out.stdout.strip() or getattr(settings, "REPORTS_CODE_VERSION", "unknown")


class StageClock:
    """Times stages and reports progress after each one."""

    def __init__(
        self, run_id: int, on_progress: Callable[[str, int, dict[str, float]], None] | None = None, delivery: int | None = None
    ):
        self.run_id = run_id
        self.delivery = delivery
        self.timings: dict[str, float] = {}
        self.on_progress = on_progress
        self._done = dict(STAGES)
        self._previous = 0

    @contextmanager
    def stage(self, name: str):
        report_run_progress(run_id=self.run_id, stage=name, progress=self._previous, delivery=self.delivery)
        started = time.perf_counter()
        try:
            yield
        except Exception as exc:
            raise StageError(name, exc) from exc
        self.timings[name] = round(time.perf_counter() - started, 4)
        self._previous = self._done[name]
        report_run_progress(run_id=self.run_id, stage=name, progress=self._previous, timings=self.timings, delivery=self.delivery)
        if self.on_progress:
            self.on_progress(name, self._previous, self.timings)


def known_fingerprint(data_version: str) -> str | None:
    """The fingerprint of a finished run extracted at ``data_version``: the same token means the same data
    (``registry_data_version``), so the snapshot need not be hashed again (issue 17)."""
    return (
        ReportRun.objects.filter(data_version=data_version, status=RunStatus.SUCCEEDED)
        .exclude(fingerprint="")
        .values_list("fingerprint", flat=True)
        .first()
    )


def _snapshot():
    """All frames from one consistent view of the database (one REPEATABLE READ transaction on
    PostgreSQL; inside a caller's transaction, that transaction's view), its fingerprint (reused from a
    run at the same data version, else computed) and the data version."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                if settings.REPORTS_EXTRACT_WORK_MEM:  # joins and sorts in memory (config/settings/base.py)
                    cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.REPORTS_EXTRACT_WORK_MEM])
        version = registry_data_version()
        snapshot = snapshot_extract()
        fingerprint = known_fingerprint(version)
    return snapshot, fingerprint or snapshot_fingerprint(snapshot), version


def report_run_pipeline(
    run_id: int, *, on_progress=None, delivery: int | None = None, queue: str | None = None
) -> dict[str, Any]:
    """Run every stage of ``run_id``; returns the result JSON stored on the run.

    The compute stage's fit jobs are fanned out to the workers on ``queue`` (default: the default queue)
    when tasks go to real workers over Redis (analytics.fanout); otherwise they run here, one after the
    other. Both give the same numbers.

    Raises StageError (with the failing stage) on any computation error; the
    caller records it with ``report_run_fail``. ``delivery`` is the task
    message's number: ``RunSuperseded`` when the run was re-queued since.
    """
    run = report_run_start(run_id=run_id, delivery=delivery)
    large_allocations_mapped(settings.REPORTS_MALLOC_MMAP_THRESHOLD)  # the process's setting: idempotent
    params = parameters_parse(run.parameters)
    clock = StageClock(run_id, on_progress, delivery)
    with clock.stage("extract"):
        snapshot, fingerprint, data_version = _snapshot()
        memory_release()  # the COPY buffers
    with clock.stage("derive"):
        sets = analysis_sets_build(snapshot, params)
        del snapshot  # no later stage reads the raw frames: free them before the fits (issue 17, memory)
        memory_release()
    with clock.stage("compute"):
        runner = fanout_runner(fingerprint=fingerprint, queue=queue) if fanout_enabled() else None
        numbers = numbers_compute(sets, params, fingerprint=fingerprint, runner=runner)
        sets = render_inputs(sets)  # render reads adtte, adresp, adltp: the rest is freed here (issue 17)
        memory_release()
    metadata = {
        "run_id": run.pk,
        "generated_at": timezone.now().isoformat(timespec="seconds"),
        "code_version": code_version(),
        "requested_by": run.requested_by.get_username() if run.requested_by is not None else None,
    }
    with clock.stage("render"):
        artifacts = artifacts_render(run.directory, numbers=numbers, sets=sets, metadata=metadata)
    report_run_succeed(
        run_id=run_id,
        fingerprint=fingerprint,
        data_version=data_version,
        result=numbers,
        artifacts=artifacts,
        timings=clock.timings,
        delivery=delivery,
    )
    return numbers
