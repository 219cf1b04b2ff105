"""Compute-stage speed-up of the fit fan-out across Celery workers (issue 17 item 5).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \\
    .venv/bin/python benchmarks/report_fanout.py --patients 100000 --workers 1,2

Seeds the registry to N patients (or reuses it), then for each worker count W starts W Celery worker
processes (solo pool, a private queue), runs the default report through them ``--repeat`` times and
takes the median of the run's own ``compute`` stage time (``ReportRun.timings``: frames to Redis, the
fit units on the run's worker and on the others, the merge). Prints those, the serial in-process
compute time on the same frames for reference, the speed-up ``compute(1 worker) / compute(W workers)``
against the goal ≥ 1.6 for W = 2, and checks that every fanned-out run's numbers are byte-identical to
the serial path's. ``benchmarks/report_scale.py --workers 1,2`` prints the same lines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SPEEDUP_GOAL = 1.6


def _start_workers(count: int, queue: str) -> list[tuple[subprocess.Popen, Path]]:
    celery = Path(sys.executable).with_name("celery")
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false"}
    workers = []
    for i in range(count):
        log = Path("/tmp") / f"{queue}-{i}.log"
        argv = [str(celery), "-A", "config", "worker", "--pool=solo", "-l", "info", "-Q", queue]
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{queue}-{i}@%h"]
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)  # noqa: S603
        workers.append((process, log))
    deadline = time.monotonic() + 120
    for process, log in workers:  # the clock starts once every worker is up
        while " ready." not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"a worker did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.3)
    return workers


def _stop(workers) -> None:
    for process, _ in workers:
        process.terminate()
    for process, _ in workers:
        process.wait(timeout=60)


def fanout_compute_times(worker_counts: list[int], *, repeat: int = 3, parameters: dict | None = None) -> dict:
    """``{"serial": s, "workers": {W: [compute seconds per run]}, "identical": bool}`` on the current registry."""
    from analytics.compute import numbers_compute
    from analytics.dataset import snapshot_extract, snapshot_fingerprint
    from analytics.derive import analysis_sets_build
    from analytics.models import ReportRun
    from analytics.parameters import parameters_parse
    from analytics.render.files import numbers_json, result_numbers
    from analytics.services import report_run_request
    from config.celery_app import app

    params = parameters_parse(parameters or {})
    snapshot = snapshot_extract()
    fingerprint = snapshot_fingerprint(snapshot)
    sets = analysis_sets_build(snapshot, params)
    del snapshot
    started = time.perf_counter()
    serial_json = numbers_json(numbers_compute(sets, params, fingerprint=fingerprint))
    serial_s = time.perf_counter() - started
    del sets
    app.conf.task_always_eager = False
    times: dict[int, list[float]] = {}
    identical = True
    for count in worker_counts:
        queue = f"report-fanout-{uuid.uuid4().hex[:8]}"
        app.conf.task_default_queue = queue
        workers = _start_workers(count, queue)
        try:
            for _ in range(repeat):
                run, _ = report_run_request(actor=None, parameters=parameters or {}, force=True)
                while not ReportRun.objects.get(pk=run.pk).is_finished:
                    time.sleep(0.2)
                run.refresh_from_db()
                if run.status != "succeeded":
                    sys.exit(f"run {run.pk} {run.status}: {run.error_message}")
                times.setdefault(count, []).append(run.timings["compute"])
                document = json.loads((run.directory / "result.json").read_text())
                identical &= numbers_json(result_numbers(document)) == serial_json
        finally:
            _stop(workers)
    return {"serial": serial_s, "workers": times, "identical": identical}


def fanout_lines(worker_counts: list[int], *, repeat: int = 3) -> list[tuple[str, str]]:
    """The benchmark's output rows (label, value) for ``report_scale.py`` and this script."""
    result = fanout_compute_times(worker_counts, repeat=repeat)
    medians = {count: statistics.median(values) for count, values in result["workers"].items()}
    rows = [("compute, serial in-process", f"{result['serial']:.2f} s")]
    for count, values in result["workers"].items():
        rows.append(
            (
                f"compute, {count} worker(s), median of {len(values)}",
                f"{medians[count]:.2f} s ({', '.join(f'{v:.2f}' for v in values)})",
            )
        )
    if 1 in medians and 2 in medians:
        speedup = medians[1] / medians[2]
        verdict = "OK" if speedup >= SPEEDUP_GOAL else "UNDER"
        rows.append(("2-worker compute speed-up", f"{speedup:.2f} (goal ≥ {SPEEDUP_GOAL}) {verdict}"))
    rows.append(("fanned-out numbers == serial numbers", "byte-identical" if result["identical"] else "DIFFERENT"))
    rows.append(("load average (1, 5, 15 min)", " ".join(f"{x:.1f}" for x in os.getloadavg())))
    return rows


def main() -> None:
    from benchmarks import pgbench_db

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--workers", default="1,2", help="Comma-separated worker counts (default 1,2).")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per worker count (median reported).")
    args = parser.parse_args()
    pgbench_db.setup_django("postgres://postgres@127.0.0.1:5432/registry_bench")
    pgbench_db.ensure_database("The fan-out benchmark runs on PostgreSQL")
    from django.conf import settings
    from django.core.management import call_command

    from trials.models import Patient

    if not (settings.CELERY_BROKER_URL or "").startswith("redis"):
        sys.exit("The fan-out benchmark needs Redis: set CELERY_BROKER_URL=redis://…")
    if Patient.objects.count() < args.patients:
        call_command("seed_registry", patients=args.patients, sites=10, seed=1, anchor_date=None, no_progress=False)
    rows = [("patients in registry", str(Patient.objects.count()))]
    rows += fanout_lines([int(w) for w in args.workers.split(",")], repeat=args.repeat)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


if __name__ == "__main__":
    main()
