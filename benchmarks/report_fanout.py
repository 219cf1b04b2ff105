"""Compute-stage speed-up of the fit fan-out across Celery workers (issue 17 item 5).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \\
    .venv/bin/python benchmarks/report_fanout.py --patients 100000 --workers 1,2

Seeds the registry to N patients (or reuses it), then starts as many Celery worker processes as the largest
worker count (solo pool, private queues: worker ``i`` consumes the queue of every count above ``i``, so a run sent
to the queue of count W is fanned out across exactly W workers) and runs the default report through each count in
turn, ``--repeat`` rounds (1, 2, 1, 2, …: a slow spell of this shared machine weighs on both counts alike; one
round of each gave 1.46 where three rounds of each, minutes later on the same code, gave 1.76), and takes the
median of the run's own ``compute`` stage time (``ReportRun.timings``: frames to Redis, the fit units on the run's
worker and on the others, the merge). Prints those, the serial in-process
compute time on the same frames for reference, the speed-up ``compute(1 worker) / compute(W workers)``
against the goal ≥ 1.6 for W = 2, and checks that every fanned-out run's numbers are byte-identical to
the serial path's. ``benchmarks/report_scale.py --workers 1,2`` prints the same lines. On a loaded machine
the wall figures say more about the other processes than about the fan-out, so it also prints the **CPU
makespan**: the larger of the CPU the run's worker spent in its fan-out (its log line) and the CPU each other
worker used during the run — what the busiest process had to compute, which the load inflates far less.

``--units`` instead measures every fit unit alone in this process (CPU seconds, ``time.process_time``) and
simulates the schedule (load-robust, supporting the wall figures): the sum of the units (one worker) against
the makespan of the cost order on 2 workers (each takes the next unit when free), plus the frames' pickle,
signature and unpickle (the fan-out's serial overhead); and prints the figures as analytics/fit_costs.py's
table. Run it with ``OPENBLAS_NUM_THREADS=1`` so a unit's CPU is one core's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SPEEDUP_GOAL = 1.6


def count_queue(base: str, count: int) -> str:
    """The queue served by exactly ``count`` of the benchmark's workers."""
    return f"{base}-w{count}"


def _start_workers(counts: list[int], base: str) -> list:
    """``max(counts)`` workers; worker ``i`` consumes the queue of every count above ``i`` (:func:`count_queue`), so a
    run sent to the queue of count W is fanned out across exactly W workers while the others stay idle, and the
    counts can be measured in turn without restarting workers."""
    from benchmarks.report_worker import start_worker

    return [
        start_worker(
            ",".join(count_queue(base, count) for count in counts if count > index),
            Path("/tmp") / f"{base}-{index}.log",
            name=f"{base}-{index}",
            tag_backends=False,
        )
        for index in range(max(counts))
    ]


def _stop(workers) -> None:
    from benchmarks.report_worker import stop_worker

    for process in workers:
        stop_worker(process)


FANOUT_LINE = re.compile(r"Fit fan-out (\w+): .* ([\d.]+) s CPU here in all")


def _fanout_cpu(logs: list[Path], seen: set[str]) -> float | None:
    """CPU seconds the run's worker spent in its last fan-out (its log line, analytics.fanout), not yet ``seen``."""
    for log in logs:
        for token, cpu in FANOUT_LINE.findall(log.read_text() if log.exists() else ""):
            if token not in seen:
                seen.add(token)
                return float(cpu)
    return None


def fanout_compute_times(worker_counts: list[int], *, repeat: int = 3, parameters: dict | None = None) -> dict:
    """``{"serial": s, "workers": {W: [compute seconds per run]}, "cpu": {W: [CPU makespan per run]},
    "identical": bool}`` on the current registry. The CPU makespan is the larger of the run's worker's CPU in
    its fan-out and each other worker's CPU during the run (load-robust: what the slowest process computed)."""
    from analytics.compute import numbers_compute
    from analytics.dataset import snapshot_extract, snapshot_fingerprint
    from analytics.derive import analysis_sets_build
    from analytics.models import ReportRun
    from analytics.parameters import parameters_parse
    from analytics.render.files import numbers_json, result_numbers
    from analytics.services import report_run_request
    from benchmarks.report_worker import proc_cpu
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
    cpu: dict[int, list[float]] = {}
    identical, seen = True, set()
    base = f"report-fanout-{uuid.uuid4().hex[:8]}"
    workers = _start_workers(worker_counts, base)
    logs = [Path("/tmp") / f"{base}-{i}.log" for i in range(len(workers))]
    try:
        for _ in range(repeat):  # the counts in turn, round after round: a slow spell weighs on each count alike
            for count in worker_counts:
                app.conf.task_default_queue = count_queue(base, count)
                before = [proc_cpu(process.pid) for process in workers]
                run, _ = report_run_request(actor=None, parameters=parameters or {}, force=True)
                while not ReportRun.objects.get(pk=run.pk).is_finished:
                    time.sleep(0.2)
                run.refresh_from_db()
                if run.status != "succeeded":
                    sys.exit(f"run {run.pk} {run.status}: {run.error_message}")
                times.setdefault(count, []).append(run.timings["compute"])
                time.sleep(1)  # the other workers' last messages
                coordinator = _fanout_cpu(logs, seen)
                used = [proc_cpu(process.pid) - b for process, b in zip(workers, before, strict=True)]
                if coordinator is not None:  # the run's worker used the most CPU (extract, derive, render too)
                    others = sorted(used)[:-1]  # the idle workers' (not on this count's queue) are ~0
                    cpu.setdefault(count, []).append(max([coordinator, *others]))
                document = json.loads((run.directory / "result.json").read_text())
                identical &= numbers_json(result_numbers(document)) == serial_json
    finally:
        _stop(workers)
    return {"serial": serial_s, "workers": times, "cpu": cpu, "identical": identical}


def unit_seconds(parameters: dict | None = None) -> tuple[dict, dict]:
    """``({unit: CPU seconds}, {"pickle": s, "unpickle": s, "frames_mb": MB})`` on the current registry."""
    import pickle

    from analytics.dataset import snapshot_extract
    from analytics.derive import analysis_sets_build
    from analytics.fanout import _signature
    from analytics.fits import fit_unit_run, fit_units
    from analytics.parameters import parameters_parse

    params = parameters_parse(parameters or {})
    sets = analysis_sets_build(snapshot_extract(), params)
    started = time.process_time()
    blob = pickle.dumps(sets, protocol=5)
    _signature(blob)
    overhead = {"pickle": time.process_time() - started, "frames_mb": len(blob) / 1e6}
    started = time.process_time()
    _signature(blob)
    pickle.loads(blob)  # noqa: S301 - our own frames
    overhead["unpickle"] = time.process_time() - started
    del blob
    seconds = {}
    for unit in fit_units(params.strata):
        started = time.process_time()
        fit_unit_run(unit, sets, params)
        seconds[unit] = time.process_time() - started
    return seconds, overhead


def unit_lines(seconds: dict, overhead: dict) -> list[tuple[str, str]]:
    """The schedule simulation's rows (label, value) and the per-job table of analytics/fit_costs.py."""
    from analytics.fits import lpt_makespan, schedule_order

    total = sum(seconds.values())
    by_cost = [seconds[u] for u in schedule_order(list(seconds))]
    best = sorted(seconds.values(), reverse=True)
    two = lpt_makespan(by_cost, 2) + overhead["pickle"] + overhead["unpickle"]
    rows = [
        ("fit units", f"{len(seconds)}, {total:.2f} s CPU in all (= the compute stage on 1 worker, fits only)"),
        ("longest units", ", ".join(f"{u.id} {s:.2f}" for u, s in sorted(seconds.items(), key=lambda i: -i[1])[:5])),
        (
            "frames",
            f"{overhead['frames_mb']:.1f} MB; pickle + sign {overhead['pickle']:.2f} s, "
            f"verify + unpickle {overhead['unpickle']:.2f} s",
        ),
        (
            "2 workers, cost order (LPT by fit_costs)",
            f"makespan {lpt_makespan(by_cost, 2):.2f} s; with the frames' serial overhead {two:.2f} s",
        ),
        ("2 workers, measured order (best LPT)", f"makespan {lpt_makespan(best, 2):.2f} s"),
        ("simulated 2-worker speed-up", f"{total / two:.2f} (goal ≥ {SPEEDUP_GOAL}); bound total/longest {total / best[0]:.1f}"),
    ]
    jobs: dict[str, dict[str, float]] = {}
    for unit, value in seconds.items():
        jobs.setdefault(unit.name, {})[unit.stratum] = value
    for name, strata in jobs.items():
        others = [v for k, v in strata.items() if k not in ("all", "site", "*")]
        cost = {k: round(v, 3) for k, v in strata.items() if k in ("all", "site")}
        if others:
            cost["default"] = round(sum(others) / len(others), 3)
        rows.append((f"  cost {name}", str(round(strata["*"], 3)) if "*" in strata else str(cost)))
    return rows


def fanout_lines(worker_counts: list[int], *, repeat: int = 3) -> tuple[list[tuple[str, str]], float | None]:
    """The benchmark's output rows (label, value) for ``report_scale.py`` and this script, and the 2-worker
    compute speed-up (None without both 1 and 2 workers)."""
    result = fanout_compute_times(worker_counts, repeat=repeat)
    speedup = None
    medians = {count: statistics.median(values) for count, values in result["workers"].items()}
    rows = [("compute, serial in-process", f"{result['serial']:.2f} s")]
    for count, values in result["workers"].items():
        rows.append(
            (
                f"compute, {count} worker(s), median of {len(values)}",
                f"{medians[count]:.2f} s ({', '.join(f'{v:.2f}' for v in values)})",
            )
        )
    for count, values in result["cpu"].items():
        rows.append(
            (
                f"fan-out CPU makespan, {count} worker(s)",
                f"{statistics.median(values):.2f} s ({', '.join(f'{v:.2f}' for v in values)})",
            )
        )
    if 1 in medians and 2 in medians:
        speedup = medians[1] / medians[2]
        verdict = "OK" if speedup >= SPEEDUP_GOAL else "UNDER"
        rows.append(("2-worker compute speed-up", f"{speedup:.2f} (goal ≥ {SPEEDUP_GOAL}) {verdict}"))
        if result["cpu"].get(1) and result["cpu"].get(2):
            by_cpu = statistics.median(result["cpu"][1]) / statistics.median(result["cpu"][2])
            rows.append(("2-worker speed-up in CPU makespan (load-robust)", f"{by_cpu:.2f}"))
    rows.append(("fanned-out numbers == serial numbers", "byte-identical" if result["identical"] else "DIFFERENT"))
    rows.append(("load average (1, 5, 15 min)", " ".join(f"{x:.1f}" for x in os.getloadavg())))
    return rows, speedup


def main() -> None:
    from benchmarks import pgbench_db

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--workers", default="1,2", help="Comma-separated worker counts (default 1,2).")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per worker count (median reported).")
    parser.add_argument("--units", action="store_true", help="Per-unit CPU seconds and the 2-worker schedule simulation.")
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
    if args.units:
        rows += unit_lines(*unit_seconds())
        rows.append(("load average (1, 5, 15 min)", " ".join(f"{x:.1f}" for x in os.getloadavg())))
    else:
        rows += fanout_lines([int(w) for w in args.workers.split(",")], repeat=args.repeat)[0]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


if __name__ == "__main__":
    main()
