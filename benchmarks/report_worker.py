"""A report run through a real Celery worker, measured: wall time, CPU (worker + its PostgreSQL backends), peak RSS.

Shared by ``benchmarks/report_scale.py`` (the ratio and the memory figures of issue 17). The worker is started
on a private queue with the solo pool, so the whole run — extraction, derivation, every fit, rendering — happens
in that one process, and its memory is that process's:

- **idle RSS**: the worker's resident set once it has printed "ready." (Django, Celery and the task modules with
  pandas/scipy/matplotlib imported, nothing computed) — the fixed baseline;
- **peak RSS**: ``VmHWM`` of the worker process (the kernel's high-water mark of its resident set), read just
  before it is stopped: the largest footprint the run had, whatever stage it was in.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKER_START_SECONDS = 900  # start-up on a loaded machine


@dataclass(frozen=True)
class WorkerRun:
    """One measured report run: ``seconds`` wall, ``cpu`` seconds (worker or this process + PostgreSQL backends),
    RSS in kB (``None`` in-process), the run's stage timings and how it ran."""

    seconds: float
    cpu: float
    peak_kb: int | None
    idle_kb: int | None
    timings: dict
    mode: str


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) ``pid`` has used so far (Linux /proc; PostgreSQL runs on this machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kb(pid: int, field: str) -> int:
    """A memory field of /proc/<pid>/status in kB (``VmRSS``: now, ``VmHWM``: peak); 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def backend_cpu() -> float:
    """CPU seconds of this process's PostgreSQL backend so far."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return proc_cpu(cursor.fetchone()[0])


def start_worker(queue: str, log: Path, *, name: str | None = None, tag_backends: bool = True) -> subprocess.Popen:
    """A ``celery -A config worker --pool=solo`` on ``queue``; returns once it is ready (exits if it never is).
    With ``tag_backends`` its database connections carry ``application_name=<queue>`` so their CPU can be found."""
    celery = Path(sys.executable).with_name("celery")
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false"}
    if tag_backends:
        url = os.environ.get("DATABASE_URL", "")
        env["DATABASE_URL"] = f"{url}{'&' if '?' in url else '?'}application_name={queue}"
    argv = [str(celery), "-A", "config", "worker", "--pool=solo", "-l", "info", "-Q", queue]
    argv += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name or queue}@%h"]
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)  # noqa: S603
    deadline = time.monotonic() + WORKER_START_SECONDS
    while " ready." not in log.read_text():  # the clock starts once the worker is up
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            sys.exit(f"the worker did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.3)
    return process


def stop_worker(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_in_process(parameters: dict) -> WorkerRun:
    """The whole pipeline in this process (no broker, or ``--in-process``)."""
    from analytics.pipeline import report_run_pipeline
    from analytics.services import report_run_request

    run, _ = report_run_request(actor=None, parameters=parameters, force=True, enqueue=False)
    cpu_before, started = time.process_time() + backend_cpu(), time.perf_counter()
    report_run_pipeline(run.pk)
    seconds = time.perf_counter() - started
    run.refresh_from_db()
    return WorkerRun(seconds, time.process_time() + backend_cpu() - cpu_before, None, None, run.timings, "in-process (no worker)")


def run_on_worker(parameters: dict) -> WorkerRun:
    """One report run (``force``: never reused) on a fresh worker; exits if the run fails."""
    from django.db import connection

    from analytics.models import ReportRun
    from analytics.services import report_run_request
    from config.celery_app import app

    queue = f"report-bench-{uuid.uuid4().hex[:8]}"
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    process = start_worker(queue, Path("/tmp") / f"{queue}.log")
    idle_kb, idle_cpu, backends = proc_status_kb(process.pid, "VmRSS"), proc_cpu(process.pid), {}
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
        cpu = proc_cpu(process.pid) - idle_cpu + sum(backends.values())
        peak_kb = proc_status_kb(process.pid, "VmHWM")
        run.refresh_from_db()
        if run.status != "succeeded":
            sys.exit(f"run {run.pk} {run.status}: {run.error_message}")
    finally:
        stop_worker(process)
    return WorkerRun(seconds, cpu, peak_kb, idle_kb, run.timings, f"Celery worker (solo pool, queue {queue})")
