"""Report run at scale on PostgreSQL (issue 3 "Speed").

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \\
    .venv/bin/python benchmarks/report_scale.py --patients 100000

Seeds the registry to N patients (or reuses it), then prints, in one run:
1. extraction time (``snapshot_extract`` — COPY with integer patient keys into DataFrames, issue 17);
2. the time of a raw ``COPY (SELECT …) TO STDOUT`` of the frame queries as the ORM writes them (study_id text
   joined in: the baseline issue 17 was measured against), and of the integer-keyed ones the extraction runs;
3. the bare statistical fits' time on prepared frames/arrays (every ``analytics.stats`` call the report makes);
4. the full run's time (all stages, artifacts included) through a Celery worker this script starts on a
   private queue — or in-process with ``--in-process`` or when no broker is configured (it says which);
5. the ratio full / (COPY + bare fits), against the goal ≤ 1.5;
6. peak RSS of this process and of the worker, against the goal ≤ 2 GB, and the worker's growth per 1,000
   patients (peak − idle after start-up);
7. with a Redis broker, the compute stage with 1 and 2 workers and the 2-worker compute speed-up, against the
   goal ≥ 1.6 (``--workers``, see benchmarks/report_fanout.py; ``--workers ''`` skips it).

``--strata modality`` runs everything with one stratification variable (default: all five).
``--rss-sizes URL,URL,URL`` instead runs the worker's full report on each database (e.g. 10k, 30k, 100k
patients, seeded beforehand) and prints its peak RSS per 1,000 patients at each size and the growth between
sizes, against the goal ≤ 2 MB per 1,000 patients (issue 17).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks import pgbench_db  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
RATIO_GOAL = 1.5
RSS_GOAL_MB = 2048
RSS_GROWTH_GOAL_MB = 2.0  # per 1,000 patients


def setup_django() -> None:
    import django

    django.setup()


def ensure_database() -> None:
    pgbench_db.ensure_database("The benchmark runs on PostgreSQL")


def ensure_patients(n: int) -> float:
    from django.core.management import call_command

    from trials.models import Patient

    started = time.perf_counter()
    if Patient.objects.count() < n:
        call_command("seed_registry", patients=n, sites=10, seed=1, anchor_date=None, no_progress=False)
    return time.perf_counter() - started


def timed(func, *args, **kwargs):
    started = time.perf_counter()
    value = func(*args, **kwargs)
    return value, time.perf_counter() - started


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) ``pid`` has used so far (Linux /proc; PostgreSQL runs on this machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_cpu() -> float:
    """CPU seconds of this connection's PostgreSQL backend so far."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return proc_cpu(cursor.fetchone()[0])


def copy_time() -> tuple[float, int, float]:
    """COPY (SELECT …) TO STDOUT of exactly the extraction queries; returns (seconds, bytes, CPU seconds of this
    process and of its PostgreSQL backend)."""
    from django.db import connection

    from analytics.dataset import FRAME_QUERIES

    cpu_before = time.process_time() + backend_cpu()
    total, started = 0, time.perf_counter()
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor  # the psycopg cursor
        for query in FRAME_QUERIES.values():
            sql, params = query().values_list().query.sql_with_params()
            statement = connection.ops.compose_sql(sql, params)
            with cursor.copy(f"COPY ({statement}) TO STDOUT") as copy:
                for block in copy:
                    total += len(block)
    seconds = time.perf_counter() - started
    return seconds, total, time.process_time() + backend_cpu() - cpu_before


def copy_keyed_time() -> float:
    """COPY of the integer-keyed frame queries the extraction runs (no study_id text)."""
    from django.db import connection

    from analytics.dataset import FRAME_QUERIES, copy_statement

    started = time.perf_counter()
    with connection.cursor() as wrapper:
        for name, query in FRAME_QUERIES.items():
            queryset = (
                query().queryset.values_list("id", *query().columns.values())
                if name == "patients"
                else query().keyed_values_list()
            )
            with wrapper.cursor.copy(copy_statement(queryset)) as copy:
                for _block in copy:
                    pass
    return time.perf_counter() - started


def bare_fits(sets, strata) -> float:
    """Every statistical call of the compute stage, on the prepared analysis frames — nothing else."""
    from analytics import stats
    from analytics.stats import propensity

    started = time.perf_counter()
    stats.sre_cumulative_incidence(sets.adtte, strata_variables=strata)
    stats.sre_one_minus_km(sets.adtte, strata_variables=strata)
    stats.overall_survival(sets.adtte, strata_variables=strata)
    stats.logrank_tests(sets.adtte, strata_variables=strata)
    stats.cox_fits(sets.adtte)
    stats.pain_visit_summaries(sets.pain, strata_variables=strata)
    stats.omed_visit_summaries(sets.pain, strata_variables=strata)
    stats.pain_response_rates(sets.adresp, itt_population=sets.itt_population, patients=sets.patients, strata_variables=strata)
    stats.complication_summaries(sets.aes, sets.patients, strata_variables=strata)
    covariates = propensity.covariate_frame(sets.patients, sets.pain)  # issue 16: the four default contrasts
    propensity.propensity_analyses(covariates, sets.adtte, sets.adresp, visits=tuple(sets.itt_population))
    return time.perf_counter() - started


def rss_kb(pid: int) -> int:
    """Current resident set size of ``pid`` in kB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start_worker(queue: str, log: Path) -> subprocess.Popen:
    celery = Path(sys.executable).with_name("celery")
    url = os.environ.get("DATABASE_URL", "")
    named = f"{url}{'&' if '?' in url else '?'}application_name={queue}"  # so its backends' CPU can be found
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false", "DATABASE_URL": named}
    process = subprocess.Popen(  # noqa: S603
        [
            str(celery),
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "-l",
            "info",
            "-Q",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"{queue}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 900  # start-up under a loaded machine
    while " ready." not in log.read_text():  # the clock starts once the worker is up
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the worker did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.3)
    return process


def full_run(*, in_process: bool, parameters: dict) -> tuple[float, str, int | None, int | None, float]:
    """Returns (seconds, mode, worker peak RSS in kB or None, worker idle RSS in kB or None, CPU seconds of the run:
    the worker's (or this process's) plus its PostgreSQL backends')."""
    from django.conf import settings

    from analytics.models import ReportRun
    from analytics.pipeline import report_run_pipeline
    from analytics.services import report_run_request
    from config.celery_app import app

    if in_process or not settings.CELERY_BROKER_URL:
        run, _ = report_run_request(actor=None, parameters=parameters, force=True, enqueue=False)
        cpu_before = time.process_time() + backend_cpu()
        _, seconds = timed(report_run_pipeline, run.pk)
        return seconds, "in-process (no worker)", None, None, time.process_time() + backend_cpu() - cpu_before
    queue = f"report-bench-{uuid.uuid4().hex[:8]}"
    from django.db import connection

    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    process = start_worker(queue, Path("/tmp") / f"{queue}.log")
    idle_rss, idle_cpu, backends = rss_kb(process.pid), proc_cpu(process.pid), {}
    try:
        started = time.perf_counter()
        run, _ = report_run_request(actor=None, parameters=parameters, force=True)
        while not ReportRun.objects.get(pk=run.pk).is_finished:
            with connection.cursor() as cursor:  # the worker's backends (its application_name), sampled
                cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [queue])
                for (pid,) in cursor.fetchall():
                    backends[pid] = max(backends.get(pid, 0.0), proc_cpu(pid))
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        worker_cpu = proc_cpu(process.pid) - idle_cpu + sum(backends.values())
        run.refresh_from_db()
        if run.status != "succeeded":
            sys.exit(f"run {run.pk} {run.status}: {run.error_message}")
    finally:
        process.terminate()
        process.wait(timeout=60)
    worker_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, f"through a Celery worker (solo pool, queue {queue}); stages {run.timings}", worker_rss, idle_rss, worker_cpu


def rss_sizes(urls: list[str], strata: str | None) -> None:
    """The worker's full run on each database (a child process per size), then RSS per 1,000 patients."""
    import json

    rows = []
    for url in urls:
        argv = [sys.executable, __file__, "--rss-only", *(["--strata", strata] if strata else [])]
        out = subprocess.run(argv, env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, check=False)  # noqa: S603
        if out.returncode:
            sys.exit(f"{url}: {out.stderr[-2000:]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    rows.sort(key=lambda r: r["patients"])
    print(
        f"{'patients':>9}  {'full s':>7}  {'idle MB':>8}  {'peak MB':>8}  {'(peak-idle) MB/1k':>18}  growth since previous MB/1k"
    )
    previous = None
    for row in rows:
        per_k = (row["peak_kb"] - row["idle_kb"]) / 1024 / (row["patients"] / 1000)
        growth = ""
        if previous:
            slope = (row["peak_kb"] - previous["peak_kb"]) / 1024 / ((row["patients"] - previous["patients"]) / 1000)
            growth = f"{slope:.2f} (goal ≤ {RSS_GROWTH_GOAL_MB}) {'OK' if slope <= RSS_GROWTH_GOAL_MB else 'OVER'}"
        print(
            f"{row['patients']:>9}  {row['seconds']:>7.1f}  {row['idle_kb'] / 1024:>8.0f}  {row['peak_kb'] / 1024:>8.0f}  "
            f"{per_k:>18.2f}  {growth}"
        )
        previous = row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--in-process", action="store_true", help="Run the full report in this process, not on a worker.")
    parser.add_argument("--workers", default="1,2", help="Worker counts of the fan-out measurement ('' skips it).")
    parser.add_argument("--fanout-repeat", type=int, default=1, help="Runs per worker count in the fan-out measurement.")
    parser.add_argument("--strata", default=None, help="Comma-separated stratification variables (default: all five).")
    parser.add_argument("--rss-sizes", default=None, help="Comma-separated DATABASE_URLs of seeded registries (see above).")
    parser.add_argument("--rss-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    parameters = {"strata": args.strata} if args.strata else {}
    if args.rss_sizes:
        rss_sizes(args.rss_sizes.split(","), args.strata)
        return
    setup_django()
    if args.rss_only:
        import json

        from trials.models import Patient

        seconds, _, peak, idle, _cpu = full_run(in_process=False, parameters=parameters)
        print(json.dumps({"patients": Patient.objects.count(), "seconds": seconds, "peak_kb": peak, "idle_kb": idle}))
        return
    ensure_database()
    seed_seconds = ensure_patients(args.patients)

    from django.conf import settings

    from analytics.dataset import snapshot_extract, snapshot_fingerprint
    from analytics.derive import analysis_sets_build
    from analytics.parameters import parameters_parse
    from trials.models import Patient

    params = parameters_parse(parameters)
    snapshot, extract_s = timed(snapshot_extract)
    _, fingerprint_s = timed(snapshot_fingerprint, snapshot)
    (copy_s, copy_bytes, copy_cpu) = copy_time()
    copy_keyed_s = copy_keyed_time()
    sets, derive_s = timed(analysis_sets_build, snapshot, params)
    fits_cpu_before = time.process_time()
    fits_s = bare_fits(sets, params.strata)
    fits_cpu = time.process_time() - fits_cpu_before
    del snapshot, sets
    full_s, mode, worker_rss, idle_rss, full_cpu = full_run(in_process=args.in_process, parameters=parameters)
    cpu_ratio = full_cpu / (copy_cpu + fits_cpu)
    own_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ratio = full_s / (copy_s + fits_s)
    rows = [
        ("patients in registry", f"{Patient.objects.count()} (seed/reuse {seed_seconds:.1f} s)"),
        ("strata", ", ".join(params.strata)),
        ("extraction (COPY → DataFrames)", f"{extract_s:.2f} s, fingerprint {fingerprint_s:.2f} s"),
        ("raw COPY (SELECT …) TO STDOUT", f"{copy_s:.2f} s ({copy_bytes / 1e6:.1f} MB); integer-keyed {copy_keyed_s:.2f} s"),
        ("derive (adtte/adresp/pain)", f"{derive_s:.2f} s"),
        ("bare statistical fits", f"{fits_s:.2f} s"),
        ("full run", f"{full_s:.2f} s — {mode}"),
        ("ratio full / (COPY + fits)", f"{ratio:.2f} (goal ≤ {RATIO_GOAL}) {'OK' if ratio <= RATIO_GOAL else 'OVER'}"),
        (
            "CPU-time ratio (load-robust)",
            f"{cpu_ratio:.2f} = full {full_cpu:.2f} s (worker + its PostgreSQL backends) / (COPY {copy_cpu:.2f} s "
            f"(client + backend) + fits {fits_cpu:.2f} s) (goal ≤ {RATIO_GOAL}) {'OK' if cpu_ratio <= RATIO_GOAL else 'OVER'}",
        ),
        ("load average (1, 5, 15 min)", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("peak RSS, this process", f"{own_rss / 1024:.0f} MB (goal ≤ {RSS_GOAL_MB} MB)"),
        (
            "peak RSS, worker",
            "n/a (in-process)"
            if worker_rss is None
            else f"{worker_rss / 1024:.0f} MB (goal ≤ {RSS_GOAL_MB} MB); idle {idle_rss / 1024:.0f} MB, "
            f"growth {(worker_rss - idle_rss) / 1024 / (Patient.objects.count() / 1000):.2f} MB per 1,000 patients",
        ),
    ]
    if args.workers and not args.in_process and (settings.CELERY_BROKER_URL or "").startswith("redis"):
        from benchmarks.report_fanout import fanout_lines

        rows += fanout_lines([int(w) for w in args.workers.split(",")], repeat=args.fanout_repeat)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


if __name__ == "__main__":
    main()
