"""``manage.py run_report [--strata modality,augmentation] [--out DIR] [--sync]``.

Queues a report run on the Celery worker and follows its progress on the
terminal (or, with ``--sync``, runs it in this process), then copies the
artifacts to DIR. A run with the same parameters over the same data is re-used
(``--force`` recomputes).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analytics.models import ReportRun, RunStatus
from analytics.pipeline import StageError, report_run_pipeline
from analytics.services import report_run_fail, report_run_request
from trials.errors import DomainValidationError


class Command(BaseCommand):
    help = "Compute the outcomes report (result.json, CSV, XLSX, PNG plots, PDF) and write its artifacts to --out."

    def add_arguments(self, parser):
        parser.add_argument("--strata", default=None, help="Comma-separated stratification variables (default: all five).")
        parser.add_argument("--visits", default=None, help="Comma-separated follow-up visits (default: all).")
        parser.add_argument(
            "--contrasts",
            default=None,
            help="Comma-separated propensity-weighted contrasts: cement, radiation_sequence, modality, intent "
            "(default: all four; an empty string: none).",
        )
        parser.add_argument(
            "--hypercalcaemia", action="store_true", help="Count hypercalcaemia of malignancy as an SRE (off by default)."
        )
        parser.add_argument("--out", default=None, help="Directory to copy the artifacts to.")
        parser.add_argument("--sync", action="store_true", help="Run in this process instead of on the worker.")
        parser.add_argument("--force", action="store_true", help="Recompute even if an identical run exists.")
        parser.add_argument("--timeout", type=float, default=3600, help="Seconds to wait for the worker (default 3600).")

    def handle(self, *args, **opts):
        parameters = {"include_hypercalcaemia": opts["hypercalcaemia"]}
        for name in ("strata", "visits", "contrasts"):
            if opts[name] is not None:
                parameters[name] = opts[name]
        try:
            run, reused = report_run_request(actor=None, parameters=parameters, force=opts["force"], enqueue=not opts["sync"])
        except DomainValidationError as exc:
            raise CommandError(str(exc)) from exc
        if reused:
            self.stdout.write(f"Re-using run {run.pk}: same parameters, same data (fingerprint {run.fingerprint[:12]}…).")
        elif opts["sync"]:
            self._run_here(run)
        else:
            self.stdout.write(f"Queued run {run.pk} on the worker.")
            self._follow(run.pk, opts["timeout"])
        run.refresh_from_db()
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"Run {run.pk} {run.status}: {run.error_message}")
        self._summary(run)
        if opts["out"]:
            self._copy(run, Path(opts["out"]))

    def _run_here(self, run: ReportRun) -> None:
        self.stdout.write(f"Running run {run.pk} in this process.")

        def show(stage, progress, timings):
            self.stdout.write(f"  [{progress:3d}%] {stage:<8} {timings[stage]:.2f} s")

        try:
            report_run_pipeline(run.pk, on_progress=show)
        except StageError as exc:
            report_run_fail(run_id=run.pk, stage=exc.stage, message=str(exc))

    def _follow(self, run_id: int, timeout: float) -> None:
        deadline, shown = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            run = ReportRun.objects.get(pk=run_id)
            state = (run.status, run.stage, run.progress)
            if state != shown:
                self.stdout.write(f"  [{run.progress:3d}%] {run.status:<9} {run.stage}")
                shown = state
            if run.is_finished:
                return
            time.sleep(0.5)
        raise CommandError(f"Run {run_id} did not finish within {timeout:.0f} s; is a worker running (celery -A config worker)?")

    def _summary(self, run: ReportRun) -> None:
        timings = ", ".join(f"{k} {v:.2f} s" for k, v in run.timings.items())
        self.stdout.write(
            self.style.SUCCESS(
                f"Run {run.pk} succeeded: {(run.result or {}).get('n_patients')} patients, "
                f"fingerprint {run.fingerprint}. {timings}"
            )
        )

    def _copy(self, run: ReportRun, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        for name in run.artifacts:
            shutil.copy2(run.directory / name, out / name)
        self.stdout.write(f"Wrote {len(run.artifacts)} artifacts to {out}: {', '.join(run.artifacts)}")
