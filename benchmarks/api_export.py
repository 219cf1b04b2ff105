"""Benchmark: streaming CSV export of visits through the API vs PostgreSQL ``COPY`` of the same columns.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench \\
        .venv/bin/python benchmarks/api_export.py --patients 100000

Seeds the database with ``seed_registry`` when it holds fewer patients (re-uses it
otherwise), then times ``GET /api/v1/export/visits.csv`` (a data manager's token,
consumed block by block) against ``COPY (SELECT …) TO STDOUT`` of the same query,
and prints the ratio (goal ≤ 2×, issue 17) and the peak memory of the streaming export
(tracemalloc peak of Python allocations in a separate pass, and process max RSS), with the load
average before and after. The ratio is also given in CPU seconds (this process and its PostgreSQL backend, in
a pass with parallel query off so that the backend does all the work), which a shared machine's load does not
inflate. On PostgreSQL the export itself is a ``COPY`` (trials/interop/csv_copy.py). Figures: README "Benchmarks".
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks import pgbench_db  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/registry_bench"
GOAL_RATIO = 2.0  # issue 17 item 7 (it was 3× in issue 4)


def setup_django() -> None:
    pgbench_db.setup_django(DEFAULT_DATABASE_URL, API_THROTTLE_USER="100000/minute")


def ensure_database() -> None:
    pgbench_db.ensure_database("This benchmark compares against PostgreSQL COPY")


def seed(patients: int) -> None:
    from django.core.management import call_command

    call_command("seed_registry", sites=10, patients=patients, no_progress=True, verbosity=0)


def api_token() -> str:
    from django.contrib.auth import get_user_model

    from apicore.tokens import api_token_issue
    from trials.models import Membership, Role

    user, _ = get_user_model().objects.get_or_create(username="bench_data_manager")
    Membership.objects.get_or_create(user=user, role=Role.DATA_MANAGER, site=None)
    return api_token_issue(user=user)[0]


def cpu_seconds() -> float:
    """CPU seconds of this process plus its PostgreSQL backend (``/proc/<pid>/stat``; the server runs on this
    machine, else the backend counts 0): unlike wall time, not inflated by other programs of a shared machine."""
    from django.db import connection

    connection.ensure_connection()
    backend = 0.0
    try:
        fields = Path(f"/proc/{connection.connection.info.backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
        backend = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    except OSError:
        pass
    return time.process_time() + backend


def stream_export(token: str) -> tuple[float, float, int, int]:
    """Seconds, CPU seconds, bytes and rows of GET /api/v1/export/visits.csv, consumed as a client would."""
    from django.test import Client

    started, cpu = time.perf_counter(), cpu_seconds()
    response = Client().get("/api/v1/export/visits.csv", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200, response.status_code
    size = rows = 0
    for block in response.streaming_content:
        size += len(block)
        rows += block.count(b"\n")
    return time.perf_counter() - started, cpu_seconds() - cpu, size, rows - 1


def copy_export() -> tuple[float, float, int]:
    """Seconds, CPU seconds and bytes of COPY (the same SELECT the export runs) TO STDOUT as CSV."""
    from django.db import connection

    from trials.interop.tabular import EXPORTS
    from trials.models import Visit

    spec = EXPORTS["visits"]
    sql, params = Visit.objects.values_list(*spec.columns).order_by("id").query.sql_with_params()
    started, cpu, size = time.perf_counter(), cpu_seconds(), 0
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)", params) as copy:
        for block in copy:
            size += len(block)
    return time.perf_counter() - started, cpu_seconds() - cpu, size


def cpu_pass(token: str, repeat: int) -> tuple[float, float]:
    """The least CPU seconds of ``repeat`` streams and COPYs with parallel query off for this session, so that the
    backend whose CPU ``cpu_seconds`` reads does all of the query's work (parallel workers are other processes)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
    try:
        streams = [stream_export(token)[1] for _ in range(repeat)]
        copies = [copy_export()[1] for _ in range(repeat)]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET max_parallel_workers_per_gather")
    return min(streams), min(copies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2, help="Timed runs of each; the best is reported.")
    args = parser.parse_args()
    setup_django()
    ensure_database()
    started = time.perf_counter()
    seed(args.patients)
    print(f"registry ready in {time.perf_counter() - started:.1f} s")
    from trials.models import Patient, Visit

    print(f"patients {Patient.objects.count():,}, visits {Visit.objects.count():,}; load average before {os.getloadavg()}")
    token = api_token()
    stream_export(token)  # warm-up: imports, URL resolver, connection
    streams, copies = [], []
    for _ in range(args.repeat):  # interleaved: a shared machine's load changes between runs
        streams.append(stream_export(token))
        copies.append(copy_export())
    stream_s, _, stream_bytes, rows = min(streams)
    copy_s, _, copy_bytes = min(copies)
    stream_cpu, copy_cpu = cpu_pass(token, args.repeat)
    tracemalloc.start()
    stream_export(token)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ratio = stream_s / copy_s
    print(f"streaming export: {rows:,} rows, {stream_bytes / 1e6:.1f} MB in {stream_s:.2f} s ({rows / stream_s:,.0f} rows/s)")
    print(f"COPY TO STDOUT:   {copy_bytes / 1e6:.1f} MB in {copy_s:.2f} s")
    print(f"ratio streaming/COPY: {ratio:.2f}× (goal ≤ {GOAL_RATIO:.0f}×) {'OK' if ratio <= GOAL_RATIO else 'ABOVE GOAL'}")
    cpu_ratio = stream_cpu / copy_cpu
    print(
        f"CPU seconds (this process + its PostgreSQL backend, parallel query off): streaming {stream_cpu:.2f}, "
        f"COPY {copy_cpu:.2f}; "
        f"ratio {cpu_ratio:.2f}× (goal ≤ {GOAL_RATIO:.0f}×) {'OK' if cpu_ratio <= GOAL_RATIO else 'ABOVE GOAL'}"
    )
    print(
        f"peak Python memory during the export (tracemalloc): {peak / 1e6:.1f} MB for {stream_bytes / 1e6:.1f} MB of CSV; "
        f"process max RSS {max_rss_mb:.0f} MB"
    )
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
